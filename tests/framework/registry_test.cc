#include "framework/registry.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ops/op_library.h"
#include "tests/framework/test_ops.h"

namespace loom::testing {
namespace {

using ::testing::HasSubstr;

TEST(RegistryTest, RegistersAndFindsOps) {
  OpRegistry registry;
  ASSERT_TRUE(registry.Register(AttrProbeOp()).ok());
  const OpDef* def = registry.Find("AttrProbe");
  ASSERT_NE(def, nullptr);
  EXPECT_EQ(def->signature.name, "AttrProbe");
  EXPECT_EQ(def->source, "builtin");
  EXPECT_EQ(registry.Find("Nope"), nullptr);
}

TEST(RegistryTest, BuiltinOpsAreListedSorted) {
  OpRegistry registry;
  ASSERT_TRUE(RegisterBuiltinOps(&registry).ok());
  auto ops = registry.List();
  ASSERT_GE(ops.size(), 6u);
  for (size_t i = 1; i < ops.size(); ++i) {
    EXPECT_LT(ops[i - 1]->signature.name, ops[i]->signature.name);
  }
  EXPECT_NE(registry.Find("MatMul"), nullptr);
  EXPECT_NE(registry.Find("Sigmoid"), nullptr);
}

TEST(RegistryTest, DuplicateNameIsRefusedNamingBothSources) {
  OpRegistry registry;
  ASSERT_TRUE(registry.Register(AttrProbeOp()).ok());
  registry.set_current_source("libother.so");
  absl::Status s = registry.Register(AttrProbeOp());
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(s.message()), HasSubstr("'AttrProbe'"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("libother.so"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("builtin"));
}

TEST(RegistryTest, IncompleteDefinitionsAreRefused) {
  OpRegistry registry;
  OpDef no_kernel = AttrProbeOp();
  no_kernel.signature.name = "NoKernel";
  no_kernel.kernels.clear();
  EXPECT_THAT(std::string(registry.Register(no_kernel).message()),
              HasSubstr("no kernel"));

  OpDef no_shape = AttrProbeOp();
  no_shape.signature.name = "NoShape";
  no_shape.shape_fn = nullptr;
  EXPECT_THAT(std::string(registry.Register(no_shape).message()),
              HasSubstr("no shape function"));

  OpDef bad_order = AttrProbeOp();
  bad_order.signature.name = "BadOrder";
  bad_order.signature.inputs = {{"a", "", true}, {"b", "", false}};
  EXPECT_THAT(std::string(registry.Register(bad_order).message()),
              HasSubstr("required input 'b' follows an optional one"));

  OpDef bad_default = AttrProbeOp();
  bad_default.signature.name = "BadDefault";
  bad_default.signature.attrs[0].default_value->set_s("text");
  EXPECT_THAT(std::string(registry.Register(bad_default).message()),
              HasSubstr("default of attribute 'count' is not a int"));
  EXPECT_EQ(registry.List().size(), 0u);
}

// A variadic list, as a signature declares it.
ArgSpec Variadic(const std::string& name, int min_count) {
  ArgSpec a{name, "float"};
  a.variadic = true;
  a.min_count = min_count;
  return a;
}

// Registers AttrProbe renamed to `name` with `inputs`; returns the status.
absl::Status RegisterWithInputs(OpRegistry& registry, const std::string& name,
                                std::vector<ArgSpec> inputs) {
  OpDef def = AttrProbeOp();
  def.signature.name = name;
  def.signature.inputs = std::move(inputs);
  return registry.Register(std::move(def));
}

TEST(RegistryTest, VariadicLastInputIsAccepted) {
  OpRegistry registry;
  ASSERT_TRUE(
      RegisterWithInputs(registry, "Fixed", {{"x"}, {"y", "", false}}).ok());
  ASSERT_TRUE(
      RegisterWithInputs(registry, "List", {{"x"}, Variadic("values", 2)})
          .ok());
  ASSERT_TRUE(
      RegisterWithInputs(registry, "OnlyList", {Variadic("values", 0)}).ok());
  EXPECT_EQ(registry.List().size(), 3u);

  const OpSignature& list = registry.Find("List")->signature;
  EXPECT_TRUE(HasVariadicInput(list));
  EXPECT_EQ(MinNodeInputs(list), 3);
  EXPECT_EQ(MaxNodeInputs(list), -1);
  EXPECT_EQ(NodeInputName(list, 0), "x");
  EXPECT_EQ(NodeInputName(list, 1), "values_0");
  EXPECT_EQ(NodeInputName(list, 12), "values_11");
  EXPECT_EQ(SignatureInputIndex(list, 0), 0);
  EXPECT_EQ(SignatureInputIndex(list, 1), 1);
  EXPECT_EQ(SignatureInputIndex(list, 12), 1);
  EXPECT_EQ(ArgListText(list.inputs), "x, values...");

  const OpSignature& only = registry.Find("OnlyList")->signature;
  EXPECT_EQ(MinNodeInputs(only), 0);
  EXPECT_EQ(NodeInputName(only, 3), "values_3");

  const OpSignature& fixed = registry.Find("Fixed")->signature;
  EXPECT_FALSE(HasVariadicInput(fixed));
  EXPECT_EQ(MinNodeInputs(fixed), 2);
  EXPECT_EQ(MaxNodeInputs(fixed), 2);
  EXPECT_EQ(NodeInputName(fixed, 1), "y");
}

TEST(RegistryTest, VariadicInputThatIsNotLastIsRefused) {
  OpRegistry registry;
  absl::Status s =
      RegisterWithInputs(registry, "NotLast", {Variadic("values", 1), {"x"}});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("cannot register op 'NotLast' from builtin: variadic "
                        "input 'values' is not the last input"));
  // Two variadic inputs: the first is not last.
  s = RegisterWithInputs(registry, "TwoLists",
                         {Variadic("a", 1), Variadic("b", 1)});
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("variadic input 'a' is not the last input"));
  EXPECT_EQ(registry.List().size(), 0u);
}

TEST(RegistryTest, VariadicInputWithOptionalInputsIsRefused) {
  OpRegistry registry;
  // (x, mask?, values...): two inputs could be x and mask, or x and
  // values_0.
  absl::Status s =
      RegisterWithInputs(registry, "Ambiguous",
                         {{"x"}, {"mask", "", true}, Variadic("values", 0)});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("variadic input 'values' follows optional input "
                        "'mask'; a signature with a variadic input may have "
                        "no optional inputs"));
  // Even with min_count > 0 the count alone cannot place the optional one.
  s = RegisterWithInputs(registry, "Ambiguous2",
                         {{"mask", "", true}, Variadic("values", 2)});
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("follows optional input 'mask'"));

  // The list itself cannot be optional: min_count = 0 says that.
  ArgSpec optional_list = Variadic("values", 1);
  optional_list.optional = true;
  s = RegisterWithInputs(registry, "OptionalList", {{"x"}, optional_list});
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("variadic input 'values' is also optional; give it "
                        "min_count = 0 instead"));
  EXPECT_EQ(registry.List().size(), 0u);
}

TEST(RegistryTest, BadVariadicDeclarationsAreRefused) {
  OpRegistry registry;
  absl::Status s =
      RegisterWithInputs(registry, "Negative", {Variadic("values", -1)});
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("variadic input 'values' has min_count -1; it must "
                        "be >= 0"));

  ArgSpec count_only{"x"};
  count_only.min_count = 2;
  s = RegisterWithInputs(registry, "CountOnly", {count_only});
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("input 'x' has min_count 2 but is not variadic"));

  OpDef list_output = AttrProbeOp();
  list_output.signature.name = "ListOutput";
  list_output.signature.outputs = {Variadic("ys", 1)};
  s = registry.Register(list_output);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("output 'ys' is variadic; only inputs can be"));

  OpDef sparse_list = AttrProbeOp();
  sparse_list.signature.name = "SparseList";
  sparse_list.signature.inputs = {{"ids"}, Variadic("tables", 1)};
  sparse_list.sparse_grad_inputs = {1};
  s = registry.Register(sparse_list);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("sparse gradient input 1 ('tables') is variadic"));
  EXPECT_EQ(registry.List().size(), 0u);
}

TEST(RegistryTest, DescribeOpShowsVariadicInputs) {
  OpRegistry registry;
  ASSERT_TRUE(RegisterBuiltinOps(&registry).ok());
  const std::string card = DescribeOp(*registry.Find("Concatenate"));
  EXPECT_THAT(card, HasSubstr("Concatenate(values...) -> (y)"));
  EXPECT_THAT(card, HasSubstr("input  values (variadic: 2 or more tensors, "
                              "named values_0, values_1, ...)"));
  // Optional inputs keep their mark.
  OpRegistry other;
  ASSERT_TRUE(
      RegisterWithInputs(other, "Opt", {{"x"}, {"mask", "", true}}).ok());
  const std::string opt = DescribeOp(*other.Find("Opt"));
  EXPECT_THAT(opt, HasSubstr("Opt(x, mask?) -> (y)"));
  EXPECT_THAT(opt, HasSubstr("input  mask (optional)"));
}

TEST(AttrMapTest, FillsDefaultsAndChecksTypes) {
  OpDef def = AttrProbeOp();
  google::protobuf::Map<std::string, AttrValue> given;
  given["scale"].set_f(2.5f);
  auto attrs = AttrMap::Resolve(def.signature.attrs, given);
  ASSERT_TRUE(attrs.ok()) << attrs.status();
  EXPECT_EQ(attrs->GetInt("count"), 1);
  EXPECT_FLOAT_EQ(attrs->GetFloat("scale"), 2.5f);

  given["scale"].set_i(3);  // An int literal is fine for a float.
  attrs = AttrMap::Resolve(def.signature.attrs, given);
  ASSERT_TRUE(attrs.ok());
  EXPECT_FLOAT_EQ(attrs->GetFloat("scale"), 3.0f);

  given["count"].set_s("three");
  EXPECT_THAT(
      std::string(
          AttrMap::Resolve(def.signature.attrs, given).status().message()),
      HasSubstr("attribute 'count' must be int, got string"));

  google::protobuf::Map<std::string, AttrValue> missing;
  EXPECT_THAT(
      std::string(
          AttrMap::Resolve(def.signature.attrs, missing).status().message()),
      HasSubstr("missing required attribute 'scale'"));

  google::protobuf::Map<std::string, AttrValue> unknown;
  unknown["scale"].set_f(1);
  unknown["colour"].set_s("red");
  EXPECT_THAT(
      std::string(
          AttrMap::Resolve(def.signature.attrs, unknown).status().message()),
      HasSubstr("unknown attribute 'colour'"));
}

}  // namespace
}  // namespace loom::testing
