// BinaryCrossentropy: the mean binary cross-entropy of predictions against
// 0/1 labels (Keras' losses.BinaryCrossentropy, reduction over the batch).
//
//   input  prediction: float [N, 1] or [N]; probabilities, or logits when
//                      from_logits
//   input  labels:     float, prediction's shape
//   output loss:       float []; the mean over all elements
//   attr   from_logits:     bool = false
//   attr   label_smoothing: float in [0, 1] = 0; labels become
//                           y * (1 - ls) + 0.5 * ls
//
// Per element, with y the smoothed label:
//   probabilities: p' = clip(p, eps, 1 - eps), eps = 1e-7, and
//                  -(y log(p' + eps) + (1 - y) log(1 - p' + eps)),
//                  exactly Keras' backend formula; the gradient is zero
//                  where p was clipped.
//   logits z:      max(z, 0) - z y + log(1 + exp(-|z|)), the stable form of
//                  the same loss with p = sigmoid(z); gradient sigmoid(z) - y.
// Labels are normally fed, but their gradient is written when asked for.
#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "framework/op.h"
#include "framework/status_macros.h"
#include "ops/op_library.h"

namespace loom {
namespace {

constexpr double kEpsilon = 1e-7;  // Keras' backend.epsilon().

absl::Status CheckLabelSmoothing(float ls) {
  if (!(ls >= 0.0f && ls <= 1.0f)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "attribute 'label_smoothing' must be in [0, 1], got ", ls));
  }
  return absl::OkStatus();
}

class BinaryCrossentropyKernel : public OpKernel {
 public:
  absl::Status Init(const KernelInitContext& init) {
    from_logits_ = init.attrs.GetBool("from_logits");
    label_smoothing_ = init.attrs.GetFloat("label_smoothing");
    return CheckLabelSmoothing(label_smoothing_);
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
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double y = Smooth(labels.f32()[i]);
      const double v = p.f32()[i];
      if (from_logits_) {
        sum += std::max(v, 0.0) - v * y + std::log1p(std::exp(-std::abs(v)));
      } else {
        const double c = std::clamp(v, kEpsilon, 1 - kEpsilon);
        sum -=
            y * std::log(c + kEpsilon) + (1 - y) * std::log(1 - c + kEpsilon);
      }
    }
    Tensor& loss = *ctx.output(0);
    loss.Resize(DType::kFloat32, {});
    loss.f32()[0] = static_cast<float>(sum / std::max<int64_t>(n, 1));
    return absl::OkStatus();
  }

  absl::Status Backward(GradContext& ctx) override {
    const Tensor& p = *ctx.input(0);
    const Tensor& labels = *ctx.input(1);
    const Tensor* dloss = ctx.output_grad(0);
    const int64_t n = p.num_elements();
    const double scale =
        dloss == nullptr ? 0.0 : dloss->f32()[0] / std::max<int64_t>(n, 1);
    Tensor* dp = ctx.input_grad(0);
    Tensor* dlabels = ctx.input_grad(1);
    if (dp != nullptr) dp->Resize(DType::kFloat32, p.shape());
    if (dlabels != nullptr) dlabels->Resize(DType::kFloat32, labels.shape());
    // d(smoothed label) / d(label).
    const double dy_dlabel = 1.0 - label_smoothing_;
    for (int64_t i = 0; i < n; ++i) {
      const double y = Smooth(labels.f32()[i]);
      const double v = p.f32()[i];
      double d_pred, d_label;
      if (from_logits_) {
        d_pred = 1 / (1 + std::exp(-v)) - y;
        d_label = -v;
      } else {
        const bool clipped = v < kEpsilon || v > 1 - kEpsilon;
        const double c = std::clamp(v, kEpsilon, 1 - kEpsilon);
        d_pred =
            clipped ? 0.0 : -y / (c + kEpsilon) + (1 - y) / (1 - c + kEpsilon);
        d_label = -std::log(c + kEpsilon) + std::log(1 - c + kEpsilon);
      }
      if (dp != nullptr) dp->f32()[i] = static_cast<float>(scale * d_pred);
      if (dlabels != nullptr) {
        dlabels->f32()[i] = static_cast<float>(scale * d_label * dy_dlabel);
      }
    }
    return absl::OkStatus();
  }

 private:
  double Smooth(float label) const {
    return label * (1.0 - label_smoothing_) + 0.5 * label_smoothing_;
  }

  bool from_logits_ = false;
  float label_smoothing_ = 0.0f;
};

absl::Status BinaryCrossentropyShape(ShapeContext& ctx) {
  LOOM_RETURN_IF_ERROR(
      CheckLabelSmoothing(ctx.attrs().GetFloat("label_smoothing")));
  for (int i = 0; i < 2; ++i) {
    LOOM_RETURN_IF_ERROR(ctx.ExpectDType(i, DType::kFloat32));
  }
  const Shape& p = ctx.input(0)->shape;
  const Shape& y = ctx.input(1)->shape;
  if (p.size() != 1 && p.size() != 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "prediction must be [N, 1] or [N], got ", ShapeToString(p)));
  }
  if (!ShapesCompatible(p, y)) {
    return absl::InvalidArgumentError(
        absl::StrCat("prediction ", ShapeToString(p), " and labels ",
                     ShapeToString(y), " must have the same shape"));
  }
  ctx.set_output(0, {DType::kFloat32, {}});
  return absl::OkStatus();
}

std::vector<OpDef> BinaryCrossentropyOps() {
  OpDef def;
  def.signature.name = "BinaryCrossentropy";
  def.signature.doc =
      "Mean binary cross-entropy of probabilities (or logits) against 0/1 "
      "labels.";
  def.signature.inputs = {
      {"prediction", "float [N, 1] or [N]: probabilities, or logits"},
      {"labels", "float, prediction's shape: 0 or 1"}};
  def.signature.outputs = {{"loss", "float []"}};
  def.signature.attrs = {
      BoolAttr("from_logits", false, "prediction holds logits"),
      FloatAttr("label_smoothing", 0.0f,
                "in [0, 1]: labels become y * (1 - ls) + 0.5 * ls")};
  def.shape_fn = BinaryCrossentropyShape;
  def.kernels.push_back(
      {"reference", MakeKernelFactory<BinaryCrossentropyKernel>()});
  std::vector<OpDef> defs;
  defs.push_back(std::move(def));
  return defs;
}

LOOM_REGISTER_OP(BinaryCrossentropyOps);

}  // namespace
}  // namespace loom
