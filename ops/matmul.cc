// MatMul: c = a * b for matrices, on the oneDNN matmul primitive.
//
//   input  a: float [M, K]
//   input  b: float [K, N]
//   output c: float [M, N]
//
// Gradients: da = dc * b^T and db = a^T * dc, also oneDNN matmuls; the
// transposes are expressed as strides, so nothing is copied.
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

using dnnl::memory;

// Row-major [rows, cols] matrix, optionally read transposed.
memory::desc MatrixDesc(int64_t rows, int64_t cols, bool transposed) {
  if (!transposed)
    return memory::desc({rows, cols}, memory::data_type::f32,
                        memory::dims{cols, 1});
  // The transpose of a row-major [cols, rows] matrix.
  return memory::desc({rows, cols}, memory::data_type::f32,
                      memory::dims{1, rows});
}

class MatMulKernel : public OpKernel {
 public:
  absl::Status Init(const KernelInitContext&) { return absl::OkStatus(); }

  absl::Status Forward(KernelContext& ctx) override {
    const Tensor& a = *ctx.input(0);
    const Tensor& b = *ctx.input(1);
    if (a.rank() != 2 || b.rank() != 2 || a.dim(1) != b.dim(0)) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot multiply ", ShapeToString(a.shape()), " by ",
                       ShapeToString(b.shape())));
    }
    const int64_t m = a.dim(0), k = a.dim(1), n = b.dim(1);
    Tensor& c = *ctx.output(0);
    c.Resize(DType::kFloat32, {m, n});
    Primitives* s;
    LOOM_RETURN_IF_ERROR(GetPrimitives(ctx.engine(), m, k, n, &s));
    const dnnl::engine& e = ctx.engine();
    return DnnlCall("matmul", [&] {
      s->forward.execute(ctx.stream(),
                         {{DNNL_ARG_SRC, WrapTensor(e, a, s->a)},
                          {DNNL_ARG_WEIGHTS, WrapTensor(e, b, s->b)},
                          {DNNL_ARG_DST, WrapTensor(e, c, s->c)}});
      ctx.stream().wait();
    });
  }

  absl::Status Backward(GradContext& ctx) override {
    const Tensor& a = *ctx.input(0);
    const Tensor& b = *ctx.input(1);
    const Tensor* dc = ctx.output_grad(0);
    const int64_t m = a.dim(0), k = a.dim(1), n = b.dim(1);
    if (dc == nullptr) {
      for (int i = 0; i < 2; ++i) {
        if (Tensor* d = ctx.input_grad(i)) {
          d->ResizeZeroed(DType::kFloat32, ctx.input(i)->shape());
        }
      }
      return absl::OkStatus();
    }
    Primitives* s;
    LOOM_RETURN_IF_ERROR(GetPrimitives(ctx.engine(), m, k, n, &s));
    const dnnl::engine& e = ctx.engine();
    return DnnlCall("matmul backward", [&] {
      if (Tensor* da = ctx.input_grad(0)) {
        da->Resize(DType::kFloat32, a.shape());
        s->grad_a.execute(ctx.stream(),
                          {{DNNL_ARG_SRC, WrapTensor(e, *dc, s->dc)},
                           {DNNL_ARG_WEIGHTS, WrapTensor(e, b, s->b_t)},
                           {DNNL_ARG_DST, WrapTensor(e, *da, s->a)}});
      }
      if (Tensor* db = ctx.input_grad(1)) {
        db->Resize(DType::kFloat32, b.shape());
        s->grad_b.execute(ctx.stream(),
                          {{DNNL_ARG_SRC, WrapTensor(e, a, s->a_t)},
                           {DNNL_ARG_WEIGHTS, WrapTensor(e, *dc, s->dc)},
                           {DNNL_ARG_DST, WrapTensor(e, *db, s->b)}});
      }
      ctx.stream().wait();
    });
  }

 private:
  struct Primitives {
    memory::desc a, b, c, dc, a_t, b_t;
    dnnl::matmul forward, grad_a, grad_b;
  };

  absl::Status GetPrimitives(const dnnl::engine& engine, int64_t m, int64_t k,
                             int64_t n, Primitives** out) {
    auto key = std::vector<int64_t>{m, k, n};
    if (auto it = cache_.find(key); it != cache_.end()) {
      *out = it->second.get();
      return absl::OkStatus();
    }
    auto s = std::make_unique<Primitives>();
    LOOM_RETURN_IF_ERROR(DnnlCall("matmul setup", [&] {
      s->a = MatrixDesc(m, k, false);
      s->b = MatrixDesc(k, n, false);
      s->c = MatrixDesc(m, n, false);
      s->dc = s->c;
      s->a_t = MatrixDesc(k, m, true);
      s->b_t = MatrixDesc(n, k, true);
      s->forward = dnnl::matmul(dnnl::matmul::primitive_desc(
          dnnl::matmul::desc(s->a, s->b, s->c), engine));
      s->grad_a = dnnl::matmul(dnnl::matmul::primitive_desc(
          dnnl::matmul::desc(s->dc, s->b_t, s->a), engine));
      s->grad_b = dnnl::matmul(dnnl::matmul::primitive_desc(
          dnnl::matmul::desc(s->a_t, s->dc, s->b), engine));
    }));
    *out = s.get();
    cache_[key] = std::move(s);
    return absl::OkStatus();
  }

  absl::flat_hash_map<std::vector<int64_t>, std::unique_ptr<Primitives>> cache_;
};

absl::Status MatMulShape(ShapeContext& ctx) {
  for (int i = 0; i < 2; ++i) {
    LOOM_RETURN_IF_ERROR(ctx.ExpectRank(i, 2));
    LOOM_RETURN_IF_ERROR(ctx.ExpectDType(i, DType::kFloat32));
  }
  const Shape& a = ctx.input(0)->shape;
  const Shape& b = ctx.input(1)->shape;
  if (!DimsCompatible(a[1], b[0])) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot multiply ", ShapeToString(a), " by ",
                     ShapeToString(b), ": inner dimensions differ"));
  }
  ctx.set_output(0, {DType::kFloat32, {a[0], b[1]}});
  return absl::OkStatus();
}

std::vector<OpDef> MatMulOps() {
  OpDef def;
  def.signature.name = "MatMul";
  def.signature.doc = "Matrix product c = a * b.";
  def.signature.inputs = {{"a", "float [M, K]"}, {"b", "float [K, N]"}};
  def.signature.outputs = {{"c", "float [M, N]"}};
  def.shape_fn = MatMulShape;
  def.kernels.push_back({"onednn", MakeKernelFactory<MatMulKernel>()});
  std::vector<OpDef> defs;
  defs.push_back(std::move(def));
  return defs;
}

LOOM_REGISTER_OP(MatMulOps);

}  // namespace
}  // namespace loom
