// The Vocabulary and padding of framework/data/text.h (the tokenizers are
// in tokenizer.cc).
#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "framework/data/text.h"
#include "framework/file_util.h"
#include "framework/status_macros.h"

namespace loom::data {
namespace {

// Debian's Abseil is built with its own absl::string_view (not an alias of
// std::string_view), so convert at the boundary.
absl::string_view AsAbsl(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}

constexpr absl::string_view kHeaderMagic = "loom-vocabulary";
constexpr absl::string_view kHeaderVersion = "v3";
constexpr absl::string_view kHeaderFields =
    "num_words=N words=W punctuation=0|1 accents=keep|strip "
    "tokenizer=unicode|legacy";
// v2 files have no accents and tokenizer fields, v1 files no punctuation
// field either: both were built with the legacy tokenizer, and v1
// vocabularies kept punctuation.
constexpr absl::string_view kV2HeaderVersion = "v2";
constexpr absl::string_view kV1HeaderVersion = "v1";

absl::Status ValidateOptions(absl::string_view caller,
                             const TokenizerOptions& options) {
  if (options.strip_accents && !options.unicode) {
    return absl::InvalidArgumentError(
        absl::StrCat(caller,
                     ": TokenizerOptions.strip_accents needs the Unicode "
                     "tokenizer (unicode true); the legacy one keeps accents"));
  }
  return absl::OkStatus();
}

void CountTokens(const std::string_view* texts, size_t count,
                 const TokenizerOptions& options,
                 absl::flat_hash_map<std::string, int64_t>* counts) {
  std::string buffer;
  std::vector<std::string_view> tokens;
  for (size_t i = 0; i < count; ++i) {
    Tokenize(texts[i], &buffer, &tokens, options);
    for (std::string_view token : tokens) {
      auto it = counts->find(AsAbsl(token));
      if (it == counts->end()) {
        counts->emplace(std::string(token), 1);
      } else {
        ++it->second;
      }
    }
  }
}

// Empty if `word` is exactly one token as Tokenize(word, options) makes it,
// else why not; `*buffer` and `*tokens` are scratch space.
std::string NotASingleToken(const std::string& word,
                            const TokenizerOptions& options,
                            std::string* buffer,
                            std::vector<std::string_view>* tokens) {
  Tokenize(word, buffer, tokens, options);
  if (tokens->size() == 1 && (*tokens)[0] == word) return "";
  if (!options.keep_punctuation && !word.empty()) {
    TokenizerOptions with_punctuation = options;
    with_punctuation.keep_punctuation = true;
    Tokenize(word, buffer, tokens, with_punctuation);
    if (tokens->size() == 1 && (*tokens)[0] == word) {
      return "is punctuation, which this vocabulary does not keep";
    }
  }
  return "is not a single token";
}

TokenizerOptions UnicodeOptions(bool keep_punctuation) {
  TokenizerOptions options;
  options.keep_punctuation = keep_punctuation;
  return options;
}

// Where a sequence of `count` ids goes in a row of max_len ids, as Keras'
// pad_sequences places it: ids [first, first + kept) of the sequence are
// written at `out`; this fills the rest of the row with padding.
struct RowSlot {
  size_t first;
  size_t kept;
  int32_t* out;
};

RowSlot PlaceInRow(size_t count, int max_len, Padding padding,
                   Padding truncating, int32_t* row) {
  const size_t len = static_cast<size_t>(max_len);
  const size_t kept = std::min(count, len);
  const size_t first =
      count > len && truncating == Padding::kPre ? count - len : 0;
  const size_t at = padding == Padding::kPre ? len - kept : 0;
  std::fill(row, row + at, Vocabulary::kPadId);
  std::fill(row + at + kept, row + len, Vocabulary::kPadId);
  return {first, kept, row + at};
}

}  // namespace

Vocabulary::Vocabulary() : num_words_(kFirstWordId) {}

absl::StatusOr<Vocabulary> Vocabulary::Build(
    const std::vector<std::string_view>& texts, int num_words,
    const TokenizerOptions& options) {
  if (num_words <= kFirstWordId) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Vocabulary::Build: num_words must be > 3, got ", num_words));
  }
  LOOM_RETURN_IF_ERROR(ValidateOptions("Vocabulary::Build", options));
  // Two counters on two halves (the machines have 2 cores), then merged;
  // the ranking is a total order, so the result does not depend on this.
  const size_t half = texts.size() >= 2048 ? texts.size() / 2 : texts.size();
  absl::flat_hash_map<std::string, int64_t> counts;
  absl::flat_hash_map<std::string, int64_t> second_counts;
  std::thread second;
  if (half < texts.size()) {
    second = std::thread([&] {
      CountTokens(texts.data() + half, texts.size() - half, options,
                  &second_counts);
    });
  }
  CountTokens(texts.data(), half, options, &counts);
  if (second.joinable()) {
    second.join();
    for (const auto& [token, count] : second_counts) counts[token] += count;
  }
  return FromCounts(counts, num_words, options);
}

absl::StatusOr<Vocabulary> Vocabulary::Build(
    const std::vector<std::string_view>& texts, int num_words,
    bool keep_punctuation) {
  return Build(texts, num_words, UnicodeOptions(keep_punctuation));
}

absl::StatusOr<Vocabulary> Vocabulary::FromCounts(
    const absl::flat_hash_map<std::string, int64_t>& counts, int num_words,
    const TokenizerOptions& options) {
  if (num_words <= kFirstWordId) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Vocabulary::FromCounts: num_words must be > 3, got ", num_words));
  }
  LOOM_RETURN_IF_ERROR(ValidateOptions("Vocabulary::FromCounts", options));
  using Entry = std::pair<const std::string, int64_t>;
  std::vector<const Entry*> entries;
  entries.reserve(counts.size());
  for (const Entry& entry : counts) entries.push_back(&entry);
  // A total order (words are distinct), so the ranking is deterministic.
  const auto by_rank = [](const Entry* a, const Entry* b) {
    if (a->second != b->second) return a->second > b->second;
    return a->first < b->first;
  };
  const size_t keep =
      std::min(entries.size(), static_cast<size_t>(num_words - kFirstWordId));
  std::partial_sort(entries.begin(), entries.begin() + keep, entries.end(),
                    by_rank);
  Vocabulary vocabulary;
  vocabulary.num_words_ = num_words;
  vocabulary.options_ = options;
  vocabulary.words_.reserve(keep);
  vocabulary.index_.reserve(keep);
  std::string buffer;
  std::vector<std::string_view> tokens;
  for (size_t i = 0; i < keep; ++i) {
    const std::string& word = entries[i]->first;
    const std::string problem =
        NotASingleToken(word, options, &buffer, &tokens);
    if (!problem.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("Vocabulary::FromCounts: word \"", absl::CEscape(word),
                       "\" ", problem));
    }
    vocabulary.words_.push_back(word);
    vocabulary.index_.emplace(entries[i]->first,
                              static_cast<int32_t>(i) + kFirstWordId);
  }
  return vocabulary;
}

absl::StatusOr<Vocabulary> Vocabulary::FromCounts(
    const absl::flat_hash_map<std::string, int64_t>& counts, int num_words,
    bool keep_punctuation) {
  return FromCounts(counts, num_words, UnicodeOptions(keep_punctuation));
}

absl::StatusOr<Vocabulary> Vocabulary::FromWords(
    std::vector<std::string> words, int num_words,
    const TokenizerOptions& options) {
  if (num_words <= kFirstWordId) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Vocabulary::FromWords: num_words must be > 3, got ", num_words));
  }
  LOOM_RETURN_IF_ERROR(ValidateOptions("Vocabulary::FromWords", options));
  if (words.size() > static_cast<size_t>(num_words - kFirstWordId)) {
    return absl::InvalidArgumentError(
        absl::StrCat("Vocabulary::FromWords: ", words.size(),
                     " words do not fit in num_words=", num_words));
  }
  Vocabulary vocabulary;
  vocabulary.num_words_ = num_words;
  vocabulary.options_ = options;
  vocabulary.index_.reserve(words.size());
  std::string buffer;
  std::vector<std::string_view> tokens;
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string& word = words[i];
    const std::string problem =
        NotASingleToken(word, options, &buffer, &tokens);
    if (!problem.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("Vocabulary::FromWords: word ", i + 1, " \"",
                       absl::CEscape(word), "\" ", problem));
    }
    if (!vocabulary.index_.emplace(word, static_cast<int32_t>(i) + kFirstWordId)
             .second) {
      return absl::InvalidArgumentError(
          absl::StrCat("Vocabulary::FromWords: word ", i + 1, " \"",
                       absl::CEscape(word), "\" is repeated"));
    }
  }
  vocabulary.words_ = std::move(words);
  return vocabulary;
}

absl::StatusOr<Vocabulary> Vocabulary::FromWords(std::vector<std::string> words,
                                                 int num_words,
                                                 bool keep_punctuation) {
  return FromWords(std::move(words), num_words,
                   UnicodeOptions(keep_punctuation));
}

int32_t Vocabulary::Id(std::string_view token) const {
  const auto it = index_.find(AsAbsl(token));
  return it == index_.end() ? kOovId : it->second;
}

std::string_view Vocabulary::Word(int32_t id) const {
  switch (id) {
    case kPadId:
      return "<pad>";
    case kStartId:
      return "<start>";
    case kOovId:
      return "<oov>";
    default:
      break;
  }
  if (id < kFirstWordId || id >= size()) return "";
  return words_[id - kFirstWordId];
}

std::vector<int32_t> Vocabulary::Encode(std::string_view text) const {
  std::string buffer;
  std::vector<std::string_view> tokens;
  std::vector<int32_t> ids;
  EncodeTo(text, &buffer, &tokens, &ids);
  return ids;
}

void Vocabulary::EncodeTo(std::string_view text, std::string* buffer,
                          std::vector<std::string_view>* tokens,
                          std::vector<int32_t>* ids) const {
  Tokenize(text, buffer, tokens, options_);
  ids->reserve(ids->size() + tokens->size() + 1);
  ids->push_back(kStartId);
  for (std::string_view token : *tokens) ids->push_back(Id(token));
}

int64_t Vocabulary::EncodeRow(std::string_view text, int max_len,
                              Padding padding, Padding truncating,
                              std::string* buffer,
                              std::vector<std::string_view>* tokens,
                              int32_t* row) const {
  Tokenize(text, buffer, tokens, options_);
  // The row's sequence is [kStartId, token ids...].
  const RowSlot slot =
      PlaceInRow(tokens->size() + 1, max_len, padding, truncating, row);
  for (size_t i = 0; i < slot.kept; ++i) {
    const size_t position = slot.first + i;
    slot.out[i] = position == 0 ? kStartId : Id((*tokens)[position - 1]);
  }
  return static_cast<int64_t>(tokens->size());
}

absl::Status Vocabulary::Save(const std::string& path) const {
  std::string content = absl::StrCat(
      kHeaderMagic, " ", kHeaderVersion, " num_words=", num_words_,
      " words=", words_.size(),
      " punctuation=", options_.keep_punctuation ? 1 : 0,
      " accents=", options_.strip_accents ? "strip" : "keep",
      " tokenizer=", options_.unicode ? "unicode" : "legacy", "\n");
  for (const std::string& word : words_) absl::StrAppend(&content, word, "\n");

  return WriteFileAtomically(path, content);
}

absl::StatusOr<Vocabulary> Vocabulary::Load(const std::string& path) {
  // A vocabulary of the largest num_words (2^31 - 1) is not plausible; a
  // cap keeps /dev/zero or a data file given by mistake from being read
  // whole.
  constexpr int64_t kMaxVocabularyBytes = int64_t{256} << 20;
  absl::StatusOr<std::string> content =
      ReadFile(path, kMaxVocabularyBytes, "a vocabulary file");
  if (!content.ok()) {
    return absl::Status(
        content.status().code(),
        absl::StrCat("vocabulary file: ", content.status().message()));
  }
  const auto corrupt = [&path](absl::string_view problem) {
    return absl::DataLossError(
        absl::StrCat("vocabulary file ", path, " is corrupt: ", problem));
  };
  if (content->empty()) return corrupt("the file is empty");
  if (content->back() != '\n') {
    return corrupt("the last line has no newline (truncated file?)");
  }
  absl::string_view body(*content);
  body.remove_suffix(1);
  const std::vector<absl::string_view> lines = absl::StrSplit(body, '\n');

  // Header: see Save() and Load() in text.h.
  std::vector<absl::string_view> fields = absl::StrSplit(lines[0], ' ');
  if (fields.size() < 2 || fields[0] != kHeaderMagic) {
    return corrupt(absl::StrCat("bad header line \"", absl::CEscape(lines[0]),
                                "\", expected \"", kHeaderMagic, " ",
                                kHeaderVersion, " ", kHeaderFields, "\""));
  }
  const absl::string_view version = fields[1];
  size_t expected_fields = 0;
  absl::string_view expected_layout;
  if (version == kHeaderVersion) {
    expected_fields = 7;
    expected_layout = kHeaderFields;
  } else if (version == kV2HeaderVersion) {
    expected_fields = 5;
    expected_layout = "num_words=N words=W punctuation=0|1";
  } else if (version == kV1HeaderVersion) {
    expected_fields = 4;
    expected_layout = "num_words=N words=W";
  } else {
    return corrupt(absl::StrCat(
        "unsupported version \"", absl::CEscape(version), "\", expected ",
        kHeaderVersion, ", ", kV2HeaderVersion, " or ", kV1HeaderVersion));
  }
  if (fields.size() != expected_fields) {
    return corrupt(absl::StrCat("bad header line \"", absl::CEscape(lines[0]),
                                "\", expected \"", kHeaderMagic, " ", version,
                                " ", expected_layout, "\""));
  }
  int num_words = 0;
  size_t num_listed = 0;
  if (!absl::ConsumePrefix(&fields[2], "num_words=") ||
      !absl::SimpleAtoi(fields[2], &num_words) || num_words <= kFirstWordId) {
    return corrupt(absl::StrCat("bad num_words field in header \"",
                                absl::CEscape(lines[0]), "\""));
  }
  if (!absl::ConsumePrefix(&fields[3], "words=") ||
      !absl::SimpleAtoi(fields[3], &num_listed)) {
    return corrupt(absl::StrCat("bad words field in header \"",
                                absl::CEscape(lines[0]), "\""));
  }
  // v1 and v2: the legacy tokenizer; v1 kept punctuation.
  TokenizerOptions options;
  options.keep_punctuation = true;
  options.unicode = false;
  if (version != kV1HeaderVersion) {
    if (fields[4] == "punctuation=0") {
      options.keep_punctuation = false;
    } else if (fields[4] != "punctuation=1") {
      return corrupt(absl::StrCat(
          "bad punctuation field in header \"", absl::CEscape(lines[0]),
          "\", expected punctuation=0 or punctuation=1"));
    }
  }
  if (version == kHeaderVersion) {
    if (fields[5] == "accents=strip") {
      options.strip_accents = true;
    } else if (fields[5] != "accents=keep") {
      return corrupt(absl::StrCat(
          "bad accents field in header \"", absl::CEscape(lines[0]),
          "\", expected accents=keep or accents=strip"));
    }
    if (fields[6] == "tokenizer=unicode") {
      options.unicode = true;
    } else if (fields[6] != "tokenizer=legacy") {
      return corrupt(absl::StrCat(
          "bad tokenizer field in header \"", absl::CEscape(lines[0]),
          "\", expected tokenizer=unicode or tokenizer=legacy"));
    }
  }
  const size_t found = lines.size() - 1;
  if (found < num_listed) {
    return corrupt(absl::StrCat("the header announces ", num_listed,
                                " words but the file has ", found,
                                " (truncated file?)"));
  }
  if (found > num_listed) {
    return corrupt(absl::StrCat("the header announces ", num_listed,
                                " words but the file has ", found));
  }
  std::vector<std::string> words;
  words.reserve(found);
  for (size_t i = 1; i < lines.size(); ++i) {
    words.emplace_back(lines[i].data(), lines[i].size());
  }
  absl::StatusOr<Vocabulary> vocabulary =
      FromWords(std::move(words), num_words, options);
  if (!vocabulary.ok()) return corrupt(vocabulary.status().message());
  return vocabulary;
}

void PadSequenceInto(const int32_t* ids, size_t count, int max_len,
                     Padding padding, Padding truncating, int32_t* row) {
  const RowSlot slot = PlaceInRow(count, max_len, padding, truncating, row);
  std::copy(ids + slot.first, ids + slot.first + slot.kept, slot.out);
}

std::vector<int32_t> PadSequences(
    const std::vector<std::vector<int32_t>>& sequences, int max_len,
    Padding padding, Padding truncating) {
  if (max_len <= 0) return {};
  std::vector<int32_t> out(sequences.size() * static_cast<size_t>(max_len));
  for (size_t i = 0; i < sequences.size(); ++i) {
    PadSequenceInto(sequences[i].data(), sequences[i].size(), max_len, padding,
                    truncating, out.data() + i * static_cast<size_t>(max_len));
  }
  return out;
}

}  // namespace loom::data
