// Runs one op (built-in or from --plugin) on random inputs of given shapes,
// or on the values of --inputs_file, and checks its gradient against central
// finite differences:
//   bazel run //tools:check_op -- --op=Swish --input_shapes=3,4
//     --attr=beta=0.5
//     --plugin=bazel-bin/plugins/examples/swish/libloom_swish.so
// Prints the output shapes and the gradient report; --print_outputs prints
// the values, --compare_kernels compares the op's kernels with each other.
// Exits 0 if every check passes, 1 otherwise (or on any error). The work is
// done by framework/testing (op_testing, tensor_text); this is its front end.
#include <cmath>
#include <cstdint>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "framework/registry.h"
#include "framework/status_macros.h"
#include "framework/testing/op_testing.h"
#include "framework/testing/tensor_text.h"
#include "framework/training/plugin_search.h"
#include "framework/training/user_path.h"
#include "tools/flag_help.h"

namespace loom {
namespace {

// --compare_kernels: off by default; given alone (or empty), against the
// op's first kernel; given a name, against that kernel.
struct CompareKernelsFlag {
  bool on = false;
  std::string reference;
};

bool AbslParseFlag(absl::string_view text, CompareKernelsFlag* flag,
                   std::string* /*error*/) {
  flag->on = text != "false";
  flag->reference = text == "true" || text == "false" ? "" : std::string(text);
  return true;
}

std::string AbslUnparseFlag(const CompareKernelsFlag& flag) {
  if (!flag.on) return "false";
  return flag.reference.empty() ? "true" : flag.reference;
}

}  // namespace
}  // namespace loom

ABSL_FLAG(std::vector<std::string>, plugin, {}, loom::tools::kPluginHelp);
ABSL_FLAG(std::string, op, "", "The op to check (required).");
ABSL_FLAG(std::string, input_shapes, "",
          "Shapes of the inputs, in order: dimensions separated by ',', "
          "inputs by ';' (e.g. \"2,3;3,4\"). Trailing optional inputs may be "
          "left out; a variadic last input takes every shape past the fixed "
          "inputs (e.g. --op=Concatenate --input_shapes=\"2,3;2,1;2,4\").");
ABSL_FLAG(std::string, attr, "",
          "Attributes as name=value, comma-separated (e.g. beta=0.5), typed "
          "by the op's signature: int, float, string or bool.");
ABSL_FLAG(std::string, int_inputs, "",
          "Indices of inputs that are int32 (comma-separated); they get "
          "random values in [0, --int_max) and no gradient.");
ABSL_FLAG(int, int_max, 10, "Upper bound (exclusive) of int32 input values.");
ABSL_FLAG(double, min_value, -1.0,
          "Float inputs are uniform in "
          "[--min_value, --max_value).");
ABSL_FLAG(double, max_value, 1.0, "See --min_value.");
ABSL_FLAG(uint64_t, seed, 1, "Seed of the random inputs.");
ABSL_FLAG(bool, training, false,
          "Run the op in training mode (dropout and the like). Forward and "
          "Backward both run in this mode: without it, Backward sees "
          "training() false, which training itself never does.");
ABSL_FLAG(double, epsilon, 1e-2, "Finite-difference step.");
ABSL_FLAG(double, atol, 2e-3,
          "An element passes if |analytic - numeric| <= atol + rtol * "
          "|numeric|.");
ABSL_FLAG(double, rtol, 2e-2, "See --atol.");
ABSL_FLAG(int, max_checks, 48,
          "Elements checked per input at most, spread evenly (0: all).");
ABSL_FLAG(std::string, inputs_file, "",
          "Read the inputs' dtypes, shapes and values from this file instead "
          "of drawing them (then leave out --input_shapes and --int_inputs). "
          "One block per input, in order: a header line 'NAME: DTYPE "
          "[D0, D1, ...]' (dtype float32 or int32; 'NAME: none' leaves out "
          "an optional input), then the values in row-major order, "
          "separated by spaces, commas or line breaks; '#' starts a "
          "comment. --print_outputs prints values in this format.");
ABSL_FLAG(bool, print_outputs, false,
          "Print the values of the inputs and outputs, in the format of "
          "--inputs_file.");
ABSL_FLAG(loom::CompareKernelsFlag, compare_kernels, {},
          "Run every kernel of the op on the same inputs and compare their "
          "outputs with a reference kernel's: the op's first (default) "
          "kernel with --compare_kernels, the kernel NAME with "
          "--compare_kernels=NAME. Fails if an element differs by more than "
          "--compare_atol + --compare_rtol * |reference|.");
ABSL_FLAG(double, compare_atol, 1e-5,
          "Absolute tolerance of --compare_kernels.");
ABSL_FLAG(double, compare_rtol, 1e-4,
          "Relative tolerance of --compare_kernels.");

namespace loom {
namespace {

// Inputs larger than this are refused rather than risk exhausting memory.
constexpr int64_t kMaxElements = int64_t{1} << 24;

absl::StatusOr<std::vector<Shape>> ParseShapes(absl::string_view text) {
  std::vector<Shape> shapes;
  if (absl::StripAsciiWhitespace(text).empty()) return shapes;
  int index = 0;
  for (absl::string_view part : absl::StrSplit(text, ';')) {
    part = absl::StripAsciiWhitespace(part);
    auto bad = [&](const std::string& why) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--input_shapes: input ", index, " (\"", part, "\"): ", why));
    };
    if (part.empty()) return bad("no dimensions");
    Shape shape;
    int64_t elements = 1;
    for (absl::string_view dim : absl::StrSplit(part, ',')) {
      dim = absl::StripAsciiWhitespace(dim);
      int64_t d;
      if (!absl::SimpleAtoi(dim, &d)) {
        return bad(absl::StrCat("'", dim, "' is not an integer dimension"));
      }
      if (d <= 0) {
        return bad(absl::StrCat("dimensions must be positive, got ", d));
      }
      if (d > kMaxElements || elements * d > kMaxElements) {
        return bad(absl::StrCat("more than ", kMaxElements, " elements"));
      }
      elements *= d;
      shape.push_back(d);
    }
    shapes.push_back(shape);
    ++index;
  }
  return shapes;
}

absl::StatusOr<absl::flat_hash_set<int>> ParseIntInputs(absl::string_view text,
                                                        int num_inputs) {
  absl::flat_hash_set<int> indices;
  if (absl::StripAsciiWhitespace(text).empty()) return indices;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    part = absl::StripAsciiWhitespace(part);
    int i;
    if (!absl::SimpleAtoi(part, &i) || i < 0 || i >= num_inputs) {
      return absl::InvalidArgumentError(
          absl::StrCat("--int_inputs: '", part,
                       "' is not the index of an input in --input_shapes (",
                       num_inputs, " given, counted from 0)"));
    }
    indices.insert(i);
  }
  return indices;
}

absl::StatusOr<AttrValue> ParseAttrValue(const AttrSpec& spec,
                                         absl::string_view text) {
  auto bad = [&](const char* what) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--attr: attribute '", spec.name, "' is ", AttrTypeName(spec.type),
        ", and '", text, "' is not ", what));
  };
  switch (spec.type) {
    case AttrType::kInt: {
      int64_t v;
      if (!absl::SimpleAtoi(text, &v)) return bad("an integer");
      return testing::IntValue(v);
    }
    case AttrType::kFloat: {
      float v;
      if (!absl::SimpleAtof(text, &v)) return bad("a number");
      return testing::FloatValue(v);
    }
    case AttrType::kString:
      if (text.size() >= 2 && text.front() == '"' && text.back() == '"') {
        text = text.substr(1, text.size() - 2);
      }
      return testing::StringValue(std::string(text));
    case AttrType::kBool: {
      bool v;
      if (!absl::SimpleAtob(text, &v)) return bad("true or false");
      return testing::BoolValue(v);
    }
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          "--attr: attribute '", spec.name, "' is ", AttrTypeName(spec.type),
          "; check_op sets only int, float, string and bool attributes"));
  }
}

absl::StatusOr<std::map<std::string, AttrValue>> ParseAttrs(
    absl::string_view text, const OpSignature& sig) {
  std::map<std::string, AttrValue> attrs;
  if (absl::StripAsciiWhitespace(text).empty()) return attrs;
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    item = absl::StripAsciiWhitespace(item);
    const size_t eq = item.find('=');
    if (eq == absl::string_view::npos || eq == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--attr: expected name=value, got '", item, "'"));
    }
    const std::string name(absl::StripAsciiWhitespace(item.substr(0, eq)));
    const absl::string_view value =
        absl::StripAsciiWhitespace(item.substr(eq + 1));
    if (attrs.count(name) > 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--attr: attribute '", name, "' given twice"));
    }
    if (name[0] == '_') {  // For the runtime, e.g. _kernel=reference.
      attrs[name] = testing::StringValue(std::string(value));
      continue;
    }
    const AttrSpec* spec = nullptr;
    std::vector<std::string> known;
    for (const AttrSpec& a : sig.attrs) {
      if (a.name == name) spec = &a;
      known.push_back(a.name);
    }
    if (spec == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--attr: op ", sig.name, " has no attribute '", name, "' (it has: ",
          known.empty() ? "none" : absl::StrJoin(known, ", "), ")"));
    }
    LOOM_ASSIGN_OR_RETURN(auto v, ParseAttrValue(*spec, value));
    attrs[name] = std::move(v);
  }
  return attrs;
}

// Checks the number of shapes against the signature: every required input
// needs one, a variadic input at least its min_count, and there may be no
// more than the op has inputs (no limit with a variadic input).
absl::Status CheckInputCount(const OpSignature& sig, size_t given) {
  const int min_inputs = MinNodeInputs(sig);
  const int max_inputs = MaxNodeInputs(sig);
  if (static_cast<int>(given) < min_inputs ||
      (max_inputs >= 0 && static_cast<int>(given) > max_inputs)) {
    std::string wanted;
    if (max_inputs < 0) {
      wanted = absl::StrCat(min_inputs, " or more");
    } else if (min_inputs == max_inputs) {
      wanted = absl::StrCat(min_inputs);
    } else {
      wanted = absl::StrCat(min_inputs, " to ", max_inputs);
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "op ", sig.name, " takes ", wanted, " input(s) (",
        ArgListText(sig.inputs), "), but --input_shapes gives ", given));
  }
  return absl::OkStatus();
}

// An attribute value as --attr takes it.
std::string AttrText(const AttrValue& value) {
  switch (value.value_case()) {
    case AttrValue::kI:
      return absl::StrCat(value.i());
    case AttrValue::kF:
      return absl::StrCat(value.f());
    case AttrValue::kS:
      return absl::StrCat("\"", value.s(), "\"");
    case AttrValue::kB:
      return value.b() ? "true" : "false";
    default:
      return value.ShortDebugString();
  }
}

Tensor RandomInts(const Shape& shape, uint64_t seed, int high) {
  Tensor t(DType::kInt32, shape);
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int32_t> dist(0, high - 1);
  for (int64_t i = 0; i < t.num_elements(); ++i) t.i32()[i] = dist(rng);
  return t;
}

absl::Status CheckOptions() {
  if (absl::GetFlag(FLAGS_op).empty()) {
    return absl::InvalidArgumentError("--op is required; see --help");
  }
  if (!(absl::GetFlag(FLAGS_epsilon) > 0)) {
    return absl::InvalidArgumentError("--epsilon must be positive");
  }
  if (!(absl::GetFlag(FLAGS_atol) >= 0) || !(absl::GetFlag(FLAGS_rtol) >= 0)) {
    return absl::InvalidArgumentError("--atol and --rtol must be >= 0");
  }
  if (absl::GetFlag(FLAGS_max_checks) < 0) {
    return absl::InvalidArgumentError("--max_checks must be >= 0");
  }
  if (!(absl::GetFlag(FLAGS_min_value) < absl::GetFlag(FLAGS_max_value)) ||
      !std::isfinite(absl::GetFlag(FLAGS_min_value)) ||
      !std::isfinite(absl::GetFlag(FLAGS_max_value))) {
    return absl::InvalidArgumentError(
        "--min_value must be less than --max_value, both finite");
  }
  if (absl::GetFlag(FLAGS_int_max) <= 0) {
    return absl::InvalidArgumentError("--int_max must be positive");
  }
  if (!(absl::GetFlag(FLAGS_compare_atol) >= 0) ||
      !(absl::GetFlag(FLAGS_compare_rtol) >= 0)) {
    return absl::InvalidArgumentError(
        "--compare_atol and --compare_rtol must be >= 0");
  }
  if (!absl::GetFlag(FLAGS_inputs_file).empty() &&
      (!absl::GetFlag(FLAGS_input_shapes).empty() ||
       !absl::GetFlag(FLAGS_int_inputs).empty())) {
    return absl::InvalidArgumentError(
        "--inputs_file gives the inputs' dtypes and shapes: leave out "
        "--input_shapes and --int_inputs");
  }
  return absl::OkStatus();
}

// The inputs from --inputs_file, or random ones of --input_shapes.
absl::StatusOr<std::vector<std::optional<Tensor>>> MakeInputs(
    const OpSignature& sig) {
  // Relative to the folder `bazel run` was started in, as --plugin is.
  const std::string file = UserPath(absl::GetFlag(FLAGS_inputs_file));
  if (!file.empty()) {
    auto blocks = testing::ReadTensorBlocks(file);
    if (!blocks.ok()) {
      return absl::Status(
          blocks.status().code(),
          absl::StrCat("--inputs_file: ", blocks.status().message()));
    }
    auto inputs = testing::InputsFromBlocks(sig, *blocks, file);
    if (!inputs.ok()) {
      return absl::Status(
          inputs.status().code(),
          absl::StrCat("--inputs_file: ", inputs.status().message()));
    }
    return inputs;
  }
  LOOM_ASSIGN_OR_RETURN(auto shapes,
                        ParseShapes(absl::GetFlag(FLAGS_input_shapes)));
  LOOM_RETURN_IF_ERROR(CheckInputCount(sig, shapes.size()));
  LOOM_ASSIGN_OR_RETURN(auto int_inputs,
                        ParseIntInputs(absl::GetFlag(FLAGS_int_inputs),
                                       static_cast<int>(shapes.size())));
  const uint64_t seed = absl::GetFlag(FLAGS_seed);
  std::vector<std::optional<Tensor>> inputs;
  for (size_t i = 0; i < shapes.size(); ++i) {
    if (int_inputs.contains(static_cast<int>(i))) {
      inputs.push_back(
          RandomInts(shapes[i], seed + i, absl::GetFlag(FLAGS_int_max)));
    } else {
      inputs.push_back(testing::RandomTensor(
          shapes[i], seed + i,
          static_cast<float>(absl::GetFlag(FLAGS_min_value)),
          static_cast<float>(absl::GetFlag(FLAGS_max_value))));
    }
  }
  return inputs;
}

// Runs every kernel on the test's inputs and prints how they compare.
// Returns whether they agree.
absl::StatusOr<bool> CompareKernels(const OpRegistry& registry,
                                    const OpSignature& sig,
                                    const testing::OpTestCase& test) {
  testing::KernelComparisonOptions options;
  options.reference = absl::GetFlag(FLAGS_compare_kernels).reference;
  options.atol = absl::GetFlag(FLAGS_compare_atol);
  options.rtol = absl::GetFlag(FLAGS_compare_rtol);
  auto report = testing::CompareKernels(registry, test, options);
  if (!report.ok()) {
    return absl::Status(
        report.status().code(),
        absl::StrCat("--compare_kernels: ", report.status().message()));
  }
  std::cout << testing::KernelComparisonText(*report, sig, options);
  return report->ok;
}

// Builds the test case from the flags, runs the op, prints what it did and
// checks the gradient. Returns whether the check passed.
absl::StatusOr<bool> CheckOp() {
  LOOM_RETURN_IF_ERROR(CheckOptions());
  OpRegistry registry;
  LOOM_RETURN_IF_ERROR(PrepareRegistry(absl::GetFlag(FLAGS_plugin), &registry));
  const std::string op = absl::GetFlag(FLAGS_op);
  const OpDef* def = registry.Find(op);
  if (def == nullptr) {
    return absl::NotFoundError(absl::StrCat(
        "no op named '", op, "'",
        absl::GetFlag(FLAGS_plugin).empty()
            ? "; if a plugin provides it, load it with --plugin=PATH"
            : "",
        " (bazel run //tools:ops lists the registered ops)"));
  }
  const OpSignature& sig = def->signature;

  LOOM_ASSIGN_OR_RETURN(auto inputs, MakeInputs(sig));
  LOOM_ASSIGN_OR_RETURN(auto attrs, ParseAttrs(absl::GetFlag(FLAGS_attr), sig));

  testing::OpTestCase test;
  test.op = op;
  test.attrs = std::move(attrs);
  test.training = absl::GetFlag(FLAGS_training);
  test.inputs = std::move(inputs);
  bool any_float = false;
  for (const std::optional<Tensor>& t : test.inputs) {
    any_float |= t.has_value() && t->dtype() == DType::kFloat32;
  }

  std::cout << DescribeOp(*def);
  if (!test.attrs.empty()) {
    std::vector<std::string> given;
    for (const auto& [name, value] : test.attrs) {
      given.push_back(absl::StrCat(name, "=", AttrText(value)));
    }
    std::cout << "attrs: " << absl::StrJoin(given, ", ") << "\n";
  }
  const std::string inputs_file = absl::GetFlag(FLAGS_inputs_file);
  for (size_t i = 0; i < test.inputs.size(); ++i) {
    std::cout << "input " << i << " ("
              << NodeInputName(sig, static_cast<int>(i)) << "): ";
    if (!test.inputs[i].has_value()) {
      std::cout << "none";
    } else {
      std::cout << DTypeName(test.inputs[i]->dtype()) << " "
                << ShapeToString(test.inputs[i]->shape());
    }
    std::cout << (inputs_file.empty() ? "" : ", from " + inputs_file) << "\n";
  }
  LOOM_ASSIGN_OR_RETURN(auto outputs, testing::RunOp(registry, test));
  auto output_name = [&](size_t k) {
    return k < sig.outputs.size() ? sig.outputs[k].name : absl::StrCat(k);
  };
  for (size_t k = 0; k < outputs.size(); ++k) {
    const Tensor& t = outputs[k];
    std::cout << "output " << k << " (" << output_name(k)
              << "): " << DTypeName(t.dtype()) << " "
              << ShapeToString(t.shape()) << "\n";
  }
  if (absl::GetFlag(FLAGS_print_outputs)) {
    std::cout << "# inputs\n";
    for (size_t i = 0; i < test.inputs.size(); ++i) {
      const std::string name = NodeInputName(sig, static_cast<int>(i));
      std::cout << (test.inputs[i].has_value()
                        ? testing::FormatTensorBlock(name, *test.inputs[i])
                        : testing::FormatMissingBlock(name));
    }
    std::cout << "# outputs\n";
    for (size_t k = 0; k < outputs.size(); ++k) {
      std::cout << testing::FormatTensorBlock(output_name(k), outputs[k]);
    }
  }
  bool kernels_agree = true;
  if (absl::GetFlag(FLAGS_compare_kernels).on) {
    LOOM_ASSIGN_OR_RETURN(auto agree, CompareKernels(registry, sig, test));
    kernels_agree = agree;
  }
  const char* kernels_differ =
      "FAILED: kernels differ by more than --compare_atol + --compare_rtol "
      "* |reference|\n";

  if (!def->differentiable) {
    std::cout << "op " << op << " is not differentiable: no gradient to "
              << "check\n"
              << (kernels_agree ? "PASSED (forward only)\n" : kernels_differ);
    return kernels_agree;
  }
  if (!any_float) {
    std::cout << "no float inputs: no gradient to check\n"
              << (kernels_agree ? "PASSED (forward only)\n" : kernels_differ);
    return kernels_agree;
  }
  testing::GradientCheckOptions options;
  options.epsilon = absl::GetFlag(FLAGS_epsilon);
  options.atol = absl::GetFlag(FLAGS_atol);
  options.rtol = absl::GetFlag(FLAGS_rtol);
  options.max_checks_per_input = absl::GetFlag(FLAGS_max_checks);
  auto report = testing::CheckGradients(registry, test, options);
  if (!report.ok()) {
    return absl::Status(
        report.status().code(),
        absl::StrCat("gradient check: ", report.status().message()));
  }
  std::cout << "gradient check (epsilon " << options.epsilon << ", atol "
            << options.atol << ", rtol " << options.rtol
            << "): " << report->checked << " elements checked\n"
            << "  max abs error: " << report->max_abs_error << "\n";
  if (!report->worst.empty()) {
    std::cout << "  worst: " << report->worst << "\n";
  }
  if (!report->ok) {
    std::cout << "FAILED: some elements differ by more than atol + rtol * "
                 "|numeric|\n";
  }
  if (!kernels_agree) std::cout << kernels_differ;
  if (report->ok && kernels_agree) std::cout << "PASSED\n";
  return report->ok && kernels_agree;
}

}  // namespace
}  // namespace loom

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Runs one op on random inputs (or those of --inputs_file) and checks "
      "its gradient.\n"
      "  bazel run //tools:check_op -- --op=Swish --input_shapes=3,4 "
      "--attr=beta=0.5 --plugin=PATH");
  // A bare --compare_kernels means "against the first kernel"; Abseil wants
  // a value for every flag that is not a bool, so give it an empty one.
  std::vector<std::string> args(argv, argv + argc);
  for (size_t i = 1; i < args.size() && args[i] != "--"; ++i) {
    if (args[i] == "--compare_kernels" || args[i] == "-compare_kernels") {
      args[i] = "--compare_kernels=";
    }
  }
  std::vector<char*> arg_ptrs;
  for (std::string& a : args) arg_ptrs.push_back(a.data());
  arg_ptrs.push_back(nullptr);
  std::vector<char*> rest =
      absl::ParseCommandLine(static_cast<int>(args.size()), arg_ptrs.data());
  if (rest.size() > 1) {
    std::cerr << "check_op: unexpected argument '" << rest[1]
              << "'; see --help\n";
    return 1;
  }
  absl::StatusOr<bool> passed = loom::CheckOp();
  if (!passed.ok()) {
    std::cerr << "check_op: " << passed.status().message() << "\n";
    return 1;
  }
  return *passed ? 0 : 1;
}
