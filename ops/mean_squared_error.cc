// MeanSquaredError: loss = mean((prediction - target)^2) over all elements.
//
//   input  prediction: float [any shape]
//   input  target:     float, same shape
//   output loss:       float []
#include <vector>

#include "absl/strings/str_cat.h"
#include "framework/op.h"
#include "framework/status_macros.h"
#include "ops/op_library.h"

namespace loom {
namespace {

class MseKernel : public OpKernel {
 public:
  absl::Status Init(const KernelInitContext&) { return absl::OkStatus(); }

  absl::Status Forward(KernelContext& ctx) override {
    const Tensor& p = *ctx.input(0);
    const Tensor& t = *ctx.input(1);
    if (p.shape() != t.shape()) {
      return absl::InvalidArgumentError(
          absl::StrCat("prediction ", ShapeToString(p.shape()), " and target ",
                       ShapeToString(t.shape()), " differ"));
    }
    double sum = 0;
    for (int64_t i = 0; i < p.num_elements(); ++i) {
      const double d = double{p.f32()[i]} - t.f32()[i];
      sum += d * d;
    }
    ctx.output(0)->Resize(DType::kFloat32, {});
    ctx.output(0)->f32()[0] =
        static_cast<float>(sum / std::max<int64_t>(1, p.num_elements()));
    return absl::OkStatus();
  }

  absl::Status Backward(GradContext& ctx) override {
    const Tensor& p = *ctx.input(0);
    const Tensor& t = *ctx.input(1);
    const float g = ctx.output_grad(0)->f32()[0];
    const float scale = 2.0f * g / std::max<int64_t>(1, p.num_elements());
    for (int i = 0; i < 2; ++i) {
      Tensor* dx = ctx.input_grad(i);
      if (dx == nullptr) continue;
      dx->Resize(DType::kFloat32, p.shape());
      const float sign = i == 0 ? 1.0f : -1.0f;
      for (int64_t k = 0; k < p.num_elements(); ++k) {
        dx->f32()[k] = sign * scale * (p.f32()[k] - t.f32()[k]);
      }
    }
    return absl::OkStatus();
  }
};

absl::Status MseShape(ShapeContext& ctx) {
  for (int i = 0; i < 2; ++i) {
    LOOM_RETURN_IF_ERROR(ctx.ExpectDType(i, DType::kFloat32));
  }
  const Shape& p = ctx.input(0)->shape;
  const Shape& t = ctx.input(1)->shape;
  if (!ShapesCompatible(p, t)) {
    return absl::InvalidArgumentError(
        absl::StrCat("prediction ", ShapeToString(p), " and target ",
                     ShapeToString(t), " have different shapes"));
  }
  ctx.set_output(0, {DType::kFloat32, {}});
  return absl::OkStatus();
}

std::vector<OpDef> MseOps() {
  OpDef def;
  def.signature.name = "MeanSquaredError";
  def.signature.doc = "Mean of squared differences, a scalar loss.";
  def.signature.inputs = {{"prediction", "float"}, {"target", "float"}};
  def.signature.outputs = {{"loss", "float []"}};
  def.shape_fn = MseShape;
  def.kernels.push_back({"reference", MakeKernelFactory<MseKernel>()});
  std::vector<OpDef> defs;
  defs.push_back(std::move(def));
  return defs;
}

LOOM_REGISTER_OP(MseOps);

}  // namespace
}  // namespace loom
