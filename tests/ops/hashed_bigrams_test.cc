// HashedBigrams: against a naive reference (the pair's 64-bit mix, written
// out again here), the padding rules, the range of ids, independence from
// the padding around a row, attribute and shape errors. The op takes and
// gives integers: it has no gradient.
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "framework/op.h"
#include "framework/registry.h"
#include "framework/testing/op_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loom::testing {
namespace {

using ::testing::HasSubstr;

// SplitMix64's finalizer, as the op documents it.
uint64_t ReferenceMix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

int32_t ReferenceBigram(int32_t a, int32_t b, int64_t buckets) {
  if (a == 0 || b == 0) return 0;
  const uint64_t pair =
      (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) |
      static_cast<uint32_t>(b);
  return static_cast<int32_t>(1 + ReferenceMix(pair) % buckets);
}

OpTestCase BigramCase(const Tensor& ids, int64_t buckets) {
  OpTestCase test{"HashedBigrams", {{"buckets", IntValue(buckets)}}, {ids}};
  test.differentiable = {false};
  return test;
}

std::vector<int32_t> Bigrams(const Tensor& ids, int64_t buckets) {
  auto out = RunOp(BuiltinRegistry(), BigramCase(ids, buckets));
  EXPECT_TRUE(out.ok()) << out.status();
  if (!out.ok()) return {};
  EXPECT_EQ((*out)[0].dtype(), DType::kInt32);
  EXPECT_EQ((*out)[0].shape(), ids.shape());
  const int32_t* p = (*out)[0].i32();
  return std::vector<int32_t>(p, p + (*out)[0].num_elements());
}

TEST(HashedBigramsTest, MatchesNaiveReference) {
  // Two rows: pre-padded, and one with padding inside and at the end.
  const std::vector<int32_t> ids = {0, 0, 1, 5, 9, 5,  //
                                    1, 7, 0, 7, 3, 0};
  const Tensor t = Tensor::FromVector({2, 6}, ids);
  for (int64_t buckets :
       {int64_t{1}, int64_t{7}, int64_t{1000}, int64_t{1} << 20}) {
    const std::vector<int32_t> got = Bigrams(t, buckets);
    ASSERT_EQ(got.size(), ids.size());
    for (int r = 0; r < 2; ++r) {
      for (int s = 0; s < 6; ++s) {
        const int32_t want = s == 0 ? 0
                                    : ReferenceBigram(ids[r * 6 + s - 1],
                                                      ids[r * 6 + s], buckets);
        EXPECT_EQ(got[r * 6 + s], want)
            << "row " << r << ", step " << s << ", buckets " << buckets;
      }
    }
  }
  // Spelled out where padding decides: zeros at the first step, after and
  // at padding.
  const std::vector<int32_t> got = Bigrams(t, 1000);
  EXPECT_EQ(got[0], 0);
  EXPECT_EQ(got[1], 0);
  EXPECT_EQ(got[2], 0);  // (0, 1): the padding before the start id.
  EXPECT_GT(got[3], 0);  // (1, 5)
  EXPECT_EQ(got[6], 0);  // The first step has no pair.
  EXPECT_EQ(got[8], 0);
  EXPECT_EQ(got[9], 0);  // (0, 7)
  EXPECT_EQ(got[11], 0);
  // (5, 9) and (9, 5) are different pairs, (7, 3)'s id is that of (7, 3)
  // wherever it is.
  EXPECT_NE(got[4], got[5]);
  EXPECT_EQ(
      got[10],
      Bigrams(Tensor::FromVector({1, 2}, std::vector<int32_t>{7, 3}), 1000)[1]);
}

TEST(HashedBigramsTest, IdsCoverTheBucketsAndStayInRange) {
  std::vector<int32_t> ids;
  for (int32_t i = 1; i <= 4001; ++i) ids.push_back(i);
  const Tensor t =
      Tensor::FromVector({1, static_cast<int64_t>(ids.size())}, ids);
  const std::vector<int32_t> got = Bigrams(t, 50);
  std::set<int32_t> seen(got.begin() + 1, got.end());
  EXPECT_EQ(*seen.begin(), 1);
  EXPECT_EQ(*seen.rbegin(), 50);
  EXPECT_EQ(seen.size(), 50u);  // 4,000 pairs reach every bucket.
  // A single bucket: every pair is id 1.
  const std::vector<int32_t> one = Bigrams(t, 1);
  EXPECT_EQ(std::set<int32_t>(one.begin() + 1, one.end()),
            std::set<int32_t>{1});
}

// A row's bigram ids do not depend on the padding around it, so the
// trimmed or bucketed batches of length trimming give the same ids.
TEST(HashedBigramsTest, PaddingAroundARowChangesNothing) {
  const std::vector<int32_t> row = {1, 12, 40, 12, 7};
  const std::vector<int32_t> bare =
      Bigrams(Tensor::FromVector({1, 5}, row), 997);
  std::vector<int32_t> pre = {0, 0, 0};
  pre.insert(pre.end(), row.begin(), row.end());
  const std::vector<int32_t> got_pre =
      Bigrams(Tensor::FromVector({1, 8}, pre), 997);
  EXPECT_EQ(std::vector<int32_t>(got_pre.begin() + 3, got_pre.end()), bare);
  std::vector<int32_t> post = row;
  post.insert(post.end(), {0, 0});
  const std::vector<int32_t> got_post =
      Bigrams(Tensor::FromVector({1, 7}, post), 997);
  EXPECT_EQ(std::vector<int32_t>(got_post.begin(), got_post.begin() + 5), bare);
  EXPECT_EQ(got_post[5], 0);
  EXPECT_EQ(got_post[6], 0);
}

TEST(HashedBigramsTest, HasNoGradient) {
  const OpDef* def = BuiltinRegistry().Find("HashedBigrams");
  ASSERT_NE(def, nullptr);
  EXPECT_FALSE(def->differentiable);
}

TEST(HashedBigramsTest, Errors) {
  const Tensor ids = Tensor::FromVector({1, 3}, std::vector<int32_t>{1, 2, 3});
  for (int64_t buckets : {int64_t{0}, int64_t{-4}, (int64_t{1} << 30) + 1}) {
    auto out = RunOp(BuiltinRegistry(), BigramCase(ids, buckets));
    ASSERT_FALSE(out.ok());
    EXPECT_THAT(std::string(out.status().message()), HasSubstr("'buckets'"));
  }
  auto floats = RunOp(
      BuiltinRegistry(),
      BigramCase(Tensor::FromVector({1, 2}, std::vector<float>{1.0f, 2.0f}),
                 10));
  ASSERT_FALSE(floats.ok());
  EXPECT_THAT(std::string(floats.status().message()), HasSubstr("int32"));
  auto flat = RunOp(
      BuiltinRegistry(),
      BigramCase(Tensor::FromVector({3}, std::vector<int32_t>{1, 2, 3}), 10));
  ASSERT_FALSE(flat.ok());
  EXPECT_THAT(std::string(flat.status().message()), HasSubstr("[N, T]"));
  OpTestCase missing{"HashedBigrams", {}, {ids}};
  missing.differentiable = {false};
  EXPECT_FALSE(RunOp(BuiltinRegistry(), missing).ok());
}

}  // namespace
}  // namespace loom::testing
