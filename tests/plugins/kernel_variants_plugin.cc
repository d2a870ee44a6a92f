// A plugin for check_op_test: the op "Twice", y = 2 * x, with three kernels
// as a plugin author might have them: "reference" (the plain loop),
// "close" (off by a relative 1e-6, as a reordered sum would be) and "off"
// (wrong at element 3), for tools/check_op --compare_kernels.
#include <cstdint>

#include "absl/status/status.h"
#include "framework/op.h"
#include "framework/plugin.h"
#include "framework/registry.h"
#include "framework/tensor.h"

namespace kernel_variants {
namespace {

enum class Variant { kReference, kClose, kOff };

template <Variant V>
class TwiceKernel : public loom::OpKernel {
 public:
  absl::Status Init(const loom::KernelInitContext&) { return absl::OkStatus(); }

  absl::Status Forward(loom::KernelContext& ctx) override {
    const loom::Tensor& x = *ctx.input(0);
    loom::Tensor& y = *ctx.output(0);
    y.Resize(loom::DType::kFloat32, x.shape());
    for (int64_t i = 0; i < x.num_elements(); ++i) {
      float v = 2 * x.f32()[i];
      if (V == Variant::kClose) v *= 1 + 1e-6f;
      if (V == Variant::kOff && i == 3) v += 0.5f;
      y.f32()[i] = v;
    }
    return absl::OkStatus();
  }

  absl::Status Backward(loom::GradContext& ctx) override {
    if (!ctx.needs_input_grad(0)) return absl::OkStatus();
    const loom::Tensor& x = *ctx.input(0);
    loom::Tensor& dx = *ctx.input_grad(0);
    const loom::Tensor* dy = ctx.output_grad(0);
    if (dy == nullptr) {
      dx.ResizeZeroed(loom::DType::kFloat32, x.shape());
      return absl::OkStatus();
    }
    dx.Resize(loom::DType::kFloat32, x.shape());
    for (int64_t i = 0; i < x.num_elements(); ++i) {
      dx.f32()[i] = 2 * dy->f32()[i];
    }
    return absl::OkStatus();
  }
};

absl::Status RegisterOps(loom::OpRegistry* registry) {
  loom::OpDef def;
  def.signature.name = "Twice";
  def.signature.doc = "y = 2 * x, by three kernels, one of them wrong";
  def.signature.inputs = {{"x", "float tensor of any shape"}};
  def.signature.outputs = {{"y", "same shape as x"}};
  def.shape_fn = [](loom::ShapeContext& ctx) {
    ctx.set_output(0, *ctx.input(0));
    return absl::OkStatus();
  };
  def.kernels.push_back(
      {"reference",
       loom::MakeKernelFactory<TwiceKernel<Variant::kReference>>()});
  def.kernels.push_back(
      {"close", loom::MakeKernelFactory<TwiceKernel<Variant::kClose>>()});
  def.kernels.push_back(
      {"off", loom::MakeKernelFactory<TwiceKernel<Variant::kOff>>()});
  return registry->Register(std::move(def));
}

}  // namespace
}  // namespace kernel_variants

LOOM_PLUGIN("kernel_variants", kernel_variants::RegisterOps)
