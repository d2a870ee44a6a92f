#include "tests/framework/test_ops.h"

#include <memory>

namespace loom::testing {
namespace {

absl::Status Identity(ShapeContext& ctx) {
  ctx.set_output(0, *ctx.input(0));
  return absl::OkStatus();
}

class IdentityKernel : public OpKernel {
 public:
  explicit IdentityKernel(int* backward_calls)
      : backward_calls_(backward_calls) {}
  absl::Status Forward(KernelContext& ctx) override {
    ctx.output(0)->CopyFrom(*ctx.input(0));
    return absl::OkStatus();
  }
  absl::Status Backward(GradContext& ctx) override {
    if (backward_calls_ != nullptr) ++*backward_calls_;
    ctx.input_grad(0)->CopyFrom(*ctx.output_grad(0));
    return absl::OkStatus();
  }

 private:
  int* backward_calls_;
};

OpDef IdentityOp(const char* name, int* backward_calls) {
  OpDef def;
  def.signature.name = name;
  def.signature.inputs = {{"x"}};
  def.signature.outputs = {{"y"}};
  def.shape_fn = Identity;
  def.kernels.push_back({"reference",
                         [backward_calls](const KernelInitContext&)
                             -> absl::StatusOr<std::unique_ptr<OpKernel>> {
                           return std::make_unique<IdentityKernel>(
                               backward_calls);
                         }});
  return def;
}

}  // namespace

OpDef AttrProbeOp() {
  OpDef def = IdentityOp("AttrProbe", nullptr);
  def.signature.attrs = {IntAttr("count", 1), FloatAttr("scale", 1.0f)};
  def.signature.attrs[1].default_value.reset();
  return def;
}

OpDef CountingIdentityOp(int* backward_calls) {
  return IdentityOp("CountingIdentity", backward_calls);
}

}  // namespace loom::testing
