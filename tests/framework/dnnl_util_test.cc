// DnnlCall and DnnlExecute: a oneDNN failure becomes a Status that says how
// to see more (ONEDNN_VERBOSE=1, query_md) and, from DnnlExecute, which
// arguments the primitive expected and did not get. Includes the trap of
// plugins/README.md: layer_normalization backward with use_shift wants
// DNNL_ARG_SHIFT in oneDNN 2.6.
#include "framework/dnnl_util.h"

#include <cstdlib>
#include <string>
#include <unordered_map>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loom {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

class DnnlUtilTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The hint differs when verbose output is already on.
    unsetenv("ONEDNN_VERBOSE");
    unsetenv("DNNL_VERBOSE");
  }

  dnnl::engine engine_{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream_{engine_};
};

TEST_F(DnnlUtilTest, DnnlCallSaysHowToSeeMore) {
  absl::Status s = DnnlCall("test step", [] {
    throw dnnl::error(dnnl_invalid_arguments, "could not execute a primitive");
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(s.message(),
              AllOf(HasSubstr("oneDNN test step failed: could not execute a "
                              "primitive (dnnl_invalid_arguments)"),
                    HasSubstr("run with ONEDNN_VERBOSE=1"),
                    HasSubstr("query_md(dnnl::query::exec_arg_md, "
                              "DNNL_ARG_...)"),
                    HasSubstr("plugins/README.md")));
  EXPECT_TRUE(DnnlCall("fine", [] {}).ok());
}

TEST_F(DnnlUtilTest, HintNamesTheLogWhenVerboseIsOn) {
  setenv("ONEDNN_VERBOSE", "1", 1);
  absl::Status s = DnnlCall("test step", [] {
    throw dnnl::error(dnnl_unimplemented, "could not create a primitive");
  });
  unsetenv("ONEDNN_VERBOSE");
  EXPECT_THAT(s.message(),
              AllOf(HasSubstr("(dnnl_unimplemented)"),
                    HasSubstr("read oneDNN's log on standard output"),
                    Not(HasSubstr("run with ONEDNN_VERBOSE=1"))));
}

TEST_F(DnnlUtilTest, ArgNames) {
  EXPECT_EQ(DnnlArgName(DNNL_ARG_SRC), "DNNL_ARG_SRC");
  EXPECT_EQ(DnnlArgName(DNNL_ARG_SHIFT), "DNNL_ARG_SHIFT");
  EXPECT_EQ(DnnlArgName(DNNL_ARG_DIFF_DST), "DNNL_ARG_DIFF_DST");
  EXPECT_EQ(DnnlArgName(DNNL_ARG_SRC_ITER),
            "DNNL_ARG_SRC_ITER (DNNL_ARG_SRC_1)");
  EXPECT_EQ(DnnlArgName(DNNL_ARG_MULTIPLE_SRC + 2),
            "DNNL_ARG_MULTIPLE_SRC + 2");
  EXPECT_EQ(DnnlArgName(12345), "argument 12345");
}

// An eltwise backward that uses dst, run without DNNL_ARG_DST.
TEST_F(DnnlUtilTest, ExecuteNamesTheMissingArgument) {
  const dnnl::memory::desc md = PlainDesc({6});
  dnnl::eltwise_forward::primitive_desc fwd(
      dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_training,
                                  dnnl::algorithm::eltwise_relu, md, 0.f, 0.f),
      engine_);
  dnnl::eltwise_backward::primitive_desc bwd_pd(
      dnnl::eltwise_backward::desc(
          dnnl::algorithm::eltwise_relu_use_dst_for_bwd, md, md, 0.f, 0.f),
      engine_, fwd);
  dnnl::eltwise_backward bwd(bwd_pd);
  Tensor y(DType::kFloat32, {6}), dy(DType::kFloat32, {6}),
      dx(DType::kFloat32, {6});
  absl::Status s =
      DnnlExecute("eltwise backward", bwd, stream_,
                  {{DNNL_ARG_DIFF_DST, WrapTensor(engine_, dy, md)},
                   {DNNL_ARG_DIFF_SRC, WrapTensor(engine_, dx, md)}});
  EXPECT_THAT(
      s.message(),
      AllOf(HasSubstr("oneDNN eltwise backward failed: could not "
                      "execute a primitive (dnnl_invalid_arguments)"),
            HasSubstr("the eltwise primitive describes arguments that "
                      "execute() was not given: DNNL_ARG_DST"),
            Not(HasSubstr("DNNL_ARG_SRC,")), HasSubstr("ONEDNN_VERBOSE=1")));

  // With every argument it runs.
  EXPECT_TRUE(DnnlExecute("eltwise backward", bwd, stream_,
                          {{DNNL_ARG_DST, WrapTensor(engine_, y, md)},
                           {DNNL_ARG_DIFF_DST, WrapTensor(engine_, dy, md)},
                           {DNNL_ARG_DIFF_SRC, WrapTensor(engine_, dx, md)}})
                  .ok());
}

// The trap of the guide: oneDNN 2.6's layer_normalization backward with
// use_scale | use_shift counts DNNL_ARG_SHIFT among its inputs, though it
// computes nothing from it.
TEST_F(DnnlUtilTest, LayerNormBackwardWantsShift) {
  const dnnl::memory::desc x_md = PlainDesc({4, 3});
  const dnnl::memory::desc stat_md = PlainDesc({4});
  const dnnl::memory::desc w_md = PlainDesc({3});
  const auto flags = dnnl::normalization_flags::use_scale |
                     dnnl::normalization_flags::use_shift;
  dnnl::layer_normalization_forward::primitive_desc fwd_pd(
      dnnl::layer_normalization_forward::desc(dnnl::prop_kind::forward_training,
                                              x_md, stat_md, 1e-5f, flags),
      engine_);
  dnnl::layer_normalization_backward::primitive_desc bwd_pd(
      dnnl::layer_normalization_backward::desc(dnnl::prop_kind::backward, x_md,
                                               x_md, stat_md, 1e-5f, flags),
      engine_, fwd_pd);
  dnnl::layer_normalization_forward fwd(fwd_pd);
  dnnl::layer_normalization_backward bwd(bwd_pd);

  Tensor x(DType::kFloat32, {4, 3}), y(DType::kFloat32, {4, 3});
  for (int i = 0; i < 12; ++i) x.f32()[i] = static_cast<float>(i % 5);
  Tensor mean(DType::kFloat32, {4}), var(DType::kFloat32, {4});
  Tensor gamma = Tensor::FromVector({3}, std::vector<float>{1, 1, 1});
  Tensor beta(DType::kFloat32, {3});
  Tensor dy = Tensor::FromVector(
      {4, 3}, std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
  Tensor dx(DType::kFloat32, {4, 3}), dgamma(DType::kFloat32, {3}),
      dbeta(DType::kFloat32, {3});
  auto m = [&](const Tensor& t, const dnnl::memory::desc& md) {
    return WrapTensor(engine_, t, md);
  };
  ASSERT_TRUE(DnnlExecute("layer_normalization forward", fwd, stream_,
                          {{DNNL_ARG_SRC, m(x, x_md)},
                           {DNNL_ARG_DST, m(y, x_md)},
                           {DNNL_ARG_MEAN, m(mean, stat_md)},
                           {DNNL_ARG_VARIANCE, m(var, stat_md)},
                           {DNNL_ARG_SCALE, m(gamma, w_md)},
                           {DNNL_ARG_SHIFT, m(beta, w_md)}})
                  .ok());

  std::unordered_map<int, dnnl::memory> args = {
      {DNNL_ARG_SRC, m(x, x_md)},
      {DNNL_ARG_MEAN, m(mean, stat_md)},
      {DNNL_ARG_VARIANCE, m(var, stat_md)},
      {DNNL_ARG_DIFF_DST, m(dy, x_md)},
      {DNNL_ARG_SCALE, m(gamma, w_md)},
      {DNNL_ARG_DIFF_SRC, m(dx, x_md)},
      {DNNL_ARG_DIFF_SCALE, m(dgamma, w_md)},
      {DNNL_ARG_DIFF_SHIFT, m(dbeta, w_md)}};
  absl::Status s =
      DnnlExecute("layer_normalization backward", bwd, stream_, args);
  EXPECT_THAT(std::string(s.message()),
              AllOf(HasSubstr("could not execute a primitive"),
                    HasSubstr("the layer_normalization primitive describes "
                              "arguments that execute() was not given: "
                              "DNNL_ARG_SHIFT. To see more")));

  args[DNNL_ARG_SHIFT] = m(beta, w_md);
  s = DnnlExecute("layer_normalization backward", bwd, stream_, args);
  EXPECT_TRUE(s.ok()) << s;
  // dbeta = sum of dy over the rows: 22, 26, 30.
  EXPECT_FLOAT_EQ(dbeta.f32()[0], 22.0f);
  EXPECT_FLOAT_EQ(dbeta.f32()[2], 30.0f);
}

// Another trap: layer_normalization backward_data (no gradient of scale
// and shift) with use_scale has no implementation in oneDNN 2.6; a kernel
// that does not want dgamma uses prop_kind backward and gives the primitive
// a scratch tensor for it (GradContext::input_grad_or_scratch).
TEST_F(DnnlUtilTest, LayerNormBackwardDataWithScaleIsUnimplemented) {
  const dnnl::memory::desc x_md = PlainDesc({4, 3});
  const dnnl::memory::desc stat_md = PlainDesc({4});
  for (auto prop :
       {dnnl::prop_kind::backward_data, dnnl::prop_kind::backward}) {
    SCOPED_TRACE(prop == dnnl::prop_kind::backward ? "backward"
                                                   : "backward_data");
    absl::Status s = DnnlCall("layer_normalization backward setup", [&] {
      const auto flags = dnnl::normalization_flags::use_scale;
      dnnl::layer_normalization_forward::primitive_desc fwd_pd(
          dnnl::layer_normalization_forward::desc(
              dnnl::prop_kind::forward_training, x_md, stat_md, 1e-5f, flags),
          engine_);
      dnnl::layer_normalization_backward::primitive_desc bwd_pd(
          dnnl::layer_normalization_backward::desc(prop, x_md, x_md, stat_md,
                                                   1e-5f, flags),
          engine_, fwd_pd);
    });
    if (prop == dnnl::prop_kind::backward) {
      EXPECT_TRUE(s.ok()) << s;
    } else {
      EXPECT_THAT(std::string(s.message()),
                  HasSubstr("could not create a primitive descriptor iterator "
                            "(dnnl_unimplemented)"));
    }
  }
}

// A memory with another layout than the primitive's is named too.
TEST_F(DnnlUtilTest, ProblemsNameAMemoryWithAnotherDescriptor) {
  const dnnl::memory::desc md = PlainDesc({2, 3});
  dnnl::eltwise_forward::primitive_desc pd(
      dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_inference,
                                  dnnl::algorithm::eltwise_relu, md, 0.f, 0.f),
      engine_);
  dnnl::eltwise_forward relu(pd);
  Tensor x(DType::kFloat32, {2, 3}), y(DType::kFloat32, {3, 2});
  const std::string problems =
      DnnlArgsProblems(relu, {{DNNL_ARG_SRC, WrapTensor(engine_, x, md)},
                              {DNNL_ARG_DST, WrapTensor(engine_, y)}});
  EXPECT_THAT(problems, HasSubstr("execute() was given memories whose "
                                  "descriptor differs from the eltwise "
                                  "primitive's: DNNL_ARG_DST"));
  EXPECT_THAT(problems, Not(HasSubstr("was not given")));
  EXPECT_EQ(
      DnnlArgsProblems(relu, {{DNNL_ARG_SRC, WrapTensor(engine_, x, md)},
                              {DNNL_ARG_DST, WrapTensor(engine_, x, md)}}),
      "");
  // An empty primitive has no descriptor to ask.
  EXPECT_EQ(DnnlArgsProblems(dnnl::primitive(), {}), "");
}

}  // namespace
}  // namespace loom
