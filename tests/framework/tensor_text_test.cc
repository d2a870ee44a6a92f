// framework/testing/tensor_text: the --inputs_file format of tools/check_op
// (which --print_outputs prints): parsing, errors that name file and line,
// matching blocks to an op's inputs, and printing that reads back.
#include "framework/testing/tensor_text.h"

#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "framework/op.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loom::testing {
namespace {

using ::testing::HasSubstr;

std::string ErrorOf(absl::string_view text) {
  auto blocks = ParseTensorBlocks(text, "in.txt");
  EXPECT_FALSE(blocks.ok());
  return std::string(blocks.status().message());
}

TEST(TensorTextTest, ParsesTheDocumentedExample) {
  const char* text =
      "# A comment runs from '#' to the end of the line; blank lines are\n"
      "# ignored.\n"
      "x: float32 [2, 3]\n"
      "  0.5 -1 2.25\n"
      "  3 4e-3 nan\n"
      "\n"
      "ids: int32 [4] 0 3 1 9\n"
      "mask: none   # left out\n";
  auto blocks = ParseTensorBlocks(text, "in.txt");
  ASSERT_TRUE(blocks.ok()) << blocks.status();
  ASSERT_EQ(blocks->size(), 3u);

  const TensorBlock& x = (*blocks)[0];
  EXPECT_EQ(x.name, "x");
  EXPECT_EQ(x.line, 3);
  ASSERT_TRUE(x.value.has_value());
  EXPECT_EQ(x.value->dtype(), DType::kFloat32);
  EXPECT_EQ(x.value->shape(), (Shape{2, 3}));
  EXPECT_EQ(x.value->f32()[0], 0.5f);
  EXPECT_EQ(x.value->f32()[1], -1.0f);
  EXPECT_EQ(x.value->f32()[4], 4e-3f);
  EXPECT_TRUE(std::isnan(x.value->f32()[5]));

  const TensorBlock& ids = (*blocks)[1];
  EXPECT_EQ(ids.name, "ids");
  EXPECT_EQ(ids.line, 7);
  ASSERT_TRUE(ids.value.has_value());
  EXPECT_EQ(ids.value->dtype(), DType::kInt32);
  EXPECT_EQ(ids.value->shape(), (Shape{4}));
  EXPECT_EQ(ids.value->i32()[3], 9);

  EXPECT_EQ((*blocks)[2].name, "mask");
  EXPECT_EQ((*blocks)[2].line, 8);
  EXPECT_FALSE((*blocks)[2].value.has_value());
}

TEST(TensorTextTest, CommasScalarsAndInfinities) {
  auto blocks = ParseTensorBlocks(
      "s: float32 []\n 7\nv: float32 [3] inf,-inf, 1e-8\r\n", "f");
  ASSERT_TRUE(blocks.ok()) << blocks.status();
  ASSERT_EQ(blocks->size(), 2u);
  EXPECT_EQ((*blocks)[0].value->shape(), Shape{});
  EXPECT_EQ((*blocks)[0].value->f32()[0], 7.0f);
  EXPECT_EQ((*blocks)[1].value->f32()[0],
            std::numeric_limits<float>::infinity());
  EXPECT_EQ((*blocks)[1].value->f32()[1],
            -std::numeric_limits<float>::infinity());
  EXPECT_EQ((*blocks)[1].value->f32()[2], 1e-8f);
  auto empty = ParseTensorBlocks("# nothing\n\n", "f");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(TensorTextTest, ErrorsNameFileAndLine) {
  EXPECT_EQ(ErrorOf("x: float32 [2]\n1 2 3\n"),
            "in.txt:2: too many values: 'x' (float32 [2]) takes 2");
  EXPECT_EQ(ErrorOf("x: float32 [2, 2]\n1 2\n3\ny: int32 [1] 0\n"),
            "in.txt:1: 'x' (float32 [2, 2]) takes 4 value(s), but 3 come "
            "before line 4");
  EXPECT_EQ(ErrorOf("# c\nx: float32 [3]\n1 2\n"),
            "in.txt:2: 'x' (float32 [3]) takes 3 value(s), but 2 come "
            "before the end of the file");
  EXPECT_EQ(ErrorOf("x: float32 [2]\n1 abc\n"),
            "in.txt:2: 'abc' is not a float32 value, for 'x' (float32 [2])");
  EXPECT_EQ(ErrorOf("\n\nids: int32 [2] 1 2.5\n"),
            "in.txt:3: '2.5' is not an int32 value, for 'ids' (int32 [2])");
  EXPECT_THAT(ErrorOf("x: float64 [2]\n"),
              HasSubstr("in.txt:1: 'x': unknown dtype 'float64' (float32 or "
                        "int32"));
  EXPECT_THAT(ErrorOf("x: float32 2,3\n"),
              HasSubstr("in.txt:1: 'x': the shape must follow the dtype in "
                        "brackets"));
  EXPECT_THAT(ErrorOf("x: float32 [2, -1]\n"),
              HasSubstr("in.txt:1: 'x': '-1' is not a dimension"));
  EXPECT_THAT(ErrorOf("1 2 3\n"),
              HasSubstr("in.txt:1: values before the first header line"));
  EXPECT_THAT(ErrorOf("mask: none\n1\n"),
              HasSubstr("in.txt:2: 'mask' is 'none' (left out): it takes no "
                        "values"));
  EXPECT_THAT(ErrorOf(": float32 [1] 1\n"),
              HasSubstr("in.txt:1: a header line is NAME: DTYPE [SHAPE]"));
  EXPECT_THAT(ErrorOf("my x: float32 [1] 1\n"),
              HasSubstr("in.txt:1: name 'my x' has a space"));
  EXPECT_THAT(ErrorOf("x: float32 [100000, 100000]\n"),
              HasSubstr("in.txt:1: 'x': more than 16777216 elements"));
}

TEST(TensorTextTest, MissingFileIsAnError) {
  auto blocks = ReadTensorBlocks("/nonexistent/inputs.txt");
  ASSERT_FALSE(blocks.ok());
  EXPECT_THAT(blocks.status().message(),
              HasSubstr("cannot open /nonexistent/inputs.txt"));
}

OpSignature DenseLike() {
  OpSignature sig;
  sig.name = "Op";
  sig.inputs = {{"x"}, {"kernel"}, {"bias", "", /*optional=*/true}};
  sig.outputs = {{"y"}};
  return sig;
}

std::vector<TensorBlock> Blocks(absl::string_view text) {
  auto blocks = ParseTensorBlocks(text, "in.txt");
  EXPECT_TRUE(blocks.ok()) << blocks.status();
  return blocks.ok() ? *blocks : std::vector<TensorBlock>{};
}

TEST(TensorTextTest, InputsFromBlocks) {
  const OpSignature sig = DenseLike();
  auto inputs = InputsFromBlocks(
      sig, Blocks("x: float32 [1, 2] 1 2\nkernel: float32 [2, 1] 3 4\n"),
      "in.txt");
  ASSERT_TRUE(inputs.ok()) << inputs.status();
  ASSERT_EQ(inputs->size(), 2u);
  EXPECT_EQ((*inputs)[1]->f32()[1], 4.0f);

  inputs = InputsFromBlocks(sig,
                            Blocks("x: float32 [1] 1\nkernel: float32 [1] "
                                   "3\nbias: none\n"),
                            "in.txt");
  ASSERT_TRUE(inputs.ok()) << inputs.status();
  ASSERT_EQ(inputs->size(), 3u);
  EXPECT_FALSE((*inputs)[2].has_value());

  auto error = [&](absl::string_view text) {
    auto r = InputsFromBlocks(sig, Blocks(text), "in.txt");
    EXPECT_FALSE(r.ok());
    return std::string(r.status().message());
  };
  EXPECT_EQ(error("kernel: float32 [1] 1\nx: float32 [1] 1\n"),
            "in.txt:1: input 0 of Op is 'x', not 'kernel' (the file gives "
            "the inputs in order: x, kernel, bias?)");
  EXPECT_EQ(error("x: float32 [1] 1\n"),
            "in.txt: op Op takes at least 2 input(s) (x, kernel, bias?), but "
            "the file gives 1");
  EXPECT_EQ(error("x: float32 [1] 1\nkernel: none\n"),
            "in.txt:2: input 'kernel' of Op is required; only optional "
            "inputs may be 'none'");
  EXPECT_EQ(error("x: float32 [1] 1\nkernel: float32 [1] 1\nbias: float32 "
                  "[1] 1\nmore: float32 [1] 1\n"),
            "in.txt:4: op Op takes at most 3 input(s) (x, kernel, bias?), "
            "and this is input 3, counted from 0");
}

TEST(TensorTextTest, VariadicInputsAreNumbered) {
  OpSignature sig;
  sig.name = "Concat";
  ArgSpec values{"values"};
  values.variadic = true;
  values.min_count = 2;
  sig.inputs = {values};
  auto inputs = InputsFromBlocks(
      sig, Blocks("values_0: float32 [1] 1\nvalues_1: float32 [1] 2\n"),
      "in.txt");
  ASSERT_TRUE(inputs.ok()) << inputs.status();
  EXPECT_EQ(inputs->size(), 2u);
  auto bad =
      InputsFromBlocks(sig, Blocks("values_0: float32 [1] 1\n"), "in.txt");
  EXPECT_THAT(bad.status().message(),
              HasSubstr("op Concat takes 2 or more input(s) (values...)"));
}

TEST(TensorTextTest, FloatTextIsShortestRoundTrip) {
  EXPECT_EQ(FloatText(0.1f), "0.1");
  EXPECT_EQ(FloatText(-3.0f), "-3");
  EXPECT_EQ(FloatText(1e-8f), "1e-08");
  EXPECT_EQ(FloatText(std::numeric_limits<float>::quiet_NaN()), "nan");
  EXPECT_EQ(FloatText(-std::numeric_limits<float>::infinity()), "-inf");
}

TEST(TensorTextTest, FormatReadsBack) {
  const Tensor x = Tensor::FromVector(
      {2, 3}, std::vector<float>{0.1f, -2.5f, 1.0f / 3.0f, 1e20f, 0, -1e-7f});
  const Tensor ids = Tensor::FromVector({3}, std::vector<int32_t>{4, -1, 7});
  const std::string text =
      FormatTensorBlock("x", x) + FormatTensorBlock("ids", ids) +
      FormatTensorBlock("s", Tensor::Scalar(2.0f)) + FormatMissingBlock("mask");
  EXPECT_EQ(text,
            "x: float32 [2, 3]\n"
            "  0.1 -2.5 0.33333334\n"
            "  1e+20 0 -1e-07\n"
            "ids: int32 [3]\n"
            "  4 -1 7\n"
            "s: float32 []\n"
            "  2\n"
            "mask: none\n");
  auto blocks = ParseTensorBlocks(text, "printed");
  ASSERT_TRUE(blocks.ok()) << blocks.status();
  ASSERT_EQ(blocks->size(), 4u);
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ((*blocks)[0].value->f32()[i], x.f32()[i]) << i;  // Exactly.
  }
  EXPECT_EQ((*blocks)[1].value->i32()[1], -1);
  EXPECT_EQ((*blocks)[2].value->f32()[0], 2.0f);
  EXPECT_FALSE((*blocks)[3].value.has_value());
}

}  // namespace
}  // namespace loom::testing
