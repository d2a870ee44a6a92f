// IMDb's official layout, aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt,
// as an archive or a folder (framework/data/imdb.h reads both). Labels are
// "negative" and "positive", or with ReadOptions::imdb_rating_labels the
// rating of the file name ("1".."4", "7".."10"). Records come in ReadImdb's
// canonical order: train before test, negative before positive, by id.
#include <sys/stat.h>

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "framework/data/imdb.h"
#include "framework/data/readers/reader.h"
#include "framework/status_macros.h"

namespace loom::data {
namespace {

bool IsDirectory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

class ImdbFormat : public TextFormat {
 public:
  std::string_view name() const override { return "imdb"; }

  int Detect(const PathInfo& info) const override {
    if (info.is_directory) {
      const std::string& p = info.path;
      if (IsDirectory(p + "/aclImdb") ||
          (IsDirectory(p + "/train/pos") && IsDirectory(p + "/train/neg"))) {
        return 3;
      }
      return 0;
    }
    const std::string& p = info.path;
    const bool tar_name = absl::EndsWith(p, ".tar.gz") ||
                          absl::EndsWith(p, ".tgz") ||
                          absl::EndsWith(p, ".tar");
    // gzip's magic number, or "ustar" at offset 257 of a plain tar.
    const bool gzip = info.head.size() >= 2 && info.head[0] == '\x1f' &&
                      info.head[1] == '\x8b';
    const bool tar =
        info.head.size() >= 262 && info.head.compare(257, 5, "ustar") == 0;
    if (tar_name) return 2;
    return gzip || tar ? 1 : 0;
  }

  absl::Status Read(const std::string& path, const ReadOptions& options,
                    const RecordSink& sink, ReadStats* stats) const override {
    const bool grouped = !options.group_column.empty();
    if (grouped && options.group_column != "movie") {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": group_by '", options.group_column,
          "': IMDb's reviews can be grouped by \"movie\" only (from the "
          "archive's urls_*.txt)"));
    }
    LOOM_ASSIGN_OR_RETURN(ImdbCorpus corpus, ReadImdb(path));
    if (grouped) {
      // Validation is taken from train/, so its movies are needed.
      for (const Review& review : corpus.train) {
        if (!review.group.empty()) continue;
        const char* label = review.label == 1 ? "pos" : "neg";
        return absl::InvalidArgumentError(absl::StrCat(
            path,
            ": group_by \"movie\" needs the movie of every training "
            "review, and train/urls_",
            label, ".txt ", "has no line ", review.id + 1, " for review ",
            review.id, "_", review.rating,
            ".txt (or is missing: the labeled archive has no "
            "urls_*.txt; the official aclImdb_v1.tar.gz has them)"));
      }
    }
    for (int s = 0; s < 2; ++s) {
      std::vector<Review>& reviews = s == 0 ? corpus.train : corpus.test;
      const char* split = s == 0 ? "train" : "test";
      for (Review& review : reviews) {
        Record record;
        record.split = s == 0 ? SplitTag::kTrain : SplitTag::kTest;
        record.where = absl::StrCat(path, ": ", split, "/",
                                    review.label == 1 ? "pos" : "neg", "/",
                                    review.id, "_", review.rating, ".txt");
        record.text = std::move(review.text);
        record.label = options.imdb_rating_labels
                           ? std::to_string(review.rating)
                           : (review.label == 1 ? "positive" : "negative");
        record.has_label = true;
        if (grouped) record.group = std::move(review.group);
        bool replaced = false;
        LOOM_RETURN_IF_ERROR(CheckUtf8(&record.text, options.replace_bad_text,
                                       record.where, &replaced));
        stats->replaced_text += replaced ? 1 : 0;
        ++stats->records;
        LOOM_RETURN_IF_ERROR(sink(record));
      }
    }
    return absl::OkStatus();
  }
};

LOOM_REGISTER_TEXT_FORMAT(ImdbFormat);

}  // namespace
}  // namespace loom::data
