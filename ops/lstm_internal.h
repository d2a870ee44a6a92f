// The LSTM op's paths (ops/lstm.cc has the op and its documentation):
// FusedLstm on oneDNN's LSTM primitives (ops/lstm_fused.cc) and
// StepwiseLstm on oneDNN matmuls and Loom's gate loops
// (ops/lstm_stepwise.cc). Both are built on framework/recurrent/.
#ifndef LOOM_OPS_LSTM_INTERNAL_H_
#define LOOM_OPS_LSTM_INTERNAL_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "framework/recurrent/arena.h"
#include "framework/recurrent/dropout.h"
#include "framework/recurrent/layer.h"
#include "framework/recurrent/primitive_set.h"
#include "framework/recurrent/valid_steps.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace loom {
namespace lstm_internal {

using recurrent::DropoutMasks;
using recurrent::Grads;
using recurrent::Problem;
using recurrent::ValidSteps;

// ---------------------------------------------------------------------------
// The fused path: oneDNN's LSTM primitives on aligned copies
// (framework/recurrent/aligned_steps.h), over p.aligned_steps steps; any
// mask.

class FusedLstm {
 public:
  // With bf16, the primitives run on bf16 inputs, weights and outputs
  // (reordered from and to the op's f32 tensors; bias, cell state and every
  // gradient stay f32). Set before the first call.
  void set_bf16(bool bf16) { bf16_ = bf16; }

  // Runs forward. `training` keeps the workspace for Backward(). With
  // y == nullptr the outputs are not written (Backward re-running a
  // training forward after an inference one).
  absl::Status Forward(const Problem& p, const ValidSteps& seq,
                       const DropoutMasks& masks, bool training,
                       const dnnl::engine& engine, dnnl::stream& stream,
                       float* y);

  // Gradients after Forward(training = true) at the same problem, with no
  // other call of this object in between (see arena_). dy is [N, T, D*H] or
  // [N, D*H].
  absl::Status Backward(const Problem& p, const ValidSteps& seq,
                        const DropoutMasks& masks, const float* dy,
                        const Grads& grads, const dnnl::engine& engine,
                        dnnl::stream& stream);

 private:
  using memory = dnnl::memory;
  // Buffers of one direction: unbound memories, pointed into arena_.
  struct DirectionBuffers {
    memory src, dst, workspace;                  // tnc activations, workspace
    memory weights_layer, weights_iter;          // forward primitive's layouts
    memory bwd_weights_layer, bwd_weights_iter;  // backward's layouts
    memory diff_src, diff_dst;
    memory diff_weights_layer, diff_weights_iter, diff_bias;  // scratch
    memory src_bf16, dst_bf16;  // bf16 only: the primitives' src and dst.
  };
  // The primitives of one problem shape and the memories they run on.
  struct PrimitiveSet {
    dnnl::lstm_forward forward;
    dnnl::lstm_backward backward;  // Training sets only.
    // The initial h and c (zeros), passed explicitly: with src_iter left
    // out, oneDNN 2.6.3's lstm_backward gets diff_weights_iter wrong. And
    // the initial states' gradients, which nothing reads.
    memory zero_state, diff_state_h, diff_state_c;
    // The initial h as the primitives take it (zero_state but for bf16,
    // where it is a bf16 view of the same zeros).
    memory zero_state_h;
    // bf16 only: src f32 -> bf16 and dst bf16 -> f32.
    dnnl::reorder to_bf16_src, from_bf16_dst;
    // Keras-layout views of user tensors, bound per call.
    memory user_weights, user_recurrent_weights, user_bias;
    memory user_diff_weights, user_diff_recurrent_weights, user_diff_bias;
    dnnl::reorder to_weights_layer, to_weights_iter;
    dnnl::reorder to_bwd_weights_layer, to_bwd_weights_iter;
    dnnl::reorder from_diff_weights_layer, from_diff_weights_iter;
    // Whether the backward primitive's weight-gradient layouts are the
    // Keras ones (then it writes straight into the gradient tensors).
    bool plain_diff_weights_layer = false, plain_diff_weights_iter = false;
    std::array<DirectionBuffers, 2> dirs;
    // Every buffer above but zero_state, in arena_; zero_state lives in
    // zeros_ (zero_bytes of it), and bound_zeros is where it points now.
    recurrent::ArenaSlices slices;
    size_t zero_bytes = 0;
    const char* bound_zeros = nullptr;
  };

  static absl::StatusOr<std::unique_ptr<PrimitiveSet>> MakePrimitiveSet(
      const Problem& p, bool training, bool bf16, const dnnl::engine& engine);
  // The primitive set of problem p, its buffers bound to the arenas (grown
  // if need be). The set and its buffers stay valid until the next call.
  absl::StatusOr<PrimitiveSet*> GetPrimitiveSet(const Problem& p, bool training,
                                                const dnnl::engine& engine);

  // (N, aligned steps, training) -> primitive set.
  recurrent::PrimitiveSetCache<std::array<int64_t, 3>, PrimitiveSet> sets_;
  // The buffers of every primitive set, one set at a time: each call binds
  // its set's memories here, so a call may overwrite whatever an earlier
  // call at another shape left. That is safe because the only state that
  // must outlive a call, a training forward's activations and workspace,
  // is read only by the Backward that follows it, and LstmKernel makes no
  // other call of this object in between (Backward always follows the
  // kernel's latest Forward; after an inference Forward it re-runs the
  // training one first). A training set reserves its backward buffers too,
  // so Backward never grows (and so clears) the arena.
  recurrent::Arena arena_;
  recurrent::Arena zeros_{/*zeroed=*/true};  // Read-only zeros (states).
  bool bf16_ = false;
};

// ---------------------------------------------------------------------------
// The stepwise path: per-step masking, recurrent dropout.

class StepwiseLstm {
 public:
  // Runs forward, keeping what Backward() needs.
  absl::Status Forward(const Problem& p, const ValidSteps& seq,
                       const DropoutMasks& masks, const dnnl::engine& engine,
                       dnnl::stream& stream, float* y);
  // Gradients after Forward() at the same problem and masks, with no other
  // call of this object in between (see arena_).
  absl::Status Backward(const Problem& p, const ValidSteps& seq,
                        const DropoutMasks& masks, const float* dy,
                        const Grads& grads, const dnnl::engine& engine,
                        dnnl::stream& stream);

 private:
  using memory = dnnl::memory;
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
  // The primitives of one problem shape and where its buffers go.
  struct PrimitiveSet {
    dnnl::matmul project;                 // xs * W + b -> gates
    dnnl::matmul recurrent;               // gates_s += h_{s-1} * U
    dnnl::matmul recurrent_grad;          // dh = dz_s * U^T
    dnnl::matmul input_grad;              // dxs = dz * W^T
    dnnl::matmul weights_grad;            // dW = xs^T * dz
    dnnl::matmul recurrent_weights_grad;  // dU = h^T * dz
    // Operands, bound per call.
    memory all_x, weights, bias_row, all_gates;
    memory step_h, recurrent_weights, step_gates;
    memory step_dz, recurrent_weights_t, step_dh;
    memory weights_t, all_dx;
    memory all_x_t, d_weights, all_h_t, d_recurrent_weights;
    // Byte offsets of Buffers in arena_; the hd buffers come last, so
    // `bytes` covers the rest and `bytes_with_hd` everything.
    struct DirectionOffsets {
      size_t xs, gates, cs, hs, hd;
    };
    std::array<DirectionOffsets, 2> dirs{};
    size_t dxs = 0, dh = 0, dc = 0, carry = 0, db = 0;
    size_t bytes = 0, bytes_with_hd = 0, zero_bytes = 0;
  };

  static absl::StatusOr<std::unique_ptr<PrimitiveSet>> MakePrimitiveSet(
      const Problem& p, const dnnl::engine& engine);
  // The primitive set of problem p and this call's buffers (arena_ grown if
  // need be), valid until the next call.
  absl::StatusOr<PrimitiveSet*> GetPrimitiveSet(const Problem& p,
                                                bool recurrent_dropout,
                                                const dnnl::engine& engine,
                                                Buffers* buffers);

  // (N, T) -> primitive set.
  recurrent::PrimitiveSetCache<std::array<int64_t, 2>, PrimitiveSet> sets_;
  // The buffers of every primitive set, one at a time (as
  // FusedLstm::arena_): what Forward saves is read only by the Backward
  // that follows it, and LstmKernel makes no other call of this object in
  // between. Backward asks for the same bytes as its Forward, so it never
  // grows (and so clears) the arena.
  recurrent::Arena arena_;
  recurrent::Arena zeros_{/*zeroed=*/true};  // Read-only zeros (the initial c).
};

}  // namespace lstm_internal
}  // namespace loom

#endif  // LOOM_OPS_LSTM_INTERNAL_H_
