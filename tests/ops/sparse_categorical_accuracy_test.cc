#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "framework/op.h"
#include "framework/registry.h"
#include "framework/testing/op_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loom::testing {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

OpTestCase AccuracyCase(const Tensor& labels, const Tensor& y) {
  OpTestCase test{"SparseCategoricalAccuracy", {}, {labels, y}};
  test.differentiable = {false, false};
  return test;
}

float Accuracy(const Tensor& labels, const Tensor& y) {
  auto out = RunOp(BuiltinRegistry(), AccuracyCase(labels, y));
  EXPECT_TRUE(out.ok()) << out.status();
  if (!out.ok()) return -1;
  EXPECT_EQ((*out)[0].shape(), Shape{});
  return (*out)[0].f32()[0];
}

TEST(SparseCategoricalAccuracyTest, HandComputedValues) {
  Tensor y = Tensor::FromVector(
      {4, 3}, std::vector<float>{0.1f, 0.7f, 0.2f, 0.5f, 0.3f, 0.2f, 0.2f, 0.2f,
                                 0.6f, 0.3f, 0.4f, 0.3f});
  // argmax 1, 0, 2, 1 against labels 1, 0, 0, 2: right on rows 0 and 1.
  Tensor labels = Tensor::FromVector({4, 1}, std::vector<float>{1, 0, 0, 2});
  EXPECT_FLOAT_EQ(Accuracy(labels, y), 0.5f);
  Tensor labels1 = Tensor::FromVector({4}, std::vector<float>{1, 0, 0, 2});
  EXPECT_FLOAT_EQ(Accuracy(labels1, y), 0.5f);
  // All right, all wrong.
  EXPECT_FLOAT_EQ(
      Accuracy(Tensor::FromVector({4}, std::vector<float>{1, 0, 2, 1}), y),
      1.0f);
  EXPECT_FLOAT_EQ(
      Accuracy(Tensor::FromVector({4}, std::vector<float>{0, 2, 1, 0}), y),
      0.0f);
  // One class: always right.
  EXPECT_FLOAT_EQ(Accuracy(Tensor::FromVector({3}, std::vector<float>{0, 0, 0}),
                           RandomTensor({3, 1}, 1)),
                  1.0f);
}

TEST(SparseCategoricalAccuracyTest, TiesGoToTheFirstMaximum) {
  Tensor y = Tensor::FromVector(
      {5, 3}, std::vector<float>{0.4f, 0.4f, 0.2f,       // argmax 0
                                 0.4f, 0.4f, 0.2f,       // argmax 0
                                 0.1f, 0.45f, 0.45f,     // argmax 1
                                 0.1f, 0.45f, 0.45f,     // argmax 1
                                 -2.0f, -2.0f, -2.0f});  // argmax 0
  Tensor labels = Tensor::FromVector({5}, std::vector<float>{0, 1, 1, 2, 0});
  // Right on rows 0, 2 and 4.
  EXPECT_FLOAT_EQ(Accuracy(labels, y), 0.6f);
}

TEST(SparseCategoricalAccuracyTest, NanScoresNeverWin) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Tensor y = Tensor::FromVector({3, 3},
                                std::vector<float>{nan, 0.2f, 0.5f,  // argmax 2
                                                   0.9f, nan, 0.1f,  // argmax 0
                                                   nan, nan, nan});  // argmax 0
  EXPECT_FLOAT_EQ(
      Accuracy(Tensor::FromVector({3}, std::vector<float>{2, 0, 0}), y), 1.0f);
  EXPECT_FLOAT_EQ(
      Accuracy(Tensor::FromVector({3}, std::vector<float>{0, 1, 1}), y), 0.0f);
}

TEST(SparseCategoricalAccuracyTest, ForwardMatchesReferenceOnRandomData) {
  for (const auto& [n, k] : std::vector<std::pair<int64_t, int64_t>>{
           {50, 7}, {1, 2}, {33, 10}, {8, 1}}) {
    Tensor y = RandomTensor({n, k}, 1 + n, -3, 3);
    Tensor labels = RandomTensor({n, 1}, 2 + n, 0, static_cast<float>(k));
    for (float& v : labels.flat()) v = std::min<float>(std::floor(v), k - 1);
    // Make about half of the rows right so the mean is not trivially 1/k.
    for (int64_t i = 0; i < n; i += 2) {
      int64_t best = 0;
      for (int64_t j = 1; j < k; ++j) {
        if (y.f32()[i * k + j] > y.f32()[i * k + best]) best = j;
      }
      labels.f32()[i] = static_cast<float>(best);
    }
    int correct = 0;
    for (int64_t i = 0; i < n; ++i) {
      int64_t best = 0;
      for (int64_t j = 1; j < k; ++j) {
        if (y.f32()[i * k + j] > y.f32()[i * k + best]) best = j;
      }
      correct += best == static_cast<int64_t>(labels.f32()[i]);
    }
    EXPECT_FLOAT_EQ(Accuracy(labels, y), static_cast<float>(correct) / n)
        << "n " << n << " k " << k;
  }
}

TEST(SparseCategoricalAccuracyTest, IsNotDifferentiable) {
  const OpDef* op = BuiltinRegistry().Find("SparseCategoricalAccuracy");
  ASSERT_NE(op, nullptr);
  EXPECT_FALSE(op->differentiable);
  ASSERT_EQ(op->signature.inputs.size(), 2u);
  EXPECT_EQ(op->signature.inputs[0].name, "labels");
  EXPECT_EQ(op->signature.inputs[1].name, "y");
  ASSERT_EQ(op->signature.outputs.size(), 1u);
  EXPECT_EQ(op->signature.outputs[0].name, "accuracy");
  // A metric of a parameter cannot be a loss.
  OpTestCase test =
      AccuracyCase(Tensor::FromVector({3}, std::vector<float>{1, 0, 1}),
                   RandomTensor({3, 2}, 1, 0, 1));
  test.differentiable = {false, true};
  auto grads = ComputeGradients(BuiltinRegistry(), test, {Tensor::Scalar(1)});
  ASSERT_FALSE(grads.ok());
  EXPECT_THAT(std::string(grads.status().message()), HasSubstr("no gradient"));
}

TEST(SparseCategoricalAccuracyTest, BadLabelsAreErrors) {
  for (const auto& [label, shown] : std::vector<std::pair<float, std::string>>{
           {1.5f, "1.5"},
           {-1.0f, "-1"},
           {3.0f, "3"},
           {std::numeric_limits<float>::quiet_NaN(), "nan"}}) {
    Tensor labels = Tensor::FromVector({3}, std::vector<float>{0, label, 1});
    auto out =
        RunOp(BuiltinRegistry(), AccuracyCase(labels, RandomTensor({3, 3}, 1)));
    ASSERT_FALSE(out.ok()) << shown;
    EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(
        std::string(out.status().message()),
        AllOf(HasSubstr("node 'op' (SparseCategoricalAccuracy)"),
              HasSubstr("row 1 is " + shown + ","), HasSubstr("[0, 3)")));
  }
}

TEST(SparseCategoricalAccuracyTest, BadShapes) {
  struct BadShapes {
    Shape labels, y;
    std::string message;
  };
  for (const BadShapes& bad : {
           BadShapes{{3}, {3}, "y must be [N, K] with K >= 1 classes, got [3]"},
           BadShapes{{3}, {3, 2, 2}, "y must be [N, K]"},
           BadShapes{{3}, {3, 0}, "K >= 1"},
           BadShapes{{3, 2}, {3, 2}, "labels must be [N] or [N, 1]"},
           BadShapes{{}, {3, 2}, "labels must be [N] or [N, 1]"},
           BadShapes{{4}, {3, 2}, "must have the same N: 4 vs 3"},
           BadShapes{{2, 1}, {3, 2}, "must have the same N: 2 vs 3"},
       }) {
    auto out = RunOp(BuiltinRegistry(),
                     AccuracyCase(Tensor(DType::kFloat32, bad.labels),
                                  Tensor(DType::kFloat32, bad.y)));
    ASSERT_FALSE(out.ok()) << bad.message;
    EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(
        std::string(out.status().message()),
        AllOf(HasSubstr("SparseCategoricalAccuracy"), HasSubstr(bad.message)));
  }
}

}  // namespace
}  // namespace loom::testing
