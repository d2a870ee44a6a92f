#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "framework/op.h"
#include "framework/registry.h"
#include "framework/status_macros.h"
#include "framework/testing/op_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loom::testing {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

// The reference: for every element of the output, its multi-index, then
// the input and position along the axis it comes from, then that input's
// flat index. No chunks, no offsets shared with the op.
Tensor ReferenceConcat(const std::vector<Tensor>& xs, int axis) {
  Shape shape = xs[0].shape();
  const int rank = static_cast<int>(shape.size());
  if (axis < 0) axis += rank;
  shape[axis] = 0;
  for (const Tensor& x : xs) shape[axis] += x.dim(axis);
  Tensor y(DType::kFloat32, shape);
  std::vector<int64_t> index(rank);
  for (int64_t flat = 0; flat < y.num_elements(); ++flat) {
    int64_t rest = flat;
    for (int d = rank - 1; d >= 0; --d) {
      index[d] = rest % shape[d];
      rest /= shape[d];
    }
    size_t src = 0;
    int64_t pos = index[axis];
    while (pos >= xs[src].dim(axis)) {
      pos -= xs[src].dim(axis);
      ++src;
    }
    std::vector<int64_t> x_index = index;
    x_index[axis] = pos;
    int64_t x_flat = 0;
    for (int d = 0; d < rank; ++d)
      x_flat = x_flat * xs[src].dim(d) + x_index[d];
    y.f32()[flat] = xs[src].f32()[x_flat];
  }
  return y;
}

OpTestCase ConcatCase(const std::vector<Tensor>& xs,
                      std::optional<int64_t> axis) {
  OpTestCase test{"Concatenate", {}, {}};
  if (axis.has_value()) test.attrs["axis"] = IntValue(*axis);
  for (const Tensor& x : xs) test.inputs.push_back(x);
  return test;
}

std::vector<Tensor> RandomInputs(const std::vector<Shape>& shapes,
                                 uint64_t seed) {
  std::vector<Tensor> xs;
  for (const Shape& s : shapes) xs.push_back(RandomTensor(s, seed++));
  return xs;
}

void ExpectMatchesReference(const std::vector<Shape>& shapes, int axis,
                            bool axis_attr = true) {
  SCOPED_TRACE(::testing::Message()
               << "axis " << axis << ", " << shapes.size() << " inputs, first "
               << ShapeToString(shapes[0]));
  const std::vector<Tensor> xs = RandomInputs(shapes, 11);
  auto out = RunOp(
      BuiltinRegistry(),
      ConcatCase(xs, axis_attr ? std::optional<int64_t>(axis) : std::nullopt));
  ASSERT_TRUE(out.ok()) << out.status();
  const Tensor& y = (*out)[0];
  const Tensor expected = ReferenceConcat(xs, axis);
  ASSERT_EQ(y.shape(), expected.shape());
  for (int64_t i = 0; i < y.num_elements(); ++i) {
    ASSERT_EQ(y.f32()[i], expected.f32()[i]) << "element " << i;
  }
}

TEST(ConcatenateTest, HandComputedLastAxis) {
  // [[1, 2], [3, 4]] and [[5], [6]] -> [[1, 2, 5], [3, 4, 6]].
  Tensor a = Tensor::FromVector({2, 2}, std::vector<float>{1, 2, 3, 4});
  Tensor b = Tensor::FromVector({2, 1}, std::vector<float>{5, 6});
  auto out = RunOp(BuiltinRegistry(), ConcatCase({a, b}, std::nullopt));
  ASSERT_TRUE(out.ok()) << out.status();
  const Tensor& y = (*out)[0];
  ASSERT_EQ(y.shape(), (Shape{2, 3}));
  const std::vector<float> expected = {1, 2, 5, 3, 4, 6};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(y.f32()[i], expected[i]) << i;
}

TEST(ConcatenateTest, HandComputedFirstAxis) {
  Tensor a = Tensor::FromVector({1, 2}, std::vector<float>{1, 2});
  Tensor b = Tensor::FromVector({2, 2}, std::vector<float>{3, 4, 5, 6});
  auto out = RunOp(BuiltinRegistry(), ConcatCase({a, b}, 0));
  ASSERT_TRUE(out.ok()) << out.status();
  const Tensor& y = (*out)[0];
  ASSERT_EQ(y.shape(), (Shape{3, 2}));
  for (int i = 0; i < 6; ++i) EXPECT_EQ(y.f32()[i], i + 1.0f) << i;
}

TEST(ConcatenateTest, DefaultAxisIsLast) {
  ExpectMatchesReference({{2, 3}, {2, 4}}, -1, /*axis_attr=*/false);
  ExpectMatchesReference({{2, 3, 4}, {2, 3, 1}}, -1, /*axis_attr=*/false);
}

TEST(ConcatenateTest, LastAxis) {
  ExpectMatchesReference({{2, 3}, {2, 4}}, -1);
  ExpectMatchesReference({{3, 5, 2}, {3, 5, 7}}, -1);
  ExpectMatchesReference({{3, 5, 2}, {3, 5, 7}}, 2);
  ExpectMatchesReference({{4}, {6}}, -1);
}

TEST(ConcatenateTest, MiddleAxisOfRankThree) {
  ExpectMatchesReference({{2, 3, 4}, {2, 5, 4}}, 1);
  ExpectMatchesReference({{2, 3, 4}, {2, 5, 4}}, -2);
  ExpectMatchesReference({{1, 1, 3}, {1, 2, 3}}, 1);
}

TEST(ConcatenateTest, FirstAxis) {
  ExpectMatchesReference({{3, 4}, {2, 4}}, 0);
  ExpectMatchesReference({{3, 4}, {2, 4}}, -2);
  ExpectMatchesReference({{1, 2, 3}, {4, 2, 3}}, 0);
}

TEST(ConcatenateTest, ThreeInputs) {
  ExpectMatchesReference({{2, 1, 3}, {2, 4, 3}, {2, 2, 3}}, 1);
  ExpectMatchesReference({{2, 3}, {2, 1}, {2, 5}}, -1);
  ExpectMatchesReference({{1, 3}, {4, 3}, {2, 3}}, 0);
}

TEST(ConcatenateTest, TwoInputsOfDifferentSizesAlongAxis) {
  ExpectMatchesReference({{4, 2, 1}, {4, 2, 6}}, -1);
  ExpectMatchesReference({{4, 6, 2}, {4, 1, 2}}, 1);
  ExpectMatchesReference({{5, 3}, {1, 3}}, 0);
}

TEST(ConcatenateTest, EightInputs) {
  std::vector<Shape> shapes;
  for (int64_t i = 0; i < 8; ++i) shapes.push_back({2, i + 1, 3});
  ExpectMatchesReference(shapes, 1);
}

// The old signature stopped at 8 values; the variadic one has no cap.
TEST(ConcatenateTest, ElevenInputs) {
  std::vector<Shape> shapes;
  for (int64_t i = 0; i < 11; ++i) shapes.push_back({2, 3, i % 4 + 1});
  ExpectMatchesReference(shapes, -1);
  shapes.clear();
  for (int64_t i = 0; i < 11; ++i) shapes.push_back({i % 3 + 1, 2});
  ExpectMatchesReference(shapes, 0);
}

TEST(ConcatenateTest, ElevenInputsHandComputed) {
  // Input i is a [1, 1] holding 10 * i: y is [0, 10, ..., 100].
  std::vector<Tensor> xs;
  for (int i = 0; i < 11; ++i) {
    xs.push_back(Tensor::FromVector({1, 1}, std::vector<float>{10.0f * i}));
  }
  auto out = RunOp(BuiltinRegistry(), ConcatCase(xs, -1));
  ASSERT_TRUE(out.ok()) << out.status();
  const Tensor& y = (*out)[0];
  ASSERT_EQ(y.shape(), (Shape{1, 11}));
  for (int i = 0; i < 11; ++i) EXPECT_EQ(y.f32()[i], 10.0f * i) << i;
}

TEST(ConcatenateTest, ManyInputsGradientMatchesFiniteDifferences) {
  std::vector<Shape> shapes;
  int64_t elements = 0;
  for (int64_t i = 0; i < 11; ++i) {
    shapes.push_back({2, i % 3 + 1, 2});
    elements += NumElements(shapes.back());
  }
  GradientCheckOptions options;
  options.max_checks_per_input = 0;
  auto report = CheckGradients(
      BuiltinRegistry(), ConcatCase(RandomInputs(shapes, 31), 1), options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok) << report->worst;
  EXPECT_EQ(report->checked, elements);
  EXPECT_LT(report->max_abs_error, 1e-3);
}

TEST(ConcatenateTest, ManyInputsGradientIsEachSlice) {
  // Eleven [2, 1] inputs along axis 1: input i's gradient is column i of w.
  const std::vector<Tensor> xs =
      RandomInputs(std::vector<Shape>(11, Shape{2, 1}), 41);
  Tensor w = RandomTensor({2, 11}, 43);
  auto grads = ComputeGradients(BuiltinRegistry(), ConcatCase(xs, 1), {w});
  ASSERT_TRUE(grads.ok()) << grads.status();
  ASSERT_EQ(grads->size(), 11u);
  for (int i = 0; i < 11; ++i) {
    const Tensor& g = (*grads)[i];
    ASSERT_EQ(g.shape(), (Shape{2, 1})) << "input " << i;
    EXPECT_EQ(g.f32()[0], w.f32()[i]) << "input " << i;
    EXPECT_EQ(g.f32()[1], w.f32()[11 + i]) << "input " << i;
  }
}

TEST(ConcatenateTest, GradientIsTheSliceOfTheOutputGradient) {
  // y = [a | b | c] along axis 1; the gradient of each input is its
  // columns of the weights.
  const std::vector<Tensor> xs = RandomInputs({{2, 1}, {2, 2}, {2, 1}}, 3);
  Tensor w = Tensor::FromVector({2, 4}, std::vector<float>{1, 2, 3, 4,  //
                                                           5, 6, 7, 8});
  auto grads = ComputeGradients(BuiltinRegistry(), ConcatCase(xs, 1), {w});
  ASSERT_TRUE(grads.ok()) << grads.status();
  ASSERT_EQ(grads->size(), 3u);
  const std::vector<std::vector<float>> expected = {
      {1, 5}, {2, 3, 6, 7}, {4, 8}};
  for (int i = 0; i < 3; ++i) {
    const Tensor& g = (*grads)[i];
    ASSERT_EQ(g.shape(), xs[i].shape()) << "input " << i;
    for (size_t e = 0; e < expected[i].size(); ++e) {
      EXPECT_EQ(g.f32()[e], expected[i][e])
          << "input " << i << " element " << e;
    }
  }
}

TEST(ConcatenateTest, GradientOnlyForInputsThatAskForIt) {
  // Only the middle and last inputs are parameters: the op must still find
  // their slices past the first input's.
  const std::vector<Tensor> xs =
      RandomInputs({{2, 3, 2}, {2, 1, 2}, {2, 2, 2}}, 5);
  OpTestCase test = ConcatCase(xs, 1);
  test.differentiable = {false, true, true};
  Tensor w = RandomTensor({2, 6, 2}, 9);
  auto grads = ComputeGradients(BuiltinRegistry(), test, {w});
  ASSERT_TRUE(grads.ok()) << grads.status();
  EXPECT_FALSE((*grads)[0].is_initialized());
  // w[n, t, c] with t in [3, 4) belongs to input 1, t in [4, 6) to input 2.
  for (int64_t n = 0; n < 2; ++n) {
    for (int64_t c = 0; c < 2; ++c) {
      EXPECT_EQ((*grads)[1].f32()[n * 2 + c], w.f32()[(n * 6 + 3) * 2 + c]);
      for (int64_t t = 0; t < 2; ++t) {
        EXPECT_EQ((*grads)[2].f32()[(n * 2 + t) * 2 + c],
                  w.f32()[(n * 6 + 4 + t) * 2 + c]);
      }
    }
  }
}

TEST(ConcatenateTest, GradientMatchesFiniteDifferences) {
  struct Case {
    std::vector<Shape> shapes;
    int axis;
  };
  const std::vector<Case> cases = {
      {{{2, 3}, {2, 4}}, -1},       {{{2, 3, 4}, {2, 5, 4}}, 1},
      {{{3, 4}, {2, 4}}, 0},        {{{2, 1, 3}, {2, 4, 3}, {2, 2, 3}}, 1},
      {{{4, 2, 1}, {4, 2, 6}}, -1},
  };
  GradientCheckOptions options;
  options.max_checks_per_input = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::Message() << "axis " << c.axis << ", first "
                                      << ShapeToString(c.shapes[0]));
    int64_t elements = 0;
    for (const Shape& s : c.shapes) elements += NumElements(s);
    auto report =
        CheckGradients(BuiltinRegistry(),
                       ConcatCase(RandomInputs(c.shapes, 21), c.axis), options);
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_TRUE(report->ok) << report->worst;
    EXPECT_EQ(report->checked, elements);
    EXPECT_LT(report->max_abs_error, 1e-3);
  }
}

absl::Status RunStatus(const OpTestCase& test) {
  return RunOp(BuiltinRegistry(), test).status();
}

TEST(ConcatenateTest, RankMismatchIsAnError) {
  absl::Status s =
      RunStatus(ConcatCase(RandomInputs({{2, 3}, {2, 3, 1}}, 1), -1));
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), AllOf(HasSubstr("rank mismatch"),
                                 HasSubstr("values_1 has rank 3"),
                                 HasSubstr("values_0 has rank 2")));
}

TEST(ConcatenateTest, DimMismatchNamesInputAndDim) {
  absl::Status s = RunStatus(ConcatCase(RandomInputs({{2, 3}, {4, 3}}, 1), -1));
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(),
              AllOf(HasSubstr("dim mismatch"), HasSubstr("values_1 [4, 3]"),
                    HasSubstr("values_0 [2, 3]"),
                    HasSubstr("in dim 0 (4 vs 2)"), HasSubstr("only dim 1")));

  // The third input differs in the last dim; the axis is the middle one.
  s = RunStatus(
      ConcatCase(RandomInputs({{2, 3, 4}, {2, 1, 4}, {2, 2, 5}}, 1), 1));
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(),
              AllOf(HasSubstr("values_2 [2, 2, 5]"),
                    HasSubstr("in dim 2 (5 vs 4)"), HasSubstr("only dim 1")));
}

TEST(ConcatenateTest, AxisOutOfRangeIsAnError) {
  for (int64_t axis : {2, 5, -3}) {
    absl::Status s =
        RunStatus(ConcatCase(RandomInputs({{2, 3}, {2, 3}}, 1), axis));
    ASSERT_FALSE(s.ok()) << "axis " << axis;
    EXPECT_THAT(s.message(),
                AllOf(HasSubstr("attribute 'axis' is " + std::to_string(axis)),
                      HasSubstr("out of range"), HasSubstr("-2 to 1")));
  }
}

TEST(ConcatenateTest, ScalarsAreAnError) {
  // Fed, since parameters cannot be scalars.
  OpTestCase test = ConcatCase({Tensor::Scalar(1), Tensor::Scalar(2)}, -1);
  test.differentiable = {false, false};
  absl::Status s = RunStatus(test);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("cannot concatenate scalars"));
}

TEST(ConcatenateTest, GapInInputsIsAnError) {
  OpTestCase test = ConcatCase(RandomInputs({{2, 3}, {2, 3}}, 1), -1);
  test.inputs.push_back(std::nullopt);
  test.inputs.push_back(RandomTensor({2, 3}, 4));
  absl::Status s = RunStatus(test);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(),
              AllOf(HasSubstr("node 'op' (Concatenate)"),
                    HasSubstr("input 'values_2' is given as \"\", but the "
                              "tensors of variadic input 'values' cannot be "
                              "left out")));
}

TEST(ConcatenateTest, IntInputIsAnError) {
  OpTestCase test{"Concatenate",
                  {},
                  {RandomTensor({2, 3}, 1),
                   Tensor::FromVector({2, 1}, std::vector<int32_t>{1, 2})}};
  absl::Status s = RunStatus(test);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("values_1 must be float32, got int32"));
}

TEST(ConcatenateTest, NeedsTwoInputs) {
  absl::Status s = RunStatus(ConcatCase(RandomInputs({{2, 3}}, 1), -1));
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(),
              HasSubstr("node 'op' (Concatenate): input 'values' needs at "
                        "least 2 tensors, got 1"));
}

TEST(ConcatenateTest, SignatureIsOneVariadicInput) {
  const OpDef* def = BuiltinRegistry().Find("Concatenate");
  ASSERT_NE(def, nullptr);
  ASSERT_EQ(def->signature.inputs.size(), 1u);
  const ArgSpec& values = def->signature.inputs[0];
  EXPECT_EQ(values.name, "values");
  EXPECT_TRUE(values.variadic);
  EXPECT_FALSE(values.optional);
  EXPECT_EQ(values.min_count, 2);
}

TEST(ConcatenateTest, ShapeFunctionChecksTheCountItself) {
  // The shape function does not rely on the graph's count check.
  const OpDef* def = BuiltinRegistry().Find("Concatenate");
  ASSERT_NE(def, nullptr);
  google::protobuf::Map<std::string, AttrValue> given;
  auto attrs = AttrMap::Resolve(def->signature.attrs, given);
  ASSERT_TRUE(attrs.ok());
  ValueInfo one{DType::kFloat32, {2, 3}};
  const std::string name = "concat";
  ShapeContext ctx(name, *attrs, {&one}, 1);
  absl::Status s = def->shape_fn(ctx);
  EXPECT_THAT(s.message(), HasSubstr("needs at least 2 values, got 1"));
}

// Runs the registered shape function on the given input shapes (with -1
// for unknown dims).
absl::StatusOr<Shape> InferShape(const std::vector<Shape>& shapes,
                                 int64_t axis) {
  const OpDef* def = BuiltinRegistry().Find("Concatenate");
  if (def == nullptr) return absl::NotFoundError("no Concatenate op");
  google::protobuf::Map<std::string, AttrValue> given;
  given["axis"] = IntValue(axis);
  LOOM_ASSIGN_OR_RETURN(auto attrs,
                        AttrMap::Resolve(def->signature.attrs, given));
  std::vector<ValueInfo> infos;
  for (const Shape& s : shapes) infos.push_back({DType::kFloat32, s});
  // One per value, as the graph passes a variadic input.
  std::vector<const ValueInfo*> inputs;
  for (const ValueInfo& info : infos) inputs.push_back(&info);
  const std::string name = "concat";
  ShapeContext ctx(name, attrs, inputs, 1);
  LOOM_RETURN_IF_ERROR(def->shape_fn(ctx));
  return ctx.outputs()[0].shape;
}

TEST(ConcatenateTest, ShapeFunctionHandlesUnknownDims) {
  // Unknown batch dim, joined along the last axis.
  auto s = InferShape({{-1, 3}, {-1, 5}}, -1);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s, (Shape{-1, 8}));
  s = InferShape({{-1, 7, 3}, {-1, 7, 2}, {-1, 7, 1}}, -1);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s, (Shape{-1, 7, 6}));
  // An unknown dim along the axis makes the output's unknown; elsewhere a
  // known dim from any input fills it in.
  s = InferShape({{-1, 3}, {4, 3}}, 0);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s, (Shape{-1, 3}));
  s = InferShape({{2, -1}, {5, 3}}, 0);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s, (Shape{7, 3}));
  // Known dims must still agree; the message names the input that set it.
  s = InferShape({{-1, -1}, {2, 3}, {2, 4}}, 0);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(),
              AllOf(HasSubstr("values_2 [2, 4] and values_1 [2, 3]"),
                    HasSubstr("in dim 1 (4 vs 3)")));
  s = InferShape({{-1, 3}, {-1, 4}}, 0);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(), HasSubstr("dim mismatch"));
}

}  // namespace
}  // namespace loom::testing
