// The LSTM's "stepwise" path (ops/lstm.cc documents the op): the
// input projection of all steps as one oneDNN matmul ([T*N, C] x [C, 4H]),
// then per step one recurrent matmul and the gate arithmetic in one
// vectorized pass, with per-step masking (any mask) and recurrent dropout;
// backward through time with one matmul per step, and the weight gradients
// as one large matmul each at the end. Only the LSTM has such a driver (the
// GRU runs on oneDNN's fused primitive alone), so it lives here rather than
// in framework/recurrent/.
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "framework/dnnl_util.h"
#include "framework/recurrent/rows.h"
#include "framework/status_macros.h"
#include "ops/lstm_internal.h"

namespace loom {
namespace lstm_internal {
namespace {

using recurrent::AddTo;
using recurrent::CopyRow;
using recurrent::MaskOrNull;
using recurrent::MulAdd;
using recurrent::ZeroRow;

// ---------------------------------------------------------------------------
// Gate arithmetic, vectorized with AVX2 where the build allows.

inline float Sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

#ifdef LOOM_RECURRENT_AVX2
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
#endif  // LOOM_RECURRENT_AVX2

// One row of a forward step: z [4H] holds the pre-activations (blocks i, f,
// c, o) and receives the activations; c_prev/c_out and h_out are [H].
void CellForwardRow(int64_t h, float* z, const float* c_prev, float* c_out,
                    float* h_out) {
  float* zi = z;
  float* zf = z + h;
  float* zg = z + 2 * h;
  float* zo = z + 3 * h;
  int64_t j = 0;
#ifdef LOOM_RECURRENT_AVX2
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
#ifdef LOOM_RECURRENT_AVX2
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

}  // namespace

using dnnl::memory;
using recurrent::Bind;
using recurrent::MatrixDesc;
using recurrent::Unbound;

// ---------------------------------------------------------------------------
// StepwiseLstm.

absl::StatusOr<std::unique_ptr<StepwiseLstm::PrimitiveSet>>
StepwiseLstm::MakePrimitiveSet(const Problem& p, const dnnl::engine& engine) {
  const int64_t n = p.batch, t = p.steps, c = p.channels, h = p.units;
  const int64_t rows = t * n;
  auto set = std::make_unique<PrimitiveSet>();
  LOOM_RETURN_IF_ERROR(DnnlCall("LSTM stepwise setup", [&] {
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
    set->project = make(x_all, w, b_row, g_all);
    set->recurrent = make(h_step, u, none, g_step, /*accumulate=*/true);
    set->recurrent_grad = make(g_step, u_t, none, h_step);
    set->input_grad = make(g_all, w_t, none, x_all);
    set->weights_grad = make(x_all_t, g_all, none, w);
    set->recurrent_weights_grad = make(h_all_t, g_all, none, u);
    set->all_x = Unbound(x_all, engine);
    set->weights = Unbound(w, engine);
    set->bias_row = Unbound(b_row, engine);
    set->all_gates = Unbound(g_all, engine);
    set->step_h = Unbound(h_step, engine);
    set->recurrent_weights = Unbound(u, engine);
    set->step_gates = Unbound(g_step, engine);
    set->step_dz = Unbound(g_step, engine);
    set->recurrent_weights_t = Unbound(u_t, engine);
    set->step_dh = Unbound(h_step, engine);
    set->weights_t = Unbound(w_t, engine);
    set->all_dx = Unbound(x_all, engine);
    set->all_x_t = Unbound(x_all_t, engine);
    set->d_weights = Unbound(w, engine);
    set->all_h_t = Unbound(h_all_t, engine);
    set->d_recurrent_weights = Unbound(u, engine);
  }));
  recurrent::BufferLayout layout;
  for (int k = 0; k < p.num_directions; ++k) {
    PrimitiveSet::DirectionOffsets& d = set->dirs[k];
    d.xs = layout.AddFloats(rows * c);
    d.gates = layout.AddFloats(rows * 4 * h);
    d.cs = layout.AddFloats(rows * h);
    d.hs = layout.AddFloats((rows + n) * h);
  }
  set->dxs = layout.AddFloats(rows * c);
  set->dh = layout.AddFloats(n * h);
  set->dc = layout.AddFloats(n * h);
  set->carry = layout.AddFloats(n * h);
  set->db = layout.AddFloats(4 * h);
  set->bytes = layout.size();
  for (int k = 0; k < p.num_directions; ++k) {
    set->dirs[k].hd = layout.AddFloats(rows * h);
  }
  set->bytes_with_hd = layout.size();
  set->zero_bytes = n * h * sizeof(float);
  return set;
}

absl::StatusOr<StepwiseLstm::PrimitiveSet*> StepwiseLstm::GetPrimitiveSet(
    const Problem& p, bool recurrent_dropout, const dnnl::engine& engine,
    Buffers* buffers) {
  const std::array<int64_t, 2> key = {p.batch, p.steps};
  LOOM_ASSIGN_OR_RETURN(PrimitiveSet * set, sets_.Get(key, [&] {
    return MakePrimitiveSet(p, engine);
  }));
  const size_t bytes = recurrent_dropout ? set->bytes_with_hd : set->bytes;
  LOOM_ASSIGN_OR_RETURN(char* base, recurrent::Reserve(arena_, bytes, "LSTM"));
  LOOM_ASSIGN_OR_RETURN(const char* zeros,
                        recurrent::Reserve(zeros_, set->zero_bytes, "LSTM"));
  auto at = [base](size_t offset) {
    return reinterpret_cast<float*>(base + offset);
  };
  for (int k = 0; k < p.num_directions; ++k) {
    const PrimitiveSet::DirectionOffsets& o = set->dirs[k];
    buffers->dirs[k] = {at(o.xs), at(o.gates), at(o.cs), at(o.hs),
                        recurrent_dropout ? at(o.hd) : nullptr};
  }
  buffers->dxs = at(set->dxs);
  buffers->dh = at(set->dh);
  buffers->dc = at(set->dc);
  buffers->carry = at(set->carry);
  buffers->db = at(set->db);
  buffers->zeros = reinterpret_cast<const float*>(zeros);
  return set;
}

absl::Status StepwiseLstm::Forward(const Problem& p, const ValidSteps& seq,
                                   const DropoutMasks& masks,
                                   const dnnl::engine& engine,
                                   dnnl::stream& stream, float* y) {
  const bool recurrent_dropout = !masks.recurrent[0].empty();
  Buffers buffers;
  LOOM_ASSIGN_OR_RETURN(
      PrimitiveSet * set_ptr,
      GetPrimitiveSet(p, recurrent_dropout, engine, &buffers));
  PrimitiveSet& set = *set_ptr;
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
    LOOM_RETURN_IF_ERROR(DnnlCall("LSTM input projection", [&] {
      Bind(set.all_x, d.xs);
      Bind(set.weights, p.weights[k]);
      Bind(set.bias_row, p.bias[k]);
      Bind(set.all_gates, d.gates);
      set.project.execute(stream, {{DNNL_ARG_SRC, set.all_x},
                                   {DNNL_ARG_WEIGHTS, set.weights},
                                   {DNNL_ARG_BIAS, set.bias_row},
                                   {DNNL_ARG_DST, set.all_gates}});
      stream.wait();
    }));

    std::memset(d.hs, 0, block * sizeof(float));
    const float* rmask = MaskOrNull(masks.recurrent[k]);
    Bind(set.recurrent_weights, p.recurrent_weights[k]);
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
        LOOM_RETURN_IF_ERROR(DnnlCall("LSTM recurrent step", [&] {
          Bind(set.step_h, h_in);
          Bind(set.step_gates, gates);
          set.recurrent.execute(stream,
                                {{DNNL_ARG_SRC, set.step_h},
                                 {DNNL_ARG_WEIGHTS, set.recurrent_weights},
                                 {DNNL_ARG_DST, set.step_gates}});
          stream.wait();
        }));
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

absl::Status StepwiseLstm::Backward(const Problem& p, const ValidSteps& seq,
                                    const DropoutMasks& masks, const float* dy,
                                    const Grads& grads,
                                    const dnnl::engine& engine,
                                    dnnl::stream& stream) {
  const bool recurrent_dropout = !masks.recurrent[0].empty();
  Buffers buffers;
  LOOM_ASSIGN_OR_RETURN(
      PrimitiveSet * set_ptr,
      GetPrimitiveSet(p, recurrent_dropout, engine, &buffers));
  PrimitiveSet& set = *set_ptr;
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
    Bind(set.recurrent_weights_t, p.recurrent_weights[k]);
    Bind(set.step_dh, dh);
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
      LOOM_RETURN_IF_ERROR(DnnlCall("LSTM recurrent gradient", [&] {
        Bind(set.step_dz, gates);
        set.recurrent_grad.execute(stream,
                                   {{DNNL_ARG_SRC, set.step_dz},
                                    {DNNL_ARG_WEIGHTS, set.recurrent_weights_t},
                                    {DNNL_ARG_DST, set.step_dh}});
        stream.wait();
      }));
      if (rmask != nullptr) {
        MulAdd(dh, rmask, carry, block, dh);
      } else if (any_masked) {
        AddTo(carry, block, dh);
      }
    }

    // Weight gradients over all steps at once.
    LOOM_RETURN_IF_ERROR(DnnlCall("LSTM weight gradients", [&] {
      Bind(set.all_gates, d.gates);
      if (grads.recurrent_weights[k] != nullptr) {
        // Step 0's input state is zero, so starting at block 0 of hs (or
        // hd, whose block 0 is zeroed) is exact.
        Bind(set.all_h_t, recurrent_dropout ? d.hd : d.hs);
        Bind(set.d_recurrent_weights, grads.recurrent_weights[k]);
        set.recurrent_weights_grad.execute(
            stream, {{DNNL_ARG_SRC, set.all_h_t},
                     {DNNL_ARG_WEIGHTS, set.all_gates},
                     {DNNL_ARG_DST, set.d_recurrent_weights}});
      }
      if (grads.weights[k] != nullptr) {
        Bind(set.all_x_t, d.xs);
        Bind(set.d_weights, grads.weights[k]);
        set.weights_grad.execute(stream, {{DNNL_ARG_SRC, set.all_x_t},
                                          {DNNL_ARG_WEIGHTS, set.all_gates},
                                          {DNNL_ARG_DST, set.d_weights}});
      }
      if (grads.x != nullptr) {
        Bind(set.weights_t, p.weights[k]);
        Bind(set.all_dx, buffers.dxs);
        set.input_grad.execute(stream, {{DNNL_ARG_SRC, set.all_gates},
                                        {DNNL_ARG_WEIGHTS, set.weights_t},
                                        {DNNL_ARG_DST, set.all_dx}});
      }
      stream.wait();
    }));
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

}  // namespace lstm_internal
}  // namespace loom
