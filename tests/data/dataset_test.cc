#include "framework/data/dataset.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/data/synthetic_corpus.h"

namespace loom::data {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/dataset_test/" + name;
}

loom::TextDatasetDef Def(int num_words, int max_len, int64_t seed = 0) {
  loom::TextDatasetDef def;
  def.set_name("imdb");
  def.set_num_words(num_words);
  def.set_max_len(max_len);
  def.set_shuffle_seed(seed);
  return def;
}

Review MakeReview(const std::string& text, int label, int id) {
  Review review;
  review.text = text;
  review.label = label;
  review.id = id;
  review.rating = label == 1 ? 8 : 2;
  return review;
}

SyntheticCorpusOptions Options() {
  SyntheticCorpusOptions options;
  options.train_per_label = 40;
  options.test_per_label = 30;
  options.seed = 3;
  options.min_words = 5;
  options.max_words = 40;
  return options;
}

// The row of `split` for review `review` encoded as the dataset does.
std::vector<int32_t> ExpectedRows(const std::vector<Review>& reviews,
                                  const std::vector<int64_t>& order, int64_t n,
                                  const Vocabulary& vocabulary, int max_len,
                                  Padding padding, Padding truncating) {
  std::vector<std::vector<int32_t>> sequences;
  for (int64_t i = 0; i < n; ++i) {
    sequences.push_back(vocabulary.Encode(reviews[order[i]].text));
  }
  return PadSequences(sequences, max_len, padding, truncating);
}

// Expects both splits of `data`, built from `corpus` with shuffle seed
// `seed`, max_len 16 and pre padding/truncating, to hold the reviews in
// their seeded shuffle order, encoded with data's own vocabulary.
void ExpectShuffledEncodedRows(const ImdbCorpus& corpus,
                               const TextDataset& data, int64_t seed) {
  const int64_t n_train = static_cast<int64_t>(corpus.train.size());
  const int64_t n_test = static_cast<int64_t>(corpus.test.size());
  const std::vector<int64_t> train_order = ShuffledOrder(n_train, seed);
  const std::vector<int64_t> test_order =
      ShuffledOrder(n_test, TestShuffleSeed(seed));
  EXPECT_EQ(data.train.ids,
            ExpectedRows(corpus.train, train_order, n_train, data.vocabulary,
                         16, Padding::kPre, Padding::kPre));
  EXPECT_EQ(data.test.ids,
            ExpectedRows(corpus.test, test_order, n_test, data.vocabulary, 16,
                         Padding::kPre, Padding::kPre));
}

TEST(ShuffledOrderTest, IsASeededPermutation) {
  // Golden values, checked against an independent Python implementation of
  // MT19937-64 (a standardized engine) + this Fisher-Yates with rejection
  // sampling: they must never change, whatever the standard library.
  EXPECT_THAT(ShuffledOrder(10, 42), ElementsAre(1, 7, 9, 0, 3, 8, 4, 2, 5, 6));
  EXPECT_THAT(ShuffledOrder(1, 5), ElementsAre(0));
  EXPECT_TRUE(ShuffledOrder(0, 5).empty());

  const std::vector<int64_t> a = ShuffledOrder(1000, 7);
  EXPECT_EQ(a, ShuffledOrder(1000, 7));
  EXPECT_NE(a, ShuffledOrder(1000, 8));
  std::set<int64_t> values(a.begin(), a.end());
  EXPECT_EQ(values.size(), 1000u);
  EXPECT_EQ(*values.begin(), 0);
  EXPECT_EQ(*values.rbegin(), 999);
  EXPECT_NE(TestShuffleSeed(7), 7u);
  EXPECT_NE(TestShuffleSeed(7), TestShuffleSeed(8));
  EXPECT_NE(ShuffledOrder(1000, TestShuffleSeed(7)), a);
}

TEST(ValidateTextDatasetDefTest, RefusesBadOptions) {
  EXPECT_TRUE(ValidateTextDatasetDef(Def(4, 1)).ok());
  loom::TextDatasetDef unnamed = Def(10, 5);
  unnamed.clear_name();
  EXPECT_TRUE(ValidateTextDatasetDef(unnamed).ok());

  struct Case {
    loom::TextDatasetDef def;
    const char* problem;
  };
  std::vector<Case> cases;
  cases.push_back({Def(3, 10), "num_words must be > 3"});
  cases.push_back({Def(0, 10), "num_words must be > 3"});
  cases.push_back({Def(100, 0), "max_len must be > 0"});
  cases.push_back({Def(100, -5), "max_len must be > 0, got -5"});
  cases.push_back({Def(100, 10), "train_limit must be >= 0"});
  cases.back().def.set_train_limit(-1);
  cases.push_back({Def(100, 10), "test_limit must be >= 0"});
  cases.back().def.set_test_limit(-2);
  cases.push_back({Def(100, 10), "dataset.on_bad_rows: 'ignore' is not one "
                                 "of stop, skip"});
  cases.back().def.set_on_bad_rows("ignore");
  cases.push_back({Def(100, 10), "dataset.on_bad_text: 'drop' is not one of "
                                 "error, replace"});
  cases.back().def.set_on_bad_text("drop");
  cases.push_back({Def(100, 10), "dataset.label_source: 'stars' is not one "
                                 "of sentiment, rating"});
  cases.back().def.set_label_source("stars");
  cases.push_back({Def(100, 10), "test_split must be in [0, 1), got 1.5"});
  cases.back().def.set_test_split(1.5);
  cases.push_back({Def(100, 10), "test_split must be in [0, 1), got nan"});
  cases.back().def.set_test_split(std::nanf(""));
  cases.push_back({Def(100, 10), "dataset.class_name lists 'a' twice"});
  cases.back().def.add_class_name("a");
  cases.back().def.add_class_name("b");
  cases.back().def.add_class_name("a");
  cases.push_back({Def(100, 10), "TextDatasetDef.padding: unknown value 7"});
  cases.back().def.set_padding(static_cast<loom::TextDatasetDef::Padding>(7));
  cases.push_back({Def(100, 10), "TextDatasetDef.truncating: unknown value"});
  cases.back().def.set_truncating(
      static_cast<loom::TextDatasetDef::Padding>(-1));
  const ImdbCorpus corpus = MakeSyntheticCorpus(Options());
  for (const Case& c : cases) {
    absl::Status status = ValidateTextDatasetDef(c.def);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.problem;
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.problem));
    absl::StatusOr<TextDataset> built = BuildTextDataset(corpus, c.def);
    EXPECT_EQ(built.status(), status);
    absl::StatusOr<TextDataset> loaded =
        LoadTextDataset(TempPath("never/read"), c.def);
    EXPECT_EQ(loaded.status(), status) << "options are checked first";
  }
}

// Expected results of the hand-made corpus below, by review (before the
// shuffle).
struct HandMadeExpectation {
  bool keep_punctuation;
  std::vector<std::string> words;
  std::vector<std::vector<int32_t>> train_rows;  // PRE/PRE, max_len 4.
  std::vector<std::vector<int32_t>> test_rows;
  std::vector<std::vector<int32_t>> train_post;  // POST/POST.
  std::vector<std::vector<int32_t>> test_post;
};

TEST(BuildTextDatasetTest, HandMadeCorpus) {
  ImdbCorpus corpus;
  corpus.train = {MakeReview("Bad movie", 0, 0),
                  MakeReview("Good movie!", 1, 0)};
  corpus.test = {MakeReview("a bad zebra", 0, 0),
                 MakeReview("good good zebra zebra zebra", 1, 0)};
  const std::vector<HandMadeExpectation> expectations = {
      // Without punctuation (the default). Train counts: movie 2; bad,
      // good 1 -> movie 3, bad 4, good 5. Test words never count.
      // Rows by review: "bad movie" [1 4 3], "good movie!" [1 5 3],
      // "a bad zebra" [1 2 4 2], "good good zebra zebra zebra"
      // [1 5 5 2 2 2].
      {false,
       {"movie", "bad", "good"},
       {{0, 1, 4, 3}, {0, 1, 5, 3}},
       {{1, 2, 4, 2}, {5, 2, 2, 2}},
       {{1, 4, 3, 0}, {1, 5, 3, 0}},
       {{1, 2, 4, 2}, {1, 5, 5, 2}}},
      // With punctuation. Train counts: movie 2; "!", bad, good 1 -> movie 3,
      // "!" 4, bad 5, good 6. "good movie!" is [1 6 3 4], one id longer.
      {true,
       {"movie", "!", "bad", "good"},
       {{0, 1, 5, 3}, {1, 6, 3, 4}},
       {{1, 2, 5, 2}, {6, 2, 2, 2}},
       {{1, 5, 3, 0}, {1, 6, 3, 4}},
       {{1, 2, 5, 2}, {1, 6, 6, 2}}},
  };
  const std::vector<int64_t> train_order = ShuffledOrder(2, 11);
  const std::vector<int64_t> test_order = ShuffledOrder(2, TestShuffleSeed(11));
  for (const HandMadeExpectation& e : expectations) {
    SCOPED_TRACE(e.keep_punctuation ? "keep_punctuation" : "no punctuation");
    loom::TextDatasetDef def = Def(10, 4, 11);
    def.set_keep_punctuation(e.keep_punctuation);
    absl::StatusOr<TextDataset> data = BuildTextDataset(corpus, def);
    ASSERT_TRUE(data.ok()) << data.status();
    EXPECT_EQ(data->vocabulary.words(), e.words);
    EXPECT_EQ(data->vocabulary.keep_punctuation(), e.keep_punctuation);
    EXPECT_EQ(data->vocabulary.num_words(), 10);
    EXPECT_EQ(data->vocabulary.Id("zebra"), 2);

    ASSERT_EQ(data->train.n, 2);
    ASSERT_EQ(data->train.max_len, 4);
    ASSERT_EQ(data->test.n, 2);
    ASSERT_EQ(data->train.ids.size(), 8u);
    ASSERT_EQ(data->test.ids.size(), 8u);
    for (int i = 0; i < 2; ++i) {
      EXPECT_EQ(std::vector<int32_t>(data->train.ids.begin() + 4 * i,
                                     data->train.ids.begin() + 4 * i + 4),
                e.train_rows[train_order[i]]);
      EXPECT_EQ(data->train.labels[i], static_cast<float>(train_order[i]));
      EXPECT_EQ(std::vector<int32_t>(data->test.ids.begin() + 4 * i,
                                     data->test.ids.begin() + 4 * i + 4),
                e.test_rows[test_order[i]]);
      EXPECT_EQ(data->test.labels[i], static_cast<float>(test_order[i]));
    }

    // POST padding and truncating, limits of one review each.
    loom::TextDatasetDef post = def;
    post.set_padding(loom::TextDatasetDef::POST);
    post.set_truncating(loom::TextDatasetDef::POST);
    post.set_train_limit(1);
    post.set_test_limit(1);
    absl::StatusOr<TextDataset> limited = BuildTextDataset(corpus, post);
    ASSERT_TRUE(limited.ok()) << limited.status();
    EXPECT_EQ(limited->train.n, 1);
    EXPECT_EQ(limited->test.n, 1);
    EXPECT_EQ(limited->train.ids, e.train_post[train_order[0]]);
    EXPECT_EQ(limited->test.ids, e.test_post[test_order[0]]);
    EXPECT_THAT(limited->train.labels,
                ElementsAre(static_cast<float>(train_order[0])));
  }
}

TEST(BuildTextDatasetTest, RowsAreTheShuffledPaddedEncodings) {
  const ImdbCorpus corpus = MakeSyntheticCorpus(Options());
  const loom::TextDatasetDef def = Def(30, 16, 123);
  absl::StatusOr<TextDataset> data = BuildTextDataset(corpus, def);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->vocabulary.size(), 30);
  EXPECT_EQ(data->train.n, 80);
  EXPECT_EQ(data->test.n, 60);
  ASSERT_EQ(corpus.train.size(), 80u);
  ASSERT_EQ(corpus.test.size(), 60u);
  ExpectShuffledEncodedRows(corpus, *data, 123);
  const std::vector<int64_t> train_order = ShuffledOrder(80, 123);
  for (int i = 0; i < 80; ++i) {
    EXPECT_EQ(data->train.labels[i], corpus.train[train_order[i]].label);
  }
  // Every id is in range and each row ends with a real token (pre padding,
  // pre truncating keeps the end of the review).
  for (int64_t i = 0; i < data->train.n; ++i) {
    EXPECT_GE(data->train.ids[i * 16 + 15], 2);
  }
  for (int32_t id : data->train.ids) {
    EXPECT_GE(id, 0);
    EXPECT_LT(id, 30);
  }
}

TEST(BuildTextDatasetTest, VocabularyComesFromAllTrainingReviewsOnly) {
  ImdbCorpus corpus = MakeSyntheticCorpus(Options());
  // A word that is frequent in test only, and one in the last train review.
  for (Review& review : corpus.test) review.text += " zebra zebra zebra";
  corpus.train.back().text += " platypus platypus platypus platypus";
  loom::TextDatasetDef def = Def(1000, 50, 1);
  def.set_train_limit(5);
  absl::StatusOr<TextDataset> data = BuildTextDataset(corpus, def);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->vocabulary.Id("zebra"), Vocabulary::kOovId);
  EXPECT_NE(data->vocabulary.Id("platypus"), Vocabulary::kOovId);
  std::vector<std::string_view> texts;
  for (const Review& review : corpus.train) texts.push_back(review.text);
  absl::StatusOr<Vocabulary> expected = Vocabulary::Build(texts, 1000);
  ASSERT_TRUE(expected.ok());
  EXPECT_EQ(data->vocabulary.words(), expected->words());
}

TEST(BuildTextDatasetTest, ShuffleIsDeterministicAndSeeded) {
  const ImdbCorpus corpus = MakeSyntheticCorpus(Options());
  absl::StatusOr<TextDataset> a = BuildTextDataset(corpus, Def(50, 20, 5));
  absl::StatusOr<TextDataset> b = BuildTextDataset(corpus, Def(50, 20, 5));
  absl::StatusOr<TextDataset> c = BuildTextDataset(corpus, Def(50, 20, 6));
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(a->train.ids, b->train.ids);
  EXPECT_EQ(a->train.labels, b->train.labels);
  EXPECT_EQ(a->test.ids, b->test.ids);
  EXPECT_EQ(a->test.labels, b->test.labels);
  EXPECT_NE(a->train.ids, c->train.ids);
  EXPECT_NE(a->train.labels, c->train.labels);
  EXPECT_NE(a->test.ids, c->test.ids);
  EXPECT_EQ(a->vocabulary.words(), c->vocabulary.words());
  // The shuffle mixes the classes (the corpus is sorted neg then pos).
  const std::vector<float> first_ten(a->train.labels.begin(),
                                     a->train.labels.begin() + 10);
  EXPECT_NE(first_ten, std::vector<float>(10, 0.0f));
  EXPECT_NE(first_ten, std::vector<float>(10, 1.0f));
}

TEST(BuildTextDatasetTest, LimitsTakeTheFirstShuffledReviews) {
  const ImdbCorpus corpus = MakeSyntheticCorpus(Options());
  const loom::TextDatasetDef all = Def(50, 12, 9);
  loom::TextDatasetDef some = all;
  some.set_train_limit(10);
  some.set_test_limit(7);
  absl::StatusOr<TextDataset> full = BuildTextDataset(corpus, all);
  absl::StatusOr<TextDataset> part = BuildTextDataset(corpus, some);
  ASSERT_TRUE(full.ok() && part.ok());
  EXPECT_EQ(part->train.n, 10);
  EXPECT_EQ(part->test.n, 7);
  EXPECT_EQ(part->train.ids.size(), 120u);
  EXPECT_EQ(part->test.ids.size(), 84u);
  EXPECT_EQ(part->train.ids,
            std::vector<int32_t>(full->train.ids.begin(),
                                 full->train.ids.begin() + 120));
  EXPECT_EQ(part->test.ids, std::vector<int32_t>(full->test.ids.begin(),
                                                 full->test.ids.begin() + 84));
  EXPECT_EQ(part->train.labels,
            std::vector<float>(full->train.labels.begin(),
                               full->train.labels.begin() + 10));
  EXPECT_EQ(part->vocabulary.words(), full->vocabulary.words());

  loom::TextDatasetDef huge = all;
  huge.set_train_limit(100000);
  absl::StatusOr<TextDataset> everything = BuildTextDataset(corpus, huge);
  ASSERT_TRUE(everything.ok());
  EXPECT_EQ(everything->train.n, 80);
  EXPECT_EQ(everything->train.ids, full->train.ids);
}

TEST(BuildTextDatasetTest, SingleTrainingReviewAndEmptyTest) {
  ImdbCorpus corpus;
  corpus.train = {MakeReview("not bad, not bad at all", 1, 4)};
  loom::TextDatasetDef def = Def(6, 8);
  def.set_keep_punctuation(true);
  absl::StatusOr<TextDataset> data = BuildTextDataset(corpus, def);
  ASSERT_TRUE(data.ok()) << data.status();
  // Counts: bad 2, not 2, "," 1, all 1, at 1 -> bad 3, not 4, "," 5.
  EXPECT_THAT(data->vocabulary.words(), ElementsAre("bad", "not", ","));
  EXPECT_THAT(data->train.ids, ElementsAre(1, 4, 3, 5, 4, 3, 2, 2));
  EXPECT_THAT(data->train.labels, ElementsAre(1.0f));
  EXPECT_EQ(data->test.n, 0);
  EXPECT_TRUE(data->test.ids.empty());

  // Without punctuation: bad 2, not 2, all 1, at 1 -> bad 3, not 4, all 5,
  // and the review is 7 ids long, so one pad in front.
  data = BuildTextDataset(corpus, Def(6, 8));
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_THAT(data->vocabulary.words(), ElementsAre("bad", "not", "all"));
  EXPECT_THAT(data->train.ids, ElementsAre(0, 1, 4, 3, 4, 3, 2, 5));
  EXPECT_THAT(data->train.labels, ElementsAre(1.0f));
  EXPECT_EQ(data->test.n, 0);
}

TEST(BuildTextDatasetTest, PunctuationSettingOnTheSyntheticCorpus) {
  const ImdbCorpus corpus = MakeSyntheticCorpus(Options());
  loom::TextDatasetDef def = Def(30, 16, 123);
  loom::TextDatasetDef keep_def = def;
  keep_def.set_keep_punctuation(true);
  absl::StatusOr<TextDataset> drop = BuildTextDataset(corpus, def);
  absl::StatusOr<TextDataset> keep = BuildTextDataset(corpus, keep_def);
  ASSERT_TRUE(drop.ok()) << drop.status();
  ASSERT_TRUE(keep.ok()) << keep.status();
  EXPECT_FALSE(drop->vocabulary.keep_punctuation());
  EXPECT_TRUE(keep->vocabulary.keep_punctuation());

  // The synthetic reviews end sentences with "." and "!" and have commas,
  // semicolons, brackets and quotes: these are among the 27 most frequent
  // tokens with punctuation, and none are without.
  const auto is_punctuation = [](const std::string& word) {
    return Tokenize(word).empty();
  };
  int keep_punctuation_words = 0;
  for (const std::string& word : keep->vocabulary.words()) {
    keep_punctuation_words += is_punctuation(word) ? 1 : 0;
  }
  EXPECT_GE(keep_punctuation_words, 2);
  for (const std::string& word : drop->vocabulary.words()) {
    EXPECT_FALSE(is_punctuation(word)) << word;
  }
  EXPECT_EQ(keep->vocabulary.Id("."), 3) << "the most frequent token";
  EXPECT_EQ(drop->vocabulary.Id("."), Vocabulary::kOovId);

  // Word counts do not depend on the setting, so the words rank the same:
  // without punctuation, the vocabulary is the words of a large vocabulary
  // with punctuation, punctuation removed, cut to num_words - 3.
  std::vector<std::string_view> texts;
  for (const Review& review : corpus.train) texts.push_back(review.text);
  absl::StatusOr<Vocabulary> all = Vocabulary::Build(texts, 100000, true);
  ASSERT_TRUE(all.ok()) << all.status();
  std::vector<std::string> words_only;
  for (const std::string& word : all->words()) {
    if (!is_punctuation(word) && words_only.size() < 27) {
      words_only.push_back(word);
    }
  }
  EXPECT_EQ(drop->vocabulary.words(), words_only);
  std::vector<std::string> first_27(all->words().begin(),
                                    all->words().begin() + 27);
  EXPECT_EQ(keep->vocabulary.words(), first_27);

  // Rows are each vocabulary's encodings, which differ.
  for (const TextDataset* data : {&*drop, &*keep}) {
    ExpectShuffledEncodedRows(corpus, *data, 123);
  }
  EXPECT_NE(drop->train.ids, keep->train.ids);
  EXPECT_NE(drop->test.ids, keep->test.ids);
  EXPECT_EQ(drop->train.labels, keep->train.labels);
  EXPECT_EQ(drop->test.labels, keep->test.labels);

  // Each review has fewer tokens without punctuation.
  for (const Review& review : corpus.train) {
    EXPECT_LT(Tokenize(review.text).size(), Tokenize(review.text, true).size())
        << review.text;
  }
}

TEST(BuildTextDatasetTest, RefusesCorpusWithoutTrainingReviews) {
  ImdbCorpus corpus;
  corpus.test = {MakeReview("good", 1, 0)};
  absl::StatusOr<TextDataset> data = BuildTextDataset(corpus, Def(10, 5));
  ASSERT_FALSE(data.ok());
  EXPECT_THAT(std::string(data.status().message()),
              HasSubstr("no training reviews"));
}

TEST(EncodeTestSplitTest, MatchesBuildTextDatasetWithASavedVocabulary) {
  const ImdbCorpus corpus = MakeSyntheticCorpus(Options());
  fs::create_directories(TempPath(""));
  std::vector<int32_t> previous_ids;
  for (bool keep : {false, true}) {
    SCOPED_TRACE(keep ? "keep_punctuation" : "no punctuation");
    loom::TextDatasetDef def = Def(40, 20, 13);
    def.set_test_limit(17);
    def.set_padding(loom::TextDatasetDef::POST);
    def.set_keep_punctuation(keep);
    absl::StatusOr<TextDataset> data = BuildTextDataset(corpus, def);
    ASSERT_TRUE(data.ok()) << data.status();
    const std::string path = TempPath("saved.vocab");
    ASSERT_TRUE(data->vocabulary.Save(path).ok());
    absl::StatusOr<Vocabulary> loaded = Vocabulary::Load(path);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    EXPECT_EQ(loaded->keep_punctuation(), keep);
    absl::StatusOr<EncodedSplit> test = EncodeTestSplit(corpus, *loaded, def);
    ASSERT_TRUE(test.ok()) << test.status();
    EXPECT_EQ(test->n, 17);
    EXPECT_EQ(test->max_len, 20);
    EXPECT_EQ(test->ids, data->test.ids);
    EXPECT_EQ(test->labels, data->test.labels);
    EXPECT_NE(test->ids, previous_ids);
    previous_ids = test->ids;

    def.set_max_len(0);
    EXPECT_THAT(
        std::string(EncodeTestSplit(corpus, *loaded, def).status().message()),
        HasSubstr("max_len must be > 0"));
  }
}

TEST(EncodeTestSplitTest, RefusesAVocabularyWithAnotherPunctuationSetting) {
  const ImdbCorpus corpus = MakeSyntheticCorpus(Options());
  loom::TextDatasetDef def = Def(40, 20, 13);
  absl::StatusOr<TextDataset> data = BuildTextDataset(corpus, def);
  ASSERT_TRUE(data.ok()) << data.status();
  def.set_keep_punctuation(true);
  absl::Status status = EncodeTestSplit(corpus, data->vocabulary, def).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "EncodeTestSplit: TextDatasetDef.keep_punctuation is true but the "
            "vocabulary drops punctuation; the model was trained with the "
            "vocabulary's setting, so set keep_punctuation: false in the "
            "dataset definition");

  absl::StatusOr<Vocabulary> keeps =
      Vocabulary::FromWords({"the", "."}, 10, true);
  ASSERT_TRUE(keeps.ok()) << keeps.status();
  def.set_keep_punctuation(false);
  status = EncodeTestSplit(corpus, *keeps, def).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "EncodeTestSplit: TextDatasetDef.keep_punctuation is false but "
            "the vocabulary keeps punctuation (v1 vocabulary files always "
            "do); the model was trained with the vocabulary's setting, so set "
            "keep_punctuation: true in the dataset definition");
}

TEST(EncodeTestSplitTest, V1VocabularyFileEncodesWithPunctuation) {
  // A model saved before keep_punctuation existed has a v1 vocabulary file
  // and was trained with punctuation tokens.
  const ImdbCorpus corpus = MakeSyntheticCorpus(Options());
  loom::TextDatasetDef def = Def(40, 20, 13);
  def.set_keep_punctuation(true);
  absl::StatusOr<TextDataset> data = BuildTextDataset(corpus, def);
  ASSERT_TRUE(data.ok()) << data.status();
  std::string v1 = "loom-vocabulary v1 num_words=40 words=" +
                   std::to_string(data->vocabulary.words().size()) + "\n";
  for (const std::string& word : data->vocabulary.words()) v1 += word + "\n";
  fs::create_directories(TempPath(""));
  const std::string path = TempPath("v1.vocab");
  ASSERT_TRUE(WriteTextFile(path, v1).ok());
  absl::StatusOr<Vocabulary> loaded = Vocabulary::Load(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_TRUE(loaded->keep_punctuation());
  EXPECT_EQ(loaded->words(), data->vocabulary.words());
  absl::StatusOr<EncodedSplit> test = EncodeTestSplit(corpus, *loaded, def);
  ASSERT_TRUE(test.ok()) << test.status();
  EXPECT_EQ(test->ids, data->test.ids);
  EXPECT_EQ(test->labels, data->test.labels);
}

TEST(LoadTextDatasetTest, ArchiveAndFolderGiveTheSameDataset) {
  const std::string dir = TempPath("load");
  fs::remove_all(dir);
  fs::create_directories(dir);
  ASSERT_TRUE(WriteSyntheticImdb(dir, Options()).ok());
  const std::string archive = TempPath("load.tar.gz");
  ASSERT_TRUE(WriteArchive(dir, archive).ok());
  loom::TextDatasetDef def = Def(40, 25, 77);
  def.set_train_limit(50);
  absl::StatusOr<TextDataset> a = LoadTextDataset(dir, def);
  absl::StatusOr<TextDataset> b = LoadTextDataset(archive, def);
  absl::StatusOr<TextDataset> c =
      BuildTextDataset(MakeSyntheticCorpus(Options()), def);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_TRUE(c.ok()) << c.status();
  for (const TextDataset* other : {&*b, &*c}) {
    EXPECT_EQ(a->train.ids, other->train.ids);
    EXPECT_EQ(a->train.labels, other->train.labels);
    EXPECT_EQ(a->test.ids, other->test.ids);
    EXPECT_EQ(a->test.labels, other->test.labels);
    EXPECT_EQ(a->vocabulary.words(), other->vocabulary.words());
  }
  EXPECT_EQ(a->train.n, 50);
  EXPECT_EQ(a->test.n, 60);

  const std::string missing = TempPath("missing.tar.gz");
  absl::StatusOr<TextDataset> error = LoadTextDataset(missing, def);
  ASSERT_FALSE(error.ok());
  EXPECT_THAT(std::string(error.status().message()), HasSubstr(missing));
}

TEST(DefaultDataPathTest, FirstExistingCandidate) {
  const std::string home = TempPath("home");
  fs::remove_all(home);
  fs::create_directories(home + "/.cache/loom");
  ASSERT_EQ(setenv("HOME", home.c_str(), 1), 0);
  ASSERT_EQ(unsetenv("LOOM_DATA_DIR"), 0);
  EXPECT_EQ(DefaultDataPath(), "");

  ASSERT_TRUE(
      WriteTextFile(home + "/.cache/loom/aclImdb_v1_labeled.tar.gz", "").ok());
  EXPECT_EQ(DefaultDataPath(), home + "/.cache/loom/aclImdb_v1_labeled.tar.gz");
  ASSERT_TRUE(WriteTextFile(home + "/.cache/loom/aclImdb_v1.tar.gz", "").ok());
  EXPECT_EQ(DefaultDataPath(), home + "/.cache/loom/aclImdb_v1.tar.gz");
  fs::create_directories(home + "/.cache/loom/aclImdb");
  EXPECT_EQ(DefaultDataPath(), home + "/.cache/loom/aclImdb");

  const std::string custom = TempPath("custom_data");
  ASSERT_EQ(setenv("LOOM_DATA_DIR", custom.c_str(), 1), 0);
  EXPECT_EQ(DefaultDataPath(), home + "/.cache/loom/aclImdb")
      << "a LOOM_DATA_DIR that does not exist is skipped";
  fs::create_directories(custom);
  EXPECT_EQ(DefaultDataPath(), custom);
  ASSERT_EQ(unsetenv("LOOM_DATA_DIR"), 0);
}

}  // namespace
}  // namespace loom::data
