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
// Kernels: "reference", plain loops (a single pass over x, memory bound),
// and "onednn", oneDNN's pooling primitives (pooling_max with its
// workspace, pooling_avg) over the whole sequence, x seen as oneDNN's nwc
// layout {N, C, T}, which is row-major [N, T, C] as it is: no reorder. No
// oneDNN primitive takes a mask, so the "onednn" kernel of a node given one
// is the reference kernel. On ties oneDNN's maximum may take another step
// than the first; its gradient follows its own choice.
// "onednn" is the default: tests/ops:small_ops_benchmark on this 2-core
// machine, quiet, a training step at pipeline 2's [128, 100, 64] (max) and
// bilstm_full's [128, 500, 128] (average), medians of 5: with 2 threads
// (the tools' default) max 0.99 ms against 2.31 ms for the loops, average
// 10.2 against 21.9 ms; with 1 thread max 2.07 against 2.32 ms, average
// 18.6 against 17.1 ms.
#include <cstdint>
#include <memory>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "framework/dnnl_util.h"
#include "framework/op.h"
#include "framework/status_macros.h"
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
    LOOM_RETURN_IF_ERROR(CheckSequence(x));
    const int64_t n = x.dim(0), t = x.dim(1), c = x.dim(2);
    if (t == 0) {
      return absl::InvalidArgumentError(
          "cannot take the maximum over 0 time steps");
    }
    LOOM_RETURN_IF_ERROR(CheckMask(x, mask));
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
    LOOM_RETURN_IF_ERROR(CheckSequence(x));
    LOOM_RETURN_IF_ERROR(CheckMask(x, mask));
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

// Global max or average pooling of an unmasked [N, T, C] on oneDNN.
class OneDnnGlobalPoolingKernel : public OpKernel {
 public:
  explicit OneDnnGlobalPoolingKernel(dnnl::algorithm algorithm)
      : algorithm_(algorithm) {}

  absl::Status Forward(KernelContext& ctx) override {
    const Tensor& x = *ctx.input(0);
    LOOM_RETURN_IF_ERROR(CheckSequence(x));
    const int64_t n = x.dim(0), t = x.dim(1), c = x.dim(2);
    if (t == 0) {
      return absl::InvalidArgumentError("cannot pool over 0 time steps");
    }
    Tensor& y = *ctx.output(0);
    y.Resize(DType::kFloat32, {n, c});
    if (n == 0 || c == 0) return absl::OkStatus();
    Primitives* p = nullptr;
    LOOM_RETURN_IF_ERROR(GetPrimitives(ctx.engine(), n, t, c, &p));
    const dnnl::engine& e = ctx.engine();
    std::unordered_map<int, dnnl::memory> args = {
        {DNNL_ARG_SRC, WrapTensor(e, x, p->src)},
        {DNNL_ARG_DST, WrapTensor(e, y, p->dst)}};
    if (is_max()) args[DNNL_ARG_WORKSPACE] = p->workspace;
    return DnnlExecute("global pooling forward", p->forward, ctx.stream(),
                       args);
  }

  absl::Status Backward(GradContext& ctx) override {
    Tensor* dx = ctx.input_grad(0);
    if (dx == nullptr) return absl::OkStatus();
    const Tensor& x = *ctx.input(0);
    const Tensor* dy = ctx.output_grad(0);
    const int64_t n = x.dim(0), t = x.dim(1), c = x.dim(2);
    if (dy == nullptr || n == 0 || c == 0) {
      dx->ResizeZeroed(DType::kFloat32, x.shape());
      return absl::OkStatus();
    }
    dx->Resize(DType::kFloat32, x.shape());
    Primitives* p = nullptr;
    LOOM_RETURN_IF_ERROR(GetPrimitives(ctx.engine(), n, t, c, &p));
    const dnnl::engine& e = ctx.engine();
    std::unordered_map<int, dnnl::memory> args = {
        {DNNL_ARG_DIFF_DST, WrapTensor(e, *dy, p->dst)},
        {DNNL_ARG_DIFF_SRC, WrapTensor(e, *dx, p->src)}};
    if (is_max()) args[DNNL_ARG_WORKSPACE] = p->workspace;
    return DnnlExecute("global pooling backward", p->backward, ctx.stream(),
                       args);
  }

 private:
  struct Primitives {
    dnnl::memory::desc src, dst;
    dnnl::pooling_forward forward;
    dnnl::pooling_backward backward;
    dnnl::memory workspace;  // Max only: where each maximum came from.
  };

  bool is_max() const { return algorithm_ == dnnl::algorithm::pooling_max; }

  // Built once per shape; a smaller last batch adds one more.
  absl::Status GetPrimitives(const dnnl::engine& engine, int64_t n, int64_t t,
                             int64_t c, Primitives** out) {
    const auto key = std::make_tuple(n, t, c);
    if (auto it = cache_.find(key); it != cache_.end()) {
      *out = it->second.get();
      return absl::OkStatus();
    }
    auto p = std::make_unique<Primitives>();
    LOOM_RETURN_IF_ERROR(DnnlCall("global pooling setup", [&] {
      using tag = dnnl::memory::format_tag;
      p->src =
          dnnl::memory::desc({n, c, t}, dnnl::memory::data_type::f32, tag::nwc);
      p->dst =
          dnnl::memory::desc({n, c, 1}, dnnl::memory::data_type::f32, tag::nwc);
      const dnnl::memory::dims strides = {1}, window = {t}, padding = {0};
      dnnl::pooling_forward::primitive_desc fwd(
          dnnl::pooling_forward::desc(dnnl::prop_kind::forward_training,
                                      algorithm_, p->src, p->dst, strides,
                                      window, padding, padding),
          engine);
      dnnl::pooling_backward::primitive_desc bwd(
          dnnl::pooling_backward::desc(algorithm_, p->src, p->dst, strides,
                                       window, padding, padding),
          engine, fwd);
      p->forward = dnnl::pooling_forward(fwd);
      p->backward = dnnl::pooling_backward(bwd);
      if (is_max()) p->workspace = dnnl::memory(fwd.workspace_desc(), engine);
    }));
    *out = p.get();
    cache_[key] = std::move(p);
    return absl::OkStatus();
  }

  dnnl::algorithm algorithm_;
  absl::flat_hash_map<std::tuple<int64_t, int64_t, int64_t>,
                      std::unique_ptr<Primitives>>
      cache_;
};

// The "onednn" kernel: oneDNN's primitive, or the loops for a node given a
// mask (which no primitive takes).
template <typename ReferenceKernel>
KernelFactory OneDnnPoolingFactory(dnnl::algorithm algorithm) {
  return [algorithm](const KernelInitContext& init)
             -> absl::StatusOr<std::unique_ptr<OpKernel>> {
    const bool masked = init.inputs.size() > 1 && init.inputs[1] != nullptr;
    if (masked) return MakeKernelFactory<ReferenceKernel>()(init);
    return std::unique_ptr<OpKernel>(
        std::make_unique<OneDnnGlobalPoolingKernel>(algorithm));
  };
}

absl::Status PoolingShape(ShapeContext& ctx) {
  LOOM_RETURN_IF_ERROR(ctx.ExpectDType(0, DType::kFloat32));
  const Shape& x = ctx.input(0)->shape;
  if (x.size() != 3) {
    return absl::InvalidArgumentError(
        absl::StrCat("x must be [N, T, C], got ", ShapeToString(x)));
  }
  if (ctx.num_inputs() > 1 && ctx.input(1) != nullptr) {
    LOOM_RETURN_IF_ERROR(ctx.ExpectDType(1, DType::kFloat32));
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
  // oneDNN first, the default: measured faster (see the file comment).
  max.kernels.push_back(
      {"onednn", OneDnnPoolingFactory<GlobalMaxPooling1DKernel>(
                     dnnl::algorithm::pooling_max)});
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
      {"onednn", OneDnnPoolingFactory<GlobalAveragePooling1DKernel>(
                     dnnl::algorithm::pooling_avg_exclude_padding)});
  avg.kernels.push_back(
      {"reference", MakeKernelFactory<GlobalAveragePooling1DKernel>()});
  defs.push_back(std::move(avg));
  return defs;
}

LOOM_REGISTER_OP(PoolingOps);

}  // namespace
}  // namespace loom
