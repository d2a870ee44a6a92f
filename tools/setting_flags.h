// The named setting flags of tools/train and tools/graph (--epochs,
// --batch_size, ...), defined from their one list, LOOM_SETTING_FLAGS
// (framework/training/config_overrides.h): each is a shortcut for a --set
// path, and its help says which. A tool expands LOOM_SETTING_FLAGS_DEFINE()
// in its own file, so that its --help lists them, and reads them with
// ReadSettingFlags().
#ifndef LOOM_TOOLS_SETTING_FLAGS_H_
#define LOOM_TOOLS_SETTING_FLAGS_H_

#include <optional>

#include "absl/flags/flag.h"
#include "framework/training/config_overrides.h"

#define LOOM_SETTING_FLAG_DEFINE_(flag, type, path, help, resumable) \
  ABSL_FLAG(std::optional<type>, flag, std::nullopt, help " (" path ").");
#define LOOM_SETTING_FLAG_READ_(flag, type, path, help, resumable) \
  o->flag = absl::GetFlag(FLAGS_##flag);

#define LOOM_SETTING_FLAGS_DEFINE()                          \
  LOOM_SETTING_FLAGS(LOOM_SETTING_FLAG_DEFINE_)              \
  /* The named flags given, into `o` (its --set is left). */ \
  static void ReadSettingFlags(loom::ConfigOverrides* o) {   \
    LOOM_SETTING_FLAGS(LOOM_SETTING_FLAG_READ_)              \
  }

#endif  // LOOM_TOOLS_SETTING_FLAGS_H_
