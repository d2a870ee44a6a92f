#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "framework/testing/op_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loom::testing {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

OpTestCase DropoutCase(const std::string& op, const Tensor& x, float rate,
                       bool training, uint64_t seed = 1) {
  OpTestCase test{op, {{"rate", FloatValue(rate)}}, {x}};
  test.training = training;
  test.seed = seed;
  return test;
}

// Every output element is either 0 (dropped) or x / (1 - rate) (kept);
// returns the kept fraction. x must hold no zeros.
double CheckKeptValues(const Tensor& x, const Tensor& y, float rate) {
  EXPECT_EQ(x.shape(), y.shape());
  int64_t kept = 0;
  for (int64_t i = 0; i < x.num_elements(); ++i) {
    if (y.f32()[i] == 0.0f) continue;
    ++kept;
    const double expected = x.f32()[i] / (1.0 - rate);
    EXPECT_NEAR(y.f32()[i], expected, 1e-6 * std::abs(expected))
        << "element " << i;
  }
  return static_cast<double>(kept) / x.num_elements();
}

bool SameValues(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return false;
  for (int64_t i = 0; i < a.num_elements(); ++i) {
    if (a.f32()[i] != b.f32()[i]) return false;
  }
  return true;
}

TEST(DropoutTest, KeepsOneMinusRateAndScales) {
  Tensor x = RandomTensor({200, 500}, 3, 0.5f, 1.5f);
  for (float rate : {0.1f, 0.3f, 0.5f, 0.9f}) {
    auto out = RunOp(BuiltinRegistry(), DropoutCase("Dropout", x, rate, true));
    ASSERT_TRUE(out.ok()) << out.status();
    // 100,000 draws: the kept fraction's standard deviation is <= 0.0016.
    EXPECT_NEAR(CheckKeptValues(x, (*out)[0], rate), 1.0 - rate, 0.01)
        << "rate " << rate;
  }
}

TEST(DropoutTest, SameSeedSameMaskOtherSeedOtherMask) {
  Tensor x = RandomTensor({30, 40}, 3, 0.5f, 1.5f);
  auto a = RunOp(BuiltinRegistry(), DropoutCase("Dropout", x, 0.5f, true, 7));
  auto b = RunOp(BuiltinRegistry(), DropoutCase("Dropout", x, 0.5f, true, 7));
  auto c = RunOp(BuiltinRegistry(), DropoutCase("Dropout", x, 0.5f, true, 8));
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_TRUE(SameValues((*a)[0], (*b)[0]));
  EXPECT_FALSE(SameValues((*a)[0], (*c)[0]));
}

TEST(DropoutTest, InferenceAndRateZeroAreIdentity) {
  Tensor x = RandomTensor({3, 4, 5}, 3);
  for (const auto& [rate, training] :
       {std::pair{0.5f, false}, std::pair{0.0f, true}}) {
    auto out =
        RunOp(BuiltinRegistry(), DropoutCase("Dropout", x, rate, training));
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_TRUE(SameValues((*out)[0], x)) << "rate " << rate;
  }
}

TEST(DropoutTest, GradientIsTheMask) {
  Tensor x = RandomTensor({10, 20}, 3, 0.5f, 1.5f);
  const float rate = 0.4f;
  OpTestCase test = DropoutCase("Dropout", x, rate, true);
  auto out = RunOp(BuiltinRegistry(), test);
  ASSERT_TRUE(out.ok()) << out.status();
  Tensor weights = RandomTensor({10, 20}, 4);
  auto grads = ComputeGradients(BuiltinRegistry(), test, {weights});
  ASSERT_TRUE(grads.ok()) << grads.status();
  int dropped = 0;
  for (int64_t i = 0; i < x.num_elements(); ++i) {
    const bool kept = (*out)[0].f32()[i] != 0.0f;
    dropped += !kept;
    const double expected = kept ? weights.f32()[i] / (1 - rate) : 0.0;
    EXPECT_NEAR((*grads)[0].f32()[i], expected, 1e-6) << "element " << i;
  }
  EXPECT_GT(dropped, 0);

  auto report = CheckGradients(BuiltinRegistry(), test);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok) << report->worst;

  // In inference the gradient passes unchanged.
  test.training = false;
  grads = ComputeGradients(BuiltinRegistry(), test, {weights});
  ASSERT_TRUE(grads.ok()) << grads.status();
  EXPECT_TRUE(SameValues((*grads)[0], weights));
}

TEST(DropoutTest, RateOutsideRangeIsAnError) {
  Tensor x = RandomTensor({2, 2}, 3);
  for (float rate : {1.0f, -0.1f, 1.5f}) {
    auto out = RunOp(BuiltinRegistry(), DropoutCase("Dropout", x, rate, true));
    ASSERT_FALSE(out.ok()) << "rate " << rate;
    EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(out.status().message(),
                AllOf(HasSubstr("'rate'"), HasSubstr("[0, 1)")));
  }
  auto out = RunOp(BuiltinRegistry(), DropoutCase("Dropout", x, 1.0f, true));
  EXPECT_THAT(out.status().message(), HasSubstr("got 1"));
  out = RunOp(
      BuiltinRegistry(),
      DropoutCase("SpatialDropout1D", RandomTensor({2, 2, 2}, 1), 1.0f, true));
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("'rate'"));
}

TEST(SpatialDropout1DTest, DropsWholeChannelsAtTheRightRate) {
  const int64_t n = 64, t = 10, c = 128;
  Tensor x = RandomTensor({n, t, c}, 3, 0.5f, 1.5f);
  const float rate = 0.25f;
  auto out =
      RunOp(BuiltinRegistry(), DropoutCase("SpatialDropout1D", x, rate, true));
  ASSERT_TRUE(out.ok()) << out.status();
  const Tensor& y = (*out)[0];
  const double kept_elements = CheckKeptValues(x, y, rate);
  int64_t kept_channels = 0;
  for (int64_t b = 0; b < n; ++b) {
    for (int64_t k = 0; k < c; ++k) {
      const bool kept = y.f32()[(b * t) * c + k] != 0.0f;
      kept_channels += kept;
      for (int64_t s = 1; s < t; ++s) {
        ASSERT_EQ(y.f32()[(b * t + s) * c + k] != 0.0f, kept)
            << "sequence " << b << " channel " << k << " step " << s;
      }
    }
  }
  // 8192 draws: the kept fraction's standard deviation is about 0.005.
  const double kept_fraction = static_cast<double>(kept_channels) / (n * c);
  EXPECT_NEAR(kept_fraction, 1.0 - rate, 0.025);
  EXPECT_DOUBLE_EQ(kept_elements, kept_fraction);
}

TEST(SpatialDropout1DTest, MasksDifferAcrossSequences) {
  // One mask per sequence, not one for the batch.
  Tensor x = RandomTensor({8, 3, 16}, 3, 0.5f, 1.5f);
  auto out =
      RunOp(BuiltinRegistry(), DropoutCase("SpatialDropout1D", x, 0.5f, true));
  ASSERT_TRUE(out.ok()) << out.status();
  const Tensor& y = (*out)[0];
  bool differ = false;
  for (int64_t b = 1; b < 8 && !differ; ++b) {
    for (int64_t k = 0; k < 16; ++k) {
      differ |= (y.f32()[b * 3 * 16 + k] == 0) != (y.f32()[k] == 0);
    }
  }
  EXPECT_TRUE(differ);
}

TEST(SpatialDropout1DTest, SeedsInferenceAndGradient) {
  Tensor x = RandomTensor({4, 5, 6}, 3, 0.5f, 1.5f);
  auto a = RunOp(BuiltinRegistry(),
                 DropoutCase("SpatialDropout1D", x, 0.5f, true, 7));
  auto b = RunOp(BuiltinRegistry(),
                 DropoutCase("SpatialDropout1D", x, 0.5f, true, 7));
  auto c = RunOp(BuiltinRegistry(),
                 DropoutCase("SpatialDropout1D", x, 0.5f, true, 8));
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_TRUE(SameValues((*a)[0], (*b)[0]));
  EXPECT_FALSE(SameValues((*a)[0], (*c)[0]));

  auto inference =
      RunOp(BuiltinRegistry(), DropoutCase("SpatialDropout1D", x, 0.5f, false));
  ASSERT_TRUE(inference.ok());
  EXPECT_TRUE(SameValues((*inference)[0], x));

  OpTestCase test = DropoutCase("SpatialDropout1D", x, 0.5f, true, 7);
  Tensor weights = RandomTensor({4, 5, 6}, 4);
  auto grads = ComputeGradients(BuiltinRegistry(), test, {weights});
  ASSERT_TRUE(grads.ok()) << grads.status();
  for (int64_t i = 0; i < x.num_elements(); ++i) {
    const bool kept = (*a)[0].f32()[i] != 0.0f;
    EXPECT_NEAR((*grads)[0].f32()[i], kept ? 2 * weights.f32()[i] : 0.0, 1e-6);
  }
  auto report = CheckGradients(BuiltinRegistry(), test);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok) << report->worst;
}

TEST(SpatialDropout1DTest, NeedsRankThree) {
  auto out = RunOp(
      BuiltinRegistry(),
      DropoutCase("SpatialDropout1D", RandomTensor({4, 5}, 1), 0.5f, true));
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("rank 3"));
}

}  // namespace
}  // namespace loom::testing
