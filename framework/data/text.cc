#include "framework/data/text.h"


#include <algorithm>
#include <array>
#include <cstring>
#include <thread>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "framework/file_util.h"

namespace loom::data {
namespace {

enum CharClass : uint8_t { kSpace, kWordChar, kPunct };

// Byte classes, computed once.
struct CharTables {
  std::array<uint8_t, 256> cls;
  CharTables() {
    for (int c = 0; c < 256; ++c) {
      if (c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
          (c >= 'A' && c <= 'Z')) {
        cls[c] = kWordChar;
      } else if (c <= 0x20 || c == 0x7f) {
        cls[c] = kSpace;  // ASCII whitespace and control characters.
      } else {
        cls[c] = kPunct;
      }
    }
  }
};

const CharTables& Tables() {
  static const CharTables* const tables = new CharTables();
  return *tables;
}

// If lowercased `p[i..n)` starts with "<br>", "<br/>" or "<br />", returns
// its length, else 0.
size_t LineBreakLength(const char* p, size_t n, size_t i) {
  if (n - i < 4 || p[i + 1] != 'b' || p[i + 2] != 'r') return 0;
  if (p[i + 3] == '>') return 4;
  if (n - i >= 5 && p[i + 3] == '/' && p[i + 4] == '>') return 5;
  if (n - i >= 6 && p[i + 3] == ' ' && p[i + 4] == '/' && p[i + 5] == '>') {
    return 6;
  }
  return 0;
}

// Debian's Abseil is built with its own absl::string_view (not an alias of
// std::string_view), so convert at the boundary.
absl::string_view AsAbsl(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}

constexpr absl::string_view kHeaderMagic = "loom-vocabulary";
constexpr absl::string_view kHeaderVersion = "v2";
// v1 files have no punctuation field; their vocabularies kept punctuation.
constexpr absl::string_view kLegacyHeaderVersion = "v1";

void CountTokens(const std::string_view* texts, size_t count,
                 bool keep_punctuation,
                 absl::flat_hash_map<std::string, int64_t>* counts) {
  std::string buffer;
  std::vector<std::string_view> tokens;
  for (size_t i = 0; i < count; ++i) {
    Tokenize(texts[i], &buffer, &tokens, keep_punctuation);
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

// Empty if `word` is exactly one token as Tokenize(word, keep_punctuation)
// makes it, else why not; `*buffer` and `*tokens` are scratch space.
std::string NotASingleToken(const std::string& word, bool keep_punctuation,
                            std::string* buffer,
                            std::vector<std::string_view>* tokens) {
  Tokenize(word, buffer, tokens, keep_punctuation);
  if (tokens->size() == 1 && (*tokens)[0] == word) return "";
  if (!keep_punctuation && !word.empty()) {
    Tokenize(word, buffer, tokens, /*keep_punctuation=*/true);
    if (tokens->size() == 1 && (*tokens)[0] == word) {
      return "is punctuation, which this vocabulary does not keep";
    }
  }
  return "is not a single token";
}

}  // namespace

void Tokenize(std::string_view text, std::string* buffer,
              std::vector<std::string_view>* tokens, bool keep_punctuation) {
  const CharTables& t = Tables();
  buffer->resize(text.size());
  char* p = buffer->data();
  const size_t n = text.size();
  // Branch-free ASCII lowercasing, which the compiler vectorizes.
  const unsigned char* src =
      reinterpret_cast<const unsigned char*>(text.data());
  for (size_t i = 0; i < n; ++i) {
    const unsigned char c = src[i];
    p[i] = static_cast<char>(
        c | (static_cast<unsigned char>(c - 'A') < 26 ? 0x20 : 0));
  }
  tokens->clear();
  size_t i = 0;
  while (i < n) {
    const uint8_t cls = t.cls[static_cast<unsigned char>(p[i])];
    if (cls == kWordChar) {
      const size_t start = i++;
      while (i < n) {
        const uint8_t next = t.cls[static_cast<unsigned char>(p[i])];
        if (next == kWordChar) {
          ++i;
        } else if (p[i] == '\'' && i + 1 < n &&
                   t.cls[static_cast<unsigned char>(p[i + 1])] == kWordChar) {
          i += 2;
        } else {
          break;
        }
      }
      tokens->emplace_back(p + start, i - start);
    } else if (cls == kSpace) {
      ++i;
    } else {  // Punctuation, or the start of a line break tag.
      const size_t skip = p[i] == '<' ? LineBreakLength(p, n, i) : 0;
      if (skip > 0) {
        i += skip;
      } else {
        if (keep_punctuation) tokens->emplace_back(p + i, 1);
        ++i;
      }
    }
  }
}

std::vector<std::string> Tokenize(std::string_view text,
                                  bool keep_punctuation) {
  std::string buffer;
  std::vector<std::string_view> views;
  Tokenize(text, &buffer, &views, keep_punctuation);
  return std::vector<std::string>(views.begin(), views.end());
}

Vocabulary::Vocabulary() : num_words_(kFirstWordId) {}

absl::StatusOr<Vocabulary> Vocabulary::Build(
    const std::vector<std::string_view>& texts, int num_words,
    bool keep_punctuation) {
  if (num_words <= kFirstWordId) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Vocabulary::Build: num_words must be > 3, got ", num_words));
  }
  // Two counters on two halves (the machines have 2 cores), then merged;
  // the ranking is a total order, so the result does not depend on this.
  const size_t half = texts.size() >= 2048 ? texts.size() / 2 : texts.size();
  absl::flat_hash_map<std::string, int64_t> counts;
  absl::flat_hash_map<std::string, int64_t> second_counts;
  std::thread second;
  if (half < texts.size()) {
    second = std::thread([&] {
      CountTokens(texts.data() + half, texts.size() - half, keep_punctuation,
                  &second_counts);
    });
  }
  CountTokens(texts.data(), half, keep_punctuation, &counts);
  if (second.joinable()) {
    second.join();
    for (const auto& [token, count] : second_counts) counts[token] += count;
  }
  return FromCounts(counts, num_words, keep_punctuation);
}

absl::StatusOr<Vocabulary> Vocabulary::FromCounts(
    const absl::flat_hash_map<std::string, int64_t>& counts, int num_words,
    bool keep_punctuation) {
  if (num_words <= kFirstWordId) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Vocabulary::FromCounts: num_words must be > 3, got ", num_words));
  }
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
  vocabulary.keep_punctuation_ = keep_punctuation;
  vocabulary.words_.reserve(keep);
  vocabulary.index_.reserve(keep);
  std::string buffer;
  std::vector<std::string_view> tokens;
  for (size_t i = 0; i < keep; ++i) {
    const std::string& word = entries[i]->first;
    const std::string problem =
        NotASingleToken(word, keep_punctuation, &buffer, &tokens);
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

absl::StatusOr<Vocabulary> Vocabulary::FromWords(std::vector<std::string> words,
                                                 int num_words,
                                                 bool keep_punctuation) {
  if (num_words <= kFirstWordId) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Vocabulary::FromWords: num_words must be > 3, got ", num_words));
  }
  if (words.size() > static_cast<size_t>(num_words - kFirstWordId)) {
    return absl::InvalidArgumentError(
        absl::StrCat("Vocabulary::FromWords: ", words.size(),
                     " words do not fit in num_words=", num_words));
  }
  Vocabulary vocabulary;
  vocabulary.num_words_ = num_words;
  vocabulary.keep_punctuation_ = keep_punctuation;
  vocabulary.index_.reserve(words.size());
  std::string buffer;
  std::vector<std::string_view> tokens;
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string& word = words[i];
    const std::string problem =
        NotASingleToken(word, keep_punctuation, &buffer, &tokens);
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
  Tokenize(text, buffer, tokens, keep_punctuation_);
  ids->reserve(ids->size() + tokens->size() + 1);
  ids->push_back(kStartId);
  for (std::string_view token : *tokens) ids->push_back(Id(token));
}

absl::Status Vocabulary::Save(const std::string& path) const {
  std::string content =
      absl::StrCat(kHeaderMagic, " ", kHeaderVersion, " num_words=", num_words_,
                   " words=", words_.size(),
                   " punctuation=", keep_punctuation_ ? 1 : 0, "\n");
  for (const std::string& word : words_) absl::StrAppend(&content, word, "\n");

  return WriteFileAtomically(path, content);
}

absl::StatusOr<Vocabulary> Vocabulary::Load(const std::string& path) {
  absl::StatusOr<std::string> content = ReadFile(path);
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

  // Header: "loom-vocabulary v2 num_words=N words=W punctuation=0|1", or
  // "loom-vocabulary v1 num_words=N words=W" (punctuation kept).
  std::vector<absl::string_view> fields = absl::StrSplit(lines[0], ' ');
  if (fields.size() < 2 || fields[0] != kHeaderMagic) {
    return corrupt(absl::StrCat("bad header line \"", absl::CEscape(lines[0]),
                                "\", expected \"", kHeaderMagic, " ",
                                kHeaderVersion,
                                " num_words=N words=W punctuation=0|1\""));
  }
  const bool legacy = fields[1] == kLegacyHeaderVersion;
  if (!legacy && fields[1] != kHeaderVersion) {
    return corrupt(absl::StrCat("unsupported version \"",
                                absl::CEscape(fields[1]), "\", expected ",
                                kHeaderVersion, " or ", kLegacyHeaderVersion));
  }
  const size_t expected_fields = legacy ? 4 : 5;
  if (fields.size() != expected_fields) {
    return corrupt(absl::StrCat("bad header line \"", absl::CEscape(lines[0]),
                                "\", expected \"", kHeaderMagic, " ", fields[1],
                                " num_words=N words=W",
                                legacy ? "" : " punctuation=0|1", "\""));
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
  bool keep_punctuation = true;
  if (!legacy) {
    if (fields[4] == "punctuation=0") {
      keep_punctuation = false;
    } else if (fields[4] != "punctuation=1") {
      return corrupt(absl::StrCat(
          "bad punctuation field in header \"", absl::CEscape(lines[0]),
          "\", expected punctuation=0 or punctuation=1"));
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
      FromWords(std::move(words), num_words, keep_punctuation);
  if (!vocabulary.ok()) return corrupt(vocabulary.status().message());
  return vocabulary;
}

void PadSequenceInto(const int32_t* ids, size_t count, int max_len,
                     Padding padding, Padding truncating, int32_t* row) {
  const size_t len = static_cast<size_t>(max_len);
  const int32_t* begin = ids;
  size_t kept = count;
  if (count > len) {
    kept = len;
    if (truncating == Padding::kPre) begin = ids + (count - len);
  }
  const size_t pad = len - kept;
  if (padding == Padding::kPre) {
    std::fill(row, row + pad, Vocabulary::kPadId);
    std::copy(begin, begin + kept, row + pad);
  } else {
    std::copy(begin, begin + kept, row);
    std::fill(row + kept, row + len, Vocabulary::kPadId);
  }
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
