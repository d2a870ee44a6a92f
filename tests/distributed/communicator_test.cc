// The communicator under mpirun (run_mpi_tests.sh starts it with 2 and 3
// ranks) and alone (a group of one without MPI). Every rank runs every
// test, so each collective is matched on all ranks.
#include "framework/distributed/communicator.h"

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/distributed/mpi_test_main.h"

namespace loom::distributed {
namespace {

using ::testing::HasSubstr;

Communicator* comm = nullptr;

TEST(CommunicatorTest, GroupMatchesTheLauncher) {
  const char* size = std::getenv("OMPI_COMM_WORLD_SIZE");
  if (size == nullptr) {
    EXPECT_FALSE(LaunchedUnderMpi());
    EXPECT_FALSE(comm->uses_mpi());
    EXPECT_EQ(comm->size(), 1);
    EXPECT_EQ(comm->rank(), 0);
  } else {
    EXPECT_TRUE(comm->uses_mpi());
    EXPECT_EQ(comm->size(), std::atoi(size));
    EXPECT_EQ(comm->rank(), std::atoi(std::getenv("OMPI_COMM_WORLD_RANK")));
  }
  EXPECT_EQ(comm->Where(), "rank " + std::to_string(comm->rank()) + " of " +
                               std::to_string(comm->size()));
}

// Several non-blocking allreduces in flight at once, completed by Test
// polls or Wait, each the same sum as the blocking AllreduceSum.
TEST(CommunicatorTest, NonBlockingAllreducesInFlightTogether) {
  const int n = comm->size();
  std::vector<std::vector<float>> data(3);
  std::vector<Communicator::PendingAllreduce> pending(3);
  for (int k = 0; k < 3; ++k) {
    data[k].assign(1000 * (k + 1), 0.25f * (comm->rank() + 1) + k);
    ASSERT_TRUE(comm->StartAllreduceSum(absl::MakeSpan(data[k]),
                                        "buffer " + std::to_string(k),
                                        &pending[k])
                    .ok());
    EXPECT_EQ(pending[k].active(), n > 1);
  }
  // A started request cannot be reused before it is done.
  if (n > 1) {
    std::vector<float> other(4, 1.0f);
    const absl::Status busy =
        comm->StartAllreduceSum(absl::MakeSpan(other), "other", &pending[0]);
    EXPECT_EQ(busy.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(std::string(busy.message()), HasSubstr("buffer 0"));
  }
  // The first by polling, the others by waiting.
  for (int polls = 0;; ++polls) {
    auto done = comm->TestAllreduce(&pending[0]);
    ASSERT_TRUE(done.ok()) << done.status();
    if (*done) break;
    ASSERT_LT(polls, 100000000);
  }
  EXPECT_FALSE(pending[0].active());
  ASSERT_TRUE(comm->WaitAllreduce(&pending[2]).ok());
  ASSERT_TRUE(comm->WaitAllreduce(&pending[1]).ok());
  ASSERT_TRUE(comm->WaitAllreduce(&pending[1]).ok());  // Done: a no-op.
  for (int k = 0; k < 3; ++k) {
    std::vector<float> blocking(data[k].size(), 0.25f * (comm->rank() + 1) + k);
    ASSERT_TRUE(comm->AllreduceSum(absl::MakeSpan(blocking), "blocking").ok());
    EXPECT_EQ(data[k], blocking) << "buffer " << k;
    EXPECT_EQ(data[k][0], 0.25f * n * (n + 1) / 2 + n * k);
  }
}

TEST(CommunicatorTest, AllreduceSums) {
  const int n = comm->size();
  std::vector<float> f = {static_cast<float>(comm->rank() + 1), 0.5f};
  ASSERT_TRUE(comm->AllreduceSum(absl::MakeSpan(f), "floats").ok());
  EXPECT_EQ(f[0], n * (n + 1) / 2.0f);
  EXPECT_EQ(f[1], 0.5f * n);
  std::vector<double> d = {1e-300 * (comm->rank() + 1)};
  ASSERT_TRUE(comm->AllreduceSum(absl::MakeSpan(d), "doubles").ok());
  EXPECT_DOUBLE_EQ(d[0], 1e-300 * n * (n + 1) / 2);
  std::vector<int64_t> i = {int64_t{1} << 40, comm->rank()};
  ASSERT_TRUE(comm->AllreduceSum(absl::MakeSpan(i), "ints").ok());
  EXPECT_EQ(i[0], n * (int64_t{1} << 40));
  EXPECT_EQ(i[1], n * (n - 1) / 2);
  std::vector<int64_t> m = {comm->rank()};
  ASSERT_TRUE(comm->AllreduceMax(absl::MakeSpan(m), "max").ok());
  EXPECT_EQ(m[0], n - 1);
  // A large buffer (4 MiB) in one call.
  std::vector<float> big(1 << 20, 1.0f);
  ASSERT_TRUE(comm->AllreduceSum(absl::MakeSpan(big), "big").ok());
  EXPECT_EQ(big.front(), static_cast<float>(n));
  EXPECT_EQ(big.back(), static_cast<float>(n));
}

TEST(CommunicatorTest, BroadcastsFromAnyRoot) {
  for (int root = 0; root < comm->size(); ++root) {
    std::string s =
        comm->rank() == root ? std::string(100000 + root, 'a' + root) : "other";
    ASSERT_TRUE(comm->Broadcast(&s, root, "a string").ok());
    EXPECT_EQ(s, std::string(100000 + root, 'a' + root));
    std::vector<float> f = {comm->rank() == root ? 3.5f : -1.0f};
    ASSERT_TRUE(comm->Broadcast(absl::MakeSpan(f), root, "floats").ok());
    EXPECT_EQ(f[0], 3.5f);
  }
  std::string empty = comm->is_root() ? "" : "not empty";
  ASSERT_TRUE(comm->Broadcast(&empty, 0, "nothing").ok());
  EXPECT_EQ(empty, "");
  std::string s;
  absl::Status bad = comm->Broadcast(&s, comm->size(), "a string");
  if (comm->uses_mpi()) {
    EXPECT_THAT(bad.message(), HasSubstr("from rank"));
  }
}

TEST(CommunicatorTest, AllgathervKeepsRankOrder) {
  // Rank r sends r values, each r (rank 0 sends none).
  std::vector<int32_t> mine(comm->rank(), comm->rank());
  std::vector<int32_t> all;
  std::vector<int> counts;
  ASSERT_TRUE(
      comm->Allgatherv(absl::MakeConstSpan(mine), &all, &counts, "ints").ok());
  std::vector<int32_t> want;
  for (int r = 0; r < comm->size(); ++r) {
    EXPECT_EQ(counts[r], r);
    want.insert(want.end(), r, r);
  }
  EXPECT_EQ(all, want);
  auto bytes =
      comm->AllgatherBytes(std::string(comm->rank() * 3 + 1, 'x'), "strings");
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  ASSERT_EQ(bytes->size(), static_cast<size_t>(comm->size()));
  for (int r = 0; r < comm->size(); ++r) {
    EXPECT_EQ((*bytes)[r], std::string(r * 3 + 1, 'x'));
  }
}

TEST(CommunicatorTest, SendsToRankZeroInOrder) {
  if (comm->size() == 1) GTEST_SKIP() << "needs mpirun";
  if (comm->is_root()) {
    for (int r = 1; r < comm->size(); ++r) {
      for (int k = 0; k < 3; ++k) {
        auto got = comm->Receive(r, 7, "a message");
        ASSERT_TRUE(got.ok()) << got.status();
        EXPECT_EQ(*got, "from " + std::to_string(r) + " #" + std::to_string(k));
      }
    }
  } else {
    for (int k = 0; k < 3; ++k) {
      ASSERT_TRUE(comm->Send("from " + std::to_string(comm->rank()) + " #" +
                                 std::to_string(k),
                             0, 7, "a message")
                      .ok());
    }
  }
  ASSERT_TRUE(comm->Barrier("the end of the test").ok());
}

TEST(CommunicatorTest, AgreementCheckNamesTheRankThatDiffers) {
  EXPECT_TRUE(comm->CheckSameOnAllRanks("the same model", "the model").ok());
  const std::string mine = comm->rank() == 1 ? "another file" : "the file";
  absl::Status s = comm->CheckSameOnAllRanks(mine, "the model file");
  if (comm->size() == 1) {
    EXPECT_TRUE(s.ok());
  } else {
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(s.message(), HasSubstr("disagree on the model file"));
    EXPECT_THAT(s.message(), HasSubstr("rank 1 (hash"));
    EXPECT_THAT(s.message(), ::testing::Not(HasSubstr("rank 2 (hash")));
  }
}

TEST(CommunicatorTest, StatsCountCalls) {
  comm->ResetStats();
  std::vector<float> f(10, 1.0f);
  ASSERT_TRUE(comm->AllreduceSum(absl::MakeSpan(f), "floats").ok());
  if (comm->size() > 1) {
    EXPECT_EQ(comm->stats().calls, 1);
    EXPECT_EQ(comm->stats().bytes, 40);
    EXPECT_GT(comm->stats().seconds, 0);
  } else {
    EXPECT_EQ(comm->stats().calls, 0);  // Nothing to exchange.
  }
}

TEST(CommunicatorTest, StableHashIsFnv1a) {
  EXPECT_EQ(StableHash(absl::string_view("")), 14695981039346656037ull);
  EXPECT_EQ(StableHash(absl::string_view("a")), 0xaf63dc4c8601ec8cull);
  EXPECT_NE(StableHash(absl::string_view("ab")),
            StableHash(absl::string_view("ba")));
}

TEST(CommunicatorTest, SingleNeverUsesMpi) {
  auto single = Communicator::Single();
  EXPECT_EQ(single->size(), 1);
  EXPECT_FALSE(single->uses_mpi());
  std::vector<float> f = {2.0f};
  ASSERT_TRUE(single->AllreduceSum(absl::MakeSpan(f), "floats").ok());
  EXPECT_EQ(f[0], 2.0f);
}

TEST(CommunicatorTest, OnlyOneMpiCommunicator) {
  auto second = Communicator::Create();
  if (comm->uses_mpi()) {
    EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  } else {
    EXPECT_TRUE(second.ok());
  }
}

}  // namespace
}  // namespace loom::distributed

int main(int argc, char** argv) {
  return loom::distributed::RunTestsOnEveryRank("communicator_test", argc, argv,
                                                &loom::distributed::comm);
}
