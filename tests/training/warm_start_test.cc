// Warm start (framework/training/warm_start.h): parameters copied by name
// from a saved model folder, vocabulary tables row by row by word,
// patterns choosing parameters, the errors, and --warm_start through the
// training driver.
#include "framework/training/warm_start.h"

#include <atomic>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "framework/checkpoint.h"
#include "framework/data/text.h"
#include "framework/model_io.h"
#include "framework/training/model.h"
#include "framework/training/saved_model.h"
#include "framework/training/train_job.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/data/synthetic_corpus.h"
#include "tests/training/small_runs.h"

namespace loom {
namespace {

using ::loom::testing::BuiltinRegistry;
using ::loom::testing::TmpDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Embedding(10 x WIDTH, mask_zero) -> average -> Dense(1, sigmoid).
constexpr char kBag[] = R"pb(
  name: "bag"
  dataset { name: "imdb" num_words: 10 max_len: 6 }
  layers {
    layer {
      name: "embedding"
      embedding { output_dim: WIDTH mask_zero: true }
    }
    layer {
      name: "mean"
      global_average_pooling1d {}
    }
    layer {
      name: "probability"
      dense { units: 1 activation: "sigmoid" }
    }
    loss: "binary_crossentropy"
    metric: "accuracy"
  }
)pb";

std::unique_ptr<Model> BagModel(int width, uint64_t seed) {
  auto file = ParseModelText(
      absl::StrReplaceAll(kBag, {{"WIDTH", absl::StrCat(width)}}), "bag.pbtxt");
  EXPECT_TRUE(file.ok()) << file.status();
  auto model = Model::Create(*file, BuiltinRegistry(), seed);
  EXPECT_TRUE(model.ok()) << model.status();
  return *std::move(model);
}

data::Vocabulary Words(std::vector<std::string> words) {
  auto v = data::Vocabulary::FromWords(std::move(words), 10);
  EXPECT_TRUE(v.ok()) << v.status();
  return *std::move(v);
}

// A saved bag model of width 4, seed 1, with the words good, bad, film, not
// (ids 3-6); its folder.
const std::string& SourceFolder() {
  static const std::string* dir = [] {
    auto* d = new std::string(TmpDir() + "/source_model");
    auto model = BagModel(4, 1);
    EXPECT_TRUE(
        SaveModel(*model, Words({"good", "bad", "film", "not"}), *d).ok());
    return d;
  }();
  return *dir;
}

const Parameter& Param(Model& model, const std::string& name) {
  for (const Parameter& p : model.executor().parameters()) {
    if (p.name == name) return p;
  }
  ADD_FAILURE() << "no parameter " << name;
  static const Parameter* none = new Parameter();
  return *none;
}

std::vector<float> Row(const Tensor& table, int64_t row) {
  const float* p = table.f32() + row * table.dim(1);
  return std::vector<float>(p, p + table.dim(1));
}

std::vector<float> Values(const Tensor& t) {
  return std::vector<float>(t.f32(), t.f32() + t.num_elements());
}

const Tensor& Source(const std::vector<NamedTensor>& source,
                     const std::string& name) {
  for (const NamedTensor& t : source) {
    if (t.name == name) return t.value;
  }
  ADD_FAILURE() << "no source parameter " << name;
  static const Tensor* none = new Tensor();
  return *none;
}

WarmStartDef From(const std::string& dir,
                  std::vector<std::string> patterns = {}) {
  WarmStartDef def;
  def.set_model(dir);
  for (const std::string& p : patterns) def.add_parameters(p);
  return def;
}

TEST(WarmStartTest, SameVocabularyCopiesEveryParameter) {
  auto source = ReadCheckpoint(SourceFolder() + "/weights.ckpt");
  ASSERT_TRUE(source.ok()) << source.status();
  auto model = BagModel(4, 2);
  // Different seeds: the tables differ before the warm start.
  ASSERT_NE(Values(Param(*model, "embedding/table").value),
            Values(Source(*source, "embedding/table")));
  auto lines = WarmStart(From(SourceFolder()),
                         Words({"good", "bad", "film", "not"}), model.get());
  ASSERT_TRUE(lines.ok()) << lines.status();
  EXPECT_THAT(*lines, ElementsAre("embedding/table [10, 4]: copied",
                                  "probability/kernel [4, 1]: copied",
                                  "probability/bias [1]: copied"));
  for (const char* name :
       {"embedding/table", "probability/kernel", "probability/bias"}) {
    EXPECT_EQ(Values(Param(*model, name).value), Values(Source(*source, name)))
        << name;
  }
}

TEST(WarmStartTest, OtherVocabularyTakesTheTableByWord) {
  auto source = ReadCheckpoint(SourceFolder() + "/weights.ckpt");
  ASSERT_TRUE(source.ok()) << source.status();
  const Tensor& from = Source(*source, "embedding/table");
  auto model = BagModel(4, 2);
  const Tensor before = Param(*model, "embedding/table").value.Clone();
  // film (source id 5) is id 3 here, great (unknown to the source) id 4,
  // good (source id 3) id 5; ids 6-9 are unused.
  auto lines = WarmStart(From(SourceFolder()), Words({"film", "great", "good"}),
                         model.get());
  ASSERT_TRUE(lines.ok()) << lines.status();
  EXPECT_EQ((*lines)[0], "embedding/table [10, 4]: 5 of 10 rows, by word");
  const Tensor& table = Param(*model, "embedding/table").value;
  for (int64_t reserved = 0; reserved < 3; ++reserved) {
    EXPECT_EQ(Row(table, reserved), Row(from, reserved)) << reserved;
  }
  EXPECT_EQ(Row(table, 3), Row(from, 5));    // film
  EXPECT_EQ(Row(table, 4), Row(before, 4));  // great: its initial row
  EXPECT_NE(Row(table, 4), Row(from, 4));
  EXPECT_EQ(Row(table, 5), Row(from, 3));  // good
  for (int64_t unused = 6; unused < 10; ++unused) {
    EXPECT_EQ(Row(table, unused), Row(before, unused)) << unused;
  }
  // The Dense layer is not a vocabulary table: copied whole.
  EXPECT_EQ(Values(Param(*model, "probability/kernel").value),
            Values(Source(*source, "probability/kernel")));
}

TEST(WarmStartTest, PatternsChooseTheParameters) {
  auto source = ReadCheckpoint(SourceFolder() + "/weights.ckpt");
  ASSERT_TRUE(source.ok()) << source.status();
  auto model = BagModel(4, 2);
  const std::vector<float> kernel =
      Values(Param(*model, "probability/kernel").value);
  auto lines = WarmStart(From(SourceFolder(), {"embedding/*"}),
                         Words({"good", "bad", "film", "not"}), model.get());
  ASSERT_TRUE(lines.ok()) << lines.status();
  EXPECT_THAT(*lines, ElementsAre("embedding/table [10, 4]: copied"));
  EXPECT_EQ(Values(Param(*model, "embedding/table").value),
            Values(Source(*source, "embedding/table")));
  EXPECT_EQ(Values(Param(*model, "probability/kernel").value), kernel);
}

TEST(WarmStartTest, BadSettingsAreErrorsNamingTheProblem) {
  const data::Vocabulary same = Words({"good", "bad", "film", "not"});
  auto model = BagModel(4, 2);
  const std::vector<float> table =
      Values(Param(*model, "embedding/table").value);

  auto s = WarmStart(From(SourceFolder(), {"lstm/*"}), same, model.get());
  EXPECT_THAT(std::string(s.status().message()),
              HasSubstr("pattern 'lstm/*' matches no parameter of this model "
                        "(embedding/table, probability/kernel, "
                        "probability/bias)"));
  s = WarmStart(From(TmpDir() + "/no_such_model"), same, model.get());
  EXPECT_THAT(std::string(s.status().message()),
              HasSubstr("no_such_model/weights.ckpt"));
  s = WarmStart(From(""), same, model.get());
  EXPECT_THAT(std::string(s.status().message()),
              HasSubstr("no model folder given"));

  // Width 6 against the source's 4: the copy and the by-word take refuse.
  auto wide = BagModel(6, 2);
  s = WarmStart(From(SourceFolder()), same, wide.get());
  EXPECT_THAT(std::string(s.status().message()),
              HasSubstr("parameter 'embedding/table' differs in shape: this "
                        "model's [10, 6], the source's [10, 4]"));
  s = WarmStart(From(SourceFolder()), Words({"film"}), wide.get());
  EXPECT_THAT(std::string(s.status().message()),
              HasSubstr("vocabulary table 'embedding/table' needs two "
                        "dimensions and the same width"));
  // Nothing changed on any error.
  EXPECT_EQ(Values(Param(*model, "embedding/table").value), table);
}

TEST(WarmStartTest, DamagedCheckpointIsRefused) {
  const std::string dir = TmpDir() + "/damaged_model";
  auto model = BagModel(4, 1);
  ASSERT_TRUE(SaveModel(*model, Words({"good"}), dir).ok());
  std::string bytes;
  {
    std::ifstream in(dir + "/weights.ckpt", std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    bytes = ss.str();
  }
  bytes[bytes.size() / 2] ^= 0x5a;
  {
    std::ofstream out(dir + "/weights.ckpt", std::ios::binary);
    out << bytes;
  }
  auto s = WarmStart(From(dir), Words({"good"}), model.get());
  EXPECT_THAT(std::string(s.status().message()),
              HasSubstr("checksum mismatch"));
}

TEST(WarmStartTest, TrainFlagStartsFromATrainedModelAndRecordsIt) {
  data::SyntheticCorpusOptions corpus_options;
  corpus_options.train_per_label = 40;
  corpus_options.test_per_label = 10;
  const std::string& corpus =
      testing::WriteCorpusOnce("warm_corpus", corpus_options);
  TrainJobOptions first = testing::SmallRun(
      {"models/bilstm.pbtxt", corpus, "warm_first", 30, 300, 1});
  std::ostringstream out1;
  ASSERT_TRUE(RunTrainJob(first, out1).ok()) << out1.str();

  TrainJobOptions second = testing::SmallRun(
      {"models/bilstm.pbtxt", corpus, "warm_second", 30, 300, 1});
  second.overrides.warm_start = TmpDir() + "/warm_first/model";
  second.overrides.set = {"training.warm_start.parameters[0]=embedding/*"};
  std::ostringstream out2;
  absl::Status status = RunTrainJob(second, out2);
  ASSERT_TRUE(status.ok()) << status << "\n" << out2.str();
  EXPECT_THAT(out2.str(), HasSubstr(absl::StrCat(
                              "Warm start from ", TmpDir(),
                              "/warm_first/model:\n  embedding/table [300, ")));
  auto config = ReadModelFile(TmpDir() + "/warm_second/config.pbtxt");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->model.training().warm_start().model(),
            TmpDir() + "/warm_first/model");
  EXPECT_THAT(config->model.training().warm_start().parameters(),
              ElementsAre("embedding/*"));

  // Frozen: training leaves the table as the source had it, and moves the
  // rest.
  TrainJobOptions frozen = testing::SmallRun(
      {"models/bilstm.pbtxt", corpus, "warm_frozen", 30, 300, 1});
  frozen.overrides.warm_start = TmpDir() + "/warm_first/model";
  frozen.overrides.set = {"training.warm_start.parameters[0]=embedding/*",
                          "training.warm_start.freeze=true"};
  std::ostringstream out3;
  status = RunTrainJob(frozen, out3);
  ASSERT_TRUE(status.ok()) << status << "\n" << out3.str();
  EXPECT_THAT(out3.str(), HasSubstr(": copied, frozen\n"));
  auto first_weights =
      ReadCheckpoint(TmpDir() + "/warm_first/model/weights.ckpt");
  auto frozen_weights =
      ReadCheckpoint(TmpDir() + "/warm_frozen/model/weights.ckpt");
  auto second_weights =
      ReadCheckpoint(TmpDir() + "/warm_second/model/weights.ckpt");
  ASSERT_TRUE(first_weights.ok() && frozen_weights.ok() && second_weights.ok());
  EXPECT_EQ(Values(Source(*frozen_weights, "embedding/table")),
            Values(Source(*first_weights, "embedding/table")));
  // Not frozen, the same start moved.
  EXPECT_NE(Values(Source(*second_weights, "embedding/table")),
            Values(Source(*first_weights, "embedding/table")));
  EXPECT_NE(Values(Source(*frozen_weights, "probability/kernel")),
            Values(Source(*first_weights, "probability/kernel")));

  // Stopped after its first step and resumed, the run keeps the table
  // fixed: the resume checkpoint gives the values, the warm start the
  // freezing.
  TrainJobOptions stopped = testing::SmallRun(
      {"models/bilstm.pbtxt", corpus, "warm_stopped", 30, 300, 2});
  stopped.overrides = frozen.overrides;
  std::atomic<bool> stop{true};
  stopped.stop_requested = &stop;
  std::ostringstream out4;
  status = RunTrainJob(stopped, out4);
  ASSERT_TRUE(absl::IsCancelled(status)) << status << "\n" << out4.str();
  TrainJobOptions resumed;
  resumed.resume_dir = stopped.output_dir;
  resumed.threads = 1;
  std::ostringstream out5;
  status = RunTrainJob(resumed, out5);
  ASSERT_TRUE(status.ok()) << status << "\n" << out5.str();
  EXPECT_THAT(out5.str(),
              HasSubstr(absl::StrCat("Frozen by the warm start from ", TmpDir(),
                                     "/warm_first/model:\n  embedding/table "
                                     "[300, 64]: copied, frozen\n")));
  auto resumed_weights =
      ReadCheckpoint(TmpDir() + "/warm_stopped/model/weights.ckpt");
  ASSERT_TRUE(resumed_weights.ok()) << resumed_weights.status();
  EXPECT_EQ(Values(Source(*resumed_weights, "embedding/table")),
            Values(Source(*first_weights, "embedding/table")));
  EXPECT_NE(Values(Source(*resumed_weights, "probability/kernel")),
            Values(Source(*first_weights, "probability/kernel")));
}

}  // namespace
}  // namespace loom
