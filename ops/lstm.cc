// LSTM: Keras' LSTM layer (tf.keras.layers.LSTM, alone or wrapped in
// Bidirectional) with its gradient, on oneDNN.
//
//   input  x:                         float [N, T, C]
//   input  kernel:                    float [C, 4H], gate blocks i, f, c, o
//   input  recurrent_kernel:          float [H, 4H]
//   input  bias:                      float [4H]
//   input  mask (optional):           float [N, T]; nonzero = valid step
//   input  backward_kernel, backward_recurrent_kernel, backward_bias
//          (optional; required iff direction is bidirectional_*): the
//          parameters of the reverse-time direction, shaped as above
//   output y: float [N, T, D*H] with return_sequences, else [N, D*H];
//          D = 2 for bidirectional_concat (forward units first), else 1
//   attrs  units (H), direction ("forward", "bidirectional_concat",
//          "bidirectional_sum"), return_sequences, dropout,
//          recurrent_dropout (both in [0, 1))
//
// Each direction computes, with h and c starting at zero,
//   z   = (x_t * dmask) kernel + (h_{t-1} * rmask) recurrent_kernel + bias
//   i, f, o = sigmoid(z_i, z_f, z_o);  g = tanh(z_c)
//   c_t = f * c_{t-1} + i * g;  h_t = o * tanh(c_t)
// The reverse direction runs from t = T-1 down to 0; its "last" state is
// the one after processing t = 0, and its outputs are stored at the time
// step they belong to, as Keras' Bidirectional does.
//
// Parameters it creates when a node gives only x (and the mask), as Keras
// initializes them: kernel [C, 4H] glorot_uniform, recurrent_kernel
// [H, 4H] orthogonal, bias [4H] zeros but the forget gate's segment
// [H, 2H) 1 (unit_forget_bias). Named "<node>/kernel", ... for "forward";
// bidirectional: "<node>/forward/kernel", ... and "<node>/backward/kernel",
// ..., as Keras' Bidirectional names its two layers.
//
// Masking: a masked step leaves h and c unchanged and outputs zeros
// (Keras' zero_output_for_mask); the last state is the state after the last
// valid step (zeros for a row without valid steps).
//
// Dropout (training only, inverted scaling by 1 / (1 - rate)): `dropout`
// draws one [N, C] mask per direction, applied to x at every time step and
// for all four gates; `recurrent_dropout` draws one [N, H] mask per
// direction, applied to h(t-1). The two directions draw their own masks,
// as Keras' two wrapped layers do. Masks come from the node's generator in
// the order: for each direction, the input mask, then the recurrent mask.
//
// Kernels:
//   "fused" (default): oneDNN lstm_forward (forward_training, keeping the
//     workspace) and lstm_backward, one unidirectional left-to-right
//     primitive per shape (N, T) used for both directions. Rows are made
//     contiguous for it: each row's valid block [s, e) is gathered into
//     aligned steps 0..len-1 of a tnc buffer, in time order for the forward
//     direction and in reverse time order for the reverse one (which makes
//     left-to-right over the copy exactly right-to-left over the row), so
//     padded steps come after every valid step and cannot affect them;
//     outputs are scattered back, and the last state is read at aligned step
//     len-1. That copy (which also applies input dropout) is needed anyway,
//     so it writes tnc, the layout oneDNN's RNN kernels are built around,
//     although 2.6 accepts ntc too. Weights are reordered from the Keras
//     layout (oneDNN's ldigo / ldgo) into the layouts the primitives prefer
//     once per step. Inference uses a forward_inference primitive; a
//     Backward after an inference forward re-runs the training one first.
//     The kernel falls back to the stepwise one for masks whose valid steps
//     are not contiguous in a row, and in training with
//     recurrent_dropout > 0 (oneDNN has no recurrent dropout).
//   "stepwise": the input projection of all steps as one oneDNN matmul
//     ([T*N, C] x [C, 4H]), then per step one recurrent matmul and the gate
//     arithmetic in one vectorized pass, with per-step masking (so any mask
//     works); backward through time with one matmul per step, and the
//     weight gradients as one large matmul each at the end.
// Both kernels keep their primitives per shape (the kMaxPlans most recently
// used shapes), and their buffers in one arena per engine, sized for the
// largest problem seen and shared by every shape's plan (Backward always
// follows the kernel's latest Forward, so no two plans need their buffers
// at once; see FusedLstm::arena_). Steps at a shape no larger than one seen
// before allocate no buffers.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
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
#include "ops/op_library.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define LOOM_LSTM_AVX2 1
#endif

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

enum class Direction { kForward, kBidirectionalConcat, kBidirectionalSum };

struct LstmAttrs {
  int64_t units = 0;
  Direction direction = Direction::kForward;
  bool return_sequences = false;
  float dropout = 0;
  float recurrent_dropout = 0;

  int num_directions() const {
    return direction == Direction::kForward ? 1 : 2;
  }
  // Width of one output step: D * H.
  int64_t output_width() const {
    return direction == Direction::kBidirectionalConcat ? 2 * units : units;
  }
};

absl::StatusOr<LstmAttrs> ReadAttrs(const AttrMap& attrs) {
  LstmAttrs a;
  a.units = attrs.GetInt("units");
  // The bound keeps 4 * units and the weights' sizes far from overflowing.
  if (a.units < 1 || a.units > (int64_t{1} << 32)) {
    return absl::InvalidArgumentError(
        absl::StrCat("attribute 'units' must be in [1, 2^32], got ", a.units));
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
  a.dropout = attrs.GetFloat("dropout");
  a.recurrent_dropout = attrs.GetFloat("recurrent_dropout");
  for (const auto& [name, rate] :
       {std::pair<const char*, float>{"dropout", a.dropout},
        {"recurrent_dropout", a.recurrent_dropout}}) {
    if (!(rate >= 0.0f && rate < 1.0f)) {
      return absl::InvalidArgumentError(
          absl::StrCat("attribute '", name, "' must be in [0, 1), got ", rate));
    }
  }
  return a;
}

const char* InputName(int i) {
  static const char* const kNames[kNumInputs] = {
      "x",    "kernel",          "recurrent_kernel",          "bias",
      "mask", "backward_kernel", "backward_recurrent_kernel", "backward_bias"};
  return kNames[i];
}

// Checks input shapes against each other and the attributes. Shapes may hold
// -1 (unknown until run time); nullptr marks an absent optional input.
absl::Status CheckShapes(const LstmAttrs& a,
                         const std::array<const Shape*, kNumInputs>& s) {
  const int64_t h = a.units;
  auto expect = [&](int i, const Shape& want) -> absl::Status {
    const Shape& got = *s[i];
    bool ok = got.size() == want.size();
    for (size_t d = 0; ok && d < got.size(); ++d) {
      ok = DimsCompatible(got[d], want[d]);
    }
    if (ok) return absl::OkStatus();
    return absl::InvalidArgumentError(
        absl::StrCat(InputName(i), " has shape ", ShapeToString(got),
                     ", expected ", ShapeToString(want), " (units=", h, ")"));
  };
  if (s[kX]->size() != 3) {
    return absl::InvalidArgumentError(absl::StrCat(
        "x must be [batch, time, channels], got ", ShapeToString(*s[kX])));
  }
  const int64_t n = (*s[kX])[0], t = (*s[kX])[1], c = (*s[kX])[2];
  const bool bidirectional = a.num_directions() == 2;
  for (int k = 0; k < 2; ++k) {
    const int ins[3] = {KernelInput(k), RecurrentInput(k), BiasInput(k)};
    if (k == 1) {
      const int given = (s[ins[0]] != nullptr) + (s[ins[1]] != nullptr) +
                        (s[ins[2]] != nullptr);
      if (bidirectional && given != 3) {
        return absl::InvalidArgumentError(
            "a bidirectional LSTM needs backward_kernel, "
            "backward_recurrent_kernel and backward_bias");
      }
      if (!bidirectional && given != 0) {
        return absl::InvalidArgumentError(
            "backward_* parameters are given but direction is \"forward\"; "
            "use a bidirectional direction or leave them out");
      }
      if (!bidirectional) break;
    }
    if (auto st = expect(ins[0], {c, 4 * h}); !st.ok()) return st;
    if (auto st = expect(ins[1], {h, 4 * h}); !st.ok()) return st;
    if (auto st = expect(ins[2], {4 * h}); !st.ok()) return st;
  }
  if (s[kMask] != nullptr) {
    if (auto st = expect(kMask, {n, t}); !st.ok()) return st;
  }
  return absl::OkStatus();
}

absl::Status LstmShape(ShapeContext& ctx) {
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

// The parameter an LSTM node gets for input `input` when it leaves its
// parameters to the op: direction k's kernel, recurrent kernel or bias.
ParamSpec LstmParam(int input) {
  const int k = input >= kBackwardKernel ? 1 : 0;
  const int which = input - KernelInput(k);  // 0 kernel, 1 recurrent, 2 bias.
  static const char* const kSuffix[3] = {"kernel", "recurrent_kernel", "bias"};
  static const char* const kDoc[3] = {
      "[C, 4H], glorot_uniform", "[H, 4H], orthogonal",
      "[4H], zeros but 1 on the forget gate's [H, 2H) (unit_forget_bias)"};
  ParamSpec spec;
  spec.input = input;
  spec.suffix = [k, which](const AttrMap& attrs) -> std::string {
    const bool bidirectional = attrs.GetString("direction") != "forward";
    if (!bidirectional) return k == 0 ? kSuffix[which] : "";
    return absl::StrCat(k == 0 ? "forward/" : "backward/", kSuffix[which]);
  };
  spec.make =
      [which](const ShapeContext& ctx) -> absl::StatusOr<OwnedParameter> {
    auto a = ReadAttrs(ctx.attrs());
    if (!a.ok()) return a.status();
    const ValueInfo* x = ctx.input(kX);
    if (x->shape.size() != 3) {
      return absl::InvalidArgumentError(absl::StrCat(
          "x must be [batch, time, channels], got ", ShapeToString(x->shape)));
    }
    const int64_t h = a->units;
    OwnedParameter p;
    switch (which) {
      case 0:
        p.shape = {x->shape[2], 4 * h};
        p.initializer.mutable_glorot_uniform();
        break;
      case 1:
        p.shape = {h, 4 * h};
        p.initializer.mutable_orthogonal();
        break;
      default: {
        p.shape = {4 * h};
        auto* segment = p.initializer.mutable_segments()->add_segment();
        segment->set_begin(h);
        segment->set_end(2 * h);
        segment->set_value(1.0f);
      }
    }
    return p;
  };
  spec.doc =
      absl::StrCat(input >= kBackwardKernel ? "backward: " : "", kDoc[which]);
  return spec;
}

// ---------------------------------------------------------------------------
// One run's problem, shared by both kernels.

struct LstmProblem {
  int64_t batch = 0, steps = 0, channels = 0, units = 0;
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

// Where each row's valid steps are.
class SequenceInfo {
 public:
  // Reads `mask` ([N, T], may be nullptr: every step valid).
  void Read(const Tensor* mask, int64_t batch, int64_t steps) {
    batch_ = batch;
    steps_ = steps;
    has_mask_ = mask != nullptr;
    contiguous_ = true;
    begin_.assign(batch, 0);
    end_.assign(batch, static_cast<int32_t>(steps));
    valid_.clear();
    if (!has_mask_) return;
    valid_.resize(batch * steps);
    const float* m = mask->f32();
    for (int64_t n = 0; n < batch; ++n) {
      int64_t first = -1, last = -1, count = 0;
      for (int64_t t = 0; t < steps; ++t) {
        const bool v = m[n * steps + t] != 0.0f;
        valid_[n * steps + t] = v;
        if (!v) continue;
        if (first < 0) first = t;
        last = t;
        ++count;
      }
      if (count == 0) {
        begin_[n] = end_[n] = 0;
        continue;
      }
      begin_[n] = static_cast<int32_t>(first);
      end_[n] = static_cast<int32_t>(last + 1);
      if (count != last + 1 - first) contiguous_ = false;
    }
  }

  bool contiguous() const { return contiguous_; }
  bool valid(int64_t n, int64_t t) const {
    return !has_mask_ || valid_[n * steps_ + t] != 0;
  }
  // For contiguous masks: the number of valid steps of row n, and the time
  // step at aligned position a < length(n) for direction k (forward: time
  // order from the first valid step; reverse: backwards from the last).
  int64_t length(int64_t n) const { return end_[n] - begin_[n]; }
  int64_t AlignedTime(int k, int64_t n, int64_t a) const {
    return k == 0 ? begin_[n] + a : end_[n] - 1 - a;
  }
  // The inverse: aligned position of time t, or -1 if t is not valid.
  int64_t AlignedPosition(int k, int64_t n, int64_t t) const {
    if (t < begin_[n] || t >= end_[n]) return -1;
    return k == 0 ? t - begin_[n] : end_[n] - 1 - t;
  }

 private:
  int64_t batch_ = 0, steps_ = 0;
  bool has_mask_ = false;
  bool contiguous_ = true;
  std::vector<int32_t> begin_, end_;
  std::vector<uint8_t> valid_;
};

// Dropout masks of the current step, scaled by 1 / (1 - rate); empty when
// that dropout is inactive.
struct DropoutMasks {
  std::array<std::vector<float>, 2> input;      // [N, C] per direction.
  std::array<std::vector<float>, 2> recurrent;  // [N, H] per direction.
};

// A uniform draw in [0, 1) from the top 53 bits, the same on every standard
// library (as the Dropout op draws).
double Uniform(std::mt19937_64& rng) {
  return static_cast<double>(rng() >> 11) * 0x1.0p-53;
}

void DrawMask(float rate, int64_t size, std::mt19937_64& rng,
              std::vector<float>* mask) {
  mask->resize(size);
  const float scale = 1.0f / (1.0f - rate);
  for (float& m : *mask) m = Uniform(rng) >= rate ? scale : 0.0f;
}

// Elementwise loops on float rows, vectorized by hand where the build
// allows: GCC's -O2 leaves loops of unknown length scalar.

// out[i] = a[i] * b[i] + (c == nullptr ? 0 : c[i]); out may alias a or c.
inline void MulAdd(const float* a, const float* b, const float* c, int64_t n,
                   float* out) {
  int64_t i = 0;
#ifdef LOOM_LSTM_AVX2
  for (; i + 8 <= n; i += 8) {
    const __m256 ab =
        _mm256_mul_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
    _mm256_storeu_ps(
        out + i, c == nullptr ? ab : _mm256_add_ps(ab, _mm256_loadu_ps(c + i)));
  }
#endif
  for (; i < n; ++i) out[i] = a[i] * b[i] + (c == nullptr ? 0.0f : c[i]);
}

// out[i] += a[i].
inline void AddTo(const float* a, int64_t n, float* out) {
  int64_t i = 0;
#ifdef LOOM_LSTM_AVX2
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(out + i, _mm256_add_ps(_mm256_loadu_ps(out + i),
                                            _mm256_loadu_ps(a + i)));
  }
#endif
  for (; i < n; ++i) out[i] += a[i];
}

// out[i] (+)= in[i] * scale[i] (scale may be nullptr: 1).
inline void CopyRow(const float* in, const float* scale, int64_t size,
                    bool accumulate, float* out) {
  if (scale != nullptr) {
    MulAdd(in, scale, accumulate ? out : nullptr, size, out);
  } else if (accumulate) {
    AddTo(in, size, out);
  } else {
    std::memcpy(out, in, size * sizeof(float));
  }
}

inline void ZeroRow(int64_t size, bool accumulate, float* out) {
  if (!accumulate) std::memset(out, 0, size * sizeof(float));
}

const float* MaskOrNull(const std::vector<float>& mask) {
  return mask.empty() ? nullptr : mask.data();
}

// ---------------------------------------------------------------------------
// Gate arithmetic, vectorized with AVX2 where the build allows.

inline float Sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

#ifdef LOOM_LSTM_AVX2
// exp(x) to about 1 ulp: Cephes' expf (range reduction by ln 2, degree-6
// polynomial, scaling by 2^n through the exponent bits).
inline __m256 Exp8(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.0f)),
                    _mm256_set1_ps(88.0f));
  const __m256 n =
      _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                      _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r);
  p = _mm256_add_ps(p, _mm256_set1_ps(1.0f));
  const __m256i e = _mm256_slli_epi32(
      _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

inline __m256 Sigmoid8(__m256 x) {
  const __m256 one = _mm256_set1_ps(1.0f);
  return _mm256_div_ps(
      one, _mm256_add_ps(one, Exp8(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}

// tanh(x) = 2 sigmoid(2x) - 1.
inline __m256 Tanh8(__m256 x) {
  const __m256 two = _mm256_set1_ps(2.0f);
  return _mm256_fmsub_ps(two, Sigmoid8(_mm256_mul_ps(two, x)),
                         _mm256_set1_ps(1.0f));
}
#endif  // LOOM_LSTM_AVX2

// One row of a forward step: z [4H] holds the pre-activations (blocks i, f,
// c, o) and receives the activations; c_prev/c_out and h_out are [H].
void CellForwardRow(int64_t h, float* z, const float* c_prev, float* c_out,
                    float* h_out) {
  float* zi = z;
  float* zf = z + h;
  float* zg = z + 2 * h;
  float* zo = z + 3 * h;
  int64_t j = 0;
#ifdef LOOM_LSTM_AVX2
  for (; j + 8 <= h; j += 8) {
    const __m256 i = Sigmoid8(_mm256_loadu_ps(zi + j));
    const __m256 f = Sigmoid8(_mm256_loadu_ps(zf + j));
    const __m256 g = Tanh8(_mm256_loadu_ps(zg + j));
    const __m256 o = Sigmoid8(_mm256_loadu_ps(zo + j));
    const __m256 c =
        _mm256_fmadd_ps(f, _mm256_loadu_ps(c_prev + j), _mm256_mul_ps(i, g));
    _mm256_storeu_ps(zi + j, i);
    _mm256_storeu_ps(zf + j, f);
    _mm256_storeu_ps(zg + j, g);
    _mm256_storeu_ps(zo + j, o);
    _mm256_storeu_ps(c_out + j, c);
    _mm256_storeu_ps(h_out + j, _mm256_mul_ps(o, Tanh8(c)));
  }
#endif
  for (; j < h; ++j) {
    const float i = Sigmoid(zi[j]), f = Sigmoid(zf[j]);
    const float g = std::tanh(zg[j]), o = Sigmoid(zo[j]);
    const float c = f * c_prev[j] + i * g;
    zi[j] = i;
    zf[j] = f;
    zg[j] = g;
    zo[j] = o;
    c_out[j] = c;
    h_out[j] = o * std::tanh(c);
  }
}

// One row of a backward step. `gates` [4H] holds the activations and
// receives the pre-activation gradients; c and c_prev are the cell states
// after and before the step; dh [H] is the gradient of h after the step
// (dy, when not nullptr, adds to it); dc [H] is the gradient of c after the
// step on entry and before it on return; db [4H] accumulates the gate
// gradients.
void CellBackwardRow(int64_t h, float* gates, const float* c,
                     const float* c_prev, const float* dh, const float* dy,
                     float* dc, float* db) {
  float* gi = gates;
  float* gf = gates + h;
  float* gg = gates + 2 * h;
  float* go = gates + 3 * h;
  int64_t j = 0;
#ifdef LOOM_LSTM_AVX2
  const __m256 one = _mm256_set1_ps(1.0f);
  for (; j + 8 <= h; j += 8) {
    const __m256 i = _mm256_loadu_ps(gi + j);
    const __m256 f = _mm256_loadu_ps(gf + j);
    const __m256 g = _mm256_loadu_ps(gg + j);
    const __m256 o = _mm256_loadu_ps(go + j);
    const __m256 tc = Tanh8(_mm256_loadu_ps(c + j));
    __m256 dhv = _mm256_loadu_ps(dh + j);
    if (dy != nullptr) dhv = _mm256_add_ps(dhv, _mm256_loadu_ps(dy + j));
    // dcs = dc + dh * o * (1 - tc^2)
    const __m256 dcs =
        _mm256_fmadd_ps(_mm256_mul_ps(dhv, o), _mm256_fnmadd_ps(tc, tc, one),
                        _mm256_loadu_ps(dc + j));
    const __m256 dzi = _mm256_mul_ps(_mm256_mul_ps(dcs, g),
                                     _mm256_mul_ps(i, _mm256_sub_ps(one, i)));
    const __m256 dzf =
        _mm256_mul_ps(_mm256_mul_ps(dcs, _mm256_loadu_ps(c_prev + j)),
                      _mm256_mul_ps(f, _mm256_sub_ps(one, f)));
    const __m256 dzg =
        _mm256_mul_ps(_mm256_mul_ps(dcs, i), _mm256_fnmadd_ps(g, g, one));
    const __m256 dzo = _mm256_mul_ps(_mm256_mul_ps(dhv, tc),
                                     _mm256_mul_ps(o, _mm256_sub_ps(one, o)));
    _mm256_storeu_ps(dc + j, _mm256_mul_ps(dcs, f));
    _mm256_storeu_ps(gi + j, dzi);
    _mm256_storeu_ps(gf + j, dzf);
    _mm256_storeu_ps(gg + j, dzg);
    _mm256_storeu_ps(go + j, dzo);
    _mm256_storeu_ps(db + j, _mm256_add_ps(_mm256_loadu_ps(db + j), dzi));
    _mm256_storeu_ps(db + h + j,
                     _mm256_add_ps(_mm256_loadu_ps(db + h + j), dzf));
    _mm256_storeu_ps(db + 2 * h + j,
                     _mm256_add_ps(_mm256_loadu_ps(db + 2 * h + j), dzg));
    _mm256_storeu_ps(db + 3 * h + j,
                     _mm256_add_ps(_mm256_loadu_ps(db + 3 * h + j), dzo));
  }
#endif
  for (; j < h; ++j) {
    const float i = gi[j], f = gf[j], g = gg[j], o = go[j];
    const float tc = std::tanh(c[j]);
    const float dhv = dh[j] + (dy != nullptr ? dy[j] : 0.0f);
    const float dcs = dc[j] + dhv * o * (1.0f - tc * tc);
    const float dzi = dcs * g * i * (1.0f - i);
    const float dzf = dcs * c_prev[j] * f * (1.0f - f);
    const float dzg = dcs * i * (1.0f - g * g);
    const float dzo = dhv * tc * o * (1.0f - o);
    dc[j] = dcs * f;
    gi[j] = dzi;
    gf[j] = dzf;
    gg[j] = dzg;
    go[j] = dzo;
    db[j] += dzi;
    db[h + j] += dzf;
    db[2 * h + j] += dzg;
    db[3 * h + j] += dzo;
  }
}

// ---------------------------------------------------------------------------
// oneDNN helpers.

// A row-major [rows, cols] matrix, or the transposed view of a row-major
// [cols, rows] one.
memory::desc MatrixDesc(int64_t rows, int64_t cols, bool transposed = false) {
  return transposed ? memory::desc({rows, cols}, memory::data_type::f32,
                                   memory::dims{1, rows})
                    : memory::desc({rows, cols}, memory::data_type::f32,
                                   memory::dims{cols, 1});
}

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

// ---------------------------------------------------------------------------
// Buffer memory shared by the plans of one engine.

constexpr size_t kBufferAlignment = 64;

size_t AlignUp(size_t bytes) {
  return (bytes + kBufferAlignment - 1) / kBufferAlignment * kBufferAlignment;
}

// Offsets of buffers within one block, each kBufferAlignment-aligned.
class BufferLayout {
 public:
  size_t Add(size_t bytes) {
    const size_t offset = size_;
    size_ += AlignUp(bytes);
    return offset;
  }
  size_t AddFloats(int64_t count) { return Add(count * sizeof(float)); }
  size_t size() const { return size_; }

 private:
  size_t size_ = 0;
};

// One kBufferAlignment-aligned block, grown (never shrunk) to the largest
// size asked for, so an engine holds the buffers of its largest problem
// rather than the sum over every shape it has seen. Growing discards the
// contents; with `zeroed`, the block is all zeros after growing (for
// buffers nothing writes to).
class Arena {
 public:
  explicit Arena(bool zeroed = false) : zeroed_(zeroed) {}

  // The block, at least `bytes` long; the same block, contents kept, as long
  // as no larger size was asked for since. nullptr if allocation failed.
  char* Reserve(size_t bytes) {
    if (bytes <= size_ && data_ != nullptr) return data_.get();
    data_.reset();  // Not needed any more: keep the peak down.
    size_ = 0;
    const size_t size = AlignUp(std::max<size_t>(bytes, 1));
    data_.reset(static_cast<char*>(std::aligned_alloc(kBufferAlignment, size)));
    if (data_ == nullptr) return nullptr;
    size_ = size;
    if (zeroed_) std::memset(data_.get(), 0, size_);
    return data_.get();
  }

 private:
  struct Free {
    void operator()(char* p) const { std::free(p); }
  };
  const bool zeroed_;
  std::unique_ptr<char, Free> data_;
  size_t size_ = 0;
};

absl::Status OutOfMemory(size_t bytes) {
  return absl::ResourceExhaustedError(
      absl::StrCat("LSTM: cannot allocate ", bytes, " bytes of buffers"));
}

// Plans are cached per shape, least recently used first out beyond this
// many per engine; a training run sees about 6 shapes (full and last partial
// batch of training, validation and test), so the rest are rebuilt (their
// primitives only: buffers live in the arenas) at most a few times per
// epoch.
constexpr size_t kMaxPlans = 4;

// Removes the least recently used entry of `plans` (values are
// unique_ptrs to something with a `last_use` stamp) if it is full, to make
// room for one more. Called before inserting a new plan only, so the plan
// in use is never the one removed.
template <typename Map>
void EvictIfFull(Map& plans) {
  if (plans.size() < kMaxPlans) return;
  auto oldest = plans.begin();
  for (auto it = plans.begin(); it != plans.end(); ++it) {
    if (it->second->last_use < oldest->second->last_use) oldest = it;
  }
  plans.erase(oldest);
}

// Where Backward writes gradients; nullptr for gradients not wanted.
struct LstmGrads {
  float* x = nullptr;
  std::array<float*, 2> kernel{}, recurrent_kernel{}, bias{};
};

// ---------------------------------------------------------------------------
// The fused kernel's engine: oneDNN's LSTM primitives on aligned copies.

class FusedLstm {
 public:
  // Runs forward. `training` keeps the workspace for Backward(). With
  // y == nullptr the outputs are not written (Backward re-running a
  // training forward after an inference one).
  absl::Status Forward(const LstmProblem& p, const SequenceInfo& seq,
                       const DropoutMasks& masks, bool training,
                       const dnnl::engine& engine, dnnl::stream& stream,
                       float* y);

  // Gradients after Forward(training = true) at the same problem, with no
  // other call of this object in between (see arena_). dy is [N, T, D*H] or
  // [N, D*H].
  absl::Status Backward(const LstmProblem& p, const SequenceInfo& seq,
                        const DropoutMasks& masks, const float* dy,
                        const LstmGrads& grads, const dnnl::engine& engine,
                        dnnl::stream& stream);

 private:
  // Buffers of one direction: unbound memories, pointed into arena_.
  struct DirectionBuffers {
    memory src, dst, workspace;                  // tnc activations, workspace
    memory weights_layer, weights_iter;          // forward primitive's layouts
    memory bwd_weights_layer, bwd_weights_iter;  // backward's layouts
    memory diff_src, diff_dst;
    memory diff_weights_layer, diff_weights_iter, diff_bias;  // scratch
  };
  struct Plan {
    dnnl::lstm_forward forward;
    dnnl::lstm_backward backward;  // Training plans only.
    // The initial h and c (zeros), passed explicitly: with src_iter left
    // out, oneDNN 2.6.3's lstm_backward gets diff_weights_iter wrong. And
    // the initial states' gradients, which nothing reads.
    memory zero_state, diff_state_h, diff_state_c;
    // Keras-layout views of user tensors, bound per call.
    memory user_kernel, user_recurrent, user_bias;
    memory user_diff_kernel, user_diff_recurrent, user_diff_bias;
    dnnl::reorder to_weights_layer, to_weights_iter;
    dnnl::reorder to_bwd_weights_layer, to_bwd_weights_iter;
    dnnl::reorder from_diff_weights_layer, from_diff_weights_iter;
    // Whether the backward primitive's weight-gradient layouts are the
    // Keras ones (then it writes straight into the gradient tensors).
    bool plain_diff_weights_layer = false, plain_diff_weights_iter = false;
    std::array<DirectionBuffers, 2> dirs;
    // Where each buffer above lives in arena_ (zero_state: in zeros_), the
    // bytes the plan needs there, and the blocks its memories point into
    // now (nullptr: not bound yet).
    std::vector<std::pair<memory*, size_t>> slices;
    size_t bytes = 0;
    size_t zero_bytes = 0;
    const char* bound = nullptr;
    const char* bound_zeros = nullptr;
    uint64_t last_use = 0;
  };

  // The plan of problem p, its buffers bound to the arenas (grown if need
  // be). The plan and its buffers stay valid until the next call.
  absl::StatusOr<Plan*> GetPlan(const LstmProblem& p, bool training,
                                const dnnl::engine& engine);

  // (N, T, training) -> plan, at most kMaxPlans of them.
  absl::flat_hash_map<std::array<int64_t, 3>, std::unique_ptr<Plan>> plans_;
  uint64_t clock_ = 0;
  // The buffers of every plan, one plan at a time: each call binds its
  // plan's memories here, so a call may overwrite whatever an earlier call
  // at another shape left. That is safe because the only state that must
  // outlive a call, a training forward's activations and workspace, is
  // read only by the Backward that follows it, and LstmKernel makes no
  // other call of this object in between (Backward always follows the
  // kernel's latest Forward; after an inference Forward it re-runs the
  // training one first). The training plan reserves its backward buffers
  // too, so Backward never grows (and so clears) the arena.
  Arena arena_;
  Arena zeros_{/*zeroed=*/true};  // Read-only zeros (initial states).
};

absl::StatusOr<FusedLstm::Plan*> FusedLstm::GetPlan(
    const LstmProblem& p, bool training, const dnnl::engine& engine) {
  const std::array<int64_t, 3> key = {p.batch, p.steps, training ? 1 : 0};
  Plan* plan = nullptr;
  if (auto it = plans_.find(key); it != plans_.end()) {
    plan = it->second.get();
  } else {
    auto created = std::make_unique<Plan>();
    absl::Status status = DnnlCall("LSTM setup", [&] {
      using Tag = memory::format_tag;
      const auto f32 = memory::data_type::f32;
      const int64_t n = p.batch, t = p.steps, c = p.channels, h = p.units;
      const memory::desc src({t, n, c}, f32, Tag::tnc);
      const memory::desc dst({t, n, h}, f32, Tag::tnc);
      const memory::desc any_layer({1, 1, c, 4, h}, f32, Tag::any);
      const memory::desc any_iter({1, 1, h, 4, h}, f32, Tag::any);
      const memory::desc user_layer({1, 1, c, 4, h}, f32, Tag::ldigo);
      const memory::desc user_iter({1, 1, h, 4, h}, f32, Tag::ldigo);
      const memory::desc bias({1, 1, 4, h}, f32, Tag::ldgo);
      const memory::desc state({1, 1, n, h}, f32, Tag::ldnc);
      const memory::desc none;
      const auto prop = training ? dnnl::prop_kind::forward_training
                                 : dnnl::prop_kind::forward_inference;
      const auto dir = dnnl::rnn_direction::unidirectional_left2right;
      BufferLayout layout;
      // An unbound memory for a buffer of the arena.
      auto slice = [&](memory* m, const memory::desc& desc) {
        *m = Unbound(desc, engine);
        created->slices.emplace_back(m, layout.Add(desc.get_size()));
      };
      const dnnl::lstm_forward::primitive_desc fwd_pd(
          dnnl::lstm_forward::desc(prop, dir, src, state, state, any_layer,
                                   any_iter, bias, dst, none, none),
          engine);
      created->forward = dnnl::lstm_forward(fwd_pd);
      created->zero_state = Unbound(state, engine);
      created->zero_bytes = state.get_size();
      created->user_kernel = Unbound(user_layer, engine);
      created->user_recurrent = Unbound(user_iter, engine);
      created->user_bias = Unbound(bias, engine);
      auto make_reorder = [&](const memory::desc& from,
                              const memory::desc& to) {
        return dnnl::reorder(
            dnnl::reorder::primitive_desc(engine, from, engine, to));
      };
      created->to_weights_layer =
          make_reorder(user_layer, fwd_pd.weights_layer_desc());
      created->to_weights_iter =
          make_reorder(user_iter, fwd_pd.weights_iter_desc());
      dnnl::lstm_backward::primitive_desc bwd_pd;
      if (training) {
        bwd_pd = dnnl::lstm_backward::primitive_desc(
            dnnl::lstm_backward::desc(
                dnnl::prop_kind::backward, dir, src, state, state, any_layer,
                any_iter, bias, dst, none, none, src, state, state, any_layer,
                any_iter, bias, dst, none, none),
            engine, fwd_pd);
        created->backward = dnnl::lstm_backward(bwd_pd);
        created->to_bwd_weights_layer =
            make_reorder(user_layer, bwd_pd.weights_layer_desc());
        created->to_bwd_weights_iter =
            make_reorder(user_iter, bwd_pd.weights_iter_desc());
        created->plain_diff_weights_layer =
            bwd_pd.diff_weights_layer_desc() == user_layer;
        created->plain_diff_weights_iter =
            bwd_pd.diff_weights_iter_desc() == user_iter;
        created->from_diff_weights_layer =
            make_reorder(bwd_pd.diff_weights_layer_desc(), user_layer);
        created->from_diff_weights_iter =
            make_reorder(bwd_pd.diff_weights_iter_desc(), user_iter);
        created->user_diff_kernel = Unbound(user_layer, engine);
        created->user_diff_recurrent = Unbound(user_iter, engine);
        created->user_diff_bias = Unbound(bias, engine);
        slice(&created->diff_state_h, state);
        slice(&created->diff_state_c, state);
      }
      for (int k = 0; k < p.num_directions; ++k) {
        DirectionBuffers& d = created->dirs[k];
        slice(&d.src, fwd_pd.src_layer_desc());
        slice(&d.dst, fwd_pd.dst_layer_desc());
        slice(&d.weights_layer, fwd_pd.weights_layer_desc());
        slice(&d.weights_iter, fwd_pd.weights_iter_desc());
        if (!training) continue;
        slice(&d.workspace, fwd_pd.workspace_desc());
        slice(&d.bwd_weights_layer, bwd_pd.weights_layer_desc());
        slice(&d.bwd_weights_iter, bwd_pd.weights_iter_desc());
        slice(&d.diff_src, bwd_pd.diff_src_layer_desc());
        slice(&d.diff_dst, bwd_pd.diff_dst_layer_desc());
        slice(&d.diff_weights_layer, bwd_pd.diff_weights_layer_desc());
        slice(&d.diff_weights_iter, bwd_pd.diff_weights_iter_desc());
        slice(&d.diff_bias, bwd_pd.diff_bias_desc());
      }
      created->bytes = layout.size();
    });
    if (!status.ok()) return status;
    EvictIfFull(plans_);
    plan = created.get();
    plans_[key] = std::move(created);
  }
  plan->last_use = ++clock_;

  char* base = arena_.Reserve(plan->bytes);
  if (base == nullptr) return OutOfMemory(plan->bytes);
  char* zeros = zeros_.Reserve(plan->zero_bytes);
  if (zeros == nullptr) return OutOfMemory(plan->zero_bytes);
  if (base == plan->bound && zeros == plan->bound_zeros) return plan;
  absl::Status status = DnnlCall("LSTM buffer binding", [&] {
    if (base != plan->bound) {
      for (auto& [m, offset] : plan->slices) m->set_data_handle(base + offset);
    }
    if (zeros != plan->bound_zeros) plan->zero_state.set_data_handle(zeros);
  });
  if (!status.ok()) return status;
  plan->bound = base;
  plan->bound_zeros = zeros;
  return plan;
}

absl::Status FusedLstm::Forward(const LstmProblem& p, const SequenceInfo& seq,
                                const DropoutMasks& masks, bool training,
                                const dnnl::engine& engine,
                                dnnl::stream& stream, float* y) {
  auto plan_or = GetPlan(p, training, engine);
  if (!plan_or.ok()) return plan_or.status();
  Plan& plan = **plan_or;
  const int64_t n_rows = p.batch, steps = p.steps, c = p.channels, h = p.units;

  // src[a, n, :] = x[n, time(a), :] * dropout, zeros after the valid block.
  // Rows outermost, so each row of x is read from memory once.
  for (int64_t n = 0; n < n_rows; ++n) {
    const int64_t len = seq.length(n);
    for (int k = 0; k < p.num_directions; ++k) {
      float* src = Data(plan.dirs[k].src);
      const float* drop = MaskOrNull(masks.input[k]);
      const float* scale = drop != nullptr ? drop + n * c : nullptr;
      for (int64_t a = 0; a < steps; ++a) {
        float* out = src + (a * n_rows + n) * c;
        if (a < len) {
          const int64_t t = seq.AlignedTime(k, n, a);
          CopyRow(p.x + (n * steps + t) * c, scale, c, false, out);
        } else {
          ZeroRow(c, false, out);
        }
      }
    }
  }

  absl::Status status = DnnlCall("LSTM forward", [&] {
    for (int k = 0; k < p.num_directions; ++k) {
      DirectionBuffers& d = plan.dirs[k];
      Bind(plan.user_kernel, p.kernel[k]);
      Bind(plan.user_recurrent, p.recurrent_kernel[k]);
      Bind(plan.user_bias, p.bias[k]);
      plan.to_weights_layer.execute(stream, {{DNNL_ARG_FROM, plan.user_kernel},
                                             {DNNL_ARG_TO, d.weights_layer}});
      plan.to_weights_iter.execute(stream,
                                   {{DNNL_ARG_FROM, plan.user_recurrent},
                                    {DNNL_ARG_TO, d.weights_iter}});
      std::unordered_map<int, memory> args = {
          {DNNL_ARG_SRC_LAYER, d.src},
          {DNNL_ARG_SRC_ITER, plan.zero_state},
          {DNNL_ARG_SRC_ITER_C, plan.zero_state},
          {DNNL_ARG_WEIGHTS_LAYER, d.weights_layer},
          {DNNL_ARG_WEIGHTS_ITER, d.weights_iter},
          {DNNL_ARG_BIAS, plan.user_bias},
          {DNNL_ARG_DST_LAYER, d.dst}};
      if (training) args[DNNL_ARG_WORKSPACE] = d.workspace;
      plan.forward.execute(stream, args);
    }
    stream.wait();
  });
  if (!status.ok() || y == nullptr) return status;

  // Scatter the aligned outputs back to their time steps.
  const int64_t width = p.output_width;
  for (int64_t n = 0; n < n_rows; ++n) {
    const int64_t len = seq.length(n);
    for (int k = 0; k < p.num_directions; ++k) {
      const float* dst = Data(plan.dirs[k].dst);
      const int64_t off = p.output_offset(k);
      const bool acc = p.accumulates(k);
      if (!p.return_sequences) {
        float* out = y + n * width + off;
        if (len > 0) {
          CopyRow(dst + ((len - 1) * n_rows + n) * h, nullptr, h, acc, out);
        } else {
          ZeroRow(h, acc, out);
        }
        continue;
      }
      for (int64_t t = 0; t < steps; ++t) {
        float* out = y + (n * steps + t) * width + off;
        const int64_t a = seq.AlignedPosition(k, n, t);
        if (a >= 0) {
          CopyRow(dst + (a * n_rows + n) * h, nullptr, h, acc, out);
        } else {
          ZeroRow(h, acc, out);
        }
      }
    }
  }
  return absl::OkStatus();
}

absl::Status FusedLstm::Backward(const LstmProblem& p, const SequenceInfo& seq,
                                 const DropoutMasks& masks, const float* dy,
                                 const LstmGrads& grads,
                                 const dnnl::engine& engine,
                                 dnnl::stream& stream) {
  auto plan_or = GetPlan(p, /*training=*/true, engine);
  if (!plan_or.ok()) return plan_or.status();
  Plan& plan = **plan_or;
  const int64_t n_rows = p.batch, steps = p.steps, c = p.channels, h = p.units,
                width = p.output_width;

  // diff_dst[a, n, :]: the output gradient at aligned step a; zero for
  // padding, and for a last-state output everywhere but step len-1.
  for (int64_t n = 0; n < n_rows; ++n) {
    const int64_t len = seq.length(n);
    for (int k = 0; k < p.num_directions; ++k) {
      float* diff_dst = Data(plan.dirs[k].diff_dst);
      const int64_t off = p.output_offset(k);
      for (int64_t a = 0; a < steps; ++a) {
        float* out = diff_dst + (a * n_rows + n) * h;
        const float* in = nullptr;
        if (p.return_sequences && a < len) {
          in = dy + (n * steps + seq.AlignedTime(k, n, a)) * width + off;
        } else if (!p.return_sequences && a == len - 1) {
          in = dy + n * width + off;
        }
        if (in != nullptr) {
          CopyRow(in, nullptr, h, false, out);
        } else {
          ZeroRow(h, false, out);
        }
      }
    }
  }

  absl::Status status = DnnlCall("LSTM backward", [&] {
    for (int k = 0; k < p.num_directions; ++k) {
      DirectionBuffers& d = plan.dirs[k];
      Bind(plan.user_kernel, p.kernel[k]);
      Bind(plan.user_recurrent, p.recurrent_kernel[k]);
      Bind(plan.user_bias, p.bias[k]);
      plan.to_bwd_weights_layer.execute(stream,
                                        {{DNNL_ARG_FROM, plan.user_kernel},
                                         {DNNL_ARG_TO, d.bwd_weights_layer}});
      plan.to_bwd_weights_iter.execute(stream,
                                       {{DNNL_ARG_FROM, plan.user_recurrent},
                                        {DNNL_ARG_TO, d.bwd_weights_iter}});
      // The primitive adds to its weight gradients: start from zero, in the
      // gradient tensors themselves when the layouts allow.
      memory dwl = d.diff_weights_layer, dwi = d.diff_weights_iter,
             db = d.diff_bias;
      if (grads.kernel[k] != nullptr && plan.plain_diff_weights_layer) {
        Bind(plan.user_diff_kernel, grads.kernel[k]);
        dwl = plan.user_diff_kernel;
      }
      if (grads.recurrent_kernel[k] != nullptr &&
          plan.plain_diff_weights_iter) {
        Bind(plan.user_diff_recurrent, grads.recurrent_kernel[k]);
        dwi = plan.user_diff_recurrent;
      }
      if (grads.bias[k] != nullptr) {
        Bind(plan.user_diff_bias, grads.bias[k]);
        db = plan.user_diff_bias;
      }
      ZeroMemory(dwl);
      ZeroMemory(dwi);
      ZeroMemory(db);
      plan.backward.execute(stream,
                            {{DNNL_ARG_SRC_LAYER, d.src},
                             {DNNL_ARG_SRC_ITER, plan.zero_state},
                             {DNNL_ARG_SRC_ITER_C, plan.zero_state},
                             {DNNL_ARG_DIFF_SRC_ITER, plan.diff_state_h},
                             {DNNL_ARG_DIFF_SRC_ITER_C, plan.diff_state_c},
                             {DNNL_ARG_WEIGHTS_LAYER, d.bwd_weights_layer},
                             {DNNL_ARG_WEIGHTS_ITER, d.bwd_weights_iter},
                             {DNNL_ARG_BIAS, plan.user_bias},
                             {DNNL_ARG_DST_LAYER, d.dst},
                             {DNNL_ARG_WORKSPACE, d.workspace},
                             {DNNL_ARG_DIFF_SRC_LAYER, d.diff_src},
                             {DNNL_ARG_DIFF_DST_LAYER, d.diff_dst},
                             {DNNL_ARG_DIFF_WEIGHTS_LAYER, dwl},
                             {DNNL_ARG_DIFF_WEIGHTS_ITER, dwi},
                             {DNNL_ARG_DIFF_BIAS, db}});
      if (grads.kernel[k] != nullptr && !plan.plain_diff_weights_layer) {
        Bind(plan.user_diff_kernel, grads.kernel[k]);
        plan.from_diff_weights_layer.execute(
            stream,
            {{DNNL_ARG_FROM, dwl}, {DNNL_ARG_TO, plan.user_diff_kernel}});
      }
      if (grads.recurrent_kernel[k] != nullptr &&
          !plan.plain_diff_weights_iter) {
        Bind(plan.user_diff_recurrent, grads.recurrent_kernel[k]);
        plan.from_diff_weights_iter.execute(
            stream,
            {{DNNL_ARG_FROM, dwi}, {DNNL_ARG_TO, plan.user_diff_recurrent}});
      }
    }
    stream.wait();
  });
  if (!status.ok() || grads.x == nullptr) return status;

  // dx[n, t, :] = sum over directions of diff_src at t's aligned step, times
  // that direction's dropout mask; zero at masked steps.
  for (int64_t n = 0; n < n_rows; ++n) {
    for (int k = 0; k < p.num_directions; ++k) {
      const float* diff_src = Data(plan.dirs[k].diff_src);
      const float* drop = MaskOrNull(masks.input[k]);
      const float* scale = drop != nullptr ? drop + n * c : nullptr;
      for (int64_t t = 0; t < steps; ++t) {
        float* out = grads.x + (n * steps + t) * c;
        const int64_t a = seq.AlignedPosition(k, n, t);
        if (a >= 0) {
          CopyRow(diff_src + (a * n_rows + n) * c, scale, c, k > 0, out);
        } else {
          ZeroRow(c, k > 0, out);
        }
      }
    }
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// The stepwise kernel's engine.

class StepwiseLstm {
 public:
  // Runs forward, keeping what Backward() needs.
  absl::Status Forward(const LstmProblem& p, const SequenceInfo& seq,
                       const DropoutMasks& masks, const dnnl::engine& engine,
                       dnnl::stream& stream, float* y);
  // Gradients after Forward() at the same problem and masks, with no other
  // call of this object in between (see arena_).
  absl::Status Backward(const LstmProblem& p, const SequenceInfo& seq,
                        const DropoutMasks& masks, const float* dy,
                        const LstmGrads& grads, const dnnl::engine& engine,
                        dnnl::stream& stream);

 private:
  // Saved by Forward, per direction, in processing-step order (step s is
  // time s forward, time T-1-s in reverse): rows [s * N + n].
  struct DirectionBuffers {
    float* xs;     // [T*N, C] inputs after dropout.
    float* gates;  // [T*N, 4H] activations; Backward turns them into dz.
    float* cs;     // [T*N, H] cell state after each step.
    float* hs;     // [(T+1)*N, H] hidden state before step s (block s).
    float* hd;     // [T*N, H] hs * recurrent mask (recurrent dropout only).
  };
  // One call's buffers, in arena_ (zeros: in zeros_).
  struct Buffers {
    std::array<DirectionBuffers, 2> dirs;
    float* dxs;              // [T*N, C]
    float *dh, *dc, *carry;  // [N, H]
    float* db;               // [4H]
    const float* zeros;      // [N, H]
  };
  struct Plan {
    dnnl::matmul project;                // xs * W + b -> gates
    dnnl::matmul recurrent;              // gates_s += h_{s-1} * U
    dnnl::matmul recurrent_grad;         // dh = dz_s * U^T
    dnnl::matmul input_grad;             // dxs = dz * W^T
    dnnl::matmul kernel_grad;            // dW = xs^T * dz
    dnnl::matmul recurrent_kernel_grad;  // dU = h^T * dz
    // Operands, bound per call.
    memory all_x, kernel, bias_row, all_gates;
    memory step_h, recurrent_kernel, step_gates;
    memory step_dz, recurrent_kernel_t, step_dh;
    memory kernel_t, all_dx;
    memory all_x_t, d_kernel, all_h_t, d_recurrent_kernel;
    // Byte offsets of Buffers in arena_; the hd buffers come last, so
    // `bytes` covers the rest and `bytes_with_hd` everything.
    struct DirectionOffsets {
      size_t xs, gates, cs, hs, hd;
    };
    std::array<DirectionOffsets, 2> dirs{};
    size_t dxs = 0, dh = 0, dc = 0, carry = 0, db = 0;
    size_t bytes = 0, bytes_with_hd = 0, zero_bytes = 0;
    uint64_t last_use = 0;
  };

  // The plan of problem p and this call's buffers (arena_ grown if need
  // be), valid until the next call.
  absl::StatusOr<Plan*> GetPlan(const LstmProblem& p, bool recurrent_dropout,
                                const dnnl::engine& engine, Buffers* buffers);

  // (N, T) -> plan, at most kMaxPlans of them.
  absl::flat_hash_map<std::array<int64_t, 2>, std::unique_ptr<Plan>> plans_;
  uint64_t clock_ = 0;
  // The buffers of every plan, one plan at a time (as FusedLstm::arena_):
  // what Forward saves is read only by the Backward that follows it, and
  // LstmKernel makes no other call of this object in between. Backward asks
  // for the same bytes as its Forward, so it never grows (and so clears)
  // the arena.
  Arena arena_;
  Arena zeros_{/*zeroed=*/true};  // Read-only zeros (the initial c).
};

absl::StatusOr<StepwiseLstm::Plan*> StepwiseLstm::GetPlan(
    const LstmProblem& p, bool recurrent_dropout, const dnnl::engine& engine,
    Buffers* buffers) {
  const std::array<int64_t, 2> key = {p.batch, p.steps};
  const int64_t n = p.batch, t = p.steps, c = p.channels, h = p.units;
  const int64_t rows = t * n;
  Plan* plan = nullptr;
  if (auto it = plans_.find(key); it != plans_.end()) {
    plan = it->second.get();
  } else {
    auto created = std::make_unique<Plan>();
    absl::Status status = DnnlCall("LSTM stepwise setup", [&] {
      auto make = [&](const memory::desc& a, const memory::desc& b,
                      const memory::desc& bias, const memory::desc& out,
                      bool accumulate = false) {
        dnnl::primitive_attr attr;
        if (accumulate) {
          dnnl::post_ops ops;
          ops.append_sum(1.0f);
          attr.set_post_ops(ops);
        }
        return dnnl::matmul(dnnl::matmul::primitive_desc(
            dnnl::matmul::desc(a, b, bias, out), attr, engine));
      };
      const memory::desc none;
      const memory::desc x_all = MatrixDesc(rows, c);
      const memory::desc w = MatrixDesc(c, 4 * h);
      const memory::desc b_row = MatrixDesc(1, 4 * h);
      const memory::desc g_all = MatrixDesc(rows, 4 * h);
      const memory::desc h_step = MatrixDesc(n, h);
      const memory::desc u = MatrixDesc(h, 4 * h);
      const memory::desc g_step = MatrixDesc(n, 4 * h);
      const memory::desc u_t = MatrixDesc(4 * h, h, /*transposed=*/true);
      const memory::desc w_t = MatrixDesc(4 * h, c, /*transposed=*/true);
      const memory::desc x_all_t = MatrixDesc(c, rows, /*transposed=*/true);
      const memory::desc h_all_t = MatrixDesc(h, rows, /*transposed=*/true);
      created->project = make(x_all, w, b_row, g_all);
      created->recurrent = make(h_step, u, none, g_step, /*accumulate=*/true);
      created->recurrent_grad = make(g_step, u_t, none, h_step);
      created->input_grad = make(g_all, w_t, none, x_all);
      created->kernel_grad = make(x_all_t, g_all, none, w);
      created->recurrent_kernel_grad = make(h_all_t, g_all, none, u);
      created->all_x = Unbound(x_all, engine);
      created->kernel = Unbound(w, engine);
      created->bias_row = Unbound(b_row, engine);
      created->all_gates = Unbound(g_all, engine);
      created->step_h = Unbound(h_step, engine);
      created->recurrent_kernel = Unbound(u, engine);
      created->step_gates = Unbound(g_step, engine);
      created->step_dz = Unbound(g_step, engine);
      created->recurrent_kernel_t = Unbound(u_t, engine);
      created->step_dh = Unbound(h_step, engine);
      created->kernel_t = Unbound(w_t, engine);
      created->all_dx = Unbound(x_all, engine);
      created->all_x_t = Unbound(x_all_t, engine);
      created->d_kernel = Unbound(w, engine);
      created->all_h_t = Unbound(h_all_t, engine);
      created->d_recurrent_kernel = Unbound(u, engine);
    });
    if (!status.ok()) return status;
    BufferLayout layout;
    for (int k = 0; k < p.num_directions; ++k) {
      Plan::DirectionOffsets& d = created->dirs[k];
      d.xs = layout.AddFloats(rows * c);
      d.gates = layout.AddFloats(rows * 4 * h);
      d.cs = layout.AddFloats(rows * h);
      d.hs = layout.AddFloats((rows + n) * h);
    }
    created->dxs = layout.AddFloats(rows * c);
    created->dh = layout.AddFloats(n * h);
    created->dc = layout.AddFloats(n * h);
    created->carry = layout.AddFloats(n * h);
    created->db = layout.AddFloats(4 * h);
    created->bytes = layout.size();
    for (int k = 0; k < p.num_directions; ++k) {
      created->dirs[k].hd = layout.AddFloats(rows * h);
    }
    created->bytes_with_hd = layout.size();
    created->zero_bytes = n * h * sizeof(float);
    EvictIfFull(plans_);
    plan = created.get();
    plans_[key] = std::move(created);
  }
  plan->last_use = ++clock_;

  const size_t bytes = recurrent_dropout ? plan->bytes_with_hd : plan->bytes;
  char* base = arena_.Reserve(bytes);
  if (base == nullptr) return OutOfMemory(bytes);
  const char* zeros = zeros_.Reserve(plan->zero_bytes);
  if (zeros == nullptr) return OutOfMemory(plan->zero_bytes);
  auto at = [base](size_t offset) {
    return reinterpret_cast<float*>(base + offset);
  };
  for (int k = 0; k < p.num_directions; ++k) {
    const Plan::DirectionOffsets& o = plan->dirs[k];
    buffers->dirs[k] = {at(o.xs), at(o.gates), at(o.cs), at(o.hs),
                        recurrent_dropout ? at(o.hd) : nullptr};
  }
  buffers->dxs = at(plan->dxs);
  buffers->dh = at(plan->dh);
  buffers->dc = at(plan->dc);
  buffers->carry = at(plan->carry);
  buffers->db = at(plan->db);
  buffers->zeros = reinterpret_cast<const float*>(zeros);
  return plan;
}

absl::Status StepwiseLstm::Forward(const LstmProblem& p,
                                   const SequenceInfo& seq,
                                   const DropoutMasks& masks,
                                   const dnnl::engine& engine,
                                   dnnl::stream& stream, float* y) {
  const bool recurrent_dropout = !masks.recurrent[0].empty();
  Buffers buffers;
  auto plan_or = GetPlan(p, recurrent_dropout, engine, &buffers);
  if (!plan_or.ok()) return plan_or.status();
  Plan& plan = **plan_or;
  const int64_t n_rows = p.batch, steps = p.steps, c = p.channels, h = p.units,
                width = p.output_width;
  const int64_t block = n_rows * h;  // One step of h or c.

  for (int k = 0; k < p.num_directions; ++k) {
    const DirectionBuffers& d = buffers.dirs[k];
    auto time_of = [&](int64_t s) { return k == 0 ? s : steps - 1 - s; };
    // xs[s, n, :] = x[n, time(s), :] * dropout.
    const float* drop = MaskOrNull(masks.input[k]);
    for (int64_t n = 0; n < n_rows; ++n) {
      const float* scale = drop != nullptr ? drop + n * c : nullptr;
      for (int64_t s = 0; s < steps; ++s) {
        CopyRow(p.x + (n * steps + time_of(s)) * c, scale, c, false,
                d.xs + (s * n_rows + n) * c);
      }
    }
    absl::Status status = DnnlCall("LSTM input projection", [&] {
      Bind(plan.all_x, d.xs);
      Bind(plan.kernel, p.kernel[k]);
      Bind(plan.bias_row, p.bias[k]);
      Bind(plan.all_gates, d.gates);
      plan.project.execute(stream, {{DNNL_ARG_SRC, plan.all_x},
                                    {DNNL_ARG_WEIGHTS, plan.kernel},
                                    {DNNL_ARG_BIAS, plan.bias_row},
                                    {DNNL_ARG_DST, plan.all_gates}});
      stream.wait();
    });
    if (!status.ok()) return status;

    std::memset(d.hs, 0, block * sizeof(float));
    const float* rmask = MaskOrNull(masks.recurrent[k]);
    Bind(plan.recurrent_kernel, p.recurrent_kernel[k]);
    const int64_t off = p.output_offset(k);
    const bool acc = p.accumulates(k);
    for (int64_t s = 0; s < steps; ++s) {
      const int64_t t = time_of(s);
      const float* h_prev = d.hs + s * block;
      const float* c_prev = s > 0 ? d.cs + (s - 1) * block : buffers.zeros;
      float* gates = d.gates + s * n_rows * 4 * h;
      float* c_out = d.cs + s * block;
      float* h_out = d.hs + (s + 1) * block;
      if (s > 0) {  // h_{-1} = 0 adds nothing.
        const float* h_in = h_prev;
        if (rmask != nullptr) {
          float* hd = d.hd + s * block;
          MulAdd(h_prev, rmask, nullptr, block, hd);
          h_in = hd;
        }
        status = DnnlCall("LSTM recurrent step", [&] {
          Bind(plan.step_h, h_in);
          Bind(plan.step_gates, gates);
          plan.recurrent.execute(stream,
                                 {{DNNL_ARG_SRC, plan.step_h},
                                  {DNNL_ARG_WEIGHTS, plan.recurrent_kernel},
                                  {DNNL_ARG_DST, plan.step_gates}});
          stream.wait();
        });
        if (!status.ok()) return status;
      } else if (rmask != nullptr) {
        std::memset(d.hd, 0, block * sizeof(float));
      }
      for (int64_t n = 0; n < n_rows; ++n) {
        const bool valid = seq.valid(n, t);
        if (valid) {
          CellForwardRow(h, gates + n * 4 * h, c_prev + n * h, c_out + n * h,
                         h_out + n * h);
        } else {
          std::memcpy(c_out + n * h, c_prev + n * h, h * sizeof(float));
          std::memcpy(h_out + n * h, h_prev + n * h, h * sizeof(float));
        }
        if (p.return_sequences) {
          float* out = y + (n * steps + t) * width + off;
          if (valid) {
            CopyRow(h_out + n * h, nullptr, h, acc, out);
          } else {
            ZeroRow(h, acc, out);
          }
        }
      }
    }
    if (!p.return_sequences) {
      const float* last = d.hs + steps * block;
      for (int64_t n = 0; n < n_rows; ++n) {
        CopyRow(last + n * h, nullptr, h, acc, y + n * width + off);
      }
    }
  }
  return absl::OkStatus();
}

absl::Status StepwiseLstm::Backward(const LstmProblem& p,
                                    const SequenceInfo& seq,
                                    const DropoutMasks& masks, const float* dy,
                                    const LstmGrads& grads,
                                    const dnnl::engine& engine,
                                    dnnl::stream& stream) {
  const bool recurrent_dropout = !masks.recurrent[0].empty();
  Buffers buffers;
  auto plan_or = GetPlan(p, recurrent_dropout, engine, &buffers);
  if (!plan_or.ok()) return plan_or.status();
  Plan& plan = **plan_or;
  const int64_t n_rows = p.batch, steps = p.steps, c = p.channels, h = p.units,
                width = p.output_width;
  const int64_t block = n_rows * h;

  for (int k = 0; k < p.num_directions; ++k) {
    const DirectionBuffers& d = buffers.dirs[k];
    auto time_of = [&](int64_t s) { return k == 0 ? s : steps - 1 - s; };
    const int64_t off = p.output_offset(k);
    const float* rmask = MaskOrNull(masks.recurrent[k]);
    float* dh = buffers.dh;
    float* dc = buffers.dc;
    float* carry = buffers.carry;
    float* db = buffers.db;
    std::memset(dc, 0, block * sizeof(float));
    std::memset(db, 0, 4 * h * sizeof(float));
    if (p.return_sequences) {
      std::memset(dh, 0, block * sizeof(float));
    } else {
      for (int64_t n = 0; n < n_rows; ++n) {
        std::memcpy(dh + n * h, dy + n * width + off, h * sizeof(float));
      }
    }
    Bind(plan.recurrent_kernel_t, p.recurrent_kernel[k]);
    Bind(plan.step_dh, dh);
    for (int64_t s = steps - 1; s >= 0; --s) {
      const int64_t t = time_of(s);
      float* gates = d.gates + s * n_rows * 4 * h;  // Becomes dz.
      const float* c_now = d.cs + s * block;
      const float* c_prev = s > 0 ? d.cs + (s - 1) * block : buffers.zeros;
      bool any_masked = false;
      for (int64_t n = 0; n < n_rows; ++n) {
        if (seq.valid(n, t)) {
          const float* dy_row =
              p.return_sequences ? dy + (n * steps + t) * width + off : nullptr;
          CellBackwardRow(h, gates + n * 4 * h, c_now + n * h, c_prev + n * h,
                          dh + n * h, dy_row, dc + n * h, db);
          std::memset(carry + n * h, 0, h * sizeof(float));
        } else {
          // The state passed through: its gradient goes to the previous
          // step unchanged.
          std::memset(gates + n * 4 * h, 0, 4 * h * sizeof(float));
          std::memcpy(carry + n * h, dh + n * h, h * sizeof(float));
          any_masked = true;
        }
      }
      if (s == 0) break;  // The initial state is a constant.
      absl::Status status = DnnlCall("LSTM recurrent gradient", [&] {
        Bind(plan.step_dz, gates);
        plan.recurrent_grad.execute(
            stream, {{DNNL_ARG_SRC, plan.step_dz},
                     {DNNL_ARG_WEIGHTS, plan.recurrent_kernel_t},
                     {DNNL_ARG_DST, plan.step_dh}});
        stream.wait();
      });
      if (!status.ok()) return status;
      if (rmask != nullptr) {
        MulAdd(dh, rmask, carry, block, dh);
      } else if (any_masked) {
        AddTo(carry, block, dh);
      }
    }

    // Weight gradients over all steps at once.
    absl::Status status = DnnlCall("LSTM weight gradients", [&] {
      Bind(plan.all_gates, d.gates);
      if (grads.recurrent_kernel[k] != nullptr) {
        // Step 0's input state is zero, so starting at block 0 of hs (or
        // hd, whose block 0 is zeroed) is exact.
        Bind(plan.all_h_t, recurrent_dropout ? d.hd : d.hs);
        Bind(plan.d_recurrent_kernel, grads.recurrent_kernel[k]);
        plan.recurrent_kernel_grad.execute(
            stream, {{DNNL_ARG_SRC, plan.all_h_t},
                     {DNNL_ARG_WEIGHTS, plan.all_gates},
                     {DNNL_ARG_DST, plan.d_recurrent_kernel}});
      }
      if (grads.kernel[k] != nullptr) {
        Bind(plan.all_x_t, d.xs);
        Bind(plan.d_kernel, grads.kernel[k]);
        plan.kernel_grad.execute(stream, {{DNNL_ARG_SRC, plan.all_x_t},
                                          {DNNL_ARG_WEIGHTS, plan.all_gates},
                                          {DNNL_ARG_DST, plan.d_kernel}});
      }
      if (grads.x != nullptr) {
        Bind(plan.kernel_t, p.kernel[k]);
        Bind(plan.all_dx, buffers.dxs);
        plan.input_grad.execute(stream, {{DNNL_ARG_SRC, plan.all_gates},
                                         {DNNL_ARG_WEIGHTS, plan.kernel_t},
                                         {DNNL_ARG_DST, plan.all_dx}});
      }
      stream.wait();
    });
    if (!status.ok()) return status;
    if (grads.bias[k] != nullptr) {
      std::memcpy(grads.bias[k], db, 4 * h * sizeof(float));
    }
    if (grads.x != nullptr) {
      const float* drop = MaskOrNull(masks.input[k]);
      for (int64_t n = 0; n < n_rows; ++n) {
        const float* scale = drop != nullptr ? drop + n * c : nullptr;
        for (int64_t s = 0; s < steps; ++s) {
          CopyRow(buffers.dxs + (s * n_rows + n) * c, scale, c, k > 0,
                  grads.x + (n * steps + time_of(s)) * c);
        }
      }
    }
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// The op's kernels.

class LstmKernel : public OpKernel {
 public:
  explicit LstmKernel(bool always_stepwise)
      : always_stepwise_(always_stepwise) {}

  absl::Status Init(const KernelInitContext& init) {
    auto attrs = ReadAttrs(init.attrs);
    if (!attrs.ok()) return attrs.status();
    attrs_ = *attrs;
    return absl::OkStatus();
  }

  absl::Status Forward(KernelContext& ctx) override {
    if (auto s = ReadProblem(ctx); !s.ok()) return s;
    const LstmProblem& p = problem_;
    seq_.Read(ctx.input(kMask), p.batch, p.steps);
    for (int k = 0; k < 2; ++k) {
      masks_.input[k].clear();
      masks_.recurrent[k].clear();
    }
    if (ctx.training()) {
      for (int k = 0; k < p.num_directions; ++k) {
        if (attrs_.dropout > 0) {
          DrawMask(attrs_.dropout, p.batch * p.channels, ctx.rng(),
                   &masks_.input[k]);
        }
        if (attrs_.recurrent_dropout > 0) {
          DrawMask(attrs_.recurrent_dropout, p.batch * p.units, ctx.rng(),
                   &masks_.recurrent[k]);
        }
      }
    }
    Tensor& y = *ctx.output(0);
    y.Resize(DType::kFloat32, p.return_sequences
                                  ? Shape{p.batch, p.steps, p.output_width}
                                  : Shape{p.batch, p.output_width});
    last_training_ = ctx.training();
    if (p.batch == 0 || p.steps == 0) {
      path_ = Path::kEmpty;
      y.SetZero();
      return absl::OkStatus();
    }
    path_ =
        always_stepwise_ || !masks_.recurrent[0].empty() || !seq_.contiguous()
            ? Path::kStepwise
            : Path::kFused;
    if (path_ == Path::kStepwise) {
      return stepwise_.Forward(p, seq_, masks_, ctx.engine(), ctx.stream(),
                               y.f32());
    }
    return fused_.Forward(p, seq_, masks_, ctx.training(), ctx.engine(),
                          ctx.stream(), y.f32());
  }

  absl::Status Backward(GradContext& ctx) override {
    const LstmProblem& p = problem_;
    LstmGrads grads;
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
    if (Tensor* dmask = ctx.input_grad(kMask)) {
      dmask->ResizeZeroed(DType::kFloat32, ctx.input(kMask)->shape());
    }
    const Tensor* dy = ctx.output_grad(0);
    if (dy == nullptr || path_ == Path::kEmpty) {
      for (int i = 0; i < kNumInputs; ++i) {
        if (Tensor* g = ctx.input_grad(i)) g->SetZero();
      }
      return absl::OkStatus();
    }
    if (path_ == Path::kStepwise) {
      return stepwise_.Backward(p, seq_, masks_, dy->f32(), grads, ctx.engine(),
                                ctx.stream());
    }
    if (!last_training_) {
      // The inference forward kept no workspace: run the training one.
      absl::Status s = fused_.Forward(p, seq_, masks_, /*training=*/true,
                                      ctx.engine(), ctx.stream(), nullptr);
      if (!s.ok()) return s;
      last_training_ = true;
    }
    return fused_.Backward(p, seq_, masks_, dy->f32(), grads, ctx.engine(),
                           ctx.stream());
  }

 private:
  enum class Path { kEmpty, kFused, kStepwise };

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
    LstmProblem& p = problem_;
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

  const bool always_stepwise_;
  LstmAttrs attrs_;
  // The last forward run, for Backward.
  LstmProblem problem_;
  SequenceInfo seq_;
  DropoutMasks masks_;
  Path path_ = Path::kEmpty;
  bool last_training_ = false;
  // Each engine keeps its buffers in one arena shared by all shapes, so
  // what a Forward saves survives only until the engine's next call. Keep
  // it so: Backward runs the engine of the latest Forward, and calls nothing
  // of that engine before its Backward but (after an inference forward) the
  // training Forward at the same problem.
  FusedLstm fused_;
  StepwiseLstm stepwise_;
};

KernelFactory LstmKernelFactory(bool always_stepwise) {
  return [always_stepwise](const KernelInitContext& init)
             -> absl::StatusOr<std::unique_ptr<OpKernel>> {
    auto kernel = std::make_unique<LstmKernel>(always_stepwise);
    if (absl::Status s = kernel->Init(init); !s.ok()) return s;
    return kernel;
  };
}

std::vector<OpDef> LstmOps() {
  OpDef def;
  def.signature.name = "LSTM";
  def.signature.doc =
      "Keras' LSTM layer (optionally Bidirectional), with masking and "
      "dropout; see ops/lstm.cc.";
  def.signature.inputs = {
      {"x", "float [N, T, C]"},
      {"kernel", "float [C, 4H], gates i, f, c, o"},
      {"recurrent_kernel", "float [H, 4H]"},
      {"bias", "float [4H]"},
      {"mask", "float [N, T], nonzero = valid step", /*optional=*/true},
      {"backward_kernel", "float [C, 4H] (bidirectional only)", true},
      {"backward_recurrent_kernel", "float [H, 4H] (bidirectional only)", true},
      {"backward_bias", "float [4H] (bidirectional only)", true},
  };
  def.signature.outputs = {
      {"y", "float [N, T, D*H] with return_sequences, else [N, D*H]"}};
  def.signature.attrs = {
      IntAttr("units", std::nullopt, "H, the state size"),
      StringAttr("direction", "forward",
                 "forward, bidirectional_concat or bidirectional_sum"),
      BoolAttr("return_sequences", false,
               "output every step, not only the last state"),
      FloatAttr("dropout", 0.0f,
                "input dropout rate (one [N, C] mask per sequence)"),
      FloatAttr("recurrent_dropout", 0.0f,
                "dropout rate on h(t-1) (one [N, H] mask per sequence)"),
  };
  def.shape_fn = LstmShape;
  for (int input : {kKernel, kRecurrentKernel, kBias, kBackwardKernel,
                    kBackwardRecurrentKernel, kBackwardBias}) {
    def.params.push_back(LstmParam(input));
  }
  def.kernels.push_back({"fused", LstmKernelFactory(false)});
  def.kernels.push_back({"stepwise", LstmKernelFactory(true)});
  std::vector<OpDef> defs;
  defs.push_back(std::move(def));
  return defs;
}

LOOM_REGISTER_OP(LstmOps);

}  // namespace
}  // namespace loom
