// Optimizers: Adam (and AdamW) and SGD with momentum, with Keras' update
// rules and defaults, gradient clipping (clipnorm, global_clipnorm) and a
// learning-rate schedule (warmup, then cosine or exponential decay). They
// update Parameter::value from Parameter::grad in place.
#ifndef LOOM_FRAMEWORK_OPTIMIZER_H_
#define LOOM_FRAMEWORK_OPTIMIZER_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "framework/executor.h"
#include "framework/proto/model.pb.h"
#include "framework/proto/train_state.pb.h"

namespace loom {

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  // One update of every trainable parameter from its gradient: the
  // gradients clipped (clipnorm, then global_clipnorm; they are changed in
  // place), then the kind's update at the scheduled rate of this step.
  absl::Status Apply(std::vector<Parameter>& params);
  // The base learning rate (ReduceLROnPlateau reads and sets it).
  float learning_rate() const { return learning_rate_; }
  void set_learning_rate(float lr) { learning_rate_ = lr; }
  // The rate of step t (0-based) under the schedule; the base rate
  // without one.
  float ScheduledRate(int64_t t) const;
  // The rate the next step uses.
  float current_learning_rate() const { return ScheduledRate(iterations_); }
  int64_t iterations() const { return iterations_; }

  // For resume checkpoints (framework/training/resume.h): the step count,
  // the learning rate and every slot (Adam's m and v, SGD's velocity),
  // named after `params`.
  void SaveState(const std::vector<Parameter>& params,
                 OptimizerState* state) const;
  // Restores what SaveState wrote, checking kind and slots against
  // `params`; errors name `where` (the checkpoint file).
  absl::Status RestoreState(const OptimizerState& state,
                            const std::vector<Parameter>& params,
                            const std::string& where);

 protected:
  // "adam", "sgd": what a checkpoint's optimizer state must say.
  virtual const char* kind() const = 0;
  // The slot sets, each one tensor per parameter (or empty before the
  // first step), with the suffix their checkpoint names get.
  virtual std::vector<std::pair<const char*, std::vector<Tensor>*>> Slots() = 0;
  // The kind's update of step `t` (1-based) at rate `lr`.
  virtual absl::Status Update(std::vector<Parameter>& params, float lr,
                              int64_t t) = 0;

  // A sparse gradient's touched rows, sorted and without repeats (the
  // other rows of its gradient are zero). The vector is scratch of this
  // optimizer's, valid until the next call.
  const std::vector<int32_t>& DistinctTouchedRows(const Parameter& p);

  float learning_rate_ = 0;
  int64_t iterations_ = 0;

 private:
  friend absl::StatusOr<std::unique_ptr<Optimizer>> CreateOptimizer(
      const OptimizerDef& def);
  // Scales gradients down to the clip norms; sparse gradients count (and
  // are scaled on) their touched rows only.
  void ClipGradients(std::vector<Parameter>& params);

  float clipnorm_ = 0;
  float global_clipnorm_ = 0;
  OptimizerDef::Schedule schedule_;
  std::vector<int32_t> rows_;  // Scratch: distinct touched rows.
};

// From the model's OptimizerDef; unset fields take Keras' defaults.
absl::StatusOr<std::unique_ptr<Optimizer>> CreateOptimizer(
    const OptimizerDef& def);

}  // namespace loom

#endif  // LOOM_FRAMEWORK_OPTIMIZER_H_
