// A plugin built as a shared object for plugin_test: one op, "Square"; the
// variants (defines) misbehave in one way each.
#include <memory>

#include "framework/op.h"
#include "framework/plugin.h"
#include "framework/status_macros.h"

namespace {

class SquareKernel : public loom::OpKernel {
 public:
  absl::Status Init(const loom::KernelInitContext&) { return absl::OkStatus(); }
  absl::Status Forward(loom::KernelContext& ctx) override {
    const loom::Tensor& x = *ctx.input(0);
    loom::Tensor& y = *ctx.output(0);
    y.Resize(loom::DType::kFloat32, x.shape());
    for (int64_t i = 0; i < x.num_elements(); ++i) {
      y.f32()[i] = x.f32()[i] * x.f32()[i];
    }
    return absl::OkStatus();
  }
  absl::Status Backward(loom::GradContext& ctx) override {
    const loom::Tensor& x = *ctx.input(0);
    const loom::Tensor& dy = *ctx.output_grad(0);
    loom::Tensor& dx = *ctx.input_grad(0);
    dx.Resize(loom::DType::kFloat32, x.shape());
    for (int64_t i = 0; i < x.num_elements(); ++i) {
      dx.f32()[i] = 2 * x.f32()[i] * dy.f32()[i];
    }
    return absl::OkStatus();
  }
};

[[maybe_unused]] absl::Status RegisterSquare(loom::OpRegistry* registry) {
  loom::OpDef def;
  def.signature.name = "Square";
  def.signature.doc = "y = x * x";
  def.signature.inputs = {{"x"}};
  def.signature.outputs = {{"y"}};
  def.shape_fn = [](loom::ShapeContext& ctx) {
    ctx.set_output(0, *ctx.input(0));
    return absl::OkStatus();
  };
  def.kernels.push_back({"reference", loom::MakeKernelFactory<SquareKernel>()});
  return registry->Register(std::move(def));
}

// Registers Square, then an op without a kernel, which the registry refuses.
[[maybe_unused]] absl::Status RegisterSquareThenABrokenOp(
    loom::OpRegistry* registry) {
  LOOM_RETURN_IF_ERROR(RegisterSquare(registry));
  loom::OpDef broken;
  broken.signature.name = "Broken";
  broken.signature.outputs = {{"y"}};
  broken.shape_fn = [](loom::ShapeContext&) { return absl::OkStatus(); };
  return registry->Register(std::move(broken));
}

}  // namespace

#ifdef LOOM_TEST_WRONG_ABI
// Claims an ABI version this Loom does not have.
extern "C" __attribute__((visibility("default"))) const loom::LoomPluginInfo*
loom_plugin_entry() {
  static const loom::LoomPluginInfo info = {loom::kLoomPluginAbiVersion + 41,
                                            "square", &RegisterSquare};
  return &info;
}
#elif defined(LOOM_TEST_NO_ENTRY)
// A shared object without Loom's entry point.
extern "C" __attribute__((visibility("default"))) int not_a_loom_plugin() {
  return 42;
}
#elif defined(LOOM_TEST_FAILS_HALFWAY)
LOOM_PLUGIN("half", RegisterSquareThenABrokenOp)
#else
LOOM_PLUGIN("square", RegisterSquare)
#endif
