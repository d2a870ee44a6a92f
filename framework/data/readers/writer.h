// Writing records back with scores appended: the scored-file side of the
// readers. CSV and TSV rows keep every input column, then gain
// "predicted_label" and one "p_<class>" column per class; JSON Lines objects
// keep every key, then gain "predicted_label" and "probabilities"
// ({class: p}). Records without the original row (a folder's files) are
// written as their source and text. The file appears atomically: rows go to
// a temporary file beside the output, which Finish() flushes, fsyncs and
// renames into place; a writer destroyed unfinished removes it.
#ifndef LOOM_FRAMEWORK_DATA_READERS_WRITER_H_
#define LOOM_FRAMEWORK_DATA_READERS_WRITER_H_

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "framework/data/readers/reader.h"

namespace loom::data {

class ScoredWriter {
 public:
  // `format`: "csv", "tsv" or "jsonl"; "" = from the path's extension
  // (.csv, .tsv, .jsonl/.ndjson/.json), else `input_format` when it is one
  // of those, else CSV.
  static absl::StatusOr<std::unique_ptr<ScoredWriter>> Create(
      const std::string& path, const std::string& format,
      const std::string& input_format,
      const std::vector<std::string>& class_names);
  ~ScoredWriter();

  // `header` is the input's header row (CSV/TSV; may be empty) and is read
  // on the first call only.
  absl::Status Write(const Record& record,
                     const std::vector<std::string>& header, int predicted,
                     const std::vector<float>& probabilities);
  absl::Status Finish();
  const std::string& format() const { return format_; }

 private:
  ScoredWriter() = default;
  absl::Status WriteDelimited(const Record& record,
                              const std::vector<std::string>& header,
                              int predicted,
                              const std::vector<float>& probabilities);
  absl::Status WriteJson(const Record& record, int predicted,
                         const std::vector<float>& probabilities);
  void Field(const std::string& value, bool first);

  std::string path_, temp_path_, format_;
  std::vector<std::string> class_names_;
  std::FILE* file_ = nullptr;
  bool wrote_header_ = false;
  bool rows_have_fields_ = false;
  std::string line_;  // Reused per row.
};

}  // namespace loom::data

#endif  // LOOM_FRAMEWORK_DATA_READERS_WRITER_H_
