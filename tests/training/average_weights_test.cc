// training.callback { average_weights {} } (AverageWeights, SWA): the final
// weights are the mean of the epochs' weights from start_epoch on, computed
// by hand here; its resume state; its settings; and a training run with it.
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "framework/checkpoint.h"
#include "framework/model_io.h"
#include "framework/registry.h"
#include "framework/training/callbacks.h"
#include "framework/training/config_set.h"
#include "framework/training/model.h"
#include "framework/training/train_job.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ops/op_library.h"
#include "tests/training/small_runs.h"

namespace loom {
namespace {

using ::testing::HasSubstr;

struct Built {
  OpRegistry registry;
  std::unique_ptr<Model> model;
};

// models/bow.pbtxt at a small size: an embedding table, a kernel, a bias.
std::unique_ptr<Built> Bow() {
  auto b = std::make_unique<Built>();
  EXPECT_TRUE(RegisterBuiltinOps(&b->registry).ok());
  auto file = ReadModelFile("models/bow.pbtxt");
  EXPECT_TRUE(file.ok()) << file.status();
  file->model.mutable_dataset()->set_num_words(20);
  auto model = Model::Create(*file, b->registry, 1);
  EXPECT_TRUE(model.ok()) << model.status();
  b->model = std::move(*model);
  return b;
}

// Every parameter element i at the end of epoch e holds e * (i + 1), and
// the first 3 elements of every tensor get a spread that a wrong divisor
// would show: 0.5 * e * e.
void SetEpochWeights(int epoch, Model& model) {
  for (Parameter& p : model.executor().parameters()) {
    float* w = p.value.f32();
    for (int64_t i = 0; i < p.value.num_elements(); ++i) {
      w[i] = static_cast<float>(epoch * (i + 1));
      if (i < 3) w[i] = 0.5f * epoch * epoch;
    }
  }
}

// Runs epochs [first, last] through the callback.
void Epochs(int first, int last, AverageWeights& cb, Model& model) {
  for (int e = first; e <= last; ++e) {
    SetEpochWeights(e, model);
    bool stop = false;
    ASSERT_TRUE(cb.OnEpochEnd(e, EpochLog(), model, &stop).ok());
    EXPECT_FALSE(stop);
  }
}

// The mean over epochs 2, 3, 4, 5: element i (>= 3) 3.5 * (i + 1); the
// first three 0.5 * (4 + 9 + 16 + 25) / 4 = 6.75.
void ExpectMeanOfEpochs2To5(const Model& model) {
  for (const Parameter& p : model.executor().parameters()) {
    const float* w = p.value.f32();
    for (int64_t i = 0; i < p.value.num_elements(); ++i) {
      const float want = i < 3 ? 6.75f : 3.5f * static_cast<float>(i + 1);
      ASSERT_NEAR(w[i], want, 1e-5f * want) << p.name << "[" << i << "]";
    }
  }
}

TEST(AverageWeightsTest, FinalWeightsAreTheMeanFromStartEpoch) {
  auto b = Bow();
  AverageWeightsDef def;
  def.set_start_epoch(2);
  std::ostringstream log;
  AverageWeights cb(def, &log);
  ASSERT_TRUE(cb.OnTrainBegin(*b->model).ok());
  Epochs(1, 5, cb, *b->model);
  EXPECT_EQ(cb.averaged_epochs(), 4);
  ASSERT_TRUE(cb.OnTrainEnd(*b->model).ok());
  ExpectMeanOfEpochs2To5(*b->model);
  EXPECT_THAT(log.str(), HasSubstr("Averaged the weights of epochs 2-5 (4 "
                                   "epochs)."));
}

TEST(AverageWeightsTest, ResumedStateGivesTheSameAverage) {
  auto b = Bow();
  AverageWeightsDef def;
  def.set_start_epoch(2);
  AverageWeights first(def, nullptr);
  ASSERT_TRUE(first.OnTrainBegin(*b->model).ok());
  Epochs(1, 3, first, *b->model);
  CallbackState state;
  first.SaveState(*b->model, &state);
  EXPECT_EQ(state.averaged_epochs(), 2);
  EXPECT_EQ(state.weights_size(),
            static_cast<int>(b->model->executor().parameters().size()));

  AverageWeights resumed(def, nullptr);
  ASSERT_TRUE(resumed.OnTrainBegin(*b->model).ok());
  ASSERT_TRUE(resumed.RestoreState(state, *b->model, "ckpt").ok());
  Epochs(4, 5, resumed, *b->model);
  ASSERT_TRUE(resumed.OnTrainEnd(*b->model).ok());
  ExpectMeanOfEpochs2To5(*b->model);

  // A state whose weights do not match its count is refused by name.
  state.set_averaged_epochs(0);
  AverageWeights bad(def, nullptr, "training.callback[0].average_weights");
  const absl::Status s = bad.RestoreState(state, *b->model, "resume.ckpt");
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("resume.ckpt: training.callback[0].average_weights "
                        "holds 3 averaged weights of 0 epochs"));
}

TEST(AverageWeightsTest, TrainingThatEndsBeforeStartEpochKeepsTheLastWeights) {
  auto b = Bow();
  AverageWeightsDef def;
  def.set_start_epoch(4);
  std::ostringstream log;
  AverageWeights cb(def, &log);
  ASSERT_TRUE(cb.OnTrainBegin(*b->model).ok());
  Epochs(1, 3, cb, *b->model);
  ASSERT_TRUE(cb.OnTrainEnd(*b->model).ok());
  const Parameter& p = b->model->executor().parameters()[0];
  EXPECT_EQ(p.value.f32()[5], 18.0f);  // Epoch 3's: 3 * 6.
  EXPECT_THAT(log.str(), HasSubstr("training ended at epoch 3, before "
                                   "start_epoch 4; the weights are the last "
                                   "epoch's"));
}

TEST(AverageWeightsTest, SettingsAreChecked) {
  auto file = ReadModelFile("models/bow.pbtxt");
  ASSERT_TRUE(file.ok());
  ModelDef def = file->model;
  def.mutable_training()
      ->add_callback()
      ->mutable_average_weights()
      ->set_start_epoch(-1);
  EXPECT_THAT(std::string(CheckModelSettings(def).message()),
              HasSubstr("training.callback[0].average_weights.start_epoch is "
                        "-1"));
  def.mutable_training()
      ->mutable_callback(0)
      ->mutable_average_weights()
      ->set_start_epoch(2);
  EXPECT_TRUE(CheckModelSettings(def).ok());
  def.mutable_training()
      ->add_callback()
      ->mutable_early_stopping()
      ->set_restore_best_weights(true);
  EXPECT_THAT(std::string(CheckModelSettings(def).message()),
              HasSubstr("training.callback[0].average_weights and "
                        "training.callback[1].early_stopping."
                        "restore_best_weights both choose the final weights"));
}

// The weights of the run folder's `file` (model/weights.ckpt, ...).
std::vector<float> Weights(const std::string& dir, const std::string& file) {
  OpRegistry registry;
  EXPECT_TRUE(RegisterBuiltinOps(&registry).ok());
  auto config = ReadModelFile(dir + "/config.pbtxt");
  EXPECT_TRUE(config.ok()) << config.status();
  auto model = Model::Create(*config, registry, 1);
  EXPECT_TRUE(model.ok()) << model.status();
  auto& params = (*model)->executor().parameters();
  EXPECT_TRUE(LoadCheckpoint(dir + "/" + file, &params).ok()) << file;
  std::vector<float> all;
  for (const Parameter& p : params) {
    all.insert(all.end(), p.value.f32(),
               p.value.f32() + p.value.num_elements());
  }
  return all;
}

TEST(AverageWeightsTest, TrainingRunSavesTheAverage) {
  data::SyntheticCorpusOptions corpus;
  corpus.train_per_label = 40;
  corpus.test_per_label = 20;
  const std::string& data = testing::WriteCorpusOnce("corpus", corpus);
  for (int start : {3, 2}) {
    TrainJobOptions options =
        testing::SmallRun({"models/bow.pbtxt", data, absl::StrCat("swa", start),
                           /*max_len=*/30, /*num_words=*/300, /*epochs=*/3});
    options.overrides.set = {absl::StrCat(
        "training.callback[0].average_weights.start_epoch=", start)};
    std::ostringstream out;
    const absl::Status s = RunTrainJob(options, out);
    ASSERT_TRUE(s.ok()) << s << "\n" << out.str();
    EXPECT_THAT(out.str(),
                HasSubstr(absl::StrCat("Averaged the weights of epochs ", start,
                                       "-3 (", 4 - start, " epochs).")));
    // checkpoints/last.ckpt holds epoch 3's weights: the saved model is
    // them when only epoch 3 is averaged, and differs when 2 and 3 are.
    const std::vector<float> saved =
        Weights(options.output_dir, "model/weights.ckpt");
    const std::vector<float> last =
        Weights(options.output_dir, "checkpoints/last.ckpt");
    ASSERT_EQ(saved.size(), last.size());
    if (start == 3) {
      EXPECT_EQ(saved, last);
    } else {
      EXPECT_NE(saved, last);
    }
  }
}

}  // namespace
}  // namespace loom
