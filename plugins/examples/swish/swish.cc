// Swish: a complete, minimal op plugin, built as libloom_swish.so. The
// walkthrough in plugins/README.md quotes it in full: keep them in step.
//
//   input  x: float [any shape]
//   output y: float, same shape as x
//   attr   beta: float = 1.0, finite
//   y = x * sigmoid(beta * x)
//   dy/dx = s + beta * x * s * (1 - s), with s = sigmoid(beta * x)
//
// beta = 1 is SiLU; beta = 0 gives y = x / 2. The kernel is a plain loop
// over the elements: no oneDNN needed (ops/activations.cc shows the same
// kind of op on oneDNN eltwise primitives).
#include <cmath>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "framework/op.h"
#include "framework/plugin.h"
#include "framework/registry.h"
#include "framework/status_macros.h"
#include "framework/tensor.h"

namespace swish {
namespace {

// 1 / (1 + exp(-z)) without overflow for large |z|.
float Sigmoid(float z) {
  if (z >= 0) return 1.0f / (1.0f + std::exp(-z));
  const float e = std::exp(z);
  return e / (1.0f + e);
}

// Reads the attribute and checks its value. The shape function calls it
// (so a bad value is reported when the graph is loaded, with the node's
// name) and so does the kernel (which keeps the value).
absl::StatusOr<float> ReadBeta(const loom::AttrMap& attrs) {
  const float beta = attrs.GetFloat("beta");
  if (!std::isfinite(beta)) {
    return absl::InvalidArgumentError(
        absl::StrCat("attribute 'beta' must be finite, got ", beta));
  }
  return beta;
}

// Part 2: the shape function. y has x's dtype and shape, including the
// dimensions that are only known at run time (-1).
absl::Status SwishShape(loom::ShapeContext& ctx) {
  LOOM_RETURN_IF_ERROR(ReadBeta(ctx.attrs()).status());
  LOOM_RETURN_IF_ERROR(ctx.ExpectDType(0, loom::DType::kFloat32));
  ctx.set_output(0, *ctx.input(0));
  return absl::OkStatus();
}

// Parts 3 and 4: the kernel, created once per node, and its gradient.
class SwishKernel : public loom::OpKernel {
 public:
  absl::Status Init(const loom::KernelInitContext& init) {
    LOOM_ASSIGN_OR_RETURN(beta_, ReadBeta(init.attrs));
    return absl::OkStatus();
  }

  absl::Status Forward(loom::KernelContext& ctx) override {
    const loom::Tensor& x = *ctx.input(0);
    loom::Tensor& y = *ctx.output(0);
    y.Resize(loom::DType::kFloat32, x.shape());  // Reuses y's buffer.
    const float* in = x.f32();
    float* out = y.f32();
    for (int64_t i = 0; i < x.num_elements(); ++i) {
      out[i] = in[i] * Sigmoid(beta_ * in[i]);
    }
    return absl::OkStatus();
  }

  // dL/dx = dL/dy * dy/dx. Forward's input is still there, so the gradient
  // recomputes s from x.
  absl::Status Backward(loom::GradContext& ctx) override {
    if (!ctx.needs_input_grad(0)) return absl::OkStatus();
    const loom::Tensor& x = *ctx.input(0);
    loom::Tensor& dx = *ctx.input_grad(0);
    dx.Resize(loom::DType::kFloat32, x.shape());
    const loom::Tensor* dy = ctx.output_grad(0);
    if (dy == nullptr) {  // No gradient reaches y: dL/dx is zero.
      dx.SetZero();
      return absl::OkStatus();
    }
    const float* in = x.f32();
    const float* g = dy->f32();
    float* out = dx.f32();
    for (int64_t i = 0; i < x.num_elements(); ++i) {
      const float s = Sigmoid(beta_ * in[i]);
      out[i] = g[i] * (s + beta_ * in[i] * s * (1.0f - s));
    }
    return absl::OkStatus();
  }

 private:
  float beta_ = 1.0f;
};

// Part 1, the signature, and the OpDef that bundles the four parts.
loom::OpDef MakeSwishDef() {
  loom::OpDef def;
  def.signature.name = "Swish";
  def.signature.doc = "y = x * sigmoid(beta * x), elementwise";
  def.signature.inputs = {{"x", "float tensor of any shape"}};
  def.signature.outputs = {{"y", "same shape as x"}};
  def.signature.attrs = {loom::FloatAttr("beta", 1.0f, "slope, finite")};
  def.shape_fn = SwishShape;
  def.kernels.push_back({"reference", loom::MakeKernelFactory<SwishKernel>()});
  return def;
}

absl::Status RegisterSwishOps(loom::OpRegistry* registry) {
  return registry->Register(MakeSwishDef());
}

}  // namespace
}  // namespace swish

// The entry point the loader looks for; one per shared object.
LOOM_PLUGIN("swish", swish::RegisterSwishOps)
