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
// Sequences: a masked step leaves the state unchanged, so the states at a
// row's valid steps are those of the recurrence run over its valid steps
// alone, in order. Each row's valid steps are therefore gathered into
// aligned steps 0..len-1 of a tnc buffer (in time order for the forward
// direction, in reverse time order for the reverse one, which makes a
// left-to-right pass over the copy a right-to-left pass over the row) and
// one unidirectional left-to-right primitive serves both directions; any
// mask works, contiguous or not. Padding comes after every valid step, so it
// cannot affect them, and its output gradient is zero, so no gradient flows
// back through it. The primitive runs over max_n len steps, not T.
// Primitives and buffers are kept per (N, steps, C, training); weights are
// reordered from the Keras layout into the layouts the primitives prefer
// once per step.
#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "framework/dnnl_util.h"
#include "framework/op.h"
#include "framework/plugin.h"
#include "framework/registry.h"

namespace loom {
namespace {

using dnnl::memory;

// ---------------------------------------------------------------------------
// Signature.

enum InputIndex {
  kX = 0,
  kKernel,
  kRecurrentKernel,
  kBias,
  kMask,
  kBackwardKernel,
  kBackwardRecurrentKernel,
  kBackwardBias,
  kNumInputs,
};

// The parameter inputs of direction k (0 = forward, 1 = reverse).
int KernelInput(int k) { return k == 0 ? kKernel : kBackwardKernel; }
int RecurrentInput(int k) {
  return k == 0 ? kRecurrentKernel : kBackwardRecurrentKernel;
}
int BiasInput(int k) { return k == 0 ? kBias : kBackwardBias; }

const char* InputName(int i) {
  static const char* const kNames[kNumInputs] = {
      "x",    "kernel",          "recurrent_kernel",          "bias",
      "mask", "backward_kernel", "backward_recurrent_kernel", "backward_bias"};
  return kNames[i];
}

enum class Direction { kForward, kBidirectionalConcat, kBidirectionalSum };

struct GruAttrs {
  int64_t units = 0;
  Direction direction = Direction::kForward;
  bool return_sequences = false;

  int num_directions() const {
    return direction == Direction::kForward ? 1 : 2;
  }
  // Width of one output step: D * H.
  int64_t output_width() const {
    return direction == Direction::kBidirectionalConcat ? 2 * units : units;
  }
};

absl::StatusOr<GruAttrs> ReadAttrs(const AttrMap& attrs) {
  GruAttrs a;
  a.units = attrs.GetInt("units");
  if (a.units < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("attribute 'units' must be positive, got ", a.units));
  }
  const std::string& direction = attrs.GetString("direction");
  if (direction == "forward") {
    a.direction = Direction::kForward;
  } else if (direction == "bidirectional_concat") {
    a.direction = Direction::kBidirectionalConcat;
  } else if (direction == "bidirectional_sum") {
    a.direction = Direction::kBidirectionalSum;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "attribute 'direction' must be \"forward\", "
        "\"bidirectional_concat\" or \"bidirectional_sum\", got \"",
        direction, "\""));
  }
  a.return_sequences = attrs.GetBool("return_sequences");
  return a;
}

// Checks input shapes against each other and the attributes. Shapes may hold
// -1 (unknown until run time); nullptr marks an absent optional input.
absl::Status CheckShapes(const GruAttrs& a,
                         const std::array<const Shape*, kNumInputs>& s) {
  const int64_t h = a.units;
  auto expect = [&](int i, const Shape& want) -> absl::Status {
    const Shape& got = *s[i];
    bool ok = got.size() == want.size();
    for (size_t d = 0; ok && d < got.size(); ++d) {
      ok = DimsCompatible(got[d], want[d]);
    }
    if (ok) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat(
        InputName(i), " has shape ", ShapeToString(got), ", expected ",
        ShapeToString(want), " (units=", h, "; ?: any size)"));
  };
  if (s[kX]->size() != 3) {
    return absl::InvalidArgumentError(absl::StrCat(
        "x must be [batch, time, channels], got ", ShapeToString(*s[kX])));
  }
  const int64_t n = (*s[kX])[0], t = (*s[kX])[1], c = (*s[kX])[2];
  const bool bidirectional = a.num_directions() == 2;
  const int given = (s[kBackwardKernel] != nullptr) +
                    (s[kBackwardRecurrentKernel] != nullptr) +
                    (s[kBackwardBias] != nullptr);
  if (bidirectional && given != 3) {
    return absl::InvalidArgumentError(
        "a bidirectional GRU needs backward_kernel, "
        "backward_recurrent_kernel and backward_bias");
  }
  if (!bidirectional && given != 0) {
    return absl::InvalidArgumentError(
        "backward_* parameters are given but direction is \"forward\"; "
        "use a bidirectional direction or leave them out");
  }
  for (int k = 0; k < a.num_directions(); ++k) {
    if (auto st = expect(KernelInput(k), {c, 3 * h}); !st.ok()) return st;
    if (auto st = expect(RecurrentInput(k), {h, 3 * h}); !st.ok()) return st;
    if (auto st = expect(BiasInput(k), {2, 3 * h}); !st.ok()) return st;
  }
  if (s[kMask] != nullptr) {
    if (auto st = expect(kMask, {n, t}); !st.ok()) return st;
  }
  return absl::OkStatus();
}

absl::Status GruShape(ShapeContext& ctx) {
  auto attrs = ReadAttrs(ctx.attrs());
  if (!attrs.ok()) return attrs.status();
  std::array<const Shape*, kNumInputs> shapes{};
  for (int i = 0; i < ctx.num_inputs() && i < kNumInputs; ++i) {
    if (ctx.input(i) == nullptr) continue;
    if (auto s = ctx.ExpectDType(i, DType::kFloat32); !s.ok()) return s;
    shapes[i] = &ctx.input(i)->shape;
  }
  if (auto s = CheckShapes(*attrs, shapes); !s.ok()) return s;
  const Shape& x = ctx.input(kX)->shape;
  const int64_t width = attrs->output_width();
  ctx.set_output(
      0, {DType::kFloat32, attrs->return_sequences ? Shape{x[0], x[1], width}
                                                   : Shape{x[0], width}});
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// One run's problem.

struct GruProblem {
  int64_t batch = 0, steps = 0, channels = 0, units = 0;
  // Steps the primitive runs: the longest row's number of valid steps.
  int64_t aligned_steps = 0;
  int num_directions = 1;
  bool concat = false;
  bool return_sequences = false;
  int64_t output_width = 0;
  const float* x = nullptr;
  std::array<const float*, 2> kernel{}, recurrent_kernel{}, bias{};

  // Column where direction k's output starts within an output step, and
  // whether it adds to what the other direction wrote (bidirectional_sum).
  int64_t output_offset(int k) const { return concat ? k * units : 0; }
  bool accumulates(int k) const { return k == 1 && !concat; }
};

// Where each row's valid steps are, and their aligned positions.
class ValidSteps {
 public:
  // Reads `mask` ([N, T], may be nullptr: every step valid).
  void Read(const Tensor* mask, int64_t batch, int64_t steps) {
    steps_ = steps;
    max_length_ = 0;
    length_.assign(batch, 0);
    times_.resize(batch * steps);
    position_.resize(batch * steps);
    const float* m = mask != nullptr ? mask->f32() : nullptr;
    for (int64_t n = 0; n < batch; ++n) {
      int32_t len = 0;
      for (int64_t t = 0; t < steps; ++t) {
        const int64_t i = n * steps + t;
        if (m != nullptr && m[i] == 0.0f) {
          position_[i] = -1;
          continue;
        }
        times_[n * steps + len] = static_cast<int32_t>(t);
        position_[i] = len++;
      }
      length_[n] = len;
      if (len > max_length_) max_length_ = len;
    }
  }

  int64_t max_length() const { return max_length_; }
  int64_t length(int64_t n) const { return length_[n]; }
  // The time step at aligned position a < length(n) for direction k
  // (forward: the a-th valid step; reverse: the a-th valid step from the
  // end).
  int64_t Time(int k, int64_t n, int64_t a) const {
    const int64_t i = k == 0 ? a : length_[n] - 1 - a;
    return times_[n * steps_ + i];
  }
  // The inverse: aligned position of time t, or -1 if t is masked.
  int64_t Position(int k, int64_t n, int64_t t) const {
    const int32_t p = position_[n * steps_ + t];
    if (p < 0) return -1;
    return k == 0 ? p : length_[n] - 1 - p;
  }

 private:
  int64_t steps_ = 0;
  int64_t max_length_ = 0;
  std::vector<int32_t> length_;
  std::vector<int32_t> times_;     // [N, T]: row n's valid steps, first len.
  std::vector<int32_t> position_;  // [N, T]: forward position, -1 masked.
};

// out[i] (+)= in[i] for i < size.
inline void CopyRow(const float* in, int64_t size, bool accumulate,
                    float* out) {
  if (accumulate) {
    for (int64_t i = 0; i < size; ++i) out[i] += in[i];
  } else {
    std::memcpy(out, in, size * sizeof(float));
  }
}

inline void ZeroRow(int64_t size, bool accumulate, float* out) {
  if (!accumulate) std::memset(out, 0, size * sizeof(float));
}

// ---------------------------------------------------------------------------
// oneDNN helpers.

// A memory whose buffer is set per call (user tensors move between steps).
memory Unbound(const memory::desc& desc, const dnnl::engine& engine) {
  return memory(desc, engine, DNNL_MEMORY_NONE);
}

void Bind(memory& m, const float* data) {
  m.set_data_handle(const_cast<float*>(data));
}

float* Data(const memory& m) {
  return static_cast<float*>(m.get_data_handle());
}

void ZeroMemory(const memory& m) {
  std::memset(m.get_data_handle(), 0, m.get_desc().get_size());
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
  absl::Status Forward(const GruProblem& p, const ValidSteps& seq,
                       bool training, const dnnl::engine& engine,
                       dnnl::stream& stream, float* y);

  // Gradients after Forward(training = true) at the same problem. Null
  // pointers are gradients not wanted. dy is [N, T, D*H] or [N, D*H].
  struct Grads {
    float* x = nullptr;
    std::array<float*, 2> kernel{}, recurrent_kernel{}, bias{};
  };
  absl::Status Backward(const GruProblem& p, const ValidSteps& seq,
                        const float* dy, const Grads& grads,
                        const dnnl::engine& engine, dnnl::stream& stream);

 private:
  // Buffers of one direction, owned by oneDNN memories.
  struct DirectionBuffers {
    memory src, dst, workspace;          // tnc activations, workspace
    memory bias;                         // oneDNN's four-gate bias, ldgo
    memory weights_layer, weights_iter;  // forward's layouts
    memory bwd_weights_layer, bwd_weights_iter;  // backward's layouts
    memory diff_src, diff_dst;
    memory diff_weights_layer, diff_weights_iter, diff_bias;
  };
  struct Plan {
    dnnl::lbr_gru_forward forward;
    dnnl::lbr_gru_backward backward;  // Training plans only.
    // Keras-layout views of user tensors, bound per call.
    memory user_kernel, user_recurrent;
    memory user_diff_kernel, user_diff_recurrent;
    dnnl::reorder to_weights_layer, to_weights_iter;
    dnnl::reorder to_bwd_weights_layer, to_bwd_weights_iter;
    dnnl::reorder from_diff_weights_layer, from_diff_weights_iter;
    std::array<DirectionBuffers, 2> dirs;
  };

  absl::StatusOr<Plan*> GetPlan(const GruProblem& p, bool training,
                                const dnnl::engine& engine);

  // (N, aligned steps, C, training) -> plan.
  absl::flat_hash_map<std::array<int64_t, 4>, std::unique_ptr<Plan>> plans_;
};

absl::StatusOr<LbrGru::Plan*> LbrGru::GetPlan(const GruProblem& p,
                                              bool training,
                                              const dnnl::engine& engine) {
  const std::array<int64_t, 4> key = {p.batch, p.aligned_steps, p.channels,
                                      training ? 1 : 0};
  if (auto it = plans_.find(key); it != plans_.end()) return it->second.get();
  auto plan = std::make_unique<Plan>();
  absl::Status status = DnnlCall("GRU setup", [&] {
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
    plan->forward = dnnl::lbr_gru_forward(fwd_pd);
    plan->user_kernel = Unbound(user_layer, engine);
    plan->user_recurrent = Unbound(user_iter, engine);
    auto make_reorder = [&](const memory::desc& from, const memory::desc& to) {
      return dnnl::reorder(
          dnnl::reorder::primitive_desc(engine, from, engine, to));
    };
    plan->to_weights_layer =
        make_reorder(user_layer, fwd_pd.weights_layer_desc());
    plan->to_weights_iter = make_reorder(user_iter, fwd_pd.weights_iter_desc());
    dnnl::lbr_gru_backward::primitive_desc bwd_pd;
    if (training) {
      bwd_pd = dnnl::lbr_gru_backward::primitive_desc(
          dnnl::lbr_gru_backward::desc(
              dnnl::prop_kind::backward, dir, src, none, any_layer, any_iter,
              bias, dst, none, src, none, any_layer, any_iter, bias, dst, none),
          engine, fwd_pd);
      plan->backward = dnnl::lbr_gru_backward(bwd_pd);
      plan->to_bwd_weights_layer =
          make_reorder(user_layer, bwd_pd.weights_layer_desc());
      plan->to_bwd_weights_iter =
          make_reorder(user_iter, bwd_pd.weights_iter_desc());
      plan->from_diff_weights_layer =
          make_reorder(bwd_pd.diff_weights_layer_desc(), user_layer);
      plan->from_diff_weights_iter =
          make_reorder(bwd_pd.diff_weights_iter_desc(), user_iter);
      plan->user_diff_kernel = Unbound(user_layer, engine);
      plan->user_diff_recurrent = Unbound(user_iter, engine);
    }
    for (int k = 0; k < p.num_directions; ++k) {
      DirectionBuffers& d = plan->dirs[k];
      d.src = memory(fwd_pd.src_layer_desc(), engine);
      d.dst = memory(fwd_pd.dst_layer_desc(), engine);
      d.bias = memory(bias, engine);
      d.weights_layer = memory(fwd_pd.weights_layer_desc(), engine);
      d.weights_iter = memory(fwd_pd.weights_iter_desc(), engine);
      if (!training) continue;
      d.workspace = memory(fwd_pd.workspace_desc(), engine);
      d.bwd_weights_layer = memory(bwd_pd.weights_layer_desc(), engine);
      d.bwd_weights_iter = memory(bwd_pd.weights_iter_desc(), engine);
      d.diff_src = memory(bwd_pd.diff_src_layer_desc(), engine);
      d.diff_dst = memory(bwd_pd.diff_dst_layer_desc(), engine);
      d.diff_weights_layer = memory(bwd_pd.diff_weights_layer_desc(), engine);
      d.diff_weights_iter = memory(bwd_pd.diff_weights_iter_desc(), engine);
      // Asked for ldgo above, so it is plain [4, H].
      d.diff_bias = memory(bias, engine);
    }
  });
  if (!status.ok()) return status;
  Plan* result = plan.get();
  plans_[key] = std::move(plan);
  return result;
}

absl::Status LbrGru::Forward(const GruProblem& p, const ValidSteps& seq,
                             bool training, const dnnl::engine& engine,
                             dnnl::stream& stream, float* y) {
  auto plan_or = GetPlan(p, training, engine);
  if (!plan_or.ok()) return plan_or.status();
  Plan& plan = **plan_or;
  const int64_t n_rows = p.batch, steps = p.steps, aligned = p.aligned_steps,
                c = p.channels, h = p.units;

  // src[a, n, :] = x[n, time(a), :], zeros after the row's valid steps.
  for (int k = 0; k < p.num_directions; ++k) {
    DirectionBuffers& d = plan.dirs[k];
    float* src = Data(d.src);
    for (int64_t n = 0; n < n_rows; ++n) {
      const int64_t len = seq.length(n);
      for (int64_t a = 0; a < aligned; ++a) {
        float* out = src + (a * n_rows + n) * c;
        if (a < len) {
          CopyRow(p.x + (n * steps + seq.Time(k, n, a)) * c, c, false, out);
        } else {
          ZeroRow(c, false, out);
        }
      }
    }
    ToDnnlBias(p.bias[k], h, Data(d.bias));
  }

  absl::Status status = DnnlCall("GRU forward", [&] {
    for (int k = 0; k < p.num_directions; ++k) {
      DirectionBuffers& d = plan.dirs[k];
      Bind(plan.user_kernel, p.kernel[k]);
      Bind(plan.user_recurrent, p.recurrent_kernel[k]);
      plan.to_weights_layer.execute(stream, {{DNNL_ARG_FROM, plan.user_kernel},
                                             {DNNL_ARG_TO, d.weights_layer}});
      plan.to_weights_iter.execute(stream,
                                   {{DNNL_ARG_FROM, plan.user_recurrent},
                                    {DNNL_ARG_TO, d.weights_iter}});
      std::unordered_map<int, memory> args = {
          {DNNL_ARG_SRC_LAYER, d.src},
          {DNNL_ARG_WEIGHTS_LAYER, d.weights_layer},
          {DNNL_ARG_WEIGHTS_ITER, d.weights_iter},
          {DNNL_ARG_BIAS, d.bias},
          {DNNL_ARG_DST_LAYER, d.dst}};
      if (training) args[DNNL_ARG_WORKSPACE] = d.workspace;
      plan.forward.execute(stream, args);
    }
    stream.wait();
  });
  if (!status.ok() || y == nullptr) return status;

  // Scatter the aligned outputs back to their time steps.
  const int64_t width = p.output_width;
  for (int k = 0; k < p.num_directions; ++k) {
    const float* dst = Data(plan.dirs[k].dst);
    const int64_t off = p.output_offset(k);
    const bool acc = p.accumulates(k);
    for (int64_t n = 0; n < n_rows; ++n) {
      const int64_t len = seq.length(n);
      if (!p.return_sequences) {
        float* out = y + n * width + off;
        if (len > 0) {
          CopyRow(dst + ((len - 1) * n_rows + n) * h, h, acc, out);
        } else {
          ZeroRow(h, acc, out);
        }
        continue;
      }
      for (int64_t t = 0; t < steps; ++t) {
        float* out = y + (n * steps + t) * width + off;
        const int64_t a = seq.Position(k, n, t);
        if (a >= 0) {
          CopyRow(dst + (a * n_rows + n) * h, h, acc, out);
        } else {
          ZeroRow(h, acc, out);
        }
      }
    }
  }
  return absl::OkStatus();
}

absl::Status LbrGru::Backward(const GruProblem& p, const ValidSteps& seq,
                              const float* dy, const Grads& grads,
                              const dnnl::engine& engine,
                              dnnl::stream& stream) {
  auto plan_or = GetPlan(p, /*training=*/true, engine);
  if (!plan_or.ok()) return plan_or.status();
  Plan& plan = **plan_or;
  const int64_t n_rows = p.batch, steps = p.steps, aligned = p.aligned_steps,
                c = p.channels, h = p.units, width = p.output_width;

  // diff_dst[a, n, :]: the output gradient at aligned step a; zero for
  // padding, and for a last-state output everywhere but step len-1.
  for (int k = 0; k < p.num_directions; ++k) {
    float* diff_dst = Data(plan.dirs[k].diff_dst);
    const int64_t off = p.output_offset(k);
    for (int64_t n = 0; n < n_rows; ++n) {
      const int64_t len = seq.length(n);
      for (int64_t a = 0; a < aligned; ++a) {
        float* out = diff_dst + (a * n_rows + n) * h;
        const float* in = nullptr;
        if (p.return_sequences && a < len) {
          in = dy + (n * steps + seq.Time(k, n, a)) * width + off;
        } else if (!p.return_sequences && a == len - 1) {
          in = dy + n * width + off;
        }
        if (in != nullptr) {
          CopyRow(in, h, false, out);
        } else {
          ZeroRow(h, false, out);
        }
      }
    }
  }

  absl::Status status = DnnlCall("GRU backward", [&] {
    for (int k = 0; k < p.num_directions; ++k) {
      DirectionBuffers& d = plan.dirs[k];
      Bind(plan.user_kernel, p.kernel[k]);
      Bind(plan.user_recurrent, p.recurrent_kernel[k]);
      plan.to_bwd_weights_layer.execute(stream,
                                        {{DNNL_ARG_FROM, plan.user_kernel},
                                         {DNNL_ARG_TO, d.bwd_weights_layer}});
      plan.to_bwd_weights_iter.execute(stream,
                                       {{DNNL_ARG_FROM, plan.user_recurrent},
                                        {DNNL_ARG_TO, d.bwd_weights_iter}});
      // The primitive adds to its weight gradients.
      ZeroMemory(d.diff_weights_layer);
      ZeroMemory(d.diff_weights_iter);
      ZeroMemory(d.diff_bias);
      plan.backward.execute(
          stream, {{DNNL_ARG_SRC_LAYER, d.src},
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
      if (grads.kernel[k] != nullptr) {
        Bind(plan.user_diff_kernel, grads.kernel[k]);
        plan.from_diff_weights_layer.execute(
            stream, {{DNNL_ARG_FROM, d.diff_weights_layer},
                     {DNNL_ARG_TO, plan.user_diff_kernel}});
      }
      if (grads.recurrent_kernel[k] != nullptr) {
        Bind(plan.user_diff_recurrent, grads.recurrent_kernel[k]);
        plan.from_diff_weights_iter.execute(
            stream, {{DNNL_ARG_FROM, d.diff_weights_iter},
                     {DNNL_ARG_TO, plan.user_diff_recurrent}});
      }
      // The reorders above read the primitive's outputs before the next
      // direction's run reuses the plan's user views.
      stream.wait();
    }
  });
  if (!status.ok()) return status;

  for (int k = 0; k < p.num_directions; ++k) {
    if (grads.bias[k] != nullptr) {
      FromDnnlBiasGrad(Data(plan.dirs[k].diff_bias), h, grads.bias[k]);
    }
  }
  if (grads.x == nullptr) return absl::OkStatus();
  // dx[n, t, :] = sum over directions of diff_src at t's aligned step; zero
  // at masked steps.
  for (int k = 0; k < p.num_directions; ++k) {
    const float* diff_src = Data(plan.dirs[k].diff_src);
    for (int64_t n = 0; n < n_rows; ++n) {
      for (int64_t t = 0; t < steps; ++t) {
        float* out = grads.x + (n * steps + t) * c;
        const int64_t a = seq.Position(k, n, t);
        if (a >= 0) {
          CopyRow(diff_src + (a * n_rows + n) * c, c, k > 0, out);
        } else {
          ZeroRow(c, k > 0, out);
        }
      }
    }
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// The op's kernel.

class GruKernel : public OpKernel {
 public:
  absl::Status Init(const KernelInitContext& init) {
    auto attrs = ReadAttrs(init.attrs);
    if (!attrs.ok()) return attrs.status();
    attrs_ = *attrs;
    return absl::OkStatus();
  }

  absl::Status Forward(KernelContext& ctx) override {
    if (auto s = ReadProblem(ctx); !s.ok()) return s;
    GruProblem& p = problem_;
    seq_.Read(ctx.num_inputs() > kMask ? ctx.input(kMask) : nullptr, p.batch,
              p.steps);
    p.aligned_steps = seq_.max_length();
    Tensor& y = *ctx.output(0);
    y.Resize(DType::kFloat32, p.return_sequences
                                  ? Shape{p.batch, p.steps, p.output_width}
                                  : Shape{p.batch, p.output_width});
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
    const GruProblem& p = problem_;
    LbrGru::Grads grads;
    auto grad = [&](int i) -> float* {
      Tensor* g = ctx.input_grad(i);
      if (g == nullptr) return nullptr;
      g->Resize(DType::kFloat32, ctx.input(i)->shape());
      return g->f32();
    };
    grads.x = grad(kX);
    for (int k = 0; k < p.num_directions; ++k) {
      grads.kernel[k] = grad(KernelInput(k));
      grads.recurrent_kernel[k] = grad(RecurrentInput(k));
      grads.bias[k] = grad(BiasInput(k));
    }
    // The mask selects steps; it has no gradient.
    if (ctx.forward().num_inputs() > kMask && ctx.input(kMask) != nullptr &&
        ctx.input_grad(kMask) != nullptr) {
      ctx.input_grad(kMask)->ResizeZeroed(DType::kFloat32,
                                          ctx.input(kMask)->shape());
    }
    const Tensor* dy = ctx.output_grad(0);
    if (dy == nullptr || p.batch == 0 || p.aligned_steps == 0) {
      for (int i = 0; i < kNumInputs && i < ctx.forward().num_inputs(); ++i) {
        if (Tensor* g = ctx.input_grad(i)) g->SetZero();
      }
      return absl::OkStatus();
    }
    if (!workspace_valid_) {
      // An inference forward keeps no workspace, and a backward pass
      // consumes it: run the training forward.
      absl::Status s = gru_.Forward(p, seq_, /*training=*/true, ctx.engine(),
                                    ctx.stream(), nullptr);
      if (!s.ok()) return s;
    }
    workspace_valid_ = false;
    return gru_.Backward(p, seq_, dy->f32(), grads, ctx.engine(), ctx.stream());
  }

 private:
  // Checks the run's tensors and fills problem_.
  absl::Status ReadProblem(KernelContext& ctx) {
    std::array<const Shape*, kNumInputs> shapes{};
    for (int i = 0; i < ctx.num_inputs() && i < kNumInputs; ++i) {
      const Tensor* t = ctx.input(i);
      if (t == nullptr) continue;
      if (t->dtype() != DType::kFloat32) {
        return absl::InvalidArgumentError(
            absl::StrCat(InputName(i), " must be float"));
      }
      shapes[i] = &t->shape();
    }
    if (shapes[kX] == nullptr || shapes[kKernel] == nullptr ||
        shapes[kRecurrentKernel] == nullptr || shapes[kBias] == nullptr) {
      return absl::InvalidArgumentError(
          "x, kernel, recurrent_kernel and bias are required");
    }
    if (auto s = CheckShapes(attrs_, shapes); !s.ok()) return s;
    GruProblem& p = problem_;
    const Tensor& x = *ctx.input(kX);
    p.batch = x.dim(0);
    p.steps = x.dim(1);
    p.channels = x.dim(2);
    p.units = attrs_.units;
    p.num_directions = attrs_.num_directions();
    p.concat = attrs_.direction == Direction::kBidirectionalConcat;
    p.return_sequences = attrs_.return_sequences;
    p.output_width = attrs_.output_width();
    p.x = x.f32();
    for (int k = 0; k < p.num_directions; ++k) {
      p.kernel[k] = ctx.input(KernelInput(k))->f32();
      p.recurrent_kernel[k] = ctx.input(RecurrentInput(k))->f32();
      p.bias[k] = ctx.input(BiasInput(k))->f32();
    }
    return absl::OkStatus();
  }

  GruAttrs attrs_;
  // The last forward run, for Backward.
  GruProblem problem_;
  ValidSteps seq_;
  // Whether the last forward was a training one whose workspace no backward
  // pass has consumed yet.
  bool workspace_valid_ = false;
  LbrGru gru_;
};

// The parameter a GRU node gets for input `input` when it leaves its
// parameters to the op, as Keras initializes them: kernel [C, 3H]
// glorot_uniform, recurrent_kernel [H, 3H] orthogonal, bias [2, 3H] zeros;
// "<node>/kernel", ... or, bidirectional, "<node>/forward/kernel", ... and
// "<node>/backward/kernel", ...
ParamSpec GruParam(int input) {
  const int k = input >= kBackwardKernel ? 1 : 0;
  const int which = input - KernelInput(k);  // 0 kernel, 1 recurrent, 2 bias.
  static const char* const kSuffix[3] = {"kernel", "recurrent_kernel", "bias"};
  static const char* const kDoc[3] = {"[C, 3H], glorot_uniform",
                                      "[H, 3H], orthogonal", "[2, 3H], zeros"};
  ParamSpec spec;
  spec.input = input;
  spec.suffix = [k, which](const AttrMap& attrs) -> std::string {
    if (attrs.GetString("direction") == "forward") {
      return k == 0 ? kSuffix[which] : "";
    }
    return absl::StrCat(k == 0 ? "forward/" : "backward/", kSuffix[which]);
  };
  spec.make =
      [which](const ShapeContext& ctx) -> absl::StatusOr<OwnedParameter> {
    auto a = ReadAttrs(ctx.attrs());
    if (!a.ok()) return a.status();
    if (a->units > (int64_t{1} << 32)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "attribute 'units' must be at most 2^32, got ", a->units));
    }
    const ValueInfo* x = ctx.input(kX);
    if (x->shape.size() != 3) {
      return absl::InvalidArgumentError(absl::StrCat(
          "x must be [batch, time, channels], got ", ShapeToString(x->shape)));
    }
    const int64_t h = a->units;
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
  spec.doc = absl::StrCat(k == 1 ? "backward: " : "", kDoc[which]);
  return spec;
}

absl::Status RegisterGruOps(OpRegistry* registry) {
  OpDef def;
  def.signature.name = "GRU";
  def.signature.doc =
      "Keras' GRU layer with reset_after=True (optionally Bidirectional), "
      "with masking; see plugins/gru/gru.cc.";
  def.signature.inputs = {
      {"x", "float [N, T, C]"},
      {"kernel", "float [C, 3H], gates z, r, h"},
      {"recurrent_kernel", "float [H, 3H], gates z, r, h"},
      {"bias", "float [2, 3H]: input bias, recurrent bias"},
      {"mask", "float [N, T], nonzero = valid step", /*optional=*/true},
      {"backward_kernel", "float [C, 3H] (bidirectional only)", true},
      {"backward_recurrent_kernel", "float [H, 3H] (bidirectional only)", true},
      {"backward_bias", "float [2, 3H] (bidirectional only)", true},
  };
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
  for (int input : {kKernel, kRecurrentKernel, kBias, kBackwardKernel,
                    kBackwardRecurrentKernel, kBackwardBias}) {
    def.params.push_back(GruParam(input));
  }
  def.kernels.push_back({"onednn", MakeKernelFactory<GruKernel>()});
  return registry->Register(std::move(def));
}

}  // namespace
}  // namespace loom

LOOM_PLUGIN("gru", loom::RegisterGruOps)
