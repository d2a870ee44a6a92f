#include "framework/training/threads.h"

#include <omp.h>

#include <algorithm>
#include <thread>

#include "absl/strings/str_cat.h"
#include "framework/denormals.h"

namespace loom {

int MaxThreads() {
  const unsigned cores = std::thread::hardware_concurrency();
  return 4 * static_cast<int>(cores > 0 ? cores : 1);
}

absl::Status CheckThreads(int threads) {
  if (threads < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--threads must be >= 0 (0: all cores), got ", threads));
  }
  if (threads > MaxThreads()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--threads=", threads, " is more than ", MaxThreads(),
                     ", 4 per core on this machine's ", MaxThreads() / 4,
                     " cores; more threads only wait for each other"));
  }
  return absl::OkStatus();
}

void SetThreads(int threads) {
  if (threads > 0) omp_set_num_threads(std::min(threads, MaxThreads()));
  FlushDenormalsInKernelThreads();
}

}  // namespace loom
