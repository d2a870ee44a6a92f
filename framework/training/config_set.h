// Generic configuration overrides: "--set=dataset.keep_punctuation=true"
// sets any scalar field of a ModelDef's dataset or training settings by its
// path, so that every value of a .pbtxt's configuration can be changed from
// the command line without a dedicated flag.
//
// A path names fields as they are spelled in the .pbtxt, separated by dots;
// a repeated field takes an index: "training.callback[1].reduce_lr_on_plateau
// .factor". Setting a field inside a oneof selects that case
// ("training.optimizer.sgd.momentum=0.9" switches the optimizer to SGD).
// Values: true/false for bools, numbers, enum value names (PRE, POST), and
// strings as they are.
#ifndef LOOM_FRAMEWORK_TRAINING_CONFIG_SET_H_
#define LOOM_FRAMEWORK_TRAINING_CONFIG_SET_H_

#include <string>

#include "absl/status/status.h"
#include "framework/proto/model.pb.h"

namespace loom {

// Applies one "path=value" assignment. Errors name the assignment and what
// is wrong with it (unknown field, with the fields that exist; an index out
// of range; a value of the wrong type; a path into the graph, which is not
// a setting).
absl::Status SetConfigValue(const std::string& assignment, ModelDef* def);

// The largest learning rate accepted: beyond it the weights diverge.
inline constexpr float kMaxLearningRate = 10;

// Checks the dataset and training settings once every override is applied
// (ApplyOverrides calls it), whether a value came from the model file, a
// flag or --set: numbers in the range the schema gives (0 keeps meaning
// "the default" where the schema says so; negative batch sizes, epochs or
// patience are errors, not defaults), finite floats (no NaN or infinity),
// learning rates in (0, kMaxLearningRate], and lengths no review can reach.
// Errors name the field by its --set path and the value.
absl::Status CheckModelSettings(const ModelDef& def);

}  // namespace loom

#endif  // LOOM_FRAMEWORK_TRAINING_CONFIG_SET_H_
