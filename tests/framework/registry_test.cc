#include "framework/registry.h"

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
