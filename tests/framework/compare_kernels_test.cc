// op_testing's CompareKernels (tools/check_op --compare_kernels): every
// kernel of an op run on the same inputs and compared with a reference
// kernel, with max abs/rel differences, the worst element, kernels that
// fail to run or give another shape, and the built-in LSTM's two kernels.
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "framework/op.h"
#include "framework/registry.h"
#include "framework/testing/op_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ops/op_library.h"

namespace loom::testing {
namespace {

using ::testing::HasSubstr;

enum class Variant { kExact, kReordered, kClose, kOff, kBroken, kWrongShape };

// y = 2 * x, and n = the element count (int32 scalar), computed in
// different ways (some wrong) by the kernels of "Doubler".
class DoublerKernel : public OpKernel {
 public:
  explicit DoublerKernel(Variant v) : variant_(v) {}

  absl::Status Forward(KernelContext& ctx) override {
    const Tensor& x = *ctx.input(0);
    if (variant_ == Variant::kBroken) {
      return absl::InternalError("this kernel is broken");
    }
    Tensor& y = *ctx.output(0);
    y.Resize(DType::kFloat32, variant_ == Variant::kWrongShape
                                  ? Shape{x.num_elements()}
                                  : x.shape());
    for (int64_t i = 0; i < x.num_elements(); ++i) {
      const float v = x.f32()[i];
      switch (variant_) {
        case Variant::kReordered:
          y.f32()[i] = v + v;
          break;
        case Variant::kClose:
          y.f32()[i] = 2 * v * (1 + 1e-6f);
          break;
        case Variant::kOff:
          y.f32()[i] = 2 * v + (i == 3 ? 0.5f : 0.0f);
          break;
        default:
          y.f32()[i] = 2 * v;
      }
    }
    Tensor& n = *ctx.output(1);
    n.Resize(DType::kInt32, {});
    n.i32()[0] = static_cast<int32_t>(x.num_elements());
    return absl::OkStatus();
  }

 private:
  Variant variant_;
};

KernelDef Kernel(const char* name, Variant v) {
  return {name,
          [v](const KernelInitContext&)
              -> absl::StatusOr<std::unique_ptr<OpKernel>> {
            return std::make_unique<DoublerKernel>(v);
          }};
}

OpDef DoublerOp(const char* name, std::vector<KernelDef> kernels) {
  OpDef def;
  def.signature.name = name;
  def.signature.inputs = {{"x"}};
  def.signature.outputs = {{"y"}, {"n"}};
  def.shape_fn = [](ShapeContext& ctx) {
    ctx.set_output(0, *ctx.input(0));
    ctx.set_output(1, ValueInfo{DType::kInt32, {}});
    return absl::OkStatus();
  };
  def.kernels = std::move(kernels);
  def.differentiable = false;
  return def;
}

class CompareKernelsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(RegisterBuiltinOps(&registry_).ok());
    ASSERT_TRUE(registry_
                    .Register(DoublerOp(
                        "Doubler", {Kernel("reference", Variant::kExact),
                                    Kernel("reordered", Variant::kReordered),
                                    Kernel("close", Variant::kClose),
                                    Kernel("off", Variant::kOff),
                                    Kernel("broken", Variant::kBroken),
                                    Kernel("flat", Variant::kWrongShape)}))
                    .ok());
    ASSERT_TRUE(
        registry_
            .Register(DoublerOp("Single", {Kernel("only", Variant::kExact)}))
            .ok());
    ASSERT_TRUE(
        registry_
            .Register(DoublerOp("Pair", {Kernel("reference", Variant::kExact),
                                         Kernel("close", Variant::kClose)}))
            .ok());
  }

  OpTestCase Case(const char* op) const {
    OpTestCase test;
    test.op = op;
    test.inputs = {Tensor::FromVector(
        {2, 3}, std::vector<float>{1, -2, 3, 4, 0.5f, -0.25f})};
    return test;
  }

  const KernelComparison& Find(const KernelComparisonReport& report,
                               const std::string& kernel) {
    for (const KernelComparison& k : report.kernels) {
      if (k.kernel == kernel) return k;
    }
    ADD_FAILURE() << "no kernel " << kernel;
    static const KernelComparison none;
    return none;
  }

  OpRegistry registry_;
};

TEST_F(CompareKernelsTest, AgainstTheFirstKernel) {
  auto report = CompareKernels(registry_, Case("Doubler"));
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->reference, "reference");
  EXPECT_FALSE(report->ok);
  std::vector<std::string> names;
  for (const KernelComparison& k : report->kernels) names.push_back(k.kernel);
  EXPECT_EQ(names, (std::vector<std::string>{"reordered", "close", "off",
                                             "broken", "flat"}));

  const KernelComparison& reordered = Find(*report, "reordered");
  EXPECT_TRUE(reordered.ok);
  ASSERT_EQ(reordered.outputs.size(), 2u);
  EXPECT_EQ(reordered.outputs[0].max_abs_diff, 0);
  EXPECT_EQ(reordered.outputs[0].worst, "");  // All equal.
  EXPECT_TRUE(reordered.outputs[1].ok);       // The int32 output.

  const KernelComparison& close = Find(*report, "close");
  EXPECT_TRUE(close.ok);
  EXPECT_GT(close.outputs[0].max_abs_diff, 0);
  EXPECT_NEAR(close.outputs[0].max_rel_diff, 1e-6, 2e-7);

  const KernelComparison& off = Find(*report, "off");
  EXPECT_FALSE(off.ok);
  EXPECT_FALSE(off.outputs[0].ok);
  EXPECT_TRUE(off.outputs[1].ok);
  EXPECT_FLOAT_EQ(off.outputs[0].max_abs_diff, 0.5);
  EXPECT_FLOAT_EQ(off.outputs[0].max_rel_diff, 0.0625);  // 0.5 / 8
  EXPECT_EQ(off.outputs[0].worst, "element 3 [1, 0]: 8.5 vs 8");

  const KernelComparison& broken = Find(*report, "broken");
  EXPECT_FALSE(broken.ok);
  EXPECT_THAT(broken.error, HasSubstr("this kernel is broken"));
  EXPECT_TRUE(broken.outputs.empty());

  const KernelComparison& flat = Find(*report, "flat");
  EXPECT_FALSE(flat.ok);
  EXPECT_EQ(flat.outputs[0].worst,
            "float32 [6] vs the reference's float32 [2, 3]");
}

TEST_F(CompareKernelsTest, ReportText) {
  KernelComparisonOptions options;
  auto report = CompareKernels(registry_, Case("Doubler"), options);
  ASSERT_TRUE(report.ok()) << report.status();
  const std::string text = KernelComparisonText(
      *report, registry_.Find("Doubler")->signature, options);
  EXPECT_THAT(text, HasSubstr("kernel comparison against 'reference' (atol "
                              "1e-05, rtol 0.0001):\n"));
  EXPECT_THAT(text, HasSubstr("  reordered, output 0 (y): max abs diff 0, "
                              "max rel diff 0: agrees\n"));
  EXPECT_THAT(text, HasSubstr("  reordered, output 1 (n): max abs diff 0, "
                              "max rel diff 0: agrees\n"));
  EXPECT_THAT(text, HasSubstr("  off, output 0 (y): max abs diff 0.5, max "
                              "rel diff 0.0625: DIFFERS (worst: element 3 "
                              "[1, 0]: 8.5 vs 8)\n"));
  EXPECT_THAT(text, HasSubstr("  broken: FAILED to run: "));
  EXPECT_THAT(text, HasSubstr("this kernel is broken"));

  auto single = CompareKernels(registry_, Case("Single"));
  ASSERT_TRUE(single.ok()) << single.status();
  EXPECT_TRUE(single->ok);
  EXPECT_TRUE(single->kernels.empty());
  EXPECT_EQ(KernelComparisonText(*single, registry_.Find("Single")->signature,
                                 options),
            "kernel comparison: op Single has one kernel (only): nothing to "
            "compare\n");
}

TEST_F(CompareKernelsTest, NamedReferenceAndTolerance) {
  KernelComparisonOptions options;
  options.reference = "close";
  auto report = CompareKernels(registry_, Case("Pair"), options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->reference, "close");
  ASSERT_EQ(report->kernels.size(), 1u);
  EXPECT_EQ(report->kernels[0].kernel, "reference");
  EXPECT_TRUE(report->ok);

  options.atol = 0;
  options.rtol = 1e-7;
  report = CompareKernels(registry_, Case("Pair"), options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(report->ok);
  EXPECT_FALSE(report->kernels[0].outputs[0].ok);
  EXPECT_TRUE(report->kernels[0].outputs[1].ok);
}

TEST_F(CompareKernelsTest, NanAgreesOnlyWithNan) {
  OpTestCase test = Case("Pair");
  test.inputs[0]->f32()[1] = std::nanf("");
  auto report = CompareKernels(registry_, test);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok);  // nan * 2 is nan in both.
  EXPECT_EQ(report->kernels[0].outputs[0].worst.find("nan"), std::string::npos);
}

TEST_F(CompareKernelsTest, Errors) {
  KernelComparisonOptions options;
  options.reference = "fast";
  auto report = CompareKernels(registry_, Case("Pair"), options);
  EXPECT_EQ(report.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(report.status().message(),
            "op Pair has no kernel 'fast' (it has: reference, close)");

  options.reference = "broken";
  report = CompareKernels(registry_, Case("Doubler"), options);
  ASSERT_FALSE(report.ok());
  EXPECT_THAT(report.status().message(),
              HasSubstr("reference kernel 'broken': "));
  EXPECT_THAT(report.status().message(), HasSubstr("this kernel is broken"));

  OpTestCase test = Case("Pair");
  test.op = "Nope";
  EXPECT_EQ(CompareKernels(registry_, test).status().code(),
            absl::StatusCode::kNotFound);
}

// A given _kernel attribute is replaced for each run.
TEST_F(CompareKernelsTest, GivenKernelAttributeIsReplaced) {
  OpTestCase test = Case("Doubler");
  test.attrs["_kernel"] = StringValue("off");
  auto report = CompareKernels(registry_, test);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->reference, "reference");
  EXPECT_TRUE(Find(*report, "reordered").ok);
  EXPECT_FALSE(Find(*report, "off").ok);
}

// The built-in LSTM's fused and stepwise kernels agree, masked and
// bidirectional included.
TEST_F(CompareKernelsTest, LstmKernelsAgree) {
  const int n = 2, t = 5, c = 3, h = 4;
  OpTestCase test;
  test.op = "LSTM";
  test.attrs["units"] = IntValue(h);
  test.attrs["return_sequences"] = BoolValue(true);
  test.attrs["direction"] = StringValue("bidirectional_concat");
  Tensor mask = Tensor::FromVector(
      {n, t}, std::vector<float>{1, 1, 1, 1, 1, 1, 1, 1, 0, 0});
  test.inputs = {RandomTensor({n, t, c}, 1),
                 RandomTensor({c, 4 * h}, 2),
                 RandomTensor({h, 4 * h}, 3),
                 RandomTensor({4 * h}, 4),
                 mask,
                 RandomTensor({c, 4 * h}, 5),
                 RandomTensor({h, 4 * h}, 6),
                 RandomTensor({4 * h}, 7)};
  auto report = CompareKernels(registry_, test);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->reference, "fused");
  ASSERT_EQ(report->kernels.size(), 1u);
  EXPECT_EQ(report->kernels[0].kernel, "stepwise");
  EXPECT_TRUE(report->ok) << report->kernels[0].outputs[0].worst;
  EXPECT_LT(report->kernels[0].outputs[0].max_abs_diff, 1e-5);
}

}  // namespace
}  // namespace loom::testing
