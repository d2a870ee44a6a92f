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
//          recurrent_dropout (both in [0, 1)), precision ("f32" or "bf16")
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
// Kernels (their paths in ops/lstm_fused.cc and ops/lstm_stepwise.cc, on the
// recurrent scaffolding of framework/recurrent/ that the GRU plugin shares):
//   "fused" (default): oneDNN lstm_forward (forward_training, keeping the
//     workspace) and lstm_backward, one unidirectional left-to-right
//     primitive per shape (N, T) used for both directions. Each row's valid
//     steps, contiguous or not, are gathered into aligned steps 0..len-1 of
//     a tnc buffer, in time order for the forward direction and in reverse
//     time order for the reverse one (which makes left-to-right over the
//     copy exactly right-to-left over the row), so padded steps come after
//     every valid step and cannot affect them; outputs are scattered back,
//     and the last state is read at aligned step len-1 (framework/recurrent/
//     aligned_steps.h). That copy (which also applies input dropout) is
//     needed anyway, so it writes tnc, the layout oneDNN's RNN kernels are
//     built around, although 2.6 accepts ntc too. Weights are reordered from
//     the Keras layout (oneDNN's ldigo / ldgo) into the layouts the
//     primitives prefer once per step. Inference uses a forward_inference
//     primitive; a Backward after an inference forward re-runs the training
//     one first. The kernel falls back to the stepwise one in training with
//     recurrent_dropout > 0 (oneDNN has no recurrent dropout).
//     With precision "bf16" (mixed precision, opt-in) the fused kernel's
//     primitives run on bf16 copies of the inputs and weights and write
//     bf16 outputs, reordered to the op's f32 y; the bias, the cell state
//     and every gradient stay f32 (what oneDNN 2.6's bf16 LSTM takes), so
//     the optimizer sees f32 weights and gradients. oneDNN then uses its
//     brgemm kernels for forward and backward (the bare training forward
//     1.4-1.75x faster than f32 at the BiLSTM pipelines' shapes, a
//     bilstm_full epoch 1.7x: docs/PERFORMANCE.md). A CPU without bf16 support
//     gets an error naming the precision at the first step. The stepwise kernel
//     (and so recurrent dropout in training) stays f32.
//   "stepwise": the input projection of all steps as one oneDNN matmul
//     ([T*N, C] x [C, 4H]), then per step one recurrent matmul and the gate
//     arithmetic in one vectorized pass, with per-step masking (so any mask
//     works); backward through time with one matmul per step, and the
//     weight gradients as one large matmul each at the end.
// Both kernels keep their primitive sets per shape (the kMaxPrimitiveSets
// most recently used shapes), and their buffers in one arena per engine,
// sized for the largest problem seen and shared by every shape's set
// (Backward always follows the kernel's latest Forward, so no two sets need
// their buffers at once; see FusedLstm::arena_). Steps at a shape no larger
// than one seen before allocate no buffers.
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "framework/op.h"
#include "framework/recurrent/dropout.h"
#include "framework/recurrent/layer.h"
#include "framework/recurrent/valid_steps.h"
#include "framework/status_macros.h"
#include "ops/lstm_internal.h"
#include "ops/op_library.h"

namespace loom {
namespace {

using lstm_internal::FusedLstm;
using lstm_internal::StepwiseLstm;
using recurrent::BiasInput;
using recurrent::DropoutMasks;
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

// ---------------------------------------------------------------------------
// Signature.

constexpr recurrent::InputTable kInputs = {{
    {kX, "x", "float [N, T, C]"},
    {kKernel, "kernel", "float [C, 4H], gates i, f, c, o"},
    {kRecurrentKernel, "recurrent_kernel", "float [H, 4H]"},
    {kBias, "bias", "float [4H]"},
    {kMask, "mask", "float [N, T], nonzero = valid step", /*optional=*/true},
    {kBackwardKernel, "backward_kernel", "float [C, 4H] (bidirectional only)",
     true},
    {kBackwardRecurrentKernel, "backward_recurrent_kernel",
     "float [H, 4H] (bidirectional only)", true},
    {kBackwardBias, "backward_bias", "float [4H] (bidirectional only)", true},
}};
static_assert(InputsInOrder(kInputs), "kInputs must follow recurrent::Input");

struct LstmAttrs : LayerAttrs {
  float dropout = 0;
  float recurrent_dropout = 0;
  bool bf16 = false;  // precision: "bf16"
};

absl::StatusOr<LstmAttrs> ReadAttrs(const AttrMap& attrs) {
  LstmAttrs a;
  a.units = attrs.GetInt("units");
  // The bound keeps 4 * units and the weights' sizes far from overflowing.
  if (a.units < 1 || a.units > (int64_t{1} << 32)) {
    return absl::InvalidArgumentError(
        absl::StrCat("attribute 'units' must be in [1, 2^32], got ", a.units));
  }
  LOOM_ASSIGN_OR_RETURN(a.direction, recurrent::ReadDirection(attrs));
  a.return_sequences = attrs.GetBool("return_sequences");
  a.dropout = attrs.GetFloat("dropout");
  a.recurrent_dropout = attrs.GetFloat("recurrent_dropout");
  const std::string precision = attrs.GetString("precision");
  if (precision != "f32" && precision != "bf16") {
    return absl::InvalidArgumentError(absl::StrCat(
        "attribute 'precision' must be \"f32\" or \"bf16\", got \"", precision,
        "\""));
  }
  a.bf16 = precision == "bf16";
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

// Checks input shapes against each other and the attributes. Shapes may hold
// -1 (unknown until run time); nullptr marks an absent optional input.
absl::Status CheckShapes(const LayerAttrs& a, const InputShapes& s) {
  const int64_t h = a.units;
  auto expect = [&](int i, const Shape& want) {
    return recurrent::ExpectShape(kInputs[i].name, *s[i], want, h);
  };
  LOOM_RETURN_IF_ERROR(recurrent::ExpectSequenceShape(*s[kX]));
  const int64_t n = (*s[kX])[0], t = (*s[kX])[1], c = (*s[kX])[2];
  const bool bidirectional = a.num_directions() == 2;
  for (int k = 0; k < 2; ++k) {
    if (k == 1) {
      LOOM_RETURN_IF_ERROR(
          recurrent::ExpectBackwardInputs(s, "LSTM", bidirectional));
      if (!bidirectional) break;
    }
    LOOM_RETURN_IF_ERROR(expect(KernelInput(k), {c, 4 * h}));
    LOOM_RETURN_IF_ERROR(expect(RecurrentInput(k), {h, 4 * h}));
    LOOM_RETURN_IF_ERROR(expect(BiasInput(k), {4 * h}));
  }
  if (s[kMask] != nullptr) LOOM_RETURN_IF_ERROR(expect(kMask, {n, t}));
  return absl::OkStatus();
}

absl::Status LstmShape(ShapeContext& ctx) {
  LOOM_ASSIGN_OR_RETURN(const LstmAttrs attrs, ReadAttrs(ctx.attrs()));
  return recurrent::InferShape(ctx, attrs, [&](const InputShapes& shapes) {
    return CheckShapes(attrs, shapes);
  });
}

// The parameter an LSTM node gets for input `input` when it leaves its
// parameters to the op: direction k's kernel, recurrent kernel or bias,
// named as recurrent::ParamSuffix says.
ParamSpec LstmParam(int input) {
  const int which = recurrent::ParamOf(input);
  static const char* const kDoc[3] = {
      "[C, 4H], glorot_uniform", "[H, 4H], orthogonal",
      "[4H], zeros but 1 on the forget gate's [H, 2H) (unit_forget_bias)"};
  ParamSpec spec;
  spec.input = input;
  spec.suffix = recurrent::ParamSuffix(input);
  spec.make =
      [which](const ShapeContext& ctx) -> absl::StatusOr<OwnedParameter> {
    LOOM_ASSIGN_OR_RETURN(const LstmAttrs a, ReadAttrs(ctx.attrs()));
    const ValueInfo* x = ctx.input(kX);
    LOOM_RETURN_IF_ERROR(recurrent::ExpectSequenceShape(x->shape));
    const int64_t h = a.units;
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
// The op's kernels.

class LstmKernel : public OpKernel {
 public:
  explicit LstmKernel(bool always_stepwise)
      : always_stepwise_(always_stepwise) {}

  absl::Status Init(const KernelInitContext& init) {
    LOOM_ASSIGN_OR_RETURN(attrs_, ReadAttrs(init.attrs));
    fused_.set_bf16(attrs_.bf16);
    return absl::OkStatus();
  }

  absl::Status Forward(KernelContext& ctx) override {
    LOOM_RETURN_IF_ERROR(recurrent::ReadProblem(
        ctx, attrs_, kInputs,
        [&](const InputShapes& s) { return CheckShapes(attrs_, s); },
        &problem_));
    Problem& p = problem_;
    // The fused primitives run over all T steps (rows' valid steps first).
    p.aligned_steps = p.steps;
    seq_.Read(recurrent::MaskData(ctx), p.batch, p.steps);
    masks_.Clear();
    if (ctx.training()) {
      for (int k = 0; k < p.num_directions; ++k) {
        if (attrs_.dropout > 0) {
          recurrent::DrawMask(attrs_.dropout, p.batch * p.channels, ctx.rng(),
                              &masks_.input[k]);
        }
        if (attrs_.recurrent_dropout > 0) {
          recurrent::DrawMask(attrs_.recurrent_dropout, p.batch * p.units,
                              ctx.rng(), &masks_.recurrent[k]);
        }
      }
    }
    Tensor& y = *ctx.output(0);
    recurrent::ResizeOutput(p, &y);
    last_training_ = ctx.training();
    if (p.batch == 0 || p.steps == 0) {
      path_ = Path::kEmpty;
      y.SetZero();
      return absl::OkStatus();
    }
    path_ = always_stepwise_ || masks_.has_recurrent() ? Path::kStepwise
                                                       : Path::kFused;
    if (path_ == Path::kStepwise) {
      return stepwise_.Forward(p, seq_, masks_, ctx.engine(), ctx.stream(),
                               y.f32());
    }
    return fused_.Forward(p, seq_, masks_, ctx.training(), ctx.engine(),
                          ctx.stream(), y.f32());
  }

  absl::Status Backward(GradContext& ctx) override {
    const Problem& p = problem_;
    const Grads grads = recurrent::GradsOf(ctx, p.num_directions);
    const Tensor* dy = ctx.output_grad(0);
    if (dy == nullptr || path_ == Path::kEmpty) {
      recurrent::ZeroGrads(ctx);
      return absl::OkStatus();
    }
    if (path_ == Path::kStepwise) {
      return stepwise_.Backward(p, seq_, masks_, dy->f32(), grads, ctx.engine(),
                                ctx.stream());
    }
    if (!last_training_) {
      // The inference forward kept no workspace: run the training one.
      LOOM_RETURN_IF_ERROR(fused_.Forward(p, seq_, masks_, /*training=*/true,
                                          ctx.engine(), ctx.stream(), nullptr));
      last_training_ = true;
    }
    return fused_.Backward(p, seq_, masks_, dy->f32(), grads, ctx.engine(),
                           ctx.stream());
  }

 private:
  enum class Path { kEmpty, kFused, kStepwise };

  const bool always_stepwise_;
  LstmAttrs attrs_;
  // The last forward run, for Backward.
  Problem problem_;
  ValidSteps seq_;
  DropoutMasks masks_;
  Path path_ = Path::kEmpty;
  bool last_training_ = false;
  // Each path keeps its buffers in one arena shared by all shapes, so
  // what a Forward saves survives only until the path's next call. Keep
  // it so: Backward runs the path of the latest Forward, and calls nothing
  // of that path before its Backward but (after an inference forward) the
  // training Forward at the same problem.
  FusedLstm fused_;
  StepwiseLstm stepwise_;
};

KernelFactory LstmKernelFactory(bool always_stepwise) {
  return [always_stepwise](const KernelInitContext& init)
             -> absl::StatusOr<std::unique_ptr<OpKernel>> {
    auto kernel = std::make_unique<LstmKernel>(always_stepwise);
    LOOM_RETURN_IF_ERROR(kernel->Init(init));
    return kernel;
  };
}

std::vector<OpDef> LstmOps() {
  OpDef def;
  def.signature.name = "LSTM";
  def.signature.doc =
      "Keras' LSTM layer (optionally Bidirectional), with masking and "
      "dropout; see ops/lstm.cc.";
  def.signature.inputs = ArgSpecs(kInputs);
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
      StringAttr("precision", "f32",
                 "f32 or bf16: the fused kernel's primitives on bf16 data "
                 "(weights and the op's tensors stay f32)"),
  };
  def.shape_fn = LstmShape;
  for (int input : recurrent::kParamInputs) {
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
