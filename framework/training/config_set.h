// Generic configuration overrides: "--set=dataset.keep_punctuation=true"
// sets any scalar field of a ModelDef's dataset or training settings by its
// path, so that every value of a .pbtxt's configuration can be changed from
// the command line without a dedicated flag.
//
// A path names fields as they are spelled in the .pbtxt, separated by dots;
// a repeated field takes an index: "training.callback[1].reduce_lr_on_plateau
// .factor"; the index one past the last element adds one
// ("training.callback[0].average_weights.start_epoch=3" on a model file
// without callbacks). Setting a field inside a oneof selects that case
// ("training.optimizer.sgd.momentum=0.9" switches the optimizer to SGD).
// Values: true/false for bools, numbers, enum value names (PRE, POST), and
// strings as they are.
//
// Two forms name several fields or one found from the file, as the named
// flags of tools/train need (config_overrides.h): "[*]" is every element of
// a list that holds the rest of the path (elements whose oneof selects
// another case are left alone: "training.callback[*].early_stopping
// .patience" sets the patience of every EarlyStopping callback, of none if
// there is none), and a oneof's name stands for its selected case, its first
// if none is selected ("training.optimizer.kind.learning_rate": the learning
// rate of the optimizer in use, Adam by default).
//
// The settings are checked once, after every assignment (CheckModelSettings):
// the schema's ranges, whether the value came from the model file, a named
// flag or --set.
#ifndef LOOM_FRAMEWORK_TRAINING_CONFIG_SET_H_
#define LOOM_FRAMEWORK_TRAINING_CONFIG_SET_H_

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "framework/proto/model.pb.h"

namespace loom {

// Applies one "path=value" assignment. Errors name the assignment and what
// is wrong with it (unknown field, with the fields that exist; an index out
// of range; a value of the wrong type; a path into the graph, which is not
// a setting); a failed assignment changes nothing. With `paths`, appends the
// fields set, as plain paths ("training.callback[0].early_stopping
// .patience").
absl::Status SetConfigValue(const std::string& assignment, ModelDef* def,
                            std::vector<std::string>* paths = nullptr);

// The settings the command line gave: each field set (a plain path, as
// SetConfigValue gives them) -> the name errors give it: the named flag
// ("--batch_size") or the path itself (--set).
using GivenSettings = absl::flat_hash_map<std::string, std::string>;

// The largest learning rate accepted: beyond it the weights diverge.
inline constexpr float kMaxLearningRate = 10;

// Checks the dataset and training settings once every override is applied
// (ApplyOverrides calls it), whether a value came from the model file, a
// flag or --set: numbers in the range the schema gives (0 keeps meaning
// "the default" where the schema says so; negative batch sizes, epochs or
// patience are errors, not defaults), finite floats (no NaN or infinity),
// learning rates in (0, kMaxLearningRate], and lengths no review can reach.
// A value in `given` is taken as given: a 0 the model file would read as a
// default (training.batch_size, dataset.max_len, dataset.num_words, the
// learning rates) is an error, and training.epochs 0 trains no epoch.
// Errors name the field as `given` does, else by its --set path, and the
// value.
absl::Status CheckModelSettings(const ModelDef& def,
                                const GivenSettings& given = {});

// Checks `value` for the field(s) `path` names as CheckModelSettings would,
// errors naming it `name` ("--patience"), on a ModelDef of its own in which
// every list "[*]" walks through has an element: for a named flag whose path
// names no field of the model at hand (--patience without an EarlyStopping
// callback), which changes nothing but whose value must still be valid.
absl::Status CheckSettingValue(const std::string& path,
                               const std::string& value,
                               const std::string& name);

}  // namespace loom

#endif  // LOOM_FRAMEWORK_TRAINING_CONFIG_SET_H_
