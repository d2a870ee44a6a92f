// The copies in and out of a fused oneDNN RNN primitive (the LSTM's "fused"
// kernel, the GRU's).
//
// One unidirectional left-to-right primitive serves both directions. Each
// row's valid steps (ValidSteps) are gathered into aligned steps
// 0..length(n)-1 of a tnc buffer ([p.aligned_steps, N, C]), in time order
// for the forward direction and in reverse time order for the reverse one,
// and zeros after them: padding comes after every valid step, so it cannot
// affect them, and its output gradient is zero, so no gradient flows back
// through it. Outputs are scattered back to their time steps (zeros at
// masked steps), and the last state is read at aligned step length(n)-1.
// The copy in also applies input dropout. tnc is the layout oneDNN's RNN
// kernels are built around (2.6 accepts ntc too).
//
// Rows are the outer loop, so each row of x, y and their gradients is
// visited once for both directions, and the rows are split among the
// OpenMP threads that run the primitives (when the including file is
// compiled with -fopenmp, as ops/ and plugins/gru/ are; else on the calling
// thread): a copy on one thread would leave the others spinning. Each row
// writes rows of its own, so the result is the same on any thread count.
#ifndef LOOM_FRAMEWORK_RECURRENT_ALIGNED_STEPS_H_
#define LOOM_FRAMEWORK_RECURRENT_ALIGNED_STEPS_H_

#include <array>
#include <cstdint>

#include "framework/recurrent/layer.h"
#include "framework/recurrent/rows.h"
#include "framework/recurrent/valid_steps.h"

// Splits the loop over the n_rows rows that follows among the threads.
#ifdef _OPENMP
#define LOOM_RECURRENT_PARALLEL_ROWS \
  _Pragma("omp parallel for schedule(static) if (n_rows > 1)")
#else
#define LOOM_RECURRENT_PARALLEL_ROWS
#endif

namespace loom {
namespace recurrent {

// src[k][a, n, :] = x[n, Time(k, n, a), :] * dropout[k][n, :] for
// a < length(n), zeros up to p.aligned_steps. dropout[k] ([N, C]) may be
// nullptr: none.
inline void GatherInputs(const Problem& p, const ValidSteps& seq,
                         const std::array<float*, 2>& src,
                         const std::array<const float*, 2>& dropout) {
  const int64_t n_rows = p.batch, steps = p.steps, c = p.channels;
  LOOM_RECURRENT_PARALLEL_ROWS
  for (int64_t n = 0; n < n_rows; ++n) {
    const int64_t len = seq.length(n);
    for (int k = 0; k < p.num_directions; ++k) {
      const float* scale = dropout[k] != nullptr ? dropout[k] + n * c : nullptr;
      for (int64_t a = 0; a < p.aligned_steps; ++a) {
        float* out = src[k] + (a * n_rows + n) * c;
        if (a < len) {
          const int64_t t = seq.Time(k, n, a);
          CopyRow(p.x + (n * steps + t) * c, scale, c, false, out);
        } else {
          ZeroRow(c, false, out);
        }
      }
    }
  }
}

// y ([N, T, D*H] or [N, D*H]) from the aligned outputs dst[k]
// ([p.aligned_steps, N, H]).
inline void ScatterOutputs(const Problem& p, const ValidSteps& seq,
                           const std::array<float*, 2>& dst, float* y) {
  const int64_t n_rows = p.batch, steps = p.steps, h = p.units,
                width = p.output_width;
  LOOM_RECURRENT_PARALLEL_ROWS
  for (int64_t n = 0; n < n_rows; ++n) {
    const int64_t len = seq.length(n);
    for (int k = 0; k < p.num_directions; ++k) {
      const int64_t off = p.output_offset(k);
      const bool acc = p.accumulates(k);
      if (!p.return_sequences) {
        float* out = y + n * width + off;
        if (len > 0) {
          CopyRow(dst[k] + ((len - 1) * n_rows + n) * h, nullptr, h, acc, out);
        } else {
          ZeroRow(h, acc, out);
        }
        continue;
      }
      for (int64_t t = 0; t < steps; ++t) {
        float* out = y + (n * steps + t) * width + off;
        const int64_t a = seq.Position(k, n, t);
        if (a >= 0) {
          CopyRow(dst[k] + (a * n_rows + n) * h, nullptr, h, acc, out);
        } else {
          ZeroRow(h, acc, out);
        }
      }
    }
  }
}

// diff_dst[k][a, n, :]: the output gradient at aligned step a; zero for
// padding, and for a last-state output everywhere but step length(n)-1.
inline void GatherOutputGrads(const Problem& p, const ValidSteps& seq,
                              const float* dy,
                              const std::array<float*, 2>& diff_dst) {
  const int64_t n_rows = p.batch, steps = p.steps, h = p.units,
                width = p.output_width;
  LOOM_RECURRENT_PARALLEL_ROWS
  for (int64_t n = 0; n < n_rows; ++n) {
    const int64_t len = seq.length(n);
    for (int k = 0; k < p.num_directions; ++k) {
      const int64_t off = p.output_offset(k);
      for (int64_t a = 0; a < p.aligned_steps; ++a) {
        float* out = diff_dst[k] + (a * n_rows + n) * h;
        const float* in = nullptr;
        if (p.return_sequences && a < len) {
          in = dy + (n * steps + seq.Time(k, n, a)) * width + off;
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
}

// dx[n, t, :] = sum over directions of diff_src[k] at t's aligned step,
// times that direction's dropout[k] (nullptr: none); zero at masked steps.
inline void ScatterInputGrads(const Problem& p, const ValidSteps& seq,
                              const std::array<float*, 2>& diff_src,
                              const std::array<const float*, 2>& dropout,
                              float* dx) {
  const int64_t n_rows = p.batch, steps = p.steps, c = p.channels;
  LOOM_RECURRENT_PARALLEL_ROWS
  for (int64_t n = 0; n < n_rows; ++n) {
    for (int k = 0; k < p.num_directions; ++k) {
      const float* scale = dropout[k] != nullptr ? dropout[k] + n * c : nullptr;
      for (int64_t t = 0; t < steps; ++t) {
        float* out = dx + (n * steps + t) * c;
        const int64_t a = seq.Position(k, n, t);
        if (a >= 0) {
          CopyRow(diff_src[k] + (a * n_rows + n) * c, scale, c, k > 0, out);
        } else {
          ZeroRow(c, k > 0, out);
        }
      }
    }
  }
}

}  // namespace recurrent
}  // namespace loom

#endif  // LOOM_FRAMEWORK_RECURRENT_ALIGNED_STEPS_H_
