// ScoreFile (tools/predict --input): rows scored across many chunks (its
// reader, model and writer stages run on three threads) come out in input
// order with Model::Predict's labels and probabilities; a bad row in a
// later chunk stops it with the file and line named and no output written;
// with skip_bad_rows it is counted and the rest scored.
#include "framework/training/score_file.h"

#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "framework/file_util.h"
#include "framework/training/classification.h"
#include "framework/training/plugin_search.h"
#include "framework/training/saved_model.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/inference/test_models.h"

namespace loom {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string TmpDir() { return std::string(std::getenv("TEST_TMPDIR")); }

// A CSV file "id,text" of `texts`; row `bad_row` (if >= 0) has an
// unterminated quote.
std::string WriteCsv(const std::string& name,
                     const std::vector<std::string>& texts, int bad_row = -1) {
  std::string csv = "id,text\n";
  for (size_t i = 0; i < texts.size(); ++i) {
    if (static_cast<int>(i) == bad_row) {
      absl::StrAppend(&csv, i, ",\"", texts[i], "\n");
      continue;
    }
    absl::StrAppend(&csv, i, ",\"", texts[i], "\"\n");
  }
  const std::string path = TmpDir() + "/" + name;
  EXPECT_TRUE(WriteFileAtomically(path, csv).ok());
  return path;
}

struct Fixture {
  OpRegistry registry;
  LoadedModel loaded;
};

void Load(Fixture* f) {
  const std::string dir = testing::WriteTestModel(
      "models/bilstm.pbtxt", TmpDir() + "/model", {"negative", "positive"});
  ASSERT_TRUE(PrepareRegistry({}, &f->registry).ok());
  auto loaded = LoadModel(dir, f->registry);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  f->loaded = *std::move(loaded);
}

TEST(ScoreFileTest, ManyChunksInInputOrderWithModelPredictions) {
  Fixture f;
  ASSERT_NO_FATAL_FAILURE(Load(&f));
  const std::vector<std::string> texts = testing::TestTexts(23);
  ScoreFileOptions options;
  options.input = WriteCsv("in.csv", texts);
  options.output = TmpDir() + "/scored.csv";
  options.batch_size = 2;
  options.chunk_rows = 3;  // 8 chunks through the three stages.
  std::ostringstream out;
  auto summary = ScoreFile(*f.loaded.model, f.loaded.vocabulary, options, out);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->rows, 23);
  EXPECT_EQ(summary->label_counts[0] + summary->label_counts[1], 23);

  const Tensor ids =
      EncodeTexts(texts, f.loaded.vocabulary, f.loaded.model->def().dataset());
  auto prediction = f.loaded.model->Predict(ids, 64);
  ASSERT_TRUE(prediction.ok());
  std::vector<std::vector<std::string>> rows;
  data::ReadOptions read;
  read.require_label = false;
  data::ReadStats stats;
  ASSERT_TRUE(data::ReadRecords(
                  options.output, "", read,
                  [&](data::Record& r) {
                    rows.push_back(r.fields);
                    return absl::OkStatus();
                  },
                  &stats)
                  .ok());
  EXPECT_THAT(stats.header, ElementsAre("id", "text", "predicted_label",
                                        "p_negative", "p_positive"));
  ASSERT_EQ(rows.size(), texts.size());
  std::vector<float> p;
  int64_t counted_negative = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    ASSERT_EQ(rows[i].size(), 5u);
    EXPECT_EQ(rows[i][0], absl::StrCat(i));
    EXPECT_EQ(rows[i][1], texts[i]);
    ClassProbabilities(*prediction, static_cast<int64_t>(i), &p);
    EXPECT_EQ(rows[i][2], ArgMax(p) == 0 ? "negative" : "positive") << i;
    counted_negative += ArgMax(p) == 0 ? 1 : 0;
    for (int c = 0; c < 2; ++c) {
      double v = -1;
      ASSERT_TRUE(absl::SimpleAtod(rows[i][3 + c], &v)) << rows[i][3 + c];
      EXPECT_NEAR(v, p[c], 1e-5) << "row " << i << " class " << c;
    }
  }
  EXPECT_EQ(summary->label_counts[0], counted_negative);
}

TEST(ScoreFileTest, BadRowInALaterChunkStopsWithFileAndLineAndNoOutput) {
  Fixture f;
  ASSERT_NO_FATAL_FAILURE(Load(&f));
  ScoreFileOptions options;
  // Row 17 (line 19, after the header) opens a quote it never closes.
  options.input = WriteCsv("bad.csv", testing::TestTexts(18), 17);
  options.output = TmpDir() + "/bad_scored.csv";
  options.batch_size = 2;
  options.chunk_rows = 4;
  std::ostringstream out;
  auto summary = ScoreFile(*f.loaded.model, f.loaded.vocabulary, options, out);
  ASSERT_FALSE(summary.ok());
  EXPECT_THAT(summary.status().message(), HasSubstr("bad.csv:19"));
  EXPECT_FALSE(std::filesystem::exists(options.output));
}

TEST(ScoreFileTest, SkippedBadRowIsCountedAndTheRestScored) {
  Fixture f;
  ASSERT_NO_FATAL_FAILURE(Load(&f));
  // A row without the text column, in the third chunk.
  std::string csv = "id,text\n";
  const std::vector<std::string> texts = testing::TestTexts(12);
  for (int i = 0; i < 12; ++i) {
    if (i == 9) {
      csv += "9\n";
      continue;
    }
    absl::StrAppend(&csv, i, ",", texts[i], "\n");
  }
  ScoreFileOptions options;
  options.input = TmpDir() + "/skip.csv";
  ASSERT_TRUE(WriteFileAtomically(options.input, csv).ok());
  options.output = TmpDir() + "/skip_scored.csv";
  options.read.skip_bad_rows = true;
  options.batch_size = 2;
  options.chunk_rows = 4;
  std::ostringstream out;
  auto summary = ScoreFile(*f.loaded.model, f.loaded.vocabulary, options, out);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->rows, 11);
  EXPECT_EQ(summary->read.skipped, 1);
  EXPECT_THAT(out.str(), HasSubstr("skipped 1"));
}

}  // namespace
}  // namespace loom
