#include "framework/data/dataset.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <random>
#include <string_view>
#include <thread>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "framework/status_macros.h"
#include "framework/tensor.h"

namespace loom::data {
namespace {

// Uniform in [0, bound) for bound >= 1, by rejection, so that the result only
// depends on the generator's (standardized) output sequence.
uint64_t UniformBelow(std::mt19937_64& rng, uint64_t bound) {
  const uint64_t threshold = (0 - bound) % bound;  // 2^64 mod bound.
  while (true) {
    const uint64_t r = rng();
    if (r >= threshold) return r % bound;
  }
}

// An error naming `field` unless `value` is PRE or POST.
absl::Status CheckPadding(loom::TextDatasetDef::Padding value,
                          absl::string_view field) {
  if (value == loom::TextDatasetDef::PRE ||
      value == loom::TextDatasetDef::POST) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrCat("TextDatasetDef.", field, ": unknown value ",
                   static_cast<int>(value), " (expected PRE or POST)"));
}

bool Exists(const std::string& path) {
  struct stat st;
  return !path.empty() && ::stat(path.c_str(), &st) == 0;
}

absl::string_view AsAbsl(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}

// Training reviews tokenized once: token counts, plus each review as interned
// token indices, so that encoding them once the vocabulary exists needs no
// second tokenization and no string hashing.
struct InternedReviews {
  absl::flat_hash_map<std::string, int32_t> index;  // Token -> local index.
  std::vector<int64_t> counts;                      // By local index.
  std::vector<int32_t> tokens;  // Local indices of all reviews, in order.
  std::vector<size_t> offsets;  // Review i: tokens[offsets[i], offsets[i+1]).
  std::vector<int32_t> to_id;   // Local index -> vocabulary id.
};

void Intern(const Review* reviews, size_t count,
            const TokenizerOptions& tokenizer, InternedReviews* out) {
  std::string buffer;
  std::vector<std::string_view> tokens;
  out->offsets.reserve(count + 1);
  out->offsets.push_back(0);
  for (size_t i = 0; i < count; ++i) {
    Tokenize(reviews[i].text, &buffer, &tokens, tokenizer);
    for (std::string_view token : tokens) {
      auto it = out->index.find(AsAbsl(token));
      if (it == out->index.end()) {
        const int32_t local = static_cast<int32_t>(out->counts.size());
        out->index.emplace(std::string(token), local);
        out->counts.push_back(1);
        out->tokens.push_back(local);
      } else {
        ++out->counts[it->second];
        out->tokens.push_back(it->second);
      }
    }
    out->offsets.push_back(out->tokens.size());
  }
}

// Writes rows [begin, end) of `out`: the training review order[row], whose
// interned tokens are in parts[0] (reviews [0, half)) or parts[1].
void EncodeInternedRows(const std::vector<Review>& reviews,
                        const InternedReviews (&parts)[2], size_t half,
                        const std::vector<int64_t>& order, int64_t begin,
                        int64_t end, Padding padding, Padding truncating,
                        EncodedSplit* out) {
  std::vector<int32_t> ids;
  for (int64_t row = begin; row < end; ++row) {
    const size_t r = static_cast<size_t>(order[row]);
    const InternedReviews& part = parts[r < half ? 0 : 1];
    const size_t local = r < half ? r : r - half;
    ids.clear();
    ids.push_back(Vocabulary::kStartId);
    for (size_t k = part.offsets[local]; k < part.offsets[local + 1]; ++k) {
      ids.push_back(part.to_id[part.tokens[k]]);
    }
    PadSequenceInto(ids.data(), ids.size(), out->max_len, padding, truncating,
                    out->ids.data() + static_cast<size_t>(row) * out->max_len);
    out->labels[row] = static_cast<float>(reviews[r].label);
  }
}

// Writes rows [begin, end) of `out`: review order[row] of `reviews`,
// tokenized and encoded with `vocabulary`.
void EncodeRows(const std::vector<Review>& reviews,
                const std::vector<int64_t>& order, int64_t begin, int64_t end,
                const Vocabulary& vocabulary, Padding padding,
                Padding truncating, EncodedSplit* out) {
  std::string buffer;
  std::vector<std::string_view> tokens;
  for (int64_t row = begin; row < end; ++row) {
    const Review& review = reviews[static_cast<size_t>(order[row])];
    vocabulary.EncodeRow(
        review.text, out->max_len, padding, truncating, &buffer, &tokens,
        out->ids.data() + static_cast<size_t>(row) * out->max_len);
    out->labels[row] = static_cast<float>(review.label);
  }
}

// Before the token ids of `rows` reviews are allocated: within the memory
// limit (tensor.h), counting the copy the model's input arrays make.
absl::Status CheckSplitMemory(int64_t rows, int max_len) {
  const double bytes = 2.0 * static_cast<double>(rows) * max_len *
                       static_cast<double>(sizeof(int32_t));
  return CheckMemory(
      bytes >= 9.2e18 ? INT64_MAX : static_cast<int64_t>(bytes),
      "the encoded data set",
      absl::StrCat(rows, " reviews of max_len ", max_len,
                   " token ids, and their copy as the model's input; lower "
                   "max_len or train_limit/test_limit"));
}

void AllocateSplit(int64_t n, int max_len, EncodedSplit* out) {
  out->n = n;
  out->max_len = max_len;
  out->ids.assign(static_cast<size_t>(n) * max_len, Vocabulary::kPadId);
  out->labels.assign(static_cast<size_t>(n), 0.0f);
}

}  // namespace

TokenizerOptions TokenizerOptionsFor(const loom::TextDatasetDef& def) {
  TokenizerOptions options;
  options.keep_punctuation = def.keep_punctuation();
  options.strip_accents = def.strip_accents();
  return options;
}

std::vector<int64_t> ShuffledOrder(int64_t n, uint64_t seed) {
  std::vector<int64_t> order(static_cast<size_t>(std::max<int64_t>(n, 0)));
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int64_t>(i);
  std::mt19937_64 rng(seed);
  for (size_t i = order.size(); i > 1; --i) {
    const uint64_t j = UniformBelow(rng, i);
    std::swap(order[i - 1], order[j]);
  }
  return order;
}

uint64_t TestShuffleSeed(uint64_t shuffle_seed) {
  // SplitMix64's finalizer over a shifted seed: far from any train seed.
  uint64_t z = shuffle_seed + 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

Padding PaddingOf(loom::TextDatasetDef::Padding value) {
  return value == loom::TextDatasetDef::POST ? Padding::kPost : Padding::kPre;
}

absl::Status ValidateTextDatasetDef(const loom::TextDatasetDef& def) {
  LOOM_RETURN_IF_ERROR(ValidateSourceSettings(def));
  if (def.num_words() <= Vocabulary::kFirstWordId) {
    return absl::InvalidArgumentError(absl::StrCat(
        "TextDatasetDef.num_words must be > 3 (ids 0, 1, 2 are reserved), got ",
        def.num_words()));
  }
  if (def.max_len() <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "TextDatasetDef.max_len must be > 0, got ", def.max_len()));
  }
  if (def.train_limit() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("TextDatasetDef.train_limit must be >= 0 (0 = all), got ",
                     def.train_limit()));
  }
  if (def.test_limit() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("TextDatasetDef.test_limit must be >= 0 (0 = all), got ",
                     def.test_limit()));
  }
  LOOM_RETURN_IF_ERROR(CheckPadding(def.padding(), "padding"));
  LOOM_RETURN_IF_ERROR(CheckPadding(def.truncating(), "truncating"));
  return absl::OkStatus();
}

absl::StatusOr<TextDataset> BuildTextDataset(const ImdbCorpus& corpus,
                                             const loom::TextDatasetDef& def) {
  LOOM_RETURN_IF_ERROR(ValidateTextDatasetDef(def));
  if (corpus.train.empty()) {
    return absl::InvalidArgumentError(
        "BuildTextDataset: the corpus has no training reviews to build the "
        "vocabulary from");
  }
  const Padding padding = PaddingOf(def.padding());
  const Padding truncating = PaddingOf(def.truncating());

  // Work is split in two halves for the machines' 2 cores.
  // 1. Tokenize and count the training reviews, each half on one thread.
  const TokenizerOptions tokenizer = TokenizerOptionsFor(def);
  const size_t half = corpus.train.size() / 2;
  InternedReviews parts[2];
  {
    std::thread second([&] {
      Intern(corpus.train.data() + half, corpus.train.size() - half, tokenizer,
             &parts[1]);
    });
    Intern(corpus.train.data(), half, tokenizer, &parts[0]);
    second.join();
  }

  // 2. The vocabulary from the merged counts (as Vocabulary::Build would).
  TextDataset dataset;
  dataset.class_names = corpus.class_names;
  {
    absl::flat_hash_map<std::string, int64_t> counts;
    counts.reserve(parts[0].index.size() + parts[1].index.size());
    for (const InternedReviews& part : parts) {
      for (const auto& [token, local] : part.index) {
        counts[token] += part.counts[local];
      }
    }
    LOOM_ASSIGN_OR_RETURN(
        Vocabulary vocabulary,
        Vocabulary::FromCounts(counts, def.num_words(), tokenizer));
    dataset.vocabulary = std::move(vocabulary);
  }
  for (InternedReviews& part : parts) {
    part.to_id.resize(part.counts.size());
    for (const auto& [token, local] : part.index) {
      part.to_id[local] = dataset.vocabulary.Id(token);
    }
  }

  // 3. Shuffle, limit, encode and pad. Training rows only need a table
  // lookup per token; test rows are tokenized (with the vocabulary's, i.e.
  // def's, punctuation setting), half on each thread.
  const uint64_t seed = static_cast<uint64_t>(def.shuffle_seed());
  const auto limited = [](int64_t size, int32_t limit) {
    return limit > 0 ? std::min<int64_t>(size, limit) : size;
  };
  const int64_t train_n =
      limited(static_cast<int64_t>(corpus.train.size()), def.train_limit());
  const int64_t test_n =
      limited(static_cast<int64_t>(corpus.test.size()), def.test_limit());
  const std::vector<int64_t> train_order =
      ShuffledOrder(static_cast<int64_t>(corpus.train.size()), seed);
  const std::vector<int64_t> test_order = ShuffledOrder(
      static_cast<int64_t>(corpus.test.size()), TestShuffleSeed(seed));
  LOOM_RETURN_IF_ERROR(CheckSplitMemory(train_n + test_n, def.max_len()));
  AllocateSplit(train_n, def.max_len(), &dataset.train);
  AllocateSplit(test_n, def.max_len(), &dataset.test);
  const int64_t test_split = test_n / 2;
  std::thread second([&] {
    EncodeRows(corpus.test, test_order, test_split, test_n, dataset.vocabulary,
               padding, truncating, &dataset.test);
  });
  EncodeInternedRows(corpus.train, parts, half, train_order, 0, train_n,
                     padding, truncating, &dataset.train);
  EncodeRows(corpus.test, test_order, 0, test_split, dataset.vocabulary,
             padding, truncating, &dataset.test);
  second.join();
  if (!def.group_by().empty()) {
    dataset.train.groups = GroupIds(corpus.train, train_order, train_n);
  }
  return dataset;
}

absl::StatusOr<EncodedSplit> EncodeTestSplit(const ImdbCorpus& corpus,
                                             const Vocabulary& vocabulary,
                                             const loom::TextDatasetDef& def) {
  LOOM_RETURN_IF_ERROR(ValidateTextDatasetDef(def));
  if (vocabulary.keep_punctuation() != def.keep_punctuation()) {
    const bool keep = vocabulary.keep_punctuation();
    return absl::InvalidArgumentError(absl::StrCat(
        "EncodeTestSplit: TextDatasetDef.keep_punctuation is ",
        keep ? "false" : "true", " but the vocabulary ",
        keep ? "keeps punctuation (v1 vocabulary files always do)"
             : "drops punctuation",
        "; the model was trained with the vocabulary's setting, so set "
        "keep_punctuation: ",
        keep ? "true" : "false", " in the dataset definition"));
  }
  if (vocabulary.tokenizer_options().unicode &&
      vocabulary.tokenizer_options().strip_accents != def.strip_accents()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "EncodeTestSplit: TextDatasetDef.strip_accents is ",
        def.strip_accents() ? "true" : "false", " but the vocabulary ",
        def.strip_accents() ? "keeps" : "strips",
        " accents; the model was trained with the vocabulary's setting"));
  }
  const Padding padding = PaddingOf(def.padding());
  const Padding truncating = PaddingOf(def.truncating());
  const int64_t size = static_cast<int64_t>(corpus.test.size());
  const int64_t n =
      def.test_limit() > 0 ? std::min<int64_t>(size, def.test_limit()) : size;
  const std::vector<int64_t> order = ShuffledOrder(
      size, TestShuffleSeed(static_cast<uint64_t>(def.shuffle_seed())));
  LOOM_RETURN_IF_ERROR(CheckSplitMemory(n, def.max_len()));
  EncodedSplit split;
  AllocateSplit(n, def.max_len(), &split);
  EncodeRows(corpus.test, order, 0, n, vocabulary, padding, truncating, &split);
  return split;
}

absl::StatusOr<TextDataset> LoadTextDataset(const std::string& path,
                                            const loom::TextDatasetDef& def) {
  LOOM_RETURN_IF_ERROR(ValidateTextDatasetDef(def));
  loom::TextDatasetDef with_source = def;
  if (!path.empty()) with_source.set_source(path);
  LOOM_ASSIGN_OR_RETURN(Corpus corpus, LoadCorpus(with_source));
  LOOM_ASSIGN_OR_RETURN(TextDataset dataset, BuildTextDataset(corpus, def));
  dataset.notes = std::move(corpus.notes);
  return dataset;
}

std::string DefaultDataPath() {
  std::vector<std::string> candidates;
  if (const char* dir = std::getenv("LOOM_DATA_DIR"); dir != nullptr) {
    candidates.emplace_back(dir);
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && *home) {
    const std::string cache = absl::StrCat(home, "/.cache/loom/");
    candidates.push_back(cache + "aclImdb");
    candidates.push_back(cache + "aclImdb_v1.tar.gz");
    candidates.push_back(cache + "aclImdb_v1_labeled.tar.gz");
  }
  for (const std::string& candidate : candidates) {
    if (Exists(candidate)) return candidate;
  }
  return "";
}

}  // namespace loom::data
