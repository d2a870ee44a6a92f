// Paths as the user typed them on a tool's command line.
#ifndef LOOM_FRAMEWORK_TRAINING_USER_PATH_H_
#define LOOM_FRAMEWORK_TRAINING_USER_PATH_H_

#include <string>

namespace loom {

// A path as the user meant it: relative paths are taken from the folder
// `bazel run` was started in (BUILD_WORKING_DIRECTORY), if any.
std::string UserPath(const std::string& path);

}  // namespace loom

#endif  // LOOM_FRAMEWORK_TRAINING_USER_PATH_H_
