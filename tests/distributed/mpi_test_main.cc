#include "tests/distributed/mpi_test_main.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "gtest/gtest.h"

namespace loom::distributed {

int RunTestsOnEveryRank(const char* name, int argc, char** argv,
                        Communicator** comm) {
  const char* rank = std::getenv("OMPI_COMM_WORLD_RANK");
  if (rank != nullptr && std::string(rank) != "0") {
    GTEST_FLAG_SET(brief, true);
  }
  ::testing::InitGoogleTest(&argc, argv);
  auto created = Communicator::Create();
  if (!created.ok()) {
    std::fprintf(stderr, "%s: %s\n", name,
                 std::string(created.status().message()).c_str());
    return 1;
  }
  std::unique_ptr<Communicator> owner = std::move(*created);
  *comm = owner.get();
  const int failed = RUN_ALL_TESTS();
  // Every rank's result: the job fails if any rank's tests failed.
  std::vector<int64_t> any = {failed};
  if (!owner->AllreduceMax(absl::MakeSpan(any), "the test results").ok()) {
    return 1;
  }
  if (any[0] != 0 && failed == 0 && owner->is_root()) {
    std::fprintf(stderr, "%s: tests failed on another rank\n", name);
  }
  *comm = nullptr;
  return any[0] != 0 ? 1 : 0;
}

}  // namespace loom::distributed
