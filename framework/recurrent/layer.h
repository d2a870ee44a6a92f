// What Keras-style recurrent layers (the LSTM op, the GRU plugin) share
// around their kernels: the input list and its table, direction handling,
// the attributes every such layer has, one run's problem, the gradients it
// writes, and the checks and shape function built on them.
//
// Inputs, in this order: x [N, T, C], kernel, recurrent_kernel, bias, mask
// [N, T] (optional), then backward_kernel, backward_recurrent_kernel and
// backward_bias (optional; required iff the direction is bidirectional_*).
// Direction k = 0 is the forward one, k = 1 the reverse one: it runs from
// t = T-1 down to 0, its "last" state is the one after t = 0, and its
// outputs are stored at the time step they belong to, as Keras'
// Bidirectional does.
#ifndef LOOM_FRAMEWORK_RECURRENT_LAYER_H_
#define LOOM_FRAMEWORK_RECURRENT_LAYER_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "framework/op.h"
#include "framework/status_macros.h"

namespace loom {

// ---------------------------------------------------------------------------
// An op's inputs as one table.
//
// An op lists its inputs once, as a constexpr array of InputEntry whose
// `index` fields are its input enum in order; static_assert(InputsInOrder(
// kInputs)) checks at compile time that the table and the enum agree, and
// the signature's inputs and every message's input name come from the
// table:
//
//   enum Input { kX, kMask, kNumInputs };
//   constexpr std::array<InputEntry, kNumInputs> kInputs = {{
//       {kX, "x", "float [N, T, C]"},
//       {kMask, "mask", "float [N, T]", /*optional=*/true},
//   }};
//   static_assert(InputsInOrder(kInputs));
//   def.signature.inputs = ArgSpecs(kInputs);
//
// (Generic, not recurrent: it belongs with ArgSpec in framework/op.h.)
struct InputEntry {
  int index;
  const char* name;
  const char* doc;
  bool optional = false;
};

template <size_t N>
constexpr bool InputsInOrder(const std::array<InputEntry, N>& inputs) {
  for (size_t i = 0; i < N; ++i) {
    if (inputs[i].index != static_cast<int>(i)) return false;
  }
  return true;
}

template <size_t N>
std::vector<ArgSpec> ArgSpecs(const std::array<InputEntry, N>& inputs) {
  std::vector<ArgSpec> specs;
  specs.reserve(N);
  for (const InputEntry& in : inputs) {
    specs.push_back({in.name, in.doc, in.optional});
  }
  return specs;
}

namespace recurrent {

// ---------------------------------------------------------------------------
// Inputs and directions.

enum Input {
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

using InputTable = std::array<InputEntry, kNumInputs>;

// The parameter inputs of direction k (0 = forward, 1 = reverse).
inline int KernelInput(int k) { return k == 0 ? kKernel : kBackwardKernel; }
inline int RecurrentInput(int k) {
  return k == 0 ? kRecurrentKernel : kBackwardRecurrentKernel;
}
inline int BiasInput(int k) { return k == 0 ? kBias : kBackwardBias; }
// For a parameter input: its direction, and which of the direction's
// parameters it is (0 kernel, 1 recurrent kernel, 2 bias).
inline int DirectionOf(int input) { return input >= kBackwardKernel ? 1 : 0; }
inline int ParamOf(int input) {
  return input - KernelInput(DirectionOf(input));
}
inline constexpr std::array<int, 6> kParamInputs = {
    kKernel,         kRecurrentKernel,         kBias,
    kBackwardKernel, kBackwardRecurrentKernel, kBackwardBias};

enum class Direction { kForward, kBidirectionalConcat, kBidirectionalSum };

// The "direction" attribute.
inline absl::StatusOr<Direction> ReadDirection(const AttrMap& attrs) {
  const std::string& direction = attrs.GetString("direction");
  if (direction == "forward") return Direction::kForward;
  if (direction == "bidirectional_concat") {
    return Direction::kBidirectionalConcat;
  }
  if (direction == "bidirectional_sum") return Direction::kBidirectionalSum;
  return absl::InvalidArgumentError(
      absl::StrCat("attribute 'direction' must be \"forward\", "
                   "\"bidirectional_concat\" or \"bidirectional_sum\", got \"",
                   direction, "\""));
}

// The name suffix of the parameter a node gets for parameter input `input`
// when it leaves its parameters to the op: "kernel", "recurrent_kernel",
// "bias"; bidirectional, "forward/kernel", ... and "backward/kernel", ...,
// as Keras' Bidirectional names its two layers ("" for a backward input of
// a forward layer: no such parameter).
inline std::function<std::string(const AttrMap&)> ParamSuffix(int input) {
  const int k = DirectionOf(input), which = ParamOf(input);
  return [k, which](const AttrMap& attrs) -> std::string {
    static const char* const kSuffix[3] = {"kernel", "recurrent_kernel",
                                           "bias"};
    if (attrs.GetString("direction") == "forward") {
      return k == 0 ? kSuffix[which] : "";
    }
    return absl::StrCat(k == 0 ? "forward/" : "backward/", kSuffix[which]);
  };
}

// ---------------------------------------------------------------------------
// Attributes and one run's problem.

// The attributes every recurrent layer has.
struct LayerAttrs {
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

// One run's problem.
struct Problem {
  int64_t batch = 0, steps = 0, channels = 0, units = 0;
  // The steps a fused primitive runs over (aligned copies of the rows'
  // valid steps, framework/recurrent/aligned_steps.h): at least the
  // longest row's number of valid steps.
  int64_t aligned_steps = 0;
  int num_directions = 1;
  bool concat = false;
  bool return_sequences = false;
  int64_t output_width = 0;
  const float* x = nullptr;
  // Direction k's parameters (the inputs kernel, recurrent_kernel, bias).
  std::array<const float*, 2> weights{}, recurrent_weights{}, bias{};

  // Column where direction k's output starts within an output step, and
  // whether it adds to what the other direction wrote (bidirectional_sum).
  int64_t output_offset(int k) const { return concat ? k * units : 0; }
  bool accumulates(int k) const { return k == 1 && !concat; }
};

// Where Backward writes gradients; nullptr for gradients not wanted.
struct Grads {
  float* x = nullptr;
  std::array<float*, 2> weights{}, recurrent_weights{}, bias{};
};

// ---------------------------------------------------------------------------
// Shape checks.

// The shapes of the inputs; nullptr marks an absent optional input.
using InputShapes = std::array<const Shape*, kNumInputs>;

// OK if `got` agrees with `want` (-1: unknown until run time), else
// "<name> has shape <got>, expected <want> (units=<units><note>)".
inline absl::Status ExpectShape(const char* name, const Shape& got,
                                const Shape& want, int64_t units,
                                absl::string_view note = "") {
  bool ok = got.size() == want.size();
  for (size_t d = 0; ok && d < got.size(); ++d) {
    ok = DimsCompatible(got[d], want[d]);
  }
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(name, " has shape ", ShapeToString(got), ", expected ",
                   ShapeToString(want), " (units=", units, note, ")"));
}

inline absl::Status ExpectSequenceShape(const Shape& x) {
  if (x.size() == 3) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "x must be [batch, time, channels], got ", ShapeToString(x)));
}

// The backward_* inputs are all given iff the layer is bidirectional.
inline absl::Status ExpectBackwardInputs(const InputShapes& s,
                                         const char* layer,
                                         bool bidirectional) {
  const int given = (s[kBackwardKernel] != nullptr) +
                    (s[kBackwardRecurrentKernel] != nullptr) +
                    (s[kBackwardBias] != nullptr);
  if (bidirectional && given != 3) {
    return absl::InvalidArgumentError(
        absl::StrCat("a bidirectional ", layer,
                     " needs backward_kernel, "
                     "backward_recurrent_kernel and backward_bias"));
  }
  if (!bidirectional && given != 0) {
    return absl::InvalidArgumentError(
        "backward_* parameters are given but direction is \"forward\"; "
        "use a bidirectional direction or leave them out");
  }
  return absl::OkStatus();
}

// The shape function's part after the attributes: every given input float,
// `check(shapes)` (an absl::Status), and the output y, [N, T, D*H] with
// return_sequences, else [N, D*H].
template <typename Check>
absl::Status InferShape(ShapeContext& ctx, const LayerAttrs& attrs,
                        Check&& check) {
  InputShapes shapes{};
  for (int i = 0; i < ctx.num_inputs() && i < kNumInputs; ++i) {
    if (ctx.input(i) == nullptr) continue;
    LOOM_RETURN_IF_ERROR(ctx.ExpectDType(i, DType::kFloat32));
    shapes[i] = &ctx.input(i)->shape;
  }
  LOOM_RETURN_IF_ERROR(check(shapes));
  const Shape& x = ctx.input(kX)->shape;
  const int64_t width = attrs.output_width();
  ctx.set_output(
      0, {DType::kFloat32, attrs.return_sequences ? Shape{x[0], x[1], width}
                                                  : Shape{x[0], width}});
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// Kernel plumbing.

// Checks the run's tensors (float; x and the forward parameters given;
// `check(shapes)`, an absl::Status) and fills *p but for aligned_steps.
template <typename Check>
absl::Status ReadProblem(const KernelContext& ctx, const LayerAttrs& attrs,
                         const InputTable& inputs, Check&& check, Problem* p) {
  InputShapes shapes{};
  for (int i = 0; i < ctx.num_inputs() && i < kNumInputs; ++i) {
    const Tensor* t = ctx.input(i);
    if (t == nullptr) continue;
    if (t->dtype() != DType::kFloat32) {
      return absl::InvalidArgumentError(
          absl::StrCat(inputs[i].name, " must be float"));
    }
    shapes[i] = &t->shape();
  }
  if (shapes[kX] == nullptr || shapes[kKernel] == nullptr ||
      shapes[kRecurrentKernel] == nullptr || shapes[kBias] == nullptr) {
    return absl::InvalidArgumentError(
        "x, kernel, recurrent_kernel and bias are required");
  }
  LOOM_RETURN_IF_ERROR(check(shapes));
  const Tensor& x = *ctx.input(kX);
  p->batch = x.dim(0);
  p->steps = x.dim(1);
  p->channels = x.dim(2);
  p->units = attrs.units;
  p->num_directions = attrs.num_directions();
  p->concat = attrs.direction == Direction::kBidirectionalConcat;
  p->return_sequences = attrs.return_sequences;
  p->output_width = attrs.output_width();
  p->x = x.f32();
  for (int k = 0; k < p->num_directions; ++k) {
    p->weights[k] = ctx.input(KernelInput(k))->f32();
    p->recurrent_weights[k] = ctx.input(RecurrentInput(k))->f32();
    p->bias[k] = ctx.input(BiasInput(k))->f32();
  }
  return absl::OkStatus();
}

// The mask's data, or nullptr when the node gives none.
inline const float* MaskData(const KernelContext& ctx) {
  const Tensor* mask = ctx.input(kMask);
  return mask != nullptr ? mask->f32() : nullptr;
}

// The input gradients Backward writes, resized to their inputs' shapes; the
// mask's (it selects steps: no gradient) is set to zeros.
inline Grads GradsOf(GradContext& ctx, int num_directions) {
  auto grad = [&](int i) -> float* {
    Tensor* g = ctx.input_grad(i);
    if (g == nullptr) return nullptr;
    g->Resize(DType::kFloat32, ctx.input(i)->shape());
    return g->f32();
  };
  Grads grads;
  grads.x = grad(kX);
  for (int k = 0; k < num_directions; ++k) {
    grads.weights[k] = grad(KernelInput(k));
    grads.recurrent_weights[k] = grad(RecurrentInput(k));
    grads.bias[k] = grad(BiasInput(k));
  }
  if (ctx.num_inputs() > kMask && ctx.input(kMask) != nullptr &&
      ctx.input_grad(kMask) != nullptr) {
    ctx.input_grad(kMask)->ResizeZeroed(DType::kFloat32,
                                        ctx.input(kMask)->shape());
  }
  return grads;
}

// Sets every wanted input gradient to zeros (no output gradient, or no
// valid step anywhere).
inline void ZeroGrads(GradContext& ctx) {
  for (int i = 0; i < kNumInputs && i < ctx.num_inputs(); ++i) {
    if (Tensor* g = ctx.input_grad(i)) g->SetZero();
  }
}

// Resizes y to the output's shape for problem p.
inline void ResizeOutput(const Problem& p, Tensor* y) {
  y->Resize(DType::kFloat32, p.return_sequences
                                 ? Shape{p.batch, p.steps, p.output_width}
                                 : Shape{p.batch, p.output_width});
}

}  // namespace recurrent
}  // namespace loom

#endif  // LOOM_FRAMEWORK_RECURRENT_LAYER_H_
