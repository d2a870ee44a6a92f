// Labeled texts in memory, split into training and test examples, with the
// class names their labels index; and LoadCorpus, which makes one from any
// source a data reader (framework/data/readers/) reads, as a
// TextDatasetDef describes it.
#ifndef LOOM_FRAMEWORK_DATA_CORPUS_H_
#define LOOM_FRAMEWORK_DATA_CORPUS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "framework/proto/model.pb.h"

namespace loom::data {

struct Review {
  std::string text;  // UTF-8 text (IMDb: the file's bytes, unchanged).
  int label = 0;     // Index into Corpus::class_names (IMDb: 1 positive).
  int id = 0;        // IMDb: <id> of the file name; else the record's index.
  int rating = 0;    // IMDb: <rating> of the file name, 1..10; else 0.
  // Its group (TextDatasetDef.group_by): IMDb's movie, a CSV's group
  // column; "" when none (then it is a group of its own).
  std::string group;
};

struct Corpus {
  std::vector<Review> train;
  std::vector<Review> test;
  std::vector<std::string> class_names;  // Label i is class_names[i].
  // What the user should know about how it was made: rows skipped, the
  // test split held out. One sentence each.
  std::vector<std::string> notes;
};

// Reads def.source (a path; "" is an error, the caller resolves defaults)
// with def.format (or the format detected), and def.test_source if set, as
// the dataset definition says:
// - labels become class indices: def.class_name in its order if set (a
//   label outside it is a bad row), else the training labels sorted
//   (numerically if all are integers);
// - test examples are the source's own test part (IMDb's test/, a folder's
//   test/), else def.test_source's, else a stratified, seeded
//   (def.shuffle_seed) def.test_split (default 0.2) of the training
//   examples, taken from each class in proportion;
// - empty texts are bad rows (def.on_bad_rows).
// Errors name the file and line: fewer than two classes, a class with no
// training examples, a test label the training data does not have, and
// everything the readers refuse.
absl::StatusOr<Corpus> LoadCorpus(const loom::TextDatasetDef& def);

// def's read settings, checked: on_bad_rows ("", "stop", "skip"),
// on_bad_text ("", "error", "replace"), label_source ("", "sentiment",
// "rating"), test_split in [0, 1).
absl::Status ValidateSourceSettings(const loom::TextDatasetDef& def);

// Dense group ids (Review::group) of reviews[order[0]] .. reviews[order[n-1]]
// (all of them, in order, when `order` is empty): equal ids for equal
// groups, numbered by first appearance; an empty group is a group of its own.
std::vector<int64_t> GroupIds(const std::vector<Review>& reviews,
                              const std::vector<int64_t>& order, int64_t n);

// Sorts labels as LoadCorpus does when the model lists no classes:
// numerically if every label is an integer, else by their bytes.
void SortClassNames(std::vector<std::string>* names);

}  // namespace loom::data

#endif  // LOOM_FRAMEWORK_DATA_CORPUS_H_
