// training.callback { average_weights {} } (AverageWeights, SWA): the final
// weights are the mean of the epochs' weights from start_epoch on (or of
// the snapshots after every every_steps steps), computed by hand here; its
// resume state, also mid-epoch; its settings; and training runs with it.
#include <atomic>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "framework/checkpoint.h"
#include "framework/file_util.h"
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
  EXPECT_EQ(cb.averaged_snapshots(), 4);
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

// Sets every parameter element to `value`.
void SetAll(float value, Model& model) {
  for (Parameter& p : model.executor().parameters()) {
    float* w = p.value.f32();
    for (int64_t i = 0; i < p.value.num_elements(); ++i) w[i] = value;
  }
}

// Every parameter element is `want`.
void ExpectAll(float want, const Model& model) {
  for (const Parameter& p : model.executor().parameters()) {
    for (int64_t i = 0; i < p.value.num_elements(); ++i) {
      ASSERT_NEAR(p.value.f32()[i], want, 1e-5f * want)
          << p.name << "[" << i << "]";
    }
  }
}

// Epochs [first, last] of 5 steps each; after step s of epoch e every
// weight is 10 * e + s.
void StepEpochs(int first, int last, AverageWeights& cb, Model& model) {
  for (int e = first; e <= last; ++e) {
    for (int s = 1; s <= 5; ++s) {
      SetAll(static_cast<float>(10 * e + s), model);
      ASSERT_TRUE(cb.OnBatchEnd(e, s, model).ok());
    }
    bool stop = false;
    ASSERT_TRUE(cb.OnEpochEnd(e, EpochLog(), model, &stop).ok());
  }
}

TEST(AverageWeightsTest, EveryStepsAveragesTheStepSnapshots) {
  auto b = Bow();
  AverageWeightsDef def;
  def.set_start_epoch(2);
  def.set_every_steps(2);
  std::ostringstream log;
  AverageWeights cb(def, &log);
  ASSERT_TRUE(cb.OnTrainBegin(*b->model).ok());
  StepEpochs(1, 3, cb, *b->model);
  // Steps 2 and 4 of epochs 2 and 3 (not the epochs' ends, step 5):
  // (22 + 24 + 32 + 34) / 4 = 28.
  EXPECT_EQ(cb.averaged_snapshots(), 4);
  ASSERT_TRUE(cb.OnTrainEnd(*b->model).ok());
  ExpectAll(28.0f, *b->model);
  EXPECT_THAT(log.str(), HasSubstr("Averaged the weights after every 2 steps "
                                   "of epochs 2-3 (4 snapshots)."));
}

TEST(AverageWeightsTest, EveryStepsResumesMidEpoch) {
  auto b = Bow();
  AverageWeightsDef def;
  def.set_every_steps(3);
  AverageWeights first(def, nullptr);
  ASSERT_TRUE(first.OnTrainBegin(*b->model).ok());
  StepEpochs(1, 1, first, *b->model);
  // Epoch 2 up to step 4, where a checkpoint is written.
  for (int s = 1; s <= 4; ++s) {
    SetAll(static_cast<float>(20 + s), *b->model);
    ASSERT_TRUE(first.OnBatchEnd(2, s, *b->model).ok());
  }
  CallbackState state;
  first.SaveState(*b->model, &state);
  EXPECT_EQ(state.averaged_epochs(), 2);  // Snapshots 13 and 23.

  AverageWeights resumed(def, nullptr);
  ASSERT_TRUE(resumed.OnTrainBegin(*b->model).ok());
  ASSERT_TRUE(resumed.RestoreState(state, *b->model, "ckpt").ok());
  SetAll(25.0f, *b->model);
  ASSERT_TRUE(resumed.OnBatchEnd(2, 5, *b->model).ok());
  bool stop = false;
  ASSERT_TRUE(resumed.OnEpochEnd(2, EpochLog(), *b->model, &stop).ok());
  StepEpochs(3, 3, resumed, *b->model);
  ASSERT_TRUE(resumed.OnTrainEnd(*b->model).ok());
  // (13 + 23 + 33) / 3 = 23.
  EXPECT_EQ(resumed.averaged_snapshots(), 3);
  ExpectAll(23.0f, *b->model);
}

TEST(AverageWeightsTest, EveryStepsLongerThanTheEpochsKeepsTheLastWeights) {
  auto b = Bow();
  AverageWeightsDef def;
  def.set_every_steps(6);
  std::ostringstream log;
  AverageWeights cb(def, &log);
  ASSERT_TRUE(cb.OnTrainBegin(*b->model).ok());
  StepEpochs(1, 2, cb, *b->model);
  ASSERT_TRUE(cb.OnTrainEnd(*b->model).ok());
  ExpectAll(25.0f, *b->model);  // Epoch 2's last step.
  EXPECT_THAT(log.str(), HasSubstr("no epoch from start_epoch 1 on had "
                                   "every_steps 6 steps; the weights are the "
                                   "last epoch's"));
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
      ->mutable_callback(0)
      ->mutable_average_weights()
      ->set_every_steps(-2);
  EXPECT_THAT(std::string(CheckModelSettings(def).message()),
              HasSubstr("training.callback[0].average_weights.every_steps is "
                        "-2"));
  def.mutable_training()
      ->mutable_callback(0)
      ->mutable_average_weights()
      ->set_every_steps(0);
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

// A training run averaging every 2 steps (the corpus' 160 training reviews
// are 5 steps of 32), stopped after step 3 of epoch 2 with a resume
// checkpoint and resumed, saves the weights of the run never stopped, to
// the bit.
TEST(AverageWeightsTest, StepAveragingRunResumesToTheSameWeights) {
  data::SyntheticCorpusOptions corpus;
  corpus.train_per_label = 100;
  corpus.test_per_label = 20;
  const std::string& data = testing::WriteCorpusOnce("corpus200", corpus);
  const auto run = [&](const std::string& out) {
    TrainJobOptions options =
        testing::SmallRun({"models/bow.pbtxt", data, out,
                           /*max_len=*/30, /*num_words=*/300, /*epochs=*/3});
    options.overrides.set = {
        "training.callback[0].average_weights.start_epoch=2",
        "training.callback[0].average_weights.every_steps=2"};
    options.checkpoint_every = 1;
    return options;
  };
  const TrainJobOptions reference = run("steps_reference");
  std::ostringstream out;
  absl::Status s = RunTrainJob(reference, out);
  ASSERT_TRUE(s.ok()) << s << "\n" << out.str();
  // Steps 2 and 4 of epochs 2 and 3.
  EXPECT_THAT(out.str(), HasSubstr("Averaged the weights after every 2 steps "
                                   "of epochs 2-3 (4 snapshots)."));

  // Checkpoints after steps 1-4 of epoch 1, its end, then steps 1 and 2 of
  // epoch 2: a request during the 7th stops the run after step 3.
  TrainJobOptions stopped = run("steps_stopped");
  std::atomic<bool> stop(false);
  int writes = 0;
  stopped.stop_requested = &stop;
  stopped.checkpoint_stage_hook = [&](absl::string_view stage) {
    if (stage == "done" && ++writes == 7) stop.store(true);
  };
  std::ostringstream first;
  s = RunTrainJob(stopped, first);
  ASSERT_TRUE(absl::IsCancelled(s)) << s << "\n" << first.str();
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("stopped after step 3 of 5 of epoch 2"));
  TrainJobOptions resume;
  resume.resume_dir = stopped.output_dir;
  resume.threads = stopped.threads;
  resume.checkpoint_every = 1;
  std::ostringstream second;
  s = RunTrainJob(resume, second);
  ASSERT_TRUE(s.ok()) << s << "\n" << second.str();
  EXPECT_THAT(second.str(), HasSubstr("(4 snapshots)"));
  auto want = ReadFile(reference.output_dir + "/model/weights.ckpt");
  auto got = ReadFile(stopped.output_dir + "/model/weights.ckpt");
  ASSERT_TRUE(want.ok() && got.ok());
  EXPECT_TRUE(*want == *got);
}

}  // namespace
}  // namespace loom
