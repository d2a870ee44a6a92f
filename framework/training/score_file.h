// Scoring a whole file of texts with a trained model: every record of the
// input (any format framework/data/readers/ reads) is written to the output
// with its predicted label and class probabilities appended, in input
// order (see readers/writer.h). The input is streamed in chunks, so memory
// does not grow with the file; the output appears atomically at the end.
#ifndef LOOM_FRAMEWORK_TRAINING_SCORE_FILE_H_
#define LOOM_FRAMEWORK_TRAINING_SCORE_FILE_H_

#include <cstdint>
#include <iosfwd>
#include <string>

#include "absl/status/status.h"
#include "framework/data/readers/reader.h"
#include "framework/data/text.h"
#include "framework/distributed/communicator.h"
#include "framework/training/model.h"

namespace loom {

struct ScoreFileOptions {
  std::string input;
  std::string output;
  std::string input_format;   // "" = detected.
  std::string output_format;  // "" = from the output's extension, else the
                              // input's format.
  // Columns, bad rows and bad text; require_label is ignored (labels are
  // optional when scoring).
  data::ReadOptions read;
  int batch_size = 128;       // Rows per run of the model.
  int64_t chunk_rows = 8192;  // Rows held in memory at once.
  // Progress on a terminal: rows, rows/s and the time left, redrawn.
  bool interactive = false;
};

struct ScoreFileSummary {
  int64_t rows = 0;
  int64_t empty_texts = 0;            // Scored, but nothing in them was read.
  std::vector<int64_t> label_counts;  // By class.
  double seconds = 0;
  data::ReadStats read;
};

// Scores options.input into options.output. Progress and a summary (rows
// scored, rows per second, label counts, rows skipped and why) go to `out`.
// Bad rows stop it (the error names file and line) unless
// options.read.skip_bad_rows; then they are counted in the summary.
//
// Under mpirun (SetScoringCommunicator with more than one rank) the ranks
// share the work: rank 0 scans the input once for row boundaries (quotes
// followed, so a quoted field's newlines stay inside its row) and splits the
// rows into one contiguous byte range per rank, aligned to whole batches;
// each rank reads and scores only its range (the header row and its range,
// copied to a temporary file under $TMPDIR), and sends the predicted labels
// and probabilities to rank 0, which reads the input once more and writes
// every row in input order: the same file, byte for byte, as one process.
// CSV, TSV and JSON Lines are split; other inputs (folders, IMDb) are
// scored by rank 0 alone. Every rank returns the same summary; only rank 0
// prints it. The other ranks keep their results in memory until rank 0
// takes them: (classes + 1) floats per row.
absl::StatusOr<ScoreFileSummary> ScoreFile(Model& model,
                                           const data::Vocabulary& vocabulary,
                                           const ScoreFileOptions& options,
                                           std::ostream& out);

// The process group ScoreFile shares its work with (tools/predict sets it
// when started by mpirun); nullptr (the default) or a group of one scores
// in this process alone. Not owned.
void SetScoringCommunicator(distributed::Communicator* comm);

}  // namespace loom

#endif  // LOOM_FRAMEWORK_TRAINING_SCORE_FILE_H_
