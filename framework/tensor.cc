#include "framework/tensor.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace loom {

const char* DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return "float32";
    case DType::kInt32:
      return "int32";
  }
  return "unknown";
}

size_t DTypeSize(DType dtype) { return 4; }

int64_t NumElements(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string ShapeToString(const Shape& shape) {
  return absl::StrCat(
      "[",
      absl::StrJoin(shape, ", ",
                    [](std::string* out, int64_t d) {
                      absl::StrAppend(
                          out, d < 0 ? std::string("?") : absl::StrCat(d));
                    }),
      "]");
}

bool IsFullyDefined(const Shape& shape) {
  return std::all_of(shape.begin(), shape.end(),
                     [](int64_t d) { return d >= 0; });
}

Tensor::Buffer::Buffer(size_t bytes) : capacity(bytes) {
  // aligned_alloc wants a size that is a multiple of the alignment.
  size_t rounded = std::max<size_t>(64, (bytes + 63) / 64 * 64);
  data = std::aligned_alloc(64, rounded);
}

Tensor::Buffer::~Buffer() { std::free(data); }

Tensor::Tensor(DType dtype, Shape shape) { ResizeZeroed(dtype, shape); }

Tensor Tensor::Scalar(float value) {
  Tensor t(DType::kFloat32, {});
  t.f32()[0] = value;
  return t;
}

Tensor Tensor::FromVector(Shape shape, const std::vector<float>& values) {
  Tensor t(DType::kFloat32, std::move(shape));
  std::copy_n(values.begin(),
              std::min<int64_t>(values.size(), t.num_elements()), t.f32());
  return t;
}

Tensor Tensor::FromVector(Shape shape, const std::vector<int32_t>& values) {
  Tensor t(DType::kInt32, std::move(shape));
  std::copy_n(values.begin(),
              std::min<int64_t>(values.size(), t.num_elements()), t.i32());
  return t;
}

void Tensor::Resize(DType dtype, const Shape& shape) {
  const int64_t n = NumElements(shape);
  const size_t bytes = n * DTypeSize(dtype);
  dtype_ = dtype;
  shape_ = shape;
  num_elements_ = n;
  if (buffer_ != nullptr && buffer_.use_count() == 1 &&
      buffer_->capacity >= bytes) {
    return;
  }
  buffer_ = std::make_shared<Buffer>(bytes);
}

void Tensor::ResizeZeroed(DType dtype, const Shape& shape) {
  Resize(dtype, shape);
  SetZero();
}

void Tensor::SetZero() {
  if (buffer_ != nullptr) std::memset(buffer_->data, 0, num_bytes());
}

Tensor Tensor::Clone() const {
  Tensor copy;
  copy.CopyFrom(*this);
  return copy;
}

void Tensor::CopyFrom(const Tensor& other) {
  if (this == &other) return;
  Resize(other.dtype_, other.shape_);
  if (other.num_elements_ > 0) {
    std::memcpy(raw(), other.raw(), other.num_bytes());
  }
}

std::string Tensor::DebugString(int max_values) const {
  std::string out =
      absl::StrCat(DTypeName(dtype_), ShapeToString(shape_), " {");
  const int64_t n = std::min<int64_t>(num_elements_, max_values);
  for (int64_t i = 0; i < n && buffer_; ++i) {
    if (i > 0) out += ", ";
    if (dtype_ == DType::kFloat32) {
      absl::StrAppend(&out, f32()[i]);
    } else {
      absl::StrAppend(&out, i32()[i]);
    }
  }
  if (num_elements_ > n) out += ", ...";
  out += "}";
  return out;
}

}  // namespace loom
