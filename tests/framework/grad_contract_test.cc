// The gradient contract of GradContext (framework/op.h): a kernel writes
// only the gradients that are wanted; GradContext::input_grad_or_scratch
// gives a fused backward somewhere to put the ones nobody wants; the
// built-in activations keep to it; and Backward sees the training flag of
// the Forward before it, which in op_testing (and so tools/check_op) is
// OpTestCase::training, false unless asked for.
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "framework/op.h"
#include "framework/registry.h"
#include "framework/testing/op_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ops/op_library.h"

namespace loom::testing {
namespace {

// What the ScaleShift kernel saw in its last Backward.
struct FusedProbe {
  std::vector<bool> wanted;  // needs_input_grad, per input.
  bool training = false;
  int backward_calls = 0;
};

// "ScaleShift": y = a * x + b, all three float of one shape. Its backward
// is "fused": one loop writes dx, da and db together, whichever are wanted,
// the way a oneDNN primitive that outputs several gradients does.
class ScaleShiftKernel : public OpKernel {
 public:
  explicit ScaleShiftKernel(FusedProbe* probe) : probe_(probe) {}

  absl::Status Forward(KernelContext& ctx) override {
    const Tensor& x = *ctx.input(0);
    const Tensor& a = *ctx.input(1);
    const Tensor& b = *ctx.input(2);
    Tensor& y = *ctx.output(0);
    y.Resize(DType::kFloat32, x.shape());
    for (int64_t i = 0; i < x.num_elements(); ++i) {
      y.f32()[i] = a.f32()[i] * x.f32()[i] + b.f32()[i];
    }
    return absl::OkStatus();
  }

  absl::Status Backward(GradContext& ctx) override {
    ++probe_->backward_calls;
    probe_->training = ctx.training();
    probe_->wanted.clear();
    for (int i = 0; i < 3; ++i) {
      probe_->wanted.push_back(ctx.needs_input_grad(i));
    }
    const Tensor& x = *ctx.input(0);
    const Tensor& a = *ctx.input(1);
    const Tensor* dy = ctx.output_grad(0);
    Tensor* dx = ctx.input_grad_or_scratch(0, x.shape(), &scratch_[0]);
    Tensor* da = ctx.input_grad_or_scratch(1, x.shape(), &scratch_[1]);
    Tensor* db = ctx.input_grad_or_scratch(2, x.shape(), &scratch_[2]);
    for (int64_t i = 0; i < x.num_elements(); ++i) {
      const float g = dy == nullptr ? 0.0f : dy->f32()[i];
      dx->f32()[i] = g * a.f32()[i];
      da->f32()[i] = g * x.f32()[i];
      db->f32()[i] = g;
    }
    return absl::OkStatus();
  }

 private:
  FusedProbe* probe_;
  Tensor scratch_[3];
};

OpDef ScaleShiftOp(FusedProbe* probe) {
  OpDef def;
  def.signature.name = "ScaleShift";
  def.signature.inputs = {{"x"}, {"a"}, {"b"}};
  def.signature.outputs = {{"y"}};
  def.shape_fn = [](ShapeContext& ctx) {
    ctx.set_output(0, *ctx.input(0));
    return absl::OkStatus();
  };
  def.kernels.push_back({"reference",
                         [probe](const KernelInitContext&)
                             -> absl::StatusOr<std::unique_ptr<OpKernel>> {
                           return std::make_unique<ScaleShiftKernel>(probe);
                         }});
  return def;
}

TEST(InputGradOrScratchTest, WantedGradientOrScratch) {
  AttrMap attrs;
  Tensor x(DType::kFloat32, {2, 3});
  Tensor y(DType::kFloat32, {2, 3});
  std::mt19937_64 rng(1);
  KernelContext forward(attrs, /*dnnl=*/nullptr, {&x}, {&y},
                        /*training=*/true, &rng);
  Tensor wanted;
  Tensor scratch0, scratch1;
  GradContext ctx(&forward, {&y}, {&wanted, nullptr}, {nullptr, nullptr});
  ASSERT_TRUE(ctx.needs_input_grad(0));
  ASSERT_FALSE(ctx.needs_input_grad(1));

  Tensor* g0 = ctx.input_grad_or_scratch(0, {2, 3}, &scratch0);
  EXPECT_EQ(g0, &wanted);
  EXPECT_EQ(wanted.shape(), (Shape{2, 3}));
  EXPECT_EQ(wanted.dtype(), DType::kFloat32);
  EXPECT_FALSE(scratch0.is_initialized());  // Untouched.

  Tensor* g1 = ctx.input_grad_or_scratch(1, {4}, &scratch1);
  EXPECT_EQ(g1, &scratch1);
  EXPECT_EQ(scratch1.shape(), (Shape{4}));
  ASSERT_TRUE(scratch1.is_initialized());

  // The next step reuses the scratch buffer.
  const void* buffer = scratch1.raw();
  EXPECT_EQ(ctx.input_grad_or_scratch(1, {4}, &scratch1)->raw(), buffer);
}

class FusedBackwardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(RegisterBuiltinOps(&registry_).ok());
    ASSERT_TRUE(registry_.Register(ScaleShiftOp(&probe_)).ok());
  }

  OpTestCase Case() const {
    OpTestCase test;
    test.op = "ScaleShift";
    test.inputs = {RandomTensor({3, 4}, 1), RandomTensor({3, 4}, 2),
                   RandomTensor({3, 4}, 3)};
    return test;
  }

  FusedProbe probe_;
  OpRegistry registry_;
};

// Only the wanted gradients reach the executor; the fused loop writes the
// others to the kernel's scratch tensors.
TEST_F(FusedBackwardTest, UnwantedGradientsGoToScratch) {
  OpTestCase test = Case();
  test.differentiable = {true, false, true};  // a is fed, not a parameter.
  const Tensor ones = Tensor::FromVector({3, 4}, std::vector<float>(12, 1.0f));
  auto grads = ComputeGradients(registry_, test, {ones});
  ASSERT_TRUE(grads.ok()) << grads.status();
  EXPECT_EQ(probe_.wanted, (std::vector<bool>{true, false, true}));
  ASSERT_EQ(grads->size(), 3u);
  EXPECT_FALSE((*grads)[1].is_initialized());  // Not wanted, not returned.
  for (int i = 0; i < 12; ++i) {
    EXPECT_FLOAT_EQ((*grads)[0].f32()[i], test.inputs[1]->f32()[i]);  // a
    EXPECT_FLOAT_EQ((*grads)[2].f32()[i], 1.0f);
  }

  GradientCheckOptions options;
  options.max_checks_per_input = 0;
  auto report = CheckGradients(registry_, test, options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok) << report->worst;
  EXPECT_EQ(report->checked, 24);
}

TEST_F(FusedBackwardTest, EveryGradientWanted) {
  GradientCheckOptions options;
  options.max_checks_per_input = 0;
  auto report = CheckGradients(registry_, Case(), options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok) << report->worst;
  EXPECT_EQ(probe_.wanted, (std::vector<bool>{true, true, true}));
}

// Backward sees the training flag of its Forward: in op_testing that is
// OpTestCase::training (check_op's --training), false by default.
TEST_F(FusedBackwardTest, BackwardRunsInTheTestCasesMode) {
  const Tensor ones = Tensor::FromVector({3, 4}, std::vector<float>(12, 1.0f));
  OpTestCase test = Case();
  ASSERT_FALSE(test.training);
  ASSERT_TRUE(ComputeGradients(registry_, test, {ones}).ok());
  EXPECT_EQ(probe_.backward_calls, 1);
  EXPECT_FALSE(probe_.training);

  test.training = true;
  ASSERT_TRUE(CheckGradients(registry_, test).ok());
  EXPECT_TRUE(probe_.training);
}

// The built-in activations (ops/activations.cc, the guide's oneDNN
// example) write no gradient that is not wanted.
TEST(ActivationGradContractTest, NoGradientWantedWritesNothing) {
  for (const char* op : {"Relu", "Sigmoid", "Tanh"}) {
    SCOPED_TRACE(op);
    const OpDef* def = BuiltinRegistry().Find(op);
    ASSERT_NE(def, nullptr);
    AttrMap attrs;
    const std::string name = "node";
    ValueInfo info{DType::kFloat32, {2, 3}};
    std::vector<const ValueInfo*> infos = {&info};
    auto kernel = def->kernels[0].create(KernelInitContext{name, attrs, infos});
    ASSERT_TRUE(kernel.ok()) << kernel.status();

    DnnlContext dnnl;
    std::mt19937_64 rng(1);
    Tensor x = RandomTensor({2, 3}, 5);
    Tensor y;
    KernelContext forward(attrs, &dnnl, {&x}, {&y}, /*training=*/true, &rng);
    ASSERT_TRUE((*kernel)->Forward(forward).ok());
    Tensor dy = RandomTensor({2, 3}, 6);

    GradContext unwanted(&forward, {&dy}, {nullptr}, {nullptr});
    EXPECT_TRUE((*kernel)->Backward(unwanted).ok());

    Tensor dx;
    GradContext wanted(&forward, {&dy}, {&dx}, {nullptr});
    ASSERT_TRUE((*kernel)->Backward(wanted).ok());
    EXPECT_EQ(dx.shape(), (Shape{2, 3}));
  }
}

}  // namespace
}  // namespace loom::testing
