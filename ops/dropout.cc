// Dropout and SpatialDropout1D: inverted dropout, active only in training
// (Keras' Dropout and SpatialDropout1D); in inference both are the identity.
//
// Dropout
//   input  x: float [any shape]
//   output y: float, x's shape; y = x * keep / (1 - rate), where each
//             element is kept independently with probability 1 - rate
//   attr   rate: float in [0, 1)
//
// SpatialDropout1D
//   input  x: float [N, T, C]
//   output y: float [N, T, C]; as Dropout, but one draw per (sequence,
//             channel): the mask is [N, C], broadcast over T, so whole
//             channels of a sequence are dropped
//   attr   rate: float in [0, 1)
//
// The mask is drawn in Forward from the node's generator (ctx.rng()) and
// kept, scaled, for Backward: dx = dy * mask.
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "absl/strings/str_cat.h"
#include "framework/op.h"
#include "framework/status_macros.h"
#include "ops/op_library.h"

namespace loom {
namespace {

absl::Status CheckRate(float rate) {
  if (!(rate >= 0.0f && rate < 1.0f)) {
    return absl::InvalidArgumentError(
        absl::StrCat("attribute 'rate' must be in [0, 1), got ", rate));
  }
  return absl::OkStatus();
}

// A uniform draw in [0, 1) from the top 53 bits, the same on every standard
// library (std::uniform_real_distribution is not specified that tightly).
double Uniform(std::mt19937_64& rng) {
  return static_cast<double>(rng() >> 11) * 0x1.0p-53;
}

// Fills `mask` with 1 / (1 - rate) (kept) or 0 (dropped).
void DrawMask(float rate, std::mt19937_64& rng, Tensor* mask) {
  const float scale = 1.0f / (1.0f - rate);
  for (float& m : mask->flat()) m = Uniform(rng) >= rate ? scale : 0.0f;
}

// The shared part of both ops: Forward fills `mask_` (shaped by the
// subclass) and Backward applies it again; `Broadcast` maps an element of
// x to its mask entry.
class DropoutBase : public OpKernel {
 public:
  absl::Status Init(const KernelInitContext& init) {
    rate_ = init.attrs.GetFloat("rate");
    return CheckRate(rate_);
  }

  absl::Status Forward(KernelContext& ctx) override {
    const Tensor& x = *ctx.input(0);
    Tensor& y = *ctx.output(0);
    LOOM_RETURN_IF_ERROR(CheckInput(x));
    if (!ctx.training() || rate_ == 0.0f) {
      y.CopyFrom(x);
      return absl::OkStatus();
    }
    mask_.Resize(DType::kFloat32, MaskShape(x));
    DrawMask(rate_, ctx.rng(), &mask_);
    y.Resize(DType::kFloat32, x.shape());
    Apply(x, &y);
    return absl::OkStatus();
  }

  absl::Status Backward(GradContext& ctx) override {
    Tensor* dx = ctx.input_grad(0);
    if (dx == nullptr) return absl::OkStatus();
    const Tensor& x = *ctx.input(0);
    const Tensor* dy = ctx.output_grad(0);
    if (dy == nullptr) {
      dx->ResizeZeroed(DType::kFloat32, x.shape());
    } else if (!ctx.training() || rate_ == 0.0f) {
      dx->CopyFrom(*dy);
    } else {
      dx->Resize(DType::kFloat32, x.shape());
      Apply(*dy, dx);
    }
    return absl::OkStatus();
  }

 protected:
  virtual absl::Status CheckInput(const Tensor& x) const = 0;
  virtual Shape MaskShape(const Tensor& x) const = 0;
  // out = in * mask_ (broadcast as the op defines).
  virtual void Apply(const Tensor& in, Tensor* out) const = 0;

  float rate_ = 0.0f;
  Tensor mask_;
};

class DropoutKernel : public DropoutBase {
 protected:
  absl::Status CheckInput(const Tensor&) const override {
    return absl::OkStatus();
  }
  Shape MaskShape(const Tensor& x) const override { return x.shape(); }
  void Apply(const Tensor& in, Tensor* out) const override {
    const float* a = in.f32();
    const float* m = mask_.f32();
    float* o = out->f32();
    for (int64_t i = 0; i < in.num_elements(); ++i) o[i] = a[i] * m[i];
  }
};

class SpatialDropout1DKernel : public DropoutBase {
 protected:
  absl::Status CheckInput(const Tensor& x) const override {
    if (x.rank() != 3) {
      return absl::InvalidArgumentError(
          absl::StrCat("x must be [N, T, C], got ", ShapeToString(x.shape())));
    }
    return absl::OkStatus();
  }
  Shape MaskShape(const Tensor& x) const override {
    return {x.dim(0), x.dim(2)};
  }
  void Apply(const Tensor& in, Tensor* out) const override {
    const int64_t n = in.dim(0), t = in.dim(1), c = in.dim(2);
    const float* a = in.f32();
    float* o = out->f32();
    for (int64_t b = 0; b < n; ++b) {
      const float* m = mask_.f32() + b * c;
      for (int64_t s = 0; s < t; ++s) {
        const int64_t row = (b * t + s) * c;
        for (int64_t k = 0; k < c; ++k) o[row + k] = a[row + k] * m[k];
      }
    }
  }
};

absl::Status DropoutShape(ShapeContext& ctx) {
  LOOM_RETURN_IF_ERROR(CheckRate(ctx.attrs().GetFloat("rate")));
  LOOM_RETURN_IF_ERROR(ctx.ExpectDType(0, DType::kFloat32));
  ctx.set_output(0, *ctx.input(0));
  return absl::OkStatus();
}

absl::Status SpatialDropout1DShape(ShapeContext& ctx) {
  LOOM_RETURN_IF_ERROR(ctx.ExpectRank(0, 3));
  return DropoutShape(ctx);
}

std::vector<OpDef> DropoutOps() {
  std::vector<OpDef> defs;
  OpDef dropout;
  dropout.signature.name = "Dropout";
  dropout.signature.doc =
      "Inverted dropout in training: zeroes each element with probability "
      "rate and scales the rest by 1 / (1 - rate); identity in inference.";
  dropout.signature.inputs = {{"x", "float tensor of any shape"}};
  dropout.signature.outputs = {{"y", "same shape as x"}};
  dropout.signature.attrs = {
      FloatAttr("rate", std::nullopt, "fraction to drop, in [0, 1)")};
  dropout.shape_fn = DropoutShape;
  dropout.kernels.push_back({"reference", MakeKernelFactory<DropoutKernel>()});
  defs.push_back(std::move(dropout));

  OpDef spatial;
  spatial.signature.name = "SpatialDropout1D";
  spatial.signature.doc =
      "Dropout of whole channels: one draw per (sequence, channel), shared "
      "by every time step; identity in inference.";
  spatial.signature.inputs = {{"x", "float [N, T, C]"}};
  spatial.signature.outputs = {{"y", "float [N, T, C]"}};
  spatial.signature.attrs = {FloatAttr(
      "rate", std::nullopt, "fraction of channels to drop, in [0, 1)")};
  spatial.shape_fn = SpatialDropout1DShape;
  spatial.kernels.push_back(
      {"reference", MakeKernelFactory<SpatialDropout1DKernel>()});
  defs.push_back(std::move(spatial));
  return defs;
}

LOOM_REGISTER_OP(DropoutOps);

}  // namespace
}  // namespace loom
