// Warm start (TrainingDef.warm_start, WarmStartDef in model.proto): a new
// run's parameters take the values of a trained model folder's, by name;
// vocabulary tables are taken row by row by word.
#ifndef LOOM_FRAMEWORK_TRAINING_WARM_START_H_
#define LOOM_FRAMEWORK_TRAINING_WARM_START_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "framework/data/text.h"
#include "framework/proto/model.pb.h"
#include "framework/training/model.h"

namespace loom {

// Sets the parameters of `model` that `def` chooses from the model folder
// def.model(); `vocabulary` is this run's (the ids the model is fed). Checks
// everything before changing any parameter. Returns one line per parameter
// taken, saying what it took ("embedding/table [20000, 128]: 19,713 of
// 20,000 rows, by word"). Errors name the folder, the pattern or the
// parameter and both shapes. With def.freeze(), the parameters taken are
// made not trainable. With `set_values` false (a resumed run, whose values
// come from its resume checkpoint) only that is done.
absl::StatusOr<std::vector<std::string>> WarmStart(
    const WarmStartDef& def, const data::Vocabulary& vocabulary, Model* model,
    bool set_values = true);

}  // namespace loom

#endif  // LOOM_FRAMEWORK_TRAINING_WARM_START_H_
