// Conv1D and MaxPooling1D: Keras' layers of the same names (channels_last)
// with their gradients, on oneDNN's convolution and pooling primitives.
// Built as the plugin libloom_conv1d.so.
//
// Conv1D
//   input  x:      float [N, T, C]
//   input  kernel: float [K, C, F] (Keras' layout)
//   input  bias:   float [F] (optional; left out means no bias)
//   output y:      float [N, T', F]
//   attrs  filters (F), kernel_size (K), strides (s) = 1,
//          padding = "valid" | "same", dilation_rate (d) = 1,
//          activation = "linear" | "relu"
//   y[n, o, f] = act(bias[f] + sum_{k, c} x[n, o*s + k*d - pad, c] *
//                                         kernel[k, c, f]),
//   reading zeros outside [0, T). Keras refuses strides > 1 together with
//   dilation_rate > 1; this op computes the same formula for them.
//   A node that gives only x gets "<node>/kernel" (glorot_uniform) and
//   "<node>/bias" (zeros), created by the graph builder.
//
// MaxPooling1D
//   input  x: float [N, T, C]
//   output y: float [N, T', C]; y[n, o, c] = max over the window of x
//   attrs  pool_size (P) = 2, strides (s) = 0 (0: pool_size, as Keras'
//          None), padding = "valid" | "same"
//   Padded positions take no part in the maximum.
//
// Output lengths and padding follow TensorFlow: with W = (K - 1) d + 1 the
// window's extent (P for pooling), "valid" gives T' = floor((T - W) / s) + 1
// (an error when T < W) and no padding; "same" gives T' = ceil(T / s) and
// pads max((T' - 1) s + W - T, 0) positions, half (rounded down) on the
// left and the rest on the right.
//
// oneDNN sees [N, T, C] as its nwc layout of [N, C, T], the Keras kernel as
// its wio layout of [F, C, K]. The convolution primitives pick their own
// layouts (format_tag::any), and explicit reorders move data between those
// and the user tensors when they differ. Max pooling runs forward_training
// (keeping a workspace of argmax positions) even outside training, so a
// backward pass can always follow. Primitives and reorders are created once
// per (N, T, C) and reused.
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "framework/dnnl_util.h"
#include "framework/op.h"
#include "framework/plugin.h"
#include "framework/registry.h"
#include "framework/status_macros.h"

namespace loom {
namespace {

using dnnl::memory;
using Tag = memory::format_tag;

// ---------------------------------------------------------------------------
// Window geometry, shared by both ops.

struct Window {
  int64_t size = 1;  // K or P
  int64_t stride = 1;
  int64_t dilation = 1;
  bool same = false;

  int64_t extent() const { return (size - 1) * dilation + 1; }

  // T' for an input of length t (t >= 0).
  absl::StatusOr<int64_t> OutputLength(int64_t t) const {
    if (same) return (t + stride - 1) / stride;
    if (t < extent()) {
      return absl::InvalidArgumentError(
          absl::StrCat("with padding \"valid\" the input needs at least ",
                       extent(), " time steps (the window's extent), got ", t));
    }
    return (t - extent()) / stride + 1;
  }
  // Padding on each side for an input of length t with output length out.
  int64_t PadLeft(int64_t t, int64_t out) const { return TotalPad(t, out) / 2; }
  int64_t PadRight(int64_t t, int64_t out) const {
    return TotalPad(t, out) - PadLeft(t, out);
  }

 private:
  int64_t TotalPad(int64_t t, int64_t out) const {
    if (!same) return 0;
    const int64_t total = (out - 1) * stride + extent() - t;
    return total > 0 ? total : 0;
  }
};

absl::Status CheckPositive(const char* name, int64_t value) {
  if (value > 0) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("attribute '", name, "' must be positive, got ", value));
}

absl::StatusOr<bool> ParsePadding(const std::string& padding) {
  if (padding == "valid") return false;
  if (padding == "same") return true;
  return absl::InvalidArgumentError(
      absl::StrCat("attribute 'padding' must be \"valid\" or \"same\", got \"",
                   padding, "\""));
}

// The output length for a shape-inference length that may be -1.
absl::StatusOr<int64_t> InferLength(const Window& w, int64_t t) {
  if (t < 0) return -1;
  return w.OutputLength(t);
}

// A user tensor (plain layout) seen by a primitive that chose its own
// layout: when the two differ, data moves through a buffer owned here by an
// explicit reorder; when they agree, the primitive uses the tensor directly.
class Bridge {
 public:
  void Init(const memory::desc& user, const memory::desc& chosen,
            const dnnl::engine& engine, bool is_output) {
    user_ = memory(user, engine, DNNL_MEMORY_NONE);
    direct_ = user == chosen;
    if (direct_) return;
    buffer_ = memory(chosen, engine);
    reorder_ = is_output ? dnnl::reorder(dnnl::reorder::primitive_desc(
                               engine, chosen, engine, user))
                         : dnnl::reorder(dnnl::reorder::primitive_desc(
                               engine, user, engine, chosen));
  }

  // An input: binds `data` and reorders it into the buffer when needed;
  // returns what the primitive reads.
  memory Input(const float* data, dnnl::stream& stream) {
    user_.set_data_handle(const_cast<float*>(data));
    if (direct_) return user_;
    reorder_.execute(stream, user_, buffer_);
    return buffer_;
  }
  // An output: returns what the primitive writes; Finish() then moves it
  // into `data`.
  memory Output(float* data) {
    user_.set_data_handle(data);
    return direct_ ? user_ : buffer_;
  }
  void Finish(dnnl::stream& stream) {
    if (!direct_) reorder_.execute(stream, buffer_, user_);
  }

 private:
  memory user_, buffer_;
  dnnl::reorder reorder_;
  bool direct_ = true;
};

// [N, T, C] as oneDNN's [N, C, T] in nwc.
memory::desc SequenceDesc(int64_t n, int64_t t, int64_t c) {
  return memory::desc({n, c, t}, memory::data_type::f32, Tag::nwc);
}

memory::desc AnyDesc(const memory::dims& dims) {
  return memory::desc(dims, memory::data_type::f32, Tag::any);
}

absl::Status CheckSequence(const Tensor& x) {
  if (x.rank() != 3) {
    return absl::InvalidArgumentError(
        absl::StrCat("x must be [N, T, C], got ", ShapeToString(x.shape())));
  }
  return absl::OkStatus();
}

// Zeroes the gradients asked for (no gradient reached the output).
void ZeroInputGrads(GradContext& ctx) {
  for (int i = 0; i < ctx.forward().num_inputs(); ++i) {
    if (Tensor* g = ctx.input_grad(i)) {
      g->ResizeZeroed(DType::kFloat32, ctx.input(i)->shape());
    }
  }
}

// ---------------------------------------------------------------------------
// Conv1D.

enum class Activation { kLinear, kRelu };

struct ConvAttrs {
  int64_t filters = 0;
  Window window;
  Activation activation = Activation::kLinear;
};

absl::StatusOr<ConvAttrs> ReadConvAttrs(const AttrMap& attrs) {
  ConvAttrs a;
  a.filters = attrs.GetInt("filters");
  a.window.size = attrs.GetInt("kernel_size");
  a.window.stride = attrs.GetInt("strides");
  a.window.dilation = attrs.GetInt("dilation_rate");
  for (const auto& [name, value] :
       {std::pair<const char*, int64_t>{"filters", a.filters},
        {"kernel_size", a.window.size},
        {"strides", a.window.stride},
        {"dilation_rate", a.window.dilation}}) {
    LOOM_RETURN_IF_ERROR(CheckPositive(name, value));
  }
  LOOM_ASSIGN_OR_RETURN(a.window.same,
                        ParsePadding(attrs.GetString("padding")));
  const std::string& activation = attrs.GetString("activation");
  if (activation == "linear") {
    a.activation = Activation::kLinear;
  } else if (activation == "relu") {
    a.activation = Activation::kRelu;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "attribute 'activation' must be \"linear\" or \"relu\", got \"",
        activation, "\""));
  }
  return a;
}

// Checks shapes (possibly with -1 dimensions) against each other and the
// attributes.
absl::Status CheckConvShapes(const ConvAttrs& a, const Shape& x,
                             const Shape& kernel, const Shape* bias) {
  if (x.size() != 3) {
    return absl::InvalidArgumentError(
        absl::StrCat("x must be [N, T, C], got ", ShapeToString(x)));
  }
  if (kernel.size() != 3 || !DimsCompatible(kernel[0], a.window.size) ||
      !DimsCompatible(kernel[1], x[2]) ||
      !DimsCompatible(kernel[2], a.filters)) {
    return absl::InvalidArgumentError(
        absl::StrCat("kernel must be [kernel_size, C, filters] = [",
                     a.window.size, ", ", x[2], ", ", a.filters, "] (x is ",
                     ShapeToString(x), "), got ", ShapeToString(kernel)));
  }
  if (bias != nullptr &&
      (bias->size() != 1 || !DimsCompatible((*bias)[0], a.filters))) {
    return absl::InvalidArgumentError(absl::StrCat("bias must be [filters] = [",
                                                   a.filters, "], got ",
                                                   ShapeToString(*bias)));
  }
  return absl::OkStatus();
}

absl::Status Conv1DShape(ShapeContext& ctx) {
  LOOM_ASSIGN_OR_RETURN(auto attrs, ReadConvAttrs(ctx.attrs()));
  for (int i = 0; i < ctx.num_inputs(); ++i) {
    if (ctx.input(i) == nullptr) continue;
    LOOM_RETURN_IF_ERROR(ctx.ExpectDType(i, DType::kFloat32));
  }
  const Shape& x = ctx.input(0)->shape;
  const Shape* bias = ctx.num_inputs() > 2 && ctx.input(2) != nullptr
                          ? &ctx.input(2)->shape
                          : nullptr;
  LOOM_RETURN_IF_ERROR(CheckConvShapes(attrs, x, ctx.input(1)->shape, bias));
  LOOM_ASSIGN_OR_RETURN(auto length, InferLength(attrs.window, x[1]));
  ctx.set_output(0, {DType::kFloat32, {x[0], length, attrs.filters}});
  return absl::OkStatus();
}

class Conv1DKernel : public OpKernel {
 public:
  absl::Status Init(const KernelInitContext& init) {
    LOOM_ASSIGN_OR_RETURN(attrs_, ReadConvAttrs(init.attrs));
    has_bias_ = init.inputs.size() > 2 && init.inputs[2] != nullptr;
    return absl::OkStatus();
  }

  absl::Status Forward(KernelContext& ctx) override {
    const Tensor& x = *ctx.input(0);
    const Tensor& w = *ctx.input(1);
    const Tensor* bias = has_bias_ ? ctx.input(2) : nullptr;
    LOOM_RETURN_IF_ERROR(
        CheckConvShapes(attrs_, x.shape(), w.shape(),
                        bias != nullptr ? &bias->shape() : nullptr));
    LOOM_ASSIGN_OR_RETURN(auto length, attrs_.window.OutputLength(x.dim(1)));
    Tensor& y = *ctx.output(0);
    y.Resize(DType::kFloat32, {x.dim(0), length, attrs_.filters});
    if (y.num_elements() == 0) return absl::OkStatus();
    LOOM_ASSIGN_OR_RETURN(
        auto primitives,
        GetPrimitiveSet(ctx.engine(), x.dim(0), x.dim(1), x.dim(2)));
    PrimitiveSet& p = *primitives;
    dnnl::stream& stream = ctx.stream();
    return DnnlCall("Conv1D forward", [&] {
      std::unordered_map<int, memory> args = {
          {DNNL_ARG_SRC, p.src.Input(x.f32(), stream)},
          {DNNL_ARG_WEIGHTS, p.weights.Input(w.f32(), stream)},
          {DNNL_ARG_DST, p.dst.Output(y.f32())}};
      if (has_bias_) {
        args[DNNL_ARG_BIAS] = WrapTensor(ctx.engine(), *bias, p.bias);
      }
      p.forward.execute(stream, args);
      p.dst.Finish(stream);
      stream.wait();
    });
  }

  absl::Status Backward(GradContext& ctx) override {
    const Tensor& x = *ctx.input(0);
    const Tensor& w = *ctx.input(1);
    const Tensor& y = *ctx.output(0);
    const Tensor* dy = ctx.output_grad(0);
    Tensor* dx = ctx.input_grad(0);
    Tensor* dw = ctx.input_grad(1);
    Tensor* db = has_bias_ ? ctx.input_grad(2) : nullptr;
    if (dy == nullptr || y.num_elements() == 0 || x.num_elements() == 0) {
      ZeroInputGrads(ctx);
      return absl::OkStatus();
    }
    LOOM_ASSIGN_OR_RETURN(
        auto primitives,
        GetPrimitiveSet(ctx.engine(), x.dim(0), x.dim(1), x.dim(2)));
    PrimitiveSet& p = *primitives;

    // dz = dy * relu'(z), read from y: z > 0 exactly where y > 0.
    const float* dz = dy->f32();
    if (attrs_.activation == Activation::kRelu) {
      dz_.Resize(DType::kFloat32, y.shape());
      const float* py = y.f32();
      const float* pg = dy->f32();
      float* pz = dz_.f32();
      for (int64_t i = 0; i < y.num_elements(); ++i) {
        pz[i] = py[i] > 0.0f ? pg[i] : 0.0f;
      }
      dz = dz_.f32();
    }

    dnnl::stream& stream = ctx.stream();
    const dnnl::engine& engine = ctx.engine();
    return DnnlCall("Conv1D backward", [&] {
      if (dx != nullptr) {
        dx->Resize(DType::kFloat32, x.shape());
        p.backward_data.execute(
            stream, {{DNNL_ARG_DIFF_DST, p.data_diff_dst.Input(dz, stream)},
                     {DNNL_ARG_WEIGHTS, p.data_weights.Input(w.f32(), stream)},
                     {DNNL_ARG_DIFF_SRC, p.data_diff_src.Output(dx->f32())}});
        p.data_diff_src.Finish(stream);
      }
      if (dw != nullptr || db != nullptr) {
        // backward_weights computes both; an unwanted one goes to scratch.
        Tensor* dw_out = dw != nullptr ? dw : &scratch_dw_;
        dw_out->Resize(DType::kFloat32, w.shape());
        std::unordered_map<int, memory> args = {
            {DNNL_ARG_SRC, p.weights_src.Input(x.f32(), stream)},
            {DNNL_ARG_DIFF_DST, p.weights_diff_dst.Input(dz, stream)},
            {DNNL_ARG_DIFF_WEIGHTS, p.diff_weights.Output(dw_out->f32())}};
        if (has_bias_) {
          Tensor* db_out = db != nullptr ? db : &scratch_db_;
          db_out->Resize(DType::kFloat32, {attrs_.filters});
          args[DNNL_ARG_DIFF_BIAS] = WrapTensor(engine, *db_out, p.bias);
        }
        p.backward_weights.execute(stream, args);
        p.diff_weights.Finish(stream);
      }
      stream.wait();
    });
  }

 private:
  // The primitives and memories of one input shape [n, t, c], built once
  // and cached per shape.
  struct PrimitiveSet {
    dnnl::convolution_forward forward;
    dnnl::convolution_backward_data backward_data;
    dnnl::convolution_backward_weights backward_weights;
    memory::desc bias;                                   // Plain [F].
    Bridge src, weights, dst;                            // forward
    Bridge data_diff_dst, data_weights, data_diff_src;   // backward_data
    Bridge weights_src, weights_diff_dst, diff_weights;  // backward_weights
  };

  absl::StatusOr<PrimitiveSet*> GetPrimitiveSet(const dnnl::engine& engine,
                                                int64_t n, int64_t t,
                                                int64_t c) {
    const std::array<int64_t, 3> key = {n, t, c};
    if (auto it = cache_.find(key); it != cache_.end()) {
      return it->second.get();
    }
    const Window& win = attrs_.window;
    LOOM_ASSIGN_OR_RETURN(const int64_t out, win.OutputLength(t));
    const int64_t f = attrs_.filters, k = win.size;
    auto primitives = std::make_unique<PrimitiveSet>();
    LOOM_RETURN_IF_ERROR(DnnlCall("Conv1D setup", [&] {
      const memory::desc user_src = SequenceDesc(n, t, c);
      const memory::desc user_dst = SequenceDesc(n, out, f);
      const memory::desc user_weights({f, c, k}, memory::data_type::f32,
                                      Tag::wio);
      primitives->bias = memory::desc({f}, memory::data_type::f32, Tag::x);
      const memory::desc any_src = AnyDesc({n, c, t});
      const memory::desc any_dst = AnyDesc({n, f, out});
      const memory::desc any_weights = AnyDesc({f, c, k});
      const memory::dims strides = {win.stride};
      // oneDNN counts dilation from 0 (no gaps), Keras from 1.
      const memory::dims dilates = {win.dilation - 1};
      const memory::dims pad_l = {win.PadLeft(t, out)};
      const memory::dims pad_r = {win.PadRight(t, out)};
      const auto alg = dnnl::algorithm::convolution_direct;
      const auto prop = dnnl::prop_kind::forward_training;
      auto fwd_desc =
          has_bias_
              ? dnnl::convolution_forward::desc(prop, alg, any_src, any_weights,
                                                primitives->bias, any_dst,
                                                strides, dilates, pad_l, pad_r)
              : dnnl::convolution_forward::desc(prop, alg, any_src, any_weights,
                                                any_dst, strides, dilates,
                                                pad_l, pad_r);
      dnnl::primitive_attr attr;
      if (attrs_.activation == Activation::kRelu) {
        dnnl::post_ops ops;
        ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
        attr.set_post_ops(ops);
      }
      const dnnl::convolution_forward::primitive_desc fwd(fwd_desc, attr,
                                                          engine);
      const dnnl::convolution_backward_data::primitive_desc bwd_data(
          dnnl::convolution_backward_data::desc(alg, any_src, any_weights,
                                                any_dst, strides, dilates,
                                                pad_l, pad_r),
          engine, fwd);
      auto bwd_weights_desc =
          has_bias_ ? dnnl::convolution_backward_weights::desc(
                          alg, any_src, any_weights, primitives->bias, any_dst,
                          strides, dilates, pad_l, pad_r)
                    : dnnl::convolution_backward_weights::desc(
                          alg, any_src, any_weights, any_dst, strides, dilates,
                          pad_l, pad_r);
      const dnnl::convolution_backward_weights::primitive_desc bwd_weights(
          bwd_weights_desc, engine, fwd);
      primitives->forward = dnnl::convolution_forward(fwd);
      primitives->backward_data = dnnl::convolution_backward_data(bwd_data);
      primitives->backward_weights =
          dnnl::convolution_backward_weights(bwd_weights);
      primitives->src.Init(user_src, fwd.src_desc(), engine, false);
      primitives->weights.Init(user_weights, fwd.weights_desc(), engine, false);
      primitives->dst.Init(user_dst, fwd.dst_desc(), engine, true);
      primitives->data_diff_dst.Init(user_dst, bwd_data.diff_dst_desc(), engine,
                                     false);
      primitives->data_weights.Init(user_weights, bwd_data.weights_desc(),
                                    engine, false);
      primitives->data_diff_src.Init(user_src, bwd_data.diff_src_desc(), engine,
                                     true);
      primitives->weights_src.Init(user_src, bwd_weights.src_desc(), engine,
                                   false);
      primitives->weights_diff_dst.Init(user_dst, bwd_weights.diff_dst_desc(),
                                        engine, false);
      primitives->diff_weights.Init(
          user_weights, bwd_weights.diff_weights_desc(), engine, true);
    }));
    PrimitiveSet* result = primitives.get();
    cache_[key] = std::move(primitives);
    return result;
  }

  ConvAttrs attrs_;
  bool has_bias_ = false;
  Tensor dz_;
  Tensor scratch_dw_;
  Tensor scratch_db_;
  absl::flat_hash_map<std::array<int64_t, 3>, std::unique_ptr<PrimitiveSet>>
      cache_;
};

// ---------------------------------------------------------------------------
// MaxPooling1D.

absl::StatusOr<Window> ReadPoolAttrs(const AttrMap& attrs) {
  Window w;
  w.size = attrs.GetInt("pool_size");
  LOOM_RETURN_IF_ERROR(CheckPositive("pool_size", w.size));
  const int64_t strides = attrs.GetInt("strides");
  if (strides < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "attribute 'strides' must be positive, or 0 for pool_size, got ",
        strides));
  }
  w.stride = strides == 0 ? w.size : strides;
  LOOM_ASSIGN_OR_RETURN(w.same, ParsePadding(attrs.GetString("padding")));
  return w;
}

absl::Status MaxPooling1DShape(ShapeContext& ctx) {
  LOOM_ASSIGN_OR_RETURN(auto window, ReadPoolAttrs(ctx.attrs()));
  LOOM_RETURN_IF_ERROR(ctx.ExpectRank(0, 3));
  LOOM_RETURN_IF_ERROR(ctx.ExpectDType(0, DType::kFloat32));
  const Shape& x = ctx.input(0)->shape;
  LOOM_ASSIGN_OR_RETURN(auto length, InferLength(window, x[1]));
  ctx.set_output(0, {DType::kFloat32, {x[0], length, x[2]}});
  return absl::OkStatus();
}

class MaxPooling1DKernel : public OpKernel {
 public:
  absl::Status Init(const KernelInitContext& init) {
    LOOM_ASSIGN_OR_RETURN(window_, ReadPoolAttrs(init.attrs));
    return absl::OkStatus();
  }

  absl::Status Forward(KernelContext& ctx) override {
    const Tensor& x = *ctx.input(0);
    LOOM_RETURN_IF_ERROR(CheckSequence(x));
    LOOM_ASSIGN_OR_RETURN(auto length, window_.OutputLength(x.dim(1)));
    Tensor& y = *ctx.output(0);
    y.Resize(DType::kFloat32, {x.dim(0), length, x.dim(2)});
    if (y.num_elements() == 0) return absl::OkStatus();
    LOOM_ASSIGN_OR_RETURN(
        auto primitives,
        GetPrimitiveSet(ctx.engine(), x.dim(0), x.dim(1), x.dim(2)));
    PrimitiveSet& p = *primitives;
    dnnl::stream& stream = ctx.stream();
    return DnnlCall("MaxPooling1D forward", [&] {
      p.forward.execute(stream,
                        {{DNNL_ARG_SRC, WrapTensor(ctx.engine(), x, p.src)},
                         {DNNL_ARG_DST, p.dst.Output(y.f32())},
                         {DNNL_ARG_WORKSPACE, p.workspace}});
      p.dst.Finish(stream);
      stream.wait();
    });
  }

  absl::Status Backward(GradContext& ctx) override {
    const Tensor& x = *ctx.input(0);
    const Tensor& y = *ctx.output(0);
    const Tensor* dy = ctx.output_grad(0);
    Tensor* dx = ctx.input_grad(0);
    if (dx == nullptr) return absl::OkStatus();
    if (dy == nullptr || y.num_elements() == 0) {
      dx->ResizeZeroed(DType::kFloat32, x.shape());
      return absl::OkStatus();
    }
    LOOM_ASSIGN_OR_RETURN(
        auto primitives,
        GetPrimitiveSet(ctx.engine(), x.dim(0), x.dim(1), x.dim(2)));
    PrimitiveSet& p = *primitives;
    dx->Resize(DType::kFloat32, x.shape());
    dnnl::stream& stream = ctx.stream();
    return DnnlCall("MaxPooling1D backward", [&] {
      p.backward.execute(
          stream, {{DNNL_ARG_DIFF_DST, p.diff_dst.Input(dy->f32(), stream)},
                   {DNNL_ARG_WORKSPACE, p.workspace},
                   {DNNL_ARG_DIFF_SRC, p.diff_src.Output(dx->f32())}});
      p.diff_src.Finish(stream);
      stream.wait();
    });
  }

 private:
  // The primitives and memories of one input shape [n, t, c], built once
  // and cached per shape.
  struct PrimitiveSet {
    dnnl::pooling_forward forward;
    dnnl::pooling_backward backward;
    memory::desc src;  // The user's nwc layout: pooling takes it as is.
    memory workspace;  // Where each maximum was, for backward.
    Bridge dst, diff_dst, diff_src;
  };

  absl::StatusOr<PrimitiveSet*> GetPrimitiveSet(const dnnl::engine& engine,
                                                int64_t n, int64_t t,
                                                int64_t c) {
    const std::array<int64_t, 3> key = {n, t, c};
    if (auto it = cache_.find(key); it != cache_.end()) {
      return it->second.get();
    }
    LOOM_ASSIGN_OR_RETURN(const int64_t out, window_.OutputLength(t));
    auto primitives = std::make_unique<PrimitiveSet>();
    LOOM_RETURN_IF_ERROR(DnnlCall("MaxPooling1D setup", [&] {
      primitives->src = SequenceDesc(n, t, c);
      const memory::desc user_dst = SequenceDesc(n, out, c);
      const memory::dims strides = {window_.stride};
      const memory::dims window = {window_.size};
      const memory::dims pad_l = {window_.PadLeft(t, out)};
      const memory::dims pad_r = {window_.PadRight(t, out)};
      const auto alg = dnnl::algorithm::pooling_max;
      const dnnl::pooling_forward::primitive_desc fwd(
          dnnl::pooling_forward::desc(dnnl::prop_kind::forward_training, alg,
                                      primitives->src, AnyDesc({n, c, out}),
                                      strides, window, pad_l, pad_r),
          engine);
      const dnnl::pooling_backward::primitive_desc bwd(
          dnnl::pooling_backward::desc(alg, AnyDesc({n, c, t}),
                                       AnyDesc({n, c, out}), strides, window,
                                       pad_l, pad_r),
          engine, fwd);
      primitives->forward = dnnl::pooling_forward(fwd);
      primitives->backward = dnnl::pooling_backward(bwd);
      primitives->workspace = memory(fwd.workspace_desc(), engine);
      primitives->dst.Init(user_dst, fwd.dst_desc(), engine, true);
      primitives->diff_dst.Init(user_dst, bwd.diff_dst_desc(), engine, false);
      primitives->diff_src.Init(primitives->src, bwd.diff_src_desc(), engine,
                                true);
    }));
    PrimitiveSet* result = primitives.get();
    cache_[key] = std::move(primitives);
    return result;
  }

  Window window_;
  absl::flat_hash_map<std::array<int64_t, 3>, std::unique_ptr<PrimitiveSet>>
      cache_;
};

// ---------------------------------------------------------------------------
// Registration.

absl::Status RegisterConv1DOps(OpRegistry* registry) {
  OpDef conv;
  conv.signature.name = "Conv1D";
  conv.signature.doc =
      "Keras' Conv1D (channels_last): y = activation(conv(x, kernel) + "
      "bias); see plugins/conv1d/conv1d.cc.";
  conv.signature.inputs = {{"x", "float [N, T, C]"},
                           {"kernel", "float [kernel_size, C, filters]"},
                           {"bias", "float [filters]", /*optional=*/true}};
  conv.signature.outputs = {{"y", "float [N, T', filters]"}};
  conv.signature.attrs = {
      IntAttr("filters", std::nullopt, "output channels F"),
      IntAttr("kernel_size", std::nullopt, "window length K"),
      IntAttr("strides", 1, "step between windows"),
      StringAttr("padding", "valid", "valid or same"),
      IntAttr("dilation_rate", 1, "spacing between kernel taps"),
      StringAttr("activation", "linear", "linear or relu"),
  };
  conv.shape_fn = Conv1DShape;
  // For a node that gives only x: "<node>/kernel" and "<node>/bias".
  conv.params.push_back(
      {/*input=*/1, nullptr,
       [](const ShapeContext& ctx) -> absl::StatusOr<OwnedParameter> {
         const int64_t filters = ctx.attrs().GetInt("filters");
         const int64_t size = ctx.attrs().GetInt("kernel_size");
         const ValueInfo* x = ctx.input(0);
         if (filters < 1 || size < 1 || x->shape.size() != 3) {
           return absl::InvalidArgumentError(absl::StrCat(
               "needs filters and kernel_size >= 1 and x [N, T, C] to create "
               "the kernel, got ",
               filters, ", ", size, " and x ", ShapeToString(x->shape)));
         }
         OwnedParameter p;
         p.shape = {size, x->shape[2], filters};
         p.initializer.mutable_glorot_uniform();
         return p;
       },
       "[kernel_size, C, filters], glorot_uniform"});
  conv.params.push_back(
      {/*input=*/2, nullptr,
       [](const ShapeContext& ctx) -> absl::StatusOr<OwnedParameter> {
         const int64_t filters = ctx.attrs().GetInt("filters");
         if (filters < 1) {
           return absl::InvalidArgumentError(
               absl::StrCat("attribute 'filters' must be >= 1, got ", filters));
         }
         OwnedParameter p;
         p.shape = {filters};
         p.initializer.mutable_zeros();
         return p;
       },
       "[filters], zeros"});
  conv.kernels.push_back({"onednn", MakeKernelFactory<Conv1DKernel>()});
  LOOM_RETURN_IF_ERROR(registry->Register(std::move(conv)));

  OpDef pool;
  pool.signature.name = "MaxPooling1D";
  pool.signature.doc =
      "Keras' MaxPooling1D (channels_last): the maximum over windows of "
      "time steps; see plugins/conv1d/conv1d.cc.";
  pool.signature.inputs = {{"x", "float [N, T, C]"}};
  pool.signature.outputs = {{"y", "float [N, T', C]"}};
  pool.signature.attrs = {
      IntAttr("pool_size", 2, "window length"),
      IntAttr("strides", 0, "step between windows; 0 means pool_size"),
      StringAttr("padding", "valid", "valid or same"),
  };
  pool.shape_fn = MaxPooling1DShape;
  pool.kernels.push_back({"onednn", MakeKernelFactory<MaxPooling1DKernel>()});
  return registry->Register(std::move(pool));
}

}  // namespace
}  // namespace loom

LOOM_PLUGIN("conv1d", loom::RegisterConv1DOps)
