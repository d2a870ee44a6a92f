#include "framework/training/classification.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "framework/file_util.h"
#include "framework/status_macros.h"
#include "framework/training/history.h"

namespace loom {

int64_t PredictionWidth(Model& model) {
  const Graph& graph = model.executor().graph();
  const int v = graph.FindValue(model.def().prediction());
  if (v < 0) return 0;
  const Shape& shape = graph.values()[v].info.shape;
  if (shape.size() <= 1) return 1;
  int64_t width = 1;
  for (size_t i = 1; i < shape.size(); ++i) width *= shape[i];
  return width;
}

absl::Status CheckClassesMatchModel(Model& model,
                                    const std::vector<std::string>& classes) {
  const int64_t width = PredictionWidth(model);
  const int64_t k = static_cast<int64_t>(classes.size());
  if (width == 1 && k == 2) return absl::OkStatus();
  if (width > 1 && width == k) return absl::OkStatus();
  const std::string kind =
      width == 1 ? "a sigmoid model (one output), which classifies two classes"
                 : absl::StrCat("a softmax model with ", width, " outputs");
  return absl::InvalidArgumentError(absl::StrCat(
      "model '", model.def().name(), "' is ", kind, ", but the data has ", k,
      " classes; use a model whose last Dense layer has ", k == 2 ? 1 : k,
      " unit", k == 2 ? "" : "s",
      k == 2 ? " (e.g. models/reviews_bilstm.pbtxt)"
             : " and a softmax (e.g. models/reviews_stars.pbtxt)"));
}

void ClassProbabilities(const Tensor& prediction, int64_t row,
                        std::vector<float>* probabilities) {
  const int64_t width = prediction.num_elements() / prediction.dim(0);
  const float* p = prediction.f32() + row * width;
  if (width == 1) {
    probabilities->assign({1.0f - p[0], p[0]});
  } else {
    probabilities->assign(p, p + width);
  }
}

int ArgMax(const std::vector<float>& probabilities) {
  return static_cast<int>(
      std::max_element(probabilities.begin(), probabilities.end()) -
      probabilities.begin());
}

ClassificationReport MakeClassificationReport(
    const std::vector<int>& truth, const std::vector<int>& predicted,
    const std::vector<std::string>& class_names) {
  ClassificationReport r;
  const size_t k = class_names.size();
  r.class_names = class_names;
  r.confusion.assign(k, std::vector<int64_t>(k, 0));
  int64_t correct = 0;
  for (size_t i = 0; i < truth.size(); ++i) {
    ++r.confusion[truth[i]][predicted[i]];
    correct += truth[i] == predicted[i] ? 1 : 0;
  }
  r.accuracy = truth.empty() ? 0 : static_cast<double>(correct) / truth.size();
  r.precision.assign(k, 0);
  r.recall.assign(k, 0);
  r.f1.assign(k, 0);
  r.support.assign(k, 0);
  for (size_t c = 0; c < k; ++c) {
    int64_t predicted_c = 0;
    for (size_t t = 0; t < k; ++t) {
      r.support[c] += r.confusion[c][t];
      predicted_c += r.confusion[t][c];
    }
    const double tp = static_cast<double>(r.confusion[c][c]);
    r.precision[c] = predicted_c > 0 ? tp / predicted_c : 0;
    r.recall[c] = r.support[c] > 0 ? tp / r.support[c] : 0;
    const double sum = r.precision[c] + r.recall[c];
    r.f1[c] = sum > 0 ? 2 * r.precision[c] * r.recall[c] / sum : 0;
    r.macro_precision += r.precision[c] / k;
    r.macro_recall += r.recall[c] / k;
    r.macro_f1 += r.f1[c] / k;
  }
  return r;
}

std::string FormatClassificationReport(const ClassificationReport& r) {
  size_t width = 12;
  for (const std::string& name : r.class_names) {
    width = std::max(width, name.size() + 2);
  }
  const int w = static_cast<int>(width);
  std::string out = absl::StrFormat("%*s %9s %9s %9s %9s\n", w, "", "precision",
                                    "recall", "f1-score", "support");
  int64_t total = 0;
  for (size_t c = 0; c < r.class_names.size(); ++c) {
    absl::StrAppendFormat(&out, "%*s %9.4f %9.4f %9.4f %9d\n", w,
                          r.class_names[c], r.precision[c], r.recall[c],
                          r.f1[c], r.support[c]);
    total += r.support[c];
  }
  absl::StrAppendFormat(&out, "%*s %9s %9s %9.4f %9d\n", w, "accuracy", "", "",
                        r.accuracy, total);
  absl::StrAppendFormat(&out, "%*s %9.4f %9.4f %9.4f %9d\n", w, "macro avg",
                        r.macro_precision, r.macro_recall, r.macro_f1, total);
  absl::StrAppendFormat(&out,
                        "confusion matrix (rows: true class, columns: "
                        "predicted, in the order above):\n");
  for (size_t t = 0; t < r.confusion.size(); ++t) {
    absl::StrAppendFormat(&out, "%*s", w, r.class_names[t]);
    for (int64_t count : r.confusion[t]) {
      absl::StrAppendFormat(&out, " %9d", count);
    }
    out += "\n";
  }
  return out;
}

absl::Status WriteConfusionMatrixSvg(const ClassificationReport& r,
                                     const std::string& title,
                                     const std::string& path) {
  const int k = static_cast<int>(r.class_names.size());
  const double cell = k <= 5 ? 72 : 40;
  const double left = 150, top = 90;
  const double width = left + cell * k + 30;
  const double height = top + cell * k + 60;
  std::string svg = absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" "
      "height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\">\n"
      "  <rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
      "  <text x=\"%.1f\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">"
      "%s</text>\n"
      "  <text x=\"%.1f\" y=\"46\" text-anchor=\"middle\" font-size=\"12\">"
      "accuracy %.4f, macro F1 %.4f</text>\n"
      "  <text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" "
      "font-size=\"12\">predicted class</text>\n",
      width, height, width, height, width / 2, XmlEscape(title), width / 2,
      r.accuracy, r.macro_f1, left + cell * k / 2, top - 22);
  absl::StrAppendFormat(&svg,
                        "  <text x=\"14\" y=\"%.1f\" font-size=\"12\" "
                        "transform=\"rotate(-90 14 %.1f)\" "
                        "text-anchor=\"middle\">true class</text>\n",
                        top + cell * k / 2, top + cell * k / 2);
  for (int t = 0; t < k; ++t) {
    const std::string name = XmlEscape(r.class_names[t]);
    absl::StrAppendFormat(&svg,
                          "  <text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" "
                          "text-anchor=\"end\">%s</text>\n",
                          left - 8, top + cell * t + cell / 2 + 4, name);
    absl::StrAppendFormat(&svg,
                          "  <text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" "
                          "text-anchor=\"middle\">%s</text>\n",
                          left + cell * t + cell / 2, top - 6, name);
    const int64_t row_total = std::max<int64_t>(1, r.support[t]);
    for (int p = 0; p < k; ++p) {
      const int64_t count = r.confusion[t][p];
      const double share = static_cast<double>(count) / row_total;
      // White to dark blue by the share of the true class' examples.
      const int red = static_cast<int>(255 - share * (255 - 33));
      const int green = static_cast<int>(255 - share * (255 - 102));
      const int blue = static_cast<int>(255 - share * (255 - 172));
      absl::StrAppendFormat(
          &svg,
          "  <rect class=\"cell\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
          "height=\"%.1f\" fill=\"rgb(%d,%d,%d)\" stroke=\"#999\"/>\n"
          "  <text x=\"%.1f\" y=\"%.1f\" font-size=\"13\" "
          "text-anchor=\"middle\" fill=\"%s\">%d</text>\n",
          left + cell * p, top + cell * t, cell, cell, red, green, blue,
          left + cell * p + cell / 2, top + cell * t + cell / 2 + 5,
          share > 0.5 ? "white" : "black", count);
    }
  }
  svg += "</svg>\n";
  return WriteFileAtomically(path, svg);
}

absl::StatusOr<ClassificationReport> EvaluateClassification(
    Model& model, const LabeledExamples& data, int batch_size,
    const std::vector<std::string>& class_names) {
  LOOM_ASSIGN_OR_RETURN(auto prediction,
                        model.Predict(data.features, batch_size));
  std::vector<int> truth(data.size()), predicted(data.size());
  std::vector<float> probabilities;
  for (int64_t i = 0; i < data.size(); ++i) {
    truth[i] = static_cast<int>(data.labels.f32()[i]);
    ClassProbabilities(prediction, i, &probabilities);
    predicted[i] = ArgMax(probabilities);
    if (truth[i] < 0 || truth[i] >= static_cast<int>(class_names.size()) ||
        predicted[i] >= static_cast<int>(class_names.size())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "example ", i, ": label ", truth[i], " or prediction ", predicted[i],
          " is not a class index below ", class_names.size()));
    }
  }
  return MakeClassificationReport(truth, predicted, class_names);
}

}  // namespace loom
