// The run folder tools/train writes: its default name and the reports
// written into it once a run has been tested.
//
// A run folder holds config.pbtxt (the configuration used), checkpoints/
// (best, last and resume checkpoints), the reports below and model/
// (saved_model.h).
#ifndef LOOM_FRAMEWORK_TRAINING_RUN_FOLDER_H_
#define LOOM_FRAMEWORK_TRAINING_RUN_FOLDER_H_

#include <string>

#include "absl/status/status.h"
#include "framework/training/classification.h"
#include "framework/training/history.h"
#include "framework/training/model.h"
#include "framework/training/user_path.h"

namespace loom {

// The run folder of a model named `model_name` when --output_dir is not
// given: runs/<model_name>-<local time, YYYYmmdd-HHMMSS>, as UserPath takes
// it.
std::string DefaultRunFolder(const std::string& model_name);

// "Test loss: 0.3830 | Test acc: 0.8510", Keras-notebook style.
std::string TestLine(const Metrics& metrics);

// The process's peak resident memory so far, in MB.
double PeakMemoryMb();

// Writes the reports of a tested run into `dir`: history.csv, history.json,
// learning_curve.svg and confusion_matrix.svg (titled `title`), and
// results.txt (the test line, the classification report, each epoch's time
// and the peak memory).
absl::Status WriteRunReports(const std::string& dir, const std::string& title,
                             const History& history, const Metrics& metrics,
                             const ClassificationReport& report);

}  // namespace loom

#endif  // LOOM_FRAMEWORK_TRAINING_RUN_FOLDER_H_
