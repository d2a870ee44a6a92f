#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "framework/testing/op_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loom::testing {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

double Activate(const std::string& activation, double z) {
  if (activation == "relu") return z > 0 ? z : 0;
  if (activation == "sigmoid") return 1 / (1 + std::exp(-z));
  if (activation == "tanh") return std::tanh(z);
  return z;
}

// Pre-activations z = x * kernel + bias over rows of x's last axis.
std::vector<double> Reference(const Tensor& x, const Tensor& kernel,
                              const std::optional<Tensor>& bias) {
  const int64_t in = kernel.dim(0), units = kernel.dim(1);
  const int64_t rows = x.num_elements() / in;
  std::vector<double> z(rows * units);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t u = 0; u < units; ++u) {
      double sum = bias ? bias->f32()[u] : 0.0;
      for (int64_t c = 0; c < in; ++c) {
        sum += double{x.f32()[r * in + c]} * kernel.f32()[c * units + u];
      }
      z[r * units + u] = sum;
    }
  }
  return z;
}

OpTestCase DenseCase(const Tensor& x, const Tensor& kernel,
                     const std::optional<Tensor>& bias,
                     const std::string& activation) {
  OpTestCase test{"Dense",
                  {{"units", IntValue(kernel.dim(1))},
                   {"activation", StringValue(activation)}},
                  {x, kernel, bias}};
  return test;
}

class DenseTest : public ::testing::TestWithParam<const char*> {};

TEST_P(DenseTest, ForwardMatchesReference) {
  const std::string activation = GetParam();
  for (const Shape& x_shape : {Shape{3, 5}, Shape{1, 7}, Shape{2, 4, 6}}) {
    const int64_t in = x_shape.back();
    for (int64_t units : {1, 4}) {
      for (bool with_bias : {true, false}) {
        Tensor x = RandomTensor(x_shape, 1, -2, 2);
        Tensor kernel = RandomTensor({in, units}, 2);
        std::optional<Tensor> bias;
        if (with_bias) bias = RandomTensor({units}, 3);
        auto out =
            RunOp(BuiltinRegistry(), DenseCase(x, kernel, bias, activation));
        ASSERT_TRUE(out.ok()) << out.status();
        Shape y_shape = x_shape;
        y_shape.back() = units;
        const Tensor& y = (*out)[0];
        ASSERT_EQ(y.shape(), y_shape);
        std::vector<double> z = Reference(x, kernel, bias);
        for (size_t i = 0; i < z.size(); ++i) {
          EXPECT_NEAR(y.f32()[i], Activate(activation, z[i]), 1e-5)
              << activation << " x " << ShapeToString(x_shape) << " units "
              << units << " bias " << with_bias << " at " << i;
        }
      }
    }
  }
}

TEST_P(DenseTest, GradientMatchesFiniteDifferences) {
  const std::string activation = GetParam();
  for (const Shape& x_shape : {Shape{3, 5}, Shape{2, 3, 4}}) {
    for (bool with_bias : {true, false}) {
      // Relu has a kink at 0, where differences mean nothing: pick the
      // first seed whose pre-activations all stay clear of it (a 1e-2
      // step moves them by at most ~1e-2).
      Tensor x, kernel;
      std::optional<Tensor> bias;
      for (uint64_t seed = 1;; ++seed) {
        x = RandomTensor(x_shape, seed, -1, 1);
        kernel = RandomTensor({x_shape.back(), 3}, seed + 100, -1, 1);
        if (with_bias) bias = RandomTensor({3}, seed + 200, -0.5, 0.5);
        double closest = 1e9;
        for (double v : Reference(x, kernel, bias)) {
          closest = std::min(closest, std::abs(v));
        }
        if (activation != "relu" || closest > 0.05) break;
        ASSERT_LT(seed, 1000u);
      }
      auto report = CheckGradients(BuiltinRegistry(),
                                   DenseCase(x, kernel, bias, activation));
      ASSERT_TRUE(report.ok()) << report.status();
      EXPECT_TRUE(report->ok) << activation << ": " << report->worst;
      EXPECT_EQ(report->checked,
                x.num_elements() + kernel.num_elements() + (with_bias ? 3 : 0));
    }
  }
}

TEST_P(DenseTest, GradientOfBiasAloneAndOfKernelAlone) {
  // Only some inputs are parameters: each gradient must not depend on the
  // others being asked for.
  const std::string activation = GetParam();
  Tensor x = RandomTensor({4, 3}, 5, 0.1, 1);
  Tensor kernel = RandomTensor({3, 2}, 6, 0.1, 1);  // z > 0: away from kink.
  Tensor bias = RandomTensor({2}, 7, 0.1, 1);
  for (std::vector<bool> differentiable :
       {std::vector<bool>{false, false, true},
        std::vector<bool>{false, true, false},
        std::vector<bool>{true, false, false}}) {
    OpTestCase test = DenseCase(x, kernel, bias, activation);
    test.differentiable = differentiable;
    auto report = CheckGradients(BuiltinRegistry(), test);
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_TRUE(report->ok) << activation << ": " << report->worst;
    EXPECT_GT(report->checked, 0);
  }
}

INSTANTIATE_TEST_SUITE_P(Activations, DenseTest,
                         ::testing::Values("linear", "relu", "sigmoid",
                                           "tanh"));

TEST(DenseAttrTest, DefaultActivationIsLinear) {
  Tensor x = RandomTensor({2, 3}, 1, -2, 2);
  Tensor kernel = RandomTensor({3, 2}, 2);
  auto out = RunOp(BuiltinRegistry(),
                   {"Dense", {{"units", IntValue(2)}}, {x, kernel}});
  ASSERT_TRUE(out.ok()) << out.status();
  std::vector<double> z = Reference(x, kernel, std::nullopt);
  for (size_t i = 0; i < z.size(); ++i) {
    EXPECT_NEAR((*out)[0].f32()[i], z[i], 1e-5);
  }
}

TEST(DenseAttrTest, BadAttributesAreClearErrors) {
  Tensor x = RandomTensor({2, 3}, 1);
  Tensor kernel = RandomTensor({3, 2}, 2);
  Tensor bias = RandomTensor({2}, 3);

  auto out = RunOp(BuiltinRegistry(), DenseCase(x, kernel, bias, "swish"));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(out.status().message(),
              AllOf(HasSubstr("'activation'"), HasSubstr("swish")));

  OpTestCase wrong_units = DenseCase(x, kernel, bias, "relu");
  wrong_units.attrs["units"] = IntValue(5);
  out = RunOp(BuiltinRegistry(), wrong_units);
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(),
              AllOf(HasSubstr("'units' is 5"), HasSubstr("[3, 2]")));

  OpTestCase zero_units = DenseCase(x, kernel, bias, "relu");
  zero_units.attrs["units"] = IntValue(0);
  out = RunOp(BuiltinRegistry(), zero_units);
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(),
              AllOf(HasSubstr("'units'"), HasSubstr("got 0")));

  out = RunOp(BuiltinRegistry(), {"Dense", {}, {x, kernel, bias}});
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("units"));
}

TEST(DenseAttrTest, ShapeErrors) {
  Tensor kernel = RandomTensor({3, 2}, 2);
  auto out = RunOp(BuiltinRegistry(), DenseCase(RandomTensor({2, 4}, 1), kernel,
                                                std::nullopt, "linear"));
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("kernel must be [C, U]"));

  out = RunOp(BuiltinRegistry(), DenseCase(RandomTensor({2, 3}, 1), kernel,
                                           RandomTensor({3}, 3), "linear"));
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("bias must be [2]"));

  out = RunOp(BuiltinRegistry(),
              DenseCase(RandomTensor({3}, 1), kernel, std::nullopt, "linear"));
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("x must be"));
}

}  // namespace
}  // namespace loom::testing
