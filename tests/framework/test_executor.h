// Executors for the framework tests: the built-in ops plus the test ops,
// and a graph written as model-file text made runnable.
#ifndef LOOM_TESTS_FRAMEWORK_TEST_EXECUTOR_H_
#define LOOM_TESTS_FRAMEWORK_TEST_EXECUTOR_H_

#include <cstdint>
#include <memory>
#include <string>

#include "framework/executor.h"
#include "framework/registry.h"

namespace loom::testing {

// How many times a CountingIdentity node of TestRegistry()'s ran its
// backward; tests reset it.
int& TestBackwardCalls();

// The built-in ops and CountingIdentity (counting into TestBackwardCalls()).
const OpRegistry& TestRegistry();

// An executor for `graph_text` (the inside of a model file's graph { }),
// its parameters initialized from `seed`; a failure is a test failure.
std::unique_ptr<Executor> MakeTestExecutor(const std::string& graph_text,
                                           uint64_t seed = 3);

}  // namespace loom::testing

#endif  // LOOM_TESTS_FRAMEWORK_TEST_EXECUTOR_H_
