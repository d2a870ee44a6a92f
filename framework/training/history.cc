#include "framework/training/history.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "framework/file_util.h"
#include "framework/json_text.h"
#include "framework/status_macros.h"

namespace loom {
namespace {

// Column names the CSV table and the JSON "epochs" objects already use.
bool IsFixedColumn(absl::string_view name) {
  return name == "epoch" || name == "seconds" || name == "learning_rate";
}

// Writes `contents` to `path` atomically, creating its folder if missing.
absl::Status WriteReport(const std::string& path, absl::string_view contents) {
  if (path.empty()) {
    return absl::InvalidArgumentError("empty output path");
  }
  const std::string dir = std::filesystem::path(path).parent_path().string();
  if (!dir.empty()) {
    LOOM_RETURN_IF_ERROR(MakeDirectories(dir));
  }
  return WriteFileAtomically(path, contents);
}

// %.9g, with the spelling of non-finite values fixed (no "-nan").
std::string FormatNumber(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  return absl::StrFormat("%.9g", value);
}

// ---------------------------------------------------------------- CSV ----

std::string CsvField(absl::string_view text) {
  if (text.find_first_of(",\"\r\n") == absl::string_view::npos) {
    return std::string(text);
  }
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

// --------------------------------------------------------------- JSON ----

std::string JsonNumberOrNull(const std::optional<double>& value) {
  return value.has_value() ? JsonNumber(*value) : "null";
}

// ---------------------------------------------------------------- SVG ----

struct Series {
  std::string label;
  std::string color;
  std::vector<std::pair<double, double>> points;  // (epoch, value), finite.
};

struct Panel {
  std::string title;
  std::string y_label;
  std::vector<Series> series;  // Only series with at least one point.
};

// The first of `candidates` that `history` reports, as a series of its
// finite values; nullopt if none is reported or no value is finite.
std::optional<Series> CollectSeries(const History& history,
                                    const std::vector<std::string>& names,
                                    const std::vector<std::string>& candidates,
                                    const std::string& label,
                                    const std::string& color) {
  for (const std::string& candidate : candidates) {
    if (std::find(names.begin(), names.end(), candidate) == names.end()) {
      continue;
    }
    Series series{label, color, {}};
    for (size_t i = 0; i < history.epochs.size(); ++i) {
      std::optional<double> value = history.Get(static_cast<int>(i), candidate);
      if (value.has_value() && std::isfinite(*value)) {
        series.points.emplace_back(history.epochs[i].epoch, *value);
      }
    }
    if (series.points.empty()) return std::nullopt;
    return series;
  }
  return std::nullopt;
}

// An axis: its shown range and the tick values inside it.
struct Axis {
  double lo = 0.0;
  double hi = 1.0;
  std::vector<double> ticks;
  int decimals = 0;  // For the tick labels.
};

// Builds an axis showing [data_lo, data_hi] with a 5% margin on each side
// (as matplotlib does) and ticks at round steps (1, 2 or 5 times a power of
// ten) aiming at about five of them. `integer_ticks` keeps steps >= 1.
Axis MakeAxis(double data_lo, double data_hi, bool integer_ticks) {
  Axis axis;
  double lo = data_lo;
  double hi = data_hi;
  if (!std::isfinite(lo) || !std::isfinite(hi) || lo > hi) {
    lo = 0.0;
    hi = 1.0;
  }
  double span = hi - lo;
  if (!std::isfinite(span)) {
    // Values near the limits of double: show them, without ticks.
    axis.lo = lo;
    axis.hi = hi;
    return axis;
  }
  if (span == 0.0) {
    const double pad =
        integer_ticks ? 0.5 : std::max(std::fabs(lo) * 0.05, 1e-3);
    lo -= pad;
    hi += pad;
  } else {
    lo -= 0.05 * span;
    hi += 0.05 * span;
  }
  axis.lo = lo;
  axis.hi = hi;
  span = hi - lo;

  const double raw = span / 5.0;
  int exponent = static_cast<int>(std::floor(std::log10(raw)));
  const double magnitude = std::pow(10.0, exponent);
  const double fraction = raw / magnitude;
  double mantissa;
  if (fraction < 1.5) {
    mantissa = 1.0;
  } else if (fraction < 3.5) {
    mantissa = 2.0;
  } else if (fraction < 7.5) {
    mantissa = 5.0;
  } else {
    mantissa = 1.0;
    ++exponent;
  }
  double step = mantissa * std::pow(10.0, exponent);
  if (integer_ticks && step < 1.0) {
    step = 1.0;
    exponent = 0;
  }
  axis.decimals = std::max(0, -exponent);
  const double first = std::ceil(lo / step - 1e-9);
  const double last = std::floor(hi / step + 1e-9);
  for (double k = first; k <= last && axis.ticks.size() < 50; k += 1.0) {
    double value = k * step;
    if (std::fabs(value) < step * 1e-9) value = 0.0;  // No "-0.00".
    axis.ticks.push_back(value);
  }
  return axis;
}

constexpr int kWidth = 1000;
constexpr int kHeight = 450;
constexpr int kPanelWidth = 500;
constexpr double kPlotTop = 105;
constexpr double kPlotBottom = 375;

void DrawPanel(const Panel& panel, const Axis& x_axis, int x0,
               std::string* svg) {
  const double left = x0 + 80;
  const double right = x0 + 470;
  const double top = kPlotTop;
  const double bottom = kPlotBottom;
  const double center = (left + right) / 2;

  double y_lo = 0.0;
  double y_hi = 1.0;
  bool any = false;
  for (const Series& series : panel.series) {
    for (const auto& [x, y] : series.points) {
      if (!any) {
        y_lo = y_hi = y;
        any = true;
      }
      y_lo = std::min(y_lo, y);
      y_hi = std::max(y_hi, y);
    }
  }
  const Axis y_axis = MakeAxis(y_lo, y_hi, /*integer_ticks=*/false);

  auto px = [&](double x) {
    return left + (x - x_axis.lo) / (x_axis.hi - x_axis.lo) * (right - left);
  };
  auto py = [&](double y) {
    return bottom - (y - y_axis.lo) / (y_axis.hi - y_axis.lo) * (bottom - top);
  };

  absl::StrAppendFormat(svg, "  <g class=\"panel\">\n");
  absl::StrAppendFormat(svg,
                        "    <text x=\"%.2f\" y=\"62\" text-anchor=\"middle\" "
                        "font-size=\"16\">%s</text>\n",
                        center, XmlEscape(panel.title));

  // Grid lines and tick labels.
  absl::StrAppendFormat(svg, "    <g stroke=\"#d9d9d9\" stroke-width=\"1\">\n");
  for (double t : x_axis.ticks) {
    absl::StrAppendFormat(
        svg, "      <line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n",
        px(t), top, px(t), bottom);
  }
  for (double t : y_axis.ticks) {
    absl::StrAppendFormat(
        svg, "      <line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n",
        left, py(t), right, py(t));
  }
  absl::StrAppendFormat(svg, "    </g>\n");
  absl::StrAppendFormat(svg,
                        "    <g font-size=\"12\" fill=\"#222222\" "
                        "text-anchor=\"middle\">\n");
  for (double t : x_axis.ticks) {
    absl::StrAppendFormat(
        svg,
        "      <line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" "
        "stroke=\"#000000\"/>\n"
        "      <text x=\"%.2f\" y=\"%.2f\">%.*f</text>\n",
        px(t), bottom, px(t), bottom + 5, px(t), bottom + 19, x_axis.decimals,
        t);
  }
  absl::StrAppendFormat(svg, "    </g>\n");
  absl::StrAppendFormat(svg,
                        "    <g font-size=\"12\" fill=\"#222222\" "
                        "text-anchor=\"end\">\n");
  for (double t : y_axis.ticks) {
    absl::StrAppendFormat(
        svg,
        "      <line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" "
        "stroke=\"#000000\"/>\n"
        "      <text x=\"%.2f\" y=\"%.2f\">%.*f</text>\n",
        left - 5, py(t), left, py(t), left - 8, py(t) + 4, y_axis.decimals, t);
  }
  absl::StrAppendFormat(svg, "    </g>\n");

  // Frame and axis labels.
  absl::StrAppendFormat(svg,
                        "    <rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" "
                        "height=\"%.2f\" fill=\"none\" stroke=\"#000000\"/>\n",
                        left, top, right - left, bottom - top);
  absl::StrAppendFormat(
      svg,
      "    <text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\" "
      "font-size=\"14\">Epochs</text>\n",
      center, bottom + 48);
  const double label_x = x0 + 24;
  const double label_y = (top + bottom) / 2;
  absl::StrAppendFormat(
      svg,
      "    <text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\" font-size=\"14\" "
      "transform=\"rotate(-90 %.2f %.2f)\">%s</text>\n",
      label_x, label_y, label_x, label_y, XmlEscape(panel.y_label));

  // Series: a line through the points, and a marker on each.
  for (const Series& series : panel.series) {
    std::string points;
    for (const auto& [x, y] : series.points) {
      if (!points.empty()) points += ' ';
      absl::StrAppendFormat(&points, "%.2f,%.2f", px(x), py(y));
    }
    absl::StrAppendFormat(svg,
                          "    <polyline fill=\"none\" stroke=\"%s\" "
                          "stroke-width=\"2\" points=\"%s\"/>\n",
                          series.color, points);
    absl::StrAppendFormat(svg, "    <g fill=\"%s\">\n", series.color);
    for (const auto& [x, y] : series.points) {
      absl::StrAppendFormat(svg,
                            "      <circle cx=\"%.2f\" cy=\"%.2f\" r=\"4\"/>\n",
                            px(x), py(y));
    }
    absl::StrAppendFormat(svg, "    </g>\n");
  }

  // Legend, above the plot so that it never hides a point.
  double legend_x = left;
  const double legend_y = 85;
  for (const Series& series : panel.series) {
    absl::StrAppendFormat(
        svg,
        "    <line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" "
        "stroke=\"%s\" stroke-width=\"2\"/>\n"
        "    <circle cx=\"%.2f\" cy=\"%.2f\" r=\"4\" fill=\"%s\"/>\n"
        "    <text x=\"%.2f\" y=\"%.2f\" font-size=\"13\">%s</text>\n",
        legend_x, legend_y, legend_x + 24, legend_y, series.color,
        legend_x + 12, legend_y, series.color, legend_x + 32, legend_y + 4,
        XmlEscape(series.label));
    legend_x += 140;
  }
  absl::StrAppendFormat(svg, "  </g>\n");
}

}  // namespace

// Text for XML character data and attribute values. Control characters
// XML 1.0 does not allow are dropped.
std::string XmlEscape(absl::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' &&
            c != '\r') {
          break;
        }
        out += c;
    }
  }
  return out;
}

std::vector<std::string> History::MetricNames() const {
  std::vector<std::string> names;
  for (const EpochLog& log : epochs) {
    for (const auto& [name, value] : log.metrics) {
      if (std::find(names.begin(), names.end(), name) == names.end()) {
        names.push_back(name);
      }
    }
  }
  return names;
}

std::optional<double> History::Get(int epoch_index,
                                   const std::string& metric) const {
  if (epoch_index < 0 || static_cast<size_t>(epoch_index) >= epochs.size()) {
    return std::nullopt;
  }
  for (const auto& [name, value] : epochs[epoch_index].metrics) {
    if (name == metric) return value;
  }
  return std::nullopt;
}

absl::Status WriteHistoryCsv(const History& history, const std::string& path) {
  std::vector<std::string> names;
  for (std::string& name : history.MetricNames()) {
    if (!IsFixedColumn(name)) names.push_back(std::move(name));
  }
  std::string csv = "epoch,seconds,learning_rate";
  for (const std::string& name : names) {
    absl::StrAppend(&csv, ",", CsvField(name));
  }
  csv += '\n';
  for (size_t i = 0; i < history.epochs.size(); ++i) {
    const EpochLog& log = history.epochs[i];
    absl::StrAppend(&csv, log.epoch, ",", FormatNumber(log.seconds), ",",
                    FormatNumber(log.learning_rate));
    for (const std::string& name : names) {
      csv += ',';
      std::optional<double> value = history.Get(static_cast<int>(i), name);
      if (value.has_value()) csv += FormatNumber(*value);
    }
    csv += '\n';
  }
  return WriteReport(path, csv);
}

absl::Status WriteHistoryJson(const History& history, const std::string& path) {
  const std::vector<std::string> names = history.MetricNames();
  std::string json = "{\n";
  absl::StrAppend(&json, "  \"model\": ", JsonQuote(history.model_name), ",\n");
  json += "  \"epochs\": [";
  for (size_t i = 0; i < history.epochs.size(); ++i) {
    const EpochLog& log = history.epochs[i];
    absl::StrAppend(&json, i == 0 ? "\n" : ",\n", "    {\"epoch\": ", log.epoch,
                    ", \"seconds\": ", JsonNumber(log.seconds),
                    ", \"learning_rate\": ", JsonNumber(log.learning_rate));
    for (const std::string& name : names) {
      if (IsFixedColumn(name)) continue;
      std::optional<double> value = history.Get(static_cast<int>(i), name);
      if (!value.has_value()) continue;
      absl::StrAppend(&json, ", ", JsonQuote(name), ": ", JsonNumber(*value));
    }
    json += "}";
  }
  json += history.epochs.empty() ? "],\n" : "\n  ],\n";
  json += "  \"history\": {";
  for (size_t m = 0; m < names.size(); ++m) {
    absl::StrAppend(&json, m == 0 ? "\n" : ",\n", "    ", JsonQuote(names[m]),
                    ": [");
    for (size_t i = 0; i < history.epochs.size(); ++i) {
      if (i > 0) json += ", ";
      json += JsonNumberOrNull(history.Get(static_cast<int>(i), names[m]));
    }
    json += "]";
  }
  json += names.empty() ? "}\n" : "\n  }\n";
  json += "}\n";
  return WriteReport(path, json);
}

absl::Status WriteLearningCurveSvg(const History& history,
                                   const std::string& title,
                                   const std::string& path) {
  // matplotlib's first two colors.
  const std::string kTrainColor = "#1f77b4";
  const std::string kValColor = "#ff7f0e";
  const std::vector<std::string> names = history.MetricNames();

  Panel panels[2] = {{"Accuracy", "Accuracy", {}}, {"Loss", "Loss", {}}};
  const auto add = [&](Panel* panel, std::vector<std::string> candidates,
                       const std::string& label, const std::string& color) {
    std::optional<Series> series =
        CollectSeries(history, names, candidates, label, color);
    if (series.has_value()) panel->series.push_back(*std::move(series));
  };
  add(&panels[0], {"accuracy", "acc"}, "Train acc", kTrainColor);
  add(&panels[0], {"val_accuracy", "val_acc"}, "Val acc", kValColor);
  add(&panels[1], {"loss"}, "Train loss", kTrainColor);
  add(&panels[1], {"val_loss"}, "Val loss", kValColor);

  // Both panels share the epoch axis: every epoch in the history.
  double x_lo = 1.0;
  double x_hi = 1.0;
  for (size_t i = 0; i < history.epochs.size(); ++i) {
    const double epoch = history.epochs[i].epoch;
    if (i == 0) x_lo = x_hi = epoch;
    x_lo = std::min(x_lo, epoch);
    x_hi = std::max(x_hi, epoch);
  }
  const Axis x_axis = MakeAxis(x_lo, x_hi, /*integer_ticks=*/true);

  std::string svg;
  absl::StrAppendFormat(
      &svg,
      "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" "
      "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
      "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n",
      kWidth, kHeight, kWidth, kHeight);
  absl::StrAppendFormat(&svg, "  <title>%s</title>\n", XmlEscape(title));
  absl::StrAppendFormat(
      &svg, "  <rect width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", kWidth,
      kHeight);
  absl::StrAppendFormat(&svg,
                        "  <text x=\"%d\" y=\"32\" text-anchor=\"middle\" "
                        "font-size=\"18\" font-weight=\"bold\">%s</text>\n",
                        kWidth / 2, XmlEscape(title));
  for (int p = 0; p < 2; ++p) {
    DrawPanel(panels[p], x_axis, p * kPanelWidth, &svg);
  }
  svg += "</svg>\n";
  return WriteReport(path, svg);
}

}  // namespace loom
