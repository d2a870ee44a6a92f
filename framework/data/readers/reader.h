// Data readers: one registered unit per input format (CSV, TSV, JSON Lines,
// a folder of class subfolders, IMDb's layout), each turning a file, folder
// or archive into a stream of labeled text records. A new format is one
// file in this folder that defines a TextFormat and registers it with
// LOOM_REGISTER_TEXT_FORMAT.
//
// Every reader reports bad input as an error naming the file and the line
// (or record) and, where it applies, the column: a missing column, an
// unterminated quote, text that is not UTF-8, an empty file. With
// ReadOptions::skip_bad_rows a bad row is counted and skipped instead
// (ReadStats says how many and why); nothing is dropped silently.
#ifndef LOOM_FRAMEWORK_DATA_READERS_READER_H_
#define LOOM_FRAMEWORK_DATA_READERS_READER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace loom::data {

// Where a record belongs when the source says so (IMDb's train/ and test/).
enum class SplitTag { kNone, kTrain, kTest };

struct Record {
  std::string text;   // Valid UTF-8 (see ReadOptions::replace_bad_text).
  std::string label;  // As written in the source; "" when there is none.
  bool has_label = false;
  // The value of ReadOptions::group_column ("" when none is read or the
  // field is empty).
  std::string group;
  SplitTag split = SplitTag::kNone;
  // Where it came from, for messages: "reviews.csv:14" (file and first
  // line of the record) or a file path inside a folder or archive.
  std::string where;
  int64_t line = 0;  // First line of the record in its file; 0 if none.
  // The record as it was, for writing it back with scores appended:
  // CSV/TSV: every field of the row (header in ReadStats::header);
  // JSON Lines: the line's JSON text. Empty for folders and archives.
  std::vector<std::string> fields;
  std::string json;
};

struct ReadOptions {
  std::string text_column = "text";    // CSV/TSV column, JSON key.
  std::string label_column = "label";  // CSV/TSV column, JSON key.
  // CSV/TSV column or JSON key of each record's group (TextDatasetDef's
  // group_by); "" reads none. IMDb takes "movie" only (urls_*.txt); a
  // folder of class subfolders has no groups.
  std::string group_column;
  // Whether a record must have a label: true for training and evaluation,
  // false for scoring (a label column is then optional).
  bool require_label = true;
  bool skip_bad_rows = false;     // Else the first bad row is an error.
  bool replace_bad_text = false;  // Else text that is not UTF-8 is an error.
  // IMDb: the label is the sentiment ("negative", "positive") or, when
  // true, the rating of the file name ("1".."10").
  bool imdb_rating_labels = false;
};

struct ReadStats {
  int64_t records = 0;  // Records delivered.
  int64_t skipped = 0;  // Bad rows skipped (skip_bad_rows).
  // Why rows were skipped: reason -> count, and the first place each
  // reason was seen.
  std::map<std::string, int64_t> skipped_by_reason;
  std::map<std::string, std::string> first_skipped_at;
  int64_t replaced_text = 0;  // Records whose text had bad UTF-8 replaced.
  std::vector<std::string> header;  // CSV/TSV: the header row.
  std::string format;               // The reader that ran.

  // "skipped 3 bad rows (2 missing column 'label', first at a.csv:4; ...)",
  // or "" if none were.
  std::string Summary() const;
};

// Receives each record; a non-OK status stops the reader and is returned.
using RecordSink = std::function<absl::Status(Record&)>;

// What a reader knows about a path before reading it.
struct PathInfo {
  std::string path;
  bool is_directory = false;
  std::string extension;  // Lowercased, with the dot: ".csv", ".gz"; "".
  std::string head;       // The first bytes of a regular file (up to 4 KiB).
};

class TextFormat {
 public:
  virtual ~TextFormat() = default;
  // The name --data_format and TextDatasetDef.format use: "csv".
  virtual std::string_view name() const = 0;
  // How well `info` looks like this format: 0 not at all, 1 by content
  // only, 2 by extension, 3 certainly (say IMDb's folder layout).
  virtual int Detect(const PathInfo& info) const = 0;
  virtual absl::Status Read(const std::string& path, const ReadOptions& options,
                            const RecordSink& sink, ReadStats* stats) const = 0;
};

// Registers a format under its name (once, at static initialization).
bool RegisterTextFormat(std::unique_ptr<TextFormat> format);
#define LOOM_REGISTER_TEXT_FORMAT(Class)                                   \
  static const bool loom_text_format_registered_##Class [[maybe_unused]] = \
      ::loom::data::RegisterTextFormat(std::make_unique<Class>())

// The registered format names, sorted.
std::vector<std::string> TextFormatNames();

// The format named `format`, or, if `format` is "", the one that detects
// `path` best. Errors: a path that does not exist or is neither a regular
// file nor a folder (a FIFO, a device), an empty file, an unknown format
// name (listing the known ones), or a path no format recognizes.
absl::StatusOr<const TextFormat*> FindTextFormat(const std::string& path,
                                                 const std::string& format);

// FindTextFormat, then reads every record of `path` into `sink`.
absl::Status ReadRecords(const std::string& path, const std::string& format,
                         const ReadOptions& options, const RecordSink& sink,
                         ReadStats* stats);

// ---------------------------------------------------------------------------
// Shared by the readers.

// Checks that `text` is UTF-8. If it is not: with `replace`, each invalid
// sequence becomes U+FFFD and *replaced is set; without, an error naming
// `where` and the byte offset.
absl::Status CheckUtf8(std::string* text, bool replace,
                       const std::string& where, bool* replaced);

// Applies ReadOptions::skip_bad_rows to a bad row: with skip, counts it
// (reason and first place) and returns OK; else the error
// "<where>: <reason>".
absl::Status BadRow(const ReadOptions& options, const std::string& where,
                    const std::string& reason, ReadStats* stats);

// Opens a regular file for reading (never blocks on a FIFO: anything that
// is not a regular file is refused, naming it).
absl::StatusOr<int> OpenRegularFile(const std::string& path);

// Reads a file line by line with bounded memory: calls `line_fn(line,
// number)` for each line (without its '\n'; a trailing '\r' is kept), the
// number 1-based. A line over `max_line_bytes` is an error naming the file
// and line.
absl::Status ForEachLine(
    const std::string& path, int64_t max_line_bytes,
    const std::function<absl::Status(std::string_view, int64_t)>& line_fn);

// The largest record (CSV row, JSON line, review file) a reader accepts.
inline constexpr int64_t kMaxRecordBytes = int64_t{64} << 20;

}  // namespace loom::data

#endif  // LOOM_FRAMEWORK_DATA_READERS_READER_H_
