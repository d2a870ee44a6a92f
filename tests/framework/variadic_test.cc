// Variadic inputs end to end with a test op, WeightedSum(first, rest...):
// y = sum_i (i + 1) * x_i. Checks what the shape, kernel-init, kernel and
// gradient contexts see, the count rules of graph validation, and that the
// executor wires the gradient of every input index (including one value
// given at several positions).
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "framework/executor.h"
#include "framework/graph.h"
#include "framework/model_io.h"
#include "framework/status_macros.h"
#include "framework/testing/op_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/framework/test_ops.h"

namespace loom::testing {
namespace {

using ::testing::HasSubstr;

// A registry with WeightedSum whose `rest` needs at least `min_rest`.
std::unique_ptr<OpRegistry> MakeRegistry(int min_rest, VariadicProbe* probe) {
  auto registry = std::make_unique<OpRegistry>();
  absl::Status s = registry->Register(WeightedSumOp(min_rest, probe));
  EXPECT_TRUE(s.ok()) << s;
  return registry;
}

absl::StatusOr<std::unique_ptr<Graph>> BuildText(const OpRegistry& registry,
                                                 const std::string& text) {
  LOOM_ASSIGN_OR_RETURN(auto file,
                        ParseModelText("graph {" + text + "}", "sum.pbtxt"));
  return Graph::Build(file.model.graph(), registry, file.source);
}

std::string Inputs(int count) {
  std::string out;
  for (int i = 0; i < count; ++i) {
    out += "input { name: \"x" + std::to_string(i) +
           "\" dtype: DT_FLOAT shape { dim: 2 dim: 3 } }\n";
  }
  return out;
}

std::string SumNode(int count) {
  std::string out = "node { name: \"sum\" op: \"WeightedSum\"";
  for (int i = 0; i < count; ++i)
    out += " input: \"x" + std::to_string(i) + "\"";
  return out + " }\n";
}

TEST(VariadicTest, CountsBelowTheMinimumAreRefused) {
  auto registry = MakeRegistry(/*min_rest=*/2, nullptr);
  // Only the fixed input: the list has 0 of its 2.
  auto graph = BuildText(*registry, Inputs(3) + SumNode(1));
  ASSERT_FALSE(graph.ok());
  EXPECT_THAT(std::string(graph.status().message()),
              HasSubstr("sum.pbtxt:4: node 'sum' (WeightedSum): input 'rest' "
                        "needs at least 2 tensors, got 0"));
  graph = BuildText(*registry, Inputs(3) + SumNode(2));
  ASSERT_FALSE(graph.ok());
  EXPECT_THAT(std::string(graph.status().message()),
              HasSubstr("input 'rest' needs at least 2 tensors, got 1"));
  // Not even the fixed input.
  graph = BuildText(*registry, Inputs(3) + SumNode(0));
  ASSERT_FALSE(graph.ok());
  EXPECT_THAT(std::string(graph.status().message()),
              HasSubstr("node 'sum' (WeightedSum): takes inputs (first, "
                        "rest...), at least 3 in all but got 0"));
  // Exactly the minimum is fine.
  graph = BuildText(*registry, Inputs(3) + SumNode(3));
  EXPECT_TRUE(graph.ok()) << graph.status();
}

TEST(VariadicTest, EmptyListWhenMinCountIsZero) {
  VariadicProbe probe;
  auto registry = MakeRegistry(/*min_rest=*/0, &probe);
  auto graph = BuildText(*registry, Inputs(1) + SumNode(1));
  ASSERT_TRUE(graph.ok()) << graph.status();
  EXPECT_EQ((*graph)->nodes()[0].inputs.size(), 1u);
  EXPECT_EQ(probe.shape_inputs, 1);
  OpTestCase test{"WeightedSum", {}, {RandomTensor({2, 3}, 1)}};
  auto out = RunOp(*registry, test);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(probe.init_inputs, 1);
  EXPECT_EQ(probe.forward_inputs, 1);
  for (int64_t e = 0; e < 6; ++e) {
    EXPECT_EQ((*out)[0].f32()[e], test.inputs[0]->f32()[e]);
  }
}

TEST(VariadicTest, EveryContextSeesEveryInput) {
  VariadicProbe probe;
  auto registry = MakeRegistry(/*min_rest=*/1, &probe);
  constexpr int kInputs = 11;
  OpTestCase test{"WeightedSum", {}, {}};
  for (int i = 0; i < kInputs; ++i) {
    test.inputs.push_back(RandomTensor({2, 3}, 100 + i));
  }
  auto out = RunOp(*registry, test);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(probe.shape_inputs, kInputs);
  EXPECT_EQ(probe.init_inputs, kInputs);
  EXPECT_EQ(probe.forward_inputs, kInputs);
  for (int64_t e = 0; e < 6; ++e) {
    double expected = 0;
    for (int i = 0; i < kInputs; ++i) {
      expected += (i + 1) * double{test.inputs[i]->f32()[e]};
    }
    EXPECT_NEAR((*out)[0].f32()[e], expected, 1e-5) << "element " << e;
  }

  // The gradient of input i is (i + 1) * w, for every i.
  Tensor w = RandomTensor({2, 3}, 7);
  auto grads = ComputeGradients(*registry, test, {w});
  ASSERT_TRUE(grads.ok()) << grads.status();
  EXPECT_EQ(probe.grad_inputs, kInputs);
  ASSERT_EQ(grads->size(), static_cast<size_t>(kInputs));
  for (int i = 0; i < kInputs; ++i) {
    ASSERT_TRUE((*grads)[i].is_initialized()) << "input " << i;
    for (int64_t e = 0; e < 6; ++e) {
      EXPECT_FLOAT_EQ((*grads)[i].f32()[e], (i + 1) * w.f32()[e])
          << "input " << i << " element " << e;
    }
  }

  GradientCheckOptions options;
  options.max_checks_per_input = 0;
  auto report = CheckGradients(*registry, test, options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok) << report->worst;
  EXPECT_EQ(report->checked, kInputs * 6);
}

TEST(VariadicTest, ExecutorAddsGradientsOfOneValueAtSeveralPositions) {
  auto registry = MakeRegistry(/*min_rest=*/1, nullptr);
  // p is input 0, 2 and 5 (weights 1 + 3 + 6 = 10); q is input 4 (weight
  // 5); the rest are fed graph inputs and get no gradient.
  auto graph = BuildText(
      *registry,
      "input { name: \"c\" dtype: DT_FLOAT shape { dim: 2 } }\n"
      "parameter { name: \"p\" shape { dim: 2 } }\n"
      "parameter { name: \"q\" shape { dim: 2 } }\n"
      "node { name: \"sum\" op: \"WeightedSum\" input: \"p\" input: \"c\" "
      "input: \"p\" input: \"c\" input: \"q\" input: \"p\" input: \"c\" }\n");
  ASSERT_TRUE(graph.ok()) << graph.status();
  auto ex = Executor::Create(std::shared_ptr<const Graph>(*std::move(graph)),
                             /*seed=*/1);
  ASSERT_TRUE(ex.ok()) << ex.status();
  Parameter* p = (*ex)->FindParameter("p");
  Parameter* q = (*ex)->FindParameter("q");
  ASSERT_NE(p, nullptr);
  ASSERT_NE(q, nullptr);
  p->value.f32()[0] = 1.0f;
  p->value.f32()[1] = -2.0f;
  q->value.f32()[0] = 0.5f;
  q->value.f32()[1] = 4.0f;
  FeedMap feeds = {{"c", Tensor::FromVector({2}, std::vector<float>{3, 1})}};
  const std::vector<std::string> fetch = {"sum"};
  ASSERT_TRUE((*ex)->Run(feeds, fetch, /*training=*/true).ok());
  const Tensor* y = *(*ex)->Fetch("sum");
  // y = 10 p + (2 + 4 + 7) c + 5 q.
  EXPECT_FLOAT_EQ(y->f32()[0], 10 * 1.0f + 13 * 3.0f + 5 * 0.5f);
  EXPECT_FLOAT_EQ(y->f32()[1], 10 * -2.0f + 13 * 1.0f + 5 * 4.0f);
  Tensor seed = Tensor::FromVector({2}, std::vector<float>{1.0f, -0.5f});
  ASSERT_TRUE((*ex)->Backward("sum", &seed).ok());
  EXPECT_FLOAT_EQ(p->grad.f32()[0], 10.0f);
  EXPECT_FLOAT_EQ(p->grad.f32()[1], -5.0f);
  EXPECT_FLOAT_EQ(q->grad.f32()[0], 5.0f);
  EXPECT_FLOAT_EQ(q->grad.f32()[1], -2.5f);
}

}  // namespace
}  // namespace loom::testing
