#include "framework/training/user_path.h"

#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace loom {

std::string UserPath(const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  const char* wd = std::getenv("BUILD_WORKING_DIRECTORY");
  return wd != nullptr ? absl::StrCat(wd, "/", path) : path;
}

}  // namespace loom
