#include "framework/data/dataset.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <random>
#include <string_view>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace loom::data {
namespace {

// Uniform in [0, bound) for bound >= 1, by rejection, so that the result only
// depends on the engine's (standardized) output sequence.
uint64_t UniformBelow(std::mt19937_64& rng, uint64_t bound) {
  const uint64_t threshold = (0 - bound) % bound;  // 2^64 mod bound.
  while (true) {
    const uint64_t r = rng();
    if (r >= threshold) return r % bound;
  }
}

absl::StatusOr<Padding> ToPadding(loom::TextDatasetDef::Padding value,
                                  absl::string_view field) {
  switch (value) {
    case loom::TextDatasetDef::PRE:
      return Padding::kPre;
    case loom::TextDatasetDef::POST:
      return Padding::kPost;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("TextDatasetDef.", field, ": unknown value ",
                       static_cast<int>(value), " (expected PRE or POST)"));
  }
}

bool Exists(const std::string& path) {
  struct stat st;
  return !path.empty() && ::stat(path.c_str(), &st) == 0;
}

// Encodes the reviews of `split` at `order[0..n)` into `out`.
void EncodeSplit(const std::vector<Review>& split,
                 const std::vector<int64_t>& order, int64_t n,
                 const Vocabulary& vocabulary, int max_len, Padding padding,
                 Padding truncating, EncodedSplit* out) {
  out->n = n;
  out->max_len = max_len;
  out->ids.assign(static_cast<size_t>(n) * max_len, Vocabulary::kPadId);
  out->labels.resize(static_cast<size_t>(n));
  std::string buffer;
  std::vector<std::string_view> tokens;
  std::vector<int32_t> ids;
  for (int64_t i = 0; i < n; ++i) {
    const Review& review = split[static_cast<size_t>(order[i])];
    ids.clear();
    vocabulary.EncodeTo(review.text, &buffer, &tokens, &ids);
    PadSequenceInto(ids.data(), ids.size(), max_len, padding, truncating,
                    out->ids.data() + static_cast<size_t>(i) * max_len);
    out->labels[i] = review.label == 1 ? 1.0f : 0.0f;
  }
}

}  // namespace

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

absl::Status ValidateTextDatasetDef(const loom::TextDatasetDef& def) {
  if (!def.name().empty() && def.name() != "imdb") {
    return absl::InvalidArgumentError(absl::StrCat(
        "TextDatasetDef.name: unknown dataset \"", def.name(),
        "\" (only \"imdb\" is supported)"));
  }
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
    return absl::InvalidArgumentError(absl::StrCat(
        "TextDatasetDef.train_limit must be >= 0 (0 = all), got ",
        def.train_limit()));
  }
  if (def.test_limit() < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "TextDatasetDef.test_limit must be >= 0 (0 = all), got ",
        def.test_limit()));
  }
  absl::StatusOr<Padding> padding = ToPadding(def.padding(), "padding");
  if (!padding.ok()) return padding.status();
  absl::StatusOr<Padding> truncating =
      ToPadding(def.truncating(), "truncating");
  if (!truncating.ok()) return truncating.status();
  return absl::OkStatus();
}

absl::StatusOr<TextDataset> BuildTextDataset(const ImdbCorpus& corpus,
                                             const loom::TextDatasetDef& def) {
  absl::Status valid = ValidateTextDatasetDef(def);
  if (!valid.ok()) return valid;
  if (corpus.train.empty()) {
    return absl::InvalidArgumentError(
        "BuildTextDataset: the corpus has no training reviews to build the "
        "vocabulary from");
  }
  const Padding padding = *ToPadding(def.padding(), "padding");
  const Padding truncating = *ToPadding(def.truncating(), "truncating");

  TextDataset dataset;
  {
    std::vector<std::string_view> texts;
    texts.reserve(corpus.train.size());
    for (const Review& review : corpus.train) texts.push_back(review.text);
    absl::StatusOr<Vocabulary> vocabulary =
        Vocabulary::Build(texts, def.num_words());
    if (!vocabulary.ok()) return vocabulary.status();
    dataset.vocabulary = *std::move(vocabulary);
  }

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

  // The two splits are independent: encode them on the two cores.
  std::thread test_thread([&] {
    EncodeSplit(corpus.test, test_order, test_n, dataset.vocabulary,
                def.max_len(), padding, truncating, &dataset.test);
  });
  EncodeSplit(corpus.train, train_order, train_n, dataset.vocabulary,
              def.max_len(), padding, truncating, &dataset.train);
  test_thread.join();
  return dataset;
}

absl::StatusOr<TextDataset> LoadTextDataset(const std::string& path,
                                            const loom::TextDatasetDef& def) {
  absl::Status valid = ValidateTextDatasetDef(def);
  if (!valid.ok()) return valid;
  absl::StatusOr<ImdbCorpus> corpus = ReadImdb(path);
  if (!corpus.ok()) return corpus.status();
  return BuildTextDataset(*corpus, def);
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
