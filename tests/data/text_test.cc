#include "framework/data/text.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loom::data {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteAll(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

// ---------------------------------------------------------------- Tokenize

constexpr bool kKeep = true;  // keep_punctuation.

TEST(TokenizeTest, LowercasesAndSplitsPunctuation) {
  EXPECT_THAT(Tokenize("This movie was GREAT!", kKeep),
              ElementsAre("this", "movie", "was", "great", "!"));
  EXPECT_THAT(Tokenize("Well, (8/10)... ok?", kKeep),
              ElementsAre("well", ",", "(", "8", "/", "10", ")", ".", ".", ".",
                          "ok", "?"));
  EXPECT_THAT(Tokenize("a--b;c:\"d\"", kKeep),
              ElementsAre("a", "-", "-", "b", ";", "c", ":", "\"", "d", "\""));
  EXPECT_THAT(Tokenize("1,000.50 $5", kKeep),
              ElementsAre("1", ",", "000", ".", "50", "$", "5"));
}

TEST(TokenizeTest, DropsPunctuationByDefault) {
  EXPECT_THAT(Tokenize("This movie was GREAT!"),
              ElementsAre("this", "movie", "was", "great"));
  EXPECT_THAT(Tokenize("This movie was GREAT!", false),
              ElementsAre("this", "movie", "was", "great"));
  EXPECT_THAT(Tokenize("Well, (8/10)... ok?"),
              ElementsAre("well", "8", "10", "ok"));
  // Punctuation separates words even when it is dropped.
  EXPECT_THAT(Tokenize("a--b;c:\"d\""), ElementsAre("a", "b", "c", "d"));
  EXPECT_THAT(Tokenize("1,000.50 $5"), ElementsAre("1", "000", "50", "5"));
  EXPECT_THAT(Tokenize("!?... -- (*)"), IsEmpty());
  EXPECT_THAT(Tokenize("~x~y~"), ElementsAre("x", "y"));
}

TEST(TokenizeTest, KeepsInnerApostrophesOnly) {
  EXPECT_THAT(Tokenize("I don't like it's ROCK'N'ROLL", kKeep),
              ElementsAre("i", "don't", "like", "it's", "rock'n'roll"));
  EXPECT_THAT(Tokenize("'quoted' dogs' it'", kKeep),
              ElementsAre("'", "quoted", "'", "dogs", "'", "it", "'"));
  EXPECT_THAT(Tokenize("don''t", kKeep), ElementsAre("don", "'", "'", "t"));
  EXPECT_THAT(Tokenize("' '", kKeep), ElementsAre("'", "'"));
  // Without punctuation, inner apostrophes stay and the others go.
  EXPECT_THAT(Tokenize("I don't like it's ROCK'N'ROLL"),
              ElementsAre("i", "don't", "like", "it's", "rock'n'roll"));
  EXPECT_THAT(Tokenize("'quoted' dogs' it'"),
              ElementsAre("quoted", "dogs", "it"));
  EXPECT_THAT(Tokenize("don''t"), ElementsAre("don", "t"));
  EXPECT_THAT(Tokenize("' '"), IsEmpty());
  EXPECT_THAT(Tokenize("can't!"), ElementsAre("can't"));
}

TEST(TokenizeTest, LineBreakTagsAreWhitespace) {
  EXPECT_THAT(Tokenize("end.<br /><br />Next", kKeep),
              ElementsAre("end", ".", "next"));
  EXPECT_THAT(Tokenize("a<BR>b<br/>c<Br />d", kKeep),
              ElementsAre("a", "b", "c", "d"));
  // Other tags and incomplete ones are punctuation plus words.
  EXPECT_THAT(Tokenize("<b>x</b>", kKeep),
              ElementsAre("<", "b", ">", "x", "<", "/", "b", ">"));
  EXPECT_THAT(Tokenize("x<br", kKeep), ElementsAre("x", "<", "br"));
  EXPECT_THAT(Tokenize("<brx>", kKeep), ElementsAre("<", "brx", ">"));

  // Same without punctuation: a line break tag never leaves a "br" word.
  EXPECT_THAT(Tokenize("end.<br /><br />Next"), ElementsAre("end", "next"));
  EXPECT_THAT(Tokenize("a<BR>b<br/>c<Br />d"), ElementsAre("a", "b", "c", "d"));
  EXPECT_THAT(Tokenize("<br /><br />"), IsEmpty());
  EXPECT_THAT(Tokenize("<b>x</b>"), ElementsAre("b", "x", "b"));
  EXPECT_THAT(Tokenize("x<br"), ElementsAre("x", "br"));
  EXPECT_THAT(Tokenize("<brx>"), ElementsAre("brx"));
}

TEST(TokenizeTest, WhitespaceAndEmpty) {
  for (bool keep : {false, true}) {
    EXPECT_THAT(Tokenize("", keep), IsEmpty());
    EXPECT_THAT(Tokenize(" \t\r\n\v\f ", keep), IsEmpty());
    EXPECT_THAT(Tokenize("  two\twords\n", keep), ElementsAre("two", "words"));
  }
}

TEST(TokenizeTest, NonAsciiBytesAreWordCharacters) {
  // UTF-8 bytes stay in words; only ASCII letters are lowercased.
  EXPECT_THAT(Tokenize("Caf\xc3\xa9 NA\xc3\x8fVE!", kKeep),
              ElementsAre("caf\xc3\xa9", "na\xc3\x8fve", "!"));
  EXPECT_THAT(Tokenize("Caf\xc3\xa9 NA\xc3\x8fVE!"),
              ElementsAre("caf\xc3\xa9", "na\xc3\x8fve"));
  EXPECT_THAT(Tokenize("\xe2\x80\x94", kKeep), ElementsAre("\xe2\x80\x94"));
  EXPECT_THAT(Tokenize("\xe2\x80\x94"), ElementsAre("\xe2\x80\x94"));
}

TEST(TokenizeTest, ViewsPointIntoReusedBuffer) {
  std::string buffer = "stale content";
  std::vector<std::string_view> tokens = {"stale"};
  Tokenize("Hi THERE", &buffer, &tokens, kKeep);
  EXPECT_EQ(buffer, "hi there");
  ASSERT_THAT(tokens, ElementsAre("hi", "there"));
  EXPECT_EQ(tokens[0].data(), buffer.data());
  EXPECT_EQ(tokens[1].data(), buffer.data() + 3);

  Tokenize("Hi, THERE!", &buffer, &tokens);
  EXPECT_EQ(buffer, "hi, there!");
  ASSERT_THAT(tokens, ElementsAre("hi", "there"));
  EXPECT_EQ(tokens[0].data(), buffer.data());
  EXPECT_EQ(tokens[1].data(), buffer.data() + 4);
}

TEST(TokenizeTest, ReusedScratchSpaceIsNotReallocated) {
  std::string buffer;
  std::vector<std::string_view> tokens;
  Tokenize("one, two; three! four? five.", &buffer, &tokens, kKeep);
  ASSERT_EQ(tokens.size(), 10u);
  const char* buffer_data = buffer.data();
  const std::string_view* tokens_data = tokens.data();
  for (bool keep : {false, true}) {
    Tokenize("Six, seven; eight! nine? ten.", &buffer, &tokens, keep);
    EXPECT_EQ(tokens.size(), keep ? 10u : 5u);
    EXPECT_EQ(buffer.data(), buffer_data);
    EXPECT_EQ(tokens.data(), tokens_data);
  }
}

// -------------------------------------------------------------- Vocabulary

// Counts: the 3; a, cat, dog, sat 2; "!", ",", end 1.
const std::vector<std::string_view> kTexts = {"the cat sat", "The dog sat!",
                                              "a cat, a dog", "THE end"};

TEST(VocabularyTest, RanksByCountThenToken) {
  absl::StatusOr<Vocabulary> v = Vocabulary::Build(kTexts, 100, kKeep);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_TRUE(v->keep_punctuation());
  EXPECT_THAT(v->words(),
              ElementsAre("the", "a", "cat", "dog", "sat", "!", ",", "end"));
  EXPECT_EQ(v->num_words(), 100);
  EXPECT_EQ(v->size(), 11);
  EXPECT_EQ(v->Id("the"), 3);
  EXPECT_EQ(v->Id("a"), 4);
  EXPECT_EQ(v->Id("sat"), 7);
  EXPECT_EQ(v->Id("!"), 8);
  EXPECT_EQ(v->Id("end"), 10);
  EXPECT_EQ(v->Id("zebra"), 2);
  EXPECT_EQ(v->Id("The"), 2);  // Ids are for tokens, which are lowercase.
  EXPECT_EQ(v->Word(0), "<pad>");
  EXPECT_EQ(v->Word(1), "<start>");
  EXPECT_EQ(v->Word(2), "<oov>");
  EXPECT_EQ(v->Word(5), "cat");
  EXPECT_EQ(v->Word(11), "");
  EXPECT_EQ(v->Word(-1), "");
}

TEST(VocabularyTest, WithoutPunctuationRanksWordsOnly) {
  absl::StatusOr<Vocabulary> v = Vocabulary::Build(kTexts, 100);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_FALSE(v->keep_punctuation());
  EXPECT_THAT(v->words(), ElementsAre("the", "a", "cat", "dog", "sat", "end"));
  EXPECT_EQ(v->size(), 9);
  EXPECT_EQ(v->Id("sat"), 7);
  EXPECT_EQ(v->Id("end"), 8);
  EXPECT_EQ(v->Id("!"), 2);
  EXPECT_EQ(v->Id(","), 2);
  EXPECT_EQ(v->Word(8), "end");
  EXPECT_EQ(v->Word(9), "");
  absl::StatusOr<Vocabulary> same = Vocabulary::Build(kTexts, 100, false);
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_EQ(same->words(), v->words());
}

TEST(VocabularyTest, KeepsNumWordsMinusThreeAndEncodes) {
  absl::StatusOr<Vocabulary> v = Vocabulary::Build(kTexts, 10, kKeep);
  ASSERT_TRUE(v.ok()) << v.status();
  // 7 words fit: "end" (count 1, last by bytes) is out of vocabulary.
  EXPECT_THAT(v->words(),
              ElementsAre("the", "a", "cat", "dog", "sat", "!", ","));
  EXPECT_EQ(v->size(), 10);
  EXPECT_THAT(v->Encode("The end, a zebra!"), ElementsAre(1, 3, 2, 9, 4, 2, 8));
  EXPECT_THAT(v->Encode(""), ElementsAre(1));
  EXPECT_THAT(v->Encode("<br />DOG"), ElementsAre(1, 6));

  absl::StatusOr<Vocabulary> four = Vocabulary::Build(kTexts, 4, kKeep);
  ASSERT_TRUE(four.ok()) << four.status();
  EXPECT_THAT(four->words(), ElementsAre("the"));
  EXPECT_THAT(four->Encode("the cat"), ElementsAre(1, 3, 2));
}

TEST(VocabularyTest, WithoutPunctuationWordsGetTheFreedSlots) {
  // With punctuation, num_words 10 left "end" out; without, 8 suffice for
  // the five 2+ count words, and 9 brings "end" in.
  absl::StatusOr<Vocabulary> v = Vocabulary::Build(kTexts, 8);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_THAT(v->words(), ElementsAre("the", "a", "cat", "dog", "sat"));
  EXPECT_THAT(v->Encode("The end, a zebra!"), ElementsAre(1, 3, 2, 4, 2));
  EXPECT_THAT(v->Encode(""), ElementsAre(1));
  EXPECT_THAT(v->Encode("?!"), ElementsAre(1));
  EXPECT_THAT(v->Encode("<br />DOG"), ElementsAre(1, 6));
  absl::StatusOr<Vocabulary> nine = Vocabulary::Build(kTexts, 9);
  ASSERT_TRUE(nine.ok()) << nine.status();
  EXPECT_THAT(nine->words(),
              ElementsAre("the", "a", "cat", "dog", "sat", "end"));
  EXPECT_THAT(nine->Encode("The end, a zebra!"), ElementsAre(1, 3, 8, 4, 2));
}

TEST(VocabularyTest, EncodeTokenizesWithTheVocabularySetting) {
  absl::StatusOr<Vocabulary> keep = Vocabulary::Build(kTexts, 100, kKeep);
  absl::StatusOr<Vocabulary> drop = Vocabulary::Build(kTexts, 100);
  ASSERT_TRUE(keep.ok() && drop.ok());
  // keep: the 3 a 4 cat 5 dog 6 sat 7 ! 8 , 9 end 10.
  EXPECT_THAT(keep->Encode("A cat, a DOG!"), ElementsAre(1, 4, 5, 9, 4, 6, 8));
  EXPECT_THAT(keep->Encode("(the end)"), ElementsAre(1, 2, 3, 10, 2));
  // drop: the 3 a 4 cat 5 dog 6 sat 7 end 8.
  EXPECT_THAT(drop->Encode("A cat, a DOG!"), ElementsAre(1, 4, 5, 4, 6));
  EXPECT_THAT(drop->Encode("(the end)"), ElementsAre(1, 3, 8));

  std::string buffer;
  std::vector<std::string_view> tokens;
  std::vector<int32_t> ids = {7};
  drop->EncodeTo("sat, sat!", &buffer, &tokens, &ids);
  keep->EncodeTo("sat, sat!", &buffer, &tokens, &ids);
  EXPECT_THAT(ids, ElementsAre(7, 1, 7, 7, 1, 7, 9, 7, 8));
}

TEST(VocabularyTest, TiesAreBrokenByBytesWhateverTheInputOrder) {
  absl::StatusOr<Vocabulary> a = Vocabulary::Build({"z y x", "b a"}, 6);
  absl::StatusOr<Vocabulary> b = Vocabulary::Build({"a b", "x y z"}, 6);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_THAT(a->words(), ElementsAre("a", "b", "x"));
  EXPECT_THAT(b->words(), ElementsAre("a", "b", "x"));
}

TEST(VocabularyTest, RefusesTooSmallNumWords) {
  absl::StatusOr<Vocabulary> v = Vocabulary::Build(kTexts, 3);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(v.status().message()),
              HasSubstr("num_words must be > 3"));
}

TEST(VocabularyTest, DefaultIsEmpty) {
  Vocabulary v;
  EXPECT_EQ(v.size(), 3);
  EXPECT_FALSE(v.keep_punctuation());
  EXPECT_THAT(v.Encode("anything at all"), ElementsAre(1, 2, 2, 2));
  EXPECT_THAT(v.Encode("anything, at all!"), ElementsAre(1, 2, 2, 2));
}

TEST(VocabularyTest, FromWordsValidates) {
  absl::StatusOr<Vocabulary> v = Vocabulary::FromWords({"b", "a"}, 10);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_FALSE(v->keep_punctuation());
  EXPECT_EQ(v->Id("b"), 3);
  EXPECT_EQ(v->Id("a"), 4);
  EXPECT_THAT(Vocabulary::FromWords({"a", "a"}, 10).status().message(),
              HasSubstr("repeated"));
  EXPECT_THAT(Vocabulary::FromWords({"two words"}, 10).status().message(),
              HasSubstr("not a single token"));
  EXPECT_THAT(Vocabulary::FromWords({"Upper"}, 10).status().message(),
              HasSubstr("not a single token"));
  EXPECT_THAT(Vocabulary::FromWords({""}, 10).status().message(),
              HasSubstr("not a single token"));
  EXPECT_THAT(Vocabulary::FromWords({"a", "b"}, 4).status().message(),
              HasSubstr("do not fit"));
  EXPECT_THAT(Vocabulary::FromWords({"a!"}, 10, kKeep).status().message(),
              HasSubstr("not a single token"));
}

TEST(VocabularyTest, FromWordsTakesPunctuationOnlyIfKept) {
  absl::StatusOr<Vocabulary> keep =
      Vocabulary::FromWords({"good", "!", "'", "don't"}, 10, kKeep);
  ASSERT_TRUE(keep.ok()) << keep.status();
  EXPECT_TRUE(keep->keep_punctuation());
  EXPECT_EQ(keep->Id("!"), 4);
  EXPECT_EQ(keep->Id("'"), 5);
  EXPECT_THAT(keep->Encode("'Good!'"), ElementsAre(1, 5, 3, 4, 5));

  const absl::Status punctuation =
      Vocabulary::FromWords({"good", "!"}, 10).status();
  EXPECT_EQ(punctuation.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(punctuation.message(),
            "Vocabulary::FromWords: word 2 \"!\" is punctuation, which this "
            "vocabulary does not keep");
  EXPECT_THAT(Vocabulary::FromWords({"'"}, 10, false).status().message(),
              HasSubstr("\"\\'\" is punctuation"));
  absl::StatusOr<Vocabulary> drop = Vocabulary::FromWords({"don't"}, 10);
  ASSERT_TRUE(drop.ok()) << drop.status();
  EXPECT_THAT(drop->Encode("'Don't!'"), ElementsAre(1, 3));
}

TEST(VocabularyTest, FromCountsChecksTheWordsItKeeps) {
  const absl::flat_hash_map<std::string, int64_t> counts = {
      {"good", 3}, {"!", 5}, {"bad", 2}, {"?", 1}};
  absl::StatusOr<Vocabulary> keep = Vocabulary::FromCounts(counts, 10, kKeep);
  ASSERT_TRUE(keep.ok()) << keep.status();
  EXPECT_TRUE(keep->keep_punctuation());
  EXPECT_THAT(keep->words(), ElementsAre("!", "good", "bad", "?"));

  const absl::Status punctuation = Vocabulary::FromCounts(counts, 10).status();
  EXPECT_EQ(punctuation.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(punctuation.message(),
            "Vocabulary::FromCounts: word \"!\" is punctuation, which this "
            "vocabulary does not keep");
  // Only the words that are kept must be tokens: "?" ranks last.
  const absl::flat_hash_map<std::string, int64_t> words_first = {
      {"good", 3}, {"bad", 2}, {"?", 1}};
  absl::StatusOr<Vocabulary> drop = Vocabulary::FromCounts(words_first, 5);
  ASSERT_TRUE(drop.ok()) << drop.status();
  EXPECT_FALSE(drop->keep_punctuation());
  EXPECT_THAT(drop->words(), ElementsAre("good", "bad"));
  EXPECT_THAT(Vocabulary::FromCounts(words_first, 6).status().message(),
              HasSubstr("\"?\" is punctuation"));
  EXPECT_THAT(
      Vocabulary::FromCounts({{"two words", 1}}, 6, kKeep).status().message(),
      HasSubstr("\"two words\" is not a single token"));
}

TEST(VocabularyTest, SaveLoadRoundTrip) {
  const std::vector<std::string_view> texts = {
      "Don't panic, caf\xc3\xa9 don't!", "panic"};
  absl::StatusOr<Vocabulary> v = Vocabulary::Build(texts, 50, kKeep);
  ASSERT_TRUE(v.ok()) << v.status();
  const std::string path = TempPath("round_trip.vocab");
  ASSERT_TRUE(v->Save(path).ok());
  EXPECT_EQ(ReadAll(path),
            "loom-vocabulary v2 num_words=50 words=5 punctuation=1\n"
            "don't\npanic\n!\n,\ncaf\xc3\xa9\n");
  EXPECT_NE(access((path + ".tmp." + std::to_string(getpid())).c_str(), F_OK),
            0);
  absl::StatusOr<Vocabulary> loaded = Vocabulary::Load(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->num_words(), 50);
  EXPECT_TRUE(loaded->keep_punctuation());
  EXPECT_EQ(loaded->words(), v->words());
  EXPECT_EQ(loaded->Encode("don't panic, zebra"),
            v->Encode("don't panic, zebra"));
  EXPECT_THAT(loaded->Encode("don't panic, zebra"), ElementsAre(1, 3, 4, 6, 2));

  // Without punctuation.
  absl::StatusOr<Vocabulary> words = Vocabulary::Build(texts, 50);
  ASSERT_TRUE(words.ok()) << words.status();
  ASSERT_TRUE(words->Save(path).ok());
  EXPECT_EQ(ReadAll(path),
            "loom-vocabulary v2 num_words=50 words=3 punctuation=0\n"
            "don't\npanic\ncaf\xc3\xa9\n");
  loaded = Vocabulary::Load(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->num_words(), 50);
  EXPECT_FALSE(loaded->keep_punctuation());
  EXPECT_THAT(loaded->words(), ElementsAre("don't", "panic", "caf\xc3\xa9"));
  EXPECT_THAT(loaded->Encode("don't panic, zebra"), ElementsAre(1, 3, 4, 2));

  // Saving again replaces the file.
  absl::StatusOr<Vocabulary> small = Vocabulary::Build({"x"}, 4);
  ASSERT_TRUE(small->Save(path).ok());
  EXPECT_EQ(ReadAll(path),
            "loom-vocabulary v2 num_words=4 words=1 punctuation=0\nx\n");
}

TEST(VocabularyTest, LoadsV1FilesAsKeepingPunctuation) {
  const std::string path = TempPath("v1.vocab");
  WriteAll(path, "loom-vocabulary v1 num_words=10 words=4\nthe\n!\n,\ngood\n");
  absl::StatusOr<Vocabulary> v = Vocabulary::Load(path);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_TRUE(v->keep_punctuation());
  EXPECT_EQ(v->num_words(), 10);
  EXPECT_THAT(v->words(), ElementsAre("the", "!", ",", "good"));
  EXPECT_THAT(v->Encode("The good, the bad!"),
              ElementsAre(1, 3, 6, 5, 3, 2, 4));
  // Saved again, it becomes a v2 file that says so.
  ASSERT_TRUE(v->Save(path).ok());
  EXPECT_EQ(ReadAll(path),
            "loom-vocabulary v2 num_words=10 words=4 punctuation=1\n"
            "the\n!\n,\ngood\n");

  // A v1 file without punctuation words still tokenizes with punctuation.
  WriteAll(path, "loom-vocabulary v1 num_words=10 words=3\nthe\na\nof\n");
  v = Vocabulary::Load(path);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_TRUE(v->keep_punctuation());
  EXPECT_THAT(v->Encode("the, a"), ElementsAre(1, 3, 2, 4));
}

TEST(VocabularyTest, SaveToMissingFolderFailsNamingIt) {
  const std::string path = TempPath("no/such/folder/v.vocab");
  absl::Status status = Vocabulary().Save(path);
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(std::string(status.message()),
              HasSubstr(TempPath("no/such/folder/v.vocab")));
}

TEST(VocabularyTest, LoadRefusesMissingFile) {
  const std::string path = TempPath("missing.vocab");
  absl::StatusOr<Vocabulary> v = Vocabulary::Load(path);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(v.status().message()), HasSubstr(path));
}

struct BadFile {
  const char* name;
  std::string content;
  const char* problem;
};

TEST(VocabularyTest, LoadRefusesCorruptAndTruncatedFiles) {
  const std::string good =
      "loom-vocabulary v2 num_words=10 words=3 punctuation=0\nthe\na\nof\n";
  const std::string good_v1 =
      "loom-vocabulary v1 num_words=10 words=3\nthe\n!\nof\n";
  const std::vector<BadFile> cases = {
      {"empty", "", "empty"},
      {"cut_mid_line", good.substr(0, good.size() - 2), "no newline"},
      {"cut_at_line", good.substr(0, good.size() - 3),
       "announces 3 words but the file has 2"},
      {"v1_cut_at_line", good_v1.substr(0, good_v1.size() - 3),
       "announces 3 words but the file has 2"},
      {"header_only_cut", "loom-vocabulary v2 num", "no newline"},
      {"extra_line", good + "and\n", "announces 3 words but the file has 4"},
      {"magic_only", "loom-vocabulary\n", "bad header"},
      {"bad_magic", "vocabulary v2 num_words=10 words=1 punctuation=0\nthe\n",
       "bad header"},
      {"bad_version",
       "loom-vocabulary v3 num_words=10 words=1 punctuation=0\nthe\n",
       "unsupported version \"v3\""},
      {"v2_without_punctuation",
       "loom-vocabulary v2 num_words=10 words=1\nthe\n", "bad header"},
      {"v1_with_punctuation",
       "loom-vocabulary v1 num_words=10 words=1 punctuation=1\nthe\n",
       "bad header"},
      {"trailing_space",
       "loom-vocabulary v2 num_words=10 words=1 punctuation=0 \nthe\n",
       "bad header"},
      {"bad_punctuation",
       "loom-vocabulary v2 num_words=10 words=1 punctuation=yes\nthe\n",
       "bad punctuation field"},
      {"punctuation_2",
       "loom-vocabulary v2 num_words=10 words=1 punctuation=2\nthe\n",
       "bad punctuation field"},
      {"punctuation_empty",
       "loom-vocabulary v2 num_words=10 words=1 punctuation=\nthe\n",
       "bad punctuation field"},
      {"fields_swapped",
       "loom-vocabulary v2 num_words=10 punctuation=0 words=1\nthe\n",
       "words field"},
      {"bad_num_words",
       "loom-vocabulary v2 num_words=x words=1 punctuation=0\nthe\n",
       "num_words"},
      {"small_num_words",
       "loom-vocabulary v2 num_words=3 words=0 punctuation=0\n", "num_words"},
      {"bad_count",
       "loom-vocabulary v2 num_words=10 words=-1 punctuation=0\nthe\n",
       "words field"},
      {"repeated",
       "loom-vocabulary v2 num_words=10 words=2 punctuation=1\nthe\nthe\n",
       "repeated"},
      {"blank_word",
       "loom-vocabulary v2 num_words=10 words=2 punctuation=0\nthe\n\n",
       "not a single token"},
      {"too_many",
       "loom-vocabulary v2 num_words=4 words=2 punctuation=0\nthe\na\n",
       "do not fit"},
      {"binary",
       std::string(
           "loom-vocabulary v2 num_words=10 words=1 punctuation=1\n\x01\x02\n"),
       "not a single token"},
      {"punctuation_word_not_kept",
       "loom-vocabulary v2 num_words=10 words=2 punctuation=0\nthe\n!\n",
       "word 2 \"!\" is punctuation, which this vocabulary does not keep"},
      {"apostrophe_not_kept",
       "loom-vocabulary v2 num_words=10 words=1 punctuation=0\n'\n",
       "\"\\'\" is punctuation"},
      {"two_tokens_kept",
       "loom-vocabulary v2 num_words=10 words=1 punctuation=1\nok!\n",
       "\"ok!\" is not a single token"},
      {"v1_two_tokens", "loom-vocabulary v1 num_words=10 words=1\nok!\n",
       "\"ok!\" is not a single token"},
  };
  for (const BadFile& c : cases) {
    const std::string path = TempPath(std::string("bad_") + c.name + ".vocab");
    WriteAll(path, c.content);
    absl::StatusOr<Vocabulary> v = Vocabulary::Load(path);
    ASSERT_FALSE(v.ok()) << c.name;
    EXPECT_EQ(v.status().code(), absl::StatusCode::kDataLoss) << c.name;
    EXPECT_THAT(std::string(v.status().message()),
                HasSubstr("vocabulary file " + path + " is corrupt: "))
        << c.name;
    EXPECT_THAT(std::string(v.status().message()), HasSubstr(c.problem))
        << c.name;
  }
  // The intact files load.
  const std::string path = TempPath("good.vocab");
  WriteAll(path, good);
  absl::StatusOr<Vocabulary> v = Vocabulary::Load(path);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_FALSE(v->keep_punctuation());
  EXPECT_THAT(v->words(), ElementsAre("the", "a", "of"));
  WriteAll(path, good_v1);
  v = Vocabulary::Load(path);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_TRUE(v->keep_punctuation());
  EXPECT_THAT(v->words(), ElementsAre("the", "!", "of"));
  WriteAll(path,
           "loom-vocabulary v2 num_words=10 words=2 punctuation=1\n!\n'\n");
  v = Vocabulary::Load(path);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_TRUE(v->keep_punctuation());
  EXPECT_THAT(v->words(), ElementsAre("!", "'"));
}

// ------------------------------------------------------------ PadSequences

const std::vector<std::vector<int32_t>> kSequences = {
    {1, 2, 3, 4, 5}, {6, 7}, {}, {8, 9, 10}};

TEST(PadSequencesTest, PrePre) {  // Keras' defaults.
  EXPECT_THAT(PadSequences(kSequences, 3, Padding::kPre, Padding::kPre),
              ElementsAre(3, 4, 5, 0, 6, 7, 0, 0, 0, 8, 9, 10));
  EXPECT_EQ(PadSequences(kSequences, 3),
            PadSequences(kSequences, 3, Padding::kPre, Padding::kPre));
}

TEST(PadSequencesTest, PostPost) {
  EXPECT_THAT(PadSequences(kSequences, 3, Padding::kPost, Padding::kPost),
              ElementsAre(1, 2, 3, 6, 7, 0, 0, 0, 0, 8, 9, 10));
}

TEST(PadSequencesTest, PrePaddingPostTruncating) {
  EXPECT_THAT(PadSequences(kSequences, 3, Padding::kPre, Padding::kPost),
              ElementsAre(1, 2, 3, 0, 6, 7, 0, 0, 0, 8, 9, 10));
}

TEST(PadSequencesTest, PostPaddingPreTruncating) {
  EXPECT_THAT(PadSequences(kSequences, 3, Padding::kPost, Padding::kPre),
              ElementsAre(3, 4, 5, 6, 7, 0, 0, 0, 0, 8, 9, 10));
}

TEST(PadSequencesTest, LongerRowsAndDegenerateSizes) {
  EXPECT_THAT(PadSequences({{1, 2}}, 5, Padding::kPre, Padding::kPre),
              ElementsAre(0, 0, 0, 1, 2));
  EXPECT_THAT(PadSequences({{1, 2}}, 5, Padding::kPost, Padding::kPre),
              ElementsAre(1, 2, 0, 0, 0));
  EXPECT_THAT(PadSequences({{1, 2, 3}}, 1, Padding::kPre, Padding::kPre),
              ElementsAre(3));
  EXPECT_THAT(PadSequences({{1, 2, 3}}, 1, Padding::kPre, Padding::kPost),
              ElementsAre(1));
  EXPECT_THAT(PadSequences({}, 4), IsEmpty());
  EXPECT_THAT(PadSequences(kSequences, 0), IsEmpty());
  EXPECT_THAT(PadSequences(kSequences, -2), IsEmpty());
}

}  // namespace
}  // namespace loom::data
