// The Predictor (framework/inference) and the C API over it (capi/loom.h):
// results equal to Model::Predict, many threads at once giving the
// single-threaded results, and every bad argument an error status with a
// clear message.
#include "framework/inference/predictor.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "capi/loom.h"
#include "capi/loom.hpp"
#include "framework/file_util.h"
#include "framework/model_io.h"
#include "framework/training/saved_model.h"
#include "framework/training/train_job.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/inference/test_models.h"

namespace loom {
namespace {

using ::testing::HasSubstr;

std::string TmpDir() { return std::string(std::getenv("TEST_TMPDIR")); }

// A model folder under the test's temporary folder.
std::string SavedModelDir(const std::string& model_file,
                          const std::string& name,
                          std::vector<std::string> classes = {}) {
  return testing::WriteTestModel(model_file, TmpDir() + "/" + name, classes);
}

std::vector<std::string> Texts(int n) { return testing::TestTexts(n); }

std::unique_ptr<Predictor> LoadPredictor(const std::string& dir,
                                         OpRegistry* registry) {
  EXPECT_TRUE(PrepareRegistry({}, registry).ok());
  auto p = Predictor::Load(dir, *registry);
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *std::move(p) : nullptr;
}

TEST(PredictorTest, EqualsModelPredict) {
  const std::string dir = SavedModelDir("models/bilstm.pbtxt", "binary");
  OpRegistry registry;
  auto predictor = LoadPredictor(dir, &registry);
  ASSERT_NE(predictor, nullptr);
  EXPECT_EQ(predictor->class_names(),
            (std::vector<std::string>{"negative", "positive"}));
  EXPECT_EQ(predictor->max_len(), 20);
  const std::vector<std::string> texts = Texts(40);
  auto out = predictor->Predict(texts);
  ASSERT_TRUE(out.ok()) << out.status();
  auto loaded = LoadModel(dir, registry);
  ASSERT_TRUE(loaded.ok());
  auto reference = loaded->model->Predict(
      EncodeTexts(texts, loaded->vocabulary, loaded->model->def().dataset()),
      7);
  ASSERT_TRUE(reference.ok());
  for (size_t i = 0; i < texts.size(); ++i) {
    const float p = reference->f32()[i];
    EXPECT_FLOAT_EQ((*out)[i].probabilities[1], p) << i;
    EXPECT_FLOAT_EQ((*out)[i].probabilities[0], 1 - p) << i;
    EXPECT_EQ((*out)[i].label, p > 0.5f ? 1 : 0) << i;
    EXPECT_EQ((*out)[i].num_tokens, 1 + static_cast<int>(i % 9)) << i;
  }
  // Ids give what the texts give.
  Tensor ids =
      EncodeTexts(texts, loaded->vocabulary, loaded->model->def().dataset());
  auto by_ids = predictor->PredictIds(ids.i32(), ids.dim(0), ids.dim(1));
  ASSERT_TRUE(by_ids.ok()) << by_ids.status();
  for (size_t i = 0; i < texts.size(); ++i) {
    EXPECT_EQ((*by_ids)[i].probabilities, (*out)[i].probabilities) << i;
  }
}

TEST(PredictorTest, ManyThreadsGiveTheSingleThreadedResults) {
  const std::string dir = SavedModelDir("models/reviews_stars.pbtxt", "stars",
                                        {"1", "2", "3", "4", "5"});
  OpRegistry registry;
  auto predictor = LoadPredictor(dir, &registry);
  ASSERT_NE(predictor, nullptr);
  const std::vector<std::string> texts = Texts(64);
  std::vector<std::vector<Prediction>> expected;
  for (int size : {1, 3, 64}) {  // Batch sizes the threads use.
    auto out = predictor->Predict(
        std::vector<std::string>(texts.begin(), texts.begin() + size));
    ASSERT_TRUE(out.ok());
    expected.push_back(*out);
  }
  constexpr int kThreads = 8;
  constexpr int kCalls = 25;
  std::vector<int> mismatches(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int c = 0; c < kCalls; ++c) {
        const int which = (t + c) % 3;
        const int size = which == 0 ? 1 : which == 1 ? 3 : 64;
        auto out = predictor->Predict(
            std::vector<std::string>(texts.begin(), texts.begin() + size));
        if (!out.ok()) {
          ++mismatches[t];
          continue;
        }
        for (int i = 0; i < size; ++i) {
          if ((*out)[i].probabilities != expected[which][i].probabilities) {
            ++mismatches[t];
          }
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(mismatches[t], 0) << t;
  for (const Prediction& p : expected[2]) {
    ASSERT_EQ(p.probabilities.size(), 5u);
    double sum = 0;
    for (float v : p.probabilities) sum += v;
    EXPECT_NEAR(sum, 1.0, 1e-5);
  }
}

TEST(PredictorTest, DynamicBatchingJoinsConcurrentCallsWithSameResults) {
  const std::string dir = SavedModelDir("models/reviews_stars.pbtxt", "stars",
                                        {"1", "2", "3", "4", "5"});
  OpRegistry registry;
  ASSERT_TRUE(PrepareRegistry({}, &registry).ok());
  PredictorOptions options;
  options.max_batch_size = 32;
  options.batch_timeout_micros = 20000;
  auto batched = Predictor::Load(dir, registry, options);
  ASSERT_TRUE(batched.ok()) << batched.status();
  auto plain = Predictor::Load(dir, registry);
  ASSERT_TRUE(plain.ok());
  const std::vector<std::string> texts = Texts(16);
  constexpr int kThreads = 16;
  std::vector<int> mismatches(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int c = 0; c < 5; ++c) {
        const std::vector<std::string> one = {texts[(t + c) % texts.size()]};
        auto a = (*batched)->Predict(one);
        auto b = (*plain)->Predict(one);
        if (!a.ok() || !b.ok()) {
          ++mismatches[t];
          continue;
        }
        for (size_t k = 0; k < (*a)[0].probabilities.size(); ++k) {
          // The same rows in a larger batch: the same numbers up to the
          // kernels' blocking.
          if (std::abs((*a)[0].probabilities[k] - (*b)[0].probabilities[k]) >
              1e-6f) {
            ++mismatches[t];
          }
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(mismatches[t], 0) << t;
  const PredictorStats stats = (*batched)->stats();
  EXPECT_EQ(stats.calls, kThreads * 5);
  EXPECT_EQ(stats.texts, kThreads * 5);
  EXPECT_LT(stats.runs, stats.calls);  // Some calls were joined.
  EXPECT_LT(stats.calls_per_run[0], stats.runs);
}

TEST(PredictorTest, BadInputIsAnError) {
  OpRegistry registry;
  ASSERT_TRUE(PrepareRegistry({}, &registry).ok());
  EXPECT_THAT(
      std::string(
          Predictor::Load(TmpDir() + "/nowhere", registry).status().message()),
      HasSubstr("nowhere/model.pbtxt"));
  const std::string dir = SavedModelDir("models/bilstm.pbtxt", "binary");
  auto predictor = Predictor::Load(dir, registry);
  ASSERT_TRUE(predictor.ok());
  const int32_t ids[] = {1, 5, 99};
  EXPECT_THAT(
      std::string((*predictor)->PredictIds(ids, 1, 3).status().message()),
      HasSubstr("row 0, position 2: id 99 is not in [0, 50)"));
  EXPECT_THAT(
      std::string((*predictor)->PredictIds(nullptr, 2, 3).status().message()),
      HasSubstr("need n >= 0 rows"));
  // A vocabulary with more ids than the embedding table has rows.
  const std::string big = TmpDir() + "/big_vocabulary";
  std::filesystem::create_directories(big);
  for (const char* f : {"model.pbtxt", "weights.ckpt"}) {
    std::filesystem::copy_file(
        dir + "/" + f, big + "/" + f,
        std::filesystem::copy_options::overwrite_existing);
  }
  std::vector<std::string> words;
  for (int i = 0; i < 60; ++i) words.push_back(absl::StrCat("w", i));
  auto vocabulary = data::Vocabulary::FromWords(words, 100);
  ASSERT_TRUE(vocabulary.ok());
  ASSERT_TRUE(vocabulary->Save(big + "/vocabulary.txt").ok());
  EXPECT_THAT(std::string(Predictor::Load(big, registry).status().message()),
              HasSubstr("big_vocabulary/vocabulary.txt"));
  auto empty = (*predictor)->Predict({});
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

// ---------------------------------------------------------------- C API --

std::string Message(LoomStatus* status) {
  std::string m = loom_status_message(status);
  loom_status_free(status);
  return m;
}

TEST(CApiTest, LoadsAndPredictsAsThePredictor) {
  ASSERT_EQ(loom_api_version(), static_cast<uint32_t>(LOOM_API_VERSION));
  const std::string dir = SavedModelDir("models/bilstm.pbtxt", "binary");
  LoomModel* model = nullptr;
  LoomStatus* s = loom_model_load(dir.c_str(), nullptr, 0, nullptr, &model);
  ASSERT_EQ(s, nullptr) << loom_status_message(s);
  size_t k = 0;
  ASSERT_EQ(loom_model_num_classes(model, &k), nullptr);
  ASSERT_EQ(k, 2u);
  const char* name = nullptr;
  ASSERT_EQ(loom_model_class_name(model, 1, &name), nullptr);
  EXPECT_STREQ(name, "positive");
  int64_t max_len = 0, num_words = 0;
  ASSERT_EQ(loom_model_max_len(model, &max_len), nullptr);
  ASSERT_EQ(loom_model_num_words(model, &num_words), nullptr);
  EXPECT_EQ(max_len, 20);
  EXPECT_EQ(num_words, 50);

  const std::vector<std::string> texts = Texts(5);
  std::vector<const char*> pointers;
  for (const std::string& t : texts) pointers.push_back(t.c_str());
  std::vector<float> probabilities(texts.size() * 2);
  std::vector<int32_t> labels(texts.size(), -1);
  ASSERT_EQ(loom_predict_texts(model, pointers.data(), pointers.size(),
                               probabilities.data(), labels.data()),
            nullptr);
  OpRegistry registry;
  auto predictor = LoadPredictor(dir, &registry);
  auto expected = predictor->Predict(texts);
  ASSERT_TRUE(expected.ok());
  for (size_t i = 0; i < texts.size(); ++i) {
    EXPECT_EQ(probabilities[2 * i + 1], (*expected)[i].probabilities[1]);
    EXPECT_EQ(labels[i], (*expected)[i].label);
  }
  const int32_t ids[] = {1, 3, 4, 5};
  ASSERT_EQ(loom_predict_ids(model, ids, 1, 4, probabilities.data(), nullptr),
            nullptr);
  EXPECT_NEAR(probabilities[0] + probabilities[1], 1.0f, 1e-6f);
  loom_model_free(model);
}

TEST(CApiTest, BadArgumentsAreErrorStatuses) {
  LoomModel* model = nullptr;
  LoomStatus* s = loom_model_load(nullptr, nullptr, 0, nullptr, &model);
  EXPECT_EQ(loom_status_code(s), LOOM_INVALID_ARGUMENT);
  EXPECT_THAT(Message(s), HasSubstr("model_dir is NULL or empty"));
  s = loom_model_load("x", nullptr, 0, nullptr, nullptr);
  EXPECT_THAT(Message(s), HasSubstr("out is NULL"));
  s = loom_model_load("x", nullptr, 2, nullptr, &model);
  EXPECT_THAT(Message(s), HasSubstr("plugins is NULL but num_plugins > 0"));
  const std::string missing = TmpDir() + "/no_model_here";
  s = loom_model_load(missing.c_str(), nullptr, 0, nullptr, &model);
  EXPECT_EQ(loom_status_code(s), LOOM_NOT_FOUND);
  EXPECT_THAT(Message(s), HasSubstr(missing));
  EXPECT_EQ(model, nullptr);
  const char* bad_plugin = "/etc/passwd";
  const std::string dir = SavedModelDir("models/bilstm.pbtxt", "binary");
  s = loom_model_load(dir.c_str(), &bad_plugin, 1, nullptr, &model);
  EXPECT_NE(s, nullptr);
  EXPECT_THAT(Message(s), HasSubstr("/etc/passwd"));

  // Corrupt weights: the file named, no crash.
  const std::string corrupt = TmpDir() + "/corrupt";
  std::filesystem::create_directories(corrupt);
  for (const char* f : {"model.pbtxt", "vocabulary.txt"}) {
    std::filesystem::copy_file(
        dir + "/" + f, corrupt + "/" + f,
        std::filesystem::copy_options::overwrite_existing);
  }
  auto weights = ReadFile(dir + "/weights.ckpt");
  ASSERT_TRUE(weights.ok());
  ASSERT_TRUE(WriteFileAtomically(corrupt + "/weights.ckpt",
                                  weights->substr(0, weights->size() / 2))
                  .ok());
  s = loom_model_load(corrupt.c_str(), nullptr, 0, nullptr, &model);
  EXPECT_NE(s, nullptr);
  EXPECT_THAT(Message(s), HasSubstr("weights.ckpt"));

  // NULL handles and buffers, indexes out of range.
  size_t k = 0;
  EXPECT_THAT(Message(loom_model_num_classes(nullptr, &k)),
              HasSubstr("model or out is NULL"));
  ASSERT_EQ(loom_model_load(dir.c_str(), nullptr, 0, nullptr, &model), nullptr);
  const char* name = nullptr;
  EXPECT_THAT(Message(loom_model_class_name(model, 2, &name)),
              HasSubstr("index 2 is not below the 2 classes"));
  const char* texts[] = {"good", nullptr};
  float probabilities[4];
  EXPECT_THAT(
      Message(loom_predict_texts(model, texts, 2, probabilities, nullptr)),
      HasSubstr("texts[1] is NULL"));
  EXPECT_THAT(Message(loom_predict_texts(model, texts, 1, nullptr, nullptr)),
              HasSubstr("texts or probabilities is NULL"));
  EXPECT_EQ(loom_predict_texts(model, nullptr, 0, nullptr, nullptr), nullptr);
  const int32_t ids[] = {1, 1000};
  EXPECT_THAT(
      Message(loom_predict_ids(model, ids, 1, 2, probabilities, nullptr)),
      HasSubstr("id 1000 is not in [0, 50)"));
  EXPECT_THAT(
      Message(loom_predict_texts(nullptr, texts, 1, probabilities, nullptr)),
      HasSubstr("model is NULL"));
  loom_model_free(model);
  loom_model_free(nullptr);
  loom_status_free(nullptr);
  EXPECT_EQ(loom_status_code(nullptr), LOOM_OK);
}

TEST(CppApiTest, WrapperGivesTheCApiResults) {
  const std::string dir = SavedModelDir("models/bilstm.pbtxt", "binary");
  loom::api::Status status;
  auto predictor = loom::api::Predictor::Load(dir, &status);
  ASSERT_NE(predictor, nullptr) << status.message();
  std::vector<loom::api::Prediction> out;
  ASSERT_TRUE(predictor->Predict({"good film", "not good"}, &out).ok());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].label_name, predictor->class_names()[out[0].label]);
  EXPECT_NEAR(out[0].probabilities[0] + out[0].probabilities[1], 1.0f, 1e-6f);
  EXPECT_EQ(loom::api::Predictor::Load(TmpDir() + "/nowhere", &status),
            nullptr);
  EXPECT_EQ(status.code(), LOOM_NOT_FOUND);
  EXPECT_THAT(status.message(), HasSubstr("nowhere"));
  EXPECT_FALSE(predictor->PredictIds({1, 2, 3}, 2, 2, &out).ok());
}

}  // namespace
}  // namespace loom
