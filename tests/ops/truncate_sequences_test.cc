// TruncateSequences: against a naive reference (each row re-cut by index),
// against the encoding at the shorter length itself (Keras'
// pad_sequences, padding and truncating on the same side), rows already
// short enough, the shape function's open time length, attribute and shape
// errors. The op takes and gives integers: it has no gradient.
#include <cstdint>
#include <string>
#include <vector>

#include "framework/data/text.h"
#include "framework/graph.h"
#include "framework/op.h"
#include "framework/registry.h"
#include "framework/testing/op_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loom::testing {
namespace {

using ::testing::HasSubstr;

OpTestCase TruncateCase(const Tensor& ids, int64_t max_len,
                        const std::string& truncating) {
  OpTestCase test{
      "TruncateSequences",
      {{"max_len", IntValue(max_len)}, {"truncating", StringValue(truncating)}},
      {ids}};
  test.differentiable = {false};
  return test;
}

absl::StatusOr<Tensor> Truncate(const Tensor& ids, int64_t max_len,
                                const std::string& truncating) {
  auto out = RunOp(BuiltinRegistry(), TruncateCase(ids, max_len, truncating));
  if (!out.ok()) return out.status();
  return (*out)[0];
}

TEST(TruncateSequencesTest, MatchesNaiveReference) {
  const int64_t n = 3, t = 7;
  std::vector<int32_t> ids;
  for (int64_t i = 0; i < n * t; ++i)
    ids.push_back(static_cast<int32_t>(i + 1));
  const Tensor in = Tensor::FromVector({n, t}, ids);
  for (const std::string truncating : {"pre", "post"}) {
    for (int64_t max_len : {1, 3, 6}) {
      auto out = Truncate(in, max_len, truncating);
      ASSERT_TRUE(out.ok()) << out.status();
      ASSERT_EQ(out->dtype(), DType::kInt32);
      ASSERT_EQ(out->shape(), (Shape{n, max_len}));
      for (int64_t r = 0; r < n; ++r) {
        for (int64_t s = 0; s < max_len; ++s) {
          const int64_t from = truncating == "pre" ? t - max_len + s : s;
          EXPECT_EQ(out->i32()[r * max_len + s], ids[r * t + from])
              << truncating << ", max_len " << max_len << ", row " << r
              << ", step " << s;
        }
      }
    }
  }
}

TEST(TruncateSequencesTest, RowsAlreadyShortEnoughStayAsTheyAre) {
  const std::vector<int32_t> ids = {0, 0, 4, 5, 1, 2, 3, 9};
  const Tensor in = Tensor::FromVector({2, 4}, ids);
  for (const std::string truncating : {"pre", "post"}) {
    for (int64_t max_len : {4, 5, 500}) {
      auto out = Truncate(in, max_len, truncating);
      ASSERT_TRUE(out.ok()) << out.status();
      ASSERT_EQ(out->shape(), (Shape{2, 4}));
      EXPECT_EQ(std::vector<int32_t>(out->i32(), out->i32() + 8), ids);
    }
  }
}

// The property the ensemble relies on: with padding and truncating on the
// same side, the kept columns of texts encoded at 9 steps are the texts
// encoded at 4.
TEST(TruncateSequencesTest, GivesTheEncodingAtTheShorterLength) {
  const std::vector<std::vector<int32_t>> texts = {
      {1, 5, 6}, {1, 5, 6, 7, 8}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}};
  for (const auto side : {data::Padding::kPre, data::Padding::kPost}) {
    const std::vector<int32_t> long_rows =
        data::PadSequences(texts, 9, side, side);
    const std::vector<int32_t> short_rows =
        data::PadSequences(texts, 4, side, side);
    const int64_t n = static_cast<int64_t>(texts.size());
    auto out = Truncate(Tensor::FromVector({n, 9}, long_rows), 4,
                        side == data::Padding::kPre ? "pre" : "post");
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ(std::vector<int32_t>(out->i32(), out->i32() + n * 4), short_rows)
        << (side == data::Padding::kPre ? "pre" : "post");
  }
}

TEST(TruncateSequencesTest, ShapeKeepsAnOpenTimeLengthOpen) {
  GraphDef def;
  InputDef* in = def.add_input();
  in->set_name("ids");
  in->set_dtype(DT_INT32);
  in->mutable_shape()->add_dim(-1);
  in->mutable_shape()->add_dim(-1);
  InputDef* fixed = def.add_input();
  fixed->set_name("fixed");
  fixed->set_dtype(DT_INT32);
  fixed->mutable_shape()->add_dim(-1);
  fixed->mutable_shape()->add_dim(9);
  for (const std::string input : {"ids", "fixed"}) {
    NodeDef* node = def.add_node();
    node->set_name(input + "_cut");
    node->set_op("TruncateSequences");
    node->add_input(input);
    (*node->mutable_attr())["max_len"] = IntValue(4);
  }
  auto graph = Graph::Build(def, BuiltinRegistry());
  ASSERT_TRUE(graph.ok()) << graph.status();
  const int open = (*graph)->FindValue("ids_cut");
  const int cut = (*graph)->FindValue("fixed_cut");
  ASSERT_GE(open, 0);
  ASSERT_GE(cut, 0);
  EXPECT_EQ((*graph)->values()[open].info.shape, (Shape{-1, -1}));
  EXPECT_EQ((*graph)->values()[cut].info.shape, (Shape{-1, 4}));
}

TEST(TruncateSequencesTest, HasNoGradient) {
  const OpDef* def = BuiltinRegistry().Find("TruncateSequences");
  ASSERT_NE(def, nullptr);
  EXPECT_FALSE(def->differentiable);
}

TEST(TruncateSequencesTest, Errors) {
  const Tensor ids = Tensor::FromVector({1, 3}, std::vector<int32_t>{1, 2, 3});
  for (int64_t max_len : {0, -2}) {
    auto out = Truncate(ids, max_len, "pre");
    ASSERT_FALSE(out.ok());
    EXPECT_THAT(std::string(out.status().message()), HasSubstr("'max_len'"));
  }
  auto side = Truncate(ids, 2, "middle");
  ASSERT_FALSE(side.ok());
  EXPECT_THAT(std::string(side.status().message()), HasSubstr("'truncating'"));
  auto floats = Truncate(
      Tensor::FromVector({1, 2}, std::vector<float>{1.0f, 2.0f}), 1, "pre");
  ASSERT_FALSE(floats.ok());
  EXPECT_THAT(std::string(floats.status().message()), HasSubstr("int32"));
  auto flat = Truncate(Tensor::FromVector({3}, std::vector<int32_t>{1, 2, 3}),
                       1, "pre");
  ASSERT_FALSE(flat.ok());
  EXPECT_THAT(std::string(flat.status().message()), HasSubstr("[N, T]"));
  OpTestCase missing{"TruncateSequences", {}, {ids}};
  missing.differentiable = {false};
  EXPECT_FALSE(RunOp(BuiltinRegistry(), missing).ok());
}

}  // namespace
}  // namespace loom::testing
