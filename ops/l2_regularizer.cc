// L2Regularizer: the penalty l2 * sum(w^2) on a weight (Keras'
// regularizers.l2), to be added to the loss.
//
//   input  w:       float [any shape], usually a parameter
//   output penalty: float []
//   attr   l2:      float >= 0 = 0.01 (Keras' default)
//
// Gradient: 2 * l2 * w.
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "framework/op.h"
#include "framework/status_macros.h"
#include "ops/op_library.h"

namespace loom {
namespace {

absl::Status CheckL2(float l2) {
  if (!(l2 >= 0.0f) || std::isinf(l2)) {
    return absl::InvalidArgumentError(
        absl::StrCat("attribute 'l2' must be a finite value >= 0, got ", l2));
  }
  return absl::OkStatus();
}

class L2RegularizerKernel : public OpKernel {
 public:
  absl::Status Init(const KernelInitContext& init) {
    l2_ = init.attrs.GetFloat("l2");
    return CheckL2(l2_);
  }

  absl::Status Forward(KernelContext& ctx) override {
    double sum = 0;
    for (float v : ctx.input(0)->flat()) sum += double{v} * v;
    Tensor& penalty = *ctx.output(0);
    penalty.Resize(DType::kFloat32, {});
    penalty.f32()[0] = static_cast<float>(l2_ * sum);
    return absl::OkStatus();
  }

  absl::Status Backward(GradContext& ctx) override {
    Tensor* dw = ctx.input_grad(0);
    if (dw == nullptr) return absl::OkStatus();
    const Tensor& w = *ctx.input(0);
    const Tensor* dpenalty = ctx.output_grad(0);
    const float scale =
        dpenalty == nullptr ? 0.0f : 2.0f * l2_ * dpenalty->f32()[0];
    dw->Resize(DType::kFloat32, w.shape());
    const float* pw = w.f32();
    float* d = dw->f32();
    for (int64_t i = 0; i < w.num_elements(); ++i) d[i] = scale * pw[i];
    return absl::OkStatus();
  }

 private:
  float l2_ = 0.0f;
};

absl::Status L2RegularizerShape(ShapeContext& ctx) {
  LOOM_RETURN_IF_ERROR(CheckL2(ctx.attrs().GetFloat("l2")));
  LOOM_RETURN_IF_ERROR(ctx.ExpectDType(0, DType::kFloat32));
  ctx.set_output(0, {DType::kFloat32, {}});
  return absl::OkStatus();
}

std::vector<OpDef> L2RegularizerOps() {
  OpDef def;
  def.signature.name = "L2Regularizer";
  def.signature.doc = "Weight penalty l2 * sum(w^2), a scalar.";
  def.signature.inputs = {{"w", "float tensor of any shape"}};
  def.signature.outputs = {{"penalty", "float []"}};
  def.signature.attrs = {FloatAttr("l2", 0.01f, "penalty factor, >= 0")};
  def.shape_fn = L2RegularizerShape;
  def.kernels.push_back(
      {"reference", MakeKernelFactory<L2RegularizerKernel>()});
  std::vector<OpDef> defs;
  defs.push_back(std::move(def));
  return defs;
}

LOOM_REGISTER_OP(L2RegularizerOps);

}  // namespace
}  // namespace loom
