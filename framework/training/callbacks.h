// Keras' callbacks: EarlyStopping, ReduceLROnPlateau, weight averaging
// (SWA), and checkpoints of the best and the last weights.
#ifndef LOOM_FRAMEWORK_TRAINING_CALLBACKS_H_
#define LOOM_FRAMEWORK_TRAINING_CALLBACKS_H_

#include <iosfwd>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "framework/proto/model.pb.h"
#include "framework/training/model.h"

namespace loom {

// Tracks the best value of a monitored metric. The direction follows Keras'
// "auto" mode: metrics whose name contains "acc" are maximized, others
// minimized.
class MetricMonitor {
 public:
  MetricMonitor(std::string monitor, double min_delta);
  // Looks the metric up in `log`; an error names the available metrics.
  absl::StatusOr<double> Value(const EpochLog& log) const;
  // Before training: an error naming `where` (the callback's setting) and
  // the metrics there will be if the monitored one is not among
  // model.epoch_metric_names(). Nothing is checked when the model reports no
  // names (outside Model::Fit).
  absl::Status CheckReported(const Model& model,
                             const std::string& where) const;
  // Whether `value` improves on the best so far by more than min_delta.
  bool Improves(double value) const;
  void set_best(double value) { best_ = value; }
  double best() const { return best_; }
  const std::string& monitor() const { return monitor_; }

 private:
  std::string monitor_;
  double min_delta_;
  bool maximize_;
  double best_;
};

// Keras' EarlyStopping, with one deliberate difference: with
// restore_best_weights, the best weights are restored when training ends
// even if it ran all its epochs (Keras restores them only when it stops
// early, a well-known surprise).
class EarlyStopping : public Callback {
 public:
  // `where` names the setting in errors, e.g.
  // "training.callback[0].early_stopping".
  EarlyStopping(const EarlyStoppingDef& def, std::ostream* log,
                std::string where = "EarlyStopping");
  absl::Status OnTrainBegin(Model& model) override;
  absl::Status OnEpochEnd(int epoch, const EpochLog& log, Model& model,
                          bool* stop) override;
  absl::Status OnTrainEnd(Model& model) override;
  std::string kind() const override { return "early_stopping"; }
  void SaveState(const Model& model, CallbackState* state) const override;
  absl::Status RestoreState(const CallbackState& state, Model& model,
                            const std::string& where) override;
  int stopped_epoch() const { return stopped_epoch_; }
  int best_epoch() const { return best_epoch_; }

 private:
  MetricMonitor monitor_;
  int patience_;
  bool restore_best_weights_;
  std::ostream* log_;
  std::string where_;
  int wait_ = 0;
  int best_epoch_ = 0;
  int last_epoch_ = 0;
  int stopped_epoch_ = 0;
  std::vector<Tensor> best_weights_;
};

class ReduceLrOnPlateau : public Callback {
 public:
  ReduceLrOnPlateau(const ReduceLrOnPlateauDef& def, std::ostream* log,
                    std::string where = "ReduceLROnPlateau");
  absl::Status OnTrainBegin(Model& model) override;
  absl::Status OnEpochEnd(int epoch, const EpochLog& log, Model& model,
                          bool* stop) override;
  std::string kind() const override { return "reduce_lr_on_plateau"; }
  void SaveState(const Model& model, CallbackState* state) const override;
  absl::Status RestoreState(const CallbackState& state, Model& model,
                            const std::string& where) override;

 private:
  MetricMonitor monitor_;
  double factor_;
  int patience_;
  double min_lr_;
  std::ostream* log_;
  std::string where_;
  int wait_ = 0;
};

// Stochastic weight averaging (AverageWeightsDef): the running mean of the
// weights at the end of epochs start_epoch, start_epoch + 1, ... (with
// every_steps, after every that many steps of those epochs); when training
// ends the model's parameters become it.
class AverageWeights : public Callback {
 public:
  AverageWeights(const AverageWeightsDef& def, std::ostream* log,
                 std::string where = "AverageWeights");
  absl::Status OnTrainBegin(Model& model) override;
  absl::Status OnEpochEnd(int epoch, const EpochLog& log, Model& model,
                          bool* stop) override;
  absl::Status OnBatchEnd(int epoch, int64_t step, Model& model) override;
  absl::Status OnTrainEnd(Model& model) override;
  std::string kind() const override { return "average_weights"; }
  void SaveState(const Model& model, CallbackState* state) const override;
  absl::Status RestoreState(const CallbackState& state, Model& model,
                            const std::string& where) override;
  // Snapshots in the average: epochs, or with every_steps steps' snapshots.
  int averaged_snapshots() const { return count_; }

 private:
  // Adds the model's current weights to the running mean.
  void Add(const Model& model);

  int start_epoch_;
  int every_steps_;  // 0: once per epoch.
  std::ostream* log_;
  std::string where_;
  int count_ = 0;       // Snapshots in average_.
  int last_epoch_ = 0;  // The last epoch that ended.
  std::vector<Tensor> average_;
};

// Writes <dir>/last.ckpt after every epoch and <dir>/best.ckpt when the
// monitored metric improves.
class CheckpointWriter : public Callback {
 public:
  CheckpointWriter(std::string dir, std::string monitor);
  absl::Status OnTrainBegin(Model& model) override;
  absl::Status OnEpochEnd(int epoch, const EpochLog& log, Model& model,
                          bool* stop) override;
  std::string kind() const override { return "checkpoints"; }
  // Off: keeps track of the best but writes nothing (data-parallel ranks
  // other than 0, so every rank runs the same callbacks).
  void set_writes(bool on) { writes_ = on; }
  void SaveState(const Model& model, CallbackState* state) const override;
  absl::Status RestoreState(const CallbackState& state, Model& model,
                            const std::string& where) override;

 private:
  std::string dir_;
  MetricMonitor monitor_;
  bool writes_ = true;
};

// The callbacks a TrainingDef asks for, checking their settings (numbers
// in range and finite; the monitored metrics are checked when training
// begins, before the first epoch).
absl::StatusOr<std::vector<std::unique_ptr<Callback>>> CreateCallbacks(
    const TrainingDef& training, std::ostream* log);

}  // namespace loom

#endif  // LOOM_FRAMEWORK_TRAINING_CALLBACKS_H_
