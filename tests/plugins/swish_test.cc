// The Swish example plugin (plugins/examples/swish): loaded from its shared
// object as a plugin user would, checked against a plain formula and finite
// differences, and its attribute errors.
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "framework/plugin.h"
#include "framework/registry.h"
#include "framework/testing/op_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loom::testing {
namespace {

using ::testing::HasSubstr;

const char kPluginPath[] = "plugins/examples/swish/libloom_swish.so";

// y = x * sigmoid(beta * x), in double precision.
Tensor ReferenceSwish(const Tensor& x, double beta) {
  Tensor y(DType::kFloat32, x.shape());
  for (int64_t i = 0; i < x.num_elements(); ++i) {
    const double v = x.f32()[i];
    y.f32()[i] = static_cast<float>(v / (1.0 + std::exp(-beta * v)));
  }
  return y;
}

OpTestCase SwishCase(const Tensor& x, std::optional<float> beta) {
  OpTestCase test;
  test.op = "Swish";
  if (beta.has_value()) test.attrs["beta"] = FloatValue(*beta);
  test.inputs = {x};
  return test;
}

void ExpectNear(const Tensor& got, const Tensor& want, float tol) {
  ASSERT_EQ(got.shape(), want.shape());
  for (int64_t i = 0; i < want.num_elements(); ++i) {
    ASSERT_NEAR(got.f32()[i], want.f32()[i], tol) << "element " << i;
  }
}

class SwishPluginTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    registry_ = new OpRegistry();
    load_status_ = new absl::Status(LoadPlugin(kPluginPath, registry_));
  }
  void SetUp() override { ASSERT_TRUE(load_status_->ok()) << *load_status_; }

  static OpRegistry* registry_;
  static absl::Status* load_status_;
};

OpRegistry* SwishPluginTest::registry_ = nullptr;
absl::Status* SwishPluginTest::load_status_ = nullptr;

std::string ErrorOf(const OpRegistry& registry, const OpTestCase& test) {
  return std::string(RunOp(registry, test).status().message());
}

TEST_F(SwishPluginTest, RegistersSwishWithItsSignature) {
  const OpDef* def = registry_->Find("Swish");
  ASSERT_NE(def, nullptr);
  EXPECT_EQ(def->source, kPluginPath);
  ASSERT_EQ(def->signature.inputs.size(), 1u);
  ASSERT_EQ(def->signature.outputs.size(), 1u);
  ASSERT_EQ(def->signature.attrs.size(), 1u);
  const AttrSpec& beta = def->signature.attrs[0];
  EXPECT_EQ(beta.name, "beta");
  EXPECT_EQ(beta.type, AttrType::kFloat);
  ASSERT_TRUE(beta.default_value.has_value());
  EXPECT_EQ(beta.default_value->f(), 1.0f);
  EXPECT_TRUE(def->differentiable);
}

TEST_F(SwishPluginTest, HandComputedValues) {
  const Tensor x = Tensor::FromVector({4}, std::vector<float>{0, 1, -1, 2});
  // Default beta = 1: sigmoid(1) = 0.7310586, sigmoid(2) = 0.8807971.
  auto out = RunOp(*registry_, SwishCase(x, std::nullopt));
  ASSERT_TRUE(out.ok()) << out.status();
  ExpectNear(
      (*out)[0],
      Tensor::FromVector(
          {4}, std::vector<float>{0, 0.7310586f, -0.2689414f, 1.7615942f}),
      1e-6f);
  // beta = 0: sigmoid(0) = 1/2, so y = x / 2.
  out = RunOp(*registry_, SwishCase(x, 0.0f));
  ASSERT_TRUE(out.ok()) << out.status();
  ExpectNear((*out)[0],
             Tensor::FromVector({4}, std::vector<float>{0, 0.5f, -0.5f, 1}),
             0.0f);
}

TEST_F(SwishPluginTest, ForwardMatchesReference) {
  uint64_t seed = 3;
  for (const Shape& shape :
       std::vector<Shape>{{1}, {7}, {3, 4}, {2, 3, 5}, {2, 1, 4, 3}}) {
    for (float beta : {1.0f, 0.5f, 0.0f, -1.5f, 4.0f}) {
      SCOPED_TRACE(
          absl::StrCat("shape ", ShapeToString(shape), " beta ", beta));
      const Tensor x = RandomTensor(shape, seed += 7, -6.0f, 6.0f);
      auto out = RunOp(*registry_, SwishCase(x, beta));
      ASSERT_TRUE(out.ok()) << out.status();
      ASSERT_EQ(out->size(), 1u);
      ExpectNear((*out)[0], ReferenceSwish(x, beta), 1e-5f);
    }
  }
}

// Large |beta * x| neither overflows nor gives NaN: y tends to x or 0.
TEST_F(SwishPluginTest, ForwardIsStableForLargeInputs) {
  const Tensor x =
      Tensor::FromVector({4}, std::vector<float>{-500, -90, 90, 500});
  auto out = RunOp(*registry_, SwishCase(x, 2.0f));
  ASSERT_TRUE(out.ok()) << out.status();
  ExpectNear((*out)[0],
             Tensor::FromVector({4}, std::vector<float>{0, 0, 90, 500}), 1e-6f);
}

TEST_F(SwishPluginTest, GradientsMatchFiniteDifferences) {
  GradientCheckOptions options;
  options.max_checks_per_input = 0;  // Every element.
  uint64_t seed = 100;
  for (float beta : {1.0f, 0.5f}) {
    for (const Shape& shape : std::vector<Shape>{{3, 4}, {2, 3, 5}}) {
      SCOPED_TRACE(
          absl::StrCat("shape ", ShapeToString(shape), " beta ", beta));
      const Tensor x = RandomTensor(shape, seed += 5, -3.0f, 3.0f);
      auto report = CheckGradients(*registry_, SwishCase(x, beta), options);
      ASSERT_TRUE(report.ok()) << report.status();
      EXPECT_TRUE(report->ok) << report->worst;
      EXPECT_EQ(report->checked, NumElements(shape));
      EXPECT_LT(report->max_abs_error, 1e-3) << report->worst;
    }
  }
}

// The analytic gradient for unit output weights is dy/dx itself:
// s + beta * x * s * (1 - s) with s = sigmoid(beta * x).
TEST_F(SwishPluginTest, GradientMatchesClosedForm) {
  const float beta = 0.5f;
  const Tensor x = Tensor::FromVector({5}, std::vector<float>{-4, -1, 0, 1, 4});
  const std::vector<Tensor> weights = {
      Tensor::FromVector({5}, std::vector<float>{1, 1, 1, 1, 1})};
  auto grads = ComputeGradients(*registry_, SwishCase(x, beta), weights);
  ASSERT_TRUE(grads.ok()) << grads.status();
  Tensor want(DType::kFloat32, {5});
  for (int i = 0; i < 5; ++i) {
    const double v = x.f32()[i];
    const double s = 1.0 / (1.0 + std::exp(-beta * v));
    want.f32()[i] = static_cast<float>(s + beta * v * s * (1 - s));
  }
  ExpectNear((*grads)[0], want, 1e-6f);
}

TEST_F(SwishPluginTest, BadAttributesAreClearErrors) {
  const Tensor x = RandomTensor({2, 3}, 1);
  EXPECT_THAT(ErrorOf(*registry_,
                      SwishCase(x, std::numeric_limits<float>::quiet_NaN())),
              HasSubstr("attribute 'beta' must be finite, got nan"));
  EXPECT_THAT(
      ErrorOf(*registry_, SwishCase(x, std::numeric_limits<float>::infinity())),
      HasSubstr("attribute 'beta' must be finite, got inf"));

  OpTestCase test = SwishCase(x, std::nullopt);
  test.attrs["beta"] = StringValue("one");
  EXPECT_THAT(ErrorOf(*registry_, test),
              HasSubstr("attribute 'beta' must be float, got string"));

  test = SwishCase(x, std::nullopt);
  test.attrs["alpha"] = FloatValue(1.0f);
  EXPECT_THAT(ErrorOf(*registry_, test),
              HasSubstr("unknown attribute 'alpha' (the op has: beta)"));

  // An int is accepted where a float is declared (model files write `i: 2`).
  test = SwishCase(x, std::nullopt);
  test.attrs["beta"] = IntValue(2);
  auto out = RunOp(*registry_, test);
  ASSERT_TRUE(out.ok()) << out.status();
  ExpectNear((*out)[0], ReferenceSwish(x, 2.0), 1e-5f);
}

TEST_F(SwishPluginTest, IntInputIsRefused) {
  OpTestCase test;
  test.op = "Swish";
  test.inputs = {Tensor::FromVector({3}, std::vector<int32_t>{1, 2, 3})};
  EXPECT_THAT(ErrorOf(*registry_, test),
              HasSubstr("input 0 must be float32, got int32"));
}

TEST_F(SwishPluginTest, LoadingTwiceIsADuplicateOp) {
  absl::Status again = LoadPlugin(kPluginPath, registry_);
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(again.message(), HasSubstr(absl::StrCat(
                                   "op 'Swish' from ", kPluginPath,
                                   " is already registered by ", kPluginPath)));
}

}  // namespace
}  // namespace loom::testing
