// Reading and atomically writing whole files.
#ifndef LOOM_FRAMEWORK_FILE_UTIL_H_
#define LOOM_FRAMEWORK_FILE_UTIL_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace loom {

// Reads a whole regular file. Anything else (a FIFO, a device such as
// /dev/zero, a folder) is refused without reading from it, and so is a file
// of more than `max_bytes` (checked before reading and while reading, as the
// file may grow); `what` names the kind of file in that error ("a model
// file"). Errors name the path.
absl::StatusOr<std::string> ReadFile(const std::string& path,
                                     int64_t max_bytes = INT64_MAX,
                                     absl::string_view what = "a file");

// Writes to a temporary file beside `path`, flushes it to disk, then renames
// it over `path`: readers see the old file or the new one, never a part.
absl::Status WriteFileAtomically(const std::string& path,
                                 absl::string_view contents);

// Renames `from` to `to` (replacing any file there), then flushes the
// folder of `to` so that the rename survives a crash (best effort: some file
// systems refuse to sync folders). A failed rename is a DataLossError naming
// both paths.
absl::Status RenameDurably(const std::string& from, const std::string& to);

// Creates `dir` and its parents if missing.
absl::Status MakeDirectories(const std::string& dir);

}  // namespace loom

#endif  // LOOM_FRAMEWORK_FILE_UTIL_H_
