// The training job behind tools/train: a model file read once and carried
// forward through every step: its plugins loaded, the command line's
// overrides applied (config_overrides.h), the data source resolved
// (data_source.h), the model built, the data loaded and split, the run
// folder written (run_folder.h), training (resumable, resume.h), the test
// and the saved model (saved_model.h).
//
// The other jobs: evaluate_job.h and predict_job.h. This header also brings
// the pieces of job setup its options name (plugin search, threads, paths).
#ifndef LOOM_FRAMEWORK_TRAINING_TRAIN_JOB_H_
#define LOOM_FRAMEWORK_TRAINING_TRAIN_JOB_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "framework/distributed/communicator.h"
#include "framework/training/config_overrides.h"
#include "framework/training/data_source.h"
#include "framework/training/plugin_search.h"
#include "framework/training/threads.h"
#include "framework/training/user_path.h"

namespace loom {

struct TrainJobOptions {
  std::string graph;  // Model definition (.pbtxt).
  DataFlags data_flags;
  std::string output_dir;  // "" = runs/<model>-<timestamp>.
  std::vector<std::string> plugins;
  PluginSearch plugin_search;
  int threads = 0;  // 0 = all cores.
  ConfigOverrides overrides;
  // Sets the `precision` attribute of every LSTM node of the model ("f32"
  // or "bf16"; "": as the model file says). It is kept in config.pbtxt and
  // the model/ folder, so evaluation and prediction run at it too.
  std::string lstm_precision;
  // Progress: a redrawn bar (terminal) or one line per epoch.
  bool interactive = false;
  // Print the time spent in each node at the end.
  bool profile = false;
  // Copy the plugins the model's ops come from into model/plugins/.
  bool copy_plugins = true;
  // Continue the run in this folder (one RunTrainJob wrote) from its newest
  // intact resume checkpoint (resume.h), with its config.pbtxt: `graph`,
  // the data flags, --set and every named override but the resumable ones
  // (SettingFlag::resumable: `epochs`) must be left unset.
  std::string resume_dir;
  // Also write a resume checkpoint every this many steps (0: only at the
  // end of every epoch).
  int64_t checkpoint_every = 0;
  // Polled after every step: once true, training writes a resume checkpoint
  // and the job returns a CancelledError saying how to resume (tools/train
  // sets it on SIGINT and SIGTERM).
  const std::atomic<bool>* stop_requested = nullptr;
  // For tests: the resume checkpoints' stage hook (ResumeWriter).
  std::function<void(absl::string_view stage)> checkpoint_stage_hook;
  // Data-parallel training over these ranks (tools/train under mpirun; not
  // owned; null: this process alone): every rank trains its slice of each
  // batch (Model::set_communicator); only rank 0 prints and writes the run
  // folder and its checkpoints.
  distributed::Communicator* comm = nullptr;
  // With `comm`: sum the gradients during the backward pass
  // (--allreduce_overlap); the results are the same either way.
  bool allreduce_overlap = true;
};

// Trains as the options say and writes into the output folder: config.pbtxt
// (the configuration used), history.csv/.json, learning_curve.svg,
// checkpoints/{best,last}.ckpt and model/ (see saved_model.h). Progress and
// the final "Test loss: ... | Test acc: ..." line go to `out`.
absl::Status RunTrainJob(const TrainJobOptions& options, std::ostream& out);

}  // namespace loom

#endif  // LOOM_FRAMEWORK_TRAINING_TRAIN_JOB_H_
