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

class SparseCategoricalAccuracyKernel : public OpKernel {
 public:
  absl::Status Init(const KernelInitContext&) { return absl::OkStatus(); }

  absl::Status Forward(KernelContext& ctx) override {
    const Tensor& labels = *ctx.input(0);
    const Tensor& y = *ctx.input(1);
    LOOM_RETURN_IF_ERROR(CheckClassLabelTensors(labels, y));
    const int64_t n = y.dim(0), k = y.dim(1);
    int64_t correct = 0;
    for (int64_t i = 0; i < n; ++i) {
      LOOM_ASSIGN_OR_RETURN(const int64_t label, ReadClassLabel(labels, i, k));
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
  LOOM_RETURN_IF_ERROR(
      CheckClassLabelShapes(ctx.input(0)->shape, ctx.input(1)->shape));
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
