// Turns a labeled corpus (IMDb, or any source framework/data/readers/ reads)
// into the padded id arrays the training driver feeds
// to a model, as described by a loom::TextDatasetDef.
#ifndef LOOM_FRAMEWORK_DATA_DATASET_H_
#define LOOM_FRAMEWORK_DATA_DATASET_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "framework/data/corpus.h"
#include "framework/data/imdb.h"
#include "framework/data/text.h"
#include "framework/proto/model.pb.h"

namespace loom::data {

struct EncodedSplit {
  std::vector<int32_t> ids;   // Row-major [n, max_len], padded with 0.
  std::vector<float> labels;  // [n], the class index (IMDb: 1 positive).
  int64_t n = 0;
  int max_len = 0;
  // [n] when the dataset has group_by (training rows only): equal values
  // mark rows of one group (ids in order of first appearance); else empty.
  std::vector<int64_t> groups;
};

struct TextDataset {
  EncodedSplit train;
  EncodedSplit test;
  Vocabulary vocabulary;
  std::vector<std::string> class_names;  // Label i is class_names[i].
  std::vector<std::string> notes;        // From LoadCorpus.
};

// Checks `def`: its source settings (ValidateSourceSettings), num_words > 3,
// max_len > 0, limits >= 0, known padding/truncating values.
absl::Status ValidateTextDatasetDef(const loom::TextDatasetDef& def);

// A TextDatasetDef's padding or truncating as the Padding PadSequenceInto
// and Vocabulary::EncodeRow take: POST is kPost, anything else kPre
// (ValidateTextDatasetDef refuses values other than PRE and POST).
Padding PaddingOf(loom::TextDatasetDef::Padding value);

// Builds the dataset:
// 1. the vocabulary (def.num_words, def.keep_punctuation) from ALL training
//    reviews, never test; every review is tokenized with
//    def.keep_punctuation (Tokenize);
// 2. a seeded shuffle of each split (ShuffledOrder with def.shuffle_seed for
//    train, TestShuffleSeed(def.shuffle_seed) for test);
// 3. the first def.train_limit / def.test_limit reviews of the shuffled
//    splits (0 = all; a limit above the split's size takes all);
// 4. encoding ([1] + ids, Vocabulary::Encode) and padding/truncation to
//    def.max_len (Keras pad_sequences with def.padding / def.truncating).
// No validation split is taken here: the training driver holds out the last
// fraction of `train`, as Keras' validation_split does.
absl::StatusOr<TextDataset> BuildTextDataset(const ImdbCorpus& corpus,
                                             const loom::TextDatasetDef& def);

// The test split exactly as BuildTextDataset makes it (same shuffle, limit,
// tokenization and padding), encoded with a given vocabulary: a saved
// model's. Fails with InvalidArgument if vocabulary.keep_punctuation() is not
// def.keep_punctuation(), since the ids would not match the training data.
absl::StatusOr<EncodedSplit> EncodeTestSplit(const ImdbCorpus& corpus,
                                             const Vocabulary& vocabulary,
                                             const loom::TextDatasetDef& def);

// LoadCorpus (def with its source set to `path`, unless `path` is "") then
// BuildTextDataset; the dataset gets the corpus' class names and notes.
absl::StatusOr<TextDataset> LoadTextDataset(const std::string& path,
                                            const loom::TextDatasetDef& def);

// The first that exists of: $LOOM_DATA_DIR, ~/.cache/loom/aclImdb,
// ~/.cache/loom/aclImdb_v1.tar.gz, ~/.cache/loom/aclImdb_v1_labeled.tar.gz;
// "" if none does.
std::string DefaultDataPath();

// The tokenizer settings of `def` (keep_punctuation, strip_accents; the
// Unicode tokenizer).
TokenizerOptions TokenizerOptionsFor(const loom::TextDatasetDef& def);

// A permutation of 0..n-1: Fisher-Yates driven by std::mt19937_64(seed) with
// unbiased rejection sampling, so it is the same with every standard library.
std::vector<int64_t> ShuffledOrder(int64_t n, uint64_t seed);

// The seed the test split is shuffled with, derived from shuffle_seed.
uint64_t TestShuffleSeed(uint64_t shuffle_seed);

}  // namespace loom::data

#endif  // LOOM_FRAMEWORK_DATA_DATASET_H_
