// Add, MatMul and MeanSquaredError: forward against naive references,
// gradients against finite differences, and shape errors.
#include <cmath>
#include <cstdint>
#include <optional>
#include <random>
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

GradientCheckOptions CheckAll() {
  GradientCheckOptions options;
  options.max_checks_per_input = 0;
  return options;
}

// ---------------------------------------------------------------------------
// Add.

TEST(AddTest, ForwardMatchesReference) {
  for (const Shape& shape : {Shape{1}, Shape{3, 4}, Shape{2, 3, 5}}) {
    Tensor a = RandomTensor(shape, 1);
    Tensor b = RandomTensor(shape, 2);
    auto out = RunOp(BuiltinRegistry(), {"Add", {}, {a, b}});
    ASSERT_TRUE(out.ok()) << out.status();
    const Tensor& c = (*out)[0];
    ASSERT_EQ(c.shape(), shape);
    for (int64_t i = 0; i < c.num_elements(); ++i) {
      EXPECT_EQ(c.f32()[i], a.f32()[i] + b.f32()[i]) << "element " << i;
    }
  }
}

TEST(AddTest, HandComputed) {
  Tensor a = Tensor::FromVector({2, 2}, std::vector<float>{1, 2, 3, 4});
  Tensor b = Tensor::FromVector({2, 2}, std::vector<float>{10, 20, 30, -4});
  auto out = RunOp(BuiltinRegistry(), {"Add", {}, {a, b}});
  ASSERT_TRUE(out.ok()) << out.status();
  const std::vector<float> expected = {11, 22, 33, 0};
  for (int i = 0; i < 4; ++i) EXPECT_EQ((*out)[0].f32()[i], expected[i]);
}

// Parameters cannot be scalars, so the harness feeds scalar inputs (they
// get no gradient there); `scalar_first` puts the scalar in input a.
OpTestCase AddWithScalar(const Tensor& x, float scalar, bool scalar_first) {
  OpTestCase test{"Add", {}, {}};
  const Tensor s = Tensor::Scalar(scalar);
  test.inputs = scalar_first ? std::vector<std::optional<Tensor>>{s, x}
                             : std::vector<std::optional<Tensor>>{x, s};
  test.differentiable = scalar_first ? std::vector<bool>{false, true}
                                     : std::vector<bool>{true, false};
  return test;
}

TEST(AddTest, ScalarIsBroadcastOnEitherSide) {
  Tensor x = RandomTensor({2, 3}, 3);
  for (bool scalar_first : {true, false}) {
    auto out = RunOp(BuiltinRegistry(), AddWithScalar(x, 0.75f, scalar_first));
    ASSERT_TRUE(out.ok()) << out.status();
    const Tensor& c = (*out)[0];
    ASSERT_EQ(c.shape(), (Shape{2, 3})) << "scalar first " << scalar_first;
    for (int64_t i = 0; i < 6; ++i) {
      EXPECT_EQ(c.f32()[i], x.f32()[i] + 0.75f)
          << "scalar first " << scalar_first << ", element " << i;
    }
  }
  // Two scalars give a scalar.
  OpTestCase both{"Add", {}, {Tensor::Scalar(1.5f), Tensor::Scalar(-4)}};
  both.differentiable = {false, false};
  auto out = RunOp(BuiltinRegistry(), both);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)[0].shape(), Shape{});
  EXPECT_EQ((*out)[0].f32()[0], -2.5f);
}

TEST(AddTest, BroadcastScalarGradientMatchesFiniteDifferences) {
  // The gradient of the tensor next to a broadcast scalar.
  for (bool scalar_first : {true, false}) {
    auto report = CheckGradients(
        BuiltinRegistry(),
        AddWithScalar(RandomTensor({2, 5}, 4), 0.3f, scalar_first), CheckAll());
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_TRUE(report->ok)
        << "scalar first " << scalar_first << ": " << report->worst;
    EXPECT_EQ(report->checked, 10);
  }
}

// Runs Add's registered kernel directly on (a, b), forward and then
// backward with output gradient `dc`, so the gradient of a scalar input
// (which the harness can only feed) can be checked too.
struct AddResult {
  Tensor c, da, db;
};

absl::StatusOr<AddResult> RunAddKernel(const Tensor& a, const Tensor& b,
                                       const Tensor& dc, int kernel_index = 0) {
  const OpDef* def = BuiltinRegistry().Find("Add");
  if (def == nullptr) return absl::NotFoundError("no Add op");
  const ValueInfo a_info{DType::kFloat32, a.shape()};
  const ValueInfo b_info{DType::kFloat32, b.shape()};
  const std::vector<const ValueInfo*> infos = {&a_info, &b_info};
  const std::string name = "add";
  const AttrMap attrs;
  LOOM_ASSIGN_OR_RETURN(
      auto kernel, def->kernels[kernel_index].create({name, attrs, infos}));
  DnnlContext dnnl;
  std::mt19937_64 rng(1);
  AddResult r;
  KernelContext ctx(attrs, &dnnl, {&a, &b}, {&r.c}, /*training=*/true, &rng);
  LOOM_RETURN_IF_ERROR(kernel->Forward(ctx));
  GradContext grad(&ctx, {&dc}, {&r.da, &r.db}, {nullptr, nullptr});
  LOOM_RETURN_IF_ERROR(kernel->Backward(grad));
  return r;
}

// Both kernels (the loop and oneDNN's binary_add) give every sum and
// gradient exactly: same shapes, a scalar on either side, two scalars.
TEST(AddTest, EveryKernelGivesExactSumsAndGradients) {
  const OpDef* def = BuiltinRegistry().Find("Add");
  ASSERT_NE(def, nullptr);
  ASSERT_EQ(def->kernels.size(), 2u);
  EXPECT_EQ(def->kernels[1].name, "onednn");
  const Tensor scalar = Tensor::Scalar(0.25f);
  const std::vector<std::pair<Tensor, Tensor>> cases = {
      {RandomTensor({2, 3, 5}, 1), RandomTensor({2, 3, 5}, 2)},
      {scalar, RandomTensor({4, 3}, 3)},
      {RandomTensor({4, 3}, 4), scalar},
      {scalar, Tensor::Scalar(-2.0f)}};
  for (int k = 0; k < 2; ++k) {
    for (const auto& [a, b] : cases) {
      const Shape shape = a.rank() > 0 ? a.shape() : b.shape();
      const Tensor dc = RandomTensor(shape, 5);
      auto r = RunAddKernel(a, b, dc, k);
      ASSERT_TRUE(r.ok()) << def->kernels[k].name << ": " << r.status();
      ASSERT_EQ(r->c.shape(), shape);
      double dc_sum = 0;
      for (float v : dc.flat()) dc_sum += v;
      for (int64_t i = 0; i < r->c.num_elements(); ++i) {
        const float ai = a.num_elements() == 1 ? a.f32()[0] : a.f32()[i];
        const float bi = b.num_elements() == 1 ? b.f32()[0] : b.f32()[i];
        EXPECT_EQ(r->c.f32()[i], ai + bi) << def->kernels[k].name;
      }
      for (const auto& [x, dx] : {std::pair{&a, &r->da}, {&b, &r->db}}) {
        ASSERT_EQ(dx->shape(), x->shape());
        if (x->shape() == shape) {
          EXPECT_EQ(dx->flat(), dc.flat()) << def->kernels[k].name;
        } else {
          EXPECT_EQ(dx->f32()[0], static_cast<float>(dc_sum));
        }
      }
    }
  }
}

TEST(AddTest, BroadcastScalarGradientIsTheSum) {
  Tensor x = RandomTensor({2, 3}, 5);
  Tensor w = Tensor::FromVector({2, 3}, std::vector<float>{1, 2, 3, 4, 5, -6});
  for (bool scalar_first : {true, false}) {
    const Tensor s = Tensor::Scalar(2);
    auto r = scalar_first ? RunAddKernel(s, x, w) : RunAddKernel(x, s, w);
    ASSERT_TRUE(r.ok()) << r.status();
    const Tensor& ds = scalar_first ? r->da : r->db;
    const Tensor& dx = scalar_first ? r->db : r->da;
    ASSERT_EQ(ds.shape(), Shape{});
    EXPECT_FLOAT_EQ(ds.f32()[0], 9.0f);
    ASSERT_EQ(dx.shape(), (Shape{2, 3}));
    for (int i = 0; i < 6; ++i) EXPECT_EQ(dx.f32()[i], w.f32()[i]);

    // Central difference in the scalar of <w, c>.
    auto weighted = [&](float v) {
      const Tensor sv = Tensor::Scalar(v);
      auto rv = scalar_first ? RunAddKernel(sv, x, w) : RunAddKernel(x, sv, w);
      if (!rv.ok()) return std::nan("");
      double sum = 0;
      for (int i = 0; i < 6; ++i) sum += double{rv->c.f32()[i]} * w.f32()[i];
      return sum;
    };
    const double numeric = (weighted(2.01f) - weighted(1.99f)) / 0.02;
    EXPECT_NEAR(ds.f32()[0], numeric, 1e-3) << "scalar first " << scalar_first;
  }
}

TEST(AddTest, MismatchedShapesAreAnError) {
  auto out =
      RunOp(BuiltinRegistry(),
            {"Add", {}, {RandomTensor({2, 3}, 1), RandomTensor({3, 2}, 2)}});
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(),
              HasSubstr("cannot add [2, 3] and [3, 2]"));
  // Only a rank-0 scalar is broadcast, not a one-element tensor.
  out = RunOp(BuiltinRegistry(),
              {"Add", {}, {RandomTensor({2, 3}, 1), RandomTensor({1}, 2)}});
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("cannot add [2, 3] and [1]"));
}

// ---------------------------------------------------------------------------
// MatMul.

// c[i, j] = sum_p a[i, p] b[p, j], in double.
std::vector<double> ReferenceMatMul(const Tensor& a, const Tensor& b) {
  const int64_t m = a.dim(0), k = a.dim(1), n = b.dim(1);
  std::vector<double> c(m * n, 0.0);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      for (int64_t p = 0; p < k; ++p) {
        c[i * n + j] += double{a.f32()[i * k + p]} * b.f32()[p * n + j];
      }
    }
  }
  return c;
}

TEST(MatMulTest, ForwardMatchesReference) {
  struct Dims {
    int64_t m, k, n;
  };
  for (const Dims& d : {Dims{1, 1, 1}, Dims{3, 4, 5}, Dims{7, 16, 2},
                        Dims{1, 9, 1}, Dims{33, 17, 20}}) {
    Tensor a = RandomTensor({d.m, d.k}, 1);
    Tensor b = RandomTensor({d.k, d.n}, 2);
    auto out = RunOp(BuiltinRegistry(), {"MatMul", {}, {a, b}});
    ASSERT_TRUE(out.ok()) << out.status();
    const Tensor& c = (*out)[0];
    ASSERT_EQ(c.shape(), (Shape{d.m, d.n}));
    const std::vector<double> expected = ReferenceMatMul(a, b);
    for (int64_t i = 0; i < c.num_elements(); ++i) {
      EXPECT_NEAR(c.f32()[i], expected[i], 1e-5)
          << d.m << "x" << d.k << "x" << d.n << ", element " << i;
    }
  }
}

TEST(MatMulTest, HandComputed) {
  Tensor a = Tensor::FromVector({2, 3}, std::vector<float>{1, 2, 3, 4, 5, 6});
  Tensor b =
      Tensor::FromVector({3, 2}, std::vector<float>{7, 8, 9, 10, 11, 12});
  auto out = RunOp(BuiltinRegistry(), {"MatMul", {}, {a, b}});
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ((*out)[0].shape(), (Shape{2, 2}));
  const std::vector<float> expected = {58, 64, 139, 154};
  for (int i = 0; i < 4; ++i) EXPECT_EQ((*out)[0].f32()[i], expected[i]);
}

TEST(MatMulTest, GradientsAreTransposedProducts) {
  // da = w * b^T and db = a^T * w, from naive loops.
  const int64_t m = 3, k = 4, n = 2;
  Tensor a = RandomTensor({m, k}, 1);
  Tensor b = RandomTensor({k, n}, 2);
  Tensor w = RandomTensor({m, n}, 3);
  auto grads = ComputeGradients(BuiltinRegistry(), {"MatMul", {}, {a, b}}, {w});
  ASSERT_TRUE(grads.ok()) << grads.status();
  const Tensor& da = (*grads)[0];
  const Tensor& db = (*grads)[1];
  ASSERT_EQ(da.shape(), (Shape{m, k}));
  ASSERT_EQ(db.shape(), (Shape{k, n}));
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t p = 0; p < k; ++p) {
      double sum = 0;
      for (int64_t j = 0; j < n; ++j) {
        sum += double{w.f32()[i * n + j]} * b.f32()[p * n + j];
      }
      EXPECT_NEAR(da.f32()[i * k + p], sum, 1e-5) << "da " << i << ", " << p;
    }
  }
  for (int64_t p = 0; p < k; ++p) {
    for (int64_t j = 0; j < n; ++j) {
      double sum = 0;
      for (int64_t i = 0; i < m; ++i) {
        sum += double{a.f32()[i * k + p]} * w.f32()[i * n + j];
      }
      EXPECT_NEAR(db.f32()[p * n + j], sum, 1e-5) << "db " << p << ", " << j;
    }
  }
}

TEST(MatMulTest, GradientMatchesFiniteDifferences) {
  struct Dims {
    int64_t m, k, n;
  };
  for (const Dims& d : {Dims{3, 4, 5}, Dims{5, 2, 3}, Dims{1, 6, 1}}) {
    auto report = CheckGradients(
        BuiltinRegistry(),
        {"MatMul",
         {},
         {RandomTensor({d.m, d.k}, 1), RandomTensor({d.k, d.n}, 2)}},
        CheckAll());
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_TRUE(report->ok) << report->worst;
    EXPECT_EQ(report->checked, d.m * d.k + d.k * d.n);
  }
}

TEST(MatMulTest, GradientOfOneInputOnly) {
  Tensor a = RandomTensor({3, 4}, 1);
  Tensor b = RandomTensor({4, 2}, 2);
  OpTestCase test{"MatMul", {}, {a, b}};
  test.differentiable = {false, true};
  auto report = CheckGradients(BuiltinRegistry(), test, CheckAll());
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok) << report->worst;
  EXPECT_EQ(report->checked, 8);
}

TEST(MatMulTest, MismatchedInnerDimensionsAreAnError) {
  auto out =
      RunOp(BuiltinRegistry(),
            {"MatMul", {}, {RandomTensor({2, 3}, 1), RandomTensor({4, 5}, 2)}});
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(),
              AllOf(HasSubstr("cannot multiply [2, 3] by [4, 5]"),
                    HasSubstr("inner dimensions differ")));
  out = RunOp(
      BuiltinRegistry(),
      {"MatMul", {}, {RandomTensor({2, 3, 4}, 1), RandomTensor({4, 5}, 2)}});
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("must have rank 2"));
}

// ---------------------------------------------------------------------------
// MeanSquaredError.

double ReferenceMse(const Tensor& p, const Tensor& t) {
  double sum = 0;
  for (int64_t i = 0; i < p.num_elements(); ++i) {
    const double d = double{p.f32()[i]} - double{t.f32()[i]};
    sum += d * d;
  }
  return sum / p.num_elements();
}

TEST(MeanSquaredErrorTest, ForwardMatchesReference) {
  for (const Shape& shape : {Shape{1}, Shape{5}, Shape{4, 1}, Shape{2, 3, 4}}) {
    Tensor p = RandomTensor(shape, 1, -2, 2);
    Tensor t = RandomTensor(shape, 2, -2, 2);
    auto out = RunOp(BuiltinRegistry(), {"MeanSquaredError", {}, {p, t}});
    ASSERT_TRUE(out.ok()) << out.status();
    const Tensor& loss = (*out)[0];
    ASSERT_EQ(loss.shape(), Shape{});
    EXPECT_NEAR(loss.f32()[0], ReferenceMse(p, t), 1e-6)
        << ShapeToString(shape);
  }
}

TEST(MeanSquaredErrorTest, HandComputed) {
  // ((1 - 1)^2 + (2 - 0)^2 + (3 - 0)^2 + (-1 - 1)^2) / 4 = 17 / 4.
  Tensor p = Tensor::FromVector({2, 2}, std::vector<float>{1, 2, 3, -1});
  Tensor t = Tensor::FromVector({2, 2}, std::vector<float>{1, 0, 0, 1});
  auto out = RunOp(BuiltinRegistry(), {"MeanSquaredError", {}, {p, t}});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_FLOAT_EQ((*out)[0].f32()[0], 4.25f);

  // d loss / d p = 2 (p - t) / n, d loss / d t = -2 (p - t) / n, times the
  // seed 3.
  auto grads = ComputeGradients(
      BuiltinRegistry(), {"MeanSquaredError", {}, {p, t}}, {Tensor::Scalar(3)});
  ASSERT_TRUE(grads.ok()) << grads.status();
  const std::vector<float> dp = {0, 3, 4.5f, -3};
  for (int i = 0; i < 4; ++i) {
    EXPECT_FLOAT_EQ((*grads)[0].f32()[i], dp[i]) << "element " << i;
    EXPECT_FLOAT_EQ((*grads)[1].f32()[i], -dp[i]) << "element " << i;
  }
}

TEST(MeanSquaredErrorTest, GradientMatchesFiniteDifferences) {
  for (const Shape& shape : {Shape{6}, Shape{3, 4}}) {
    OpTestCase test{"MeanSquaredError",
                    {},
                    {RandomTensor(shape, 1), RandomTensor(shape, 2)}};
    auto report = CheckGradients(BuiltinRegistry(), test, CheckAll());
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_TRUE(report->ok) << report->worst;
    EXPECT_EQ(report->checked, 2 * NumElements(shape));

    // With the target fed rather than a parameter.
    test.differentiable = {true, false};
    report = CheckGradients(BuiltinRegistry(), test, CheckAll());
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_TRUE(report->ok) << report->worst;
    EXPECT_EQ(report->checked, NumElements(shape));
  }
}

TEST(MeanSquaredErrorTest, MismatchedShapesAreAnError) {
  auto out = RunOp(BuiltinRegistry(),
                   {"MeanSquaredError",
                    {},
                    {RandomTensor({2, 3}, 1), RandomTensor({3, 2}, 2)}});
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(),
              AllOf(HasSubstr("prediction [2, 3] and target [3, 2]"),
                    HasSubstr("different shapes")));
}

TEST(MeanSquaredErrorTest, IntegerTargetIsAnError) {
  // Read as floats, int bits would give a quietly wrong loss.
  auto out = RunOp(BuiltinRegistry(),
                   {"MeanSquaredError",
                    {},
                    {RandomTensor({3}, 1),
                     Tensor::FromVector({3}, std::vector<int32_t>{1, 0, 1})}});
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(),
              HasSubstr("input 1 must be float32, got int32"));
}

}  // namespace
}  // namespace loom::testing
