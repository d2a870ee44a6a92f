// Command-line overrides of a model file's settings: tools/train's named
// flags (--epochs, --batch_size, ...) and --set (config_set.h).
//
// Each named flag is a shortcut for a --set path: LOOM_SETTING_FLAGS lists
// them once, and every use is made from that list: the tools' flags
// (tools/setting_flags.h), the fields of ConfigOverrides, the table
// SettingFlags() and which of them --resume accepts. A flag's value is set
// and checked as its path would be (SetConfigValue, CheckModelSettings), so
// the model file's schema is the one place its values are validated.
#ifndef LOOM_FRAMEWORK_TRAINING_CONFIG_OVERRIDES_H_
#define LOOM_FRAMEWORK_TRAINING_CONFIG_OVERRIDES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "framework/proto/model.pb.h"

// X(flag, C++ type, --set path, help, may be given with --resume), one per
// named flag. The help is completed with the path: "Override epochs
// (training.epochs).".
#define LOOM_SETTING_FLAGS(X)                                                 \
  X(epochs, int, "training.epochs", "Override epochs", true)                  \
  X(batch_size, int, "training.batch_size", "Override the batch size", false) \
  X(learning_rate, float, "training.optimizer.kind.learning_rate",            \
    "Override the optimizer's learning rate", false)                          \
  X(validation_split, float, "training.validation_split",                     \
    "Override the validation split (last fraction of train)", false)          \
  X(seed, int64_t, "training.seed",                                           \
    "Override the seed (initialization, dropout, shuffling)", false)          \
  X(max_len, int, "dataset.max_len", "Override the sequence length", false)   \
  X(num_words, int, "dataset.num_words", "Override the vocabulary size",      \
    false)                                                                    \
  X(train_limit, int, "dataset.train_limit",                                  \
    "Override how many training reviews are used (0: all)", false)            \
  X(test_limit, int, "dataset.test_limit",                                    \
    "Override how many test reviews are used (0: all)", false)                \
  X(patience, int, "training.callback[*].early_stopping.patience",            \
    "Override EarlyStopping's patience", false)                              \
  X(warm_start, std::string, "training.warm_start.model",                     \
    "Start from the weights of a trained model folder (RUN/model), taken by " \
    "parameter name, vocabulary tables row by row by word",                   \
    false)

namespace loom {

// Values that override the model definition; unset ones leave it alone.
struct ConfigOverrides {
  // One per named flag: `epochs` is --epochs (training.epochs).
#define LOOM_SETTING_FIELD_(flag, type, path, help, resumable) \
  std::optional<type> flag;
  LOOM_SETTING_FLAGS(LOOM_SETTING_FIELD_)
#undef LOOM_SETTING_FIELD_
  // "path=value" assignments for any other setting (config_set.h), applied
  // before the named flags.
  std::vector<std::string> set;
};

// A named flag, as LOOM_SETTING_FLAGS lists it.
struct SettingFlag {
  const char* name;  // "epochs": the flag --epochs.
  const char* path;  // Its --set path, "training.epochs".
  const char* help;  // "Override epochs".
  bool resumable;    // May be given with --resume.
};

// Every named flag, in LOOM_SETTING_FLAGS' order.
absl::Span<const SettingFlag> SettingFlags();

// The named flags `overrides` sets, in that order, each with its value as
// --set takes it (floats written so that they read back to the same bits).
std::vector<std::pair<const SettingFlag*, std::string>> GivenSettingFlags(
    const ConfigOverrides& overrides);

// Applies the overrides: the --set assignments, then the named flags (so a
// named flag wins), then checks every setting once (CheckModelSettings):
// bad values are errors naming the flag, the --set path or the model file's
// field. A named flag whose path names no field here (--patience without an
// EarlyStopping callback) changes nothing, its value checked all the same. Then
// the graph follows max_len and num_words (the features input's length and the
// rows of every table an Embedding node reads), and unset epochs and batch
// sizes take their defaults (1 and 32).
absl::Status ApplyOverrides(const ConfigOverrides& overrides, ModelDef* def);

}  // namespace loom

#endif  // LOOM_FRAMEWORK_TRAINING_CONFIG_OVERRIDES_H_
