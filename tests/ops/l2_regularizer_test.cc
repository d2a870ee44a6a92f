#include <vector>

#include "framework/testing/op_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loom::testing {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

TEST(L2RegularizerTest, ForwardMatchesReference) {
  for (const Shape& shape : {Shape{5}, Shape{3, 4}, Shape{2, 3, 2}}) {
    Tensor w = RandomTensor(shape, 3);
    double sum = 0;
    for (float v : w.flat()) sum += double{v} * v;
    for (float l2 : {0.01f, 1e-4f, 0.5f}) {
      auto out = RunOp(BuiltinRegistry(),
                       {"L2Regularizer", {{"l2", FloatValue(l2)}}, {w}});
      ASSERT_TRUE(out.ok()) << out.status();
      ASSERT_EQ((*out)[0].shape(), Shape{});
      EXPECT_NEAR((*out)[0].f32()[0], l2 * sum, 1e-6 * l2 * sum + 1e-9)
          << ShapeToString(shape) << " l2 " << l2;
    }
  }
}

TEST(L2RegularizerTest, DefaultIsKerasPointZeroOne) {
  // 0.01 * (1 + 4 + 9 + 0.25) = 0.1425
  Tensor w = Tensor::FromVector({2, 2}, std::vector<float>{1, -2, 3, 0.5f});
  auto out = RunOp(BuiltinRegistry(), {"L2Regularizer", {}, {w}});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_NEAR((*out)[0].f32()[0], 0.1425f, 1e-7);

  auto grads = ComputeGradients(BuiltinRegistry(), {"L2Regularizer", {}, {w}},
                                {Tensor::Scalar(2.0f)});
  ASSERT_TRUE(grads.ok()) << grads.status();
  const std::vector<float> expected = {0.04f, -0.08f, 0.12f, 0.02f};
  for (int i = 0; i < 4; ++i) {
    EXPECT_NEAR((*grads)[0].f32()[i], expected[i], 1e-7) << i;
  }
}

TEST(L2RegularizerTest, GradientMatchesFiniteDifferences) {
  auto report = CheckGradients(
      BuiltinRegistry(),
      {"L2Regularizer", {{"l2", FloatValue(0.3f)}}, {RandomTensor({4, 5}, 2)}});
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok) << report->worst;
  EXPECT_EQ(report->checked, 20);
}

TEST(L2RegularizerTest, NegativeFactorIsAnError) {
  auto out = RunOp(
      BuiltinRegistry(),
      {"L2Regularizer", {{"l2", FloatValue(-0.5f)}}, {RandomTensor({2}, 1)}});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(out.status().message(),
              AllOf(HasSubstr("'l2'"), HasSubstr("-0.5")));
}

}  // namespace
}  // namespace loom::testing
