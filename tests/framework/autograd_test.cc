// The executor's backward pass against finite differences on small graphs,
// and a small model trained until its loss falls.
#include <cmath>
#include <memory>
#include <string>

#include "framework/executor.h"
#include "framework/model_io.h"
#include "framework/optimizer.h"
#include "framework/testing/op_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ops/op_library.h"
#include "tests/framework/test_executor.h"
#include "tests/framework/test_ops.h"

namespace loom::testing {
namespace {

double Loss(Executor& ex, const FeedMap& feeds) {
  const std::vector<std::string> fetch = {"loss"};
  EXPECT_TRUE(ex.Run(feeds, fetch, true).ok());
  return (*ex.Fetch("loss"))->f32()[0];
}

// Compares every parameter's gradient with central differences.
void ExpectGradientsMatch(Executor& ex, const FeedMap& feeds) {
  Loss(ex, feeds);
  ASSERT_TRUE(ex.Backward("loss").ok());
  std::vector<Tensor> analytic;
  for (const Parameter& p : ex.parameters()) analytic.push_back(p.grad.Clone());
  const float eps = 1e-2f;
  int checked = 0;
  for (size_t k = 0; k < ex.parameters().size(); ++k) {
    Tensor& w = ex.parameters()[k].value;
    for (int64_t i = 0; i < w.num_elements(); ++i) {
      const float saved = w.f32()[i];
      w.f32()[i] = saved + eps;
      const double plus = Loss(ex, feeds);
      w.f32()[i] = saved - eps;
      const double minus = Loss(ex, feeds);
      w.f32()[i] = saved;
      const double numeric = (plus - minus) / (2 * eps);
      EXPECT_NEAR(analytic[k].f32()[i], numeric,
                  2e-3 + 2e-2 * std::abs(numeric))
          << ex.parameters()[k].name << "[" << i << "]";
      ++checked;
    }
  }
  EXPECT_GT(checked, 0);
}

FeedMap Feeds(int64_t n, int64_t features) {
  return {{"x", RandomTensor({n, features}, 1)},
          {"y", RandomTensor({n, 1}, 2)}};
}

constexpr char kInputs[] = R"(
  input { name: "x" dtype: DT_FLOAT shape { dim: -1 dim: 3 } }
  input { name: "y" dtype: DT_FLOAT shape { dim: -1 dim: 1 } }
)";

TEST(AutogradTest, FanOutSumsGradients) {
  // h feeds both Tanh and Sigmoid, whose results are added.
  auto ex = MakeTestExecutor(std::string(kInputs) + R"(
    parameter { name: "w" shape { dim: 3 dim: 1 } initializer { glorot_uniform {} } }
    node { name: "h" op: "MatMul" input: "x" input: "w" }
    node { name: "t" op: "Tanh" input: "h" }
    node { name: "s" op: "Sigmoid" input: "h" }
    node { name: "sum" op: "Add" input: "t" input: "s" }
    node { name: "loss" op: "MeanSquaredError" input: "sum" input: "y" }
  )");
  ExpectGradientsMatch(*ex, Feeds(5, 3));
}

TEST(AutogradTest, ParameterUsedTwice) {
  auto ex = MakeTestExecutor(std::string(kInputs) + R"(
    parameter { name: "w" shape { dim: 3 dim: 3 } initializer { orthogonal {} } }
    parameter { name: "v" shape { dim: 3 dim: 1 } initializer { glorot_uniform {} } }
    node { name: "h1" op: "MatMul" input: "x" input: "w" }
    node { name: "a1" op: "Tanh" input: "h1" }
    node { name: "h2" op: "MatMul" input: "a1" input: "w" }
    node { name: "out" op: "MatMul" input: "h2" input: "v" }
    node { name: "loss" op: "MeanSquaredError" input: "out" input: "y" }
  )");
  ExpectGradientsMatch(*ex, Feeds(4, 3));
}

TEST(AutogradTest, BranchesThatReachNoParameterGetNoGradientWork) {
  auto ex = MakeTestExecutor(std::string(kInputs) + R"(
    input { name: "z" dtype: DT_FLOAT shape { dim: -1 dim: 1 } }
    parameter { name: "w" shape { dim: 3 dim: 1 } initializer { glorot_uniform {} } }
    node { name: "h" op: "MatMul" input: "x" input: "w" }
    node { name: "on_path" op: "CountingIdentity" input: "h" }
    node { name: "off_path" op: "CountingIdentity" input: "z" }
    node { name: "sum" op: "Add" input: "on_path" input: "off_path" }
    node { name: "loss" op: "MeanSquaredError" input: "sum" input: "y" }
  )");
  FeedMap feeds = Feeds(4, 3);
  feeds["z"] = RandomTensor({4, 1}, 9);
  TestBackwardCalls() = 0;
  Loss(*ex, feeds);
  ASSERT_TRUE(ex->Backward("loss").ok());
  EXPECT_EQ(TestBackwardCalls(), 1);  // on_path only.
  ExpectGradientsMatch(*ex, feeds);
}

TEST(AutogradTest, BackwardNeedsAComputedScalarLoss) {
  auto ex = MakeTestExecutor(std::string(kInputs) + R"(
    parameter { name: "w" shape { dim: 3 dim: 1 } }
    node { name: "h" op: "MatMul" input: "x" input: "w" }
    node { name: "loss" op: "MeanSquaredError" input: "h" input: "y" }
  )");
  EXPECT_EQ(ex->Backward("loss").code(), absl::StatusCode::kFailedPrecondition);
  const std::vector<std::string> fetch = {"h"};
  ASSERT_TRUE(ex->Run(Feeds(2, 3), fetch, true).ok());
  EXPECT_EQ(ex->Backward("loss").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(ex->Backward("h").message()),
              ::testing::HasSubstr("must be a float scalar"));
}

TEST(AutogradTest, FeedsAreChecked) {
  auto ex = MakeTestExecutor(std::string(kInputs) + R"(
    parameter { name: "w" shape { dim: 3 dim: 1 } }
    node { name: "h" op: "MatMul" input: "x" input: "w" }
    node { name: "loss" op: "MeanSquaredError" input: "h" input: "y" }
  )");
  const std::vector<std::string> fetch = {"loss"};
  FeedMap wrong = Feeds(2, 4);
  EXPECT_THAT(std::string(ex->Run(wrong, fetch, false).message()),
              ::testing::HasSubstr(
                  "graph input 'x' expects float32[?, 3], got float32[2, 4]"));
  FeedMap missing = {{"x", RandomTensor({2, 3}, 1)}};
  EXPECT_THAT(std::string(ex->Run(missing, fetch, false).message()),
              ::testing::HasSubstr("graph input 'y' is needed"));
  // Inference of "h" needs no labels.
  const std::vector<std::string> prediction = {"h"};
  EXPECT_TRUE(ex->Run(missing, prediction, false).ok());
}

TEST(AutogradTest, SmallModelLearnsAToyTask) {
  // An odd target (the network has no biases, so it is odd too), learned
  // by a two-layer tanh network.
  auto ex = MakeTestExecutor(std::string(kInputs) + R"(
    parameter { name: "w1" shape { dim: 3 dim: 16 } initializer { glorot_uniform {} } }
    parameter { name: "w2" shape { dim: 16 dim: 1 } initializer { glorot_uniform {} } }
    node { name: "h" op: "MatMul" input: "x" input: "w1" }
    node { name: "a" op: "Tanh" input: "h" }
    node { name: "out" op: "MatMul" input: "a" input: "w2" }
    node { name: "loss" op: "MeanSquaredError" input: "out" input: "y" }
  )");
  Tensor x = RandomTensor({64, 3}, 4);
  Tensor y(DType::kFloat32, {64, 1});
  for (int i = 0; i < 64; ++i) {
    const float* r = x.f32() + 3 * i;
    y.f32()[i] = std::sin(2 * r[0]) + r[1] * r[1] * r[1] - 0.5f * r[2];
  }
  FeedMap feeds = {{"x", x}, {"y", y}};
  OptimizerDef def;
  def.mutable_adam()->set_learning_rate(0.02f);
  auto adam = CreateOptimizer(def);
  ASSERT_TRUE(adam.ok());
  const double initial = Loss(*ex, feeds);
  double loss = initial;
  for (int step = 0; step < 1500; ++step) {
    loss = Loss(*ex, feeds);
    ASSERT_TRUE(ex->Backward("loss").ok());
    ASSERT_TRUE((*adam)->Apply(ex->parameters()).ok());
  }
  EXPECT_GT(initial, 0.05);
  EXPECT_LT(loss, 0.01) << "initial loss " << initial;
}

}  // namespace
}  // namespace loom::testing
