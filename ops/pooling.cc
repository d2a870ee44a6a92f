// GlobalMaxPooling1D and GlobalAveragePooling1D: reduce [N, T, C] over
// time (Keras' layers of the same names, channels_last).
//
// GlobalMaxPooling1D
//   input  x:    float [N, T, C], T >= 1
//   input  mask: float [N, T] (optional), nonzero for valid steps
//   output y:    float [N, C]; y[n, c] = max_t x[n, t, c] over every step,
//                or with a mask over the valid steps only
//   Without a mask every step counts, as in Keras, whose layer drops the
//   mask (a masked LSTM's padded outputs are zeros and still take part, so
//   the maximum is never below 0 for a padded sequence). With one, padding
//   takes no part, as a masked_fill(-inf) before max does in PyTorch; a
//   sequence with no valid step gives 0. The gradient goes to the first
//   step holding the maximum; the mask has none.
//
// GlobalAveragePooling1D
//   input  x:    float [N, T, C]
//   input  mask: float [N, T] (optional), 1 for valid steps, 0 for padding
//   output y:    float [N, C]; the mean over time, or with a mask
//                sum_t x[n, t, c] * mask[n, t] / sum_t mask[n, t], as Keras.
//   A sequence whose mask sums to 0 averages to 0 (Keras would divide by
//   zero).
//
// Both are plain loops: a single pass over x, memory bound, where a oneDNN
// primitive would need a layout change (and, for max, does not promise the
// first maximum on ties).
#include <cstdint>
#include <vector>

#include "absl/strings/str_cat.h"
#include "framework/op.h"
#include "ops/op_library.h"

namespace loom {
namespace {

absl::Status CheckSequence(const Tensor& x) {
  if (x.rank() != 3) {
    return absl::InvalidArgumentError(
        absl::StrCat("x must be [N, T, C], got ", ShapeToString(x.shape())));
  }
  return absl::OkStatus();
}

// `mask`, when given, is [N, T] for x [N, T, C].
absl::Status CheckMask(const Tensor& x, const Tensor* mask) {
  const Shape expected = {x.dim(0), x.dim(1)};
  if (mask != nullptr && mask->shape() != expected) {
    return absl::InvalidArgumentError(absl::StrCat(
        "mask must be [N, T] = ", ShapeToString(expected), " for x ",
        ShapeToString(x.shape()), ", got ", ShapeToString(mask->shape())));
  }
  return absl::OkStatus();
}

class GlobalMaxPooling1DKernel : public OpKernel {
 public:
  absl::Status Init(const KernelInitContext&) { return absl::OkStatus(); }

  absl::Status Forward(KernelContext& ctx) override {
    const Tensor& x = *ctx.input(0);
    const Tensor* mask = ctx.input(1);
    if (auto s = CheckSequence(x); !s.ok()) return s;
    const int64_t n = x.dim(0), t = x.dim(1), c = x.dim(2);
    if (t == 0) {
      return absl::InvalidArgumentError(
          "cannot take the maximum over 0 time steps");
    }
    if (auto s = CheckMask(x, mask); !s.ok()) return s;
    Tensor& y = *ctx.output(0);
    y.Resize(DType::kFloat32, {n, c});
    argmax_.Resize(DType::kInt32, {n, c});
    const float* px = x.f32();
    float* py = y.f32();
    int32_t* arg = argmax_.i32();
    for (int64_t b = 0; b < n; ++b) {
      const float* seq = px + b * t * c;
      const float* valid = mask != nullptr ? mask->f32() + b * t : nullptr;
      float* best = py + b * c;
      int32_t* where = arg + b * c;
      int64_t first = 0;  // The first step that takes part.
      while (valid != nullptr && first < t && valid[first] == 0.0f) ++first;
      if (first == t) {  // No valid step: 0, and no gradient.
        for (int64_t k = 0; k < c; ++k) {
          best[k] = 0;
          where[k] = -1;
        }
        continue;
      }
      for (int64_t k = 0; k < c; ++k) {
        best[k] = seq[first * c + k];
        where[k] = static_cast<int32_t>(first);
      }
      for (int64_t s = first + 1; s < t; ++s) {
        if (valid != nullptr && valid[s] == 0.0f) continue;
        const float* step = seq + s * c;
        for (int64_t k = 0; k < c; ++k) {
          if (step[k] > best[k]) {  // Strict: ties keep the first step.
            best[k] = step[k];
            where[k] = static_cast<int32_t>(s);
          }
        }
      }
    }
    return absl::OkStatus();
  }

  absl::Status Backward(GradContext& ctx) override {
    const Tensor& x = *ctx.input(0);
    const int64_t n = x.dim(0), t = x.dim(1), c = x.dim(2);
    // The maximum is piecewise constant in a 0/1 mask.
    if (Tensor* dmask = ctx.input_grad(1)) {
      dmask->ResizeZeroed(DType::kFloat32, {n, t});
    }
    Tensor* dx = ctx.input_grad(0);
    if (dx == nullptr) return absl::OkStatus();
    dx->ResizeZeroed(DType::kFloat32, x.shape());
    const Tensor* dy = ctx.output_grad(0);
    if (dy == nullptr) return absl::OkStatus();
    const float* g = dy->f32();
    const int32_t* arg = argmax_.i32();
    float* d = dx->f32();
    for (int64_t b = 0; b < n; ++b) {
      for (int64_t k = 0; k < c; ++k) {
        const int32_t s = arg[b * c + k];
        if (s >= 0) d[(b * t + s) * c + k] = g[b * c + k];
      }
    }
    return absl::OkStatus();
  }

 private:
  Tensor argmax_;  // [N, C]: the step each maximum came from, or -1.
};

class GlobalAveragePooling1DKernel : public OpKernel {
 public:
  absl::Status Init(const KernelInitContext&) { return absl::OkStatus(); }

  absl::Status Forward(KernelContext& ctx) override {
    const Tensor& x = *ctx.input(0);
    const Tensor* mask = ctx.input(1);
    if (auto s = CheckSequence(x); !s.ok()) return s;
    if (auto s = CheckMask(x, mask); !s.ok()) return s;
    const int64_t n = x.dim(0), t = x.dim(1), c = x.dim(2);
    // inv_count_[n] = 1 / (number, or total weight, of valid steps).
    inv_count_.Resize(DType::kFloat32, {n});
    for (int64_t b = 0; b < n; ++b) {
      double total = t;
      if (mask != nullptr) {
        total = 0;
        for (int64_t s = 0; s < t; ++s) total += mask->f32()[b * t + s];
      }
      inv_count_.f32()[b] = total != 0 ? static_cast<float>(1.0 / total) : 0;
    }
    Tensor& y = *ctx.output(0);
    y.ResizeZeroed(DType::kFloat32, {n, c});
    const float* px = x.f32();
    float* py = y.f32();
    for (int64_t b = 0; b < n; ++b) {
      float* out = py + b * c;
      for (int64_t s = 0; s < t; ++s) {
        const float w = mask != nullptr ? mask->f32()[b * t + s] : 1.0f;
        if (w == 0.0f) continue;
        const float* step = px + (b * t + s) * c;
        for (int64_t k = 0; k < c; ++k) out[k] += w * step[k];
      }
      const float inv = inv_count_.f32()[b];
      for (int64_t k = 0; k < c; ++k) out[k] *= inv;
    }
    return absl::OkStatus();
  }

  absl::Status Backward(GradContext& ctx) override {
    const Tensor& x = *ctx.input(0);
    const Tensor* mask = ctx.input(1);
    const Tensor& y = *ctx.output(0);
    const Tensor* dy = ctx.output_grad(0);
    const int64_t n = x.dim(0), t = x.dim(1), c = x.dim(2);
    const float* inv = inv_count_.f32();
    if (Tensor* dx = ctx.input_grad(0)) {
      dx->Resize(DType::kFloat32, x.shape());
      if (dy == nullptr) {
        dx->SetZero();
      } else {
        // dx[n, t, c] = dy[n, c] * mask[n, t] / count[n].
        float* d = dx->f32();
        for (int64_t b = 0; b < n; ++b) {
          const float* g = dy->f32() + b * c;
          for (int64_t s = 0; s < t; ++s) {
            const float w =
                (mask != nullptr ? mask->f32()[b * t + s] : 1.0f) * inv[b];
            float* row = d + (b * t + s) * c;
            for (int64_t k = 0; k < c; ++k) row[k] = g[k] * w;
          }
        }
      }
    }
    // A mask rarely carries a gradient (Embedding's is a step function of
    // the ids), but the mean is differentiable in it:
    // dy[n, c] / dmask[n, t] = (x[n, t, c] - y[n, c]) / count[n].
    if (Tensor* dmask = ctx.input_grad(1)) {
      dmask->ResizeZeroed(DType::kFloat32, {n, t});
      if (dy == nullptr) return absl::OkStatus();
      for (int64_t b = 0; b < n; ++b) {
        const float* g = dy->f32() + b * c;
        const float* mean = y.f32() + b * c;
        for (int64_t s = 0; s < t; ++s) {
          const float* step = x.f32() + (b * t + s) * c;
          double sum = 0;
          for (int64_t k = 0; k < c; ++k) sum += g[k] * (step[k] - mean[k]);
          dmask->f32()[b * t + s] = static_cast<float>(sum * inv[b]);
        }
      }
    }
    return absl::OkStatus();
  }

 private:
  Tensor inv_count_;  // [N]
};

absl::Status PoolingShape(ShapeContext& ctx) {
  if (auto s = ctx.ExpectDType(0, DType::kFloat32); !s.ok()) return s;
  const Shape& x = ctx.input(0)->shape;
  if (x.size() != 3) {
    return absl::InvalidArgumentError(
        absl::StrCat("x must be [N, T, C], got ", ShapeToString(x)));
  }
  if (ctx.num_inputs() > 1 && ctx.input(1) != nullptr) {
    if (auto s = ctx.ExpectDType(1, DType::kFloat32); !s.ok()) return s;
    const Shape& m = ctx.input(1)->shape;
    if (m.size() != 2 || !DimsCompatible(m[0], x[0]) ||
        !DimsCompatible(m[1], x[1])) {
      return absl::InvalidArgumentError(
          absl::StrCat("mask must be [N, T] matching x ", ShapeToString(x),
                       ", got ", ShapeToString(m)));
    }
  }
  ctx.set_output(0, {DType::kFloat32, {x[0], x[2]}});
  return absl::OkStatus();
}

std::vector<OpDef> PoolingOps() {
  std::vector<OpDef> defs;
  OpDef max;
  max.signature.name = "GlobalMaxPooling1D";
  max.signature.doc =
      "Maximum over time of [N, T, C], over the valid steps when a mask is "
      "given.";
  max.signature.inputs = {
      {"x", "float [N, T, C]"},
      {"mask", "float [N, T]: nonzero valid, 0 padding", /*optional=*/true}};
  max.signature.outputs = {{"y", "float [N, C]"}};
  max.shape_fn = PoolingShape;
  max.kernels.push_back(
      {"reference", MakeKernelFactory<GlobalMaxPooling1DKernel>()});
  defs.push_back(std::move(max));

  OpDef avg;
  avg.signature.name = "GlobalAveragePooling1D";
  avg.signature.doc =
      "Mean over time of [N, T, C], over the valid steps when a mask is "
      "given.";
  avg.signature.inputs = {
      {"x", "float [N, T, C]"},
      {"mask", "float [N, T]: 1 valid, 0 padding", /*optional=*/true}};
  avg.signature.outputs = {{"y", "float [N, C]"}};
  avg.shape_fn = PoolingShape;
  avg.kernels.push_back(
      {"reference", MakeKernelFactory<GlobalAveragePooling1DKernel>()});
  defs.push_back(std::move(avg));
  return defs;
}

LOOM_REGISTER_OP(PoolingOps);

}  // namespace
}  // namespace loom
