// Reader for the Large Movie Review Dataset v1.0 (IMDb, Maas et al. 2011) in
// its official layout aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt,
// either as a .tar.gz archive (read in memory, never unpacked) or as a folder.
#ifndef LOOM_FRAMEWORK_DATA_IMDB_H_
#define LOOM_FRAMEWORK_DATA_IMDB_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "framework/data/corpus.h"

namespace loom::data {

// IMDb's canonical order (Corpus): each split negative reviews before
// positive ones, each group by increasing id; class_names {"negative",
// "positive"}.
using ImdbCorpus = Corpus;

// Reads the labeled IMDb reviews from `path`, which is either
// - an archive in any format/compression libarchive reads (e.g. the official
//   aclImdb_v1.tar.gz), whose entries are aclImdb/<split>/<label>/<file>
//   (entries rooted directly at <split>/ are accepted too), or
// - a folder that is aclImdb/ itself or the folder holding it.
// Where the official archive's {train,test}/urls_{pos,neg}.txt are present,
// each review's Review::group is its movie: line <id> + 1 of the file, the
// movie's IMDb page ("" where the file has no such line; the labeled
// archive in ../shared/data has no urls_*.txt at all). Everything else
// outside {train,test}/{pos,neg}/ (train/unsup, imdb.vocab, README, *.feat)
// is ignored, as are hidden files (".*"). Archive and folder of the same
// data give identical corpora.
//
// Errors name the path: missing path, unreadable/corrupt/truncated archive
// (with libarchive's message), a split or label folder missing or empty, a
// review file whose name is not <id>_<rating>.txt, a repeated id.
absl::StatusOr<ImdbCorpus> ReadImdb(const std::string& path);

// The two forms ReadImdb dispatches to.
absl::StatusOr<ImdbCorpus> ReadImdbArchive(const std::string& archive_path);
absl::StatusOr<ImdbCorpus> ReadImdbFolder(const std::string& folder);

}  // namespace loom::data

#endif  // LOOM_FRAMEWORK_DATA_IMDB_H_
