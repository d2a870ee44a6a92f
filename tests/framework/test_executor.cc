#include "tests/framework/test_executor.h"

#include <cstdlib>
#include <memory>
#include <string>
#include <utility>

#include "framework/graph.h"
#include "framework/model_io.h"
#include "gtest/gtest.h"
#include "ops/op_library.h"
#include "tests/framework/test_ops.h"

namespace loom::testing {

int& TestBackwardCalls() {
  static int calls = 0;
  return calls;
}

const OpRegistry& TestRegistry() {
  static OpRegistry* registry = [] {
    auto* r = new OpRegistry();
    if (!RegisterBuiltinOps(r).ok() ||
        !r->Register(CountingIdentityOp(&TestBackwardCalls())).ok()) {
      std::abort();
    }
    return r;
  }();
  return *registry;
}

std::unique_ptr<Executor> MakeTestExecutor(const std::string& graph_text,
                                           uint64_t seed) {
  auto file = ParseModelText("graph {" + graph_text + "}", "test.pbtxt");
  EXPECT_TRUE(file.ok()) << file.status();
  if (!file.ok()) return nullptr;
  auto graph = Graph::Build(file->model.graph(), TestRegistry(), file->source);
  EXPECT_TRUE(graph.ok()) << graph.status();
  if (!graph.ok()) return nullptr;
  auto ex =
      Executor::Create(std::shared_ptr<const Graph>(*std::move(graph)), seed);
  EXPECT_TRUE(ex.ok()) << ex.status();
  if (!ex.ok()) return nullptr;
  EXPECT_TRUE((*ex)->InitializeParameters().ok());
  return *std::move(ex);
}

}  // namespace loom::testing
