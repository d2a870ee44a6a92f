// Executor::set_backward_hook: each trainable parameter reported exactly
// once per Backward, right after its last contributing node, with its final
// gradient, in GradientReadyOrder()'s order.
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "framework/executor.h"
#include "framework/model_io.h"
#include "framework/testing/op_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ops/op_library.h"
#include "tests/framework/test_executor.h"
#include "tests/framework/test_ops.h"

namespace loom::testing {
namespace {

// w is used twice (h1 and h2); c1, c2, c3 count backward calls, so the
// count at a report says which nodes' backward ran before it. Backward
// order: loss, out(v), c3, h3(u), c2, h2(w, first part), a1, c1, h1(w,
// last part), emb(table). "spare" is trainable but unreached, "frozen"
// frozen.
constexpr char kGraph[] = R"(
  input { name: "ids" dtype: DT_INT32 shape { dim: -1 } }
  input { name: "y" dtype: DT_FLOAT shape { dim: -1 dim: 1 } }
  parameter { name: "table" shape { dim: 10 dim: 3 } initializer { uniform {} } }
  parameter { name: "w" shape { dim: 3 dim: 3 } initializer { orthogonal {} } }
  parameter { name: "u" shape { dim: 3 dim: 3 } initializer { orthogonal {} } }
  parameter { name: "v" shape { dim: 3 dim: 1 } initializer { glorot_uniform {} } }
  parameter { name: "spare" shape { dim: 2 } initializer { uniform {} } }
  parameter { name: "frozen" shape { dim: 3 dim: 3 } frozen: true
              initializer { orthogonal {} } }
  node { name: "emb" op: "Embedding" input: "ids" input: "table" }
  node { name: "h1" op: "MatMul" input: "emb" input: "w" }
  node { name: "c1" op: "CountingIdentity" input: "h1" }
  node { name: "a1" op: "Tanh" input: "c1" }
  node { name: "h2" op: "MatMul" input: "a1" input: "w" }
  node { name: "c2" op: "CountingIdentity" input: "h2" }
  node { name: "h3" op: "MatMul" input: "c2" input: "u" }
  node { name: "hf" op: "MatMul" input: "h3" input: "frozen" }
  node { name: "c3" op: "CountingIdentity" input: "hf" }
  node { name: "out" op: "MatMul" input: "c3" input: "v" }
  node { name: "loss" op: "MeanSquaredError" input: "out" input: "y" }
)";

struct Report {
  std::string name;
  int backward_calls_before;
  Tensor grad;
  bool sparse;
  std::vector<int32_t> touched_rows;
};

FeedMap Feeds() {
  Tensor ids(DType::kInt32, {4});
  const int32_t values[] = {1, 7, 1, 3};
  for (int i = 0; i < 4; ++i) ids.i32()[i] = values[i];
  return {{"ids", ids}, {"y", RandomTensor({4, 1}, 2)}};
}

TEST(ExecutorHooksTest, EachParameterOnceAfterItsLastContributorWithItsFinal) {
  auto ex = MakeTestExecutor(kGraph);
  std::vector<Report> reports;
  ex->set_backward_hook([&](int p) -> absl::Status {
    const Parameter& param = ex->parameters()[p];
    reports.push_back({param.name, TestBackwardCalls(), param.grad.Clone(),
                       param.grad_is_sparse, param.touched_rows});
    return absl::OkStatus();
  });
  // Fetching more than the loss (as Fit does) adds nodes that do not reach
  // it; two steps, so the second starts from the first's gradients.
  const std::vector<std::string> fetches = {"loss", "h1"};
  for (int step = 0; step < 2; ++step) {
    reports.clear();
    ASSERT_TRUE(ex->Run(Feeds(), fetches, /*training=*/true).ok());
    TestBackwardCalls() = 0;
    ASSERT_TRUE(ex->Backward("loss").ok());
    std::vector<std::string> names;
    std::vector<int> before;
    for (const Report& r : reports) {
      names.push_back(r.name);
      before.push_back(r.backward_calls_before);
    }
    EXPECT_THAT(names, ::testing::ElementsAre("v", "u", "w", "table", "spare"))
        << "step " << step;
    // v after out (no counter yet), u after h3 (c3 ran), w only after h1
    // (c3, c2 and c1 ran), the table after emb.
    EXPECT_THAT(before, ::testing::ElementsAre(0, 1, 3, 3, 3));
    ASSERT_EQ(reports.size(), 5u);
    for (const Report& r : reports) {
      const Parameter* p = ex->FindParameter(r.name);
      ASSERT_NE(p, nullptr);
      ASSERT_EQ(r.grad.num_elements(), p->grad.num_elements());
      for (int64_t i = 0; i < p->grad.num_elements(); ++i) {
        EXPECT_EQ(r.grad.f32()[i], p->grad.f32()[i])
            << r.name << "[" << i << "]";
      }
      EXPECT_EQ(r.sparse, p->grad_is_sparse) << r.name;
      EXPECT_EQ(r.touched_rows, p->touched_rows) << r.name;
    }
    EXPECT_TRUE(reports[3].sparse);
    EXPECT_THAT(reports[3].touched_rows,
                ::testing::UnorderedElementsAre(1, 7, 1, 3));
    // w's gradient holds both uses: not zero, and not h2's part alone
    // (checked against a run without the hook below).
    double w_norm = 0;
    for (float g : reports[2].grad.flat()) w_norm += g * g;
    EXPECT_GT(w_norm, 0);
    for (float g : reports[4].grad.flat()) EXPECT_EQ(g, 0.0f);  // spare
  }

  // The same gradients without a hook.
  std::vector<Tensor> with_hook;
  for (const Parameter& p : ex->parameters())
    with_hook.push_back(p.grad.Clone());
  ex->set_backward_hook(nullptr);
  ASSERT_TRUE(ex->Run(Feeds(), fetches, /*training=*/true).ok());
  ASSERT_TRUE(ex->Backward("loss").ok());
  for (size_t k = 0; k < with_hook.size(); ++k) {
    const Tensor& g = ex->parameters()[k].grad;
    for (int64_t i = 0; i < g.num_elements(); ++i) {
      EXPECT_EQ(with_hook[k].f32()[i], g.f32()[i]);
    }
  }
}

TEST(ExecutorHooksTest, GradientReadyOrderMatchesTheReports) {
  auto ex = MakeTestExecutor(kGraph);
  auto order = ex->GradientReadyOrder("loss");
  ASSERT_TRUE(order.ok()) << order.status();
  std::vector<std::string> names;
  std::vector<bool> sparse;
  for (const auto& r : *order) {
    names.push_back(ex->parameters()[r.parameter].name);
    sparse.push_back(r.sparse);
  }
  EXPECT_THAT(names, ::testing::ElementsAre("v", "u", "w", "table", "spare"));
  EXPECT_THAT(sparse, ::testing::ElementsAre(false, false, false, true, false));
  EXPECT_EQ(ex->GradientReadyOrder("nope").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(ExecutorHooksTest, AHookErrorEndsBackwardNamingTheParameter) {
  auto ex = MakeTestExecutor(kGraph);
  int calls = 0;
  ex->set_backward_hook([&](int p) -> absl::Status {
    ++calls;
    if (ex->parameters()[p].name == "u") {
      return absl::UnavailableError("bucket failed");
    }
    return absl::OkStatus();
  });
  const std::vector<std::string> fetches = {"loss"};
  ASSERT_TRUE(ex->Run(Feeds(), fetches, /*training=*/true).ok());
  const absl::Status s = ex->Backward("loss");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(s.message()),
              ::testing::HasSubstr("parameter 'u': bucket failed"));
  EXPECT_EQ(calls, 2);  // v, then u.
}

}  // namespace
}  // namespace loom::testing
