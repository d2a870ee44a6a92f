#include <cmath>

#include "framework/testing/op_testing.h"
#include "gtest/gtest.h"

namespace loom::testing {
namespace {

struct Case {
  const char* op;
  double (*reference)(double);
};

class ActivationTest : public ::testing::TestWithParam<Case> {};

TEST_P(ActivationTest, ForwardMatchesReference) {
  for (const Shape& shape : {Shape{7}, Shape{3, 5}, Shape{2, 3, 4}}) {
    Tensor x = RandomTensor(shape, 11, -3.0f, 3.0f);
    auto out = RunOp(BuiltinRegistry(), {GetParam().op, {}, {x}});
    ASSERT_TRUE(out.ok()) << out.status();
    ASSERT_EQ((*out)[0].shape(), shape);
    for (int64_t i = 0; i < x.num_elements(); ++i) {
      EXPECT_NEAR((*out)[0].f32()[i], GetParam().reference(x.f32()[i]), 1e-5)
          << GetParam().op << " at " << i;
    }
  }
}

TEST_P(ActivationTest, GradientMatchesFiniteDifferences) {
  // Keep inputs away from Relu's kink at 0, where differences are not
  // defined.
  Tensor x = RandomTensor({4, 6}, 5, 0.1f, 2.0f);
  for (int64_t i = 0; i < x.num_elements(); i += 2) x.f32()[i] *= -1;
  auto report = CheckGradients(BuiltinRegistry(), {GetParam().op, {}, {x}});
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok) << report->worst;
  EXPECT_EQ(report->checked, 24);
}

INSTANTIATE_TEST_SUITE_P(
    All, ActivationTest,
    ::testing::Values(
        Case{"Sigmoid", [](double x) { return 1.0 / (1.0 + std::exp(-x)); }},
        Case{"Relu", [](double x) { return x > 0 ? x : 0.0; }},
        Case{"Tanh", [](double x) { return std::tanh(x); }}),
    [](const auto& info) { return std::string(info.param.op); });

}  // namespace
}  // namespace loom::testing
