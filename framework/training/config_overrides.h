// Command-line overrides of a model file's settings: tools/train's named
// flags (--epochs, --batch_size, ...) and --set (config_set.h).
#ifndef LOOM_FRAMEWORK_TRAINING_CONFIG_OVERRIDES_H_
#define LOOM_FRAMEWORK_TRAINING_CONFIG_OVERRIDES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "framework/proto/model.pb.h"

namespace loom {

// Values that override the model definition; unset ones leave it alone.
struct ConfigOverrides {
  std::optional<int> epochs;
  std::optional<int> batch_size;
  std::optional<float> learning_rate;
  std::optional<float> validation_split;
  std::optional<int64_t> seed;
  std::optional<int> max_len;
  std::optional<int> num_words;
  std::optional<int> train_limit;
  std::optional<int> test_limit;
  std::optional<int> patience;  // Of every EarlyStopping callback.
  // "path=value" assignments for any other setting (config_set.h), applied
  // before the fields above.
  std::vector<std::string> set;
};

// Applies and checks the overrides: bad values are errors naming the flag
// (or the --set assignment).
// The graph follows max_len and num_words: the features input's length and
// the rows of every table an Embedding node reads.
absl::Status ApplyOverrides(const ConfigOverrides& overrides, ModelDef* def);

}  // namespace loom

#endif  // LOOM_FRAMEWORK_TRAINING_CONFIG_OVERRIDES_H_
