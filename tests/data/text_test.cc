#include "framework/data/text.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
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

// Options of the legacy ASCII-only tokenizer (v1/v2 vocabulary files).
TokenizerOptions Legacy(bool keep_punctuation = false) {
  TokenizerOptions options;
  options.keep_punctuation = keep_punctuation;
  options.unicode = false;
  return options;
}

// Options of the Unicode tokenizer.
TokenizerOptions Unicode(bool keep_punctuation = false,
                         bool strip_accents = false) {
  TokenizerOptions options;
  options.keep_punctuation = keep_punctuation;
  options.strip_accents = strip_accents;
  return options;
}

constexpr bool kStrip = true;  // strip_accents.

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

TEST(TokenizeTest, LegacyKeepsNonAsciiBytesInWords) {
  // The legacy tokenizer (v1/v2 vocabularies): UTF-8 bytes stay in words;
  // only ASCII letters are lowercased.
  EXPECT_THAT(Tokenize("Caf\xc3\xa9 NA\xc3\x8fVE!", Legacy(kKeep)),
              ElementsAre("caf\xc3\xa9", "na\xc3\x8fve", "!"));
  EXPECT_THAT(Tokenize("Caf\xc3\xa9 NA\xc3\x8fVE!", Legacy()),
              ElementsAre("caf\xc3\xa9", "na\xc3\x8fve"));
  EXPECT_THAT(Tokenize("\xe2\x80\x94", Legacy(kKeep)),
              ElementsAre("\xe2\x80\x94"));
  EXPECT_THAT(Tokenize("\xe2\x80\x94", Legacy()), ElementsAre("\xe2\x80\x94"));
  EXPECT_THAT(Tokenize("\xc2\xa1Hola! ab\xff", Legacy(kKeep)),
              ElementsAre("\xc2\xa1hola", "!", "ab\xff"));
  // strip_accents is for the Unicode tokenizer only.
  TokenizerOptions strip = Legacy();
  strip.strip_accents = true;
  EXPECT_THAT(Tokenize("Caf\xc3\xa9", strip), ElementsAre("caf\xc3\xa9"));
}

TEST(TokenizeTest, NonAsciiIsNormalizedAndClassified) {
  // The Unicode tokenizer (the default): these were words of raw bytes.
  EXPECT_THAT(Tokenize("Caf\xc3\xa9 NA\xc3\x8fVE!", kKeep),
              ElementsAre("caf\xc3\xa9", "na\xc3\xafve", "!"));
  EXPECT_THAT(Tokenize("Caf\xc3\xa9 NA\xc3\x8fVE!"),
              ElementsAre("caf\xc3\xa9", "na\xc3\xafve"));
  // An em dash is punctuation.
  EXPECT_THAT(Tokenize("\xe2\x80\x94", kKeep), ElementsAre("\xe2\x80\x94"));
  EXPECT_THAT(Tokenize("\xe2\x80\x94"), IsEmpty());
  EXPECT_THAT(Tokenize("bien\xe2\x80\x94mal", kKeep),
              ElementsAre("bien", "\xe2\x80\x94", "mal"));
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

// ------------------------------------------------------ Unicode tokenizer

const std::vector<std::string> kAsciiSamples = {
    "This movie was GREAT!",
    "Well, (8/10)... ok?",
    "a--b;c:\"d\"",
    "1,000.50 $5",
    "I don't like it's ROCK'N'ROLL 'quoted' dogs' it' don''t ' '",
    "L'homme qui aimait l'ETE",
    "end.<br /><br />Next a<BR>b<br/>c<Br />d <b>x</b> x<br <brx>",
    " \t\r\n\v\f  two\twords\n\x01\x7f~x~y~ `^_{|}@#%&*+=[]\\",
    "",
};

TEST(UnicodeTokenizeTest, AsciiIsExactlyTheLegacyTokenizer) {
  std::vector<std::string> samples = kAsciiSamples;
  std::mt19937 rng(1);
  for (int i = 0; i < 500; ++i) {  // Random ASCII, control characters too.
    std::string text(rng() % 40, ' ');
    for (char& c : text) c = static_cast<char>(rng() % 128);
    samples.push_back(text);
  }
  std::string unicode_buffer;
  std::string legacy_buffer;
  std::vector<std::string_view> unicode_tokens;
  std::vector<std::string_view> legacy_tokens;
  for (const std::string& text : samples) {
    for (bool keep : {false, true}) {
      for (bool strip : {false, true}) {
        Tokenize(text, &unicode_buffer, &unicode_tokens, Unicode(keep, strip));
        Tokenize(text, &legacy_buffer, &legacy_tokens, Legacy(keep));
        EXPECT_EQ(unicode_buffer, legacy_buffer) << absl::CEscape(text);
        EXPECT_EQ(unicode_tokens, legacy_tokens) << absl::CEscape(text);
      }
      EXPECT_EQ(Tokenize(text, keep), Tokenize(text, Legacy(keep)));
    }
  }
}

TEST(UnicodeTokenizeTest, Spanish) {
  EXPECT_THAT(
      Tokenize("¡Excelente película! No es buena.", kKeep),
      ElementsAre("¡", "excelente", "película", "!", "no", "es", "buena", "."));
  EXPECT_THAT(Tokenize("¡Excelente película! No es buena."),
              ElementsAre("excelente", "película", "no", "es", "buena"));
  EXPECT_THAT(Tokenize("PELÍCULA Película película"),
              ElementsAre("película", "película", "película"));
  EXPECT_THAT(Tokenize("¿Qué pasó? ÑANDÚ, año", kKeep),
              ElementsAre("¿", "qué", "pasó", "?", "ñandú", ",", "año"));
  // Decomposed input (i + U+0301 COMBINING ACUTE ACCENT) is composed.
  EXPECT_THAT(Tokenize("PELI\xcc\x81"
                       "CULA"),
              ElementsAre("pel\xc3\xad"
                          "cula"));
  EXPECT_THAT(Tokenize("pel\xc3\xad"
                       "cula"),
              ElementsAre("pel\xc3\xad"
                          "cula"));
}

TEST(UnicodeTokenizeTest, SpanishWithoutAccents) {
  EXPECT_THAT(
      Tokenize("¡Excelente película! No es buena.", Unicode(kKeep, kStrip)),
      ElementsAre("¡", "excelente", "pelicula", "!", "no", "es", "buena", "."));
  EXPECT_THAT(
      Tokenize("¡Excelente PELÍCULA! No es buena.", Unicode(false, kStrip)),
      ElementsAre("excelente", "pelicula", "no", "es", "buena"));
  EXPECT_THAT(Tokenize("¿Qué pasó? ÑANDÚ, año", Unicode(kKeep, kStrip)),
              ElementsAre("¿", "que", "paso", "?", "nandu", ",", "ano"));
  EXPECT_THAT(Tokenize("PELI\xcc\x81"
                       "CULA",
                       Unicode(false, kStrip)),
              ElementsAre("pelicula"));
}

TEST(UnicodeTokenizeTest, French) {
  // Inner apostrophes stay in the word, U+2019 written as U+0027.
  EXPECT_THAT(Tokenize("L'été, l\xe2\x80\x99"
                       "élève ŒUVRE Ça!",
                       kKeep),
              ElementsAre("l'été", ",", "l'élève", "œuvre", "ça", "!"));
  EXPECT_THAT(Tokenize("L'été, l\xe2\x80\x99"
                       "élève ŒUVRE Ça!",
                       Unicode(kKeep, kStrip)),
              ElementsAre("l'ete", ",", "l'eleve", "œuvre", "ca", "!"));
  EXPECT_THAT(Tokenize("Ç"), ElementsAre("ç"));
  EXPECT_THAT(Tokenize("Ç", Unicode(false, kStrip)), ElementsAre("c"));
  EXPECT_THAT(Tokenize("aujourd\xe2\x80\x99hui l'homme"),
              ElementsAre("aujourd'hui", "l'homme"));
  // Guillemets are punctuation; a no-break space is a space.
  EXPECT_THAT(Tokenize("« Génial\xc2\xa0! »", kKeep),
              ElementsAre("«", "génial", "!", "»"));
  EXPECT_THAT(Tokenize("« Génial\xc2\xa0! »"), ElementsAre("génial"));
}

TEST(UnicodeTokenizeTest, German) {
  // Full case folding: ß and ẞ are "ss".
  EXPECT_THAT(Tokenize("Straße STRASSE straße ẞ"),
              ElementsAre("strasse", "strasse", "strasse", "ss"));
  EXPECT_THAT(Tokenize("ÄÖÜ äöü Über"), ElementsAre("äöü", "äöü", "über"));
  EXPECT_THAT(Tokenize("ÄÖÜ äöü Über", Unicode(false, kStrip)),
              ElementsAre("aou", "aou", "uber"));
}

TEST(UnicodeTokenizeTest, Greek) {
  EXPECT_THAT(Tokenize("ΚΑΛΗ ταινία!", kKeep),
              ElementsAre("καλη", "ταινία", "!"));
  EXPECT_THAT(Tokenize("ΚΑΛΗ ταινία!", Unicode(false, kStrip)),
              ElementsAre("καλη", "ταινια"));
  // Final sigma (U+03C2) and capital sigma fold to U+03C3.
  EXPECT_THAT(Tokenize("ΛΌΓΟΣ λόγο\xcf\x82"),
              ElementsAre("λόγο\xcf\x83", "λόγο\xcf\x83"));
  EXPECT_THAT(Tokenize("ΛΌΓΟΣ λόγο\xcf\x82", Unicode(false, kStrip)),
              ElementsAre("λογο\xcf\x83", "λογο\xcf\x83"));
}

TEST(UnicodeTokenizeTest, CjkCharactersAreTokensOfTheirOwn) {
  EXPECT_THAT(Tokenize("这部电影很好"),
              ElementsAre("这", "部", "电", "影", "很", "好"));
  // The fullwidth exclamation mark is "!" after NFKC.
  EXPECT_THAT(Tokenize("这部电影很好！", kKeep),
              ElementsAre("这", "部", "电", "影", "很", "好", "!"));
  EXPECT_THAT(Tokenize("good电影, bad", kKeep),
              ElementsAre("good", "电", "影", ",", "bad"));
  EXPECT_THAT(Tokenize("第1部"), ElementsAre("第", "1", "部"));
  EXPECT_THAT(
      Tokenize("日本語のテキスト。", kKeep),
      ElementsAre("日", "本", "語", "の", "テ", "キ", "ス", "ト", "。"));
  EXPECT_THAT(Tokenize("日本語のテキスト。"),
              ElementsAre("日", "本", "語", "の", "テ", "キ", "ス", "ト"));
  EXPECT_THAT(Tokenize("コーヒー"), ElementsAre("コ", "ー", "ヒ", "ー"));
  // Halfwidth katakana: NFKC makes ｶ + ﾞ one character, ガ; stripping
  // accents removes the voicing mark.
  EXPECT_THAT(Tokenize("ｶﾞ"), ElementsAre("ガ"));
  EXPECT_THAT(Tokenize("ｶﾞ", Unicode(false, kStrip)), ElementsAre("カ"));
  // Hangul is written with spaces between words: words stay whole.
  EXPECT_THAT(Tokenize("한국 영화 최고"), ElementsAre("한국", "영화", "최고"));
}

TEST(UnicodeTokenizeTest, CompatibilityCharactersAreNormalized) {
  EXPECT_THAT(Tokenize("ＡＢＣ　１２３"), ElementsAre("abc", "123"));
  EXPECT_THAT(Tokenize("ＡＢＣ"), ElementsAre("abc"));
  // U+FB01 LATIN SMALL LIGATURE FI; ½ is 1, U+2044 FRACTION SLASH, 2.
  EXPECT_THAT(Tokenize("ﬁlm ½", kKeep),
              ElementsAre("film", "1", "\xe2\x81\x84", "2"));
  EXPECT_THAT(Tokenize("Ⅻ"), ElementsAre("xii"));  // U+216B ROMAN NUMERAL.
  // A decomposed é is composed; a mark with no letter before it is a word.
  EXPECT_THAT(Tokenize("Cafe\xcc\x81"), ElementsAre("caf\xc3\xa9"));
  EXPECT_THAT(Tokenize("Cafe\xcc\x81", Unicode(false, kStrip)),
              ElementsAre("cafe"));
  EXPECT_THAT(Tokenize("\xcc\x81"), ElementsAre("\xcc\x81"));
  EXPECT_THAT(Tokenize("\xcc\x81", Unicode(kKeep, kStrip)), IsEmpty());
}

TEST(UnicodeTokenizeTest, UnicodeWhitespaceAndIgnorables) {
  // No-break space, em space, line separator, NEL (a control character),
  // ideographic space.
  for (bool keep : {false, true}) {
    EXPECT_THAT(Tokenize("a\xc2\xa0"
                         "b\xe2\x80\x83"
                         "c\xe2\x80\xa8"
                         "d\xc2\x85"
                         "e\xe3\x80\x80"
                         "f",
                         keep),
                ElementsAre("a", "b", "c", "d", "e", "f"));
    // Soft hyphen, zero width space, byte order mark: removed.
    EXPECT_THAT(Tokenize("co\xc2\xadoperate zero\xe2\x80\x8bwidth", keep),
                ElementsAre("cooperate", "zerowidth"));
    EXPECT_THAT(Tokenize("\xef\xbb\xbfHello", keep), ElementsAre("hello"));
  }
  EXPECT_THAT(Tokenize("Fin.<br /><BR>Ñu Ñ<br/>x", kKeep),
              ElementsAre("fin", ".", "ñu", "ñ", "x"));
}

TEST(UnicodeTokenizeTest, Apostrophes) {
  EXPECT_THAT(
      Tokenize("don\xe2\x80\x99t DON'T rock\xe2\x80\x99n\xe2\x80\x99roll"),
      ElementsAre("don't", "don't", "rock'n'roll"));
  EXPECT_THAT(
      Tokenize("\xe2\x80\x99quoted\xe2\x80\x99 dogs\xe2\x80\x99 it\xe2\x80\x99",
               kKeep),
      ElementsAre("\xe2\x80\x99", "quoted", "\xe2\x80\x99", "dogs",
                  "\xe2\x80\x99", "it", "\xe2\x80\x99"));
  EXPECT_THAT(
      Tokenize(
          "\xe2\x80\x99quoted\xe2\x80\x99 dogs\xe2\x80\x99 it\xe2\x80\x99"),
      ElementsAre("quoted", "dogs", "it"));
  EXPECT_THAT(Tokenize("don\xe2\x80\x99\xe2\x80\x99t", kKeep),
              ElementsAre("don", "\xe2\x80\x99", "\xe2\x80\x99", "t"));
  EXPECT_THAT(Tokenize("don'\xe2\x80\x99t"), ElementsAre("don", "t"));
  // Between a CJK character and a letter it is punctuation.
  EXPECT_THAT(Tokenize("电\xe2\x80\x99s", kKeep),
              ElementsAre("电", "\xe2\x80\x99", "s"));
  EXPECT_THAT(Tokenize("élève\xe2\x80\x99s ÉLÈVE's"),
              ElementsAre("élève's", "élève's"));
}

TEST(UnicodeTokenizeTest, SymbolsAndEmojiArePunctuation) {
  EXPECT_THAT(Tokenize("great \xf0\x9f\x98\x80!", kKeep),
              ElementsAre("great", "\xf0\x9f\x98\x80", "!"));
  EXPECT_THAT(Tokenize("great \xf0\x9f\x98\x80!"), ElementsAre("great"));
  EXPECT_THAT(Tokenize("€5 a→b", kKeep), ElementsAre("€", "5", "a", "→", "b"));
}

constexpr char kReplacement[] = "\xef\xbf\xbd";  // U+FFFD.

TEST(UnicodeTokenizeTest, InvalidBytesAreReplacementCharacters) {
  EXPECT_THAT(Tokenize("ab\xff"
                       "cd",
                       kKeep),
              ElementsAre("ab", kReplacement, "cd"));
  EXPECT_THAT(Tokenize("ab\xff"
                       "cd"),
              ElementsAre("ab", "cd"));
  // Truncated sequence, at the end and before ASCII.
  EXPECT_THAT(Tokenize("caf\xc3", kKeep), ElementsAre("caf", kReplacement));
  EXPECT_THAT(Tokenize("\xc3(", kKeep), ElementsAre(kReplacement, "("));
  // One U+FFFD per byte: overlong "/", a surrogate, above U+10FFFF, stray
  // continuation bytes.
  EXPECT_THAT(Tokenize("\xc0\xaf", kKeep),
              ElementsAre(kReplacement, kReplacement));
  EXPECT_THAT(Tokenize("\xed\xa0\x80", kKeep),
              ElementsAre(kReplacement, kReplacement, kReplacement));
  EXPECT_THAT(
      Tokenize("\xf4\x90\x80\x80", kKeep),
      ElementsAre(kReplacement, kReplacement, kReplacement, kReplacement));
  EXPECT_THAT(Tokenize("\x80\x80"), IsEmpty());
  EXPECT_THAT(Tokenize("\xc3\xa9\xff"
                       "\xc3\xa9",
                       kKeep),
              ElementsAre("\xc3\xa9", kReplacement, "\xc3\xa9"));
  // A real U+FFFD is the same token.
  EXPECT_THAT(Tokenize(kReplacement, kKeep), ElementsAre(kReplacement));

  std::string buffer;
  std::vector<std::string_view> tokens;
  Tokenize(
      "A\xff"
      "B",
      &buffer, &tokens, kKeep);
  EXPECT_EQ(buffer,
            "a\xef\xbf\xbd"
            "b");
  EXPECT_THAT(tokens, ElementsAre("a", kReplacement, "b"));
  // The legacy tokenizer keeps invalid bytes in words, as it always did.
  EXPECT_THAT(Tokenize("ab\xff"
                       "cd",
                       Legacy()),
              ElementsAre("ab\xff"
                          "cd"));
}

TEST(UnicodeTokenizeTest, RandomBytesGiveStableTokens) {
  // Any bytes: no crash, tokens are non-empty views into the buffer, and
  // each is a single token again (what Vocabulary validation requires).
  std::mt19937 rng(2);
  const std::vector<std::string> pieces = {"a",
                                           "E",
                                           " ",
                                           "'",
                                           "\xe2\x80\x99",
                                           "<br />",
                                           "\xcc\x81",
                                           "\xc3\xa9",
                                           "\xc3\x89",
                                           "ß",
                                           "ς",
                                           "Σ",
                                           "电",
                                           "ｶ",
                                           "ﾞ",
                                           "ﬁ",
                                           "\xc2\xad",
                                           "!",
                                           "¡",
                                           "\xff",
                                           "\xc3",
                                           "\x80",
                                           "\xed\xa0\x80",
                                           "\xf0\x9f\x98\x80",
                                           "\xf0\x9f"};
  std::vector<std::string> texts;
  std::string buffer;
  std::vector<std::string_view> tokens;
  for (int i = 0; i < 3000; ++i) {
    std::string text;
    const int length = static_cast<int>(rng() % 16);
    for (int k = 0; k < length; ++k) {
      if (rng() % 4 == 0) {
        text += static_cast<char>(rng() % 256);
      } else {
        text += pieces[rng() % pieces.size()];
      }
    }
    for (const TokenizerOptions& options :
         {Unicode(), Unicode(kKeep), Unicode(kKeep, kStrip)}) {
      Tokenize(text, &buffer, &tokens, options);
      for (std::string_view token : tokens) {
        ASSERT_FALSE(token.empty()) << absl::CEscape(text);
        ASSERT_GE(token.data(), buffer.data());
        ASSERT_LE(token.data() + token.size(), buffer.data() + buffer.size());
        EXPECT_THAT(Tokenize(token, options), ElementsAre(token))
            << absl::CEscape(text);
      }
    }
    texts.push_back(text);
  }
  const std::vector<std::string_view> views(texts.begin(), texts.end());
  for (const TokenizerOptions& options :
       {Unicode(), Unicode(kKeep), Unicode(kKeep, kStrip), Legacy(kKeep)}) {
    absl::StatusOr<Vocabulary> v = Vocabulary::Build(views, 100000, options);
    EXPECT_TRUE(v.ok()) << v.status();
  }
}

TEST(UnicodeTokenizeTest, ReusedScratchSpaceIsNotReallocated) {
  std::string buffer;
  std::vector<std::string_view> tokens;
  Tokenize("¡Qué película tan BUENA!", &buffer, &tokens, kKeep);
  EXPECT_EQ(buffer, "¡qué película tan buena!");
  ASSERT_THAT(tokens, ElementsAre("¡", "qué", "película", "tan", "buena", "!"));
  const char* buffer_data = buffer.data();
  const std::string_view* tokens_data = tokens.data();
  EXPECT_EQ(tokens[2].data(), buffer.data() + 7);
  for (bool keep : {false, true}) {
    Tokenize("¿Cómo estás, niña?", &buffer, &tokens, keep);
    EXPECT_EQ(tokens.size(), keep ? 6u : 3u);
    EXPECT_EQ(buffer.data(), buffer_data);
    EXPECT_EQ(tokens.data(), tokens_data);
  }
  EXPECT_EQ(buffer, "¿cómo estás, niña?");
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

// EncodeRow writes what Encode + PadSequenceInto write, for every padding
// and truncation, rows shorter than, as long as and longer than max_len.
TEST(VocabularyTest, EncodeRowIsEncodeThenPad) {
  absl::StatusOr<Vocabulary> v = Vocabulary::Build(kTexts, 10, kKeep);
  ASSERT_TRUE(v.ok()) << v.status();
  // "The end, a zebra!" encodes as 1, 3, 2, 9, 4, 2, 8 (7 ids, 6 tokens).
  const std::string text = "The end, a zebra!";
  const std::vector<int32_t> ids = v->Encode(text);
  std::string buffer;
  std::vector<std::string_view> tokens;
  for (int max_len : {1, 2, 5, 6, 7, 8, 12}) {
    for (Padding padding : {Padding::kPre, Padding::kPost}) {
      for (Padding truncating : {Padding::kPre, Padding::kPost}) {
        std::vector<int32_t> expected(max_len, -1), row(max_len, -1);
        PadSequenceInto(ids.data(), ids.size(), max_len, padding, truncating,
                        expected.data());
        EXPECT_EQ(v->EncodeRow(text, max_len, padding, truncating, &buffer,
                               &tokens, row.data()),
                  6);
        EXPECT_EQ(row, expected)
            << "max_len " << max_len << ", padding "
            << (padding == Padding::kPre ? "pre" : "post") << ", truncating "
            << (truncating == Padding::kPre ? "pre" : "post");
      }
    }
  }
  // Kept ids spelled out: the last 3 (truncating pre), the first 3 (post).
  std::vector<int32_t> row(3);
  v->EncodeRow(text, 3, Padding::kPre, Padding::kPre, &buffer, &tokens,
               row.data());
  EXPECT_THAT(row, ElementsAre(4, 2, 8));
  v->EncodeRow(text, 3, Padding::kPre, Padding::kPost, &buffer, &tokens,
               row.data());
  EXPECT_THAT(row, ElementsAre(1, 3, 2));
  std::vector<int32_t> empty(3, -1);
  EXPECT_EQ(v->EncodeRow("", 3, Padding::kPost, Padding::kPre, &buffer, &tokens,
                         empty.data()),
            0);
  EXPECT_THAT(empty, ElementsAre(1, 0, 0));
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
  EXPECT_EQ(v.tokenizer_options(), TokenizerOptions());
  EXPECT_TRUE(v.tokenizer_options().unicode);
  EXPECT_FALSE(v.tokenizer_options().strip_accents);
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
            "loom-vocabulary v3 num_words=50 words=5 punctuation=1 "
            "accents=keep tokenizer=unicode\n"
            "don't\npanic\n!\n,\ncaf\xc3\xa9\n");
  EXPECT_NE(access((path + ".tmp." + std::to_string(getpid())).c_str(), F_OK),
            0);
  absl::StatusOr<Vocabulary> loaded = Vocabulary::Load(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->num_words(), 50);
  EXPECT_TRUE(loaded->keep_punctuation());
  EXPECT_EQ(loaded->tokenizer_options(), v->tokenizer_options());
  EXPECT_EQ(loaded->words(), v->words());
  EXPECT_EQ(loaded->Encode("don't panic, zebra"),
            v->Encode("don't panic, zebra"));
  EXPECT_THAT(loaded->Encode("don't panic, zebra"), ElementsAre(1, 3, 4, 6, 2));

  // Without punctuation.
  absl::StatusOr<Vocabulary> words = Vocabulary::Build(texts, 50);
  ASSERT_TRUE(words.ok()) << words.status();
  ASSERT_TRUE(words->Save(path).ok());
  EXPECT_EQ(ReadAll(path),
            "loom-vocabulary v3 num_words=50 words=3 punctuation=0 "
            "accents=keep tokenizer=unicode\n"
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
            "loom-vocabulary v3 num_words=4 words=1 punctuation=0 "
            "accents=keep tokenizer=unicode\nx\n");
}

TEST(VocabularyTest, LoadsV1FilesAsKeepingPunctuation) {
  const std::string path = TempPath("v1.vocab");
  WriteAll(path, "loom-vocabulary v1 num_words=10 words=4\nthe\n!\n,\ngood\n");
  absl::StatusOr<Vocabulary> v = Vocabulary::Load(path);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_TRUE(v->keep_punctuation());
  EXPECT_EQ(v->tokenizer_options(), Legacy(kKeep));
  EXPECT_EQ(v->num_words(), 10);
  EXPECT_THAT(v->words(), ElementsAre("the", "!", ",", "good"));
  EXPECT_THAT(v->Encode("The good, the bad!"),
              ElementsAre(1, 3, 6, 5, 3, 2, 4));
  // Saved again, it becomes a v3 file that says so, and loads the same.
  ASSERT_TRUE(v->Save(path).ok());
  EXPECT_EQ(ReadAll(path),
            "loom-vocabulary v3 num_words=10 words=4 punctuation=1 "
            "accents=keep tokenizer=legacy\n"
            "the\n!\n,\ngood\n");
  absl::StatusOr<Vocabulary> again = Vocabulary::Load(path);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->tokenizer_options(), Legacy(kKeep));
  EXPECT_EQ(again->words(), v->words());

  // A v1 file without punctuation words still tokenizes with punctuation.
  WriteAll(path, "loom-vocabulary v1 num_words=10 words=3\nthe\na\nof\n");
  v = Vocabulary::Load(path);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_TRUE(v->keep_punctuation());
  EXPECT_THAT(v->Encode("the, a"), ElementsAre(1, 3, 2, 4));
}

const std::vector<std::string_view> kSpanishTexts = {
    "¡Excelente película!", "PELÍCULA excelente", "Pelicula mala."};

TEST(VocabularyTest, BuildsWithTokenizerOptions) {
  // película 2 (PELÍCULA folds to it), excelente 2, pelicula 1, mala 1.
  absl::StatusOr<Vocabulary> v = Vocabulary::Build(kSpanishTexts, 100);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->tokenizer_options(), Unicode());
  EXPECT_THAT(v->words(),
              ElementsAre("excelente", "película", "mala", "pelicula"));

  // Without accents: pelicula 3, excelente 2, mala 1.
  absl::StatusOr<Vocabulary> strip =
      Vocabulary::Build(kSpanishTexts, 100, Unicode(false, kStrip));
  ASSERT_TRUE(strip.ok()) << strip.status();
  EXPECT_EQ(strip->tokenizer_options(), Unicode(false, kStrip));
  EXPECT_FALSE(strip->keep_punctuation());
  EXPECT_THAT(strip->words(), ElementsAre("pelicula", "excelente", "mala"));
  EXPECT_THAT(strip->Encode("PELÍCULA mala!"), ElementsAre(1, 3, 5));

  // With punctuation, the count 1 tokens by bytes: "!" "." "mala" "¡".
  absl::StatusOr<Vocabulary> keep =
      Vocabulary::Build(kSpanishTexts, 100, Unicode(kKeep, kStrip));
  ASSERT_TRUE(keep.ok()) << keep.status();
  EXPECT_TRUE(keep->keep_punctuation());
  EXPECT_THAT(keep->words(),
              ElementsAre("pelicula", "excelente", "!", ".", "mala", "¡"));
  EXPECT_THAT(keep->Encode("¡PELÍCULA!"), ElementsAre(1, 8, 3, 5));

  // The legacy tokenizer: "¡excelente" is a word, PELÍCULA is "pelÍcula".
  absl::StatusOr<Vocabulary> legacy =
      Vocabulary::Build(kSpanishTexts, 100, Legacy());
  ASSERT_TRUE(legacy.ok()) << legacy.status();
  EXPECT_EQ(legacy->tokenizer_options(), Legacy());
  EXPECT_THAT(legacy->words(), ElementsAre("excelente", "mala", "pelicula",
                                           "pel\xc3\x8d"
                                           "cula",
                                           "película", "¡excelente"));

  // The bool forms use the Unicode tokenizer.
  absl::StatusOr<Vocabulary> bool_keep =
      Vocabulary::Build(kSpanishTexts, 100, kKeep);
  ASSERT_TRUE(bool_keep.ok()) << bool_keep.status();
  EXPECT_EQ(bool_keep->tokenizer_options(), Unicode(kKeep));
}

TEST(VocabularyTest, RefusesStripAccentsWithTheLegacyTokenizer) {
  TokenizerOptions options = Legacy();
  options.strip_accents = true;
  const std::string expected =
      ": TokenizerOptions.strip_accents needs the Unicode tokenizer (unicode "
      "true); the legacy one keeps accents";
  absl::Status status = Vocabulary::Build(kTexts, 10, options).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "Vocabulary::Build" + expected);
  status = Vocabulary::FromCounts({{"a", 1}}, 10, options).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "Vocabulary::FromCounts" + expected);
  status = Vocabulary::FromWords({"a"}, 10, options).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "Vocabulary::FromWords" + expected);
}

TEST(VocabularyTest, FromWordsValidatesWithItsTokenizerOptions) {
  const auto problem = [](std::vector<std::string> words,
                          const TokenizerOptions& options) {
    return std::string(Vocabulary::FromWords(std::move(words), 10, options)
                           .status()
                           .message());
  };
  EXPECT_EQ(problem({"película", "don't", "电", "ça"}, Unicode()), "");
  EXPECT_THAT(problem({"película"}, Unicode(false, kStrip)),
              HasSubstr("not a single token"));
  EXPECT_EQ(problem({"pelicula"}, Unicode(false, kStrip)), "");
  EXPECT_THAT(problem({"straße"}, Unicode()), HasSubstr("not a single token"));
  EXPECT_EQ(problem({"strasse"}, Unicode()), "");
  EXPECT_THAT(problem({"PELÍCULA"}, Unicode()),
              HasSubstr("not a single token"));
  EXPECT_THAT(problem({"電影"}, Unicode()), HasSubstr("not a single token"));
  EXPECT_THAT(problem({"don\xe2\x80\x99t"}, Unicode()),
              HasSubstr("not a single token"));
  EXPECT_THAT(problem({"ＡＢＣ"}, Unicode()), HasSubstr("not a single token"));
  // NFD is not a token: the tokenizer composes.
  EXPECT_THAT(problem({"pel\xc3\xad"
                       "cula",
                       "peli\xcc\x81"
                       "cula"},
                      Unicode()),
              HasSubstr("word 2 \"peli\\314\\201cula\" is not a single token"));
  // Punctuation only if kept.
  EXPECT_EQ(problem({"¡", "\xe2\x80\x94"}, Unicode(kKeep)), "");
  EXPECT_EQ(problem({"¡"}, Unicode()),
            "Vocabulary::FromWords: word 1 \"\\302\\241\" is punctuation, "
            "which this vocabulary does not keep");
  // The legacy tokenizer takes what it used to.
  EXPECT_EQ(problem({"caf\xc3\x89", "\xe2\x80\x94", "¡hola"}, Legacy()), "");
  EXPECT_THAT(problem({"caf\xc3\x89"}, Unicode()),
              HasSubstr("not a single token"));
  EXPECT_THAT(problem({"¡hola"}, Unicode(kKeep)),
              HasSubstr("not a single token"));
}

TEST(VocabularyTest, FromCountsValidatesWithItsTokenizerOptions) {
  const absl::flat_hash_map<std::string, int64_t> counts = {{"pelicula", 2},
                                                            {"película", 1}};
  absl::StatusOr<Vocabulary> v = Vocabulary::FromCounts(counts, 10);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_THAT(v->words(), ElementsAre("pelicula", "película"));
  EXPECT_THAT(Vocabulary::FromCounts(counts, 10, Unicode(false, kStrip))
                  .status()
                  .message(),
              HasSubstr("word \"pel\\303\\255cula\" is not a single token"));
  // "película" is not kept with num_words 4, so it is not checked.
  v = Vocabulary::FromCounts(counts, 4, Unicode(false, kStrip));
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_THAT(v->words(), ElementsAre("pelicula"));
}

TEST(VocabularyTest, SaveLoadV3RoundTripKeepsTheOptions) {
  const std::string path = TempPath("v3.vocab");
  for (const TokenizerOptions& options :
       {Unicode(), Unicode(kKeep), Unicode(false, kStrip),
        Unicode(kKeep, kStrip), Legacy(), Legacy(kKeep)}) {
    absl::StatusOr<Vocabulary> v =
        Vocabulary::Build(kSpanishTexts, 20, options);
    ASSERT_TRUE(v.ok()) << v.status();
    ASSERT_TRUE(v->Save(path).ok());
    absl::StatusOr<Vocabulary> loaded = Vocabulary::Load(path);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    EXPECT_EQ(loaded->tokenizer_options(), options);
    EXPECT_EQ(loaded->num_words(), 20);
    EXPECT_EQ(loaded->words(), v->words());
    for (std::string_view text : kSpanishTexts) {
      EXPECT_EQ(loaded->Encode(text), v->Encode(text));
    }
  }
  absl::StatusOr<Vocabulary> v =
      Vocabulary::Build(kSpanishTexts, 20, Unicode(kKeep, kStrip));
  ASSERT_TRUE(v.ok()) << v.status();
  ASSERT_TRUE(v->Save(path).ok());
  EXPECT_EQ(ReadAll(path),
            "loom-vocabulary v3 num_words=20 words=6 punctuation=1 "
            "accents=strip tokenizer=unicode\n"
            "pelicula\nexcelente\n!\n.\nmala\n¡\n");
  absl::StatusOr<Vocabulary> loaded = Vocabulary::Load(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_THAT(loaded->Encode("¡PELÍCULA!"), ElementsAre(1, 8, 3, 5));

  // Written by hand.
  WriteAll(path,
           "loom-vocabulary v3 num_words=10 words=3 punctuation=0 "
           "accents=keep tokenizer=unicode\nstrasse\nçà\n电\n");
  loaded = Vocabulary::Load(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->tokenizer_options(), Unicode());
  EXPECT_THAT(loaded->Encode("STRASSE Straße, ÇÀ 电影!"),
              ElementsAre(1, 3, 3, 4, 5, 2));
}

TEST(VocabularyTest, LoadsV2FilesWithTheLegacyTokenizer) {
  // Words the legacy tokenizer made from non-ASCII text, which the Unicode
  // tokenizer would not (em dash, uppercase Ï, "¡hola").
  const std::string path = TempPath("v2.vocab");
  WriteAll(path,
           "loom-vocabulary v2 num_words=10 words=3 punctuation=0\n"
           "caf\xc3\xa9\n\xe2\x80\x94\nna\xc3\x8fve\n");
  absl::StatusOr<Vocabulary> v = Vocabulary::Load(path);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->tokenizer_options(), Legacy());
  EXPECT_THAT(v->Encode("Café \xe2\x80\x94 NA\xc3\x8fVE!"),
              ElementsAre(1, 3, 4, 5));
  EXPECT_THAT(v->Encode("na\xc3\xafve"), ElementsAre(1, 2));  // Not folded.
  // The Unicode tokenizer splits the same text differently.
  EXPECT_THAT(Tokenize("Café \xe2\x80\x94 NA\xc3\x8fVE!"),
              ElementsAre("café", "na\xc3\xafve"));

  WriteAll(path,
           "loom-vocabulary v2 num_words=10 words=2 punctuation=1\n"
           "\xc2\xa1hola\n!\n");
  v = Vocabulary::Load(path);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->tokenizer_options(), Legacy(kKeep));
  EXPECT_THAT(v->Encode("¡Hola!"), ElementsAre(1, 3, 4));
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
       "loom-vocabulary v4 num_words=10 words=1 punctuation=0\nthe\n",
       "unsupported version \"v4\""},
      {"v3_without_tokenizer",
       "loom-vocabulary v3 num_words=10 words=1 punctuation=0 accents=keep\n"
       "the\n",
       "bad header"},
      {"v3_as_v2",
       "loom-vocabulary v3 num_words=10 words=1 punctuation=0\nthe\n",
       "bad header"},
      {"v2_with_tokenizer",
       "loom-vocabulary v2 num_words=10 words=1 punctuation=0 accents=keep "
       "tokenizer=unicode\nthe\n",
       "bad header"},
      {"v3_bad_accents",
       "loom-vocabulary v3 num_words=10 words=1 punctuation=0 accents=yes "
       "tokenizer=unicode\nthe\n",
       "bad accents field"},
      {"v3_bad_tokenizer",
       "loom-vocabulary v3 num_words=10 words=1 punctuation=0 accents=keep "
       "tokenizer=ascii\nthe\n",
       "bad tokenizer field"},
      {"v3_fields_swapped",
       "loom-vocabulary v3 num_words=10 words=1 punctuation=0 "
       "tokenizer=unicode accents=keep\nthe\n",
       "bad accents field"},
      {"v3_legacy_strip",
       "loom-vocabulary v3 num_words=10 words=1 punctuation=0 accents=strip "
       "tokenizer=legacy\nthe\n",
       "strip_accents needs the Unicode tokenizer"},
      {"v3_uppercase_word",
       "loom-vocabulary v3 num_words=10 words=1 punctuation=0 accents=keep "
       "tokenizer=unicode\nPel\xc3\xad"
       "cula\n",
       "not a single token"},
      {"v3_accent_not_stripped",
       "loom-vocabulary v3 num_words=10 words=1 punctuation=0 accents=strip "
       "tokenizer=unicode\npel\xc3\xad"
       "cula\n",
       "not a single token"},
      {"v3_legacy_word_under_unicode",
       "loom-vocabulary v3 num_words=10 words=1 punctuation=0 accents=keep "
       "tokenizer=unicode\nna\xc3\x8fve\n",
       "not a single token"},
      {"v3_dash_not_kept",
       "loom-vocabulary v3 num_words=10 words=1 punctuation=0 accents=keep "
       "tokenizer=unicode\n\xe2\x80\x94\n",
       "is punctuation"},
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
