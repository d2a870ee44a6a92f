// What a classifier's outputs mean: class probabilities from a sigmoid
// (one output, two classes) or softmax (one output per class) prediction,
// and the classification report Keras users get from scikit-learn:
// precision, recall and F1 per class and macro-averaged, and the confusion
// matrix (as text and as an SVG picture).
#ifndef LOOM_FRAMEWORK_TRAINING_CLASSIFICATION_H_
#define LOOM_FRAMEWORK_TRAINING_CLASSIFICATION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "framework/tensor.h"
#include "framework/training/model.h"

namespace loom {

// The number of values the model's prediction has per example (its last
// dimension): 1 for a sigmoid model, K for a softmax one.
int64_t PredictionWidth(Model& model);

// A sigmoid model (width 1) needs exactly two classes, a softmax model as
// many classes as outputs. The error names the model, both numbers and the
// model files to copy instead.
absl::Status CheckClassesMatchModel(Model& model,
                                    const std::vector<std::string>& classes);

// Row `row` of a Predict() result as one probability per class: for width
// 1, {1 - p, p}; else the row itself.
void ClassProbabilities(const Tensor& prediction, int64_t row,
                        std::vector<float>* probabilities);

// The index of the largest probability (the first on ties).
int ArgMax(const std::vector<float>& probabilities);

struct ClassificationReport {
  std::vector<std::string> class_names;
  // confusion[true][predicted], counts.
  std::vector<std::vector<int64_t>> confusion;
  std::vector<double> precision, recall, f1;  // Per class.
  std::vector<int64_t> support;               // True examples per class.
  double accuracy = 0;
  double macro_precision = 0, macro_recall = 0, macro_f1 = 0;
};

// From true and predicted class indices (same length, each in
// [0, class_names.size())). A class never predicted has precision 0, one
// with no examples recall 0, as scikit-learn's zero_division=0.
ClassificationReport MakeClassificationReport(
    const std::vector<int>& truth, const std::vector<int>& predicted,
    const std::vector<std::string>& class_names);

// scikit-learn's classification_report layout, then the confusion matrix.
std::string FormatClassificationReport(const ClassificationReport& report);

// The confusion matrix as a self-contained SVG: rows true classes, columns
// predicted, each cell shaded by its share of the row and labeled with its
// count. Written atomically.
absl::Status WriteConfusionMatrixSvg(const ClassificationReport& report,
                                     const std::string& title,
                                     const std::string& path);

// Predicts `features` with `model` and reports against `labels` (class
// indices as floats, as the data set makes them).
absl::StatusOr<ClassificationReport> EvaluateClassification(
    Model& model, const LabeledExamples& data, int batch_size,
    const std::vector<std::string>& class_names);

}  // namespace loom

#endif  // LOOM_FRAMEWORK_TRAINING_CLASSIFICATION_H_
