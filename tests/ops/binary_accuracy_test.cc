#include <vector>

#include "framework/testing/op_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loom::testing {
namespace {

using ::testing::HasSubstr;

float Accuracy(const Tensor& p, const Tensor& y, float threshold) {
  OpTestCase test{
      "BinaryAccuracy", {{"threshold", FloatValue(threshold)}}, {p, y}};
  test.differentiable = {false, false};
  auto out = RunOp(BuiltinRegistry(), test);
  EXPECT_TRUE(out.ok()) << out.status();
  if (!out.ok()) return -1;
  EXPECT_EQ((*out)[0].shape(), Shape{});
  return (*out)[0].f32()[0];
}

TEST(BinaryAccuracyTest, HandComputedValues) {
  Tensor p = Tensor::FromVector(
      {6, 1}, std::vector<float>{0.9f, 0.2f, 0.5f, 0.51f, 0.7f, 0.1f});
  Tensor y = Tensor::FromVector({6, 1}, std::vector<float>{1, 0, 1, 1, 0, 1});
  // > 0.5: 1, 0, 0 (0.5 is not above), 1, 1, 0 -> right on 0, 1, 3: 3/6.
  EXPECT_FLOAT_EQ(Accuracy(p, y, 0.5f), 0.5f);
  // > 0.15: 1, 1, 1, 1, 1, 0 -> right on 0, 2, 3: 3/6.
  EXPECT_FLOAT_EQ(Accuracy(p, y, 0.15f), 0.5f);
  // > 0.6: 1, 0, 0, 0, 1, 0 -> right on 0, 1: 2/6.
  EXPECT_FLOAT_EQ(Accuracy(p, y, 0.6f), 2 / 6.0f);
}

TEST(BinaryAccuracyTest, LogitsWithThresholdZeroAndRankOne) {
  Tensor z = Tensor::FromVector({4}, std::vector<float>{-2, 3, 0.5f, -0.1f});
  Tensor y = Tensor::FromVector({4}, std::vector<float>{0, 1, 0, 0});
  EXPECT_FLOAT_EQ(Accuracy(z, y, 0.0f), 0.75f);
}

TEST(BinaryAccuracyTest, ForwardMatchesReferenceOnRandomData) {
  for (const Shape& shape : {Shape{50, 1}, Shape{7}, Shape{4, 3}}) {
    Tensor p = RandomTensor(shape, 1, 0, 1);
    Tensor y = RandomTensor(shape, 2, 0, 1);
    for (float& v : y.flat()) v = v > 0.5f ? 1 : 0;
    int correct = 0;
    for (int64_t i = 0; i < p.num_elements(); ++i) {
      correct += (p.f32()[i] > 0.5f) == (y.f32()[i] > 0.5f);
    }
    EXPECT_FLOAT_EQ(Accuracy(p, y, 0.5f),
                    static_cast<float>(correct) / p.num_elements());
  }
}

TEST(BinaryAccuracyTest, IsNotDifferentiable) {
  const OpDef* op = BuiltinRegistry().Find("BinaryAccuracy");
  ASSERT_NE(op, nullptr);
  EXPECT_FALSE(op->differentiable);
  // A metric of a parameter cannot be a loss.
  OpTestCase test{"BinaryAccuracy",
                  {},
                  {RandomTensor({3, 1}, 1, 0, 1),
                   Tensor::FromVector({3, 1}, std::vector<float>{1, 0, 1})}};
  test.differentiable = {true, false};
  auto grads = ComputeGradients(BuiltinRegistry(), test, {Tensor::Scalar(1)});
  ASSERT_FALSE(grads.ok());
  EXPECT_THAT(grads.status().message(), HasSubstr("no gradient"));
}

TEST(BinaryAccuracyTest, ShapesMustMatch) {
  OpTestCase test{
      "BinaryAccuracy", {}, {RandomTensor({3, 1}, 1), RandomTensor({3}, 2)}};
  test.differentiable = {false, false};
  auto out = RunOp(BuiltinRegistry(), test);
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("same shape"));
}

}  // namespace
}  // namespace loom::testing
