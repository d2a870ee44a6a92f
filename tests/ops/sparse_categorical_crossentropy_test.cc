#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
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

OpTestCase SccCase(const Tensor& labels, const Tensor& y,
                   bool from_logits = false, float label_smoothing = 0.0f) {
  OpTestCase test{"SparseCategoricalCrossentropy",
                  {{"from_logits", BoolValue(from_logits)},
                   {"label_smoothing", FloatValue(label_smoothing)}},
                  {labels, y}};
  test.differentiable = {false, true};  // Labels are fed.
  return test;
}

float Loss(const OpTestCase& test) {
  auto out = RunOp(BuiltinRegistry(), test);
  EXPECT_TRUE(out.ok()) << out.status();
  if (!out.ok()) return NAN;
  EXPECT_EQ((*out)[0].shape(), Shape{});
  return (*out)[0].f32()[0];
}

// Class indices 0..k-1 as floats, shape [n, 1].
Tensor RandomLabels(int64_t n, int64_t k, uint64_t seed) {
  Tensor labels = RandomTensor({n, 1}, seed, 0.0f, static_cast<float>(k));
  for (float& v : labels.flat()) v = std::min<float>(std::floor(v), k - 1);
  return labels;
}

// Rows of positive values scaled to sum to 1.
Tensor RandomProbabilities(int64_t n, int64_t k, uint64_t seed) {
  Tensor p = RandomTensor({n, k}, seed, 0.05f, 1.0f);
  for (int64_t i = 0; i < n; ++i) {
    double sum = 0;
    for (int64_t j = 0; j < k; ++j) sum += p.f32()[i * k + j];
    for (int64_t j = 0; j < k; ++j) p.f32()[i * k + j] /= sum;
  }
  return p;
}

// The mean loss the straightforward way, in double: targets t, then
// -sum_k t_k log q_k with q = softmax(z) for logits, and for probabilities
// q = softmax(log(clip(p))) as Keras' sparse_softmax_cross_entropy_with_
// logits(log(clip(p))) does.
double Reference(const Tensor& labels, const Tensor& y, bool from_logits,
                 double ls) {
  const int64_t n = y.dim(0), k = y.dim(1);
  double total = 0;
  for (int64_t i = 0; i < n; ++i) {
    std::vector<double> z(k);
    for (int64_t j = 0; j < k; ++j) {
      const double v = y.f32()[i * k + j];
      z[j] = from_logits ? v : std::log(std::clamp(v, 1e-7, 1 - 1e-7));
    }
    double sum = 0;
    for (int64_t j = 0; j < k; ++j) sum += std::exp(z[j]);
    const int c = static_cast<int>(labels.f32()[i]);
    for (int64_t j = 0; j < k; ++j) {
      const double t = (1 - ls) * (j == c) + ls / k;
      total -= t * std::log(std::exp(z[j]) / sum);
    }
  }
  return total / n;
}

Tensor Probabilities() {
  return Tensor::FromVector(
      {3, 3}, std::vector<float>{0.7f, 0.2f, 0.1f, 0.1f, 0.6f, 0.3f, 0.25f,
                                 0.25f, 0.5f});
}

TEST(SparseCategoricalCrossentropyTest, HandComputedValues) {
  // (-ln 0.7 - ln 0.6 - ln 0.5) / 3 = (0.3566749 + 0.5108256 + 0.6931472) / 3
  Tensor labels = Tensor::FromVector({3, 1}, std::vector<float>{0, 1, 2});
  EXPECT_NEAR(Loss(SccCase(labels, Probabilities())), 0.5202159161, 1e-6);
  // Rank-1 labels are the same labels.
  Tensor labels1 = Tensor::FromVector({3}, std::vector<float>{0, 1, 2});
  EXPECT_NEAR(Loss(SccCase(labels1, Probabilities())), 0.5202159161, 1e-6);
  // label_smoothing 0.3, K = 3: targets 0.8 at the label, 0.1 elsewhere;
  // row 0 costs 0.8 * 0.3566749 + 0.1 * 1.6094379 + 0.1 * 2.3025851 ...
  EXPECT_NEAR(Loss(SccCase(labels, Probabilities(), false, 0.3f)), 0.7558783870,
              1e-6);

  // Logits (1, 2, 3) with label 2 and (0, 0, 0) with label 1:
  // (ln(e^-2 + e^-1 + 1) + ln 3) / 2 = (0.4076060 + 1.0986123) / 2.
  Tensor z = Tensor::FromVector({2, 3}, std::vector<float>{1, 2, 3, 0, 0, 0});
  Tensor zl = Tensor::FromVector({2}, std::vector<float>{2, 1});
  EXPECT_NEAR(Loss(SccCase(zl, z, true)), 0.7531091266, 1e-6);
  // Smoothing 0.3: row 0 becomes 0.1 * 2.4076 + 0.1 * 1.4076 + 0.8 * 0.4076;
  // the uniform row 1 is unchanged.
  EXPECT_NEAR(Loss(SccCase(zl, z, true, 0.3f)), 0.9031091266, 1e-6);
}

TEST(SparseCategoricalCrossentropyTest, ForwardMatchesReference) {
  for (int64_t n : {1, 7, 33}) {
    for (int64_t k : {1, 2, 10}) {
      Tensor labels = RandomLabels(n, k, 100 + n * k);
      Tensor p = RandomProbabilities(n, k, 200 + n * k);
      // Unnormalized probabilities too: Keras renormalizes them.
      Tensor q = RandomTensor({n, k}, 250 + n * k, 0.0f, 1.0f);
      Tensor z = RandomTensor({n, k}, 300 + n * k, -6.0f, 6.0f);
      for (float ls : {0.0f, 0.1f}) {
        const std::string where = "n " + std::to_string(n) + " k " +
                                  std::to_string(k) + " ls " +
                                  std::to_string(ls);
        EXPECT_NEAR(Loss(SccCase(labels, p, false, ls)),
                    Reference(labels, p, false, ls), 2e-6)
            << where;
        EXPECT_NEAR(Loss(SccCase(labels, q, false, ls)),
                    Reference(labels, q, false, ls), 2e-6)
            << where;
        EXPECT_NEAR(Loss(SccCase(labels, z, true, ls)),
                    Reference(labels, z, true, ls), 2e-6)
            << where;
      }
    }
  }
}

TEST(SparseCategoricalCrossentropyTest, LogitsMatchSoftmaxProbabilities) {
  const int64_t n = 16, k = 5;
  Tensor z = RandomTensor({n, k}, 3, -4, 4);
  Tensor p(DType::kFloat32, {n, k});
  for (int64_t i = 0; i < n; ++i) {
    double sum = 0;
    for (int64_t j = 0; j < k; ++j) sum += std::exp(double{z.f32()[i * k + j]});
    for (int64_t j = 0; j < k; ++j) {
      p.f32()[i * k + j] = std::exp(double{z.f32()[i * k + j]}) / sum;
    }
  }
  Tensor labels = RandomLabels(n, k, 4);
  for (float ls : {0.0f, 0.2f}) {
    const float from_logits = Loss(SccCase(labels, z, true, ls));
    const float from_probs = Loss(SccCase(labels, p, false, ls));
    EXPECT_NEAR(from_logits, from_probs, 2e-5) << "label_smoothing " << ls;
    EXPECT_GT(from_logits, 0.5f);
  }
}

TEST(SparseCategoricalCrossentropyTest, LogitsAreStableForLargeValues) {
  // Row 0: label 0 has the largest logit by 1000: costs ~e^-1000.
  // Row 1: label 1 trails by 1000: costs 1000 + ln(1 + e^-1000) = 1000.
  Tensor z =
      Tensor::FromVector({2, 2}, std::vector<float>{5000, 4000, 1000, 0});
  Tensor labels = Tensor::FromVector({2}, std::vector<float>{0, 1});
  EXPECT_NEAR(Loss(SccCase(labels, z, true)), 1000.0 / 2, 1e-3);
  // With smoothing 0.2, K = 2: row 0 also pays 0.1 * 1000, row 1 0.9 * 1000.
  EXPECT_NEAR(Loss(SccCase(labels, z, true, 0.2f)), (100.0 + 900.0) / 2, 1e-3);
}

TEST(SparseCategoricalCrossentropyTest, ClipsProbabilitiesAsKeras) {
  // Row 0 (1, 0, 0) with label 0 clips to (1 - e, e, e), e = 1e-7, and costs
  // ln(1 + e) - ln(1 - e) ~ 2e-7; row 1 (0, 1, 0) with label 0 costs
  // ln(1 + e) - ln(e) = 16.1180957.
  Tensor p = Tensor::FromVector({2, 3}, std::vector<float>{1, 0, 0, 0, 1, 0});
  Tensor labels = Tensor::FromVector({2}, std::vector<float>{0, 0});
  EXPECT_NEAR(Loss(SccCase(labels, p)), 8.0590479755, 1e-5);
  // Every element was clipped: the gradient is zero.
  auto grads = ComputeGradients(BuiltinRegistry(), SccCase(labels, p),
                                {Tensor::Scalar(1.0f)});
  ASSERT_TRUE(grads.ok()) << grads.status();
  for (int i = 0; i < 6; ++i) EXPECT_EQ((*grads)[1].f32()[i], 0.0f) << i;
}

TEST(SparseCategoricalCrossentropyTest, HandComputedGradients) {
  // Probabilities (0, 0.5, 0.5), label 1, one row: p' = (1e-7, 0.5, 0.5),
  // S = 1 + 1e-7; d/dp_k = 1 / S - t_k / p_k, zero for the clipped p_0.
  {
    Tensor p = Tensor::FromVector({1, 3}, std::vector<float>{0, 0.5f, 0.5f});
    Tensor labels = Tensor::FromVector({1}, std::vector<float>{1});
    auto grads = ComputeGradients(BuiltinRegistry(), SccCase(labels, p),
                                  {Tensor::Scalar(1.0f)});
    ASSERT_TRUE(grads.ok()) << grads.status();
    EXPECT_EQ((*grads)[1].f32()[0], 0.0f);
    EXPECT_NEAR((*grads)[1].f32()[1], 1 / (1 + 1e-7) - 2, 1e-6);
    EXPECT_NEAR((*grads)[1].f32()[2], 1 / (1 + 1e-7), 1e-6);
  }
  // Logits, N = 2, smoothing 0.3 (targets 0.8 / 0.1), scaled by dloss = 2:
  // d/dz = 2 * (softmax(z) - t) / N.
  {
    Tensor z = Tensor::FromVector(
        {2, 3}, std::vector<float>{0, 0, std::log(2.0f), 0, 0, 0});
    Tensor labels = Tensor::FromVector({2, 1}, std::vector<float>{0, 2});
    auto grads =
        ComputeGradients(BuiltinRegistry(), SccCase(labels, z, true, 0.3f),
                         {Tensor::Scalar(2.0f)});
    ASSERT_TRUE(grads.ok()) << grads.status();
    const std::vector<double> expected = {0.25 - 0.8,    0.25 - 0.1,
                                          0.5 - 0.1,     1 / 3.0 - 0.1,
                                          1 / 3.0 - 0.1, 1 / 3.0 - 0.8};
    for (int i = 0; i < 6; ++i) {
      EXPECT_NEAR((*grads)[1].f32()[i], expected[i], 1e-6) << i;
    }
  }
}

TEST(SparseCategoricalCrossentropyTest, GradientMatchesFiniteDifferences) {
  const int64_t n = 6, k = 4;
  Tensor labels = RandomLabels(n, k, 11);
  Tensor probabilities = RandomProbabilities(n, k, 12);
  Tensor unnormalized = RandomTensor({n, k}, 13, 0.05f, 0.95f);
  Tensor logits = RandomTensor({n, k}, 14, -3, 3);
  GradientCheckOptions options;
  options.epsilon = 1e-3;
  for (float ls : {0.0f, 0.1f}) {
    for (const Tensor* y : {&probabilities, &unnormalized, &logits}) {
      const bool from_logits = y == &logits;
      auto report = CheckGradients(
          BuiltinRegistry(), SccCase(labels, *y, from_logits, ls), options);
      ASSERT_TRUE(report.ok()) << report.status();
      EXPECT_TRUE(report->ok) << "from_logits " << from_logits << " ls " << ls
                              << ": " << report->worst;
      EXPECT_EQ(report->checked, n * k);
    }
  }
}

TEST(SparseCategoricalCrossentropyTest, LabelsGetAZeroGradient) {
  Tensor labels = RandomLabels(5, 3, 21);
  Tensor z = RandomTensor({5, 3}, 22, -2, 2);
  OpTestCase test = SccCase(labels, z, true, 0.1f);
  auto fed = ComputeGradients(BuiltinRegistry(), test, {Tensor::Scalar(1)});
  ASSERT_TRUE(fed.ok()) << fed.status();
  test.differentiable = {true, true};
  auto both = ComputeGradients(BuiltinRegistry(), test, {Tensor::Scalar(1)});
  ASSERT_TRUE(both.ok()) << both.status();
  ASSERT_EQ((*both)[0].shape(), labels.shape());
  for (float v : (*both)[0].flat()) EXPECT_EQ(v, 0.0f);
  for (int i = 0; i < 15; ++i) {
    EXPECT_EQ((*both)[1].f32()[i], (*fed)[1].f32()[i]) << i;
    EXPECT_NE((*both)[1].f32()[i], 0.0f) << i;
  }
}

TEST(SparseCategoricalCrossentropyTest, BadLabelsAreErrors) {
  struct Bad {
    float label;
    std::string shown;
  };
  for (const Bad& bad : {Bad{2.5f, "2.5"}, Bad{-1.0f, "-1"}, Bad{3.0f, "3"},
                         Bad{1.0000001f, "1.00000012"}, Bad{1e10f, "1e+10"},
                         Bad{std::numeric_limits<float>::quiet_NaN(), "nan"},
                         Bad{std::numeric_limits<float>::infinity(), "inf"}}) {
    Tensor labels =
        Tensor::FromVector({4, 1}, std::vector<float>{0, 2, bad.label, 1});
    for (bool from_logits : {false, true}) {
      auto out =
          RunOp(BuiltinRegistry(),
                SccCase(labels, RandomProbabilities(4, 3, 1), from_logits));
      ASSERT_FALSE(out.ok()) << bad.shown;
      EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_THAT(
          std::string(out.status().message()),
          AllOf(HasSubstr("node 'op' (SparseCategoricalCrossentropy)"),
                HasSubstr("row 2 is " + bad.shown + ","), HasSubstr("[0, 3)")));
    }
  }
  // -0 is class 0.
  Tensor labels = Tensor::FromVector({2}, std::vector<float>{-0.0f, 1});
  Tensor p =
      Tensor::FromVector({2, 2}, std::vector<float>{0.5f, 0.5f, 0.5f, 0.5f});
  EXPECT_NEAR(Loss(SccCase(labels, p)), std::log(2.0), 1e-6);
}

TEST(SparseCategoricalCrossentropyTest, BadAttributesAndShapes) {
  Tensor labels = Tensor::FromVector({3}, std::vector<float>{0, 1, 2});
  for (float ls : {-0.1f, 1.5f}) {
    auto out =
        RunOp(BuiltinRegistry(), SccCase(labels, Probabilities(), false, ls));
    ASSERT_FALSE(out.ok());
    EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(out.status().message()),
                AllOf(HasSubstr("'label_smoothing'"), HasSubstr("[0, 1]")));
  }
  struct BadShapes {
    Shape labels, y;
    std::string message;
  };
  for (const BadShapes& bad : {
           BadShapes{{3}, {3}, "y must be [N, K] with K >= 1 classes, got [3]"},
           BadShapes{{3}, {3, 2, 2}, "y must be [N, K]"},
           BadShapes{{3}, {3, 0}, "K >= 1"},
           BadShapes{{3, 2}, {3, 2}, "labels must be [N] or [N, 1]"},
           BadShapes{{3, 1, 1}, {3, 2}, "labels must be [N] or [N, 1]"},
           BadShapes{{}, {3, 2}, "labels must be [N] or [N, 1]"},
           BadShapes{{4}, {3, 2}, "must have the same N: 4 vs 3"},
           BadShapes{{2, 1}, {3, 2}, "must have the same N: 2 vs 3"},
       }) {
    OpTestCase test =
        SccCase(Tensor(DType::kFloat32, bad.labels), RandomTensor(bad.y, 1));
    test.differentiable = {false, false};  // Parameters cannot be empty.
    auto out = RunOp(BuiltinRegistry(), test);
    ASSERT_FALSE(out.ok()) << bad.message;
    EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(out.status().message()),
                AllOf(HasSubstr("SparseCategoricalCrossentropy"),
                      HasSubstr(bad.message)));
  }
  // Labels must be floats.
  OpTestCase test = SccCase(
      Tensor::FromVector({3}, std::vector<int32_t>{0, 1, 2}), Probabilities());
  auto out = RunOp(BuiltinRegistry(), test);
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(std::string(out.status().message()),
              HasSubstr("input 0 must be float32"));
}

TEST(SparseCategoricalCrossentropyTest, Signature) {
  const OpDef* op = BuiltinRegistry().Find("SparseCategoricalCrossentropy");
  ASSERT_NE(op, nullptr);
  EXPECT_TRUE(op->differentiable);
  ASSERT_EQ(op->signature.inputs.size(), 2u);
  EXPECT_EQ(op->signature.inputs[0].name, "labels");
  EXPECT_EQ(op->signature.inputs[1].name, "y");
  ASSERT_EQ(op->signature.outputs.size(), 1u);
  EXPECT_EQ(op->signature.outputs[0].name, "loss");
}

}  // namespace
}  // namespace loom::testing
