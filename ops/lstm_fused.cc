// The LSTM's "fused" path (ops/lstm.cc documents the op): oneDNN
// lstm_forward (forward_training, keeping the workspace; forward_inference
// otherwise) and lstm_backward, one unidirectional left-to-right primitive
// per shape used for both directions on aligned copies of the rows' valid
// steps (framework/recurrent/aligned_steps.h, where the copy in also
// applies input dropout). Weights are reordered from the Keras layout
// (oneDNN's ldigo / ldgo) into the layouts the primitives prefer once per
// step.
#include <array>
#include <cstdint>
#include <memory>
#include <unordered_map>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "framework/dnnl_util.h"
#include "framework/recurrent/aligned_steps.h"
#include "framework/recurrent/rows.h"
#include "framework/status_macros.h"
#include "ops/lstm_internal.h"

namespace loom {
namespace lstm_internal {

using dnnl::memory;
using recurrent::Bind;
using recurrent::DataOf;
using recurrent::MakeReorder;
using recurrent::MaskOrNull;
using recurrent::Unbound;
using recurrent::ZeroMemory;

absl::StatusOr<std::unique_ptr<FusedLstm::PrimitiveSet>>
FusedLstm::MakePrimitiveSet(const Problem& p, bool training, bool bf16,
                            const dnnl::engine& engine) {
  auto set = std::make_unique<PrimitiveSet>();
  const absl::Status status = DnnlCall("LSTM setup", [&] {
    using Tag = memory::format_tag;
    const auto f32 = memory::data_type::f32;
    // The primitives' data type for src, dst, weights and the initial h
    // (oneDNN 2.6's bf16 LSTM keeps the bias, the cell state and, in
    // backward, every diff tensor in f32).
    const auto data = bf16 ? memory::data_type::bf16 : f32;
    const int64_t n = p.batch, t = p.aligned_steps, c = p.channels, h = p.units;
    const memory::desc src({t, n, c}, f32, Tag::tnc);
    const memory::desc dst({t, n, h}, f32, Tag::tnc);
    const memory::desc prim_src({t, n, c}, data, Tag::tnc);
    const memory::desc prim_dst({t, n, h}, data, Tag::tnc);
    const memory::desc any_layer({1, 1, c, 4, h}, data, Tag::any);
    const memory::desc any_iter({1, 1, h, 4, h}, data, Tag::any);
    const memory::desc any_diff_layer({1, 1, c, 4, h}, f32, Tag::any);
    const memory::desc any_diff_iter({1, 1, h, 4, h}, f32, Tag::any);
    const memory::desc user_layer({1, 1, c, 4, h}, f32, Tag::ldigo);
    const memory::desc user_iter({1, 1, h, 4, h}, f32, Tag::ldigo);
    const memory::desc bias({1, 1, 4, h}, f32, Tag::ldgo);
    const memory::desc state({1, 1, n, h}, f32, Tag::ldnc);
    const memory::desc state_h({1, 1, n, h}, data, Tag::ldnc);
    const memory::desc none;
    const auto prop = training ? dnnl::prop_kind::forward_training
                               : dnnl::prop_kind::forward_inference;
    const auto dir = dnnl::rnn_direction::unidirectional_left2right;
    recurrent::ArenaSlices& slices = set->slices;
    const dnnl::lstm_forward::primitive_desc fwd_pd(
        dnnl::lstm_forward::desc(prop, dir, prim_src, state_h, state, any_layer,
                                 any_iter, bias, prim_dst, none, none),
        engine);
    set->forward = dnnl::lstm_forward(fwd_pd);
    set->zero_state = Unbound(state, engine);
    set->zero_state_h = bf16 ? Unbound(state_h, engine) : set->zero_state;
    if (bf16) {
      set->to_bf16_src = MakeReorder(engine, src, prim_src);
      set->from_bf16_dst = MakeReorder(engine, prim_dst, dst);
    }
    set->zero_bytes = state.get_size();
    set->user_weights = Unbound(user_layer, engine);
    set->user_recurrent_weights = Unbound(user_iter, engine);
    set->user_bias = Unbound(bias, engine);
    set->to_weights_layer =
        MakeReorder(engine, user_layer, fwd_pd.weights_layer_desc());
    set->to_weights_iter =
        MakeReorder(engine, user_iter, fwd_pd.weights_iter_desc());
    dnnl::lstm_backward::primitive_desc bwd_pd;
    if (training) {
      bwd_pd = dnnl::lstm_backward::primitive_desc(
          dnnl::lstm_backward::desc(
              dnnl::prop_kind::backward, dir, prim_src, state_h, state,
              any_layer, any_iter, bias, prim_dst, none, none, src, state,
              state, any_diff_layer, any_diff_iter, bias, dst, none, none),
          engine, fwd_pd);
      set->backward = dnnl::lstm_backward(bwd_pd);
      set->to_bwd_weights_layer =
          MakeReorder(engine, user_layer, bwd_pd.weights_layer_desc());
      set->to_bwd_weights_iter =
          MakeReorder(engine, user_iter, bwd_pd.weights_iter_desc());
      set->plain_diff_weights_layer =
          bwd_pd.diff_weights_layer_desc() == user_layer;
      set->plain_diff_weights_iter =
          bwd_pd.diff_weights_iter_desc() == user_iter;
      set->from_diff_weights_layer =
          MakeReorder(engine, bwd_pd.diff_weights_layer_desc(), user_layer);
      set->from_diff_weights_iter =
          MakeReorder(engine, bwd_pd.diff_weights_iter_desc(), user_iter);
      set->user_diff_weights = Unbound(user_layer, engine);
      set->user_diff_recurrent_weights = Unbound(user_iter, engine);
      set->user_diff_bias = Unbound(bias, engine);
      slices.Add(&set->diff_state_h, state, engine);
      slices.Add(&set->diff_state_c, state, engine);
    }
    for (int k = 0; k < p.num_directions; ++k) {
      DirectionBuffers& d = set->dirs[k];
      slices.Add(&d.src, src, engine);  // f32 even for bf16
      slices.Add(&d.dst, dst, engine);
      slices.Add(&d.weights_layer, fwd_pd.weights_layer_desc(), engine);
      slices.Add(&d.weights_iter, fwd_pd.weights_iter_desc(), engine);
      if (bf16) {
        slices.Add(&d.src_bf16, prim_src, engine);
        slices.Add(&d.dst_bf16, prim_dst, engine);
      }
      if (!training) continue;
      slices.Add(&d.workspace, fwd_pd.workspace_desc(), engine);
      slices.Add(&d.bwd_weights_layer, bwd_pd.weights_layer_desc(), engine);
      slices.Add(&d.bwd_weights_iter, bwd_pd.weights_iter_desc(), engine);
      slices.Add(&d.diff_src, bwd_pd.diff_src_layer_desc(), engine);
      slices.Add(&d.diff_dst, bwd_pd.diff_dst_layer_desc(), engine);
      slices.Add(&d.diff_weights_layer, bwd_pd.diff_weights_layer_desc(),
                 engine);
      slices.Add(&d.diff_weights_iter, bwd_pd.diff_weights_iter_desc(), engine);
      slices.Add(&d.diff_bias, bwd_pd.diff_bias_desc(), engine);
    }
  });
  if (!status.ok() && bf16) {
    return absl::Status(
        status.code(),
        absl::StrCat("LSTM precision \"bf16\": oneDNN could not set up its "
                     "bf16 LSTM primitives (they need a CPU with AVX512 "
                     "BF16 or AMX support): ",
                     status.message()));
  }
  LOOM_RETURN_IF_ERROR(status);
  return set;
}

absl::StatusOr<FusedLstm::PrimitiveSet*> FusedLstm::GetPrimitiveSet(
    const Problem& p, bool training, const dnnl::engine& engine) {
  const std::array<int64_t, 3> key = {p.batch, p.aligned_steps,
                                      training ? 1 : 0};
  LOOM_ASSIGN_OR_RETURN(PrimitiveSet * set, sets_.Get(key, [&] {
    return MakePrimitiveSet(p, training, bf16_, engine);
  }));
  LOOM_ASSIGN_OR_RETURN(
      char* base, recurrent::Reserve(arena_, set->slices.bytes(), "LSTM"));
  LOOM_ASSIGN_OR_RETURN(char* zeros,
                        recurrent::Reserve(zeros_, set->zero_bytes, "LSTM"));
  if (set->slices.bound_to(base) && zeros == set->bound_zeros) return set;
  LOOM_RETURN_IF_ERROR(DnnlCall("LSTM buffer binding", [&] {
    set->slices.BindTo(base);
    if (zeros != set->bound_zeros) {
      set->zero_state.set_data_handle(zeros);
      set->zero_state_h.set_data_handle(zeros);
    }
  }));
  set->bound_zeros = zeros;
  return set;
}

absl::Status FusedLstm::Forward(const Problem& p, const ValidSteps& seq,
                                const DropoutMasks& masks, bool training,
                                const dnnl::engine& engine,
                                dnnl::stream& stream, float* y) {
  LOOM_ASSIGN_OR_RETURN(PrimitiveSet * set_ptr,
                        GetPrimitiveSet(p, training, engine));
  PrimitiveSet& set = *set_ptr;

  // src[a, n, :] = x[n, time(a), :] * dropout, zeros after the valid steps.
  recurrent::GatherInputs(
      p, seq, DataOf(set.dirs, p.num_directions, &DirectionBuffers::src),
      {MaskOrNull(masks.input[0]), MaskOrNull(masks.input[1])});

  LOOM_RETURN_IF_ERROR(DnnlCall("LSTM forward", [&] {
    for (int k = 0; k < p.num_directions; ++k) {
      DirectionBuffers& d = set.dirs[k];
      Bind(set.user_weights, p.weights[k]);
      Bind(set.user_recurrent_weights, p.recurrent_weights[k]);
      Bind(set.user_bias, p.bias[k]);
      set.to_weights_layer.execute(stream, {{DNNL_ARG_FROM, set.user_weights},
                                            {DNNL_ARG_TO, d.weights_layer}});
      set.to_weights_iter.execute(stream,
                                  {{DNNL_ARG_FROM, set.user_recurrent_weights},
                                   {DNNL_ARG_TO, d.weights_iter}});
      if (bf16_) {
        set.to_bf16_src.execute(
            stream, {{DNNL_ARG_FROM, d.src}, {DNNL_ARG_TO, d.src_bf16}});
      }
      std::unordered_map<int, memory> args = {
          {DNNL_ARG_SRC_LAYER, bf16_ ? d.src_bf16 : d.src},
          {DNNL_ARG_SRC_ITER, set.zero_state_h},
          {DNNL_ARG_SRC_ITER_C, set.zero_state},
          {DNNL_ARG_WEIGHTS_LAYER, d.weights_layer},
          {DNNL_ARG_WEIGHTS_ITER, d.weights_iter},
          {DNNL_ARG_BIAS, set.user_bias},
          {DNNL_ARG_DST_LAYER, bf16_ ? d.dst_bf16 : d.dst}};
      if (training) args[DNNL_ARG_WORKSPACE] = d.workspace;
      set.forward.execute(stream, args);
      if (bf16_ && y != nullptr) {
        set.from_bf16_dst.execute(
            stream, {{DNNL_ARG_FROM, d.dst_bf16}, {DNNL_ARG_TO, d.dst}});
      }
    }
    stream.wait();
  }));
  if (y == nullptr) return absl::OkStatus();

  // Scatter the aligned outputs back to their time steps.
  recurrent::ScatterOutputs(
      p, seq, DataOf(set.dirs, p.num_directions, &DirectionBuffers::dst), y);
  return absl::OkStatus();
}

absl::Status FusedLstm::Backward(const Problem& p, const ValidSteps& seq,
                                 const DropoutMasks& masks, const float* dy,
                                 const Grads& grads, const dnnl::engine& engine,
                                 dnnl::stream& stream) {
  LOOM_ASSIGN_OR_RETURN(PrimitiveSet * set_ptr,
                        GetPrimitiveSet(p, /*training=*/true, engine));
  PrimitiveSet& set = *set_ptr;

  recurrent::GatherOutputGrads(
      p, seq, dy,
      DataOf(set.dirs, p.num_directions, &DirectionBuffers::diff_dst));

  LOOM_RETURN_IF_ERROR(DnnlCall("LSTM backward", [&] {
    for (int k = 0; k < p.num_directions; ++k) {
      DirectionBuffers& d = set.dirs[k];
      Bind(set.user_weights, p.weights[k]);
      Bind(set.user_recurrent_weights, p.recurrent_weights[k]);
      Bind(set.user_bias, p.bias[k]);
      set.to_bwd_weights_layer.execute(stream,
                                       {{DNNL_ARG_FROM, set.user_weights},
                                        {DNNL_ARG_TO, d.bwd_weights_layer}});
      set.to_bwd_weights_iter.execute(
          stream, {{DNNL_ARG_FROM, set.user_recurrent_weights},
                   {DNNL_ARG_TO, d.bwd_weights_iter}});
      // The primitive adds to its weight gradients: start from zero, in the
      // gradient tensors themselves when the layouts allow.
      memory dwl = d.diff_weights_layer, dwi = d.diff_weights_iter,
             db = d.diff_bias;
      if (grads.weights[k] != nullptr && set.plain_diff_weights_layer) {
        Bind(set.user_diff_weights, grads.weights[k]);
        dwl = set.user_diff_weights;
      }
      if (grads.recurrent_weights[k] != nullptr &&
          set.plain_diff_weights_iter) {
        Bind(set.user_diff_recurrent_weights, grads.recurrent_weights[k]);
        dwi = set.user_diff_recurrent_weights;
      }
      if (grads.bias[k] != nullptr) {
        Bind(set.user_diff_bias, grads.bias[k]);
        db = set.user_diff_bias;
      }
      ZeroMemory(dwl);
      ZeroMemory(dwi);
      ZeroMemory(db);
      set.backward.execute(stream,
                           {{DNNL_ARG_SRC_LAYER, bf16_ ? d.src_bf16 : d.src},
                            {DNNL_ARG_SRC_ITER, set.zero_state_h},
                            {DNNL_ARG_SRC_ITER_C, set.zero_state},
                            {DNNL_ARG_DIFF_SRC_ITER, set.diff_state_h},
                            {DNNL_ARG_DIFF_SRC_ITER_C, set.diff_state_c},
                            {DNNL_ARG_WEIGHTS_LAYER, d.bwd_weights_layer},
                            {DNNL_ARG_WEIGHTS_ITER, d.bwd_weights_iter},
                            {DNNL_ARG_BIAS, set.user_bias},
                            {DNNL_ARG_DST_LAYER, bf16_ ? d.dst_bf16 : d.dst},
                            {DNNL_ARG_WORKSPACE, d.workspace},
                            {DNNL_ARG_DIFF_SRC_LAYER, d.diff_src},
                            {DNNL_ARG_DIFF_DST_LAYER, d.diff_dst},
                            {DNNL_ARG_DIFF_WEIGHTS_LAYER, dwl},
                            {DNNL_ARG_DIFF_WEIGHTS_ITER, dwi},
                            {DNNL_ARG_DIFF_BIAS, db}});
      if (grads.weights[k] != nullptr && !set.plain_diff_weights_layer) {
        Bind(set.user_diff_weights, grads.weights[k]);
        set.from_diff_weights_layer.execute(
            stream,
            {{DNNL_ARG_FROM, dwl}, {DNNL_ARG_TO, set.user_diff_weights}});
      }
      if (grads.recurrent_weights[k] != nullptr &&
          !set.plain_diff_weights_iter) {
        Bind(set.user_diff_recurrent_weights, grads.recurrent_weights[k]);
        set.from_diff_weights_iter.execute(
            stream, {{DNNL_ARG_FROM, dwi},
                     {DNNL_ARG_TO, set.user_diff_recurrent_weights}});
      }
    }
    stream.wait();
  }));
  if (grads.x == nullptr) return absl::OkStatus();

  // dx[n, t, :] = sum over directions of diff_src at t's aligned step, times
  // that direction's dropout mask; zero at masked steps.
  recurrent::ScatterInputGrads(
      p, seq, DataOf(set.dirs, p.num_directions, &DirectionBuffers::diff_src),
      {MaskOrNull(masks.input[0]), MaskOrNull(masks.input[1])}, grads.x);
  return absl::OkStatus();
}

}  // namespace lstm_internal
}  // namespace loom
