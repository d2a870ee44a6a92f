// The job behind tools/evaluate: a saved model (saved_model.h) evaluated on
// the test split of its data set, or of the data the flags name.
#ifndef LOOM_FRAMEWORK_TRAINING_EVALUATE_JOB_H_
#define LOOM_FRAMEWORK_TRAINING_EVALUATE_JOB_H_

#include <iosfwd>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "framework/training/data_source.h"
#include "framework/training/plugin_search.h"

namespace loom {

struct EvaluateJobOptions {
  std::string model_dir;  // A model/ folder written by RunTrainJob.
  DataFlags data_flags;   // Default: the data the model was trained on.
  std::vector<std::string> plugins;
  PluginSearch plugin_search;
  int threads = 0;
  int batch_size = 0;  // 0 = the model's.
};

// Evaluates a saved model on the test split of its data set: the test line
// ("Test loss: ... | Test acc: ...") and the classification report go to
// `out`.
absl::Status RunEvaluateJob(const EvaluateJobOptions& options,
                            std::ostream& out);

}  // namespace loom

#endif  // LOOM_FRAMEWORK_TRAINING_EVALUATE_JOB_H_
