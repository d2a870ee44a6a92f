// Concatenate: joins float tensors of one rank along an axis (Keras'
// layers.Concatenate, TF's ConcatV2, torch.cat).
//
//   input  values: variadic, 2 or more float [d_0, ..., d_{r-1}], rank
//                  r >= 1, all of one rank; in messages the k-th is values_k
//   output y: float; the inputs' shape, except that dim `axis` is the sum
//             of the inputs' dims `axis`
//   attr   axis: int = -1; the dim to join along, in [-r, r); a negative
//                axis counts from the end (-1 is the last dim)
//
// A node lists its values in order, as many as it likes (at least two):
//   node { name: "pools" op: "Concatenate" input: "max_pool"
//          input: "average_pool" }
// None may be left out ("" is refused when the graph is loaded).
//
// Every dim but `axis` must agree across the inputs; when loading a graph a
// dim known only at run time (-1, such as the batch dim) agrees with
// anything, and an unknown dim along the axis makes the output's unknown.
// At run time the actual shapes are checked again.
//
// y holds, for each index over the dims before `axis`, the inputs' slices
// one after the other; with outer = d_0 * ... * d_{axis-1}, each input
// contributes a contiguous chunk of d_axis * d_{axis+1} * ... * d_{r-1}
// elements per outer index, so the forward pass is a plain copy loop. The
// gradient of each input is its slice of dy, copied back the same way.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "framework/op.h"
#include "framework/status_macros.h"
#include "ops/op_library.h"

namespace loom {
namespace {

constexpr int kMinValues = 2;

std::string ValueName(int i) { return absl::StrCat("values_", i); }

// The axis in [0, rank) for the attribute value `axis`.
absl::StatusOr<int> ResolveAxis(int64_t axis, int rank) {
  if (rank == 0) {
    return absl::InvalidArgumentError(
        "cannot concatenate scalars: the values must have rank >= 1");
  }
  if (axis < -rank || axis >= rank) {
    return absl::InvalidArgumentError(absl::StrCat(
        "attribute 'axis' is ", axis, ", out of range for values of rank ",
        rank, " (expected ", -rank, " to ", rank - 1, ")"));
  }
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

// Checks the values' shapes (shapes[i] is values_i's) against each other
// and returns the output's shape and, in *axis_out, the resolved axis. Dims
// of -1 are unknown: they agree with any dim, and an unknown dim along the
// axis makes the output's unknown. Used both when loading a graph and, on
// the actual shapes, at run time.
absl::StatusOr<Shape> ConcatenatedShape(const std::vector<const Shape*>& shapes,
                                        int64_t axis_attr, int* axis_out) {
  const int count = static_cast<int>(shapes.size());
  for (int i = 0; i < count; ++i) {
    if (shapes[i] == nullptr) {  // The graph refuses this; stay safe.
      return absl::InvalidArgumentError(
          absl::StrCat(ValueName(i), " is missing"));
    }
  }
  if (count < kMinValues) {
    return absl::InvalidArgumentError(
        absl::StrCat("needs at least ", kMinValues, " values, got ", count));
  }
  const Shape& first = *shapes[0];
  const int rank = static_cast<int>(first.size());
  for (int i = 1; i < count; ++i) {
    const Shape& s = *shapes[i];
    if (static_cast<int>(s.size()) != rank) {
      return absl::InvalidArgumentError(absl::StrCat(
          "rank mismatch: ", ValueName(i), " has rank ", s.size(), " (",
          ShapeToString(s), ") but ", ValueName(0), " has rank ", rank, " (",
          ShapeToString(first), "); all values must have the same rank"));
    }
  }
  LOOM_ASSIGN_OR_RETURN(auto axis, ResolveAxis(axis_attr, rank));
  Shape out = first;
  // known_from[d]: the first value whose dim d is known (for messages).
  std::vector<int> known_from(rank, 0);
  for (int i = 1; i < count; ++i) {
    const Shape& s = *shapes[i];
    for (int d = 0; d < rank; ++d) {
      const int64_t dim = s[d];
      if (d == axis) {
        if (out[d] < 0 || dim < 0) {
          out[d] = -1;
        } else if (__builtin_add_overflow(out[d], dim, &out[d])) {
          return absl::InvalidArgumentError(
              absl::StrCat("dim ", d, " of the result overflows int64 at ",
                           ValueName(i), " ", ShapeToString(s)));
        }
        continue;
      }
      if (!DimsCompatible(out[d], dim)) {
        const int k = known_from[d];
        return absl::InvalidArgumentError(absl::StrCat(
            "dim mismatch: ", ValueName(i), " ", ShapeToString(s), " and ",
            ValueName(k), " ", ShapeToString(*shapes[k]), " differ in dim ", d,
            " (", dim, " vs ", out[d], "); only dim ", axis,
            ", the concatenation axis, may differ"));
      }
      if (out[d] < 0 && dim >= 0) {
        out[d] = dim;
        known_from[d] = i;
      }
    }
  }
  *axis_out = axis;
  return out;
}

// Product of shape[begin, end).
int64_t DimProduct(const Shape& shape, int begin, int end) {
  int64_t p = 1;
  for (int d = begin; d < end; ++d) p *= shape[d];
  return p;
}

class ConcatenateKernel : public OpKernel {
 public:
  absl::Status Init(const KernelInitContext& init) {
    axis_attr_ = init.attrs.GetInt("axis");
    return absl::OkStatus();
  }

  absl::Status Forward(KernelContext& ctx) override {
    std::vector<const Shape*> shapes;
    for (int i = 0; i < ctx.num_inputs(); ++i) {
      const Tensor* t = ctx.input(i);
      if (t != nullptr && t->dtype() != DType::kFloat32) {
        return absl::InvalidArgumentError(absl::StrCat(
            ValueName(i), " must be float32, got ", DTypeName(t->dtype())));
      }
      shapes.push_back(t != nullptr ? &t->shape() : nullptr);
    }
    int axis = 0;
    LOOM_ASSIGN_OR_RETURN(auto y_shape,
                          ConcatenatedShape(shapes, axis_attr_, &axis));
    Tensor& y = *ctx.output(0);
    y.Resize(DType::kFloat32, y_shape);
    const int64_t outer = DimProduct(y_shape, 0, axis);
    const int64_t inner =
        DimProduct(y_shape, axis + 1, static_cast<int>(y_shape.size()));
    const int64_t y_chunk = y_shape[axis] * inner;
    float* py = y.f32();
    int64_t offset = 0;  // Of this input's chunk within a y chunk.
    for (int i = 0; i < ctx.num_inputs(); ++i) {
      const Tensor& x = *ctx.input(i);
      const int64_t chunk = x.dim(axis) * inner;
      const float* px = x.f32();
      for (int64_t o = 0; o < outer; ++o) {
        std::copy_n(px + o * chunk, chunk, py + o * y_chunk + offset);
      }
      offset += chunk;
    }
    return absl::OkStatus();
  }

  absl::Status Backward(GradContext& ctx) override {
    const Tensor* dy = ctx.output_grad(0);
    const Tensor& y = *ctx.output(0);
    const int axis =
        static_cast<int>(axis_attr_ < 0 ? axis_attr_ + y.rank() : axis_attr_);
    const int64_t outer = DimProduct(y.shape(), 0, axis);
    const int64_t inner = DimProduct(y.shape(), axis + 1, y.rank());
    const int64_t y_chunk = y.dim(axis) * inner;
    int64_t offset = 0;
    for (int i = 0; i < ctx.num_inputs(); ++i) {
      const Tensor& x = *ctx.input(i);
      const int64_t chunk = x.dim(axis) * inner;
      if (Tensor* dx = ctx.input_grad(i)) {
        if (dy == nullptr) {
          dx->ResizeZeroed(DType::kFloat32, x.shape());
        } else {
          dx->Resize(DType::kFloat32, x.shape());
          const float* pg = dy->f32();
          float* pd = dx->f32();
          for (int64_t o = 0; o < outer; ++o) {
            std::copy_n(pg + o * y_chunk + offset, chunk, pd + o * chunk);
          }
        }
      }
      offset += chunk;
    }
    return absl::OkStatus();
  }

 private:
  int64_t axis_attr_ = -1;
};

absl::Status ConcatenateShape(ShapeContext& ctx) {
  std::vector<const Shape*> shapes;
  for (int i = 0; i < ctx.num_inputs(); ++i) {
    const ValueInfo* info = ctx.input(i);
    if (info != nullptr && info->dtype != DType::kFloat32) {
      return absl::InvalidArgumentError(absl::StrCat(
          ValueName(i), " must be float32, got ", DTypeName(info->dtype)));
    }
    shapes.push_back(info != nullptr ? &info->shape : nullptr);
  }
  int axis = 0;
  LOOM_ASSIGN_OR_RETURN(
      auto y_shape,
      ConcatenatedShape(shapes, ctx.attrs().GetInt("axis"), &axis));
  ctx.set_output(0, {DType::kFloat32, std::move(y_shape)});
  return absl::OkStatus();
}

std::vector<OpDef> ConcatenateOps() {
  OpDef def;
  def.signature.name = "Concatenate";
  def.signature.doc =
      "Joins 2 or more float tensors of one rank along `axis`; every other "
      "dim must agree.";
  ArgSpec values{"values", "float; 2 or more, all of one rank"};
  values.variadic = true;
  values.min_count = kMinValues;
  def.signature.inputs = {values};
  def.signature.outputs = {{"y", "float; the values joined along axis"}};
  def.signature.attrs = {IntAttr(
      "axis", -1, "the dim to join along; negative counts from the end")};
  def.shape_fn = ConcatenateShape;
  def.kernels.push_back({"reference", MakeKernelFactory<ConcatenateKernel>()});
  std::vector<OpDef> defs;
  defs.push_back(std::move(def));
  return defs;
}

LOOM_REGISTER_OP(ConcatenateOps);

}  // namespace
}  // namespace loom
