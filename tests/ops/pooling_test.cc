#include <algorithm>
#include <functional>
#include <numeric>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "framework/testing/op_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loom::testing {
namespace {

using ::testing::HasSubstr;

// x[n, t, c] with, per (n, c), distinct values at least 0.1 apart, so a
// finite-difference step of 1e-2 never changes which step is the maximum.
Tensor DistinctSequence(int64_t n, int64_t t, int64_t c, uint64_t seed) {
  Tensor x(DType::kFloat32, {n, t, c});
  std::mt19937_64 rng(seed);
  std::vector<int> order(t);
  for (int64_t b = 0; b < n; ++b) {
    for (int64_t k = 0; k < c; ++k) {
      std::iota(order.begin(), order.end(), 0);
      std::shuffle(order.begin(), order.end(), rng);
      for (int64_t s = 0; s < t; ++s) {
        x.f32()[(b * t + s) * c + k] = 0.1f * order[s] - 0.3f;
      }
    }
  }
  return x;
}

// A [N, T] mask of 0/1 with the given number of valid (trailing) steps per
// sequence, as pre-padding leaves them.
Tensor TrailingMask(int64_t t, const std::vector<int>& valid) {
  const int64_t n = valid.size();
  Tensor mask(DType::kFloat32, {n, t});
  for (int64_t b = 0; b < n; ++b) {
    for (int64_t s = t - valid[b]; s < t; ++s) mask.f32()[b * t + s] = 1;
  }
  return mask;
}

// Runs `op` on a few shapes, without and with a trailing mask, and checks
// each y[n, c] against `reduce` of x[n, :, c] over the steps that count.
void ExpectMatchesReference(
    const std::string& op,
    const std::function<double(const std::vector<float>&)>& reduce,
    double tolerance, const std::string& kernel = "") {
  for (const Shape& shape : {Shape{1, 1, 1}, Shape{2, 5, 3}, Shape{4, 9, 7}}) {
    Tensor x = RandomTensor(shape, 5);
    const int64_t n = shape[0], t = shape[1], c = shape[2];
    std::vector<int> valid;
    for (int64_t b = 0; b < n; ++b) valid.push_back(1 + (b * 3) % t);
    Tensor mask = TrailingMask(t, valid);
    for (bool masked : {false, true}) {
      OpTestCase test{op, {}, {x}};
      if (!kernel.empty()) test.attrs["_kernel"] = StringValue(kernel);
      if (masked) test.inputs.push_back(mask);
      test.differentiable = {true, false};
      auto out = RunOp(BuiltinRegistry(), test);
      ASSERT_TRUE(out.ok()) << out.status();
      const Tensor& y = (*out)[0];
      ASSERT_EQ(y.shape(), (Shape{n, c}));
      for (int64_t b = 0; b < n; ++b) {
        for (int64_t k = 0; k < c; ++k) {
          std::vector<float> steps;
          for (int64_t s = 0; s < t; ++s) {
            if (masked && mask.f32()[b * t + s] == 0) continue;
            steps.push_back(x.f32()[(b * t + s) * c + k]);
          }
          EXPECT_NEAR(y.f32()[b * c + k], reduce(steps), tolerance)
              << op << " " << kernel << ", masked " << masked << " at " << b
              << ", " << k;
        }
      }
    }
  }
}

TEST(GlobalMaxPooling1DTest, ForwardMatchesReference) {
  ExpectMatchesReference(
      "GlobalMaxPooling1D",
      [](const std::vector<float>& v) {
        return *std::max_element(v.begin(), v.end());
      },
      0.0);
}

TEST(GlobalMaxPooling1DTest, MaskLeavesPaddingOut) {
  // A pre-padded sequence whose padded outputs are zeros, as a masked
  // LSTM's: without the mask the zeros win over the negative channel.
  Tensor x = Tensor::FromVector(
      {2, 3, 2}, std::vector<float>{0, 0, -2, 3, -1, 1, 4, -5, 2, -6, 1, -7});
  Tensor mask =
      Tensor::FromVector({2, 3}, std::vector<float>{0, 1, 1, 1, 1, 1});
  OpTestCase masked{"GlobalMaxPooling1D", {}, {x, mask}};
  masked.differentiable = {true, false};
  auto out = RunOp(BuiltinRegistry(), masked);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT((*out)[0].flat(), ::testing::ElementsAre(-1, 3, 4, -5));
  auto plain = RunOp(BuiltinRegistry(), {"GlobalMaxPooling1D", {}, {x}});
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_THAT((*plain)[0].flat(), ::testing::ElementsAre(0, 3, 4, -5));

  // The gradient reaches only the valid step holding each maximum.
  auto grads = ComputeGradients(
      BuiltinRegistry(), masked,
      {Tensor::FromVector({2, 2}, std::vector<float>{1, 2, 3, 4})});
  ASSERT_TRUE(grads.ok()) << grads.status();
  EXPECT_THAT((*grads)[0].flat(),
              ::testing::ElementsAre(0, 0, 0, 2, 1, 0, 3, 4, 0, 0, 0, 0));
}

TEST(GlobalMaxPooling1DTest, FullyMaskedSequenceGivesZero) {
  Tensor x = RandomTensor({2, 3, 2}, 1, 1.0f, 2.0f);
  Tensor mask =
      Tensor::FromVector({2, 3}, std::vector<float>{0, 0, 0, 1, 1, 1});
  OpTestCase test{"GlobalMaxPooling1D", {}, {x, mask}};
  test.differentiable = {true, false};
  auto out = RunOp(BuiltinRegistry(), test);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)[0].f32()[0], 0.0f);
  EXPECT_EQ((*out)[0].f32()[1], 0.0f);
  EXPECT_GE((*out)[0].f32()[2], 1.0f);
  auto grads = ComputeGradients(
      BuiltinRegistry(), test,
      {Tensor::FromVector({2, 2}, std::vector<float>{1, 1, 1, 1})});
  ASSERT_TRUE(grads.ok()) << grads.status();
  for (int i = 0; i < 6; ++i) EXPECT_EQ((*grads)[0].f32()[i], 0.0f) << i;
}

TEST(GlobalMaxPooling1DTest, ReferenceGradientGoesToFirstMaximum) {
  // Channel 0: maximum 2 at steps 1 and 3 (a tie); channel 1: at step 2.
  // The loops promise the first step; oneDNN (the default) only one of the
  // tied steps.
  Tensor x = Tensor::FromVector({1, 4, 2},
                                std::vector<float>{0, 1, 2, -1, 1, 5, 2, 0});
  Tensor weights = Tensor::FromVector({1, 2}, std::vector<float>{0.5f, -3});
  auto grads = ComputeGradients(
      BuiltinRegistry(),
      {"GlobalMaxPooling1D", {{"_kernel", StringValue("reference")}}, {x}},
      {weights});
  ASSERT_TRUE(grads.ok()) << grads.status();
  const std::vector<float> expected = {0, 0, 0.5f, 0, 0, -3, 0, 0};
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ((*grads)[0].f32()[i], expected[i]) << "element " << i;
  }
  grads = ComputeGradients(BuiltinRegistry(), {"GlobalMaxPooling1D", {}, {x}},
                           {weights});
  ASSERT_TRUE(grads.ok()) << grads.status();
  const float* g = (*grads)[0].f32();
  // The tie's gradient lands on one of the two steps, channel 1's on its
  // maximum.
  EXPECT_TRUE((g[2] == 0.5f && g[6] == 0) || (g[2] == 0 && g[6] == 0.5f));
  EXPECT_EQ(g[5], -3);
  EXPECT_EQ(g[0] + g[1] + g[3] + g[4] + g[7], 0);
}

TEST(GlobalMaxPooling1DTest, GradientMatchesFiniteDifferences) {
  GradientCheckOptions options;
  options.max_checks_per_input = 0;
  const Tensor x = DistinctSequence(2, 6, 3, 4);
  OpTestCase masked{"GlobalMaxPooling1D", {}, {x, TrailingMask(6, {2, 5})}};
  masked.differentiable = {true, false};
  for (const OpTestCase& test :
       {OpTestCase{"GlobalMaxPooling1D", {}, {x}}, masked}) {
    auto report = CheckGradients(BuiltinRegistry(), test, options);
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_TRUE(report->ok) << report->worst;
    EXPECT_EQ(report->checked, 36);
  }
}

// The oneDNN kernel (pooling_max; the loops for a masked node) against the
// naive maximum, finite differences and the reference kernel.
TEST(GlobalMaxPooling1DTest, OneDnnKernelMatchesReference) {
  ExpectMatchesReference(
      "GlobalMaxPooling1D",
      [](const std::vector<float>& v) {
        return *std::max_element(v.begin(), v.end());
      },
      0.0, "onednn");
  GradientCheckOptions options;
  options.max_checks_per_input = 0;
  OpTestCase test{"GlobalMaxPooling1D",
                  {{"_kernel", StringValue("onednn")}},
                  {DistinctSequence(3, 7, 4, 9)}};
  auto report = CheckGradients(BuiltinRegistry(), test, options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok) << report->worst;
  EXPECT_EQ(report->checked, 84);
  KernelComparisonOptions against_loops;
  against_loops.reference = "reference";
  auto compared = CompareKernels(
      BuiltinRegistry(),
      {"GlobalMaxPooling1D", {}, {RandomTensor({5, 33, 17}, 3)}},
      against_loops);
  ASSERT_TRUE(compared.ok()) << compared.status();
  ASSERT_EQ(compared->kernels.size(), 1u);
  EXPECT_EQ(compared->kernels[0].kernel, "onednn");
  EXPECT_TRUE(compared->ok) << compared->kernels[0].error;
}

TEST(GlobalMaxPooling1DTest, NeedsRankThree) {
  auto out = RunOp(BuiltinRegistry(),
                   {"GlobalMaxPooling1D", {}, {RandomTensor({3, 4}, 1)}});
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("x must be [N, T, C]"));
}

TEST(GlobalAveragePooling1DTest, ForwardMatchesReference) {
  ExpectMatchesReference(
      "GlobalAveragePooling1D",
      [](const std::vector<float>& v) {
        return std::accumulate(v.begin(), v.end(), 0.0) / v.size();
      },
      1e-6);
}

TEST(GlobalAveragePooling1DTest, HandComputedMaskedMean) {
  // Sequence 0 keeps steps 1 and 2; sequence 1 keeps all three.
  Tensor x =
      Tensor::FromVector({2, 3, 1}, std::vector<float>{100, 2, 4, 1, 2, 6});
  Tensor mask =
      Tensor::FromVector({2, 3}, std::vector<float>{0, 1, 1, 1, 1, 1});
  OpTestCase test{"GlobalAveragePooling1D", {}, {x, mask}};
  test.differentiable = {true, false};
  auto out = RunOp(BuiltinRegistry(), test);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_FLOAT_EQ((*out)[0].f32()[0], 3.0f);
  EXPECT_FLOAT_EQ((*out)[0].f32()[1], 3.0f);

  // Gradients: 1/2 on sequence 0's valid steps, 1/3 on sequence 1's.
  auto grads =
      ComputeGradients(BuiltinRegistry(), test,
                       {Tensor::FromVector({2, 1}, std::vector<float>{1, 1})});
  ASSERT_TRUE(grads.ok()) << grads.status();
  const std::vector<float> expected = {0,       0.5f,    0.5f,
                                       1 / 3.f, 1 / 3.f, 1 / 3.f};
  for (int i = 0; i < 6; ++i) {
    EXPECT_FLOAT_EQ((*grads)[0].f32()[i], expected[i]) << "element " << i;
  }
}

TEST(GlobalAveragePooling1DTest, FullyMaskedSequenceAveragesToZero) {
  Tensor x = RandomTensor({2, 3, 2}, 1);
  Tensor mask =
      Tensor::FromVector({2, 3}, std::vector<float>{0, 0, 0, 1, 1, 1});
  OpTestCase test{"GlobalAveragePooling1D", {}, {x, mask}};
  test.differentiable = {true, false};
  auto out = RunOp(BuiltinRegistry(), test);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)[0].f32()[0], 0.0f);
  EXPECT_EQ((*out)[0].f32()[1], 0.0f);
  EXPECT_NE((*out)[0].f32()[2], 0.0f);
}

TEST(GlobalAveragePooling1DTest, OneDnnKernelMatchesReference) {
  ExpectMatchesReference(
      "GlobalAveragePooling1D",
      [](const std::vector<float>& v) {
        return std::accumulate(v.begin(), v.end(), 0.0) / v.size();
      },
      1e-6, "onednn");
  GradientCheckOptions options;
  options.max_checks_per_input = 0;
  OpTestCase test{"GlobalAveragePooling1D",
                  {{"_kernel", StringValue("onednn")}},
                  {RandomTensor({3, 4, 5}, 2)}};
  auto report = CheckGradients(BuiltinRegistry(), test, options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok) << report->worst;
  EXPECT_EQ(report->checked, 60);
  KernelComparisonOptions against_loops;
  against_loops.reference = "reference";
  auto compared = CompareKernels(
      BuiltinRegistry(),
      {"GlobalAveragePooling1D", {}, {RandomTensor({5, 33, 17}, 3)}},
      against_loops);
  ASSERT_TRUE(compared.ok()) << compared.status();
  ASSERT_EQ(compared->kernels.size(), 1u);
  EXPECT_TRUE(compared->ok) << compared->kernels[0].error;
}

TEST(GlobalAveragePooling1DTest, GradientMatchesFiniteDifferences) {
  Tensor x = RandomTensor({3, 4, 5}, 2);
  GradientCheckOptions options;
  options.max_checks_per_input = 0;
  // Without a mask, with a 0/1 mask, and with the mask differentiable
  // (weights away from 0 so the sums stay well conditioned).
  OpTestCase plain{"GlobalAveragePooling1D", {}, {x}};
  OpTestCase masked{
      "GlobalAveragePooling1D", {}, {x, TrailingMask(4, {1, 4, 2})}};
  masked.differentiable = {true, false};
  OpTestCase weighted{
      "GlobalAveragePooling1D", {}, {x, RandomTensor({3, 4}, 3, 0.5f, 1.5f)}};
  const std::vector<std::pair<OpTestCase, int>> cases = {
      {plain, 60}, {masked, 60}, {weighted, 60 + 12}};
  for (const auto& [test, checked] : cases) {
    auto report = CheckGradients(BuiltinRegistry(), test, options);
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_TRUE(report->ok) << report->worst;
    EXPECT_EQ(report->checked, checked);
  }
}

TEST(PoolingTest, MaskShapeMustMatch) {
  for (const char* op : {"GlobalMaxPooling1D", "GlobalAveragePooling1D"}) {
    OpTestCase test{
        op, {}, {RandomTensor({2, 3, 4}, 1), RandomTensor({2, 4}, 2)}};
    test.differentiable = {true, false};
    auto out = RunOp(BuiltinRegistry(), test);
    ASSERT_FALSE(out.ok()) << op;
    EXPECT_THAT(out.status().message(), HasSubstr("mask must be [N, T]")) << op;
  }
}

}  // namespace
}  // namespace loom::testing
