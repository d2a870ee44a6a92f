#include <algorithm>
#include <cmath>
#include <vector>

#include "framework/testing/op_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loom::testing {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

OpTestCase BceCase(const Tensor& prediction, const Tensor& labels,
                   bool from_logits = false, float label_smoothing = 0.0f) {
  OpTestCase test{"BinaryCrossentropy",
                  {{"from_logits", BoolValue(from_logits)},
                   {"label_smoothing", FloatValue(label_smoothing)}},
                  {prediction, labels}};
  test.differentiable = {true, false};  // Labels are fed.
  return test;
}

float Loss(const OpTestCase& test) {
  auto out = RunOp(BuiltinRegistry(), test);
  EXPECT_TRUE(out.ok()) << out.status();
  if (!out.ok()) return NAN;
  EXPECT_EQ((*out)[0].shape(), Shape{});
  return (*out)[0].f32()[0];
}

Tensor Probabilities() {
  return Tensor::FromVector({4, 1},
                            std::vector<float>{0.9f, 0.2f, 0.6f, 0.01f});
}
Tensor Labels() {
  return Tensor::FromVector({4, 1}, std::vector<float>{1, 0, 0, 1});
}

TEST(BinaryCrossentropyTest, HandComputedValues) {
  // (-ln 0.9 - ln 0.8 - ln 0.4 - ln 0.01) / 4
  //   = (0.1053605 + 0.2231436 + 0.9162907 + 4.6051702) / 4 = 1.4624913;
  // Keras' + 1e-7 inside the logs moves this to 1.4624886.
  EXPECT_NEAR(Loss(BceCase(Probabilities(), Labels())), 1.4624886, 1e-5);

  // label_smoothing 0.1: labels 0.95, 0.05, 0.05, 0.95.
  //   (0.95 * 0.1053605 + 0.05 * 2.3025851     (p = 0.9)
  //  + 0.05 * 1.6094379 + 0.95 * 0.2231436     (p = 0.2)
  //  + 0.05 * 0.5108256 + 0.95 * 0.9162907     (p = 0.6)
  //  + 0.95 * 4.6051702 + 0.05 * 0.0100503)/4  (p = 0.01)
  //  = 1.4447780 (1.4447754 with Keras' epsilon).
  EXPECT_NEAR(Loss(BceCase(Probabilities(), Labels(), false, 0.1f)), 1.4447754,
              1e-5);

  // Rank 1 predictions give the same mean.
  Tensor p1 =
      Tensor::FromVector({4}, std::vector<float>{0.9f, 0.2f, 0.6f, 0.01f});
  Tensor y1 = Tensor::FromVector({4}, std::vector<float>{1, 0, 0, 1});
  EXPECT_NEAR(Loss(BceCase(p1, y1)), 1.4624886, 1e-5);
}

TEST(BinaryCrossentropyTest, ForwardMatchesReference) {
  for (const Shape& shape : {Shape{1, 1}, Shape{7, 1}, Shape{33}}) {
    Tensor p = RandomTensor(shape, 2, 0.0f, 1.0f);
    Tensor logits = RandomTensor(shape, 3, -5.0f, 5.0f);
    Tensor y = RandomTensor(shape, 4, 0.0f, 1.0f);
    for (float& v : y.flat()) v = v > 0.5f ? 1 : 0;
    for (float ls : {0.0f, 0.05f}) {
      double prob_sum = 0, logit_sum = 0;
      for (int64_t i = 0; i < p.num_elements(); ++i) {
        const double t = y.f32()[i] * (1.0 - ls) + 0.5 * ls;
        const double c = std::min(std::max<double>(p.f32()[i], 1e-7), 1 - 1e-7);
        prob_sum -= t * std::log(c + 1e-7) + (1 - t) * std::log(1 - c + 1e-7);
        const double q = 1 / (1 + std::exp(-double{logits.f32()[i]}));
        logit_sum -= t * std::log(q) + (1 - t) * std::log(1 - q);
      }
      const double n = p.num_elements();
      EXPECT_NEAR(Loss(BceCase(p, y, false, ls)), prob_sum / n, 1e-5)
          << ShapeToString(shape) << " label_smoothing " << ls;
      EXPECT_NEAR(Loss(BceCase(logits, y, true, ls)), logit_sum / n, 1e-5)
          << ShapeToString(shape) << " label_smoothing " << ls;
    }
  }
}

TEST(BinaryCrossentropyTest, ClipsProbabilitiesAsKeras) {
  // p = 0 with label 1 and p = 1 with label 0 are clipped to 1e-7 from the
  // edge: -ln(1e-7 + 1e-7) = 15.4249485 each. p = 1 with label 1 costs ~0.
  Tensor p = Tensor::FromVector({3, 1}, std::vector<float>{0, 1, 1});
  Tensor y = Tensor::FromVector({3, 1}, std::vector<float>{1, 0, 1});
  EXPECT_NEAR(Loss(BceCase(p, y)), 2 * 15.4249485 / 3, 1e-4);

  // The gradient is zero where p was clipped.
  auto grads = ComputeGradients(BuiltinRegistry(), BceCase(p, y),
                                {Tensor::Scalar(1.0f)});
  ASSERT_TRUE(grads.ok()) << grads.status();
  for (int i = 0; i < 3; ++i) EXPECT_EQ((*grads)[0].f32()[i], 0.0f) << i;
}

TEST(BinaryCrossentropyTest, LogitsMatchSigmoidProbabilities) {
  Tensor logits = RandomTensor({16, 1}, 3, -4, 4);
  Tensor labels(DType::kFloat32, {16, 1});
  for (int i = 0; i < 16; ++i) labels.f32()[i] = i % 3 == 0 ? 1 : 0;
  Tensor probabilities(DType::kFloat32, {16, 1});
  for (int i = 0; i < 16; ++i) {
    probabilities.f32()[i] = 1 / (1 + std::exp(-logits.f32()[i]));
  }
  for (float ls : {0.0f, 0.2f}) {
    const float from_logits = Loss(BceCase(logits, labels, true, ls));
    const float from_probs = Loss(BceCase(probabilities, labels, false, ls));
    EXPECT_NEAR(from_logits, from_probs, 2e-5) << "label_smoothing " << ls;
    EXPECT_GT(from_logits, 0.1f);
  }
}

TEST(BinaryCrossentropyTest, LogitsAreStableForLargeValues) {
  // z = 100, y = 0 costs 100; z = -100, y = 0 costs ~exp(-100);
  // z = -100, y = 1 costs 100.
  Tensor z = Tensor::FromVector({3}, std::vector<float>{100, -100, -100});
  Tensor y = Tensor::FromVector({3}, std::vector<float>{0, 0, 1});
  EXPECT_NEAR(Loss(BceCase(z, y, true)), 200.0 / 3, 1e-3);
}

TEST(BinaryCrossentropyTest, HandComputedGradients) {
  // Probabilities: d/dp = (-y / p + (1 - y) / (1 - p)) / N.
  auto grads =
      ComputeGradients(BuiltinRegistry(), BceCase(Probabilities(), Labels()),
                       {Tensor::Scalar(1.0f)});
  ASSERT_TRUE(grads.ok()) << grads.status();
  const std::vector<double> expected = {-1 / 0.9 / 4, 1 / 0.8 / 4, 1 / 0.4 / 4,
                                        -1 / 0.01 / 4};
  for (int i = 0; i < 4; ++i) {
    EXPECT_NEAR((*grads)[0].f32()[i], expected[i], 1e-4 * std::abs(expected[i]))
        << i;
  }
  // Logits with smoothing 0.2: d/dz = (sigmoid(z) - y') / N.
  Tensor z = Tensor::FromVector({2}, std::vector<float>{0, 2});
  Tensor y = Tensor::FromVector({2}, std::vector<float>{1, 0});
  grads = ComputeGradients(BuiltinRegistry(), BceCase(z, y, true, 0.2f),
                           {Tensor::Scalar(1.0f)});
  ASSERT_TRUE(grads.ok()) << grads.status();
  EXPECT_NEAR((*grads)[0].f32()[0], (0.5 - 0.9) / 2, 1e-6);
  EXPECT_NEAR((*grads)[0].f32()[1], (1 / (1 + std::exp(-2.0)) - 0.1) / 2, 1e-6);
}

TEST(BinaryCrossentropyTest, GradientMatchesFiniteDifferences) {
  Tensor probabilities = RandomTensor({12, 1}, 5, 0.05f, 0.95f);
  Tensor logits = RandomTensor({12, 1}, 6, -3, 3);
  Tensor labels(DType::kFloat32, {12, 1});
  for (int i = 0; i < 12; ++i) labels.f32()[i] = i % 2;
  GradientCheckOptions options;
  options.epsilon = 1e-3;
  for (float ls : {0.0f, 0.1f}) {
    for (bool from_logits : {false, true}) {
      OpTestCase test = BceCase(from_logits ? logits : probabilities, labels,
                                from_logits, ls);
      auto report = CheckGradients(BuiltinRegistry(), test, options);
      ASSERT_TRUE(report.ok()) << report.status();
      EXPECT_TRUE(report->ok) << report->worst;
      EXPECT_EQ(report->checked, 12);
      // The labels' gradient too, for graphs where they are computed.
      test.differentiable = {false, true};
      report = CheckGradients(BuiltinRegistry(), test, options);
      ASSERT_TRUE(report.ok()) << report.status();
      EXPECT_TRUE(report->ok) << report->worst;
      EXPECT_EQ(report->checked, 12);
    }
  }
}

TEST(BinaryCrossentropyTest, BadAttributesAndShapes) {
  for (float ls : {-0.1f, 1.5f}) {
    auto out =
        RunOp(BuiltinRegistry(), BceCase(Probabilities(), Labels(), false, ls));
    ASSERT_FALSE(out.ok());
    EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(out.status().message(),
                AllOf(HasSubstr("'label_smoothing'"), HasSubstr("[0, 1]")));
  }
  auto out =
      RunOp(BuiltinRegistry(), BceCase(Probabilities(), RandomTensor({4}, 1)));
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("same shape"));
  out = RunOp(BuiltinRegistry(),
              BceCase(RandomTensor({2, 2, 1}, 1), RandomTensor({2, 2, 1}, 2)));
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("[N, 1] or [N]"));
}

}  // namespace
}  // namespace loom::testing
