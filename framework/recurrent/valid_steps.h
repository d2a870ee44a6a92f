// Masks and sequence lengths of a recurrent layer's batch.
#ifndef LOOM_FRAMEWORK_RECURRENT_VALID_STEPS_H_
#define LOOM_FRAMEWORK_RECURRENT_VALID_STEPS_H_

#include <cstdint>
#include <vector>

namespace loom {
namespace recurrent {

// Which steps of each row are valid (a mask's nonzero entries; every step
// without a mask), how many there are, and where they go when a row's valid
// steps are gathered, in order, into aligned steps 0..length(n)-1: the
// forward direction takes them in time order, the reverse one from the last
// backwards (so a left-to-right pass over the aligned copy is a
// right-to-left pass over the row). A masked step leaves a recurrent state
// unchanged, so the states at a row's valid steps are those of the
// recurrence run over its aligned copy; any mask works, contiguous or not.
class ValidSteps {
 public:
  // Reads `mask` ([N, T] floats, nonzero = valid; nullptr: every step
  // valid).
  void Read(const float* mask, int64_t batch, int64_t steps) {
    steps_ = steps;
    has_mask_ = mask != nullptr;
    contiguous_ = true;
    max_length_ = batch > 0 ? steps : 0;
    length_.clear();
    times_.clear();
    position_.clear();
    if (!has_mask_) return;
    max_length_ = 0;
    length_.assign(batch, 0);
    times_.resize(batch * steps);
    position_.resize(batch * steps);
    for (int64_t n = 0; n < batch; ++n) {
      int32_t len = 0;
      int64_t first = -1, last = -1;
      for (int64_t t = 0; t < steps; ++t) {
        const int64_t i = n * steps + t;
        if (mask[i] == 0.0f) {
          position_[i] = -1;
          continue;
        }
        if (first < 0) first = t;
        last = t;
        times_[n * steps + len] = static_cast<int32_t>(t);
        position_[i] = len++;
      }
      length_[n] = len;
      if (len > max_length_) max_length_ = len;
      if (len > 0 && len != last + 1 - first) contiguous_ = false;
    }
  }

  // Whether every row's valid steps form one block.
  bool contiguous() const { return contiguous_; }
  // The longest row's number of valid steps.
  int64_t max_length() const { return max_length_; }
  // Row n's number of valid steps.
  int64_t length(int64_t n) const { return has_mask_ ? length_[n] : steps_; }
  bool valid(int64_t n, int64_t t) const {
    return !has_mask_ || position_[n * steps_ + t] >= 0;
  }
  // The time step at aligned position a < length(n) for direction k
  // (0 forward: the a-th valid step; 1 reverse: the a-th from the end).
  int64_t Time(int k, int64_t n, int64_t a) const {
    if (!has_mask_) return k == 0 ? a : steps_ - 1 - a;
    const int64_t i = k == 0 ? a : length_[n] - 1 - a;
    return times_[n * steps_ + i];
  }
  // The inverse: the aligned position of time t for direction k, or -1 if
  // t is masked.
  int64_t Position(int k, int64_t n, int64_t t) const {
    if (!has_mask_) return k == 0 ? t : steps_ - 1 - t;
    const int32_t p = position_[n * steps_ + t];
    if (p < 0) return -1;
    return k == 0 ? p : length_[n] - 1 - p;
  }

 private:
  int64_t steps_ = 0;
  bool has_mask_ = false;
  bool contiguous_ = true;
  int64_t max_length_ = 0;
  std::vector<int32_t> length_;    // [N]
  std::vector<int32_t> times_;     // [N, T]: row n's valid steps, first len.
  std::vector<int32_t> position_;  // [N, T]: forward position, -1 masked.
};

}  // namespace recurrent
}  // namespace loom

#endif  // LOOM_FRAMEWORK_RECURRENT_VALID_STEPS_H_
