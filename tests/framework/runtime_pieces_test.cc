// Tensors, initializers, optimizers and checkpoints.
#include <cmath>
#include <fstream>
#include <random>

#include "framework/checkpoint.h"
#include "framework/file_util.h"
#include "framework/initializers.h"
#include "framework/optimizer.h"
#include "framework/tensor.h"
#include "framework/testing/op_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loom::testing {
namespace {

using ::testing::HasSubstr;

std::string TempPath(const std::string& name) {
  return std::string(getenv("TEST_TMPDIR")) + "/" + name;
}

TEST(TensorTest, ResizeReusesUnsharedBuffers) {
  Tensor t(DType::kFloat32, {4, 8});
  const void* before = t.raw();
  t.Resize(DType::kFloat32, {2, 8});
  EXPECT_EQ(t.raw(), before);
  EXPECT_EQ(t.num_elements(), 16);
  Tensor shared = t;  // Shares the buffer, so t must not reuse it.
  t.Resize(DType::kFloat32, {3, 8});
  EXPECT_NE(t.raw(), shared.raw());
  EXPECT_EQ(ShapeToString({-1, 3}), "[?, 3]");
}

TEST(InitializerTest, GlorotUniformHasKerasLimit) {
  Tensor w(DType::kFloat32, {64, 128});
  InitializerDef def;
  def.mutable_glorot_uniform();
  std::mt19937_64 rng(1);
  ASSERT_TRUE(InitializeTensor(def, rng, &w).ok());
  const float limit = std::sqrt(6.0f / (64 + 128));
  float lo = 1, hi = -1;
  double mean = 0;
  for (float v : w.flat()) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    mean += v;
  }
  EXPECT_GE(lo, -limit);
  EXPECT_LE(hi, limit);
  EXPECT_GT(hi, 0.95f * limit);
  EXPECT_NEAR(mean / w.num_elements(), 0.0, 0.01);
}

TEST(InitializerTest, OrthogonalRowsAreOrthonormal) {
  // Keras' recurrent kernel shape: [H, 4H]; its rows are orthonormal.
  Tensor w(DType::kFloat32, {8, 32});
  InitializerDef def;
  def.mutable_orthogonal();
  std::mt19937_64 rng(2);
  ASSERT_TRUE(InitializeTensor(def, rng, &w).ok());
  for (int i = 0; i < 8; ++i) {
    for (int j = 0; j < 8; ++j) {
      double dot = 0;
      for (int k = 0; k < 32; ++k) {
        dot += double{w.f32()[i * 32 + k]} * w.f32()[j * 32 + k];
      }
      EXPECT_NEAR(dot, i == j ? 1.0 : 0.0, 1e-5) << i << "," << j;
    }
  }
}

TEST(InitializerTest, SegmentsSetTheForgetGateBias) {
  Tensor b(DType::kFloat32, {12});
  InitializerDef def;
  auto* seg = def.mutable_segments()->add_segment();
  seg->set_begin(3);
  seg->set_end(6);
  seg->set_value(1);
  std::mt19937_64 rng(3);
  ASSERT_TRUE(InitializeTensor(def, rng, &b).ok());
  for (int i = 0; i < 12; ++i) {
    EXPECT_EQ(b.f32()[i], i >= 3 && i < 6 ? 1.0f : 0.0f);
  }
  seg->set_end(13);
  EXPECT_THAT(std::string(InitializeTensor(def, rng, &b).message()),
              HasSubstr("outside the last dimension 12"));
}

std::vector<Parameter> OneParameter(std::vector<float> w,
                                    std::vector<float> g) {
  std::vector<Parameter> params(1);
  params[0].name = "w";
  const int64_t n = static_cast<int64_t>(w.size());
  params[0].value = Tensor::FromVector({n}, w);
  params[0].grad = Tensor::FromVector({n}, g);
  return params;
}

TEST(OptimizerTest, AdamMatchesKerasUpdate) {
  OptimizerDef def;
  def.mutable_adam();  // Keras defaults.
  auto adam = CreateOptimizer(def);
  ASSERT_TRUE(adam.ok());
  auto params = OneParameter({1.0f, -2.0f}, {0.5f, -0.1f});
  ASSERT_TRUE((*adam)->Apply(params).ok());
  // Step 1: m = 0.1 g, v = 0.001 g^2, alpha = lr * sqrt(0.001) / 0.1.
  for (int i = 0; i < 2; ++i) {
    const double g = i == 0 ? 0.5 : -0.1;
    const double m = 0.1 * g, v = 0.001 * g * g;
    const double alpha = 1e-3 * std::sqrt(1 - 0.999) / (1 - 0.9);
    const double expected =
        (i == 0 ? 1.0 : -2.0) - alpha * m / (std::sqrt(v) + 1e-7);
    EXPECT_NEAR(params[0].value.f32()[i], expected, 1e-7);
  }
  EXPECT_EQ((*adam)->iterations(), 1);
}

TEST(OptimizerTest, SgdWithMomentumMatchesKerasUpdate) {
  OptimizerDef def;
  def.mutable_sgd()->set_learning_rate(0.1f);
  def.mutable_sgd()->set_momentum(0.9f);
  auto sgd = CreateOptimizer(def);
  ASSERT_TRUE(sgd.ok());
  auto params = OneParameter({1.0f}, {2.0f});
  ASSERT_TRUE((*sgd)->Apply(params).ok());  // v = -0.2, w = 0.8
  ASSERT_TRUE((*sgd)->Apply(params).ok());  // v = -0.38, w = 0.42
  EXPECT_NEAR(params[0].value.f32()[0], 0.42, 1e-6);
  def.mutable_sgd()->set_momentum(1.5f);
  EXPECT_THAT(std::string(CreateOptimizer(def).status().message()),
              HasSubstr("momentum in [0, 1)"));
}

TEST(CheckpointTest, RoundTripsAndRefusesDamage) {
  auto params = OneParameter({1.5f, 2.5f, -3.0f}, {0, 0, 0});
  const std::string path = TempPath("model.ckpt");
  ASSERT_TRUE(SaveCheckpoint(params, path).ok());
  auto loaded = OneParameter({0, 0, 0}, {0, 0, 0});
  ASSERT_TRUE(LoadCheckpoint(path, &loaded).ok());
  EXPECT_EQ(loaded[0].value.f32()[2], -3.0f);

  auto contents = ReadFile(path);
  ASSERT_TRUE(contents.ok());
  // Truncated.
  ASSERT_TRUE(WriteFileAtomically(path + ".cut",
                                  contents->substr(0, contents->size() / 2))
                  .ok());
  EXPECT_EQ(LoadCheckpoint(path + ".cut", &loaded).code(),
            absl::StatusCode::kDataLoss);
  // One flipped byte.
  std::string flipped = *contents;
  flipped[20] ^= 0x40;
  ASSERT_TRUE(WriteFileAtomically(path + ".bad", flipped).ok());
  EXPECT_THAT(std::string(LoadCheckpoint(path + ".bad", &loaded).message()),
              HasSubstr("corrupt or truncated"));
  // Not a checkpoint at all.
  ASSERT_TRUE(WriteFileAtomically(path + ".txt", "hello").ok());
  EXPECT_THAT(std::string(LoadCheckpoint(path + ".txt", &loaded).message()),
              HasSubstr("is not a Loom checkpoint"));
  // A model with other shapes.
  auto other = OneParameter({0, 0}, {0, 0});
  EXPECT_THAT(std::string(LoadCheckpoint(path, &other).message()),
              HasSubstr("parameter 'w' has shape [3], the model expects [2]"));
  EXPECT_EQ(other[0].value.f32()[0], 0.0f);  // Untouched on error.
}

}  // namespace
}  // namespace loom::testing
