// Text preprocessing for Loom's text pipelines: a fast tokenizer, a
// Keras-style word index (Vocabulary) and Keras' pad_sequences.
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

// Splits `text` into tokens:
// - ASCII letters are lowercased; other bytes are kept as they are.
// - "<br />", "<br/>" and "<br>" (any case) count as whitespace, as do ASCII
//   whitespace and control characters.
// - A word is a run of ASCII letters, digits and non-ASCII bytes (so UTF-8
//   text stays inside words); an apostrophe between two word characters
//   stays in the word ("don't").
// - Every other ASCII character (punctuation, symbols, a leading or trailing
//   apostrophe) is a punctuation token of its own if `keep_punctuation`
//   ("great!" -> "great", "!"), else it is dropped ("great!" -> "great") and
//   only words remain, as in Keras' IMDb sequences.
//
// The lowercased text is written to `*buffer` (its previous content is
// discarded) and `*tokens` receives views into `*buffer`, which stay valid
// until `*buffer` is next modified. `*tokens` is cleared first. Reusing both
// across calls avoids allocations.
void Tokenize(std::string_view text, std::string* buffer,
              std::vector<std::string_view>* tokens,
              bool keep_punctuation = false);

// Convenience form of the above returning owned strings.
std::vector<std::string> Tokenize(std::string_view text,
                                  bool keep_punctuation = false);

// Keras imdb-style word index. Ids: 0 padding, 1 start of sequence, 2 out of
// vocabulary, then words by decreasing frequency from 3 on, so every id is
// below num_words(). A vocabulary tokenizes with a fixed keep_punctuation
// setting (see Tokenize), chosen when it is built and saved with it, so that
// Encode() splits texts as the words were counted.
class Vocabulary {
 public:
  static constexpr int32_t kPadId = 0;
  static constexpr int32_t kStartId = 1;
  static constexpr int32_t kOovId = 2;
  static constexpr int32_t kFirstWordId = 3;

  // An empty vocabulary (every token is out of vocabulary), num_words() 3,
  // keep_punctuation() false.
  Vocabulary();

  // Counts the tokens of `texts` (Tokenize with `keep_punctuation`) and keeps
  // the num_words - 3 most frequent; equal counts are ranked by the token's
  // bytes, ascending. Fails if num_words <= 3.
  static absl::StatusOr<Vocabulary> Build(
      const std::vector<std::string_view>& texts, int num_words,
      bool keep_punctuation = false);

  // Same from precomputed token counts (e.g. merged from several threads),
  // which must come from Tokenize with the same `keep_punctuation`: fails if
  // num_words <= 3 or a word it keeps is not a single such token.
  static absl::StatusOr<Vocabulary> FromCounts(
      const absl::flat_hash_map<std::string, int64_t>& counts, int num_words,
      bool keep_punctuation = false);

  // A vocabulary whose word i (0-based) gets id i + 3. Fails if num_words
  // <= 3, there are more than num_words - 3 words, or a word is empty,
  // repeated, or is not a single token as Tokenize(word, keep_punctuation)
  // would produce it (so no punctuation word unless `keep_punctuation`).
  static absl::StatusOr<Vocabulary> FromWords(std::vector<std::string> words,
                                              int num_words,
                                              bool keep_punctuation = false);

  // The id limit this vocabulary was built with (ids are < num_words()).
  int num_words() const { return num_words_; }
  // Whether Encode() keeps punctuation tokens (see Tokenize).
  bool keep_punctuation() const { return keep_punctuation_; }
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
  // keep_punctuation().
  std::vector<int32_t> Encode(std::string_view text) const;
  // Same, appending to `*ids` (not cleared); `*buffer` and `*tokens` are
  // scratch space as for Tokenize().
  void EncodeTo(std::string_view text, std::string* buffer,
                std::vector<std::string_view>* tokens,
                std::vector<int32_t>* ids) const;

  // Writes the header line
  //   "loom-vocabulary v2 num_words=N words=W punctuation=P"
  // (P is 1 if keep_punctuation(), else 0) then one word per line in rank
  // order. Atomic: writes `path`.tmp.<pid>, fsyncs it and renames it onto
  // `path`.
  absl::Status Save(const std::string& path) const;
  // Reads a file written by Save(), or a v1 file (header "loom-vocabulary v1
  // num_words=N words=W"; v1 vocabularies always kept punctuation, so they
  // load with keep_punctuation() true). Refuses a missing, corrupt or
  // truncated file with an error naming `path`; a word that is not a single
  // token under the file's punctuation setting makes the file corrupt.
  static absl::StatusOr<Vocabulary> Load(const std::string& path);

 private:
  int num_words_;
  bool keep_punctuation_ = false;
  std::vector<std::string> words_;
  absl::flat_hash_map<std::string, int32_t> index_;
};

// Keras pad_sequences(maxlen=max_len, padding=..., truncating=...).
enum class Padding {
  kPre,   // Padding: zeros in front. Truncating: keep the last max_len ids.
  kPost,  // Padding: zeros at the end. Truncating: keep the first max_len.
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
