// Keras' weight initializers, applied to a parameter's tensor.
#ifndef LOOM_FRAMEWORK_INITIALIZERS_H_
#define LOOM_FRAMEWORK_INITIALIZERS_H_

#include <random>

#include "absl/status/status.h"
#include "framework/proto/graph.pb.h"
#include "framework/tensor.h"

namespace loom {

// Fills `tensor` (already shaped) as `init` says. Matrices are [fan_in,
// fan_out] (Keras' layout); with init.blocks() = k the last dimension is k
// side-by-side blocks, each initialized on its own. Errors name the problem;
// the caller adds the parameter's name.
absl::Status InitializeTensor(const InitializerDef& init, std::mt19937_64& rng,
                              Tensor* tensor);

}  // namespace loom

#endif  // LOOM_FRAMEWORK_INITIALIZERS_H_
