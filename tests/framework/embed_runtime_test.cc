// The README's "Embed the runtime" example, compiled and run, so the page
// stays true.
#include <vector>

#include "framework/executor.h"
#include "framework/model_io.h"
#include "gtest/gtest.h"
#include "ops/op_library.h"

namespace loom {
namespace {

TEST(EmbedRuntimeTest, ReadmeExampleRuns) {
  // As in README.md:
  loom::OpRegistry registry;
  absl::Status s = loom::RegisterBuiltinOps(&registry);
  ASSERT_TRUE(s.ok()) << s;
  auto file = loom::ReadModelFile("models/bilstm.pbtxt");
  ASSERT_TRUE(file.ok()) << file.status();
  auto graph =
      loom::Graph::Build(file->model.graph(), registry, file->source);
  ASSERT_TRUE(graph.ok()) << graph.status();
  auto exec = loom::Executor::Create(std::move(*graph), /*seed=*/1);
  ASSERT_TRUE(exec.ok()) << exec.status();
  ASSERT_TRUE((*exec)->InitializeParameters().ok());
  // Two reviews of 100 token ids each (pre-padded with zeros).
  std::vector<int32_t> values(2 * 100, 0);
  for (int t = 90; t < 100; ++t) values[t] = values[100 + t] = t;
  loom::Tensor ids = loom::Tensor::FromVector({2, 100}, values);
  s = (*exec)->Run({{"tokens", ids}}, {"probability"}, /*training=*/false);
  ASSERT_TRUE(s.ok()) << s;
  const loom::Tensor* p = *(*exec)->Fetch("probability");

  ASSERT_EQ(p->shape(), (Shape{2, 1}));
  // Same input, same output; an untrained model is near 0.5.
  EXPECT_EQ(p->f32()[0], p->f32()[1]);
  EXPECT_GT(p->f32()[0], 0.3f);
  EXPECT_LT(p->f32()[0], 0.7f);
}

}  // namespace
}  // namespace loom
