// Fuzz target: LoadCheckpoint (framework/checkpoint.h) into a fixed set of
// parameters, as a model's weights are restored.
//
// A checkpoint ends with a checksum of everything before it, so nearly every
// mutated file would stop at the checksum. Each input is therefore loaded
// twice: as it is, and with its last 8 bytes replaced by the right checksum
// of the rest, which takes the parser past the check to every field.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "framework/checkpoint.h"
#include "framework/executor.h"
#include "framework/tensor.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

// The checkpoint's checksum, as framework/checkpoint.cc computes it.
uint64_t Fnv1a(const uint8_t* data, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; ++i) {
    h ^= data[i];
    h *= 1099511628211ull;
  }
  return h;
}

// What the corpus's checkpoints were saved from (tests/fuzz/README.md):
// "dense/kernel" [2, 3] and "dense/bias" [3].
std::vector<loom::Parameter> ModelParameters() {
  std::vector<loom::Parameter> params(2);
  params[0].name = "dense/kernel";
  params[0].value = loom::Tensor(loom::DType::kFloat32, {2, 3});
  params[1].name = "dense/bias";
  params[1].value = loom::Tensor(loom::DType::kFloat32, {3});
  return params;
}

void Load(const uint8_t* data, size_t size) {
  std::vector<loom::Parameter> params = ModelParameters();
  const std::string& path = loom::fuzz::WriteInputFile(data, size, ".ckpt");
  if (!loom::LoadCheckpoint(path, &params).ok()) return;
  // Loaded: the parameters keep their names and shapes.
  const std::vector<loom::Parameter> expected = ModelParameters();
  for (size_t i = 0; i < params.size(); ++i) {
    if (params[i].name != expected[i].name ||
        params[i].value.shape() != expected[i].value.shape()) {
      loom::fuzz::Fail("LoadCheckpoint changed a parameter's name or shape");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Load(data, size);
  if (size >= 8) {
    std::vector<uint8_t> fixed(data, data + size);
    const uint64_t sum = Fnv1a(fixed.data(), size - 8);
    std::memcpy(fixed.data() + size - 8, &sum, 8);
    Load(fixed.data(), fixed.size());
  }
  return 0;
}
