// Optimizers: Adam and SGD with momentum, with Keras' update rules and
// defaults. They update Parameter::value from Parameter::grad in place.
#ifndef LOOM_FRAMEWORK_OPTIMIZER_H_
#define LOOM_FRAMEWORK_OPTIMIZER_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "framework/executor.h"
#include "framework/proto/model.pb.h"

namespace loom {

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  // One update of every trainable parameter from its gradient.
  virtual absl::Status Apply(std::vector<Parameter>& params) = 0;
  float learning_rate() const { return learning_rate_; }
  void set_learning_rate(float lr) { learning_rate_ = lr; }
  int64_t iterations() const { return iterations_; }

 protected:
  float learning_rate_ = 0;
  int64_t iterations_ = 0;
};

// From the model's OptimizerDef; unset fields take Keras' defaults.
absl::StatusOr<std::unique_ptr<Optimizer>> CreateOptimizer(
    const OptimizerDef& def);

}  // namespace loom

#endif  // LOOM_FRAMEWORK_OPTIMIZER_H_
