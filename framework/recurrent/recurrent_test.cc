// The pieces of framework/recurrent/ that the LSTM and GRU tests reach only
// through whole layers: ValidSteps' positions, the primitive-set cache's
// bound and eviction order, and the arena's growth.
#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "framework/recurrent/arena.h"
#include "framework/recurrent/primitive_set.h"
#include "framework/recurrent/valid_steps.h"
#include "gtest/gtest.h"

namespace loom::recurrent {
namespace {

TEST(ValidStepsTest, WithoutMaskEveryStepInOrder) {
  ValidSteps seq;
  seq.Read(nullptr, 2, 4);
  EXPECT_TRUE(seq.contiguous());
  EXPECT_EQ(seq.max_length(), 4);
  for (int64_t n = 0; n < 2; ++n) {
    EXPECT_EQ(seq.length(n), 4);
    for (int64_t t = 0; t < 4; ++t) {
      EXPECT_TRUE(seq.valid(n, t));
      EXPECT_EQ(seq.Time(0, n, t), t);
      EXPECT_EQ(seq.Time(1, n, t), 3 - t);
      EXPECT_EQ(seq.Position(0, n, t), t);
      EXPECT_EQ(seq.Position(1, n, t), 3 - t);
    }
  }
}

TEST(ValidStepsTest, GappedRowsGatherTheirValidStepsInOrder) {
  // Row 0: steps 1, 2 and 4 valid (a gap at 3); row 1: none; row 2: 0..2.
  const std::vector<float> mask = {0, 1, 1, 0, 1,  //
                                   0, 0, 0, 0, 0,  //
                                   1, 1, 1, 0, 0};
  ValidSteps seq;
  seq.Read(mask.data(), 3, 5);
  EXPECT_FALSE(seq.contiguous());
  EXPECT_EQ(seq.max_length(), 3);
  EXPECT_EQ(seq.length(0), 3);
  EXPECT_EQ(seq.length(1), 0);
  EXPECT_EQ(seq.length(2), 3);
  const std::array<int64_t, 3> forward = {1, 2, 4};
  for (int64_t a = 0; a < 3; ++a) {
    EXPECT_EQ(seq.Time(0, 0, a), forward[a]);
    EXPECT_EQ(seq.Time(1, 0, a), forward[2 - a]);
    EXPECT_EQ(seq.Position(0, 0, forward[a]), a);
    EXPECT_EQ(seq.Position(1, 0, forward[a]), 2 - a);
  }
  for (int64_t t : {0, 3}) {
    EXPECT_FALSE(seq.valid(0, t));
    EXPECT_EQ(seq.Position(0, 0, t), -1);
    EXPECT_EQ(seq.Position(1, 0, t), -1);
  }
  for (int64_t t = 0; t < 5; ++t) EXPECT_EQ(seq.Position(1, 1, t), -1);
  EXPECT_EQ(seq.Time(1, 2, 0), 2);

  // Contiguous (pre- and post-padded) rows.
  const std::vector<float> padded = {0, 0, 1, 1, 1, 1, 0, 0};
  seq.Read(padded.data(), 2, 4);
  EXPECT_TRUE(seq.contiguous());
  EXPECT_EQ(seq.Time(0, 0, 0), 2);
  EXPECT_EQ(seq.Time(1, 1, 0), 1);
}

struct Counted {
  explicit Counted(int id) : id(id) {}
  int id;
};

TEST(PrimitiveSetCacheTest, KeepsTheMostRecentlyUsedSets) {
  PrimitiveSetCache<int, Counted> cache;
  int made = 0;
  auto get = [&](int key) -> Counted* {
    auto set =
        cache.Get(key, [&]() -> absl::StatusOr<std::unique_ptr<Counted>> {
          ++made;
          return std::make_unique<Counted>(key);
        });
    EXPECT_TRUE(set.ok()) << set.status();
    return set.ok() ? *set : nullptr;
  };
  for (int key = 0; key < static_cast<int>(kMaxPrimitiveSets); ++key) {
    EXPECT_EQ(get(key)->id, key);
  }
  EXPECT_EQ(made, static_cast<int>(kMaxPrimitiveSets));
  get(0);  // 1 is now the least recently used.
  EXPECT_EQ(made, static_cast<int>(kMaxPrimitiveSets));
  get(100);
  EXPECT_EQ(cache.size(), kMaxPrimitiveSets);
  const int before = made;
  get(0);
  get(100);
  EXPECT_EQ(made, before);  // Kept.
  get(1);
  EXPECT_EQ(made, before + 1);  // Evicted, made again.

  // A failing make() leaves the cache as it was.
  auto failed = cache.Get(7, []() -> absl::StatusOr<std::unique_ptr<Counted>> {
    return absl::InternalError("no primitive");
  });
  EXPECT_EQ(failed.status().message(), "no primitive");
  EXPECT_EQ(cache.size(), kMaxPrimitiveSets);
}

TEST(ArenaTest, GrowsNeverShrinksAndKeepsContentsUntilItGrows) {
  Arena arena;
  char* small = arena.Reserve(100);
  ASSERT_NE(small, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(small) % kBufferAlignment, 0u);
  small[0] = 42;
  EXPECT_EQ(arena.Reserve(10), small);
  EXPECT_EQ(arena.Reserve(AlignUp(100)), small);
  EXPECT_EQ(small[0], 42);
  char* large = arena.Reserve(1 << 20);
  ASSERT_NE(large, nullptr);
  EXPECT_EQ(arena.Reserve(100), large);

  Arena zeros(/*zeroed=*/true);
  const char* z = zeros.Reserve(256);
  ASSERT_NE(z, nullptr);
  for (int i = 0; i < 256; ++i) ASSERT_EQ(z[i], 0) << i;

  BufferLayout layout;
  EXPECT_EQ(layout.Add(1), 0u);
  EXPECT_EQ(layout.AddFloats(3), kBufferAlignment);
  EXPECT_EQ(layout.size(), 2 * kBufferAlignment);
}

}  // namespace
}  // namespace loom::recurrent
