// GRU: Keras' GRU layer with reset_after=True (tf.keras.layers.GRU, alone or
// wrapped in Bidirectional) with its gradient, on oneDNN's
// linear-before-reset GRU primitives. Built as the plugin libloom_gru.so.
//
//   input  x:                float [N, T, C]
//   input  kernel:           float [C, 3H], gate blocks z, r, h
//   input  recurrent_kernel: float [H, 3H], gate blocks z, r, h
//   input  bias:             float [2, 3H]; row 0 the input bias b, row 1
//                            the recurrent bias b' (Keras' reset_after
//                            layout)
//   input  mask (optional):  float [N, T]; nonzero = valid step
//   input  backward_kernel, backward_recurrent_kernel, backward_bias
//          (optional; required iff direction is bidirectional_*): the
//          parameters of the reverse-time direction, shaped as above
//   output y: float [N, T, D*H] with return_sequences, else [N, D*H];
//          D = 2 for bidirectional_concat (forward units first), else 1
//   attrs  units (H), direction ("forward", "bidirectional_concat",
//          "bidirectional_sum"), return_sequences
//
// Each direction computes, with h starting at zero,
//   z   = sigmoid(x_t W_z + b_z + h_{t-1} U_z + b'_z)
//   r   = sigmoid(x_t W_r + b_r + h_{t-1} U_r + b'_r)
//   hh  = tanh(x_t W_h + b_h + r * (h_{t-1} U_h + b'_h))
//   h_t = z * h_{t-1} + (1 - z) * hh
// The reverse direction runs from t = T-1 down to 0; its "last" state is
// the one after processing t = 0, and its outputs are stored at the time
// step they belong to, as Keras' Bidirectional does.
//
// Masking: a masked step leaves h unchanged and outputs zeros; the last
// state is the state after the last valid step (zeros for a row without
// valid steps).
//
// Mapping to oneDNN. oneDNN's LBR GRU computes
//   u = sigmoid(W_u x + U_u h + B_u),  r = sigmoid(W_r x + U_r h + B_r)
//   o = tanh(W_o x + r * (U_o h + B_u') + B_o),  h_t = u * h + (1 - u) * o
// with gates ordered u, r, o: that is Keras' z, r, h in the same order, and
// u multiplies h_{t-1} as Keras' z does, so no column is permuted or
// negated. Its ldigo weights layout ([L, D, I, G, O]) is exactly the
// row-major Keras [C, 3H] / [H, 3H] kernels. Its bias has four gates
// u, r, o, u': B_u = b_z + b'_z, B_r = b_r + b'_r, B_o = b_h, B_u' = b'_h;
// the bias gradient maps back the same way (dB_u goes to both b_z and b'_z).
//
// Sequences: each row's valid steps are gathered into aligned steps of a tnc
// buffer and one unidirectional left-to-right primitive serves both
// directions (framework/recurrent/aligned_steps.h); any mask works,
// contiguous or not. The primitive runs over max_n len steps, not T.
// Weights are reordered from the Keras layout into the layouts the
// primitives prefer once per step.
//
// Memory is bounded as the LSTM's is (framework/recurrent/): primitive sets
// are kept per (N, aligned steps, C, training) for the kMaxPrimitiveSets
// most recently used shapes, and their buffers live in one arena sized for
// the largest problem seen (Backward always follows the kernel's latest
// Forward; see LbrGru::arena_).
#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "framework/dnnl_util.h"
#include "framework/op.h"
#include "framework/plugin.h"
#include "framework/recurrent/aligned_steps.h"
#include "framework/recurrent/arena.h"
#include "framework/recurrent/layer.h"
#include "framework/recurrent/primitive_set.h"
#include "framework/recurrent/valid_steps.h"
#include "framework/registry.h"
#include "framework/status_macros.h"

namespace loom {
namespace {

using dnnl::memory;
using recurrent::Arena;
using recurrent::ArenaSlices;
using recurrent::BiasInput;
using recurrent::Bind;
using recurrent::Data;
using recurrent::DataOf;
using recurrent::Grads;
using recurrent::InputShapes;
using recurrent::kBackwardBias;
using recurrent::kBackwardKernel;
using recurrent::kBackwardRecurrentKernel;
using recurrent::kBias;
using recurrent::KernelInput;
using recurrent::kKernel;
using recurrent::kMask;
using recurrent::kRecurrentKernel;
using recurrent::kX;
using recurrent::LayerAttrs;
using recurrent::Problem;
using recurrent::RecurrentInput;
using recurrent::ValidSteps;
using recurrent::ZeroMemory;

// ---------------------------------------------------------------------------
// Signature.

constexpr recurrent::InputTable kInputs = {{
    {kX, "x", "float [N, T, C]"},
    {kKernel, "kernel", "float [C, 3H], gates z, r, h"},
    {kRecurrentKernel, "recurrent_kernel", "float [H, 3H], gates z, r, h"},
    {kBias, "bias", "float [2, 3H]: input bias, recurrent bias"},
    {kMask, "mask", "float [N, T], nonzero = valid step", /*optional=*/true},
    {kBackwardKernel, "backward_kernel", "float [C, 3H] (bidirectional only)",
     true},
    {kBackwardRecurrentKernel, "backward_recurrent_kernel",
     "float [H, 3H] (bidirectional only)", true},
    {kBackwardBias, "backward_bias", "float [2, 3H] (bidirectional only)",
     true},
}};
static_assert(InputsInOrder(kInputs), "kInputs must follow recurrent::Input");

absl::StatusOr<LayerAttrs> ReadAttrs(const AttrMap& attrs) {
  LayerAttrs a;
  a.units = attrs.GetInt("units");
  if (a.units < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("attribute 'units' must be positive, got ", a.units));
  }
  LOOM_ASSIGN_OR_RETURN(a.direction, recurrent::ReadDirection(attrs));
  a.return_sequences = attrs.GetBool("return_sequences");
  return a;
}

// Checks input shapes against each other and the attributes. Shapes may hold
// -1 (unknown until run time); nullptr marks an absent optional input.
absl::Status CheckShapes(const LayerAttrs& a, const InputShapes& s) {
  const int64_t h = a.units;
  auto expect = [&](int i, const Shape& want) {
    return recurrent::ExpectShape(kInputs[i].name, *s[i], want, h,
                                  "; ?: any size");
  };
  LOOM_RETURN_IF_ERROR(recurrent::ExpectSequenceShape(*s[kX]));
  const int64_t n = (*s[kX])[0], t = (*s[kX])[1], c = (*s[kX])[2];
  LOOM_RETURN_IF_ERROR(
      recurrent::ExpectBackwardInputs(s, "GRU", a.num_directions() == 2));
  for (int k = 0; k < a.num_directions(); ++k) {
    LOOM_RETURN_IF_ERROR(expect(KernelInput(k), {c, 3 * h}));
    LOOM_RETURN_IF_ERROR(expect(RecurrentInput(k), {h, 3 * h}));
    LOOM_RETURN_IF_ERROR(expect(BiasInput(k), {2, 3 * h}));
  }
  if (s[kMask] != nullptr) LOOM_RETURN_IF_ERROR(expect(kMask, {n, t}));
  return absl::OkStatus();
}

absl::Status GruShape(ShapeContext& ctx) {
  LOOM_ASSIGN_OR_RETURN(const LayerAttrs attrs, ReadAttrs(ctx.attrs()));
  return recurrent::InferShape(ctx, attrs, [&](const InputShapes& shapes) {
    return CheckShapes(attrs, shapes);
  });
}

// oneDNN's four-gate bias (u, r, o, u') from Keras' [2, 3H] one.
void ToDnnlBias(const float* keras, int64_t h, float* dnnl_bias) {
  const float* input = keras;
  const float* recurrent = keras + 3 * h;
  for (int64_t j = 0; j < 2 * h; ++j) dnnl_bias[j] = input[j] + recurrent[j];
  std::memcpy(dnnl_bias + 2 * h, input + 2 * h, h * sizeof(float));
  std::memcpy(dnnl_bias + 3 * h, recurrent + 2 * h, h * sizeof(float));
}

// The gradient of Keras' [2, 3H] bias from that of oneDNN's four gates.
void FromDnnlBiasGrad(const float* dnnl_grad, int64_t h, float* keras) {
  float* input = keras;
  float* recurrent = keras + 3 * h;
  std::memcpy(input, dnnl_grad, 3 * h * sizeof(float));
  std::memcpy(recurrent, dnnl_grad, 2 * h * sizeof(float));
  std::memcpy(recurrent + 2 * h, dnnl_grad + 3 * h, h * sizeof(float));
}

// ---------------------------------------------------------------------------
// oneDNN's LBR GRU primitives on aligned copies.

class LbrGru {
 public:
  // Runs forward over p.aligned_steps >= 1 steps. `training` keeps the
  // workspace for Backward(). With y == nullptr the outputs are not written
  // (Backward re-running a training forward).
  absl::Status Forward(const Problem& p, const ValidSteps& seq, bool training,
                       const dnnl::engine& engine, dnnl::stream& stream,
                       float* y);

  // Gradients after Forward(training = true) at the same problem, with no
  // other call of this object in between (see arena_). dy is [N, T, D*H]
  // or [N, D*H].
  absl::Status Backward(const Problem& p, const ValidSteps& seq,
                        const float* dy, const Grads& grads,
                        const dnnl::engine& engine, dnnl::stream& stream);

 private:
  // Buffers of one direction: unbound memories, pointed into arena_.
  struct DirectionBuffers {
    memory src, dst, workspace;          // tnc activations, workspace
    memory bias;                         // oneDNN's four-gate bias, ldgo
    memory weights_layer, weights_iter;  // forward's layouts
    memory bwd_weights_layer, bwd_weights_iter;  // backward's layouts
    memory diff_src, diff_dst;
    memory diff_weights_layer, diff_weights_iter, diff_bias;
  };
  // The primitives of one problem shape and the memories they run on.
  struct PrimitiveSet {
    dnnl::lbr_gru_forward forward;
    dnnl::lbr_gru_backward backward;  // Training sets only.
    // Keras-layout views of user tensors, bound per call.
    memory user_weights, user_recurrent_weights;
    memory user_diff_weights, user_diff_recurrent_weights;
    dnnl::reorder to_weights_layer, to_weights_iter;
    dnnl::reorder to_bwd_weights_layer, to_bwd_weights_iter;
    dnnl::reorder from_diff_weights_layer, from_diff_weights_iter;
    std::array<DirectionBuffers, 2> dirs;
    ArenaSlices slices;  // Every DirectionBuffers memory, in arena_.
  };

  static absl::StatusOr<std::unique_ptr<PrimitiveSet>> MakePrimitiveSet(
      const Problem& p, bool training, const dnnl::engine& engine);
  // The primitive set of problem p, its buffers bound to arena_ (grown if
  // need be). The set and its buffers stay valid until the next call.
  absl::StatusOr<PrimitiveSet*> GetPrimitiveSet(const Problem& p, bool training,
                                                const dnnl::engine& engine);

  // (N, aligned steps, C, training) -> primitive set.
  recurrent::PrimitiveSetCache<std::array<int64_t, 4>, PrimitiveSet> sets_;
  // The buffers of every primitive set, one at a time: each call binds its
  // set's memories here, so a call may overwrite whatever an earlier call
  // at another shape left. That is safe because the only state that must
  // outlive a call, a training forward's activations, bias and workspace,
  // is read only by the Backward that follows it, and GruKernel makes no
  // other call of this object in between (after an inference Forward,
  // Backward re-runs the training one first). A training set reserves its
  // backward buffers too, so Backward never grows (and so clears) the
  // arena.
  Arena arena_;
};

absl::StatusOr<std::unique_ptr<LbrGru::PrimitiveSet>> LbrGru::MakePrimitiveSet(
    const Problem& p, bool training, const dnnl::engine& engine) {
  auto set = std::make_unique<PrimitiveSet>();
  LOOM_RETURN_IF_ERROR(DnnlCall("GRU setup", [&] {
    using Tag = memory::format_tag;
    const auto f32 = memory::data_type::f32;
    const int64_t n = p.batch, t = p.aligned_steps, c = p.channels, h = p.units;
    const memory::desc src({t, n, c}, f32, Tag::tnc);
    const memory::desc dst({t, n, h}, f32, Tag::tnc);
    const memory::desc any_layer({1, 1, c, 3, h}, f32, Tag::any);
    const memory::desc any_iter({1, 1, h, 3, h}, f32, Tag::any);
    const memory::desc user_layer({1, 1, c, 3, h}, f32, Tag::ldigo);
    const memory::desc user_iter({1, 1, h, 3, h}, f32, Tag::ldigo);
    const memory::desc bias({1, 1, 4, h}, f32, Tag::ldgo);
    const memory::desc none;
    const auto prop = training ? dnnl::prop_kind::forward_training
                               : dnnl::prop_kind::forward_inference;
    const auto dir = dnnl::rnn_direction::unidirectional_left2right;
    const dnnl::lbr_gru_forward::primitive_desc fwd_pd(
        dnnl::lbr_gru_forward::desc(prop, dir, src, none, any_layer, any_iter,
                                    bias, dst, none),
        engine);
    set->forward = dnnl::lbr_gru_forward(fwd_pd);
    set->user_weights = recurrent::Unbound(user_layer, engine);
    set->user_recurrent_weights = recurrent::Unbound(user_iter, engine);
    set->to_weights_layer =
        recurrent::MakeReorder(engine, user_layer, fwd_pd.weights_layer_desc());
    set->to_weights_iter =
        recurrent::MakeReorder(engine, user_iter, fwd_pd.weights_iter_desc());
    dnnl::lbr_gru_backward::primitive_desc bwd_pd;
    if (training) {
      bwd_pd = dnnl::lbr_gru_backward::primitive_desc(
          dnnl::lbr_gru_backward::desc(
              dnnl::prop_kind::backward, dir, src, none, any_layer, any_iter,
              bias, dst, none, src, none, any_layer, any_iter, bias, dst, none),
          engine, fwd_pd);
      set->backward = dnnl::lbr_gru_backward(bwd_pd);
      set->to_bwd_weights_layer = recurrent::MakeReorder(
          engine, user_layer, bwd_pd.weights_layer_desc());
      set->to_bwd_weights_iter =
          recurrent::MakeReorder(engine, user_iter, bwd_pd.weights_iter_desc());
      set->from_diff_weights_layer = recurrent::MakeReorder(
          engine, bwd_pd.diff_weights_layer_desc(), user_layer);
      set->from_diff_weights_iter = recurrent::MakeReorder(
          engine, bwd_pd.diff_weights_iter_desc(), user_iter);
      set->user_diff_weights = recurrent::Unbound(user_layer, engine);
      set->user_diff_recurrent_weights = recurrent::Unbound(user_iter, engine);
    }
    ArenaSlices& slices = set->slices;
    for (int k = 0; k < p.num_directions; ++k) {
      DirectionBuffers& d = set->dirs[k];
      slices.Add(&d.src, fwd_pd.src_layer_desc(), engine);
      slices.Add(&d.dst, fwd_pd.dst_layer_desc(), engine);
      slices.Add(&d.bias, bias, engine);
      slices.Add(&d.weights_layer, fwd_pd.weights_layer_desc(), engine);
      slices.Add(&d.weights_iter, fwd_pd.weights_iter_desc(), engine);
      if (!training) continue;
      slices.Add(&d.workspace, fwd_pd.workspace_desc(), engine);
      slices.Add(&d.bwd_weights_layer, bwd_pd.weights_layer_desc(), engine);
      slices.Add(&d.bwd_weights_iter, bwd_pd.weights_iter_desc(), engine);
      slices.Add(&d.diff_src, bwd_pd.diff_src_layer_desc(), engine);
      slices.Add(&d.diff_dst, bwd_pd.diff_dst_layer_desc(), engine);
      slices.Add(&d.diff_weights_layer, bwd_pd.diff_weights_layer_desc(),
                 engine);
      slices.Add(&d.diff_weights_iter, bwd_pd.diff_weights_iter_desc(), engine);
      // Asked for ldgo above, so it is plain [4, H].
      slices.Add(&d.diff_bias, bias, engine);
    }
  }));
  return set;
}

absl::StatusOr<LbrGru::PrimitiveSet*> LbrGru::GetPrimitiveSet(
    const Problem& p, bool training, const dnnl::engine& engine) {
  const std::array<int64_t, 4> key = {p.batch, p.aligned_steps, p.channels,
                                      training ? 1 : 0};
  LOOM_ASSIGN_OR_RETURN(PrimitiveSet * set, sets_.Get(key, [&] {
    return MakePrimitiveSet(p, training, engine);
  }));
  LOOM_ASSIGN_OR_RETURN(char* base,
                        recurrent::Reserve(arena_, set->slices.bytes(), "GRU"));
  LOOM_RETURN_IF_ERROR(
      DnnlCall("GRU buffer binding", [&] { set->slices.BindTo(base); }));
  return set;
}

absl::Status LbrGru::Forward(const Problem& p, const ValidSteps& seq,
                             bool training, const dnnl::engine& engine,
                             dnnl::stream& stream, float* y) {
  LOOM_ASSIGN_OR_RETURN(PrimitiveSet * set_ptr,
                        GetPrimitiveSet(p, training, engine));
  PrimitiveSet& set = *set_ptr;
  const int64_t h = p.units;

  // src[a, n, :] = x[n, time(a), :], zeros after the row's valid steps.
  recurrent::GatherInputs(
      p, seq, DataOf(set.dirs, p.num_directions, &DirectionBuffers::src),
      {nullptr, nullptr});
  for (int k = 0; k < p.num_directions; ++k) {
    ToDnnlBias(p.bias[k], h, Data(set.dirs[k].bias));
  }

  LOOM_RETURN_IF_ERROR(DnnlCall("GRU forward", [&] {
    for (int k = 0; k < p.num_directions; ++k) {
      DirectionBuffers& d = set.dirs[k];
      Bind(set.user_weights, p.weights[k]);
      Bind(set.user_recurrent_weights, p.recurrent_weights[k]);
      set.to_weights_layer.execute(stream, {{DNNL_ARG_FROM, set.user_weights},
                                            {DNNL_ARG_TO, d.weights_layer}});
      set.to_weights_iter.execute(stream,
                                  {{DNNL_ARG_FROM, set.user_recurrent_weights},
                                   {DNNL_ARG_TO, d.weights_iter}});
      std::unordered_map<int, memory> args = {
          {DNNL_ARG_SRC_LAYER, d.src},
          {DNNL_ARG_WEIGHTS_LAYER, d.weights_layer},
          {DNNL_ARG_WEIGHTS_ITER, d.weights_iter},
          {DNNL_ARG_BIAS, d.bias},
          {DNNL_ARG_DST_LAYER, d.dst}};
      if (training) args[DNNL_ARG_WORKSPACE] = d.workspace;
      set.forward.execute(stream, args);
    }
    stream.wait();
  }));
  if (y == nullptr) return absl::OkStatus();

  // Scatter the aligned outputs back to their time steps.
  recurrent::ScatterOutputs(
      p, seq, DataOf(set.dirs, p.num_directions, &DirectionBuffers::dst), y);
  return absl::OkStatus();
}

absl::Status LbrGru::Backward(const Problem& p, const ValidSteps& seq,
                              const float* dy, const Grads& grads,
                              const dnnl::engine& engine,
                              dnnl::stream& stream) {
  LOOM_ASSIGN_OR_RETURN(PrimitiveSet * set_ptr,
                        GetPrimitiveSet(p, /*training=*/true, engine));
  PrimitiveSet& set = *set_ptr;
  const int64_t h = p.units;

  recurrent::GatherOutputGrads(
      p, seq, dy,
      DataOf(set.dirs, p.num_directions, &DirectionBuffers::diff_dst));

  LOOM_RETURN_IF_ERROR(DnnlCall("GRU backward", [&] {
    for (int k = 0; k < p.num_directions; ++k) {
      DirectionBuffers& d = set.dirs[k];
      Bind(set.user_weights, p.weights[k]);
      Bind(set.user_recurrent_weights, p.recurrent_weights[k]);
      set.to_bwd_weights_layer.execute(stream,
                                       {{DNNL_ARG_FROM, set.user_weights},
                                        {DNNL_ARG_TO, d.bwd_weights_layer}});
      set.to_bwd_weights_iter.execute(
          stream, {{DNNL_ARG_FROM, set.user_recurrent_weights},
                   {DNNL_ARG_TO, d.bwd_weights_iter}});
      // The primitive adds to its weight gradients.
      ZeroMemory(d.diff_weights_layer);
      ZeroMemory(d.diff_weights_iter);
      ZeroMemory(d.diff_bias);
      set.backward.execute(stream,
                           {{DNNL_ARG_SRC_LAYER, d.src},
                            {DNNL_ARG_WEIGHTS_LAYER, d.bwd_weights_layer},
                            {DNNL_ARG_WEIGHTS_ITER, d.bwd_weights_iter},
                            {DNNL_ARG_BIAS, d.bias},
                            {DNNL_ARG_DST_LAYER, d.dst},
                            {DNNL_ARG_WORKSPACE, d.workspace},
                            {DNNL_ARG_DIFF_SRC_LAYER, d.diff_src},
                            {DNNL_ARG_DIFF_DST_LAYER, d.diff_dst},
                            {DNNL_ARG_DIFF_WEIGHTS_LAYER, d.diff_weights_layer},
                            {DNNL_ARG_DIFF_WEIGHTS_ITER, d.diff_weights_iter},
                            {DNNL_ARG_DIFF_BIAS, d.diff_bias}});
      if (grads.weights[k] != nullptr) {
        Bind(set.user_diff_weights, grads.weights[k]);
        set.from_diff_weights_layer.execute(
            stream, {{DNNL_ARG_FROM, d.diff_weights_layer},
                     {DNNL_ARG_TO, set.user_diff_weights}});
      }
      if (grads.recurrent_weights[k] != nullptr) {
        Bind(set.user_diff_recurrent_weights, grads.recurrent_weights[k]);
        set.from_diff_weights_iter.execute(
            stream, {{DNNL_ARG_FROM, d.diff_weights_iter},
                     {DNNL_ARG_TO, set.user_diff_recurrent_weights}});
      }
      // The reorders above read the primitive's outputs before the next
      // direction's run reuses the set's user views.
      stream.wait();
    }
  }));

  for (int k = 0; k < p.num_directions; ++k) {
    if (grads.bias[k] != nullptr) {
      FromDnnlBiasGrad(Data(set.dirs[k].diff_bias), h, grads.bias[k]);
    }
  }
  if (grads.x == nullptr) return absl::OkStatus();
  recurrent::ScatterInputGrads(
      p, seq, DataOf(set.dirs, p.num_directions, &DirectionBuffers::diff_src),
      {nullptr, nullptr}, grads.x);
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// The op's kernel.

class GruKernel : public OpKernel {
 public:
  absl::Status Init(const KernelInitContext& init) {
    LOOM_ASSIGN_OR_RETURN(attrs_, ReadAttrs(init.attrs));
    return absl::OkStatus();
  }

  absl::Status Forward(KernelContext& ctx) override {
    LOOM_RETURN_IF_ERROR(recurrent::ReadProblem(
        ctx, attrs_, kInputs,
        [&](const InputShapes& s) { return CheckShapes(attrs_, s); },
        &problem_));
    Problem& p = problem_;
    seq_.Read(recurrent::MaskData(ctx), p.batch, p.steps);
    p.aligned_steps = seq_.max_length();
    Tensor& y = *ctx.output(0);
    recurrent::ResizeOutput(p, &y);
    // Without a valid step anywhere every output is zero.
    workspace_valid_ = false;
    if (p.batch == 0 || p.aligned_steps == 0) {
      y.SetZero();
      return absl::OkStatus();
    }
    absl::Status s = gru_.Forward(p, seq_, ctx.training(), ctx.engine(),
                                  ctx.stream(), y.f32());
    workspace_valid_ = s.ok() && ctx.training();
    return s;
  }

  absl::Status Backward(GradContext& ctx) override {
    const Problem& p = problem_;
    const Grads grads = recurrent::GradsOf(ctx, p.num_directions);
    const Tensor* dy = ctx.output_grad(0);
    if (dy == nullptr || p.batch == 0 || p.aligned_steps == 0) {
      recurrent::ZeroGrads(ctx);
      return absl::OkStatus();
    }
    if (!workspace_valid_) {
      // An inference forward keeps no workspace, and a backward pass
      // consumes it: run the training forward.
      LOOM_RETURN_IF_ERROR(gru_.Forward(p, seq_, /*training=*/true,
                                        ctx.engine(), ctx.stream(), nullptr));
    }
    workspace_valid_ = false;
    return gru_.Backward(p, seq_, dy->f32(), grads, ctx.engine(), ctx.stream());
  }

 private:
  LayerAttrs attrs_;
  // The last forward run, for Backward.
  Problem problem_;
  ValidSteps seq_;
  // Whether the last forward was a training one whose workspace no backward
  // pass has consumed yet.
  bool workspace_valid_ = false;
  LbrGru gru_;
};

// The parameter a GRU node gets for input `input` when it leaves its
// parameters to the op, as Keras initializes them: kernel [C, 3H]
// glorot_uniform, recurrent_kernel [H, 3H] orthogonal, bias [2, 3H] zeros;
// named as recurrent::ParamSuffix says.
ParamSpec GruParam(int input) {
  const int which = recurrent::ParamOf(input);
  static const char* const kDoc[3] = {"[C, 3H], glorot_uniform",
                                      "[H, 3H], orthogonal", "[2, 3H], zeros"};
  ParamSpec spec;
  spec.input = input;
  spec.suffix = recurrent::ParamSuffix(input);
  spec.make =
      [which](const ShapeContext& ctx) -> absl::StatusOr<OwnedParameter> {
    LOOM_ASSIGN_OR_RETURN(const LayerAttrs a, ReadAttrs(ctx.attrs()));
    if (a.units > (int64_t{1} << 32)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "attribute 'units' must be at most 2^32, got ", a.units));
    }
    const ValueInfo* x = ctx.input(kX);
    LOOM_RETURN_IF_ERROR(recurrent::ExpectSequenceShape(x->shape));
    const int64_t h = a.units;
    OwnedParameter p;
    if (which == 0) {
      p.shape = {x->shape[2], 3 * h};
      p.initializer.mutable_glorot_uniform();
    } else if (which == 1) {
      p.shape = {h, 3 * h};
      p.initializer.mutable_orthogonal();
    } else {
      p.shape = {2, 3 * h};
      p.initializer.mutable_zeros();
    }
    return p;
  };
  spec.doc = absl::StrCat(
      recurrent::DirectionOf(input) == 1 ? "backward: " : "", kDoc[which]);
  return spec;
}

absl::Status RegisterGruOps(OpRegistry* registry) {
  OpDef def;
  def.signature.name = "GRU";
  def.signature.doc =
      "Keras' GRU layer with reset_after=True (optionally Bidirectional), "
      "with masking; see plugins/gru/gru.cc.";
  def.signature.inputs = ArgSpecs(kInputs);
  def.signature.outputs = {
      {"y", "float [N, T, D*H] with return_sequences, else [N, D*H]"}};
  def.signature.attrs = {
      IntAttr("units", std::nullopt, "H, the state size"),
      StringAttr("direction", "forward",
                 "forward, bidirectional_concat or bidirectional_sum"),
      BoolAttr("return_sequences", false,
               "output every step, not only the last state"),
  };
  def.shape_fn = GruShape;
  for (int input : recurrent::kParamInputs) {
    def.params.push_back(GruParam(input));
  }
  def.kernels.push_back({"onednn", MakeKernelFactory<GruKernel>()});
  return registry->Register(std::move(def));
}

}  // namespace
}  // namespace loom

LOOM_PLUGIN("gru", loom::RegisterGruOps)
