// Compares the Unicode tokenizer with the legacy ASCII one on a corpus
// (default: the data cache's IMDb): how many reviews and tokens differ, how
// many of the 10,000 most frequent words the two vocabularies share, and
// how many training tokens each maps out of vocabulary.
//   bazel run -c opt //tests/data:tokenizer_compare -- [--data=PATH]
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "framework/data/corpus.h"
#include "framework/data/dataset.h"
#include "framework/data/text.h"

ABSL_FLAG(std::string, data, "", "Corpus (default: the data cache's IMDb).");
ABSL_FLAG(int, num_words, 10000, "Vocabulary size.");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  loom::TextDatasetDef def;
  def.set_source(absl::GetFlag(FLAGS_data).empty()
                     ? loom::data::DefaultDataPath()
                     : absl::GetFlag(FLAGS_data));
  auto corpus = loom::data::LoadCorpus(def);
  if (!corpus.ok()) {
    std::fprintf(stderr, "%s\n",
                 std::string(corpus.status().message()).c_str());
    return 1;
  }
  loom::data::TokenizerOptions unicode, legacy;
  legacy.unicode = false;
  int64_t reviews = 0, reviews_differ = 0, tokens_unicode = 0,
          tokens_legacy = 0, positions_differ = 0;
  std::vector<std::string_view> train_texts;
  for (const auto* part : {&corpus->train, &corpus->test}) {
    for (const loom::data::Review& r : *part) {
      if (part == &corpus->train) train_texts.push_back(r.text);
      const auto a = loom::data::Tokenize(r.text, unicode);
      const auto b = loom::data::Tokenize(r.text, legacy);
      ++reviews;
      tokens_unicode += a.size();
      tokens_legacy += b.size();
      if (a != b) {
        ++reviews_differ;
        for (size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
          if (i >= a.size() || i >= b.size() || a[i] != b[i])
            ++positions_differ;
        }
      }
    }
  }
  const int n = absl::GetFlag(FLAGS_num_words);
  auto vu = loom::data::Vocabulary::Build(train_texts, n, unicode);
  auto vl = loom::data::Vocabulary::Build(train_texts, n, legacy);
  if (!vu.ok() || !vl.ok()) return 1;
  int shared = 0;
  for (int id = loom::data::Vocabulary::kFirstWordId; id < n; ++id) {
    if (vl->Id(vu->Word(id)) != loom::data::Vocabulary::kOovId) ++shared;
  }
  int64_t oov_u = 0, oov_l = 0, total_u = 0, total_l = 0;
  for (std::string_view text : train_texts) {
    for (int32_t id : vu->Encode(text)) {
      ++total_u;
      oov_u += id == loom::data::Vocabulary::kOovId;
    }
    for (int32_t id : vl->Encode(text)) {
      ++total_l;
      oov_l += id == loom::data::Vocabulary::kOovId;
    }
  }
  std::printf(
      "reviews %lld, with different tokens %lld (%.2f%%)\n"
      "tokens: unicode %lld, legacy %lld; positions differing %lld\n"
      "vocabularies of %d: %d words shared\n"
      "training tokens out of vocabulary: unicode %.3f%%, legacy %.3f%%\n",
      (long long)reviews, (long long)reviews_differ,
      100.0 * reviews_differ / reviews, (long long)tokens_unicode,
      (long long)tokens_legacy, (long long)positions_differ, n - 3, shared,
      100.0 * oov_u / total_u, 100.0 * oov_l / total_l);
  return 0;
}
