// A folder with one subfolder per class of .txt files, as Keras'
// text_dataset_from_directory reads it:
//   reviews/negative/a.txt, reviews/positive/b.txt, ...
// or split in two: reviews/{train,test}/<class>/*.txt. The class is the
// subfolder's name. Files are read in sorted order of class, then name;
// hidden entries and files not ending in .txt are ignored, as Keras does.
// Anything that is not a regular file (a FIFO, a device) and symlinks that
// lead out of the folder are bad rows: refused, or skipped and counted.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "framework/data/readers/reader.h"
#include "framework/file_util.h"
#include "framework/status_macros.h"

namespace loom::data {
namespace {

bool IsDirectory(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// The visible entries of `dir`, sorted.
std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return names;
  while (struct dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') names.emplace_back(e->d_name);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

std::string RealPath(const std::string& path) {
  char buf[PATH_MAX];
  return ::realpath(path.c_str(), buf) == nullptr ? "" : std::string(buf);
}

class FolderFormat : public TextFormat {
 public:
  std::string_view name() const override { return "folder"; }

  int Detect(const PathInfo& info) const override {
    return info.is_directory ? 1 : 0;
  }

  absl::Status Read(const std::string& path, const ReadOptions& options,
                    const RecordSink& sink, ReadStats* stats) const override {
    if (!options.group_column.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": group_by '", options.group_column,
          "': a folder of class subfolders has no columns to group by; put "
          "the examples in a CSV, TSV or JSON Lines file with a group column"));
    }
    std::string root = path;
    while (root.size() > 1 && root.back() == '/') root.pop_back();
    const std::string real_root = RealPath(root);
    if (IsDirectory(root + "/train")) {
      LOOM_RETURN_IF_ERROR(ReadClasses(root + "/train", real_root,
                                       SplitTag::kTrain, options, sink, stats));
      if (!IsDirectory(root + "/test")) return absl::OkStatus();
      return ReadClasses(root + "/test", real_root, SplitTag::kTest, options,
                         sink, stats);
    }
    return ReadClasses(root, real_root, SplitTag::kNone, options, sink, stats);
  }

 private:
  absl::Status ReadClasses(const std::string& dir, const std::string& real_root,
                           SplitTag split, const ReadOptions& options,
                           const RecordSink& sink, ReadStats* stats) const {
    int classes = 0;
    int64_t files = 0;
    for (const std::string& label : ListDir(dir)) {
      const std::string class_dir = absl::StrCat(dir, "/", label);
      if (!IsDirectory(class_dir)) continue;  // Files beside the classes.
      ++classes;
      for (const std::string& file : ListDir(class_dir)) {
        if (!absl::EndsWith(file, ".txt")) continue;
        const std::string file_path = absl::StrCat(class_dir, "/", file);
        struct stat st;
        if (::lstat(file_path.c_str(), &st) != 0) continue;
        if (S_ISLNK(st.st_mode)) {
          const std::string target = RealPath(file_path);
          if (target.empty() || !absl::StartsWith(target, real_root + "/")) {
            LOOM_RETURN_IF_ERROR(BadRow(options, file_path,
                                        "a symlink that leads out of the data "
                                        "folder",
                                        stats));
            continue;
          }
          if (::stat(file_path.c_str(), &st) != 0) continue;
        }
        if (!S_ISREG(st.st_mode)) {
          LOOM_RETURN_IF_ERROR(
              BadRow(options, file_path, "not a regular file", stats));
          continue;
        }
        if (st.st_size > kMaxRecordBytes) {
          LOOM_RETURN_IF_ERROR(
              BadRow(options, file_path, "a review file over 64 MiB", stats));
          continue;
        }
        Record record;
        record.where = file_path;
        record.split = split;
        record.label = label;
        record.has_label = true;
        LOOM_ASSIGN_OR_RETURN(std::string text, ReadFile(file_path));
        record.text = std::move(text);
        bool replaced = false;
        LOOM_RETURN_IF_ERROR(CheckUtf8(&record.text, options.replace_bad_text,
                                       file_path, &replaced));
        stats->replaced_text += replaced ? 1 : 0;
        ++files;
        ++stats->records;
        LOOM_RETURN_IF_ERROR(sink(record));
      }
    }
    if (classes == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "data folder ", dir,
          " has no class subfolders (expected <folder>/<class>/*.txt)"));
    }
    if (files == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "data folder ", dir, " has class subfolders but no .txt files"));
    }
    return absl::OkStatus();
  }
};

LOOM_REGISTER_TEXT_FORMAT(FolderFormat);

}  // namespace
}  // namespace loom::data
