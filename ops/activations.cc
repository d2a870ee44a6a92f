// Sigmoid, Relu, Tanh: elementwise activations on oneDNN eltwise primitives.
//
//   input  x: float [any shape]
//   output y: float, same shape as x
//
// The gradient uses y (the *_use_dst_for_bwd algorithms), so the forward
// output is all backward needs. Primitives run through DnnlExecute, whose
// errors name the arguments a primitive expected and did not get.
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "framework/dnnl_util.h"
#include "framework/op.h"
#include "framework/status_macros.h"
#include "ops/op_library.h"

namespace loom {
namespace {

using dnnl::algorithm;

class EltwiseKernel : public OpKernel {
 public:
  EltwiseKernel(algorithm forward, algorithm backward)
      : forward_alg_(forward), backward_alg_(backward) {}

  absl::Status Init(const KernelInitContext&) { return absl::OkStatus(); }

  absl::Status Forward(KernelContext& ctx) override {
    const Tensor& x = *ctx.input(0);
    Tensor& y = *ctx.output(0);
    y.Resize(DType::kFloat32, x.shape());
    Primitives* p = nullptr;
    LOOM_RETURN_IF_ERROR(GetPrimitives(ctx.engine(), x.num_elements(), &p));
    return DnnlExecute("eltwise forward", p->forward, ctx.stream(),
                       {{DNNL_ARG_SRC, WrapTensor(ctx.engine(), x, p->md)},
                        {DNNL_ARG_DST, WrapTensor(ctx.engine(), y, p->md)}});
  }

  absl::Status Backward(GradContext& ctx) override {
    // The gradient of x may not be wanted (GradContext's rules).
    if (!ctx.needs_input_grad(0)) return absl::OkStatus();
    Tensor& dx = *ctx.input_grad(0);
    const Tensor& y = *ctx.output(0);
    dx.Resize(DType::kFloat32, y.shape());
    if (ctx.output_grad(0) == nullptr) {
      dx.SetZero();
      return absl::OkStatus();
    }
    Primitives* p = nullptr;
    LOOM_RETURN_IF_ERROR(GetPrimitives(ctx.engine(), y.num_elements(), &p));
    const dnnl::engine& e = ctx.engine();
    return DnnlExecute(
        "eltwise backward", p->backward, ctx.stream(),
        {{DNNL_ARG_DST, WrapTensor(e, y, p->md)},
         {DNNL_ARG_DIFF_DST, WrapTensor(e, *ctx.output_grad(0), p->md)},
         {DNNL_ARG_DIFF_SRC, WrapTensor(e, dx, p->md)}});
  }

 private:
  // Elementwise ops see every tensor as a flat vector, so primitives are
  // cached by element count.
  struct Primitives {
    dnnl::memory::desc md;
    dnnl::eltwise_forward forward;
    dnnl::eltwise_backward backward;
  };

  absl::Status GetPrimitives(const dnnl::engine& engine, int64_t n,
                             Primitives** out) {
    auto it = cache_.find(n);
    if (it != cache_.end()) {
      *out = it->second.get();
      return absl::OkStatus();
    }
    auto p = std::make_unique<Primitives>();
    LOOM_RETURN_IF_ERROR(DnnlCall("eltwise setup", [&] {
      p->md = PlainDesc({std::max<int64_t>(n, 1)});
      dnnl::eltwise_forward::primitive_desc fwd(
          dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_training,
                                      forward_alg_, p->md, 0.f, 0.f),
          engine);
      dnnl::eltwise_backward::primitive_desc bwd(
          dnnl::eltwise_backward::desc(backward_alg_, p->md, p->md, 0.f, 0.f),
          engine, fwd);
      p->forward = dnnl::eltwise_forward(fwd);
      p->backward = dnnl::eltwise_backward(bwd);
    }));
    *out = p.get();
    cache_[n] = std::move(p);
    return absl::OkStatus();
  }

  algorithm forward_alg_;
  algorithm backward_alg_;
  absl::flat_hash_map<int64_t, std::unique_ptr<Primitives>> cache_;
};

absl::Status SameShape(ShapeContext& ctx) {
  LOOM_RETURN_IF_ERROR(ctx.ExpectDType(0, DType::kFloat32));
  ctx.set_output(0, *ctx.input(0));
  return absl::OkStatus();
}

OpDef MakeActivation(const char* name, const char* doc, algorithm forward,
                     algorithm backward) {
  OpDef def;
  def.signature.name = name;
  def.signature.doc = doc;
  def.signature.inputs = {{"x", "float tensor of any shape"}};
  def.signature.outputs = {{"y", "same shape as x"}};
  def.shape_fn = SameShape;
  def.kernels.push_back({"onednn",
                         [forward, backward](const KernelInitContext&)
                             -> absl::StatusOr<std::unique_ptr<OpKernel>> {
                           return std::make_unique<EltwiseKernel>(forward,
                                                                  backward);
                         }});
  return def;
}

std::vector<OpDef> ActivationOps() {
  std::vector<OpDef> defs;
  defs.push_back(MakeActivation("Sigmoid", "y = 1 / (1 + exp(-x))",
                                algorithm::eltwise_logistic,
                                algorithm::eltwise_logistic_use_dst_for_bwd));
  defs.push_back(MakeActivation("Relu", "y = max(x, 0)",
                                algorithm::eltwise_relu,
                                algorithm::eltwise_relu_use_dst_for_bwd));
  defs.push_back(MakeActivation("Tanh", "y = tanh(x)", algorithm::eltwise_tanh,
                                algorithm::eltwise_tanh_use_dst_for_bwd));
  return defs;
}

LOOM_REGISTER_OP(ActivationOps);

}  // namespace
}  // namespace loom
