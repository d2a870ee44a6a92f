#include <cmath>
#include <memory>
#include <random>
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

// Softmax over the last axis in double.
std::vector<double> Reference(const Tensor& x) {
  const int64_t k = x.shape().back();
  const int64_t rows = x.num_elements() / k;
  std::vector<double> y(x.num_elements());
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = x.f32() + r * k;
    double max = row[0];
    for (int64_t j = 1; j < k; ++j) max = std::max<double>(max, row[j]);
    double sum = 0;
    for (int64_t j = 0; j < k; ++j) sum += std::exp(row[j] - max);
    for (int64_t j = 0; j < k; ++j) y[r * k + j] = std::exp(row[j] - max) / sum;
  }
  return y;
}

// dx = y * (dy - sum(dy * y)) per row, in double.
std::vector<double> ReferenceGrad(const Tensor& x, const Tensor& dy) {
  const std::vector<double> y = Reference(x);
  const int64_t k = x.shape().back();
  const int64_t rows = x.num_elements() / k;
  std::vector<double> dx(x.num_elements());
  for (int64_t r = 0; r < rows; ++r) {
    double dot = 0;
    for (int64_t j = 0; j < k; ++j) dot += y[r * k + j] * dy.f32()[r * k + j];
    for (int64_t j = 0; j < k; ++j) {
      dx[r * k + j] = y[r * k + j] * (dy.f32()[r * k + j] - dot);
    }
  }
  return dx;
}

Tensor Softmax(const Tensor& x) {
  auto out = RunOp(BuiltinRegistry(), {"Softmax", {}, {x}});
  EXPECT_TRUE(out.ok()) << out.status();
  if (!out.ok()) return Tensor();
  EXPECT_EQ((*out)[0].shape(), x.shape());
  return (*out)[0];
}

TEST(SoftmaxTest, HandComputedValues) {
  Tensor x = Tensor::FromVector(
      {3, 3}, std::vector<float>{1, 2, 3, 0, 0, 0, -1, 0, std::log(2.0f)});
  Tensor y = Softmax(x);
  ASSERT_TRUE(y.is_initialized());
  // e / (e + e^2 + e^3) etc.
  const std::vector<double> expected = {
      0.0900305732, 0.2447284711, 0.6652409558, 1 / 3.0, 1 / 3.0, 1 / 3.0,
      // e^-1, 1, 2 over their sum.
      0.1092317726, 0.2969227425, 0.5938454850};
  for (int i = 0; i < 9; ++i) {
    EXPECT_NEAR(y.f32()[i], expected[i], 1e-6) << i;
  }
}

TEST(SoftmaxTest, IsStableForLargeMagnitudes) {
  // exp(1000) overflows float and double; shifting by the max does not.
  Tensor x = Tensor::FromVector(
      {3, 3},
      std::vector<float>{1000, 1001, 1002, -1000, -1001, -1002, 20, -20, 0});
  Tensor y = Softmax(x);
  ASSERT_TRUE(y.is_initialized());
  const std::vector<double> expected = {0.0900305732, 0.2447284711,
                                        0.6652409558, 0.6652409558,
                                        0.2447284711, 0.0900305732};
  for (int i = 0; i < 6; ++i) {
    EXPECT_NEAR(y.f32()[i], expected[i], 1e-6) << i;
  }
  // Tiny probabilities keep their relative precision.
  EXPECT_NEAR(y.f32()[6], 1.0, 1e-6);
  EXPECT_NEAR(y.f32()[7], 4.248354246e-18, 1e-5 * 4.248354246e-18);
  EXPECT_NEAR(y.f32()[8], 2.061153618e-09, 1e-5 * 2.061153618e-09);
  for (float v : y.flat()) EXPECT_TRUE(std::isfinite(v));
}

TEST(SoftmaxTest, ForwardMatchesReference) {
  for (const Shape& shape : {Shape{1, 1}, Shape{4, 7}, Shape{9}, Shape{2, 3, 5},
                             Shape{5, 1}, Shape{3, 1000}, Shape{64, 10}}) {
    Tensor x = RandomTensor(shape, 21, -8.0f, 8.0f);
    Tensor y = Softmax(x);
    ASSERT_TRUE(y.is_initialized()) << ShapeToString(shape);
    const std::vector<double> want = Reference(x);
    const int64_t k = shape.back();
    for (int64_t i = 0; i < x.num_elements(); ++i) {
      EXPECT_NEAR(y.f32()[i], want[i], 1e-7 + 2e-6 * want[i])
          << ShapeToString(shape) << " at " << i;
    }
    for (int64_t r = 0; r < x.num_elements() / k; ++r) {
      double sum = 0;
      for (int64_t j = 0; j < k; ++j) sum += y.f32()[r * k + j];
      EXPECT_NEAR(sum, 1.0, 1e-5) << ShapeToString(shape) << " row " << r;
    }
  }
}

TEST(SoftmaxTest, HandComputedGradient) {
  // y = (1/4, 1/4, 1/2) for x = (0, 0, ln 2); with dy = (1, 0, 0):
  // sum(dy * y) = 1/4, dx = y * (dy - 1/4) = (3/16, -1/16, -1/8).
  Tensor x =
      Tensor::FromVector({1, 3}, std::vector<float>{0, 0, std::log(2.0f)});
  Tensor dy = Tensor::FromVector({1, 3}, std::vector<float>{1, 0, 0});
  auto grads = ComputeGradients(BuiltinRegistry(), {"Softmax", {}, {x}}, {dy});
  ASSERT_TRUE(grads.ok()) << grads.status();
  EXPECT_NEAR((*grads)[0].f32()[0], 3 / 16.0, 1e-6);
  EXPECT_NEAR((*grads)[0].f32()[1], -1 / 16.0, 1e-6);
  EXPECT_NEAR((*grads)[0].f32()[2], -1 / 8.0, 1e-6);
}

TEST(SoftmaxTest, GradientMatchesReference) {
  for (const Shape& shape : {Shape{6, 5}, Shape{2, 3, 4}, Shape{7}}) {
    Tensor x = RandomTensor(shape, 8, -3, 3);
    Tensor dy = RandomTensor(shape, 9, -1, 1);
    auto grads =
        ComputeGradients(BuiltinRegistry(), {"Softmax", {}, {x}}, {dy});
    ASSERT_TRUE(grads.ok()) << grads.status();
    const std::vector<double> want = ReferenceGrad(x, dy);
    for (int64_t i = 0; i < x.num_elements(); ++i) {
      EXPECT_NEAR((*grads)[0].f32()[i], want[i], 1e-6)
          << ShapeToString(shape) << " at " << i;
    }
  }
}

TEST(SoftmaxTest, GradientMatchesFiniteDifferences) {
  for (const Shape& shape : {Shape{4, 6}, Shape{2, 2, 3}, Shape{5}}) {
    Tensor x = RandomTensor(shape, 5, -2, 2);
    GradientCheckOptions options;
    options.epsilon = 1e-3;
    auto report =
        CheckGradients(BuiltinRegistry(), {"Softmax", {}, {x}}, options);
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_TRUE(report->ok) << ShapeToString(shape) << ": " << report->worst;
    EXPECT_EQ(report->checked, x.num_elements());
  }
}

TEST(SoftmaxTest, RejectsScalars) {
  OpTestCase test{"Softmax", {}, {Tensor::Scalar(1)}};
  test.differentiable = {false};  // Parameters cannot be scalars.
  auto out = RunOp(BuiltinRegistry(), test);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(out.status().message()),
              AllOf(HasSubstr("Softmax"), HasSubstr("rank >= 1")));
}

// One kernel instance fed changing shapes, as the executor does when the
// last batch of an epoch is smaller: its cached primitives must follow.
TEST(SoftmaxTest, OneKernelAcrossShapes) {
  const OpDef* def = BuiltinRegistry().Find("Softmax");
  ASSERT_NE(def, nullptr);
  auto attrs = AttrMap::Resolve(def->signature.attrs, {});
  ASSERT_TRUE(attrs.ok()) << attrs.status();
  const std::string name = "softmax";
  const std::vector<const ValueInfo*> infos = {nullptr};
  auto kernel = def->kernels[0].create(KernelInitContext{name, *attrs, infos});
  ASSERT_TRUE(kernel.ok()) << kernel.status();
  DnnlContext dnnl;
  std::mt19937_64 rng;
  Tensor y, dx;
  uint64_t seed = 30;
  // Growing after shrinking: a primitive built for fewer rows would leave
  // rows unwritten.
  for (const Shape& shape : {Shape{3, 5}, Shape{8, 5}, Shape{3, 5}, Shape{8, 5},
                             Shape{8, 2}, Shape{0, 5}, Shape{2, 4, 5}}) {
    Tensor x = RandomTensor(shape, ++seed, -4, 4);
    Tensor dy = RandomTensor(shape, ++seed, -1, 1);
    KernelContext ctx(*attrs, &dnnl, {&x}, {&y}, /*training=*/true, &rng);
    ASSERT_TRUE((*kernel)->Forward(ctx).ok()) << ShapeToString(shape);
    ASSERT_EQ(y.shape(), shape);
    GradContext grad_ctx(&ctx, {&dy}, {&dx}, {nullptr});
    ASSERT_TRUE((*kernel)->Backward(grad_ctx).ok()) << ShapeToString(shape);
    ASSERT_EQ(dx.shape(), shape);
    const std::vector<double> want_y = Reference(x);
    const std::vector<double> want_dx = ReferenceGrad(x, dy);
    for (int64_t i = 0; i < x.num_elements(); ++i) {
      EXPECT_NEAR(y.f32()[i], want_y[i], 1e-6) << ShapeToString(shape) << i;
      EXPECT_NEAR(dx.f32()[i], want_dx[i], 1e-6) << ShapeToString(shape) << i;
    }
  }
}

}  // namespace
}  // namespace loom::testing
