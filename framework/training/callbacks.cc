#include "framework/training/callbacks.h"

#include <algorithm>
#include <cmath>
#include <ostream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "framework/checkpoint.h"
#include "framework/file_util.h"
#include "framework/status_macros.h"

namespace loom {

namespace {

// A callback's copy of the weights, one tensor per parameter, in its state.
void SaveWeights(const std::vector<Tensor>& weights, const Model& model,
                 CallbackState* state) {
  const auto& params = model.executor().parameters();
  for (size_t k = 0; k < weights.size() && k < params.size(); ++k) {
    ToTensorState(params[k].name, weights[k], state->add_weights());
  }
}

// And back, shaped as the model's parameters (whose count the caller
// checked); errors name `where`.
absl::StatusOr<std::vector<Tensor>> RestoreWeights(const CallbackState& state,
                                                   const Model& model,
                                                   const std::string& where) {
  const auto& params = model.executor().parameters();
  std::vector<Tensor> weights;
  for (int k = 0; k < state.weights_size(); ++k) {
    Tensor t(DType::kFloat32, params[k].value.shape());
    LOOM_RETURN_IF_ERROR(FromTensorState(state.weights(k), where, &t));
    weights.push_back(std::move(t));
  }
  return weights;
}

}  // namespace

MetricMonitor::MetricMonitor(std::string monitor, double min_delta)
    : monitor_(monitor.empty() ? "val_loss" : std::move(monitor)),
      min_delta_(std::abs(min_delta)),
      maximize_(absl::StrContains(monitor_, "acc")),
      best_(maximize_ ? -std::numeric_limits<double>::infinity()
                      : std::numeric_limits<double>::infinity()) {}

absl::StatusOr<double> MetricMonitor::Value(const EpochLog& log) const {
  std::string available;
  for (const auto& [name, value] : log.metrics) {
    if (name == monitor_) return value;
    absl::StrAppend(&available, available.empty() ? "" : ", ", name);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("monitored metric '", monitor_,
                   "' is not reported; available: ", available));
}

absl::Status MetricMonitor::CheckReported(const Model& model,
                                          const std::string& where) const {
  const std::vector<std::string>& names = model.epoch_metric_names();
  if (names.empty() ||
      std::find(names.begin(), names.end(), monitor_) != names.end()) {
    return absl::OkStatus();
  }
  const bool val = absl::StartsWith(monitor_, "val_");
  return absl::InvalidArgumentError(
      absl::StrCat(where, ".monitor: '", monitor_,
                   "' is not a metric this training reports; it reports ",
                   absl::StrJoin(names, ", "),
                   val && !absl::StrContains(absl::StrJoin(names, ","), "val_")
                       ? " (no val_ metrics: there is no validation data; set "
                         "training.validation_split)"
                       : ""));
}

bool MetricMonitor::Improves(double value) const {
  return maximize_ ? value > best_ + min_delta_ : value < best_ - min_delta_;
}

EarlyStopping::EarlyStopping(const EarlyStoppingDef& def, std::ostream* log,
                             std::string where)
    : monitor_(def.monitor(), def.min_delta()),
      patience_(def.patience()),
      restore_best_weights_(def.restore_best_weights()),
      log_(log),
      where_(std::move(where)) {}

absl::Status EarlyStopping::OnTrainBegin(Model& model) {
  LOOM_RETURN_IF_ERROR(monitor_.CheckReported(model, where_));
  wait_ = 0;
  best_epoch_ = 0;
  stopped_epoch_ = 0;
  best_weights_.clear();
  return absl::OkStatus();
}

absl::Status EarlyStopping::OnEpochEnd(int epoch, const EpochLog& log,
                                       Model& model, bool* stop) {
  LOOM_ASSIGN_OR_RETURN(auto value, monitor_.Value(log));
  last_epoch_ = epoch;
  ++wait_;
  if (monitor_.Improves(value)) {
    monitor_.set_best(value);
    best_epoch_ = epoch;
    wait_ = 0;
    if (restore_best_weights_) {
      best_weights_ = SnapshotParameters(model.executor().parameters());
    }
  }
  // As Keras: stop once `patience` epochs passed without improvement.
  if (wait_ >= patience_ && epoch > 1) {
    *stop = true;
    stopped_epoch_ = epoch;
    if (log_) *log_ << "Epoch " << epoch << ": early stopping\n";
  }
  return absl::OkStatus();
}

absl::Status EarlyStopping::OnTrainEnd(Model& model) {
  if (restore_best_weights_ && !best_weights_.empty() &&
      best_epoch_ != last_epoch_) {
    RestoreParameters(best_weights_, &model.executor().parameters());
    if (log_) {
      *log_ << "Restoring model weights from the end of the best epoch: "
            << best_epoch_ << ".\n";
    }
  }
  return absl::OkStatus();
}

void EarlyStopping::SaveState(const Model& model, CallbackState* state) const {
  state->set_best(monitor_.best());
  state->set_wait(wait_);
  state->set_best_epoch(best_epoch_);
  state->set_last_epoch(last_epoch_);
  state->set_stopped_epoch(stopped_epoch_);
  SaveWeights(best_weights_, model, state);
}

absl::Status EarlyStopping::RestoreState(const CallbackState& state,
                                         Model& model,
                                         const std::string& where) {
  const auto& params = model.executor().parameters();
  if (state.weights_size() != 0 &&
      static_cast<size_t>(state.weights_size()) != params.size()) {
    return absl::DataLossError(
        absl::StrCat(where, ": ", where_, " holds ", state.weights_size(),
                     " best weights, the model has ", params.size()));
  }
  LOOM_ASSIGN_OR_RETURN(best_weights_, RestoreWeights(state, model, where));
  monitor_.set_best(state.best());
  wait_ = state.wait();
  best_epoch_ = state.best_epoch();
  last_epoch_ = state.last_epoch();
  stopped_epoch_ = state.stopped_epoch();
  return absl::OkStatus();
}

ReduceLrOnPlateau::ReduceLrOnPlateau(const ReduceLrOnPlateauDef& def,
                                     std::ostream* log, std::string where)
    : monitor_(def.monitor(), def.min_delta() > 0 ? def.min_delta() : 1e-4),
      factor_(def.factor() > 0 ? def.factor() : 0.1),
      patience_(def.patience() > 0 ? def.patience() : 10),
      min_lr_(def.min_lr()),
      log_(log),
      where_(std::move(where)) {}

absl::Status ReduceLrOnPlateau::OnTrainBegin(Model& model) {
  LOOM_RETURN_IF_ERROR(monitor_.CheckReported(model, where_));
  wait_ = 0;
  return absl::OkStatus();
}

absl::Status ReduceLrOnPlateau::OnEpochEnd(int epoch, const EpochLog& log,
                                           Model& model, bool* stop) {
  LOOM_ASSIGN_OR_RETURN(auto value, monitor_.Value(log));
  if (monitor_.Improves(value)) {
    monitor_.set_best(value);
    wait_ = 0;
    return absl::OkStatus();
  }
  if (++wait_ >= patience_) {
    const double old_lr = model.optimizer().learning_rate();
    if (old_lr > min_lr_) {
      const double new_lr = std::max(old_lr * factor_, min_lr_);
      model.optimizer().set_learning_rate(static_cast<float>(new_lr));
      if (log_) {
        *log_ << "Epoch " << epoch
              << ": ReduceLROnPlateau reducing learning rate to " << new_lr
              << ".\n";
      }
    }
    wait_ = 0;
  }
  return absl::OkStatus();
}

void ReduceLrOnPlateau::SaveState(const Model& model,
                                  CallbackState* state) const {
  state->set_best(monitor_.best());
  state->set_wait(wait_);
}

absl::Status ReduceLrOnPlateau::RestoreState(const CallbackState& state,
                                             Model& model,
                                             const std::string& where) {
  monitor_.set_best(state.best());
  wait_ = state.wait();
  return absl::OkStatus();
}

CheckpointWriter::CheckpointWriter(std::string dir, std::string monitor)
    : dir_(std::move(dir)), monitor_(std::move(monitor), 0.0) {}

absl::Status CheckpointWriter::OnTrainBegin(Model& model) {
  LOOM_RETURN_IF_ERROR(monitor_.CheckReported(model, "the checkpoints' best"));
  return writes_ ? MakeDirectories(dir_) : absl::OkStatus();
}

absl::Status CheckpointWriter::OnEpochEnd(int epoch, const EpochLog& log,
                                          Model& model, bool* stop) {
  const auto& params = model.executor().parameters();
  if (writes_) {
    LOOM_RETURN_IF_ERROR(SaveCheckpoint(params, dir_ + "/last.ckpt"));
  }
  LOOM_ASSIGN_OR_RETURN(auto value, monitor_.Value(log));
  if (monitor_.Improves(value)) {
    monitor_.set_best(value);
    if (writes_) return SaveCheckpoint(params, dir_ + "/best.ckpt");
  }
  return absl::OkStatus();
}

void CheckpointWriter::SaveState(const Model& model,
                                 CallbackState* state) const {
  state->set_best(monitor_.best());
}

absl::Status CheckpointWriter::RestoreState(const CallbackState& state,
                                            Model& model,
                                            const std::string& where) {
  monitor_.set_best(state.best());
  return absl::OkStatus();
}

AverageWeights::AverageWeights(const AverageWeightsDef& def, std::ostream* log,
                               std::string where)
    : start_epoch_(std::max(1, def.start_epoch())),
      every_steps_(std::max(0, def.every_steps())),
      log_(log),
      where_(std::move(where)) {}

absl::Status AverageWeights::OnTrainBegin(Model& model) {
  count_ = 0;
  last_epoch_ = 0;
  average_.clear();
  return absl::OkStatus();
}

void AverageWeights::Add(const Model& model) {
  const std::vector<Parameter>& params = model.executor().parameters();
  ++count_;
  if (average_.empty()) {
    average_ = SnapshotParameters(params);
    return;
  }
  // The running mean, a += (w - a) / k: no sum that grows with the count.
  const float inverse = 1.0f / static_cast<float>(count_);
  for (size_t k = 0; k < params.size(); ++k) {
    float* a = average_[k].f32();
    const float* w = params[k].value.f32();
    for (int64_t i = 0; i < average_[k].num_elements(); ++i) {
      a[i] += (w[i] - a[i]) * inverse;
    }
  }
}

absl::Status AverageWeights::OnBatchEnd(int epoch, int64_t step, Model& model) {
  if (every_steps_ > 0 && epoch >= start_epoch_ && step % every_steps_ == 0) {
    Add(model);
  }
  return absl::OkStatus();
}

absl::Status AverageWeights::OnEpochEnd(int epoch, const EpochLog& log,
                                        Model& model, bool* stop) {
  last_epoch_ = epoch;
  if (every_steps_ == 0 && epoch >= start_epoch_) Add(model);
  return absl::OkStatus();
}

absl::Status AverageWeights::OnTrainEnd(Model& model) {
  if (count_ == 0) {
    if (log_) {
      if (last_epoch_ < start_epoch_) {
        *log_ << "Averaging weights: training ended at epoch " << last_epoch_
              << ", before start_epoch " << start_epoch_
              << "; the weights are the last epoch's.\n";
      } else {
        *log_ << "Averaging weights: no epoch from start_epoch " << start_epoch_
              << " on had every_steps " << every_steps_
              << " steps; the weights are the last epoch's.\n";
      }
    }
    return absl::OkStatus();
  }
  RestoreParameters(average_, &model.executor().parameters());
  if (log_) {
    if (every_steps_ == 0) {
      *log_ << "Averaged the weights of epochs " << start_epoch_ << "-"
            << start_epoch_ + count_ - 1 << " (" << count_ << " epochs).\n";
    } else {
      *log_ << "Averaged the weights after every " << every_steps_
            << " steps of epochs " << start_epoch_ << "-" << last_epoch_ << " ("
            << count_ << " snapshots).\n";
    }
  }
  return absl::OkStatus();
}

void AverageWeights::SaveState(const Model& model, CallbackState* state) const {
  state->set_last_epoch(last_epoch_);
  state->set_averaged_epochs(count_);
  SaveWeights(average_, model, state);
}

absl::Status AverageWeights::RestoreState(const CallbackState& state,
                                          Model& model,
                                          const std::string& where) {
  const auto& params = model.executor().parameters();
  const bool consistent = state.averaged_epochs() >= 0 &&
                          static_cast<size_t>(state.weights_size()) ==
                              (state.averaged_epochs() > 0 ? params.size() : 0);
  if (!consistent) {
    return absl::DataLossError(
        absl::StrCat(where, ": ", where_, " holds ", state.weights_size(),
                     " averaged weights of ", state.averaged_epochs(),
                     " epochs; the model has ", params.size(), " parameters"));
  }
  LOOM_ASSIGN_OR_RETURN(average_, RestoreWeights(state, model, where));
  count_ = state.averaged_epochs();
  last_epoch_ = state.last_epoch();
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::unique_ptr<Callback>>> CreateCallbacks(
    const TrainingDef& training, std::ostream* log) {
  std::vector<std::unique_ptr<Callback>> out;
  for (int i = 0; i < training.callback_size(); ++i) {
    const CallbackDef& def = training.callback(i);
    switch (def.kind_case()) {
      case CallbackDef::kEarlyStopping: {
        const auto& e = def.early_stopping();
        const std::string where =
            absl::StrCat("training.callback[", i, "].early_stopping");
        if (e.patience() < 0) {
          return absl::InvalidArgumentError(
              absl::StrCat(where, ".patience must be >= 0"));
        }
        if (!std::isfinite(e.min_delta())) {
          return absl::InvalidArgumentError(
              absl::StrCat(where, ".min_delta must be a finite number, got ",
                           e.min_delta()));
        }
        out.push_back(std::make_unique<EarlyStopping>(e, log, where));
        break;
      }
      case CallbackDef::kReduceLrOnPlateau: {
        const auto& r = def.reduce_lr_on_plateau();
        const std::string where =
            absl::StrCat("training.callback[", i, "].reduce_lr_on_plateau");
        // Written so that NaN fails every test.
        if (!(r.factor() >= 0 && r.factor() < 1) || r.patience() < 0) {
          return absl::InvalidArgumentError(absl::StrCat(
              where, " needs factor in [0, 1) and patience >= 0, got factor ",
              r.factor(), " and patience ", r.patience()));
        }
        if (!(r.min_lr() >= 0 && std::isfinite(r.min_lr())) ||
            !(r.min_delta() >= 0 && std::isfinite(r.min_delta()))) {
          return absl::InvalidArgumentError(absl::StrCat(
              where,
              " needs finite min_lr >= 0 and min_delta >= 0, got min_lr ",
              r.min_lr(), " and min_delta ", r.min_delta()));
        }
        out.push_back(std::make_unique<ReduceLrOnPlateau>(r, log, where));
        break;
      }
      case CallbackDef::kAverageWeights: {
        // Its settings, and that restore_best_weights is not also set, are
        // checked with the model file's (CheckModelSettings).
        out.push_back(std::make_unique<AverageWeights>(
            def.average_weights(), log,
            absl::StrCat("training.callback[", i, "].average_weights")));
        break;
      }
      case CallbackDef::KIND_NOT_SET:
        return absl::InvalidArgumentError(
            absl::StrCat("training.callback[", i, "] is empty"));
    }
  }
  return out;
}

}  // namespace loom
