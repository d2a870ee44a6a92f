#include "gtest/gtest.h"
#include "framework/proto/model.pb.h"
#include "absl/status/status.h"
#include "oneapi/dnnl/dnnl.hpp"
TEST(Smoke, Links) {
  loom::ModelDef m; m.set_name("x");
  dnnl::engine e(dnnl::engine::kind::cpu, 0);
  EXPECT_TRUE(absl::InvalidArgumentError("x").message() == "x");
}
