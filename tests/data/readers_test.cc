// The data readers (framework/data/readers/) and LoadCorpus against
// hand-written files: quoting, embedded newlines, BOM, CRLF, missing
// columns, bad UTF-8, integer and string labels, one-class and empty
// inputs, folders with odd entries; and the scored-file writer.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "framework/data/corpus.h"
#include "framework/data/dataset.h"
#include "framework/data/readers/reader.h"
#include "framework/data/readers/writer.h"
#include "framework/file_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/data/synthetic_corpus.h"

namespace loom::data {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string TmpDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

// Writes `content` to a fresh file named `name` under the test's folder.
std::string File(const std::string& name, const std::string& content) {
  const std::string path = absl::StrCat(TmpDir(), "/", name);
  std::filesystem::create_directories(
      std::filesystem::path(path).parent_path());
  EXPECT_TRUE(WriteTextFile(path, content).ok());
  return path;
}

struct Read {
  absl::Status status;
  std::vector<Record> records;
  ReadStats stats;
};

Read ReadAll(const std::string& path, ReadOptions options = {},
             const std::string& format = "") {
  Read r;
  r.status = ReadRecords(
      path, format, options,
      [&r](Record& record) {
        r.records.push_back(record);
        return absl::OkStatus();
      },
      &r.stats);
  return r;
}

std::vector<std::string> Texts(const Read& r) {
  std::vector<std::string> out;
  for (const Record& rec : r.records) out.push_back(rec.text);
  return out;
}

std::vector<std::string> Labels(const Read& r) {
  std::vector<std::string> out;
  for (const Record& rec : r.records) out.push_back(rec.label);
  return out;
}

// ------------------------------------------------------------------ CSV --

TEST(CsvReaderTest, QuotingEmbeddedNewlinesBomAndCrlf) {
  const std::string path = File("quoting.csv",
                                "\xEF\xBB\xBFid,Text,label\r\n"
                                "1,\"Muy buena, de verdad\",pos\r\n"
                                "2,\"Dijo \"\"no\"\"\ny se fue\",neg\r\n"
                                "\r\n"
                                "3,  spaces kept  ,pos\r\n");
  ReadOptions options;  // "text" matches "Text" ignoring case.
  Read r = ReadAll(path, options);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.stats.format, "csv");
  EXPECT_THAT(r.stats.header, ElementsAre("id", "Text", "label"));
  EXPECT_THAT(Texts(r),
              ElementsAre("Muy buena, de verdad", "Dijo \"no\"\ny se fue",
                          "  spaces kept  "));
  EXPECT_THAT(Labels(r), ElementsAre("pos", "neg", "pos"));
  ASSERT_EQ(r.records.size(), 3u);
  EXPECT_EQ(r.records[0].line, 2);
  EXPECT_EQ(r.records[1].line, 3);
  EXPECT_EQ(r.records[2].line, 6);  // After the two-line row and a blank.
  EXPECT_EQ(r.records[2].where, path + ":6");
  EXPECT_THAT(r.records[1].fields,
              ElementsAre("2", "Dijo \"no\"\ny se fue", "neg"));
}

TEST(CsvReaderTest, ChoosesColumnsByName) {
  const std::string path =
      File("columns.csv", "stars,review\n5,great\n1,awful\n");
  ReadOptions options;
  options.text_column = "review";
  options.label_column = "stars";
  Read r = ReadAll(path, options);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_THAT(Texts(r), ElementsAre("great", "awful"));
  EXPECT_THAT(Labels(r), ElementsAre("5", "1"));
}

TEST(CsvReaderTest, MissingColumnsNameTheFileAndTheHeader) {
  const std::string path = File("missing.csv", "review,stars\nok,1\n");
  Read r = ReadAll(path);
  EXPECT_THAT(std::string(r.status.message()),
              HasSubstr(path + ":1: no text column 'text' (the header row "
                               "has: review, stars)"));
  ReadOptions options;
  options.text_column = "review";
  r = ReadAll(path, options);
  EXPECT_THAT(std::string(r.status.message()),
              HasSubstr("no label column 'label'"));
  // Scoring needs no label.
  options.require_label = false;
  r = ReadAll(path, options);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_THAT(Texts(r), ElementsAre("ok"));
}

TEST(CsvReaderTest, UnterminatedQuoteNamesTheLineItOpenedOn) {
  const std::string path =
      File("open_quote.csv", "text,label\nfine,1\n\"never closed,0\nmore\n");
  Read r = ReadAll(path);
  EXPECT_THAT(std::string(r.status.message()),
              HasSubstr(path + ":3: a quoted field opened in the row that "
                               "starts here is never closed"));
}

TEST(CsvReaderTest, MalformedQuotingIsAnError) {
  const std::string path =
      File("bad_quote.csv", "text,label\nsays \"hi\" there,1\n");
  Read r = ReadAll(path);
  EXPECT_THAT(std::string(r.status.message()),
              HasSubstr("malformed quoting in the row that starts on line 2"));
}

TEST(CsvReaderTest, BadRowsStopOrAreSkippedAndCounted) {
  const std::string path = File("bad_rows.csv",
                                "text,label\n"
                                "good,1\n"
                                "short\n"
                                "no label,\n"
                                "also good,0\n");
  Read r = ReadAll(path);
  EXPECT_THAT(std::string(r.status.message()),
              HasSubstr(path + ":3: row has 1 fields, the header 2"));
  EXPECT_THAT(std::string(r.status.message()), HasSubstr("--on_bad_rows=skip"));
  ReadOptions skip;
  skip.skip_bad_rows = true;
  r = ReadAll(path, skip);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_THAT(Texts(r), ElementsAre("good", "also good"));
  EXPECT_EQ(r.stats.skipped, 2);
  EXPECT_THAT(r.stats.Summary(), HasSubstr("skipped 2 bad rows"));
  EXPECT_THAT(
      r.stats.Summary(),
      HasSubstr("1 empty label in column 'label', first at " + path + ":4"));
}

TEST(CsvReaderTest, BadUtf8IsAnErrorOrReplaced) {
  const std::string path = File("latin1.csv",
                                "text,label\npel\xED"
                                "cula,1\n");
  Read r = ReadAll(path);
  EXPECT_THAT(std::string(r.status.message()),
              HasSubstr(path + ":2, column 'text': text is not valid UTF-8 "
                               "(byte 3 of the text)"));
  ReadOptions replace;
  replace.replace_bad_text = true;
  r = ReadAll(path, replace);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_THAT(Texts(r), ElementsAre("pel\xEF\xBF\xBD"
                                    "cula"));
  EXPECT_EQ(r.stats.replaced_text, 1);
}

TEST(CsvReaderTest, EmptyAndHeaderOnlyFiles) {
  EXPECT_THAT(std::string(ReadAll(File("empty.csv", "")).status.message()),
              HasSubstr("is empty"));
  Read r = ReadAll(File("header_only.csv", "text,label\n"));
  EXPECT_TRUE(r.status.ok()) << r.status;
  EXPECT_TRUE(r.records.empty());
}

TEST(CsvReaderTest, TsvByExtension) {
  const std::string path = File(
      "reviews.tsv", "label\ttext\n1\tcomma, inside\n0\t\"quoted\ttab\"\n");
  Read r = ReadAll(path);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.stats.format, "tsv");
  EXPECT_THAT(Texts(r), ElementsAre("comma, inside", "quoted\ttab"));
}

// ----------------------------------------------------------- JSON Lines --

TEST(JsonLinesReaderTest, StringAndIntegerLabels) {
  const std::string path = File("reviews.jsonl",
                                "{\"text\": \"Genial\", \"label\": 5}\n"
                                "\n"
                                "{\"text\": \"Nul \\u00e0 chier\", \"label\": "
                                "\"neg\", \"extra\": [1, 2]}\n");
  Read r = ReadAll(path);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.stats.format, "jsonl");
  EXPECT_THAT(Texts(r), ElementsAre("Genial", "Nul \xC3\xA0 chier"));
  EXPECT_THAT(Labels(r), ElementsAre("5", "neg"));
  EXPECT_EQ(r.records[1].line, 3);
}

TEST(JsonLinesReaderTest, BadLinesNameTheLine) {
  const std::string path = File("bad.jsonl",
                                "{\"text\": \"ok\", \"label\": 1}\n"
                                "{\"text\": \"cut\n"
                                "[1, 2]\n"
                                "{\"body\": \"x\", \"label\": 1}\n"
                                "{\"text\": \"x\", \"label\": [1]}\n"
                                "{\"text\": \"x\"}\n");
  Read r = ReadAll(path);
  EXPECT_THAT(std::string(r.status.message()),
              HasSubstr(path + ":2: not valid JSON"));
  ReadOptions skip;
  skip.skip_bad_rows = true;
  r = ReadAll(path, skip);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_THAT(Texts(r), ElementsAre("ok"));
  EXPECT_EQ(r.stats.skipped, 5);
  EXPECT_EQ(r.stats.skipped_by_reason["not a JSON object"], 1);
  EXPECT_EQ(r.stats.first_skipped_at["not a JSON object"], path + ":3");
}

TEST(JsonLinesReaderTest, DetectedByContent) {
  const std::string path =
      File("reviews.txt", "{\"text\": \"a\", \"label\": \"x\"}\n");
  Read r = ReadAll(path);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.stats.format, "jsonl");
}

// Found by tests/fuzz/jsonl_reader_fuzzer (issue 13): a number beyond
// double's range threw an exception nobody caught (std::terminate), and a
// float label outside int64's range was cast to int64 (undefined behavior).
TEST(JsonLinesReaderTest, NumbersOutOfRangeAreBadRowsNotCrashes) {
  const std::string path =
      File("numbers.jsonl",
           "{\"text\": \"a\", \"label\": 1e999}\n"
           "{\"text\": \"b\", \"label\": 1e300}\n"
           "{\"text\": \"c\", \"label\": 18446744073709551615}\n"
           "{\"text\": \"d\", \"label\": -3.0}\n");
  Read r = ReadAll(path);
  EXPECT_THAT(std::string(r.status.message()),
              HasSubstr(path + ":1: not valid JSON"));
  EXPECT_THAT(std::string(r.status.message()), HasSubstr("1e999"));
  ReadOptions skip;
  skip.skip_bad_rows = true;
  r = ReadAll(path, skip);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_THAT(Texts(r), ElementsAre("c", "d"));
  EXPECT_THAT(Labels(r), ElementsAre("18446744073709551615", "-3"));
  EXPECT_EQ(r.stats.skipped, 2);
  EXPECT_EQ(
      r.stats
          .first_skipped_at["key 'label' is neither a string nor an integer"],
      path + ":2");
}

// --------------------------------------------------------------- Folder --

TEST(FolderReaderTest, OneSubfolderPerClass) {
  const std::string root = TmpDir() + "/folder_classes";
  File("folder_classes/pos/b.txt", "bien");
  File("folder_classes/pos/a.txt", "tr\xC3\xA8s bien");
  File("folder_classes/neg/z.txt", "mal");
  File("folder_classes/neg/.hidden.txt", "ignored");
  File("folder_classes/neg/notes.md", "ignored");
  File("folder_classes/README.txt", "ignored: not in a class folder");
  Read r = ReadAll(root);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.stats.format, "folder");
  EXPECT_THAT(Texts(r), ElementsAre("mal", "tr\xC3\xA8s bien", "bien"));
  EXPECT_THAT(Labels(r), ElementsAre("neg", "pos", "pos"));
}

TEST(FolderReaderTest, FifosAndSymlinksOutOfTheFolderAreRefused) {
  const std::string root = TmpDir() + "/folder_odd";
  File("folder_odd/pos/a.txt", "good");
  File("folder_odd/neg/b.txt", "bad");
  const std::string fifo = root + "/neg/fifo.txt";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  Read r = ReadAll(root);  // Must not block on the FIFO.
  EXPECT_THAT(std::string(r.status.message()),
              HasSubstr(fifo + ": not a regular file"));
  ::unlink(fifo.c_str());
  const std::string link = root + "/pos/passwd.txt";
  ASSERT_EQ(::symlink("/etc/passwd", link.c_str()), 0);
  r = ReadAll(root);
  EXPECT_THAT(
      std::string(r.status.message()),
      HasSubstr(link + ": a symlink that leads out of the data folder"));
  ReadOptions skip;
  skip.skip_bad_rows = true;
  r = ReadAll(root, skip);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_THAT(Texts(r), ElementsAre("bad", "good"));
  EXPECT_EQ(r.stats.skipped, 1);
}

TEST(FolderReaderTest, TrainAndTestSubfolders) {
  const std::string root = TmpDir() + "/folder_split";
  File("folder_split/train/a/1.txt", "x");
  File("folder_split/train/b/2.txt", "y");
  File("folder_split/test/a/3.txt", "z");
  Read r = ReadAll(root);
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_EQ(r.records.size(), 3u);
  EXPECT_EQ(r.records[0].split, SplitTag::kTrain);
  EXPECT_EQ(r.records[2].split, SplitTag::kTest);
}

TEST(FolderReaderTest, AFolderWithoutClassesSaysWhatItExpects) {
  const std::string root = TmpDir() + "/folder_flat";
  File("folder_flat/a.txt", "x");
  EXPECT_THAT(std::string(ReadAll(root).status.message()),
              HasSubstr("has no class subfolders"));
}

// ----------------------------------------------------------- Detection --

TEST(FindTextFormatTest, RefusesWhatIsNotData) {
  EXPECT_THAT(
      std::string(FindTextFormat(TmpDir() + "/no_such", "").status().message()),
      HasSubstr("does not exist"));
  EXPECT_THAT(std::string(FindTextFormat("/dev/null", "").status().message()),
              HasSubstr("neither a regular file nor a folder"));
  EXPECT_THAT(std::string(FindTextFormat("x.csv", "xlsx").status().message()),
              HasSubstr("unknown data format 'xlsx' (known: csv, folder, "
                        "imdb, jsonl, tsv)"));
  const std::string prose = File("prose.txt", "just some words\n");
  EXPECT_THAT(std::string(FindTextFormat(prose, "").status().message()),
              HasSubstr("cannot tell the format"));
}

TEST(FindTextFormatTest, ImdbArchiveAndFolder) {
  const std::string dir = TmpDir() + "/imdb_detect";
  SyntheticCorpusOptions options;
  options.train_per_label = 3;
  options.test_per_label = 2;
  ASSERT_TRUE(WriteSyntheticImdb(dir, options).ok());
  ASSERT_TRUE(WriteArchive(dir, dir + ".tar.gz").ok());
  for (const std::string& path : {dir, dir + ".tar.gz"}) {
    Read r = ReadAll(path);
    ASSERT_TRUE(r.status.ok()) << path << ": " << r.status;
    EXPECT_EQ(r.stats.format, "imdb") << path;
    ASSERT_EQ(r.records.size(), 10u) << path;
    EXPECT_EQ(r.records[0].label, "negative");
    EXPECT_EQ(r.records[0].split, SplitTag::kTrain);
    EXPECT_EQ(r.records[9].label, "positive");
    EXPECT_EQ(r.records[9].split, SplitTag::kTest);
  }
  ReadOptions ratings;
  ratings.imdb_rating_labels = true;
  Read r = ReadAll(dir, ratings);
  ASSERT_TRUE(r.status.ok()) << r.status;
  int rating = 0;
  ASSERT_TRUE(absl::SimpleAtoi(r.records[0].label, &rating));
  EXPECT_GE(rating, 1);
  EXPECT_LE(rating, 4);
}

// --------------------------------------------------------------- Corpus --

loom::TextDatasetDef Source(const std::string& path) {
  loom::TextDatasetDef def;
  def.set_source(path);
  def.set_shuffle_seed(7);
  return def;
}

TEST(LoadCorpusTest, IntegerLabelsSortNumericallyAndSplitStratified) {
  std::string csv = "text,label\n";
  for (int i = 0; i < 100; ++i) {
    absl::StrAppend(&csv, "review ", i, ",", i % 10 < 7 ? 10 : 9, "\n");
  }
  for (int i = 0; i < 20; ++i) absl::StrAppend(&csv, "short ", i, ",2\n");
  const std::string path = File("stars.csv", csv);
  loom::TextDatasetDef def = Source(path);
  def.set_test_split(0.25);
  auto corpus = LoadCorpus(def);
  ASSERT_TRUE(corpus.ok()) << corpus.status();
  EXPECT_THAT(corpus->class_names, ElementsAre("2", "9", "10"));
  // 25% of each class: 5 of 20, 8 (7.5 rounded) of 30, 18 (17.5) of 70.
  std::vector<int> test_counts(3, 0);
  for (const Review& r : corpus->test) ++test_counts[r.label];
  EXPECT_THAT(test_counts, ElementsAre(5, 8, 18));
  EXPECT_EQ(corpus->train.size() + corpus->test.size(), 120u);
  EXPECT_THAT(corpus->notes.back(), HasSubstr("held out 31 of 120 examples"));
  // The same seed gives the same split.
  auto again = LoadCorpus(def);
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->test.size(), corpus->test.size());
  for (size_t i = 0; i < corpus->test.size(); ++i) {
    EXPECT_EQ(again->test[i].text, corpus->test[i].text);
  }
  def.set_shuffle_seed(8);
  auto other = LoadCorpus(def);
  ASSERT_TRUE(other.ok());
  bool differs = false;
  for (size_t i = 0; i < corpus->test.size(); ++i) {
    differs |= other->test[i].text != corpus->test[i].text;
  }
  EXPECT_TRUE(differs);
}

TEST(LoadCorpusTest, ListedClassesFixTheOrderAndRefuseOthers) {
  const std::string path =
      File("listed.csv", "text,label\na,good\nb,bad\nc,good\nd,bad\ne,meh\n");
  loom::TextDatasetDef def = Source(path);
  def.add_class_name("good");
  def.add_class_name("bad");
  auto corpus = LoadCorpus(def);
  EXPECT_THAT(std::string(corpus.status().message()),
              HasSubstr(path + ":6: label 'meh' is not one of the classes "
                               "(good, bad)"));
  def.set_on_bad_rows("skip");
  corpus = LoadCorpus(def);
  ASSERT_TRUE(corpus.ok()) << corpus.status();
  EXPECT_THAT(corpus->class_names, ElementsAre("good", "bad"));
  EXPECT_EQ(corpus->train.size() + corpus->test.size(), 4u);
  def.add_class_name("ugly");
  EXPECT_THAT(std::string(LoadCorpus(def).status().message()),
              HasSubstr("class 'ugly' has no training examples"));
}

TEST(LoadCorpusTest, OneClassEmptyTextsAndUnseenTestLabels) {
  EXPECT_THAT(
      std::string(LoadCorpus(Source(File("one.csv", "text,label\na,x\nb,x\n")))
                      .status()
                      .message()),
      HasSubstr("only one class ('x')"));
  EXPECT_THAT(std::string(LoadCorpus(Source(File("blank.csv",
                                                 "text,label\na,x\n  ,y\n")))
                              .status()
                              .message()),
              HasSubstr("blank.csv:3: empty text"));
  loom::TextDatasetDef def =
      Source(File("train.csv", "text,label\na,x\nb,y\nc,x\n"));
  def.set_test_source(
      File("test.jsonl", "{\"text\": \"d\", \"label\": \"z\"}\n"));
  EXPECT_THAT(std::string(LoadCorpus(def).status().message()),
              HasSubstr("test.jsonl:1: label 'z' is in the test data but not "
                        "in the training data (classes: x, y)"));
  EXPECT_THAT(std::string(LoadCorpus(Source(File("hdr.csv", "text,label\n")))
                              .status()
                              .message()),
              HasSubstr("no training examples"));
}

TEST(LoadTextDatasetTest, UnicodeTokenizerFoldsCaseAndCanStripAccents) {
  const std::string path = File("accents.csv",
                                "text,label\n"
                                "\"PEL\xC3\x8D"
                                "CULA buena\",pos\n"
                                "pel\xC3\xAD"
                                "cula mala,neg\n"
                                "pelicula mala,neg\n"
                                "pelicula regular,neg\n"
                                "otra pel\xC3\xAD"
                                "cula buena,pos\n"
                                "nada,neg\n");
  loom::TextDatasetDef def = Source(path);
  def.set_num_words(100);
  def.set_max_len(5);
  def.set_test_split(0.2);
  auto kept = LoadTextDataset("", def);
  ASSERT_TRUE(kept.ok()) << kept.status();
  // "PELÍCULA" and "película" are one word; "pelicula" another (in at
  // least two of the four "neg" rows kept for training).
  EXPECT_NE(kept->vocabulary.Id("pel\xC3\xAD"
                                "cula"),
            Vocabulary::kOovId);
  EXPECT_NE(kept->vocabulary.Id("pelicula"), Vocabulary::kOovId);
  def.set_strip_accents(true);
  auto stripped = LoadTextDataset("", def);
  ASSERT_TRUE(stripped.ok()) << stripped.status();
  EXPECT_EQ(stripped->vocabulary.Id("pel\xC3\xAD"
                                    "cula"),
            Vocabulary::kOovId);
  EXPECT_NE(stripped->vocabulary.Id("pelicula"), Vocabulary::kOovId);
  EXPECT_TRUE(stripped->vocabulary.tokenizer_options().strip_accents);
  // A saved model's vocabulary must match the settings it is used with.
  def.set_strip_accents(false);
  auto corpus = LoadCorpus(def);
  ASSERT_TRUE(corpus.ok());
  EXPECT_THAT(std::string(EncodeTestSplit(*corpus, stripped->vocabulary, def)
                              .status()
                              .message()),
              HasSubstr("strip_accents is false but the vocabulary strips"));
}

// --------------------------------------------------------------- Writer --

TEST(ScoredWriterTest, CsvKeepsEveryColumnAndReadsBack) {
  const std::string input = File("to_score.csv",
                                 "id,text\n"
                                 "1,\"multi\nline, with \"\"quotes\"\"\"\n"
                                 "2,plain\n");
  ReadOptions options;
  options.require_label = false;
  Read in = ReadAll(input, options);
  ASSERT_TRUE(in.status.ok()) << in.status;
  const std::string output = TmpDir() + "/scored.csv";
  auto writer = ScoredWriter::Create(output, "", "csv", {"neg", "pos"});
  ASSERT_TRUE(writer.ok()) << writer.status();
  ASSERT_TRUE(
      (*writer)->Write(in.records[0], in.stats.header, 1, {0.25f, 0.75f}).ok());
  ASSERT_TRUE(
      (*writer)->Write(in.records[1], in.stats.header, 0, {0.9f, 0.1f}).ok());
  EXPECT_FALSE(std::filesystem::exists(output));  // Not before Finish().
  ASSERT_TRUE((*writer)->Finish().ok());
  ReadOptions back_options;
  back_options.label_column = "predicted_label";
  Read back = ReadAll(output, back_options);
  ASSERT_TRUE(back.status.ok()) << back.status;
  EXPECT_THAT(back.stats.header,
              ElementsAre("id", "text", "predicted_label", "p_neg", "p_pos"));
  EXPECT_THAT(Texts(back), ElementsAre(in.records[0].text, "plain"));
  EXPECT_THAT(Labels(back), ElementsAre("pos", "neg"));
  EXPECT_THAT(
      back.records[0].fields,
      ElementsAre("1", in.records[0].text, "pos", "0.250000", "0.750000"));
}

TEST(ScoredWriterTest, JsonLinesGainLabelAndProbabilities) {
  const std::string input =
      File("to_score.jsonl", "{\"text\": \"bien\", \"id\": 7}\n");
  ReadOptions options;
  options.require_label = false;
  Read in = ReadAll(input, options);
  ASSERT_TRUE(in.status.ok()) << in.status;
  const std::string output = TmpDir() + "/scored.jsonl";
  auto writer = ScoredWriter::Create(output, "", "jsonl", {"neg", "pos"});
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Write(in.records[0], {}, 1, {0.2f, 0.8f}).ok());
  ASSERT_TRUE((*writer)->Finish().ok());
  auto text = ReadFile(output);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text,
            "{\"text\":\"bien\",\"id\":7,\"predicted_label\":\"pos\","
            "\"probabilities\":{\"neg\":0.2,\"pos\":0.8}}\n");
}

TEST(ScoredWriterTest, AnUnfinishedWriterLeavesNothing) {
  const std::string output = TmpDir() + "/unfinished.csv";
  {
    auto writer = ScoredWriter::Create(output, "", "", {"a", "b"});
    ASSERT_TRUE(writer.ok());
    Record r;
    r.text = "x";
    r.where = "here";
    ASSERT_TRUE((*writer)->Write(r, {}, 0, {1.0f, 0.0f}).ok());
  }
  EXPECT_FALSE(std::filesystem::exists(output));
  for (const auto& entry : std::filesystem::directory_iterator(TmpDir())) {
    EXPECT_EQ(entry.path().string().find("unfinished.csv.tmp"),
              std::string::npos);
  }
}

}  // namespace
}  // namespace loom::data
