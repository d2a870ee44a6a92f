// Reading and atomically writing whole files.
#ifndef LOOM_FRAMEWORK_FILE_UTIL_H_
#define LOOM_FRAMEWORK_FILE_UTIL_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace loom {

absl::StatusOr<std::string> ReadFile(const std::string& path);

// Writes to a temporary file beside `path`, flushes it to disk, then renames
// it over `path`: readers see the old file or the new one, never a part.
absl::Status WriteFileAtomically(const std::string& path,
                                 absl::string_view contents);

// Creates `dir` and its parents if missing.
absl::Status MakeDirectories(const std::string& dir);

}  // namespace loom

#endif  // LOOM_FRAMEWORK_FILE_UTIL_H_
