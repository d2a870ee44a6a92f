// tools/ensemble's library (framework/training/ensemble.h): the ensemble
// folder predicts the mean of its members' probabilities (checked against
// the members run one by one, two- and three-class, through Model::Predict
// and the Predictor), and members that would read texts differently are
// refused by name.
#include "framework/training/ensemble.h"

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "framework/inference/explain.h"
#include "framework/inference/predictor.h"
#include "framework/training/saved_model.h"
#include "framework/training/train_job.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/inference/test_models.h"

namespace loom {
namespace {

using ::loom::testing::TestTexts;
using ::loom::testing::WriteTestModel;
using ::testing::HasSubstr;

std::string TmpDir() { return std::getenv("TEST_TMPDIR"); }

struct Scores {
  std::vector<float> values;  // [texts, width], row-major.
  int64_t width = 0;
};

// The probabilities the model folder `dir` gives TestTexts(12).
Scores Score(const std::string& dir, const OpRegistry& registry) {
  auto loaded = LoadModel(dir, registry);
  EXPECT_TRUE(loaded.ok()) << dir << ": " << loaded.status();
  const Tensor ids = EncodeTexts(TestTexts(12), loaded->vocabulary,
                                 loaded->model->def().dataset());
  auto out = loaded->model->Predict(ids, 5);
  EXPECT_TRUE(out.ok()) << out.status();
  Scores s;
  s.values.assign(out->f32(), out->f32() + out->num_elements());
  s.width = out->dim(1);
  return s;
}

absl::Status Join(const std::vector<std::string>& members,
                  const std::string& out_dir, std::string* printed = nullptr) {
  EnsembleJobOptions options;
  options.member_dirs = members;
  options.output_dir = out_dir;
  std::ostringstream out;
  absl::Status s = RunEnsembleJob(options, out);
  if (printed != nullptr) *printed = out.str();
  return s;
}

void ExpectMean(const std::vector<std::string>& members,
                const std::string& ensemble_dir, int64_t width) {
  OpRegistry registry;
  ASSERT_TRUE(PrepareRegistry({}, &registry).ok());
  const Scores ensemble = Score(ensemble_dir, registry);
  ASSERT_EQ(ensemble.width, width);
  std::vector<Scores> each;
  for (const std::string& m : members) each.push_back(Score(m, registry));
  double largest_spread = 0;
  for (size_t i = 0; i < ensemble.values.size(); ++i) {
    double mean = 0;
    for (const Scores& s : each) mean += s.values[i];
    mean /= static_cast<double>(each.size());
    EXPECT_NEAR(ensemble.values[i], mean, 1e-6) << "value " << i;
    largest_spread =
        std::max(largest_spread, std::abs(each[0].values[i] - mean));
  }
  // The members disagree, so the mean is not any one of them.
  EXPECT_GT(largest_spread, 1e-3);
}

TEST(EnsembleTest, PredictsTheMeanOfTwoBinaryModels) {
  const std::string a =
      WriteTestModel("models/bilstm.pbtxt", TmpDir() + "/bin_a", {}, 7);
  const std::string b =
      WriteTestModel("models/bilstm.pbtxt", TmpDir() + "/bin_b", {}, 8);
  std::string printed;
  const std::string out = TmpDir() + "/bin_ensemble";
  ASSERT_TRUE(Join({a, b}, out, &printed).ok()) << printed;
  EXPECT_THAT(printed, HasSubstr("Ensemble of 2 models"));
  ExpectMean({a, b}, out, 1);

  // The Predictor (tools/serve, the C API) gives the same probabilities.
  OpRegistry registry;
  ASSERT_TRUE(PrepareRegistry({}, &registry).ok());
  auto predictor = Predictor::Load(out, registry);
  ASSERT_TRUE(predictor.ok()) << predictor.status();
  auto predictions = (*predictor)->Predict(TestTexts(12));
  ASSERT_TRUE(predictions.ok()) << predictions.status();
  const Scores direct = Score(out, registry);
  for (size_t i = 0; i < predictions->size(); ++i) {
    EXPECT_NEAR((*predictions)[i].probabilities[1], direct.values[i], 1e-6);
  }
}

// Integrated gradients are linear in the model: the ensemble's attribution
// of each token is the mean of its members' (each member's embedding
// follows its own path, with the same alpha).
TEST(EnsembleTest, ExplanationIsTheMeanOfTheMembersExplanations) {
  const std::string a =
      WriteTestModel("models/bilstm.pbtxt", TmpDir() + "/bin_a", {}, 7);
  const std::string b =
      WriteTestModel("models/bilstm.pbtxt", TmpDir() + "/bin_b", {}, 8);
  const std::string out = TmpDir() + "/explained_ensemble";
  ASSERT_TRUE(Join({a, b}, out).ok());
  OpRegistry registry;
  ASSERT_TRUE(PrepareRegistry({}, &registry).ok());
  const std::string text = "not good film, awful plot but great acting";
  ExplainOptions options;
  options.target_class = 1;
  options.occlusion = false;
  options.prefix_curve = false;
  std::vector<Explanation> explained;
  std::vector<LoadedModel> keep;
  for (const std::string& dir : {a, b, out}) {
    auto loaded = LoadModel(dir, registry);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    keep.push_back(std::move(*loaded));
    auto explainer =
        Explainer::Create(keep.back().model.get(), &keep.back().vocabulary);
    ASSERT_TRUE(explainer.ok()) << dir << ": " << explainer.status();
    auto e = explainer->Explain(text, options);
    ASSERT_TRUE(e.ok()) << e.status();
    explained.push_back(std::move(*e));
  }
  const Explanation& ensemble = explained[2];
  EXPECT_EQ(ensemble.tokens.size(), 9u);  // The start token and 8 words.
  ASSERT_EQ(ensemble.tokens.size(), explained[0].tokens.size());
  for (size_t t = 0; t < ensemble.tokens.size(); ++t) {
    const double mean = 0.5 * (explained[0].tokens[t].attribution +
                               explained[1].tokens[t].attribution);
    EXPECT_NEAR(ensemble.tokens[t].attribution, mean, 1e-5)
        << ensemble.tokens[t].word;
  }
  EXPECT_LT(ensemble.completeness_error, 1e-3);
}

TEST(EnsembleTest, PredictsTheMeanOfThreeSoftmaxModels) {
  const std::vector<std::string> classes = {"1", "2", "3"};
  std::vector<std::string> members;
  for (int seed : {3, 4, 5}) {
    members.push_back(WriteTestModel("models/reviews_stars.pbtxt",
                                     absl::StrCat(TmpDir(), "/stars_", seed),
                                     classes, seed));
  }
  const std::string out = TmpDir() + "/stars_ensemble";
  const absl::Status joined = Join(members, out);
  ASSERT_TRUE(joined.ok()) << joined;
  ExpectMean(members, out, 5);
}

TEST(EnsembleTest, MembersMayDifferInArchitecture) {
  const std::string a =
      WriteTestModel("models/bilstm.pbtxt", TmpDir() + "/bin_a", {}, 7);
  const std::string lstm =
      WriteTestModel("models/lstm.pbtxt", TmpDir() + "/lstm", {}, 3);
  const std::string out = TmpDir() + "/mixed_ensemble";
  ASSERT_TRUE(Join({a, lstm}, out).ok());
  ExpectMean({a, lstm}, out, 1);
}

// Members trained at shorter max_len read the last ids of the texts the
// ensemble encodes at the longest, as their own encoding would have cut
// them: the ensemble's prediction is the mean of theirs, each member
// scoring texts at its own max_len (TestTexts are 2 to 10 ids long, so 5
// and 6 cut most of them). The LSTM of lstm.pbtxt and bilstm.pbtxt's
// max pooling read the padding (the ensemble then pads to its max_len).
TEST(EnsembleTest, MembersMayDifferInMaxLen) {
  const std::string a =
      WriteTestModel("models/bilstm.pbtxt", TmpDir() + "/bin_a", {}, 7);
  const std::string short_bilstm = WriteTestModel(
      "models/bilstm.pbtxt", TmpDir() + "/bin_5", {}, 9, /*max_len=*/5);
  const std::string short_lstm = WriteTestModel(
      "models/lstm.pbtxt", TmpDir() + "/lstm_6", {}, 3, /*max_len=*/6);
  const std::string out = TmpDir() + "/max_len_ensemble";
  std::string printed;
  ASSERT_TRUE(Join({short_bilstm, a, short_lstm}, out, &printed).ok())
      << printed;
  ExpectMean({short_bilstm, a, short_lstm}, out, 1);
  OpRegistry registry;
  ASSERT_TRUE(PrepareRegistry({}, &registry).ok());
  auto loaded = LoadModel(out, registry);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->model->def().dataset().max_len(), 20);
  // Members that mask the padding (bilstm_tuned.pbtxt's pooling does):
  // the ensemble is padding-invariant too, so its batches are cut to their
  // longest row, and still the mean.
  const std::string tuned =
      WriteTestModel("models/bilstm_tuned.pbtxt", TmpDir() + "/tuned", {}, 2);
  const std::string short_tuned =
      WriteTestModel("models/bilstm_tuned.pbtxt", TmpDir() + "/tuned_5", {}, 9,
                     /*max_len=*/5);
  const std::string masked = TmpDir() + "/masked_max_len_ensemble";
  ASSERT_TRUE(Join({short_tuned, tuned}, masked).ok());
  ExpectMean({short_tuned, tuned}, masked, 1);
  auto trimmed = LoadModel(masked, registry);
  ASSERT_TRUE(trimmed.ok()) << trimmed.status();
  EXPECT_TRUE(trimmed->model->trims_lengths())
      << trimmed->model->length_trimming_status();
}

TEST(EnsembleTest, MembersThatReadTextsDifferentlyAreRefused) {
  const std::string a =
      WriteTestModel("models/bilstm.pbtxt", TmpDir() + "/bin_a", {}, 7);
  const std::string named = WriteTestModel(
      "models/bilstm.pbtxt", TmpDir() + "/named", {"bad", "good"}, 8);
  absl::Status s = Join({a, named}, TmpDir() + "/refused");
  EXPECT_THAT(std::string(s.message()),
              HasSubstr(named + ": its classes is bad, good"));
  // A model of 4 float features (max_len 4) reads no text as they do.
  const std::string floats = TmpDir() + "/floats";
  ASSERT_TRUE(loom::testing::WriteTestModelText(
                  loom::testing::kNoEmbeddingModel, floats, 3)
                  .ok());
  s = Join({a, floats}, TmpDir() + "/refused");
  EXPECT_THAT(std::string(s.message()),
              HasSubstr(floats + ": its features input 'x' is float32[?, 4], "
                                 "not token ids int32[N, T]"));
  // Of different max_len, with the padding at the end and the truncation
  // at the start: the shorter rows are not a cut of the longer ones.
  std::ifstream in("models/bilstm.pbtxt");
  std::stringstream text;
  text << in.rdbuf();
  std::string post = text.str();
  const std::string from = "num_words: 10000 max_len: 100 padding: PRE";
  ASSERT_NE(post.find(from), std::string::npos);
  post.replace(post.find(from), from.size(),
               "num_words: 50 max_len: 20 padding: POST");
  std::string post_short = post;
  post_short.replace(post_short.find("max_len: 20"), 11, "max_len: 8");
  ASSERT_TRUE(
      loom::testing::WriteTestModelText(post, TmpDir() + "/post", 3).ok());
  ASSERT_TRUE(
      loom::testing::WriteTestModelText(post_short, TmpDir() + "/post_short", 4)
          .ok());
  s = Join({TmpDir() + "/post", TmpDir() + "/post_short"},
           TmpDir() + "/refused");
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("its dataset.max_len is 8, " + TmpDir() +
                        "/post's 20, and with padding POST and truncating "
                        "PRE"));
  // Of the same max_len they join.
  EXPECT_TRUE(Join({TmpDir() + "/post", TmpDir() + "/post"},
                   TmpDir() + "/post_ensemble")
                  .ok());
  s = Join({a}, TmpDir() + "/refused");
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("an ensemble needs at least two model folders, got 1"));
  s = Join({a, TmpDir() + "/nothing_here"}, TmpDir() + "/refused");
  EXPECT_THAT(std::string(s.message()), HasSubstr("nothing_here"));
}

}  // namespace
}  // namespace loom
