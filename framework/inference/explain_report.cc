// The explanations as people read them: colored text for a terminal,
// JSON, and self-contained HTML pages (one text, or a file's rows); and
// ExplainRecords, which explains the rows of a data file for the report.
#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "framework/inference/explain.h"
#include "framework/status_macros.h"
#include "nlohmann/json.hpp"

namespace loom {
namespace {

// Tokens with the largest |score|, for and against, at most `k` each.
void TopTokens(const Explanation& e, int k, std::vector<int>* pro,
               std::vector<int>* con) {
  std::vector<int> order;
  for (size_t i = 0; i < e.tokens.size(); ++i) {
    if (e.tokens[i].is_word) order.push_back(static_cast<int>(i));
  }
  std::sort(order.begin(), order.end(), [&](int a, int b) {
    return e.tokens[a].attribution > e.tokens[b].attribution;
  });
  for (int i : order) {
    if (e.tokens[i].attribution > 0 && static_cast<int>(pro->size()) < k) {
      pro->push_back(i);
    }
  }
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    if (e.tokens[*it].attribution < 0 && static_cast<int>(con->size()) < k) {
      con->push_back(*it);
    }
  }
}

double MaxAbsAttribution(const Explanation& e) {
  double m = 0;
  for (const ExplainedToken& t : e.tokens) {
    if (t.is_word) m = std::max(m, std::fabs(t.attribution));
  }
  return m;
}

std::string HtmlEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
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
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string Num(double v) { return absl::StrFormat("%.6g", v); }

}  // namespace

std::string FormatExplanationText(const Explanation& e, bool color) {
  std::string out;
  const std::string& target = e.class_names[e.target_class];
  absl::StrAppendFormat(&out, "prediction: %s (p = %.4f)",
                        e.class_names[e.predicted_class],
                        e.probabilities[e.predicted_class]);
  if (e.target_class != e.predicted_class) {
    absl::StrAppendFormat(&out, "; explaining %s (p = %.4f)", target,
                          e.target_probability);
  }
  out += "\n";
  const double scale = MaxAbsAttribution(e);
  std::vector<std::string> parts;
  for (const ExplainedToken& t : e.tokens) {
    if (!t.is_word) continue;
    if (color) {
      const double s = scale > 0 ? std::fabs(t.attribution) / scale : 0;
      // Blend from the terminal's dark background toward green / red.
      const int strong = static_cast<int>(40 + 180 * s);
      const int weak = 40;
      const int r = t.attribution < 0 ? strong : weak;
      const int g = t.attribution > 0 ? strong : weak;
      parts.push_back(absl::StrFormat("\x1b[48;2;%d;%d;%dm\x1b[97m%s\x1b[0m", r,
                                      g, weak, t.word));
    } else {
      parts.push_back(absl::StrFormat("%s(%+.3f)", t.word, t.attribution));
    }
  }
  out += absl::StrJoin(parts, " ");
  out += "\n";
  std::vector<int> pro, con;
  TopTokens(e, 5, &pro, &con);
  auto list = [&](const std::vector<int>& idx) {
    std::vector<std::string> s;
    for (int i : idx) {
      s.push_back(absl::StrFormat("%s %+.4f", e.tokens[i].word,
                                  e.tokens[i].attribution));
    }
    return s.empty() ? std::string("(none)") : absl::StrJoin(s, ", ");
  };
  absl::StrAppend(&out, "for ", target, ": ", list(pro), "\n");
  absl::StrAppend(&out, "against ", target, ": ", list(con), "\n");
  absl::StrAppendFormat(
      &out,
      "integrated gradients, %d steps (trapezoid): sum %.4f = f(x) %.4f - "
      "f(baseline) %.4f, error %.2g\n",
      e.steps, e.attribution_sum, e.target_probability, e.baseline_probability,
      e.completeness_error);
  if (!e.prefix_probabilities.empty() && e.reads_forward) {
    std::vector<std::string> curve;
    for (double p : e.prefix_probabilities) {
      curve.push_back(absl::StrFormat("%.2f", p));
    }
    absl::StrAppend(&out, "p(", target,
                    ") after each word: ", absl::StrJoin(curve, " "), "\n");
  }
  return out;
}

std::string ExplanationToJson(const Explanation& e, const std::string& text) {
  // Numbers keep six significant digits, as the text report shows them.
  auto num = [](double v) {
    return std::isfinite(v) ? std::stod(Num(v)) : v;  // NaN, inf: null.
  };
  nlohmann::ordered_json out;
  out["text"] = text;
  out["classes"] = e.class_names;
  nlohmann::ordered_json& probabilities = out["probabilities"];
  probabilities = nlohmann::ordered_json::array();
  for (double p : e.probabilities) probabilities.push_back(num(p));
  out["predicted_class"] = e.predicted_class;
  out["predicted_label"] = e.class_names[e.predicted_class];
  out["target_class"] = e.target_class;
  out["target_label"] = e.class_names[e.target_class];
  out["target_probability"] = num(e.target_probability);
  out["baseline_probability"] = num(e.baseline_probability);
  out["method"] = "integrated_gradients";
  out["rule"] = "trapezoid";
  out["steps"] = e.steps;
  out["attribution_sum"] = num(e.attribution_sum);
  out["completeness_error"] = num(e.completeness_error);
  nlohmann::ordered_json& tokens = out["tokens"];
  tokens = nlohmann::ordered_json::array();
  for (const ExplainedToken& t : e.tokens) {
    nlohmann::ordered_json token;
    token["word"] = t.word;
    token["id"] = t.id;
    token["position"] = t.position;
    token["is_word"] = t.is_word;
    token["attribution"] = num(t.attribution);
    if (e.has_occlusion && t.is_word) token["occlusion"] = num(t.occlusion);
    tokens.push_back(std::move(token));
  }
  out["reads_forward"] = e.reads_forward;
  nlohmann::ordered_json& curve = out["prefix_curve"];
  curve = nlohmann::ordered_json::array();
  for (double p : e.prefix_probabilities) curve.push_back(num(p));
  // Invalid UTF-8 in the text or a word becomes U+FFFD: always valid JSON.
  return out.dump(-1, ' ', /*ensure_ascii=*/false,
                  nlohmann::ordered_json::error_handler_t::replace);
}

namespace {

constexpr char kHtmlStyle[] =
    "body{font-family:sans-serif;margin:2em;max-width:60em}"
    ".words{line-height:2.2em;font-size:1.1em}"
    ".w{padding:0.15em 0.25em;border-radius:0.2em;margin:0 0.05em}"
    "table{border-collapse:collapse}td,th{padding:0.2em 0.8em;"
    "text-align:left}"
    "section.row{border-top:1px solid #ccc;margin-top:1.5em}"
    ".unexplained{color:#a00}";

// The summary, the highlighted words, the top words and (with `curve`) the
// prefix curve of one explanation. `suffix` makes the element ids unique
// on a page of many ("" on a page of one: id="words", id="prefix-curve");
// `heading` is the level of the curve's heading.
void AppendExplanationHtml(const Explanation& e, const std::string& suffix,
                           bool curve, int heading, std::string* out_ptr) {
  std::string& out = *out_ptr;
  const std::string& target = e.class_names[e.target_class];
  absl::StrAppendFormat(
      &out,
      "<p id=\"summary%s\" class=\"summary\">Predicted <b>%s</b> (p = %.4f). "
      "Attributions for <b>%s</b>: integrated gradients through the "
      "embedding, %d steps (trapezoid rule), baseline p = %.4f; sum of "
      "attributions %.4f, completeness error %.2g.</p>\n",
      suffix, HtmlEscape(e.class_names[e.predicted_class]),
      e.probabilities[e.predicted_class], HtmlEscape(target), e.steps,
      e.baseline_probability, e.attribution_sum, e.completeness_error);
  const double scale = MaxAbsAttribution(e);
  absl::StrAppend(&out, "<div class=\"words\" id=\"words", suffix, "\">");
  for (const ExplainedToken& t : e.tokens) {
    if (!t.is_word) continue;
    const double s = scale > 0 ? std::fabs(t.attribution) / scale : 0;
    // Captum's palette: green for, red against, lightness by magnitude.
    const int hue = t.attribution >= 0 ? 120 : 0;
    const int light = static_cast<int>(100 - 50 * s);
    absl::StrAppendFormat(
        &out,
        "<span class=\"w\" data-attribution=\"%s\" style=\"background:"
        "hsl(%d,75%%,%d%%)\" title=\"attribution %s%s\">%s</span> ",
        Num(t.attribution), hue, light, Num(t.attribution),
        e.has_occlusion ? absl::StrCat(", occlusion ", Num(t.occlusion)) : "",
        HtmlEscape(t.word));
  }
  out += "</div>\n";
  std::vector<int> pro, con;
  TopTokens(e, 5, &pro, &con);
  out += "<table class=\"top\"><tr><th>for " + HtmlEscape(target) +
         "</th><th>against " + HtmlEscape(target) + "</th></tr>";
  for (size_t i = 0; i < std::max(pro.size(), con.size()); ++i) {
    auto cell = [&](const std::vector<int>& v) {
      if (i >= v.size()) return std::string("<td></td>");
      return absl::StrFormat("<td>%s %+.4f</td>",
                             HtmlEscape(e.tokens[v[i]].word),
                             e.tokens[v[i]].attribution);
    };
    out += "<tr>" + cell(pro) + cell(con) + "</tr>";
  }
  out += "</table>\n";
  const size_t n = e.prefix_probabilities.size();
  if (curve && n > 0) {
    // The right margin leaves room for the last word's label.
    const double w = 760, h = 240, left = 40, right = 50, bottom = 30, top = 10;
    auto x_of = [&](size_t i) {
      return left + (n == 1 ? 0.0 : (w - left - right) * i / (n - 1.0));
    };
    auto y_of = [&](double p) { return top + (h - top - bottom) * (1 - p); };
    absl::StrAppendFormat(
        &out,
        "<h%d>p(%s) after each prefix%s</h%d>\n<svg id=\"prefix-curve%s\" "
        "class=\"prefix-curve\" xmlns=\"http://www.w3.org/2000/svg\" "
        "width=\"%g\" height=\"%g\" viewBox=\"0 0 %g %g\">",
        heading, HtmlEscape(target),
        e.reads_forward ? " (the recurrent layer reads forward)" : "", heading,
        suffix, w, h, w, h);
    absl::StrAppendFormat(&out,
                          "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" "
                          "stroke=\"#888\" stroke-dasharray=\"4\"/>",
                          left, y_of(0.5), w - right, y_of(0.5));
    absl::StrAppendFormat(&out,
                          "<rect x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\" "
                          "fill=\"none\" stroke=\"#444\"/>",
                          left, top, w - left - right, h - top - bottom);
    for (double p : {0.0, 0.5, 1.0}) {
      absl::StrAppendFormat(&out,
                            "<text x=\"4\" y=\"%g\" font-size=\"11\">%.1f"
                            "</text>",
                            y_of(p) + 4, p);
    }
    std::string points;
    for (size_t i = 0; i < n; ++i) {
      absl::StrAppendFormat(&points, "%s%.1f,%.1f", i ? " " : "", x_of(i),
                            y_of(e.prefix_probabilities[i]));
    }
    absl::StrAppend(&out,
                    "<polyline fill=\"none\" stroke=\"#1f6feb\" "
                    "stroke-width=\"2\" points=\"",
                    points, "\"/>");
    for (size_t i = 0; i < n && i < e.tokens.size(); ++i) {
      absl::StrAppendFormat(
          &out,
          "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#1f6feb\"><title>"
          "%s: %.4f</title></circle>",
          x_of(i), y_of(e.prefix_probabilities[i]),
          HtmlEscape(e.tokens[i].word), e.prefix_probabilities[i]);
      if (n <= 40) {
        absl::StrAppendFormat(&out,
                              "<text x=\"%.1f\" y=\"%g\" font-size=\"10\" "
                              "text-anchor=\"middle\">%s</text>",
                              x_of(i), h - 12, HtmlEscape(e.tokens[i].word));
      }
    }
    out += "</svg>\n";
  }
}

}  // namespace

std::string ExplanationToHtml(const Explanation& e, const std::string& text,
                              const std::string& model_name) {
  std::string out = absl::StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<title>Loom explanation</title><style>",
      kHtmlStyle, "</style></head><body>\n");
  absl::StrAppend(&out, "<h1>Why ", HtmlEscape(model_name), " says ",
                  HtmlEscape(e.class_names[e.predicted_class]), "</h1>\n");
  AppendExplanationHtml(e, "", /*curve=*/true, 2, &out);
  absl::StrAppend(&out, "<p>Text: ", HtmlEscape(text), "</p>\n");
  out += "</body></html>\n";
  return out;
}

absl::StatusOr<std::vector<ReportRow>> ExplainRecords(
    Explainer& explainer, const std::string& path, const std::string& format,
    const data::ReadOptions& read, int max_rows,
    const ExplainOptions& options) {
  if (max_rows < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the report needs at least 1 row to explain, got ", max_rows));
  }
  if (options.steps < 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "integrated gradients need steps >= 2, got ", options.steps));
  }
  if (options.target_class >= explainer.num_classes()) {
    return absl::InvalidArgumentError(
        absl::StrCat("class ", options.target_class,
                     " is not one of the model's ", explainer.num_classes(),
                     " classes [0, ", explainer.num_classes(), ")"));
  }
  std::vector<ReportRow> rows;
  absl::Status failed;
  data::ReadOptions read_options = read;
  read_options.require_label = false;
  data::ReadStats stats;
  bool enough = false;  // The reader was stopped after max_rows.
  absl::Status s = data::ReadRecords(
      path, format, read_options,
      [&](data::Record& record) -> absl::Status {
        ReportRow row;
        row.where = record.where;
        row.text = record.text;
        row.explanation = explainer.Explain(record.text, options);
        if (!row.explanation.ok() && row.explanation.status().code() !=
                                         absl::StatusCode::kInvalidArgument) {
          failed =
              absl::Status(row.explanation.status().code(),
                           absl::StrCat(record.where, ": ",
                                        row.explanation.status().message()));
          return failed;
        }
        rows.push_back(std::move(row));
        enough = static_cast<int>(rows.size()) >= max_rows;
        return enough ? absl::CancelledError("enough rows") : absl::OkStatus();
      },
      &stats);
  LOOM_RETURN_IF_ERROR(failed);
  if (!s.ok() && !enough) return s;
  if (rows.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": no records to explain"));
  }
  return rows;
}

std::string ExplanationReportToHtml(const std::vector<ReportRow>& rows,
                                    const std::string& model_name,
                                    const std::string& source) {
  std::string out = absl::StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<title>Loom explanations: ",
      HtmlEscape(source), "</title><style>", kHtmlStyle,
      "</style></head><body>\n");
  int explained = 0;
  for (const ReportRow& r : rows) explained += r.explanation.ok() ? 1 : 0;
  absl::StrAppend(&out, "<h1>Why ", HtmlEscape(model_name), " scores ",
                  HtmlEscape(source), " as it does</h1>\n");
  absl::StrAppendFormat(
      &out,
      "<p id=\"report-summary\">%d rows, %d explained: words highlighted by "
      "their integrated-gradient attribution through the embedding (green "
      "for the class explained, red against, stronger for larger "
      "magnitude).</p>\n",
      static_cast<int>(rows.size()), explained);
  out +=
      "<table id=\"rows\"><tr><th>row</th><th>where</th><th>predicted</th>"
      "<th>p</th></tr>";
  for (size_t i = 0; i < rows.size(); ++i) {
    const ReportRow& r = rows[i];
    if (r.explanation.ok()) {
      const Explanation& e = *r.explanation;
      absl::StrAppendFormat(
          &out,
          "<tr><td><a href=\"#row-%d\">%d</a></td><td>%s</td><td>%s</td>"
          "<td>%.4f</td></tr>",
          i + 1, i + 1, HtmlEscape(r.where),
          HtmlEscape(e.class_names[e.predicted_class]),
          e.probabilities[e.predicted_class]);
    } else {
      absl::StrAppendFormat(&out,
                            "<tr><td><a href=\"#row-%d\">%d</a></td><td>%s"
                            "</td><td colspan=\"2\">not explained</td></tr>",
                            i + 1, i + 1, HtmlEscape(r.where));
    }
  }
  out += "</table>\n";
  for (size_t i = 0; i < rows.size(); ++i) {
    const ReportRow& r = rows[i];
    const std::string suffix = absl::StrCat("-", i + 1);
    absl::StrAppendFormat(&out,
                          "<section class=\"row\" id=\"row-%d\"><h2>Row %d: "
                          "%s</h2>\n",
                          i + 1, i + 1, HtmlEscape(r.where));
    if (r.explanation.ok()) {
      const Explanation& e = *r.explanation;
      // The prefix curve is the model's reading only when it reads forward.
      AppendExplanationHtml(e, suffix, e.reads_forward, 3, &out);
      if (!e.reads_forward) {
        out += "<p class=\"no-curve\">No prefix curve: ";
        out += e.has_recurrence
                   ? "the model's recurrent layer does not read forward "
                     "only, so a prefix is not what it has read so far."
                   : "the model has no recurrent layer; it does not read "
                     "in order.";
        out += "</p>\n";
      }
    } else {
      absl::StrAppend(&out, "<p class=\"unexplained\">Not explained: ",
                      HtmlEscape(std::string(r.explanation.status().message())),
                      "</p>\n");
    }
    absl::StrAppend(&out, "<details><summary>Text</summary><p>",
                    HtmlEscape(r.text), "</p></details></section>\n");
  }
  out += "</body></html>\n";
  return out;
}

}  // namespace loom
