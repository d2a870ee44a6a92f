// --threads, as every job takes it: checked against this machine's cores,
// then given to oneDNN's kernels (through OpenMP).
#ifndef LOOM_FRAMEWORK_TRAINING_THREADS_H_
#define LOOM_FRAMEWORK_TRAINING_THREADS_H_

#include "absl/status/status.h"

namespace loom {

// The most threads --threads accepts: 4 per core.
int MaxThreads();

// --threads: 0 (all cores) up to MaxThreads(); an error naming the flag
// otherwise. The jobs check it first.
absl::Status CheckThreads(int threads);

// Sets the number of threads oneDNN's kernels use (0: all cores; at most
// MaxThreads()), and has them flush denormals to zero
// (framework/denormals.h).
void SetThreads(int threads);

}  // namespace loom

#endif  // LOOM_FRAMEWORK_TRAINING_THREADS_H_
