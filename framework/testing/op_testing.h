// Helpers for testing ops, built-in or plugin: run one op on given inputs,
// and check its registered gradient against central finite differences.
//
// Float inputs marked differentiable become parameters of a one-node graph,
// so gradients flow through the real executor (including sparse gradients);
// the rest are fed as graph inputs.
#ifndef LOOM_FRAMEWORK_TESTING_OP_TESTING_H_
#define LOOM_FRAMEWORK_TESTING_OP_TESTING_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "framework/proto/graph.pb.h"
#include "framework/registry.h"
#include "framework/tensor.h"

namespace loom::testing {

struct OpTestCase {
  std::string op;
  std::map<std::string, AttrValue> attrs;
  // One per node input, in order. std::nullopt leaves an optional input
  // out (anywhere in the list). For an op with a variadic last input, give
  // one tensor per element after the fixed inputs, as many as the case
  // needs (e.g. 11 values for Concatenate); its elements cannot be left out.
  std::vector<std::optional<Tensor>> inputs;
  // Per input; when empty, every float input is differentiable.
  std::vector<bool> differentiable;
  bool training = false;
  uint64_t seed = 1;
};

// A registry holding Loom's built-in ops (made once).
const OpRegistry& BuiltinRegistry();

// Runs the op forward and returns its outputs.
absl::StatusOr<std::vector<Tensor>> RunOp(const OpRegistry& registry,
                                          const OpTestCase& test);

// Analytic gradients of sum_k <weights[k], output k> with respect to each
// input (an empty tensor for inputs that are not differentiable), from the
// op's registered gradient. `weights` has one tensor per output (an empty
// tensor leaves that output out).
absl::StatusOr<std::vector<Tensor>> ComputeGradients(
    const OpRegistry& registry, const OpTestCase& test,
    const std::vector<Tensor>& weights);

struct GradientCheckOptions {
  double epsilon = 1e-2;
  // An element passes if |analytic - numeric| <= atol + rtol * |numeric|.
  double atol = 2e-3;
  double rtol = 2e-2;
  // Elements checked per input at most (spread evenly); 0 checks all.
  int max_checks_per_input = 48;
  uint64_t weight_seed = 7;
};

struct GradientCheckReport {
  bool ok = true;
  double max_abs_error = 0;
  int checked = 0;
  std::string worst;  // Describes the worst element.
};

// Compares analytic and numeric gradients of sum_k <W_k, output k> for
// random fixed W. Node random generators are reseeded before every run, so
// ops with dropout are checked with a fixed mask.
absl::StatusOr<GradientCheckReport> CheckGradients(
    const OpRegistry& registry, const OpTestCase& test,
    const GradientCheckOptions& options = {});

struct KernelComparisonOptions {
  // The kernel the others are compared with; empty: the op's first (default)
  // kernel.
  std::string reference;
  // An element agrees if |value - reference| <= atol + rtol * |reference|
  // (NaN agrees only with NaN, an infinity only with itself).
  double atol = 1e-5;
  double rtol = 1e-4;
};

// How one output of one kernel compares with the reference kernel's.
struct OutputComparison {
  int output = 0;
  double max_abs_diff = 0;
  // max |value - reference| / |reference| over the elements whose
  // reference is not zero.
  double max_rel_diff = 0;
  bool ok = true;
  // The worst element ("element 5: 0.25 vs 0.5"), or why the outputs cannot
  // be compared (dtype or shape differs).
  std::string worst;
};

struct KernelComparison {
  std::string kernel;
  bool ok = true;
  // When the kernel failed to run: its error, and no outputs.
  std::string error;
  std::vector<OutputComparison> outputs;
};

struct KernelComparisonReport {
  std::string reference;
  bool ok = true;
  // Every kernel of the op but the reference, in registration order.
  std::vector<KernelComparison> kernels;
};

// Runs every kernel of the op (the "_kernel" attribute set to each in turn,
// any given one replaced) on test's inputs, with the same seed, and compares
// each kernel's outputs with the reference kernel's. An unknown reference
// or a failure of the reference kernel is an error; another kernel's failure
// is reported in its KernelComparison.
absl::StatusOr<KernelComparisonReport> CompareKernels(
    const OpRegistry& registry, const OpTestCase& test,
    const KernelComparisonOptions& options = {});

// The report as check_op prints it: a heading with the tolerance, then one
// line per kernel and output, with its maximum differences.
std::string KernelComparisonText(const KernelComparisonReport& report,
                                 const OpSignature& sig,
                                 const KernelComparisonOptions& options);

// Attribute values for OpTestCase::attrs.
AttrValue IntValue(int64_t v);
AttrValue FloatValue(float v);
AttrValue StringValue(const std::string& v);
AttrValue BoolValue(bool v);
AttrValue IntListValue(const std::vector<int64_t>& v);

// A float tensor with values uniform in [lo, hi).
Tensor RandomTensor(const Shape& shape, uint64_t seed, float lo = -1.0f,
                    float hi = 1.0f);

}  // namespace loom::testing

#endif  // LOOM_FRAMEWORK_TESTING_OP_TESTING_H_
