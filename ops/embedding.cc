// Embedding: looks up rows of a table by integer id (Keras' Embedding).
//
//   input  ids:   int32 [N, T] or [N]; every id in [0, V)
//   input  table: float [V, E]
//   output y:     float [N, T, E] (or [N, E]); y[n, t] = table[ids[n, t]]
//   output mask:  float [N, T] (or [N]); 1 where the id is not 0, 0 where
//                 it is (padding), when mask_zero; all ones otherwise
//   attr   mask_zero: bool = false
//   attr   input_dim, output_dim: V and E of the table the op creates when
//          a node gives only the ids (Keras' Embedding(input_dim,
//          output_dim), uniform(-0.05, 0.05)); with a given table, 0 or
//          its size
//
// Gradient: only the table has one (the mask is a step function of the
// ids, so nothing flows back from it). When the table is a parameter the
// gradient is written as sparse rows, one per looked-up id, so a step never
// sweeps the whole table; otherwise it is scattered into a dense [V, E].
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "framework/op.h"
#include "ops/op_library.h"

namespace loom {
namespace {

// "[n, t]" for rank-2 ids, "[n]" for rank 1.
std::string Position(const Tensor& ids, int64_t flat_index) {
  if (ids.rank() == 1) return absl::StrCat("[", flat_index, "]");
  return absl::StrCat("[", flat_index / ids.dim(1), ", ",
                      flat_index % ids.dim(1), "]");
}

class EmbeddingKernel : public OpKernel {
 public:
  absl::Status Init(const KernelInitContext& init) {
    mask_zero_ = init.attrs.GetBool("mask_zero");
    return absl::OkStatus();
  }

  absl::Status Forward(KernelContext& ctx) override {
    const Tensor& ids = *ctx.input(0);
    const Tensor& table = *ctx.input(1);
    if (ids.rank() < 1 || ids.rank() > 2 || table.rank() != 2) {
      return absl::InvalidArgumentError(
          absl::StrCat("expects ids [N, T] or [N] and table [V, E], got ids ",
                       ShapeToString(ids.shape()), " and table ",
                       ShapeToString(table.shape())));
    }
    const int64_t vocab = table.dim(0);
    const int64_t width = table.dim(1);
    const int64_t count = ids.num_elements();
    const int32_t* id = ids.i32();
    for (int64_t k = 0; k < count; ++k) {
      if (id[k] < 0 || id[k] >= vocab) {
        return absl::InvalidArgumentError(absl::StrCat(
            "id ", id[k], " at position ", Position(ids, k),
            " is outside the table's ", vocab, " rows [0, ", vocab, ")"));
      }
    }

    Shape y_shape = ids.shape();
    y_shape.push_back(width);
    Tensor& y = *ctx.output(0);
    y.Resize(DType::kFloat32, y_shape);
    const float* rows = table.f32();
    float* out = y.f32();
    for (int64_t k = 0; k < count; ++k) {
      std::memcpy(out + k * width, rows + int64_t{id[k]} * width,
                  width * sizeof(float));
    }

    Tensor& mask = *ctx.output(1);
    mask.Resize(DType::kFloat32, ids.shape());
    float* m = mask.f32();
    for (int64_t k = 0; k < count; ++k) {
      m[k] = mask_zero_ && id[k] == 0 ? 0.0f : 1.0f;
    }
    return absl::OkStatus();
  }

  absl::Status Backward(GradContext& ctx) override {
    const Tensor& ids = *ctx.input(0);
    const Tensor& table = *ctx.input(1);
    const Tensor* dy = ctx.output_grad(0);
    const int64_t width = table.dim(1);
    const int64_t count = ids.num_elements();
    const int32_t* id = ids.i32();

    if (SparseRows* sparse = ctx.sparse_input_grad(1)) {
      if (dy == nullptr) {  // Only the mask was used: no gradient at all.
        sparse->rows.clear();
        sparse->values.Resize(DType::kFloat32, {0, width});
        return absl::OkStatus();
      }
      sparse->rows.assign(id, id + count);
      sparse->values.Resize(DType::kFloat32, {count, width});
      std::memcpy(sparse->values.f32(), dy->f32(),
                  count * width * sizeof(float));
      return absl::OkStatus();
    }
    if (Tensor* dtable = ctx.input_grad(1)) {
      dtable->ResizeZeroed(DType::kFloat32, table.shape());
      if (dy == nullptr) return absl::OkStatus();
      float* d = dtable->f32();
      const float* g = dy->f32();
      for (int64_t k = 0; k < count; ++k) {
        float* row = d + int64_t{id[k]} * width;
        const float* src = g + k * width;
        for (int64_t j = 0; j < width; ++j) row[j] += src[j];
      }
    }
    return absl::OkStatus();
  }

 private:
  bool mask_zero_ = false;
};

absl::Status EmbeddingShape(ShapeContext& ctx) {
  const ValueInfo& ids = *ctx.input(0);
  const ValueInfo& table = *ctx.input(1);
  if (ids.dtype != DType::kInt32) {
    return absl::InvalidArgumentError(
        absl::StrCat("ids must be int32, got ", DTypeName(ids.dtype)));
  }
  if (ids.shape.size() != 1 && ids.shape.size() != 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ids must be [N, T] or [N], got ", ShapeToString(ids.shape)));
  }
  if (table.dtype != DType::kFloat32 || table.shape.size() != 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("table must be float [V, E], got ", DTypeName(table.dtype),
                     ShapeToString(table.shape)));
  }
  const int64_t dims[2] = {ctx.attrs().GetInt("input_dim"),
                           ctx.attrs().GetInt("output_dim")};
  for (int d = 0; d < 2; ++d) {
    if (dims[d] != 0 && !DimsCompatible(table.shape[d], dims[d])) {
      return absl::InvalidArgumentError(absl::StrCat(
          "table ", ShapeToString(table.shape), " does not match attribute '",
          d == 0 ? "input_dim" : "output_dim", "' = ", dims[d]));
    }
  }
  Shape y = ids.shape;
  y.push_back(table.shape[1]);
  ctx.set_output(0, {DType::kFloat32, y});
  ctx.set_output(1, {DType::kFloat32, ids.shape});
  return absl::OkStatus();
}

std::vector<OpDef> EmbeddingOps() {
  OpDef def;
  def.signature.name = "Embedding";
  def.signature.doc =
      "Looks up table rows by id; with mask_zero, id 0 is padding and is "
      "masked out.";
  def.signature.inputs = {{"ids", "int32 [N, T] or [N], each in [0, V)"},
                          {"table", "float [V, E]"}};
  def.signature.outputs = {
      {"y", "float [N, T, E]: the looked-up rows"},
      {"mask", "float [N, T]: 0 at padding (id 0) when mask_zero, else 1"}};
  def.signature.attrs = {
      BoolAttr("mask_zero", false, "treat id 0 as padding in the mask"),
      IntAttr("input_dim", 0,
              "V, the rows of the table the op creates (tools/train sets it "
              "to dataset.num_words); 0 with a given table"),
      IntAttr("output_dim", 0,
              "E, the width of the table the op creates; 0 with a given "
              "table")};
  def.shape_fn = EmbeddingShape;
  def.params.push_back(
      {/*input=*/1, [](const AttrMap&) { return std::string("table"); },
       [](const ShapeContext& ctx) -> absl::StatusOr<OwnedParameter> {
         const int64_t rows = ctx.attrs().GetInt("input_dim");
         const int64_t width = ctx.attrs().GetInt("output_dim");
         if (rows <= 0 || width <= 0) {
           return absl::InvalidArgumentError(absl::StrCat(
               "attributes 'input_dim' and 'output_dim' must be positive "
               "to create the table, got ",
               rows, " and ", width));
         }
         OwnedParameter p;
         p.shape = {rows, width};
         p.initializer.mutable_uniform()->set_minval(-0.05f);
         p.initializer.mutable_uniform()->set_maxval(0.05f);
         return p;
       },
       "[input_dim, output_dim], uniform(-0.05, 0.05)"});
  def.kernels.push_back({"reference", MakeKernelFactory<EmbeddingKernel>()});
  def.sparse_grad_inputs = {1};
  def.constant_outputs = {1};  // The mask carries no gradient.
  std::vector<OpDef> defs;
  defs.push_back(std::move(def));
  return defs;
}

LOOM_REGISTER_OP(EmbeddingOps);

}  // namespace
}  // namespace loom
