// Pieces ScoreFile's two paths share (score_file.cc: one process;
// score_file_sharded.cc: the ranks of an mpirun). Not an API.
#ifndef LOOM_FRAMEWORK_TRAINING_SCORE_FILE_INTERNAL_H_
#define LOOM_FRAMEWORK_TRAINING_SCORE_FILE_INTERNAL_H_

#include <chrono>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "framework/data/readers/reader.h"
#include "framework/data/text.h"
#include "framework/distributed/communicator.h"
#include "framework/training/model.h"
#include "framework/training/score_file.h"

namespace loom::score_file_internal {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start);

// The summary ScoreFile prints at the end.
void PrintSummary(const ScoreFileSummary& summary,
                  const ScoreFileOptions& options,
                  const std::string& output_format,
                  const std::vector<std::string>& class_names,
                  std::ostream& out);

// Whether a text holds nothing but white space.
bool IsEmptyText(const std::string& text);

// ScoreFile under mpirun for CSV, TSV and JSON Lines (see ScoreFile).
absl::StatusOr<ScoreFileSummary> ScoreSharded(
    distributed::Communicator& comm, Model& model,
    const data::Vocabulary& vocabulary, const ScoreFileOptions& options,
    const data::TextFormat& format, const std::vector<std::string>& class_names,
    std::ostream& out);

}  // namespace loom::score_file_internal

#endif  // LOOM_FRAMEWORK_TRAINING_SCORE_FILE_INTERNAL_H_
