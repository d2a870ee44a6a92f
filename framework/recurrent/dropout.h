// Dropout masks of a recurrent layer (Keras' dropout and recurrent_dropout:
// one mask per sequence, the same at every step). The LSTM uses them; a
// recurrent op gaining Keras' dropout draws the same way.
#ifndef LOOM_FRAMEWORK_RECURRENT_DROPOUT_H_
#define LOOM_FRAMEWORK_RECURRENT_DROPOUT_H_

#include <array>
#include <cstdint>
#include <random>
#include <vector>

namespace loom {
namespace recurrent {

// Dropout masks of the current step, scaled by 1 / (1 - rate); empty when
// that dropout is inactive.
struct DropoutMasks {
  std::array<std::vector<float>, 2> input;      // [N, C] per direction.
  std::array<std::vector<float>, 2> recurrent;  // [N, H] per direction.

  void Clear() {
    for (int k = 0; k < 2; ++k) {
      input[k].clear();
      recurrent[k].clear();
    }
  }
  bool has_recurrent() const { return !recurrent[0].empty(); }
};

// A uniform draw in [0, 1) from the top 53 bits, the same on every standard
// library (as the Dropout op draws).
inline double Uniform(std::mt19937_64& rng) {
  return static_cast<double>(rng() >> 11) * 0x1.0p-53;
}

// `size` draws: 1 / (1 - rate) with probability 1 - rate, else 0.
inline void DrawMask(float rate, int64_t size, std::mt19937_64& rng,
                     std::vector<float>* mask) {
  mask->resize(size);
  const float scale = 1.0f / (1.0f - rate);
  for (float& m : *mask) m = Uniform(rng) >= rate ? scale : 0.0f;
}

}  // namespace recurrent
}  // namespace loom

#endif  // LOOM_FRAMEWORK_RECURRENT_DROPOUT_H_
