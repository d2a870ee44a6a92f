// Test helper: a small, seeded, IMDb-shaped corpus written in the official
// aclImdb layout, as a folder and as a .tar.gz, for tests that must not
// depend on the real data set.
//
// Reviews come from a template grammar whose label depends on negation:
// positive reviews say "good"/"great" or "not bad", negative ones "bad",
// "not good" or "not great", mixed with sentiment-free filler sentences, so
// a model must look at word order ("not" + word) to separate them.
#ifndef LOOM_TESTS_DATA_SYNTHETIC_CORPUS_H_
#define LOOM_TESTS_DATA_SYNTHETIC_CORPUS_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "framework/data/imdb.h"

namespace loom::data {

struct SyntheticCorpusOptions {
  int train_per_label = 50;  // Reviews in each of train/pos and train/neg.
  int test_per_label = 25;   // Reviews in each of test/pos and test/neg.
  uint64_t seed = 1;
  // Each review has a number of words in [min_words, max_words] (roughly:
  // the last sentence may end a few words later), counting punctuation.
  int min_words = 20;
  int max_words = 60;
  // Also write what the official archive has besides the labeled reviews
  // (README, imdb.vocab, imdbEr.txt, */labeledBow.feat, */urls_*.txt and a
  // train/unsup/ folder), which readers ignore; urls_{pos,neg}.txt give
  // each review's movie (Review::group), read for group_by "movie".
  bool write_extras = true;
  // Consecutive ids of a folder share a movie, this many to a movie; the
  // same movie numbers in pos/ and neg/ (a movie has reviews of both
  // kinds), other movies in test/ than in train/. 0: no movies (the
  // urls_*.txt extras then hold one line each).
  int reviews_per_movie = 3;
};

// The corpus WriteSyntheticImdb writes, in ReadImdb's canonical order (neg
// before pos, then by id). Ids are 0..n-1 per folder; ratings 1..4 for
// negative and 7..10 for positive reviews.
ImdbCorpus MakeSyntheticCorpus(const SyntheticCorpusOptions& options);

// Writes `corpus` as dir/aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt
// (creating folders as needed), plus the extras if `write_extras`.
absl::Status WriteImdbFolder(const ImdbCorpus& corpus, const std::string& dir,
                             bool write_extras);

// MakeSyntheticCorpus + WriteImdbFolder: creates dir/aclImdb/...
absl::Status WriteSyntheticImdb(const std::string& dir,
                                const SyntheticCorpusOptions& options);

// Writes everything under `folder` (entries named relative to it, e.g.
// "aclImdb/train/pos/0_9.txt", in sorted order with a fixed mtime, so the
// output is reproducible) to a gzip-compressed pax tar archive at
// `archive_path`, with libarchive.
absl::Status WriteArchive(const std::string& folder,
                          const std::string& archive_path);

// "" if `a` and `b` hold the same reviews in the same order, else a short
// description of the first difference (for test failure messages). Groups
// are compared where both reviews have one (a copy without urls_*.txt has
// none).
std::string CorpusDifference(const ImdbCorpus& a, const ImdbCorpus& b);

// Writes `content` to `path` (for tests that need odd files).
absl::Status WriteTextFile(const std::string& path, const std::string& content);

}  // namespace loom::data

#endif  // LOOM_TESTS_DATA_SYNTHETIC_CORPUS_H_
