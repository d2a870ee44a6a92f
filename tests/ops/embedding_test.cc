#include <memory>
#include <random>
#include <vector>

#include "framework/op.h"
#include "framework/testing/op_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loom::testing {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

Tensor RandomIds(const Shape& shape, int32_t vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int32_t> dist(0, vocab - 1);
  std::vector<int32_t> ids(NumElements(shape));
  for (int32_t& id : ids) id = dist(rng);
  return Tensor::FromVector(shape, ids);
}

OpTestCase EmbeddingCase(const Tensor& ids, const Tensor& table,
                         bool mask_zero) {
  OpTestCase test{
      "Embedding", {{"mask_zero", BoolValue(mask_zero)}}, {ids, table}};
  return test;
}

TEST(EmbeddingTest, ForwardMatchesReference) {
  const int32_t vocab = 9;
  const int64_t width = 5;
  Tensor table = RandomTensor({vocab, width}, 3);
  for (const Shape& shape : {Shape{4}, Shape{2, 3}, Shape{5, 7}}) {
    Tensor ids = RandomIds(shape, vocab, 17);
    ids.i32()[0] = 0;  // At least one padding id.
    for (bool mask_zero : {false, true}) {
      auto out = RunOp(BuiltinRegistry(), EmbeddingCase(ids, table, mask_zero));
      ASSERT_TRUE(out.ok()) << out.status();
      Shape y_shape = shape;
      y_shape.push_back(width);
      const Tensor& y = (*out)[0];
      const Tensor& mask = (*out)[1];
      ASSERT_EQ(y.shape(), y_shape);
      ASSERT_EQ(mask.shape(), shape);
      for (int64_t k = 0; k < ids.num_elements(); ++k) {
        const int32_t id = ids.i32()[k];
        for (int64_t j = 0; j < width; ++j) {
          EXPECT_EQ(y.f32()[k * width + j], table.f32()[id * width + j])
              << "position " << k << " column " << j;
        }
        EXPECT_EQ(mask.f32()[k], mask_zero && id == 0 ? 0.0f : 1.0f)
            << "mask at " << k << " (mask_zero=" << mask_zero << ")";
      }
    }
  }
}

TEST(EmbeddingTest, OutOfVocabularyIdsAreErrors) {
  Tensor table = RandomTensor({6, 2}, 1);
  Tensor too_big =
      Tensor::FromVector({2, 3}, std::vector<int32_t>{1, 2, 3, 4, 5, 6});
  auto out = RunOp(BuiltinRegistry(), EmbeddingCase(too_big, table, false));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(out.status().message(),
              AllOf(HasSubstr("id 6"), HasSubstr("[1, 2]")));

  Tensor negative = Tensor::FromVector({3}, std::vector<int32_t>{0, -4, 1});
  out = RunOp(BuiltinRegistry(), EmbeddingCase(negative, table, false));
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(),
              AllOf(HasSubstr("id -4"), HasSubstr("[1]")));
}

TEST(EmbeddingTest, ShapeErrors) {
  Tensor table = RandomTensor({6, 2}, 1);
  Tensor float_ids = RandomTensor({2, 3}, 2);
  OpTestCase test = EmbeddingCase(float_ids, table, false);
  test.differentiable = {false, true};
  auto out = RunOp(BuiltinRegistry(), test);
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("ids must be int32"));

  Tensor ids3 = Tensor::FromVector({1, 1, 2}, std::vector<int32_t>{1, 2});
  out = RunOp(BuiltinRegistry(), EmbeddingCase(ids3, table, false));
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("ids must be [N, T] or [N]"));
}

// The table is a parameter, so the executor asks for sparse rows; after
// scattering they must equal a dense reference, repeated ids adding up.
TEST(EmbeddingTest, SparseGradientEqualsDenseReference) {
  const int32_t vocab = 8;
  const int64_t width = 3;
  Tensor table = RandomTensor({vocab, width}, 5);
  Tensor ids = Tensor::FromVector(
      {3, 4}, std::vector<int32_t>{2, 2, 5, 0, 7, 2, 0, 0, 5, 1, 2, 7});
  Tensor weights = RandomTensor({3, 4, width}, 9);
  for (bool mask_zero : {false, true}) {
    // The mask output gets a weight too: it must contribute nothing.
    Tensor mask_weights = RandomTensor({3, 4}, 10);
    auto grads = ComputeGradients(BuiltinRegistry(),
                                  EmbeddingCase(ids, table, mask_zero),
                                  {weights, mask_weights});
    ASSERT_TRUE(grads.ok()) << grads.status();
    const Tensor& dtable = (*grads)[1];
    ASSERT_EQ(dtable.shape(), table.shape());

    std::vector<double> expected(vocab * width, 0.0);
    for (int64_t k = 0; k < ids.num_elements(); ++k) {
      for (int64_t j = 0; j < width; ++j) {
        expected[ids.i32()[k] * width + j] += weights.f32()[k * width + j];
      }
    }
    for (int64_t i = 0; i < vocab * width; ++i) {
      EXPECT_NEAR(dtable.f32()[i], expected[i], 1e-5) << "element " << i;
    }
    // Rows 3, 4 and 6 are never looked up.
    for (int row : {3, 4, 6}) {
      for (int64_t j = 0; j < width; ++j) {
        EXPECT_EQ(dtable.f32()[row * width + j], 0.0f);
      }
    }
  }
}

TEST(EmbeddingTest, GradientMatchesFiniteDifferences) {
  Tensor table = RandomTensor({6, 4}, 21);
  Tensor ids =
      Tensor::FromVector({2, 3}, std::vector<int32_t>{1, 4, 1, 0, 5, 4});
  GradientCheckOptions options;
  options.max_checks_per_input = 0;  // All 24.
  auto report = CheckGradients(BuiltinRegistry(),
                               EmbeddingCase(ids, table, true), options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok) << report->worst;
  EXPECT_EQ(report->checked, 24);
}

// Runs the kernel directly, to see the gradient it writes in each form.
struct DirectRun {
  NodeDef node;
  AttrMap attrs;
  ValueInfo ids_info{DType::kInt32, {}};
  ValueInfo table_info;
  std::vector<const ValueInfo*> infos;
  std::unique_ptr<OpKernel> kernel;
  DnnlContext dnnl;
  std::mt19937_64 rng{1};
  Tensor y, mask;
  std::unique_ptr<KernelContext> ctx;
};

TEST(EmbeddingTest, KernelWritesSparseRowsOrDenseGradient) {
  const OpDef* op = BuiltinRegistry().Find("Embedding");
  ASSERT_NE(op, nullptr);
  EXPECT_EQ(op->sparse_grad_inputs, std::vector<int>{1});
  Tensor table = RandomTensor({5, 2}, 4);
  Tensor ids = Tensor::FromVector({2, 2}, std::vector<int32_t>{3, 1, 3, 0});
  Tensor dy = RandomTensor({2, 2, 2}, 8);

  DirectRun run;
  auto attrs = AttrMap::Resolve(op->signature.attrs, run.node.attr());
  ASSERT_TRUE(attrs.ok()) << attrs.status();
  run.attrs = *attrs;
  run.ids_info.shape = ids.shape();
  run.table_info.shape = table.shape();
  run.infos = {&run.ids_info, &run.table_info};
  KernelInitContext init{"embedding", run.attrs, run.infos};
  auto kernel = op->kernels[0].create(init);
  ASSERT_TRUE(kernel.ok()) << kernel.status();
  run.kernel = *std::move(kernel);
  run.ctx = std::make_unique<KernelContext>(
      run.attrs, &run.dnnl, std::vector<const Tensor*>{&ids, &table},
      std::vector<Tensor*>{&run.y, &run.mask}, true, &run.rng);
  ASSERT_TRUE(run.kernel->Forward(*run.ctx).ok());

  // Sparse: one row per id, in order, with the output gradient's rows.
  SparseRows sparse;
  GradContext sparse_ctx(run.ctx.get(), {&dy, nullptr}, {nullptr, nullptr},
                         {nullptr, &sparse});
  ASSERT_TRUE(run.kernel->Backward(sparse_ctx).ok());
  EXPECT_EQ(sparse.rows, (std::vector<int32_t>{3, 1, 3, 0}));
  ASSERT_EQ(sparse.values.shape(), (Shape{4, 2}));
  for (int64_t i = 0; i < 8; ++i) {
    EXPECT_EQ(sparse.values.f32()[i], dy.f32()[i]);
  }

  // Dense: the same rows scattered into [V, E].
  Tensor dense;
  GradContext dense_ctx(run.ctx.get(), {&dy, nullptr}, {nullptr, &dense},
                        {nullptr, nullptr});
  ASSERT_TRUE(run.kernel->Backward(dense_ctx).ok());
  ASSERT_EQ(dense.shape(), table.shape());
  const float* g = dy.f32();
  const std::vector<float> expected = {
      g[6],        g[7],         // row 0
      g[2],        g[3],         // row 1
      0,           0,            // row 2
      g[0] + g[4], g[1] + g[5],  // row 3 (twice)
      0,           0};           // row 4
  for (int64_t i = 0; i < 10; ++i) {
    EXPECT_FLOAT_EQ(dense.f32()[i], expected[i]) << "element " << i;
  }

  // Only the mask used: no gradient.
  SparseRows none;
  GradContext mask_only(run.ctx.get(), {nullptr, &run.mask}, {nullptr, nullptr},
                        {nullptr, &none});
  ASSERT_TRUE(run.kernel->Backward(mask_only).ok());
  EXPECT_TRUE(none.rows.empty());
}

}  // namespace
}  // namespace loom::testing
