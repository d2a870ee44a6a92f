// BinaryAccuracy: the fraction of predictions on the right side of a
// threshold (Keras' metrics.binary_accuracy). A metric: no gradient.
//
//   input  prediction: float [any shape], usually probabilities
//   input  labels:     float, prediction's shape; a label counts as
//                      positive when > 0.5
//   output accuracy:   float []; mean((prediction > threshold) ==
//                      (labels > 0.5)) over all elements
//   attr   threshold:  float = 0.5 (0 for logits)
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "framework/op.h"
#include "framework/status_macros.h"
#include "ops/op_library.h"

namespace loom {
namespace {

absl::Status CheckThreshold(float threshold) {
  if (!std::isfinite(threshold)) {
    return absl::InvalidArgumentError(
        absl::StrCat("attribute 'threshold' must be finite, got ", threshold));
  }
  return absl::OkStatus();
}

class BinaryAccuracyKernel : public OpKernel {
 public:
  absl::Status Init(const KernelInitContext& init) {
    threshold_ = init.attrs.GetFloat("threshold");
    return CheckThreshold(threshold_);
  }

  absl::Status Forward(KernelContext& ctx) override {
    const Tensor& p = *ctx.input(0);
    const Tensor& labels = *ctx.input(1);
    if (p.shape() != labels.shape()) {
      return absl::InvalidArgumentError(
          absl::StrCat("prediction ", ShapeToString(p.shape()), " and labels ",
                       ShapeToString(labels.shape()), " differ"));
    }
    const int64_t n = p.num_elements();
    int64_t correct = 0;
    for (int64_t i = 0; i < n; ++i) {
      correct += (p.f32()[i] > threshold_) == (labels.f32()[i] > 0.5f);
    }
    Tensor& accuracy = *ctx.output(0);
    accuracy.Resize(DType::kFloat32, {});
    accuracy.f32()[0] =
        n == 0 ? 0.0f : static_cast<float>(static_cast<double>(correct) / n);
    return absl::OkStatus();
  }

 private:
  float threshold_ = 0.5f;
};

absl::Status BinaryAccuracyShape(ShapeContext& ctx) {
  LOOM_RETURN_IF_ERROR(CheckThreshold(ctx.attrs().GetFloat("threshold")));
  for (int i = 0; i < 2; ++i) {
    LOOM_RETURN_IF_ERROR(ctx.ExpectDType(i, DType::kFloat32));
  }
  const Shape& p = ctx.input(0)->shape;
  const Shape& y = ctx.input(1)->shape;
  if (!ShapesCompatible(p, y)) {
    return absl::InvalidArgumentError(
        absl::StrCat("prediction ", ShapeToString(p), " and labels ",
                     ShapeToString(y), " must have the same shape"));
  }
  ctx.set_output(0, {DType::kFloat32, {}});
  return absl::OkStatus();
}

std::vector<OpDef> BinaryAccuracyOps() {
  OpDef def;
  def.signature.name = "BinaryAccuracy";
  def.signature.doc =
      "Fraction of elements where (prediction > threshold) matches "
      "(label > 0.5).";
  def.signature.inputs = {{"prediction", "float"},
                          {"labels", "float, prediction's shape"}};
  def.signature.outputs = {{"accuracy", "float []"}};
  def.signature.attrs = {
      FloatAttr("threshold", 0.5f, "decision threshold on the prediction")};
  def.shape_fn = BinaryAccuracyShape;
  def.kernels.push_back(
      {"reference", MakeKernelFactory<BinaryAccuracyKernel>()});
  def.differentiable = false;
  std::vector<OpDef> defs;
  defs.push_back(std::move(def));
  return defs;
}

LOOM_REGISTER_OP(BinaryAccuracyOps);

}  // namespace
}  // namespace loom
