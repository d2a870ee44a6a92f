// The two shipped model definitions trained end to end through the training
// driver on a small generated corpus whose labels hinge on negation ("not
// good" against "good"), which only a sequence model gets right.
#include <sstream>
#include <string>

#include "absl/strings/numbers.h"
#include "framework/file_util.h"
#include "framework/training/evaluate_job.h"
#include "framework/training/predict_job.h"
#include "framework/training/saved_model.h"
#include "framework/training/train_job.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ops/op_library.h"
#include "tests/data/synthetic_corpus.h"
#include "tests/training/small_runs.h"

namespace loom {
namespace {

using ::testing::HasSubstr;

using testing::TmpDir;

const std::string& CorpusDir() {
  data::SyntheticCorpusOptions options;
  options.train_per_label = 500;
  options.test_per_label = 200;
  options.seed = 11;
  options.min_words = 15;
  options.max_words = 35;
  return testing::WriteCorpusOnce("corpus", options);
}

// Small-data settings; the architecture is the model file's.
TrainJobOptions SmallRun(const std::string& model, const std::string& out) {
  TrainJobOptions options =
      testing::SmallRun({"models/" + model + ".pbtxt", CorpusDir(), out,
                         /*max_len=*/40, /*num_words=*/400, /*epochs=*/8});
  options.overrides.learning_rate = 3e-3f;
  options.overrides.patience = 8;
  return options;
}

// The value after "Test acc: " in the driver's output.
double TestAccuracy(const std::string& output) {
  const std::string key = "Test acc: ";
  size_t at = output.rfind(key);
  EXPECT_NE(at, std::string::npos) << output;
  double acc = -1;
  if (at != std::string::npos) {
    EXPECT_TRUE(absl::SimpleAtod(
        output.substr(at + key.size(), output.find('\n', at) - at - key.size()),
        &acc));
  }
  return acc;
}

class PipelineTest : public ::testing::TestWithParam<const char*> {};

TEST_P(PipelineTest, LearnsNegationWellAboveChance) {
  std::ostringstream out;
  absl::Status s = RunTrainJob(SmallRun(GetParam(), GetParam()), out);
  ASSERT_TRUE(s.ok()) << s << "\n" << out.str();
  EXPECT_THAT(out.str(), HasSubstr("Epoch 1/8"));
  EXPECT_THAT(out.str(), HasSubstr("val_accuracy: "));
  EXPECT_GE(TestAccuracy(out.str()), 0.9) << out.str();
  const std::string dir = TmpDir() + "/" + GetParam();
  for (const char* f : {"history.csv", "history.json", "learning_curve.svg",
                        "config.pbtxt", "results.txt", "model/model.pbtxt",
                        "model/weights.ckpt", "model/vocabulary.txt",
                        "checkpoints/best.ckpt", "checkpoints/last.ckpt"}) {
    EXPECT_TRUE(ReadFile(dir + "/" + f).ok()) << f;
  }
}

INSTANTIATE_TEST_SUITE_P(BothModels, PipelineTest,
                         ::testing::Values("bilstm", "lstm"));

TEST(PipelineTest, SameSeedSameHistory) {
  TrainJobOptions a = SmallRun("bilstm", "det_a");
  a.overrides.epochs = 2;
  TrainJobOptions b = a;
  b.output_dir = TmpDir() + "/det_b";
  std::ostringstream out_a, out_b;
  ASSERT_TRUE(RunTrainJob(a, out_a).ok()) << out_a.str();
  ASSERT_TRUE(RunTrainJob(b, out_b).ok()) << out_b.str();
  auto ha = ReadFile(a.output_dir + "/history.csv");
  auto hb = ReadFile(b.output_dir + "/history.csv");
  ASSERT_TRUE(ha.ok() && hb.ok());
  // Seconds differ between runs; every metric must not.
  auto strip_seconds = [](const std::string& csv) {
    std::string out;
    std::istringstream in(csv);
    for (std::string line; std::getline(in, line);) {
      size_t first = line.find(',');
      size_t second = line.find(',', first + 1);
      out += line.substr(0, first) + line.substr(second) + "\n";
    }
    return out;
  };
  EXPECT_EQ(strip_seconds(*ha), strip_seconds(*hb));
}

TEST(PipelineTest, SavedModelEvaluatesAndPredictsLikeTheTrainedOne) {
  TrainJobOptions train = SmallRun("bilstm", "saved");
  train.overrides.epochs = 3;
  std::ostringstream out;
  ASSERT_TRUE(RunTrainJob(train, out).ok()) << out.str();
  const double trained_acc = TestAccuracy(out.str());

  EvaluateJobOptions eval;
  eval.model_dir = train.output_dir + "/model";
  eval.data_flags.data = CorpusDir();
  std::ostringstream eval_out;
  ASSERT_TRUE(RunEvaluateJob(eval, eval_out).ok()) << eval_out.str();
  EXPECT_DOUBLE_EQ(TestAccuracy(eval_out.str()), trained_acc);

  OpRegistry registry;
  ASSERT_TRUE(RegisterBuiltinOps(&registry).ok());
  auto first = LoadModel(eval.model_dir, registry);
  auto second = LoadModel(eval.model_dir, registry);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(second.ok());
  const std::vector<std::string> texts = {
      "the plot was good and the acting was great .",
      "the plot was not good , the acting was bad ."};
  Tensor ids =
      EncodeTexts(texts, first->vocabulary, first->model->def().dataset());
  auto p1 = first->model->Predict(ids, 8);
  auto p2 = second->model->Predict(ids, 8);
  ASSERT_TRUE(p1.ok() && p2.ok());
  for (int i = 0; i < 2; ++i) EXPECT_EQ(p1->f32()[i], p2->f32()[i]);

  PredictJobOptions predict;
  predict.model_dir = eval.model_dir;
  predict.texts = texts;
  std::ostringstream predict_out;
  ASSERT_TRUE(RunPredictJob(predict, predict_out).ok());
  EXPECT_THAT(predict_out.str(), HasSubstr("\tpositive\tthe plot was good"));
  EXPECT_THAT(predict_out.str(), HasSubstr("\tnegative\tthe plot was not"));
}

TEST(PipelineTest, CorruptModelFilesAreRefused) {
  TrainJobOptions train = SmallRun("bilstm", "corrupt");
  train.overrides.epochs = 1;
  std::ostringstream out;
  ASSERT_TRUE(RunTrainJob(train, out).ok()) << out.str();
  const std::string dir = train.output_dir + "/model";
  OpRegistry registry;
  ASSERT_TRUE(RegisterBuiltinOps(&registry).ok());

  auto weights = ReadFile(dir + "/weights.ckpt");
  ASSERT_TRUE(weights.ok());
  ASSERT_TRUE(WriteFileAtomically(dir + "/weights.ckpt",
                                  weights->substr(0, weights->size() - 100))
                  .ok());
  auto loaded = LoadModel(dir, registry);
  EXPECT_THAT(std::string(loaded.status().message()),
              HasSubstr("weights.ckpt is corrupt or truncated"));

  ASSERT_TRUE(WriteFileAtomically(dir + "/weights.ckpt", *weights).ok());
  ASSERT_TRUE(WriteFileAtomically(dir + "/model.pbtxt", "graph { node {").ok());
  loaded = LoadModel(dir, registry);
  EXPECT_THAT(std::string(loaded.status().message()),
              HasSubstr("model.pbtxt:1:"));
}

TEST(PipelineTest, BadSettingsAreErrors) {
  TrainJobOptions options = SmallRun("bilstm", "bad");
  options.overrides.batch_size = 0;
  std::ostringstream out;
  EXPECT_THAT(std::string(RunTrainJob(options, out).message()),
              HasSubstr("--batch_size is 0: it must be positive"));
  options = SmallRun("bilstm", "bad");
  options.data_flags.data = TmpDir() + "/no_such_data";
  EXPECT_THAT(std::string(RunTrainJob(options, out).message()),
              HasSubstr("no_such_data"));
  options = SmallRun("no_such_model", "bad");
  EXPECT_THAT(std::string(RunTrainJob(options, out).message()),
              HasSubstr("models/no_such_model.pbtxt"));
}

}  // namespace
}  // namespace loom
