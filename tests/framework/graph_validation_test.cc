// One small .pbtxt per error class; each message must name the file and
// line, the node and the problem.
#include <string>

#include "framework/graph.h"
#include "framework/model_io.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ops/op_library.h"
#include "tests/framework/test_ops.h"

namespace loom::testing {
namespace {

using ::testing::HasSubstr;

const OpRegistry& Registry() {
  static OpRegistry* registry = [] {
    auto* r = new OpRegistry();
    if (!RegisterBuiltinOps(r).ok() || !r->Register(AttrProbeOp()).ok()) {
      std::abort();
    }
    return r;
  }();
  return *registry;
}

std::string TestFile(const std::string& name) {
  return "tests/framework/testdata/" + name;
}

// Loads a model file and builds its graph; returns the error message.
std::string BuildError(const std::string& name) {
  auto file = ReadModelFile(TestFile(name));
  if (!file.ok()) return std::string(file.status().message());
  auto graph = Graph::Build(file->model.graph(), Registry(), file->source);
  if (graph.ok()) return "";
  return std::string(graph.status().message());
}

TEST(GraphValidationTest, ValidModelBuilds) {
  auto file = ReadModelFile(TestFile("valid_mlp.pbtxt"));
  ASSERT_TRUE(file.ok()) << file.status();
  auto graph = Graph::Build(file->model.graph(), Registry(), file->source);
  ASSERT_TRUE(graph.ok()) << graph.status();
  EXPECT_EQ((*graph)->nodes().size(), 4u);
  const Value& out = (*graph)->values()[(*graph)->FindValue("out")];
  EXPECT_EQ(out.info.shape, (Shape{-1, 1}));
  const Value& loss = (*graph)->values()[(*graph)->FindValue("loss")];
  EXPECT_TRUE(loss.info.shape.empty());
  EXPECT_TRUE(
      ValidateModelBindings(file->model, **graph, "valid_mlp.pbtxt").ok());
}

TEST(GraphValidationTest, UnknownOp) {
  std::string e = BuildError("unknown_op.pbtxt");
  EXPECT_THAT(e, HasSubstr("unknown_op.pbtxt:4: "));
  EXPECT_THAT(e, HasSubstr("node 'mystery'"));
  EXPECT_THAT(e, HasSubstr("unknown op 'Frobnicate'"));
}

TEST(GraphValidationTest, MissingInput) {
  std::string e = BuildError("missing_input.pbtxt");
  EXPECT_THAT(e, HasSubstr("missing_input.pbtxt:4: "));
  EXPECT_THAT(e, HasSubstr("node 'sum'"));
  EXPECT_THAT(e, HasSubstr("reads 'nowhere', which is no node"));
}

TEST(GraphValidationTest, OutputThatDoesNotExist) {
  std::string e = BuildError("bad_output_index.pbtxt");
  EXPECT_THAT(e, HasSubstr("bad_output_index.pbtxt:4: "));
  EXPECT_THAT(e, HasSubstr("node 'again'"));
  EXPECT_THAT(e, HasSubstr("node 'act' has only 1 output(s)"));
}

TEST(GraphValidationTest, Cycle) {
  std::string e = BuildError("cycle.pbtxt");
  EXPECT_THAT(e, HasSubstr("cycle.pbtxt:3: "));
  EXPECT_THAT(e, HasSubstr("cycle through nodes: first, second"));
}

TEST(GraphValidationTest, WrongAttributeType) {
  std::string e = BuildError("wrong_attr_type.pbtxt");
  EXPECT_THAT(e, HasSubstr("wrong_attr_type.pbtxt:4: "));
  EXPECT_THAT(e, HasSubstr("node 'typed' (AttrProbe)"));
  EXPECT_THAT(e, HasSubstr("attribute 'count' must be int, got string"));
}

TEST(GraphValidationTest, ShapeMismatch) {
  std::string e = BuildError("shape_mismatch.pbtxt");
  EXPECT_THAT(e, HasSubstr("shape_mismatch.pbtxt:4: "));
  EXPECT_THAT(e, HasSubstr("node 'product' (MatMul)"));
  EXPECT_THAT(e, HasSubstr("cannot multiply [?, 3] by [4, 2]"));
}

TEST(GraphValidationTest, DuplicateName) {
  std::string e = BuildError("duplicate_name.pbtxt");
  EXPECT_THAT(e, HasSubstr("duplicate_name.pbtxt:4: "));
  EXPECT_THAT(e, HasSubstr("node 'act'"));
  EXPECT_THAT(e, HasSubstr("another node has the same name"));
}

TEST(GraphValidationTest, SyntaxErrorNamesLineAndColumn) {
  std::string e = BuildError("syntax_error.pbtxt");
  EXPECT_THAT(e, HasSubstr("syntax_error.pbtxt:5:1: "));
}

TEST(GraphValidationTest, UnknownFieldNamesLine) {
  std::string e = BuildError("unknown_field.pbtxt");
  EXPECT_THAT(e, HasSubstr("unknown_field.pbtxt:2:"));
  EXPECT_THAT(e, HasSubstr("inputs"));
}

TEST(GraphValidationTest, MissingFile) {
  std::string e = BuildError("no_such_file.pbtxt");
  EXPECT_THAT(e, HasSubstr("no_such_file.pbtxt"));
}

TEST(GraphValidationTest, TooFewValuesForAVariadicInput) {
  std::string e = BuildError("concat_too_few.pbtxt");
  EXPECT_THAT(e, HasSubstr("concat_too_few.pbtxt:4: node 'pools' "
                           "(Concatenate): input 'values' needs at least 2 "
                           "tensors, got 1"));
}

TEST(GraphValidationTest, ManyValuesForAVariadicInput) {
  auto file = ReadModelFile(TestFile("concat_many.pbtxt"));
  ASSERT_TRUE(file.ok()) << file.status();
  auto graph = Graph::Build(file->model.graph(), Registry(), file->source);
  ASSERT_TRUE(graph.ok()) << graph.status();
  ASSERT_EQ((*graph)->nodes().size(), 1u);
  const Node& node = (*graph)->nodes()[0];
  ASSERT_EQ(node.inputs.size(), 12u);
  for (int i = 0; i < 12; ++i) {
    EXPECT_EQ(node.inputs[i], (*graph)->FindValue("head_" + std::to_string(i)))
        << i;
  }
  // Widths 1 + 2 + ... + 12 = 78.
  const Value& out = (*graph)->values()[(*graph)->FindValue("heads")];
  EXPECT_EQ(out.info.shape, (Shape{-1, 3, 78}));
}

TEST(GraphValidationTest, VariadicValuesCannotBeLeftOut) {
  std::string e = BuildError("concat_left_out.pbtxt");
  EXPECT_THAT(e, HasSubstr("concat_left_out.pbtxt:4: node 'joined' "
                           "(Concatenate): input 'values_1' is given as \"\", "
                           "but the tensors of variadic input 'values' cannot "
                           "be left out"));
}

TEST(GraphValidationTest, BadVariadicValueIsNamedByPosition) {
  std::string e = BuildError("concat_bad_element.pbtxt");
  EXPECT_THAT(e, HasSubstr("concat_bad_element.pbtxt:3: node 'joined' "
                           "(Concatenate): input 'values_5' reads 'nowhere', "
                           "which is no node"));
}

TEST(GraphValidationTest, ModelBindingsMustExist) {
  auto file = ReadModelFile(TestFile("valid_mlp.pbtxt"));
  ASSERT_TRUE(file.ok());
  auto graph = Graph::Build(file->model.graph(), Registry(), file->source);
  ASSERT_TRUE(graph.ok());
  file->model.set_loss("lost");
  absl::Status s = ValidateModelBindings(file->model, **graph, "m.pbtxt");
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("m.pbtxt: loss 'lost' is no node"));
}

// Found with tests/fuzz/model_fuzzer under UBSan (issue 13): the element
// count of a parameter's shape overflowed int64 (undefined behavior; it
// wrapped to 4 and the model trained).
TEST(GraphValidationTest, ParameterShapeTooLargeToCount) {
  auto file =
      ParseModelText(R"pb(
                       graph {
                         parameter {
                           name: "w"
                           shape { dim: 4294967296 dim: 4294967296 dim: 4 }
                         }
                       }
                     )pb",
                     "huge.pbtxt");
  ASSERT_TRUE(file.ok()) << file.status();
  auto graph = Graph::Build(file->model.graph(), Registry(), file->source);
  ASSERT_FALSE(graph.ok());
  EXPECT_THAT(std::string(graph.status().message()),
              HasSubstr("huge.pbtxt:3: parameter 'w': shape [4294967296, "
                        "4294967296, 4] has too many elements"));
}

// Also found with the model fuzzer under UBSan: shape functions of built-in
// ops computed dimensions that overflow int64.
TEST(GraphValidationTest, OpShapesThatOverflowAreErrors) {
  auto concat = ParseModelText(
      R"pb(
        graph {
          input {
            name: "a"
            dtype: DT_FLOAT
            shape { dim: -1 dim: 9223372036854775807 }
          }
          node { name: "c" op: "Concatenate" input: "a" input: "a" }
        }
      )pb",
      "concat.pbtxt");
  ASSERT_TRUE(concat.ok()) << concat.status();
  auto graph = Graph::Build(concat->model.graph(), Registry(), concat->source);
  ASSERT_FALSE(graph.ok());
  EXPECT_THAT(std::string(graph.status().message()),
              HasSubstr("dim 1 of the result overflows int64"));

  auto lstm = ParseModelText(R"pb(
                               graph {
                                 input {
                                   name: "x"
                                   dtype: DT_FLOAT
                                   shape { dim: -1 dim: 5 dim: 4 }
                                 }
                                 parameter {
                                   name: "k"
                                   shape { dim: 4 dim: 12 }
                                 }
                                 parameter {
                                   name: "r"
                                   shape { dim: 3 dim: 12 }
                                 }
                                 parameter {
                                   name: "b"
                                   shape { dim: 12 }
                                 }
                                 node {
                                   name: "l"
                                   op: "LSTM"
                                   input: "x"
                                   input: "k"
                                   input: "r"
                                   input: "b"
                                   attr {
                                     key: "units"
                                     value { i: 4611686018427387904 }
                                   }
                                 }
                               }
                             )pb",
                             "lstm.pbtxt");
  ASSERT_TRUE(lstm.ok()) << lstm.status();
  graph = Graph::Build(lstm->model.graph(), Registry(), lstm->source);
  ASSERT_FALSE(graph.ok());
  EXPECT_THAT(std::string(graph.status().message()),
              HasSubstr("attribute 'units' must be in [1, 2^32], got "
                        "4611686018427387904"));
}

}  // namespace
}  // namespace loom::testing
