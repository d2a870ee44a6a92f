// Every model definition in models/, found at run time, loaded the way the
// training driver loads it (its declared plugins, the data set's max_len and
// num_words), then run on a small random batch: a training forward and
// backward, one optimizer step and inference. A typo or a shape mismatch in
// a model file fails here in seconds instead of minutes into a real run.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <system_error>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "framework/executor.h"
#include "framework/file_util.h"
#include "framework/model_io.h"
#include "framework/training/model.h"
#include "framework/training/train_job.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loom {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// Runfiles folders (this test's data, see tests/training/BUILD).
constexpr char kModelsDir[] = "models";
constexpr char kPluginsDir[] = "plugins";
constexpr int kRows = 3;

// The model files in `dir`, sorted; empty if it cannot be read.
std::vector<std::string> ModelFiles(const std::string& dir) {
  std::vector<std::string> files;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    if (it->path().extension() == ".pbtxt")
      files.push_back(it->path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// A model as the training driver builds it. The graph points into the
// registry, so the registry lives as long as the model.
struct LoadedModel {
  std::unique_ptr<OpRegistry> registry;
  std::unique_ptr<Model> model;
};

// As RunTrainJob does: the built-in ops and the plugins the file declares
// (only those, so an undeclared plugin fails), the file, no overrides (the
// graph follows the data set's max_len and num_words), then the model.
absl::StatusOr<LoadedModel> LoadAsDriver(const std::string& path) {
  auto file = ReadModelFile(path);
  if (!file.ok()) return file.status();
  LoadedModel loaded;
  loaded.registry = std::make_unique<OpRegistry>();
  // Only the runfiles' plugins/ tree: a plugin missing from this test's
  // data (//plugins:shipped) fails with the driver's not-found error.
  PluginSearch search;
  search.plugin_path = kPluginsDir;
  if (auto s = PrepareRegistryForModel(*file, /*plugins=*/{}, search,
                                       loaded.registry.get());
      !s.ok()) {
    return s;
  }
  if (auto s = ApplyOverrides(ConfigOverrides(), &file->model); !s.ok()) {
    return s;
  }
  auto model =
      Model::Create(*file, *loaded.registry, file->model.training().seed());
  if (!model.ok()) return model.status();
  loaded.model = *std::move(model);
  return loaded;
}

// kRows reviews of max_len token ids, pre-padded with zeros as the data set
// pads them: one full length (ending in the largest id, num_words - 1), one
// half padding, one of three tokens. Real tokens start with 1, the start
// mark, then ids in [3, num_words).
Tensor RandomBatch(int max_len, int num_words, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int32_t> id(3, num_words - 1);
  const int lengths[kRows] = {max_len, max_len / 2, 3};
  std::vector<int32_t> ids(kRows * max_len, 0);
  for (int r = 0; r < kRows; ++r) {
    int32_t* row = ids.data() + r * max_len;
    const int first = max_len - lengths[r];
    row[first] = 1;
    for (int t = first + 1; t < max_len; ++t) row[t] = id(rng);
  }
  ids[max_len - 1] = num_words - 1;
  return Tensor::FromVector({kRows, max_len}, ids);
}

bool AllFinite(const Tensor& t) {
  return std::all_of(t.f32(), t.f32() + t.num_elements(),
                     [](float v) { return std::isfinite(v); });
}

bool AnyNonzero(const Tensor& t) {
  return std::any_of(t.f32(), t.f32() + t.num_elements(),
                     [](float v) { return v != 0.0f; });
}

// A prediction of kRows rows: one probability strictly between 0 and 1
// (sigmoid), or K > 1 of them that sum to 1 (softmax).
void ExpectProbabilities(const Tensor& p, const std::string& what) {
  ASSERT_EQ(p.shape().size(), 2u) << what;
  ASSERT_EQ(p.dim(0), kRows) << what;
  const int64_t k = p.dim(1);
  for (int r = 0; r < kRows; ++r) {
    double sum = 0;
    for (int64_t c = 0; c < k; ++c) {
      const float v = p.f32()[r * k + c];
      EXPECT_GT(v, 0.0f) << what << ", row " << r << ", column " << c;
      EXPECT_LT(v, 1.0f) << what << ", row " << r << ", column " << c;
      sum += v;
    }
    if (k > 1) EXPECT_NEAR(sum, 1.0, 1e-5) << what << ", row " << r;
  }
}

TEST(ModelsTest, FindsEveryModelFile) {
  // Catches an empty glob or a missing data dependency, which would
  // otherwise leave the parameterized test below with nothing to run.
  EXPECT_GE(ModelFiles(kModelsDir).size(), 5u);
}

class ModelFileTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ModelFileTest, TrainsOneStepAndPredicts) {
  const std::string& path = GetParam();
  auto loaded = LoadAsDriver(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  Model& model = *loaded->model;
  Executor& exec = model.executor();
  const ModelDef& def = model.def();
  const int max_len = def.dataset().max_len();
  const int num_words = def.dataset().num_words();
  ASSERT_GT(max_len, 3) << path << ": dataset.max_len";
  ASSERT_GT(num_words, 3) << path << ": dataset.num_words";

  const Tensor ids = RandomBatch(max_len, num_words, /*seed=*/7);
  const Tensor labels =
      Tensor::FromVector({kRows, 1}, std::vector<float>{1, 0, 1});
  const FeedMap feeds = {{def.features_input(), ids},
                         {def.labels_input(), labels}};

  // Training forward.
  absl::Status s = exec.Run(feeds, {def.prediction(), def.loss()}, true);
  ASSERT_TRUE(s.ok()) << s;
  ExpectProbabilities(**exec.Fetch(def.prediction()), "training prediction");
  const Tensor& loss = **exec.Fetch(def.loss());
  ASSERT_EQ(loss.num_elements(), 1);
  EXPECT_TRUE(std::isfinite(loss.f32()[0])) << loss.f32()[0];
  EXPECT_GT(loss.f32()[0], 0.0f);

  // Backward: every trainable parameter gets a finite, nonzero gradient.
  s = exec.Backward(def.loss());
  ASSERT_TRUE(s.ok()) << s;
  std::vector<Tensor> before;
  int trainable = 0;
  for (const Parameter& p : exec.parameters()) {
    before.push_back(p.value.Clone());
    if (!p.trainable) continue;
    ++trainable;
    ASSERT_EQ(p.grad.shape(), p.value.shape()) << p.name;
    EXPECT_TRUE(AllFinite(p.grad)) << p.name;
    EXPECT_TRUE(AnyNonzero(p.grad))
        << p.name << " got no gradient: the loss does not reach it";
  }
  EXPECT_GT(trainable, 0);

  // One step of the model's optimizer moves every trainable parameter and
  // leaves it finite.
  s = model.optimizer().Apply(exec.parameters());
  ASSERT_TRUE(s.ok()) << s;
  for (size_t i = 0; i < exec.parameters().size(); ++i) {
    const Parameter& p = exec.parameters()[i];
    if (!p.trainable) continue;
    EXPECT_TRUE(AllFinite(p.value)) << p.name;
    EXPECT_FALSE(std::equal(
        p.value.f32(), p.value.f32() + p.value.num_elements(), before[i].f32()))
        << p.name << " did not change in a training step";
  }

  // Inference: probabilities, the same twice (no dropout), and the metrics
  // the driver reports.
  auto predicted = model.Predict(ids, kRows);
  ASSERT_TRUE(predicted.ok()) << predicted.status();
  ExpectProbabilities(*predicted, "Predict");
  auto again = model.Predict(ids, kRows);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(
      std::equal(predicted->f32(), predicted->f32() + kRows, again->f32()))
      << "inference is not deterministic";
  auto metrics = model.Evaluate({ids, labels}, kRows);
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  ASSERT_EQ(metrics->size(), model.metric_names().size());
  for (const auto& [name, value] : *metrics) {
    EXPECT_TRUE(std::isfinite(value)) << name;
    EXPECT_GE(value, 0.0) << name;
  }
  EXPECT_GT((*metrics)[0].second, 0.0) << "loss";
}

std::string TestName(const ::testing::TestParamInfo<std::string>& info) {
  std::string name = fs::path(info.param).stem().string();
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(AllModels, ModelFileTest,
                         ::testing::ValuesIn(ModelFiles(kModelsDir)), TestName);

// The check can fail: a copy of a model whose output kernel has the wrong
// shape is refused with the file and the node named (the full graph form of
// models/lstm.pbtxt, which declares its parameters).
TEST(ModelsTest, WrongShapeNamesFileAndNode) {
  auto text = ReadFile("tests/training/testdata/lstm_graph.pbtxt");
  ASSERT_TRUE(text.ok()) << text.status();
  const std::string good = "shape { dim: 64 dim: 1 }";  // output/kernel
  ASSERT_EQ(absl::StrReplaceAll(*text, {{good, ""}}).size(),
            text->size() - good.size())
      << "expected exactly one " << good;
  const std::string broken =
      absl::StrReplaceAll(*text, {{good, "shape { dim: 65 dim: 1 }"}});
  const std::string dir = std::string(getenv("TEST_TMPDIR")) + "/broken";
  ASSERT_TRUE(MakeDirectories(dir).ok());
  const std::string path = dir + "/lstm.pbtxt";
  ASSERT_TRUE(WriteFileAtomically(path, broken).ok());
  auto loaded = LoadAsDriver(path);
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr(path));
  EXPECT_THAT(std::string(loaded.status().message()),
              HasSubstr("'probability'"));
}

// In the layer form the error names the layer's line and node.
TEST(ModelsTest, BadLayerNamesFileLineAndNode) {
  auto text = ReadFile(std::string(kModelsDir) + "/lstm.pbtxt");
  ASSERT_TRUE(text.ok()) << text.status();
  const std::string good = "lstm { units: 64";
  ASSERT_NE(text->find(good), std::string::npos);
  const std::string broken =
      absl::StrReplaceAll(*text, {{good, "lstm { units: -64"}});
  const std::string dir = std::string(getenv("TEST_TMPDIR")) + "/broken";
  ASSERT_TRUE(MakeDirectories(dir).ok());
  const std::string path = dir + "/lstm_layers.pbtxt";
  ASSERT_TRUE(WriteFileAtomically(path, broken).ok());
  auto loaded = LoadAsDriver(path);
  ASSERT_FALSE(loaded.ok());
  const int line =
      1 + std::count(text->begin(), text->begin() + text->find(good), '\n');
  EXPECT_THAT(std::string(loaded.status().message()),
              HasSubstr(absl::StrCat(path, ":", line, ": node 'lstm' (LSTM)")));
  EXPECT_THAT(std::string(loaded.status().message()),
              HasSubstr("'units' must be in [1, 2^32], got -64"));
}

}  // namespace
}  // namespace loom
