// Softmax: the softmax over the last axis (Keras' layers.Softmax, or a
// Dense layer's activation="softmax" as Dense followed by Softmax), on the
// oneDNN softmax primitives.
//
//   input  x: float [..., K], rank >= 1
//   output y: float, x's shape; y[..., k] = exp(x[..., k]) / sum_j
//             exp(x[..., j]), computed as exp(x - max) / sum exp(x - max)
//             by oneDNN, so large logits do not overflow
//
// x is seen as [rows, K] with rows the product of the leading dimensions;
// primitives are built once per (rows, K) and cached, so a smaller last
// batch builds one more pair and the next epoch reuses both.
//
// Gradient: dx = y * (dy - sum_k(dy * y)) per row, by oneDNN's
// softmax_backward, which needs only y (the forward output) and dy.
#include <memory>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "framework/dnnl_util.h"
#include "framework/op.h"
#include "framework/status_macros.h"
#include "ops/op_library.h"

namespace loom {
namespace {

class SoftmaxKernel : public OpKernel {
 public:
  absl::Status Init(const KernelInitContext&) { return absl::OkStatus(); }

  absl::Status Forward(KernelContext& ctx) override {
    const Tensor& x = *ctx.input(0);
    if (x.rank() < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("x must have rank >= 1 (softmax is over the last "
                       "axis), got ",
                       ShapeToString(x.shape())));
    }
    Tensor& y = *ctx.output(0);
    y.Resize(DType::kFloat32, x.shape());
    // Nothing to compute (and oneDNN need not see zero-sized memory).
    if (x.num_elements() == 0) return absl::OkStatus();
    Primitives* p = nullptr;
    LOOM_RETURN_IF_ERROR(GetPrimitives(ctx.engine(), x.shape(), &p));
    const dnnl::engine& e = ctx.engine();
    return DnnlCall("softmax forward", [&] {
      p->forward.execute(ctx.stream(),
                         {{DNNL_ARG_SRC, WrapTensor(e, x, p->md)},
                          {DNNL_ARG_DST, WrapTensor(e, y, p->md)}});
      ctx.stream().wait();
    });
  }

  absl::Status Backward(GradContext& ctx) override {
    Tensor* dx = ctx.input_grad(0);
    if (dx == nullptr) return absl::OkStatus();
    const Tensor& y = *ctx.output(0);
    const Tensor* dy = ctx.output_grad(0);
    if (dy == nullptr) {
      dx->ResizeZeroed(DType::kFloat32, y.shape());
      return absl::OkStatus();
    }
    if (dy->shape() != y.shape()) {
      return absl::InvalidArgumentError(
          absl::StrCat("gradient of y is ", ShapeToString(dy->shape()),
                       ", expected y's shape ", ShapeToString(y.shape())));
    }
    dx->Resize(DType::kFloat32, y.shape());
    if (y.num_elements() == 0) return absl::OkStatus();
    Primitives* p = nullptr;
    LOOM_RETURN_IF_ERROR(GetPrimitives(ctx.engine(), y.shape(), &p));
    const dnnl::engine& e = ctx.engine();
    return DnnlCall("softmax backward", [&] {
      p->backward.execute(ctx.stream(),
                          {{DNNL_ARG_DST, WrapTensor(e, y, p->md)},
                           {DNNL_ARG_DIFF_DST, WrapTensor(e, *dy, p->md)},
                           {DNNL_ARG_DIFF_SRC, WrapTensor(e, *dx, p->md)}});
      ctx.stream().wait();
    });
  }

 private:
  struct Primitives {
    dnnl::memory::desc md;  // [rows, K], row-major.
    dnnl::softmax_forward forward;
    dnnl::softmax_backward backward;
  };

  // `shape` has rank >= 1 and no zero dimension.
  absl::Status GetPrimitives(const dnnl::engine& engine, const Shape& shape,
                             Primitives** out) {
    const int64_t classes = shape.back();
    const int64_t rows = NumElements(shape) / classes;
    const std::pair<int64_t, int64_t> key(rows, classes);
    if (auto it = cache_.find(key); it != cache_.end()) {
      *out = it->second.get();
      return absl::OkStatus();
    }
    auto p = std::make_unique<Primitives>();
    LOOM_RETURN_IF_ERROR(DnnlCall("softmax setup", [&] {
      p->md = PlainDesc({rows, classes});
      dnnl::softmax_forward::primitive_desc fwd(
          dnnl::softmax_forward::desc(dnnl::prop_kind::forward_training, p->md,
                                      /*softmax_axis=*/1),
          engine);
      dnnl::softmax_backward::primitive_desc bwd(
          dnnl::softmax_backward::desc(p->md, p->md, /*softmax_axis=*/1),
          engine, fwd);
      p->forward = dnnl::softmax_forward(fwd);
      p->backward = dnnl::softmax_backward(bwd);
    }));
    *out = p.get();
    cache_[key] = std::move(p);
    return absl::OkStatus();
  }

  absl::flat_hash_map<std::pair<int64_t, int64_t>, std::unique_ptr<Primitives>>
      cache_;
};

absl::Status SoftmaxShape(ShapeContext& ctx) {
  LOOM_RETURN_IF_ERROR(ctx.ExpectDType(0, DType::kFloat32));
  const Shape& x = ctx.input(0)->shape;
  if (x.empty()) {
    return absl::InvalidArgumentError(
        "x must have rank >= 1 (softmax is over the last axis), got []");
  }
  ctx.set_output(0, *ctx.input(0));
  return absl::OkStatus();
}

std::vector<OpDef> SoftmaxOps() {
  OpDef def;
  def.signature.name = "Softmax";
  def.signature.doc =
      "y = exp(x) / sum(exp(x)) over the last axis (numerically stable).";
  def.signature.inputs = {{"x", "float [..., K], rank >= 1"}};
  def.signature.outputs = {{"y", "float, x's shape; each row sums to 1"}};
  def.shape_fn = SoftmaxShape;
  def.kernels.push_back({"onednn", MakeKernelFactory<SoftmaxKernel>()});
  std::vector<OpDef> defs;
  defs.push_back(std::move(def));
  return defs;
}

LOOM_REGISTER_OP(SoftmaxOps);

}  // namespace
}  // namespace loom
