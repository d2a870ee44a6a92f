// dataset.group_by: the readers' group column or key (CSV, TSV, JSON Lines)
// and IMDb's movies (urls_*.txt of the official layout, generated here),
// whole groups in the held-out test split and in the validation split
// (SplitValidation), and --group_by through the training driver.
#include <algorithm>
#include <filesystem>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "framework/data/corpus.h"
#include "framework/data/dataset.h"
#include "framework/data/imdb.h"
#include "framework/data/readers/reader.h"
#include "framework/training/data_source.h"
#include "framework/training/model.h"
#include "framework/training/train_job.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/data/synthetic_corpus.h"
#include "tests/training/small_runs.h"

namespace loom {
namespace {

namespace fs = std::filesystem;
using ::loom::testing::TmpDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string File(const std::string& name, const std::string& content) {
  const std::string path = absl::StrCat(TmpDir(), "/", name);
  EXPECT_TRUE(data::WriteTextFile(path, content).ok());
  return path;
}

std::vector<data::Record> ReadAll(const std::string& path,
                                  const data::ReadOptions& options,
                                  absl::Status* status) {
  std::vector<data::Record> records;
  data::ReadStats stats;
  *status = data::ReadRecords(
      path, "", options,
      [&](data::Record& r) {
        records.push_back(r);
        return absl::OkStatus();
      },
      &stats);
  return records;
}

std::vector<std::string> Groups(const std::vector<data::Record>& records) {
  std::vector<std::string> out;
  for (const data::Record& r : records) out.push_back(r.group);
  return out;
}

TEST(GroupColumnTest, CsvTsvAndJsonLinesReadTheGroup) {
  data::ReadOptions options;
  options.group_column = "product";
  absl::Status status;
  auto csv = ReadAll(File("g.csv",
                          "text,label,product\n"
                          "Muy buena,pos, P1 \n"
                          "Mala,neg,P2\n"
                          "Sin producto,neg,\n"),
                     options, &status);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_THAT(Groups(csv), ElementsAre("P1", "P2", ""));
  auto tsv = ReadAll(File("g.tsv", "product\ttext\tlabel\n7\tgood\tpos\n"),
                     options, &status);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_THAT(Groups(tsv), ElementsAre("7"));
  auto jsonl =
      ReadAll(File("g.jsonl",
                   "{\"text\": \"good\", \"label\": 1, \"product\": "
                   "\"A\"}\n"
                   "{\"text\": \"bad\", \"label\": 0, \"product\": 12}\n"
                   "{\"text\": \"meh\", \"label\": 0}\n"),
              options, &status);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_THAT(Groups(jsonl), ElementsAre("A", "12", ""));
  // Without group_column nothing is read.
  auto plain = ReadAll(File("g2.csv", "text,label,product\nok,pos,P\n"),
                       data::ReadOptions(), &status);
  ASSERT_TRUE(status.ok());
  EXPECT_THAT(Groups(plain), ElementsAre(""));
}

TEST(GroupColumnTest, MissingColumnOrBadKeyIsAnErrorNamingIt) {
  data::ReadOptions options;
  options.group_column = "customer";
  absl::Status status;
  ReadAll(File("nog.csv", "text,label,product\nok,pos,P\n"), options, &status);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("nog.csv:1: no group column 'customer'"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("--group_by"));
  ReadAll(File("badg.jsonl",
               "{\"text\": \"ok\", \"label\": 1, \"customer\": [1]}\n"),
          options, &status);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("badg.jsonl:1: key 'customer' (the group) is neither "
                        "a string nor an integer"));
  // A folder of class subfolders has no columns.
  const std::string folder = TmpDir() + "/classes";
  fs::create_directories(folder + "/pos");
  fs::create_directories(folder + "/neg");
  ASSERT_TRUE(data::WriteTextFile(folder + "/pos/a.txt", "good").ok());
  ASSERT_TRUE(data::WriteTextFile(folder + "/neg/b.txt", "bad").ok());
  ReadAll(folder, options, &status);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("a folder of class subfolders has no columns"));
}

data::SyntheticCorpusOptions SmallImdb(int reviews_per_movie) {
  data::SyntheticCorpusOptions options;
  options.train_per_label = 30;
  options.test_per_label = 10;
  options.min_words = 5;
  options.max_words = 20;
  options.reviews_per_movie = reviews_per_movie;
  return options;
}

TEST(ImdbMoviesTest, UrlsGiveEachReviewItsMovieInFolderAndArchive) {
  const std::string dir = TmpDir() + "/imdb_movies";
  ASSERT_TRUE(data::WriteSyntheticImdb(dir, SmallImdb(3)).ok());
  const std::string archive = TmpDir() + "/imdb_movies.tar.gz";
  ASSERT_TRUE(data::WriteArchive(dir, archive).ok());
  for (const std::string& path : {dir, archive}) {
    auto corpus = data::ReadImdb(path);
    ASSERT_TRUE(corpus.ok()) << corpus.status();
    // Review 7 of train/pos (neg's 30 come first) is movie 7 / 3 = 2.
    const data::Review& r = corpus->train[30 + 7];
    EXPECT_EQ(r.label, 1);
    EXPECT_EQ(r.id, 7);
    EXPECT_EQ(r.group, "http://www.imdb.com/title/tt1000002/usercomments")
        << path;
    EXPECT_EQ(corpus->test[4].group,
              "http://www.imdb.com/title/tt1500001/usercomments");
  }
}

TEST(ImdbMoviesTest, GroupByMovieNeedsTheUrlsFiles) {
  const std::string dir = TmpDir() + "/imdb_no_movies";
  data::SyntheticCorpusOptions options = SmallImdb(0);
  options.write_extras = false;  // As the labeled archive: no urls_*.txt.
  ASSERT_TRUE(data::WriteSyntheticImdb(dir, options).ok());
  data::ReadOptions read;
  read.group_column = "movie";
  absl::Status status;
  ReadAll(dir, read, &status);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("group_by \"movie\" needs the movie of every "
                        "training review, and train/urls_neg.txt has no "
                        "line 1 for review 0_"));
  read.group_column = "product";
  ReadAll(dir, read, &status);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("can be grouped by \"movie\" only"));
}

// Features [n, 1] holding the row's number, so a split's rows are visible.
LabeledExamples Numbered(const std::vector<int64_t>& groups) {
  const int64_t n = static_cast<int64_t>(groups.size());
  std::vector<int32_t> ids(n);
  std::vector<float> labels(n);
  for (int64_t i = 0; i < n; ++i) {
    ids[i] = static_cast<int32_t>(i);
    labels[i] = static_cast<float>(i % 2);
  }
  LabeledExamples examples;
  examples.features = Tensor::FromVector({n, 1}, ids);
  examples.labels = Tensor::FromVector({n, 1}, labels);
  examples.groups = groups;
  return examples;
}

std::vector<int32_t> Rows(const LabeledExamples& examples) {
  const int32_t* p = examples.features.i32();
  return std::vector<int32_t>(p, p + examples.size());
}

TEST(SplitValidationTest, WholeGroupsFromTheEnd) {
  // 10 rows; 0.2 asks for 2. From the end: row 9 is group 4 (rows 3, 9),
  // that makes 2, so validation is rows 3 and 9.
  auto split = SplitValidation(Numbered({0, 1, 2, 4, 1, 0, 2, 3, 3, 4}), 0.2);
  ASSERT_TRUE(split.ok()) << split.status();
  EXPECT_THAT(Rows(split->second), ElementsAre(3, 9));
  EXPECT_THAT(Rows(split->first), ElementsAre(0, 1, 2, 4, 5, 6, 7, 8));
  EXPECT_THAT(split->second.groups, ElementsAre(4, 4));
  // 0.3 asks for 3: group 4 (2 rows), then row 8's group 3 (rows 7, 8).
  split = SplitValidation(Numbered({0, 1, 2, 4, 1, 0, 2, 3, 3, 4}), 0.3);
  ASSERT_TRUE(split.ok());
  EXPECT_THAT(Rows(split->second), ElementsAre(3, 7, 8, 9));
  // The validation labels travel with their rows.
  EXPECT_EQ(split->second.labels.f32()[0], 1.0f);  // Row 3.
  EXPECT_EQ(split->second.labels.f32()[1], 1.0f);  // Row 7.
  EXPECT_EQ(split->second.labels.f32()[2], 0.0f);  // Row 8.
  // Without groups it is Keras' last rows.
  LabeledExamples plain = Numbered(std::vector<int64_t>(10, 0));
  plain.groups.clear();
  split = SplitValidation(plain, 0.3);
  ASSERT_TRUE(split.ok());
  EXPECT_THAT(Rows(split->second), ElementsAre(7, 8, 9));
}

TEST(SplitValidationTest, OneGroupHoldingEverythingIsAnError) {
  auto split = SplitValidation(Numbered({5, 5, 5, 5}), 0.25);
  ASSERT_FALSE(split.ok());
  EXPECT_THAT(std::string(split.status().message()),
              HasSubstr("leaves no training examples: one group holds them "
                        "all"));
  // A fraction of 0 takes nothing, groups or not.
  split = SplitValidation(Numbered({5, 5, 5, 5}), 0);
  ASSERT_TRUE(split.ok());
  EXPECT_EQ(split->second.size(), 0);
}

// A CSV of 60 reviews of 12 products (5 each, both labels in every one).
std::string ProductsCsv() {
  std::string csv = "text,label,product\n";
  for (int i = 0; i < 60; ++i) {
    absl::StrAppend(&csv, i % 2 ? "muy buena " : "muy mala ", "review ", i, ",",
                    i % 2 ? "pos" : "neg", ",P", i % 12, "\n");
  }
  return File("products.csv", csv);
}

TEST(GroupByDatasetTest, TestAndValidationSplitsKeepProductsApart) {
  TextDatasetDef def;
  def.set_source(ProductsCsv());
  def.set_num_words(50);
  def.set_max_len(5);
  def.set_test_split(0.25);
  def.set_group_by("product");
  auto corpus = data::LoadCorpus(def);
  ASSERT_TRUE(corpus.ok()) << corpus.status();
  std::set<std::string> train_groups, test_groups;
  for (const auto& r : corpus->train) train_groups.insert(r.group);
  for (const auto& r : corpus->test) test_groups.insert(r.group);
  // 15 of 60 asked for: three products of five reviews.
  EXPECT_EQ(corpus->test.size(), 15u);
  EXPECT_EQ(test_groups.size(), 3u);
  for (const std::string& g : test_groups) EXPECT_EQ(train_groups.count(g), 0u);
  EXPECT_THAT(corpus->notes.back(), HasSubstr("whole groups of 'product'"));

  auto dataset = data::LoadTextDataset("", def);
  ASSERT_TRUE(dataset.ok()) << dataset.status();
  ASSERT_EQ(dataset->train.groups.size(), 45u);
  auto split = SplitValidation(ToLabeledExamples(dataset->train), 0.2);
  ASSERT_TRUE(split.ok()) << split.status();
  std::set<int64_t> fit(split->first.groups.begin(), split->first.groups.end());
  std::set<int64_t> val(split->second.groups.begin(),
                        split->second.groups.end());
  EXPECT_EQ(split->second.size(), 10);  // Two products: 9 asked for.
  EXPECT_EQ(val.size(), 2u);
  for (int64_t g : val) EXPECT_EQ(fit.count(g), 0u);
  // Without group_by the dataset carries no groups.
  def.clear_group_by();
  dataset = data::LoadTextDataset("", def);
  ASSERT_TRUE(dataset.ok());
  EXPECT_TRUE(dataset->train.groups.empty());
}

TEST(GroupByDriverTest, TrainsWithWholeMoviesInValidation) {
  data::SyntheticCorpusOptions movies = SmallImdb(4);
  movies.train_per_label =
      32;  // 8 movies with 4 reviews in each of neg/, pos/.
  const std::string& corpus = loom::testing::WriteCorpusOnce("movies", movies);
  TrainJobOptions options =
      loom::testing::SmallRun({"models/bow.pbtxt", corpus, "movies_run"});
  options.data_flags.group_by = "movie";
  std::ostringstream out;
  absl::Status status = RunTrainJob(options, out);
  ASSERT_TRUE(status.ok()) << status << "\n" << out.str();
  // 64 training reviews, 8 per movie: 0.2 asks for 13, two movies give 16.
  EXPECT_THAT(out.str(), HasSubstr("Train on 48 examples, validate on 16"));
  EXPECT_THAT(out.str(),
              HasSubstr("validation takes whole groups of 'movie': 16 "
                        "examples of 2 groups"));
  // The labeled archive's layout (no urls_*.txt) is refused by name.
  data::SyntheticCorpusOptions bare = SmallImdb(0);
  bare.write_extras = false;
  options.data_flags.data = loom::testing::WriteCorpusOnce("no_movies", bare);
  options.output_dir = TmpDir() + "/no_movies_run";
  status = RunTrainJob(options, out);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("train/urls_neg.txt has no line 1"));
}

}  // namespace
}  // namespace loom
