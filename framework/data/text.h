// Text preprocessing for Loom's text pipelines: a fast tokenizer
// (tokenizer.cc), a Keras-style word index (Vocabulary) and Keras'
// pad_sequences (vocabulary.cc).
#ifndef LOOM_FRAMEWORK_DATA_TEXT_H_
#define LOOM_FRAMEWORK_DATA_TEXT_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace loom::data {

// How Tokenize() splits and normalizes text. A Vocabulary stores the options
// it was built with and saves them in its file (see Vocabulary::Save).
struct TokenizerOptions {
  // Whether punctuation and symbols are tokens ("great!" -> "great", "!"),
  // else they are dropped ("great!" -> "great") and only words remain, as in
  // Keras' IMDb sequences. Either way they separate words.
  bool keep_punctuation = false;
  // Unicode tokenizer only (ignored by the legacy one): removes every
  // combining mark after decomposition (utf8proc's UTF8PROC_STRIPMARK), so
  // "película" -> "pelicula", "Ç" -> "c", "año" -> "ano". Meant for Latin,
  // Greek and Cyrillic text: it also removes Japanese voicing marks
  // ("が" -> "か") and Indic vowel signs. Letters that are not a base letter
  // plus a mark stay ("ø", "œ", "ł").
  bool strip_accents = false;
  // true: the Unicode tokenizer. false: the legacy ASCII-only tokenizer that
  // built the v1 and v2 vocabulary files (they load with unicode false), kept
  // exactly as it was so that their models still see the tokens they were
  // trained on. Both give the same tokens for pure-ASCII text.
  bool unicode = true;

  friend bool operator==(const TokenizerOptions& a, const TokenizerOptions& b) {
    return a.keep_punctuation == b.keep_punctuation &&
           a.strip_accents == b.strip_accents && a.unicode == b.unicode;
  }
  friend bool operator!=(const TokenizerOptions& a, const TokenizerOptions& b) {
    return !(a == b);
  }
};

// Splits `text` into tokens.
//
// Unicode tokenizer (options.unicode, the default):
// - The text is normalized to NFKC with full case folding and without
//   default-ignorable code points (utf8proc's NFKC_Casefold: UTF8PROC_COMPOSE
//   | UTF8PROC_COMPAT | UTF8PROC_CASEFOLD | UTF8PROC_IGNORE, plus
//   UTF8PROC_STRIPMARK if options.strip_accents), so "PELÍCULA" and
//   "película" are one token, "Straße" -> "strasse", "ＡＢＣ" -> "abc",
//   "ﬁlm" -> "film", final "ς" -> "σ", and soft hyphens, zero-width spaces
//   and byte order marks vanish.
// - Whitespace: Unicode separators (Z*), control characters (Cc), and
//   "<br />", "<br/>", "<br>" (any case).
// - A word is a run of letters (L*), numbers (N*) and combining marks (M*),
//   except CJK characters: each letter or number in the CJK ideograph blocks
//   (with extensions and compatibility ideographs), CJK symbols and
//   punctuation, Hiragana and Katakana is a token of its own, with any marks
//   that follow it ("这部电影" -> "这", "部", "电", "影"; "good电影" ->
//   "good", "电", "影"). Hangul stays in words (Korean separates words with
//   spaces); Thai, Lao, Khmer and other scripts written without spaces give
//   one word per space-separated run.
// - An apostrophe (U+0027, or U+2019 RIGHT SINGLE QUOTATION MARK, which is
//   then written as U+0027) between two word characters stays in the word:
//   "don't", "don’t" -> "don't", "l'été", "l’été" -> "l'été", "rock'n'roll".
//   Elsewhere either one is punctuation.
// - Every other code point (punctuation, symbols, emoji, a leading or
//   trailing apostrophe) is a punctuation token of its own if
//   options.keep_punctuation ("¡Excelente!" -> "¡", "excelente", "!"), else
//   it is dropped.
// - Invalid UTF-8: each byte that does not start a valid sequence (stray
//   continuation byte, truncated or overlong sequence, surrogate, > U+10FFFF)
//   is read as U+FFFD, a symbol: a "\xEF\xBF\xBD" punctuation token, or
//   dropped, and it separates words (bytes "ab" 0xFF "cd" -> "ab", "cd"). The
//   tokenizer never fails on bad input; validating it is the reader's job.
// - Pure-ASCII text takes a fast path with exactly the legacy tokenizer's
//   result (ASCII letters lowercased).
// - Categories and mappings are those of the Unicode version of the system's
//   utf8proc (15.0 for Debian 12's 2.8.0).
//
// Legacy tokenizer (options.unicode false, v1/v2 vocabulary files):
// - ASCII letters are lowercased; other bytes are kept as they are.
// - "<br />", "<br/>" and "<br>" (any case) count as whitespace, as do ASCII
//   whitespace and control characters.
// - A word is a run of ASCII letters, digits and non-ASCII bytes (so UTF-8
//   text stays inside words, "—" included); an apostrophe between two word
//   characters stays in the word ("don't").
// - Every other ASCII character is a punctuation token of its own if
//   options.keep_punctuation, else it is dropped.
//
// The normalized text (lowercased text for the legacy tokenizer and for
// pure-ASCII text) is written to `*buffer` (its previous content is
// discarded) and `*tokens` receives views into `*buffer`, which stay valid
// until `*buffer` is next modified. `*tokens` is cleared first. Reusing both
// across calls avoids allocations (for non-ASCII text the Unicode tokenizer
// also keeps per-thread scratch space: a code point buffer and a 24 KiB
// cache of normalized character sequences).
void Tokenize(std::string_view text, std::string* buffer,
              std::vector<std::string_view>* tokens,
              const TokenizerOptions& options);

// Same with the Unicode tokenizer, without accent stripping.
void Tokenize(std::string_view text, std::string* buffer,
              std::vector<std::string_view>* tokens,
              bool keep_punctuation = false);

// Convenience forms of the above returning owned strings.
std::vector<std::string> Tokenize(std::string_view text,
                                  const TokenizerOptions& options);
std::vector<std::string> Tokenize(std::string_view text,
                                  bool keep_punctuation = false);

// Keras pad_sequences(maxlen=max_len, padding=..., truncating=...).
enum class Padding {
  kPre,   // Padding: zeros in front. Truncating: keep the last max_len ids.
  kPost,  // Padding: zeros at the end. Truncating: keep the first max_len.
};

// Keras imdb-style word index. Ids: 0 padding, 1 start of sequence, 2 out of
// vocabulary, then words by decreasing frequency from 3 on, so every id is
// below num_words(). A vocabulary tokenizes with fixed TokenizerOptions,
// chosen when it is built and saved with it, so that Encode() splits texts as
// the words were counted.
class Vocabulary {
 public:
  static constexpr int32_t kPadId = 0;
  static constexpr int32_t kStartId = 1;
  static constexpr int32_t kOovId = 2;
  static constexpr int32_t kFirstWordId = 3;

  // An empty vocabulary (every token is out of vocabulary), num_words() 3,
  // default TokenizerOptions (Unicode, punctuation dropped).
  Vocabulary();

  // Counts the tokens of `texts` (Tokenize with `options`) and keeps the
  // num_words - 3 most frequent; equal counts are ranked by the token's
  // bytes, ascending. Fails if num_words <= 3 or the options are invalid
  // (strip_accents needs the Unicode tokenizer).
  static absl::StatusOr<Vocabulary> Build(
      const std::vector<std::string_view>& texts, int num_words,
      const TokenizerOptions& options);
  // Same with the Unicode tokenizer and this keep_punctuation.
  static absl::StatusOr<Vocabulary> Build(
      const std::vector<std::string_view>& texts, int num_words,
      bool keep_punctuation = false);

  // Same from precomputed token counts (e.g. merged from several threads),
  // which must come from Tokenize with the same `options`: fails if
  // num_words <= 3, the options are invalid, or a word it keeps is not a
  // single such token.
  static absl::StatusOr<Vocabulary> FromCounts(
      const absl::flat_hash_map<std::string, int64_t>& counts, int num_words,
      const TokenizerOptions& options);
  // Same with the Unicode tokenizer and this keep_punctuation.
  static absl::StatusOr<Vocabulary> FromCounts(
      const absl::flat_hash_map<std::string, int64_t>& counts, int num_words,
      bool keep_punctuation = false);

  // A vocabulary whose word i (0-based) gets id i + 3. Fails if num_words
  // <= 3, the options are invalid, there are more than num_words - 3 words,
  // or a word is empty, repeated, or is not a single token as
  // Tokenize(word, options) would produce it (so no punctuation word unless
  // options.keep_punctuation, no uppercase or unnormalized word).
  static absl::StatusOr<Vocabulary> FromWords(std::vector<std::string> words,
                                              int num_words,
                                              const TokenizerOptions& options);
  // Same with the Unicode tokenizer and this keep_punctuation.
  static absl::StatusOr<Vocabulary> FromWords(std::vector<std::string> words,
                                              int num_words,
                                              bool keep_punctuation = false);

  // The id limit this vocabulary was built with (ids are < num_words()).
  int num_words() const { return num_words_; }
  // How Encode() tokenizes.
  const TokenizerOptions& tokenizer_options() const { return options_; }
  // Whether Encode() keeps punctuation tokens (see Tokenize).
  bool keep_punctuation() const { return options_.keep_punctuation; }
  // Number of ids in use: 3 + number of words (<= num_words()).
  int size() const { return kFirstWordId + static_cast<int>(words_.size()); }
  // Words in rank order; words()[i] has id i + 3.
  const std::vector<std::string>& words() const { return words_; }

  // Id of one token (as produced by Tokenize), kOovId if unknown.
  int32_t Id(std::string_view token) const;
  // The word for an id: "<pad>", "<start>", "<oov>" for the reserved ids,
  // "" for an id outside [0, size()).
  std::string_view Word(int32_t id) const;

  // [kStartId] followed by the ids of the tokens of `text`, tokenized with
  // tokenizer_options().
  std::vector<int32_t> Encode(std::string_view text) const;
  // Same, appending to `*ids` (not cleared); `*buffer` and `*tokens` are
  // scratch space as for Tokenize().
  void EncodeTo(std::string_view text, std::string* buffer,
                std::vector<std::string_view>* tokens,
                std::vector<int32_t>* ids) const;
  // Encode(text) padded or truncated to one row of max_len ids (max_len >
  // 0), as PadSequenceInto writes it, looking up only the tokens the row
  // keeps. Returns the text's number of tokens (the start id not counted).
  // `*buffer` and `*tokens` are scratch space as for Tokenize().
  int64_t EncodeRow(std::string_view text, int max_len, Padding padding,
                    Padding truncating, std::string* buffer,
                    std::vector<std::string_view>* tokens, int32_t* row) const;

  // Writes the header line
  //   "loom-vocabulary v3 num_words=N words=W punctuation=P accents=A
  //   tokenizer=T"
  // (one line, single spaces, fields in this order; P is 1 if
  // keep_punctuation, else 0; A is "strip" if strip_accents, else "keep"; T
  // is "unicode" or "legacy") then one word per line in rank order. Atomic:
  // writes `path`.tmp.<pid>, fsyncs it and renames it onto `path`.
  absl::Status Save(const std::string& path) const;
  // Reads a file written by Save(), or an older one, which was built with
  // the legacy tokenizer and loads with tokenizer_options().unicode false:
  //   v2: "loom-vocabulary v2 num_words=N words=W punctuation=P";
  //   v1: "loom-vocabulary v1 num_words=N words=W" (v1 vocabularies always
  //       kept punctuation, so they load with keep_punctuation() true).
  // Refuses a missing, corrupt or truncated file with an error naming
  // `path`; a word that is not a single token under the file's tokenizer
  // options makes the file corrupt.
  static absl::StatusOr<Vocabulary> Load(const std::string& path);

 private:
  int num_words_;
  TokenizerOptions options_;
  std::vector<std::string> words_;
  absl::flat_hash_map<std::string, int32_t> index_;
};

// Returns the sequences as a row-major [sequences.size(), max_len] array,
// each row padded with 0 or truncated to max_len. Returns an empty vector if
// max_len <= 0.
std::vector<int32_t> PadSequences(
    const std::vector<std::vector<int32_t>>& sequences, int max_len,
    Padding padding = Padding::kPre, Padding truncating = Padding::kPre);

// Writes one sequence as a row of max_len ids into `row` (max_len > 0).
void PadSequenceInto(const int32_t* ids, size_t count, int max_len,
                     Padding padding, Padding truncating, int32_t* row);

}  // namespace loom::data

#endif  // LOOM_FRAMEWORK_DATA_TEXT_H_
