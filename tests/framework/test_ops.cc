#include "tests/framework/test_ops.h"

#include <memory>

#include "absl/strings/str_cat.h"

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

class WeightedSumKernel : public OpKernel {
 public:
  explicit WeightedSumKernel(VariadicProbe* probe) : probe_(probe) {}
  absl::Status Forward(KernelContext& ctx) override {
    if (probe_ != nullptr) probe_->forward_inputs = ctx.num_inputs();
    Tensor& y = *ctx.output(0);
    y.ResizeZeroed(DType::kFloat32, ctx.input(0)->shape());
    for (int i = 0; i < ctx.num_inputs(); ++i) {
      const Tensor& x = *ctx.input(i);
      if (x.shape() != y.shape()) {
        return absl::InvalidArgumentError("inputs differ in shape");
      }
      for (int64_t e = 0; e < y.num_elements(); ++e) {
        y.f32()[e] += static_cast<float>(i + 1) * x.f32()[e];
      }
    }
    return absl::OkStatus();
  }
  absl::Status Backward(GradContext& ctx) override {
    if (probe_ != nullptr) probe_->grad_inputs = ctx.num_inputs();
    const Tensor& dy = *ctx.output_grad(0);
    for (int i = 0; i < ctx.num_inputs(); ++i) {
      Tensor* dx = ctx.input_grad(i);
      if (dx == nullptr) continue;
      dx->Resize(DType::kFloat32, dy.shape());
      for (int64_t e = 0; e < dy.num_elements(); ++e) {
        dx->f32()[e] = static_cast<float>(i + 1) * dy.f32()[e];
      }
    }
    return absl::OkStatus();
  }

 private:
  VariadicProbe* probe_;
};

}  // namespace

OpDef WeightedSumOp(int min_rest, VariadicProbe* probe) {
  OpDef def;
  def.signature.name = "WeightedSum";
  ArgSpec rest{"rest", "float, as first"};
  rest.variadic = true;
  rest.min_count = min_rest;
  def.signature.inputs = {{"first", "float"}, rest};
  def.signature.outputs = {{"y"}};
  def.shape_fn = [probe](ShapeContext& ctx) -> absl::Status {
    if (probe != nullptr) probe->shape_inputs = ctx.num_inputs();
    for (int i = 0; i < ctx.num_inputs(); ++i) {
      if (ctx.input(i) == nullptr ||
          !ShapesCompatible(ctx.input(i)->shape, ctx.input(0)->shape)) {
        return absl::InvalidArgumentError(
            absl::StrCat("input ", i, " differs in shape from input 0"));
      }
    }
    ctx.set_output(0, *ctx.input(0));
    return absl::OkStatus();
  };
  def.kernels.push_back({"reference",
                         [probe](const KernelInitContext& init)
                             -> absl::StatusOr<std::unique_ptr<OpKernel>> {
                           if (probe != nullptr) {
                             probe->init_inputs =
                                 static_cast<int>(init.inputs.size());
                           }
                           return std::make_unique<WeightedSumKernel>(probe);
                         }});
  return def;
}

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
