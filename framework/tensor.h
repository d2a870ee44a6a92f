// Tensor: a dense, row-major, 64-byte-aligned array of float32 or int32.
//
// Copies share the buffer (like TensorFlow's Tensor); Resize() reuses the
// buffer when it is large enough and not shared, so kernels that resize their
// outputs every step do not allocate on the hot path.
#ifndef LOOM_FRAMEWORK_TENSOR_H_
#define LOOM_FRAMEWORK_TENSOR_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace loom {

enum class DType { kFloat32, kInt32 };

const char* DTypeName(DType dtype);
size_t DTypeSize(DType dtype);

// Dimensions; -1 marks a dimension known only at run time (in shape
// inference). Tensors themselves always have concrete dimensions.
using Shape = std::vector<int64_t>;

int64_t NumElements(const Shape& shape);
std::string ShapeToString(const Shape& shape);
bool IsFullyDefined(const Shape& shape);

// The bytes a tensor of `dtype` and `shape` takes; an error (not a wrapped
// product) when a dimension is negative or the size does not fit in int64.
absl::StatusOr<int64_t> TensorBytes(DType dtype, const Shape& shape);

// The memory limit: the most bytes one model's tensors may ask for before
// Loom refuses to allocate them (a huge parameter, num_words or max_len),
// with an error instead of a failed allocation. Set by the environment
// variable LOOM_MEMORY_LIMIT, read once: a percentage of physical memory
// ("50%") or a size in bytes with an optional K, M, G or T suffix (powers
// of 1024: "8G"). Default: 50% of physical memory.
int64_t MemoryLimitBytes();
// Where the limit came from, for messages: "50% of physical memory" or
// "LOOM_MEMORY_LIMIT=8G".
std::string MemoryLimitSource();
// Overrides the limit (0 goes back to LOOM_MEMORY_LIMIT or the default).
void SetMemoryLimitBytes(int64_t bytes);
// Parses a LOOM_MEMORY_LIMIT value against `physical_bytes`.
absl::StatusOr<int64_t> ParseMemoryLimit(absl::string_view text,
                                         int64_t physical_bytes);
// OK if `bytes` is within the memory limit, else a ResourceExhausted error:
// "<what> needs <size>, more than the memory limit of <limit> (<source>)",
// then ": <details>" if given.
absl::Status CheckMemory(int64_t bytes, absl::string_view what,
                         absl::string_view details = "");
// "1.5 GiB", "512 bytes".
std::string FormatBytes(int64_t bytes);

class Tensor {
 public:
  Tensor() = default;
  // Allocates a zero-filled tensor. A failed allocation throws
  // std::bad_alloc, as operator new does; sizes that come from outside
  // (model files, flags) are checked against MemoryLimitBytes() first.
  Tensor(DType dtype, Shape shape);

  static Tensor Scalar(float value);
  static Tensor FromVector(Shape shape, const std::vector<float>& values);
  static Tensor FromVector(Shape shape, const std::vector<int32_t>& values);

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int i) const { return shape_[i]; }
  int64_t num_elements() const { return num_elements_; }
  size_t num_bytes() const { return num_elements_ * DTypeSize(dtype_); }
  bool is_initialized() const { return buffer_ != nullptr; }

  float* f32() { return static_cast<float*>(raw()); }
  const float* f32() const { return static_cast<const float*>(raw()); }
  int32_t* i32() { return static_cast<int32_t*>(raw()); }
  const int32_t* i32() const { return static_cast<const int32_t*>(raw()); }
  absl::Span<float> flat() { return {f32(), size_t(num_elements_)}; }
  absl::Span<const float> flat() const {
    return {f32(), size_t(num_elements_)};
  }
  void* raw() { return buffer_ ? buffer_->data : nullptr; }
  const void* raw() const { return buffer_ ? buffer_->data : nullptr; }

  // Gives the tensor this dtype and shape. Contents are unspecified unless
  // the buffer was kept and the element count is unchanged.
  void Resize(DType dtype, const Shape& shape);
  // Resize() followed by zero-filling.
  void ResizeZeroed(DType dtype, const Shape& shape);
  void SetZero();
  // A deep copy with its own buffer.
  Tensor Clone() const;
  // Copies `other`'s contents into this tensor's buffer (resizing first).
  void CopyFrom(const Tensor& other);

  std::string DebugString(int max_values = 8) const;

 private:
  struct Buffer {
    explicit Buffer(size_t bytes);
    ~Buffer();
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;
    void* data = nullptr;
    size_t capacity = 0;
  };

  DType dtype_ = DType::kFloat32;
  Shape shape_;
  int64_t num_elements_ = 0;
  std::shared_ptr<Buffer> buffer_;
};

}  // namespace loom

#endif  // LOOM_FRAMEWORK_TENSOR_H_
