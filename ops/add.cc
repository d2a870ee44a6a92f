// Add: elementwise sum of tensors of one shape; a scalar input is broadcast
// (so a regularization term can be added to a loss).
//
//   input  a: float [any shape] or []
//   input  b: float, a's shape or []
//   output c: float, the larger shape
#include <vector>

#include "absl/strings/str_cat.h"
#include "framework/op.h"
#include "ops/op_library.h"

namespace loom {
namespace {

class AddKernel : public OpKernel {
 public:
  absl::Status Init(const KernelInitContext&) { return absl::OkStatus(); }

  absl::Status Forward(KernelContext& ctx) override {
    const Tensor& a = *ctx.input(0);
    const Tensor& b = *ctx.input(1);
    const bool a_scalar = a.num_elements() == 1 && a.rank() == 0;
    const bool b_scalar = b.num_elements() == 1 && b.rank() == 0;
    if (a.shape() != b.shape() && !a_scalar && !b_scalar) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot add ", ShapeToString(a.shape()), " and ",
                       ShapeToString(b.shape())));
    }
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

  absl::Status Backward(GradContext& ctx) override {
    const Tensor* dc = ctx.output_grad(0);
    for (int i = 0; i < 2; ++i) {
      Tensor* dx = ctx.input_grad(i);
      if (dx == nullptr) continue;
      const Tensor& x = *ctx.input(i);
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
  std::vector<OpDef> defs;
  defs.push_back(std::move(def));
  return defs;
}

LOOM_REGISTER_OP(AddOps);

}  // namespace
}  // namespace loom
