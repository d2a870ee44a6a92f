// tools/check_op run as a plugin author runs it (plugins/README.md, "Check
// it"): the gradient check as before, --print_outputs, --inputs_file (and
// printed values fed back), --compare_kernels alone and with a kernel name,
// on the Swish example, on a test plugin whose op has a wrong kernel, and on
// the built-in LSTM.
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "framework/testing/tensor_text.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loom::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// Paths in the test's runfiles, the top of the tree.
const char kCheckOp[] = "tools/check_op";
const char kSwish[] = "plugins/examples/swish/libloom_swish.so";
const char kVariants[] = "tests/plugins/libkernel_variants_plugin.so";

struct Result {
  int exit_code = -1;
  std::string output;  // Standard output and error.
};

// Runs check_op with `args` (a shell command line's tail).
Result CheckOp(const std::string& args) {
  Result r;
  const std::string command = absl::StrCat(kCheckOp, " ", args, " 2>&1");
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) r.output.append(buf, n);
  const int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string TempFile(const std::string& name, const std::string& contents) {
  const char* dir = std::getenv("TEST_TMPDIR");
  const std::string path =
      absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name);
  std::ofstream(path) << contents;
  return path;
}

// What --print_outputs printed: from "# inputs" up to the next line that is
// not part of the blocks (the gradient check's report).
std::string PrintedValues(const std::string& output) {
  const size_t begin = output.find("# inputs\n");
  if (begin == std::string::npos) return "";
  size_t end = output.find("gradient check", begin);
  if (end == std::string::npos) end = output.find("kernel comparison", begin);
  if (end == std::string::npos) end = output.size();
  return output.substr(begin, end - begin);
}

// The existing behaviour, as the guide shows it.
TEST(CheckOpTest, GradientCheckAsInTheGuide) {
  Result r = CheckOp(absl::StrCat("--plugin=", kSwish,
                                  " --op=Swish --input_shapes=3,4 "
                                  "--attr=beta=0.5"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("attrs: beta=0.5\n"
                                  "input 0 (x): float32 [3, 4]\n"
                                  "output 0 (y): float32 [3, 4]\n"
                                  "gradient check (epsilon 0.01, atol 0.002, "
                                  "rtol 0.02): 12 elements checked\n"));
  EXPECT_THAT(r.output, HasSubstr("\nPASSED\n"));
  EXPECT_THAT(r.output, Not(HasSubstr("# inputs")));
  EXPECT_THAT(r.output, Not(HasSubstr("kernel comparison")));
}

TEST(CheckOpTest, PrintOutputsPrintsValuesThatReadBack) {
  Result r = CheckOp(absl::StrCat("--plugin=", kSwish,
                                  " --op=Swish --input_shapes=2,3 --seed=4 "
                                  "--print_outputs"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("output 0 (y): float32 [2, 3]\n"
                                  "# inputs\n"
                                  "x: float32 [2, 3]\n"));
  EXPECT_THAT(r.output, HasSubstr("# outputs\ny: float32 [2, 3]\n"));
  EXPECT_THAT(r.output, HasSubstr("\nPASSED\n"));

  // The printed blocks parse, and y is x * sigmoid(x).
  auto blocks = ParseTensorBlocks(PrintedValues(r.output), "output");
  ASSERT_TRUE(blocks.ok()) << blocks.status() << "\n" << r.output;
  ASSERT_EQ(blocks->size(), 2u);
  const Tensor& x = *(*blocks)[0].value;
  const Tensor& y = *(*blocks)[1].value;
  ASSERT_EQ(y.shape(), x.shape());
  for (int i = 0; i < 6; ++i) {
    const double v = x.f32()[i];
    EXPECT_NEAR(y.f32()[i], v / (1 + std::exp(-v)), 1e-6) << i;
  }

  // Printed inputs fed back give the same outputs.
  const std::string file = TempFile(
      "printed.txt", PrintedValues(r.output).substr(
                         0, PrintedValues(r.output).find("# outputs")));
  Result again = CheckOp(absl::StrCat("--plugin=", kSwish,
                                      " --op=Swish --print_outputs "
                                      "--inputs_file=",
                                      file));
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(PrintedValues(again.output), PrintedValues(r.output));
  EXPECT_THAT(again.output,
              HasSubstr(absl::StrCat("input 0 (x): float32 [2, 3], from ", file,
                                     "\n")));
}

TEST(CheckOpTest, InputsFile) {
  const std::string file = TempFile("swish_inputs.txt",
                                    "# Swish with beta = 0 halves x.\n"
                                    "x: float32 [4]\n"
                                    "  0 1 -1 2\n");
  Result r = CheckOp(absl::StrCat("--plugin=", kSwish,
                                  " --op=Swish --attr=beta=0 --print_outputs "
                                  "--inputs_file=",
                                  file));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("# outputs\n"
                                  "y: float32 [4]\n"
                                  "  0 0.5 -0.5 1\n"));
  EXPECT_THAT(r.output,
              HasSubstr("gradient check (epsilon 0.01, atol 0.002, rtol "
                        "0.02): 4 elements checked"));
}

TEST(CheckOpTest, InputsFileErrors) {
  const std::string bad = TempFile("bad.txt",
                                   "x: float32 [2, 2]\n"
                                   "  1 2\n"
                                   "  3 abc\n");
  Result r = CheckOp(
      absl::StrCat("--plugin=", kSwish, " --op=Swish --inputs_file=", bad));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.output,
            absl::StrCat("check_op: --inputs_file: ", bad,
                         ":3: 'abc' is not a float32 value, for 'x' (float32 "
                         "[2, 2])\n"));

  const std::string misnamed = TempFile("misnamed.txt", "y: float32 [1] 1\n");
  r = CheckOp(absl::StrCat("--plugin=", kSwish,
                           " --op=Swish --inputs_file=", misnamed));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr(absl::StrCat(misnamed,
                                               ":1: input 0 of Swish is 'x', "
                                               "not 'y'")));

  r = CheckOp("--op=Relu --inputs_file=/nonexistent/in.txt");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, StartsWith("check_op: --inputs_file: cannot open "
                                   "/nonexistent/in.txt"));

  r = CheckOp(absl::StrCat("--op=Relu --input_shapes=2 --inputs_file=", bad));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("--inputs_file gives the inputs' dtypes and "
                                  "shapes: leave out --input_shapes and "
                                  "--int_inputs"));
}

TEST(CheckOpTest, CompareKernelsAgainstTheFirst) {
  // The bare flag, before other flags and last.
  for (const std::string& args :
       {absl::StrCat("--compare_kernels --plugin=", kVariants,
                     " --op=Twice --input_shapes=2,3"),
        absl::StrCat("--plugin=", kVariants,
                     " --op=Twice --input_shapes=2,3 --compare_kernels")}) {
    SCOPED_TRACE(args);
    Result r = CheckOp(args);
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_THAT(r.output, HasSubstr("kernel comparison against 'reference' "
                                    "(atol 1e-05, rtol 0.0001):\n"
                                    "  close, output 0 (y): max abs diff "));
    EXPECT_THAT(r.output, HasSubstr(": agrees (worst: element "));
    EXPECT_THAT(r.output, HasSubstr(")\n  off, output 0 (y): max abs diff "
                                    "0.5, max rel diff "));
    EXPECT_THAT(r.output, HasSubstr(": DIFFERS (worst: element 3 [1, 0]: "));
    // The gradient check still runs, and passes; the kernels fail the run.
    EXPECT_THAT(r.output, HasSubstr("gradient check (epsilon 0.01"));
    EXPECT_THAT(r.output,
                HasSubstr("\nFAILED: kernels differ by more than "
                          "--compare_atol + --compare_rtol * |reference|\n"));
    EXPECT_THAT(r.output, Not(HasSubstr("PASSED")));
  }
}

TEST(CheckOpTest, CompareKernelsAgainstANamedKernel) {
  Result r = CheckOp(absl::StrCat("--plugin=", kVariants,
                                  " --op=Twice --input_shapes=2,3 "
                                  "--compare_kernels=close --compare_atol=1"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("kernel comparison against 'close' (atol 1, "
                                  "rtol 0.0001):\n  reference, output 0 (y)"));
  EXPECT_THAT(r.output, HasSubstr("  off, output 0 (y): max abs diff "));
  EXPECT_THAT(r.output, HasSubstr("\nPASSED\n"));

  r = CheckOp(absl::StrCat("--plugin=", kVariants,
                           " --op=Twice --input_shapes=2,3 "
                           "--compare_kernels=fast"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output,
              HasSubstr("check_op: --compare_kernels: op Twice has no kernel "
                        "'fast' (it has: reference, close, off)\n"));

  r = CheckOp(absl::StrCat("--plugin=", kVariants,
                           " --op=Twice --input_shapes=2,3 --compare_kernels "
                           "--compare_rtol=-1"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("--compare_atol and --compare_rtol must be "
                                  ">= 0"));
}

TEST(CheckOpTest, CompareKernelsWithOneKernel) {
  Result r = CheckOp(absl::StrCat("--plugin=", kSwish,
                                  " --op=Swish --input_shapes=3 "
                                  "--compare_kernels"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("kernel comparison: op Swish has one kernel "
                                  "(reference): nothing to compare\n"));
  EXPECT_THAT(r.output, HasSubstr("\nPASSED\n"));
}

// The guide's built-in example: LSTM's fused and stepwise kernels.
TEST(CheckOpTest, LstmKernelsAgree) {
  Result r = CheckOp(
      "--op=LSTM --input_shapes='2,5,3;3,16;4,16;16' --attr=units=4 "
      "--compare_kernels --max_checks=8");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("kernel comparison against 'fused' (atol "
                                  "1e-05, rtol 0.0001):\n  stepwise, output 0 "
                                  "(y): max abs diff "));
  EXPECT_THAT(r.output, HasSubstr(": agrees"));
  EXPECT_THAT(r.output, HasSubstr("\nPASSED\n"));
}

}  // namespace
}  // namespace loom::testing
