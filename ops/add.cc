// Add: elementwise sum of tensors of one shape; a scalar input is broadcast
// (so a regularization term can be added to a loss).
//
//   input  a: float [any shape] or []
//   input  b: float, a's shape or []
//   output c: float, the larger shape
//
// Kernels: "reference", a loop, and "onednn", oneDNN's binary_add (a scalar
// as a broadcast source). The gradient is dc for each input of c's shape
// and the sum of dc for a broadcast scalar, the same code for both.
// tests/ops:small_ops_benchmark times them.
#include <memory>
#include <unordered_map>
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

bool IsScalar(const Tensor& t) {
  return t.num_elements() == 1 && t.rank() == 0;
}

absl::Status CheckAddable(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() && !IsScalar(a) && !IsScalar(b)) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot add ", ShapeToString(a.shape()), " and ",
                     ShapeToString(b.shape())));
  }
  return absl::OkStatus();
}

// dc for an input of c's shape, the sum of dc for a broadcast scalar.
absl::Status AddBackward(GradContext& ctx) {
  const Tensor* dc = ctx.output_grad(0);
  for (int i = 0; i < 2; ++i) {
    Tensor* dx = ctx.input_grad(i);
    if (dx == nullptr) continue;
    const Tensor& x = *ctx.input(i);
    if (dc == nullptr) {
      dx->ResizeZeroed(DType::kFloat32, x.shape());
      continue;
    }
    dx->Resize(DType::kFloat32, x.shape());
    if (x.shape() == dc->shape()) {
      dx->CopyFrom(*dc);
    } else {  // A broadcast scalar collects the sum.
      double sum = 0;
      for (float v : dc->flat()) sum += v;
      dx->f32()[0] = static_cast<float>(sum);
    }
  }
  return absl::OkStatus();
}

class AddKernel : public OpKernel {
 public:
  absl::Status Init(const KernelInitContext&) { return absl::OkStatus(); }

  absl::Status Forward(KernelContext& ctx) override {
    const Tensor& a = *ctx.input(0);
    const Tensor& b = *ctx.input(1);
    LOOM_RETURN_IF_ERROR(CheckAddable(a, b));
    const bool a_scalar = IsScalar(a);
    const bool b_scalar = IsScalar(b);
    const Tensor& big = b_scalar ? a : b;
    Tensor& c = *ctx.output(0);
    c.Resize(DType::kFloat32, big.shape());
    const int64_t n = c.num_elements();
    const float* pa = a.f32();
    const float* pb = b.f32();
    float* pc = c.f32();
    const int64_t sa = a_scalar && a.shape() != b.shape() ? 0 : 1;
    const int64_t sb = b_scalar && a.shape() != b.shape() ? 0 : 1;
    for (int64_t i = 0; i < n; ++i) pc[i] = pa[i * sa] + pb[i * sb];
    return absl::OkStatus();
  }

  absl::Status Backward(GradContext& ctx) override { return AddBackward(ctx); }
};

class OneDnnAddKernel : public OpKernel {
 public:
  absl::Status Init(const KernelInitContext&) { return absl::OkStatus(); }

  absl::Status Forward(KernelContext& ctx) override {
    const Tensor& a = *ctx.input(0);
    const Tensor& b = *ctx.input(1);
    LOOM_RETURN_IF_ERROR(CheckAddable(a, b));
    // Addition commutes: the broadcast scalar, if any, is the second source.
    const bool swap =
        IsScalar(b) ? false : IsScalar(a) && a.shape() != b.shape();
    const Tensor& big = swap ? b : a;
    const Tensor& other = swap ? a : b;
    Tensor& c = *ctx.output(0);
    c.Resize(DType::kFloat32, big.shape());
    if (c.num_elements() == 0) return absl::OkStatus();
    Primitives* p = nullptr;
    LOOM_RETURN_IF_ERROR(GetPrimitives(ctx.engine(), big.shape(),
                                       other.shape() != big.shape(), &p));
    const dnnl::engine& e = ctx.engine();
    return DnnlExecute("add", p->add, ctx.stream(),
                       {{DNNL_ARG_SRC_0, WrapTensor(e, big, p->dst)},
                        {DNNL_ARG_SRC_1, WrapTensor(e, other, p->src1)},
                        {DNNL_ARG_DST, WrapTensor(e, c, p->dst)}});
  }

  absl::Status Backward(GradContext& ctx) override { return AddBackward(ctx); }

 private:
  struct Primitives {
    dnnl::memory::desc dst, src1;
    dnnl::binary add;
  };

  // `shape` is c's; `broadcast`: the second source is a scalar.
  absl::Status GetPrimitives(const dnnl::engine& engine, const Shape& shape,
                             bool broadcast, Primitives** out) {
    // oneDNN wants at least one dimension: a scalar sum is [1] + [1].
    const Shape dims = shape.empty() ? Shape{1} : shape;
    const auto key = std::make_pair(dims, broadcast);
    if (auto it = cache_.find(key); it != cache_.end()) {
      *out = it->second.get();
      return absl::OkStatus();
    }
    auto p = std::make_unique<Primitives>();
    LOOM_RETURN_IF_ERROR(DnnlCall("add setup", [&] {
      p->dst = PlainDesc(dims);
      p->src1 = broadcast ? PlainDesc(Shape(dims.size(), 1)) : p->dst;
      p->add = dnnl::binary(dnnl::binary::primitive_desc(
          dnnl::binary::desc(dnnl::algorithm::binary_add, p->dst, p->src1,
                             p->dst),
          engine));
    }));
    *out = p.get();
    cache_[key] = std::move(p);
    return absl::OkStatus();
  }

  absl::flat_hash_map<std::pair<Shape, bool>, std::unique_ptr<Primitives>>
      cache_;
};

absl::Status AddShape(ShapeContext& ctx) {
  const ValueInfo& a = *ctx.input(0);
  const ValueInfo& b = *ctx.input(1);
  if (a.dtype != DType::kFloat32 || b.dtype != DType::kFloat32) {
    return absl::InvalidArgumentError("Add takes float inputs");
  }
  if (a.shape.empty()) {
    ctx.set_output(0, b);
    return absl::OkStatus();
  }
  if (b.shape.empty()) {
    ctx.set_output(0, a);
    return absl::OkStatus();
  }
  bool ok = a.shape.size() == b.shape.size();
  for (size_t i = 0; ok && i < a.shape.size(); ++i) {
    ok = DimsCompatible(a.shape[i], b.shape[i]);
  }
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot add ", ShapeToString(a.shape), " and ",
                     ShapeToString(b.shape)));
  }
  ctx.set_output(0, a);
  return absl::OkStatus();
}

std::vector<OpDef> AddOps() {
  OpDef def;
  def.signature.name = "Add";
  def.signature.doc = "c = a + b, same shapes or one scalar.";
  def.signature.inputs = {{"a", "float"}, {"b", "float"}};
  def.signature.outputs = {{"c", "float"}};
  def.shape_fn = AddShape;
  def.kernels.push_back({"reference", MakeKernelFactory<AddKernel>()});
  def.kernels.push_back({"onednn", MakeKernelFactory<OneDnnAddKernel>()});
  std::vector<OpDef> defs;
  defs.push_back(std::move(def));
  return defs;
}

LOOM_REGISTER_OP(AddOps);

}  // namespace
}  // namespace loom
