// SparseCategoricalAccuracy: the fraction of rows whose highest score is at
// the labelled class (Keras' metrics.sparse_categorical_accuracy). A metric:
// no gradient.
//
//   input  labels:   float [N] or [N, 1]; class indices 0..K-1 stored as
//                    floats, as SparseCategoricalCrossentropy takes them
//                    (anything else is an InvalidArgument error naming the
//                    row and the value)
//   input  y:        float [N, K]; probabilities or logits (argmax is the
//                    same)
//   output accuracy: float []; mean over rows of (argmax_k y[n, k] ==
//                    labels[n]), 0 when N is 0
//
// Ties go to the first maximum (the lowest class index), as tf.argmax.
// NaN scores never win: a row whose first score is NaN picks the first
// non-NaN maximum after it, and an all-NaN row picks class 0.
#include <cmath>
#include <cstdint>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "framework/op.h"
#include "framework/status_macros.h"
#include "ops/op_library.h"

namespace loom {
namespace {

// Checks labels [N] or [N, 1] against y [N, K] at run time (shape inference
// may have seen unknown dimensions).
absl::Status CheckShapes(const Tensor& labels, const Tensor& y) {
  if (y.rank() != 2 || y.dim(1) < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "y must be [N, K] with K >= 1, got ", ShapeToString(y.shape())));
  }
  if (!(labels.rank() == 1 || (labels.rank() == 2 && labels.dim(1) == 1)) ||
      labels.dim(0) != y.dim(0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "labels must be [N] or [N, 1] with N = ", y.dim(0), " (y is ",
        ShapeToString(y.shape()), "), got ", ShapeToString(labels.shape())));
  }
  return absl::OkStatus();
}

// The label of row `i` as a class index in [0, classes).
absl::Status ReadClass(const Tensor& labels, int64_t i, int64_t classes,
                       int64_t* out) {
  const float v = labels.f32()[i];
  // Also false for NaN.
  if (!(v >= 0.0f && v < static_cast<float>(classes) && v == std::floor(v))) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "label in row %d is %.9g, not a class index: expected an integer "
        "in [0, %d) (y has %d classes)",
        i, v, classes, classes));
  }
  *out = static_cast<int64_t>(v);
  return absl::OkStatus();
}

class SparseCategoricalAccuracyKernel : public OpKernel {
 public:
  absl::Status Init(const KernelInitContext&) { return absl::OkStatus(); }

  absl::Status Forward(KernelContext& ctx) override {
    const Tensor& labels = *ctx.input(0);
    const Tensor& y = *ctx.input(1);
    LOOM_RETURN_IF_ERROR(CheckShapes(labels, y));
    const int64_t n = y.dim(0), k = y.dim(1);
    int64_t correct = 0;
    for (int64_t i = 0; i < n; ++i) {
      int64_t label = 0;
      LOOM_RETURN_IF_ERROR(ReadClass(labels, i, k, &label));
      const float* row = y.f32() + i * k;
      int64_t best = 0;
      for (int64_t j = 1; j < k; ++j) {
        // Strictly greater: the first maximum wins. The NaN test lets a
        // number replace a leading NaN.
        if (row[j] > row[best] ||
            (std::isnan(row[best]) && !std::isnan(row[j]))) {
          best = j;
        }
      }
      correct += best == label;
    }
    Tensor& accuracy = *ctx.output(0);
    accuracy.Resize(DType::kFloat32, {});
    accuracy.f32()[0] =
        n == 0 ? 0.0f : static_cast<float>(static_cast<double>(correct) / n);
    return absl::OkStatus();
  }
};

absl::Status SparseCategoricalAccuracyShape(ShapeContext& ctx) {
  for (int i = 0; i < 2; ++i) {
    LOOM_RETURN_IF_ERROR(ctx.ExpectDType(i, DType::kFloat32));
  }
  const Shape& labels = ctx.input(0)->shape;
  const Shape& y = ctx.input(1)->shape;
  if (y.size() != 2 || y[1] == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "y must be [N, K] with K >= 1 classes, got ", ShapeToString(y)));
  }
  if (labels.size() != 1 &&
      !(labels.size() == 2 && DimsCompatible(labels[1], 1))) {
    return absl::InvalidArgumentError(
        absl::StrCat("labels must be [N] or [N, 1] (class indices), got ",
                     ShapeToString(labels)));
  }
  if (!DimsCompatible(labels[0], y[0])) {
    return absl::InvalidArgumentError(absl::StrCat(
        "labels ", ShapeToString(labels), " and y ", ShapeToString(y),
        " must have the same N: ", labels[0], " vs ", y[0]));
  }
  ctx.set_output(0, {DType::kFloat32, {}});
  return absl::OkStatus();
}

std::vector<OpDef> SparseCategoricalAccuracyOps() {
  OpDef def;
  def.signature.name = "SparseCategoricalAccuracy";
  def.signature.doc =
      "Fraction of rows whose argmax (first maximum on ties) is the label.";
  def.signature.inputs = {
      {"labels", "float [N] or [N, 1]: class indices in [0, K)"},
      {"y", "float [N, K]: probabilities or logits"}};
  def.signature.outputs = {{"accuracy", "float []"}};
  def.shape_fn = SparseCategoricalAccuracyShape;
  def.kernels.push_back(
      {"reference", MakeKernelFactory<SparseCategoricalAccuracyKernel>()});
  def.differentiable = false;
  std::vector<OpDef> defs;
  defs.push_back(std::move(def));
  return defs;
}

LOOM_REGISTER_OP(SparseCategoricalAccuracyOps);

}  // namespace
}  // namespace loom
