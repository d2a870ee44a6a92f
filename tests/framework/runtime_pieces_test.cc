// Tensors, initializers, optimizers and checkpoints.
#include <sys/stat.h>

#include <cmath>
#include <fstream>
#include <random>
#include <string>

#include "framework/checkpoint.h"
#include "framework/file_util.h"
#include "framework/graph.h"
#include "framework/initializers.h"
#include "framework/model_io.h"
#include "framework/optimizer.h"
#include "framework/tensor.h"
#include "framework/testing/op_testing.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "ops/op_library.h"

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

std::unique_ptr<Optimizer> MakeOptimizer(const std::string& text) {
  OptimizerDef def;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &def))
      << text;
  auto optimizer = CreateOptimizer(def);
  EXPECT_TRUE(optimizer.ok()) << optimizer.status();
  return optimizer.ok() ? *std::move(optimizer) : nullptr;
}

TEST(OptimizerTest, WarmupThenCosineDecay) {
  auto o = MakeOptimizer(
      "adam { learning_rate: 0.1 } schedule { warmup_steps: 4 cosine { "
      "decay_steps: 10 alpha: 0.1 } }");
  ASSERT_NE(o, nullptr);
  // Linear warmup to 0.1 over steps 0-3, then 0.1 * (0.9 * 0.5 * (1 +
  // cos(pi * u / 10)) + 0.1) over u = t - 4, flat at 0.01 from u = 10.
  const std::vector<std::pair<int64_t, double>> expected = {
      {0, 0.025}, {1, 0.05},  {3, 0.1},   {4, 0.1},
      {9, 0.055}, {14, 0.01}, {100, 0.01}};
  for (const auto& [t, rate] : expected) {
    EXPECT_NEAR(o->ScheduledRate(t), rate, 1e-7) << "step " << t;
  }
  EXPECT_NEAR(o->current_learning_rate(), 0.025, 1e-7);
  EXPECT_EQ(o->learning_rate(), 0.1f);  // The base rate is unchanged.
}

TEST(OptimizerTest, ExponentialAndStepDecay) {
  auto smooth = MakeOptimizer(
      "sgd { learning_rate: 1 } schedule { exponential { decay_steps: 3 "
      "decay_rate: 0.5 } }");
  auto steps = MakeOptimizer(
      "sgd { learning_rate: 1 } schedule { exponential { decay_steps: 3 "
      "decay_rate: 0.5 staircase: true } }");
  ASSERT_NE(smooth, nullptr);
  ASSERT_NE(steps, nullptr);
  EXPECT_NEAR(smooth->ScheduledRate(1), std::pow(0.5, 1.0 / 3), 1e-7);
  EXPECT_NEAR(smooth->ScheduledRate(6), 0.25, 1e-7);
  for (const auto& [t, rate] : std::vector<std::pair<int64_t, double>>{
           {0, 1}, {2, 1}, {3, 0.5}, {5, 0.5}, {7, 0.25}}) {
    EXPECT_NEAR(steps->ScheduledRate(t), rate, 1e-7) << "step " << t;
  }
}

TEST(OptimizerTest, StepsUseTheScheduledRate) {
  auto sgd =
      MakeOptimizer("sgd { learning_rate: 1 } schedule { warmup_steps: 2 }");
  ASSERT_NE(sgd, nullptr);
  auto params = OneParameter({1.0f}, {1.0f});
  ASSERT_TRUE(sgd->Apply(params).ok());  // Rate 0.5.
  EXPECT_FLOAT_EQ(params[0].value.f32()[0], 0.5f);
  ASSERT_TRUE(sgd->Apply(params).ok());  // Rate 1.
  EXPECT_FLOAT_EQ(params[0].value.f32()[0], -0.5f);
  EXPECT_EQ(sgd->iterations(), 2);
}

TEST(OptimizerTest, ClipnormScalesEachGradientToTheNorm) {
  auto sgd = MakeOptimizer("sgd { learning_rate: 1 } clipnorm: 1");
  ASSERT_NE(sgd, nullptr);
  std::vector<Parameter> params = OneParameter({0, 0}, {3, 4});
  params.push_back(OneParameter({0, 0}, {0.3f, 0.4f})[0]);  // Norm 0.5.
  ASSERT_TRUE(sgd->Apply(params).ok());
  EXPECT_THAT(params[0].value.flat(),
              ::testing::ElementsAre(::testing::FloatEq(-0.6f),
                                     ::testing::FloatEq(-0.8f)));
  EXPECT_THAT(params[1].value.flat(),  // Below the norm: unchanged.
              ::testing::ElementsAre(::testing::FloatEq(-0.3f),
                                     ::testing::FloatEq(-0.4f)));
}

TEST(OptimizerTest, GlobalClipnormScalesAllGradientsTogether) {
  auto sgd = MakeOptimizer("sgd { learning_rate: 1 } global_clipnorm: 2.5");
  ASSERT_NE(sgd, nullptr);
  std::vector<Parameter> params = OneParameter({0, 0}, {3, 0});
  params.push_back(OneParameter({0, 0}, {0, 4})[0]);  // Global norm 5.
  ASSERT_TRUE(sgd->Apply(params).ok());
  EXPECT_THAT(params[0].value.flat(),
              ::testing::ElementsAre(::testing::FloatEq(-1.5f), 0.0f));
  EXPECT_THAT(params[1].value.flat(),
              ::testing::ElementsAre(0.0f, ::testing::FloatEq(-2.0f)));
}

TEST(OptimizerTest, ClippingASparseGradientCountsItsTouchedRowsOnly) {
  auto sgd = MakeOptimizer("sgd { learning_rate: 1 } clipnorm: 1");
  ASSERT_NE(sgd, nullptr);
  std::vector<Parameter> params(1);
  params[0].name = "table";
  params[0].value = Tensor(DType::kFloat32, {3, 2});
  // Row 1 was touched (twice); rows 0 and 2 hold what an earlier step left
  // there, which neither counts nor moves.
  params[0].grad =
      Tensor::FromVector({3, 2}, std::vector<float>{100, 100, 3, 4, 50, 50});
  params[0].grad_is_sparse = true;
  params[0].touched_rows = {1, 1};
  ASSERT_TRUE(sgd->Apply(params).ok());
  EXPECT_THAT(params[0].value.flat(),
              ::testing::ElementsAre(0.0f, 0.0f, ::testing::FloatEq(-0.6f),
                                     ::testing::FloatEq(-0.8f), 0.0f, 0.0f));
}

TEST(OptimizerTest, AdamWDecaysWeightsBeforeTheAdamStep) {
  auto adamw = MakeOptimizer("adam { learning_rate: 0.1 weight_decay: 0.01 }");
  ASSERT_NE(adamw, nullptr);
  auto params = OneParameter({2.0f}, {0.5f});
  ASSERT_TRUE(adamw->Apply(params).ok());
  // w = 2 - 0.1 * 0.01 * 2, then Adam's first step of size ~lr.
  const double decayed = 2.0 - 0.1 * 0.01 * 2.0;
  const double m = 0.1 * 0.5, v = 0.001 * 0.25;
  const double alpha = 0.1 * std::sqrt(1 - 0.999) / (1 - 0.9);
  EXPECT_NEAR(params[0].value.f32()[0],
              decayed - alpha * m / (std::sqrt(v) + 1e-7), 1e-6);
}

TEST(OptimizerTest, LazyAdamUpdatesOnlyTheTouchedRows) {
  // The same two sparse steps: row 0 touched in step 1, row 1 in step 2.
  const auto run = [](const char* config) {
    auto adam = MakeOptimizer(config);
    EXPECT_NE(adam, nullptr);
    std::vector<Parameter> params(1);
    params[0].name = "table";
    params[0].value =
        Tensor::FromVector({3, 1}, std::vector<float>{1.0f, 2.0f, 3.0f});
    params[0].grad_is_sparse = true;
    params[0].grad =
        Tensor::FromVector({3, 1}, std::vector<float>{0.5f, 0.0f, 0.0f});
    params[0].touched_rows = {0};
    EXPECT_TRUE(adam->Apply(params).ok());
    params[0].grad.f32()[0] = 0.0f;
    params[0].grad.f32()[1] = -0.2f;
    params[0].touched_rows = {1, 1};
    EXPECT_TRUE(adam->Apply(params).ok());
    auto flat = params[0].value.flat();
    return std::vector<float>(flat.begin(), flat.end());
  };
  const std::vector<float> lazy = run("adam { learning_rate: 0.1 lazy: true }");
  const double alpha1 = 0.1 * std::sqrt(1 - 0.999) / (1 - 0.9);
  const double alpha2 = 0.1 * std::sqrt(1 - 0.999 * 0.999) / (1 - 0.9 * 0.9);
  // Row 0: step 1 only (m = 0.1 g, v = 0.001 g^2); step 2 leaves it.
  EXPECT_NEAR(lazy[0], 1.0 - alpha1 * 0.05 / (std::sqrt(0.001 * 0.25) + 1e-7),
              1e-6);
  // Row 1: its first moments, at step 2's bias correction.
  EXPECT_NEAR(lazy[1], 2.0 - alpha2 * -0.02 / (std::sqrt(0.001 * 0.04) + 1e-7),
              1e-6);
  EXPECT_EQ(lazy[2], 3.0f);  // Never touched.
  // Keras' Adam moves row 0 again in step 2, by its momentum.
  const std::vector<float> dense = run("adam { learning_rate: 0.1 }");
  EXPECT_LT(dense[0], lazy[0] - 1e-3);
  EXPECT_EQ(dense[2], 3.0f);
}

TEST(OptimizerTest, BadClippingScheduleAndDecayAreErrors) {
  for (const auto& [text, message] :
       std::vector<std::pair<std::string, std::string>>{
           {"clipnorm: -1", "clipnorm and global_clipnorm must be finite"},
           {"global_clipnorm: nan",
            "clipnorm and global_clipnorm must be finite"},
           {"schedule { warmup_steps: -2 }", "warmup_steps must be >= 0"},
           {"schedule { cosine { decay_steps: 0 } }",
            "schedule.cosine needs decay_steps > 0"},
           {"schedule { exponential { decay_steps: 5 decay_rate: 1.5 } }",
            "decay_rate in (0, 1]"},
           {"adam { weight_decay: 1 }", "weight_decay in [0, 1)"}}) {
    OptimizerDef def;
    ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &def))
        << text;
    EXPECT_THAT(std::string(CreateOptimizer(def).status().message()),
                HasSubstr(message))
        << text;
  }
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

// Issue 13: sizes from outside are counted without wrapping and checked
// against the memory limit before anything is allocated.
TEST(TensorTest, BytesAreCountedWithoutOverflow) {
  EXPECT_EQ(*TensorBytes(DType::kFloat32, {2, 3}), 24);
  EXPECT_EQ(*TensorBytes(DType::kInt32, {}), 4);
  EXPECT_EQ(*TensorBytes(DType::kFloat32, {0, int64_t{1} << 62}), 0);
  // 2^32 * 2^32 * 4 elements wrapped to 4 and trained.
  auto huge =
      TensorBytes(DType::kFloat32, {int64_t{1} << 32, int64_t{1} << 32, 4});
  EXPECT_THAT(std::string(huge.status().message()),
              HasSubstr("float32[4294967296, 4294967296, 4] has more bytes "
                        "than fit in 64 bits"));
  EXPECT_FALSE(TensorBytes(DType::kFloat32, {-1, 3}).ok());
}

TEST(TensorTest, MemoryLimitParsesPercentagesAndSizes) {
  const int64_t physical = int64_t{16} << 30;
  EXPECT_EQ(*ParseMemoryLimit("50%", physical), int64_t{8} << 30);
  EXPECT_EQ(*ParseMemoryLimit("8G", physical), int64_t{8} << 30);
  EXPECT_EQ(*ParseMemoryLimit("512m", physical), int64_t{512} << 20);
  EXPECT_EQ(*ParseMemoryLimit("1000000", physical), 1000000);
  for (const char* bad : {"", "0", "-5G", "nan", "lots", "1e30T", "%"}) {
    EXPECT_FALSE(ParseMemoryLimit(bad, physical).ok()) << bad;
  }
  EXPECT_EQ(FormatBytes(100), "100 bytes");
  EXPECT_EQ(FormatBytes(int64_t{3} << 29), "1.5 GiB");
}

TEST(TensorTest, CheckMemoryNamesTheSizeAndTheLimit) {
  EXPECT_GT(MemoryLimitBytes(), 0);
  SetMemoryLimitBytes(int64_t{1} << 30);
  EXPECT_TRUE(CheckMemory(int64_t{1} << 30, "x").ok());
  absl::Status s = CheckMemory(int64_t{3} << 30, "parameter 'w'", "why");
  SetMemoryLimitBytes(0);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("parameter 'w' needs 3.0 GiB (3221225472 bytes), "
                        "more than the memory limit of 1.0 GiB (set by the "
                        "program): why"));
}

// blocks: -3 was taken as 1; NaN values filled the weights.
TEST(InitializerTest, BadSettingsAreRefused) {
  Tensor w(DType::kFloat32, {4, 6});
  std::mt19937_64 rng(4);
  InitializerDef def;
  def.mutable_glorot_uniform();
  def.set_blocks(-3);
  EXPECT_THAT(std::string(InitializeTensor(def, rng, &w).message()),
              HasSubstr("blocks must be >= 1 (0 or unset: 1), got -3"));
  def.set_blocks(3);
  EXPECT_TRUE(InitializeTensor(def, rng, &w).ok());
  def.set_blocks(0);
  def.mutable_constant()->set_value(std::nanf(""));
  EXPECT_THAT(std::string(InitializeTensor(def, rng, &w).message()),
              HasSubstr("constant value must be a finite number, got nan"));
  def.mutable_uniform()->set_minval(-HUGE_VALF);
  def.mutable_uniform()->set_maxval(1);
  EXPECT_THAT(std::string(InitializeTensor(def, rng, &w).message()),
              HasSubstr("uniform needs finite minval < maxval"));
  def.mutable_orthogonal()->set_gain(std::nanf(""));
  EXPECT_THAT(std::string(InitializeTensor(def, rng, &w).message()),
              HasSubstr("orthogonal gain must be a finite number"));
}

// --graph=/dev/zero read 4.2 GB before failing; a FIFO blocked in open().
TEST(FileUtilTest, ReadFileTakesOnlyRegularFilesUpToACap) {
  EXPECT_THAT(std::string(ReadFile("/dev/zero").status().message()),
              HasSubstr("/dev/zero is not a regular file (a device)"));
  const std::string fifo = TempPath("fifo");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_THAT(std::string(ReadFile(fifo).status().message()),
              HasSubstr("fifo is not a regular file (a FIFO)"));
  EXPECT_THAT(std::string(ReadFile(TempPath("")).status().message()),
              HasSubstr("is not a regular file (a folder)"));
  const std::string big = TempPath("big.txt");
  ASSERT_TRUE(WriteFileAtomically(big, std::string(3000, 'x')).ok());
  EXPECT_EQ(ReadFile(big, 3000)->size(), 3000u);
  EXPECT_THAT(
      std::string(ReadFile(big, 2048, "a model file").status().message()),
      HasSubstr("big.txt has 3000 bytes, more than a model file may "
                "have (2048 bytes)"));
  EXPECT_THAT(std::string(ReadFile(TempPath("none")).status().message()),
              HasSubstr("cannot open"));
  // Files whose size stat() does not know are read to the end.
  auto cpuinfo = ReadFile("/proc/self/status");
  ASSERT_TRUE(cpuinfo.ok()) << cpuinfo.status();
  EXPECT_THAT(*cpuinfo, HasSubstr("Name:"));
}

TEST(ModelFileTest, EmptyAndNonRegularModelFilesAreNamed) {
  const std::string empty = TempPath("empty.pbtxt");
  ASSERT_TRUE(WriteFileAtomically(empty, "").ok());
  // Said "the model sets no 'features_input'".
  EXPECT_THAT(std::string(ReadModelFile(empty).status().message()),
              HasSubstr("model file " + empty + " is empty;"));
  const std::string comments = TempPath("comments.pbtxt");
  ASSERT_TRUE(WriteFileAtomically(comments, "# nothing yet\n\n").ok());
  EXPECT_THAT(std::string(ReadModelFile(comments).status().message()),
              HasSubstr("sets nothing (only comments)"));
  EXPECT_THAT(std::string(ReadModelFile("/dev/zero").status().message()),
              HasSubstr("/dev/zero is not a regular file"));
  const std::string huge = TempPath("huge.pbtxt");
  {
    std::ofstream out(huge);
    out.seekp(kMaxModelFileBytes + 1);
    out << "x";
  }
  EXPECT_THAT(std::string(ReadModelFile(huge).status().message()),
              HasSubstr("more than a model file may have (64 MiB)"));
}

// The loss and the metrics are float scalars computed by nodes; the data
// are fed to graph inputs. A loss that was a parameter trained with loss 0;
// a metric that was the [N, 1] prediction printed "Test probability"; a
// non-scalar loss failed only at step 1.
TEST(ModelFileTest, BindingsAreCheckedWhenTheModelIsBuilt) {
  OpRegistry registry;
  ASSERT_TRUE(RegisterBuiltinOps(&registry).ok());
  const std::string base = R"pb(
    labels_input: "y"
    prediction: "out"
    graph {
      input {
        name: "x"
        dtype: DT_FLOAT
        shape { dim: -1 dim: 2 }
      }
      input {
        name: "y"
        dtype: DT_FLOAT
        shape { dim: -1 dim: 1 }
      }
      parameter {
        name: "w"
        shape { dim: 2 dim: 1 }
        initializer { glorot_uniform {} }
      }
      parameter {
        name: "s"
        shape { dim: 1 }
        initializer { zeros {} }
      }
      node { name: "out" op: "MatMul" input: "x" input: "w" }
      node { name: "loss" op: "MeanSquaredError" input: "out" input: "y" }
      node { name: "act" op: "Tanh" input: "out" }
    }
  )pb";
  const auto error = [&](const std::string& extra) {
    auto file = ParseModelText(base + extra, "m.pbtxt");
    EXPECT_TRUE(file.ok()) << file.status();
    auto graph = Graph::Build(file->model.graph(), registry, file->source);
    EXPECT_TRUE(graph.ok()) << graph.status();
    return std::string(
        ValidateModelBindings(file->model, **graph, "m.pbtxt").message());
  };
  EXPECT_EQ(error(R"pb(features_input: "x" loss: "loss")pb"), "");
  EXPECT_EQ(error(R"pb(features_input: "x" loss: "s")pb"),
            "m.pbtxt: loss 's' is a parameter; it must be the output of a "
            "node computing it (e.g. BinaryCrossentropy)");
  EXPECT_EQ(error(R"pb(features_input: "x" loss: "act")pb"),
            "m.pbtxt: loss 'act' is float32[?, 1]; it must be a float scalar "
            "(shape [])");
  EXPECT_EQ(error(R"pb(features_input: "x" loss: "loss" metric: "out")pb"),
            "m.pbtxt: metric 'out' is float32[?, 1]; it must be a float "
            "scalar (shape []): it is the prediction, not a metric computed "
            "from it");
  EXPECT_THAT(error(R"pb(features_input: "x" loss: "loss" metric: "y")pb"),
              HasSubstr("metric 'y' is a graph input"));
  EXPECT_THAT(error(R"pb(loss: "loss" features_input: "out")pb"),
              HasSubstr("features_input 'out' is a node output, not a graph "
                        "input"));
}

}  // namespace
}  // namespace loom::testing
