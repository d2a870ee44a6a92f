// Checkpoints: every parameter's name, shape and values in one binary file.
//
// Layout (little-endian): "LOOMCKPT", u32 version, u32 count, then per
// parameter: u32 name length, name, u32 rank, i64 dims..., f32 values...;
// last, a u64 FNV-1a checksum of everything before it. Files are written
// atomically; a truncated or altered file fails the checksum and is refused.
#ifndef LOOM_FRAMEWORK_CHECKPOINT_H_
#define LOOM_FRAMEWORK_CHECKPOINT_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "framework/executor.h"
#include "framework/proto/train_state.pb.h"

namespace loom {

// FNV-1a's 64-bit offset basis: the hash of no bytes.
inline constexpr uint64_t kFnv1a64Offset = 1469598103934665603ull;

// FNV-1a, 64 bits: the checksum of checkpoints and of the plugins a model
// folder carries (a check against damage, not against tampering). `seed`
// continues a hash over several pieces: pass the hash of the bytes before.
uint64_t Fnv1a64(const char* data, size_t n, uint64_t seed = kFnv1a64Offset);

absl::Status SaveCheckpoint(const std::vector<Parameter>& parameters,
                            const std::string& path);

// One parameter as a checkpoint holds it.
struct NamedTensor {
  std::string name;
  Tensor value;
};

// Every parameter of the checkpoint at `path`, in file order, checked
// (magic, version, checksum, shapes that fit the file); errors name the
// file.
absl::StatusOr<std::vector<NamedTensor>> ReadCheckpoint(
    const std::string& path);

// Loads values into `parameters`, which must match the file by name and
// shape, one for one.
absl::Status LoadCheckpoint(const std::string& path,
                            std::vector<Parameter>* parameters);

// In-memory copies, for restoring the best weights without touching disk.
std::vector<Tensor> SnapshotParameters(const std::vector<Parameter>& params);
void RestoreParameters(const std::vector<Tensor>& snapshot,
                       std::vector<Parameter>* params);

// A float32 tensor as a TensorState (resume checkpoints, resume.h).
void ToTensorState(const std::string& name, const Tensor& tensor,
                   TensorState* out);

// The values of `state` into `out`, which must be a float32 tensor of the
// same shape (an uninitialized `out` takes the state's shape); errors name
// `where` (the checkpoint) and the tensor.
absl::Status FromTensorState(const TensorState& state, const std::string& where,
                             Tensor* out);

}  // namespace loom

#endif  // LOOM_FRAMEWORK_CHECKPOINT_H_
