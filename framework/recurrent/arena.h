// Buffer memory shared by the primitive sets of one path of a recurrent
// kernel.
//
// A path (the LSTM's fused or stepwise one, the GRU's) keeps one Arena
// sized for the largest problem it has seen, rather than buffers per shape:
// every primitive set of the path lays its buffers out in a BufferLayout
// and points them into the arena when it is used. That is safe as long as
// the only state that must outlive a call (a training forward's activations
// and workspace) is read only by the Backward that follows it, with no
// other call of the path in between; the ops' kernels keep it so.
#ifndef LOOM_FRAMEWORK_RECURRENT_ARENA_H_
#define LOOM_FRAMEWORK_RECURRENT_ARENA_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace loom {
namespace recurrent {

inline constexpr size_t kBufferAlignment = 64;

inline size_t AlignUp(size_t bytes) {
  return (bytes + kBufferAlignment - 1) / kBufferAlignment * kBufferAlignment;
}

// Offsets of buffers within one block, each kBufferAlignment-aligned.
class BufferLayout {
 public:
  size_t Add(size_t bytes) {
    const size_t offset = size_;
    size_ += AlignUp(bytes);
    return offset;
  }
  size_t AddFloats(int64_t count) { return Add(count * sizeof(float)); }
  size_t size() const { return size_; }

 private:
  size_t size_ = 0;
};

// One kBufferAlignment-aligned block, grown (never shrunk) to the largest
// size asked for, so a path holds the buffers of its largest problem
// rather than the sum over every shape it has seen. Growing discards the
// contents; with `zeroed`, the block is all zeros after growing (for
// buffers nothing writes to).
class Arena {
 public:
  explicit Arena(bool zeroed = false) : zeroed_(zeroed) {}

  // The block, at least `bytes` long; the same block, contents kept, as long
  // as no larger size was asked for since. nullptr if allocation failed.
  char* Reserve(size_t bytes) {
    if (bytes <= size_ && data_ != nullptr) return data_.get();
    data_.reset();  // Not needed any more: keep the peak down.
    size_ = 0;
    const size_t size = AlignUp(std::max<size_t>(bytes, 1));
    data_.reset(static_cast<char*>(std::aligned_alloc(kBufferAlignment, size)));
    if (data_ == nullptr) return nullptr;
    size_ = size;
    if (zeroed_) std::memset(data_.get(), 0, size_);
    return data_.get();
  }

 private:
  struct Free {
    void operator()(char* p) const { std::free(p); }
  };
  const bool zeroed_;
  std::unique_ptr<char, Free> data_;
  size_t size_ = 0;
};

// "<layer>: cannot allocate <bytes> bytes of buffers".
inline absl::Status OutOfMemory(absl::string_view layer, size_t bytes) {
  return absl::ResourceExhaustedError(
      absl::StrCat(layer, ": cannot allocate ", bytes, " bytes of buffers"));
}

// arena.Reserve(bytes), or OutOfMemory(layer, bytes).
inline absl::StatusOr<char*> Reserve(Arena& arena, size_t bytes,
                                     absl::string_view layer) {
  char* base = arena.Reserve(bytes);
  if (base == nullptr) return OutOfMemory(layer, bytes);
  return base;
}

}  // namespace recurrent
}  // namespace loom

#endif  // LOOM_FRAMEWORK_RECURRENT_ARENA_H_
