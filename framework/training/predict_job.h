// The job behind tools/predict: a saved model (saved_model.h) classifying
// reviews given as text, or scoring a whole file (score_file.h).
#ifndef LOOM_FRAMEWORK_TRAINING_PREDICT_JOB_H_
#define LOOM_FRAMEWORK_TRAINING_PREDICT_JOB_H_

#include <iosfwd>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "framework/training/data_source.h"
#include "framework/training/plugin_search.h"

namespace loom {

struct PredictJobOptions {
  std::string model_dir;
  std::vector<std::string> texts;  // Raw reviews.
  // A file to score instead of `texts` (any format the data readers read;
  // data_flags.data_format, text_column, on_bad_rows and on_bad_text
  // apply), written to `output` with the predictions appended.
  std::string input;
  std::string output;
  std::string output_format;  // "" = from the output's extension.
  DataFlags data_flags;
  bool interactive = false;  // Progress redrawn on a terminal.
  int batch_size = 128;
  std::vector<std::string> plugins;
  PluginSearch plugin_search;
  int threads = 0;
};

// Prints "probability<TAB>label<TAB>text preview" for each review: the
// probability of the second class for a two-class model ("positive" for
// IMDb's), else of the predicted class. With `input`, scores that file into
// `output` instead (score_file.h).
absl::Status RunPredictJob(const PredictJobOptions& options, std::ostream& out);

}  // namespace loom

#endif  // LOOM_FRAMEWORK_TRAINING_PREDICT_JOB_H_
