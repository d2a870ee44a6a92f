#include "framework/tensor.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
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

absl::StatusOr<int64_t> TensorBytes(DType dtype, const Shape& shape) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  int64_t bytes = static_cast<int64_t>(DTypeSize(dtype));
  for (const int64_t d : shape) {
    if (d < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "shape ", ShapeToString(shape), " is not fully defined"));
    }
    if (d != 0 && bytes > kMax / d) {
      return absl::OutOfRangeError(absl::StrCat(
          DTypeName(dtype), ShapeToString(shape),
          " has more bytes than fit in 64 bits (more than 8 EiB)"));
    }
    bytes *= d;
  }
  return bytes;
}

namespace {

constexpr char kMemoryLimitVariable[] = "LOOM_MEMORY_LIMIT";
constexpr double kDefaultMemoryFraction = 0.5;

int64_t PhysicalMemoryBytes() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page_size = sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page_size <= 0) return int64_t{1} << 34;  // 16 GiB.
  return static_cast<int64_t>(pages) * page_size;
}

struct DefaultLimit {
  int64_t bytes;
  std::string source;
};

// LOOM_MEMORY_LIMIT or 50% of physical memory; a value that does not parse
// is ignored (the default applies, and its source says so).
const DefaultLimit& GetDefaultLimit() {
  static const DefaultLimit* limit = [] {
    const int64_t physical = PhysicalMemoryBytes();
    auto* l = new DefaultLimit{
        static_cast<int64_t>(physical * kDefaultMemoryFraction),
        absl::StrFormat("%.0f%% of physical memory; set %s to change it",
                        kDefaultMemoryFraction * 100, kMemoryLimitVariable)};
    const char* env = std::getenv(kMemoryLimitVariable);
    if (env != nullptr && *env != '\0') {
      absl::StatusOr<int64_t> parsed = ParseMemoryLimit(env, physical);
      if (parsed.ok()) {
        l->bytes = *parsed;
        l->source = absl::StrCat(kMemoryLimitVariable, "=", env);
      } else {
        absl::StrAppend(&l->source, "; ", kMemoryLimitVariable, "='", env,
                        "' was ignored: ", parsed.status().message());
      }
    }
    return l;
  }();
  return *limit;
}

std::atomic<int64_t> memory_limit_override{0};

}  // namespace

absl::StatusOr<int64_t> ParseMemoryLimit(absl::string_view text,
                                         int64_t physical_bytes) {
  absl::string_view t = absl::StripAsciiWhitespace(text);
  const auto bad = [&] {
    return absl::InvalidArgumentError(absl::StrCat(
        "expected a percentage of physical memory (50%) or a positive size "
        "in bytes, optionally with K, M, G or T (8G), got '",
        text, "'"));
  };
  if (t.empty()) return bad();
  double scale = 1;
  const char last = absl::ascii_toupper(t.back());
  if (last == '%') {
    scale = physical_bytes / 100.0;
  } else if (last == 'K' || last == 'M' || last == 'G' || last == 'T') {
    scale = std::ldexp(1.0, last == 'K'   ? 10
                            : last == 'M' ? 20
                            : last == 'G' ? 30
                                          : 40);
  }
  if (scale != 1 || last == '%') t.remove_suffix(1);
  double value = 0;
  if (!absl::SimpleAtod(t, &value) || !std::isfinite(value) || value <= 0) {
    return bad();
  }
  const double bytes = value * scale;
  if (bytes < 1 || bytes >= 9.2e18) return bad();
  return static_cast<int64_t>(bytes);
}

int64_t MemoryLimitBytes() {
  const int64_t set = memory_limit_override.load(std::memory_order_relaxed);
  return set > 0 ? set : GetDefaultLimit().bytes;
}

std::string MemoryLimitSource() {
  return memory_limit_override.load(std::memory_order_relaxed) > 0
             ? std::string("set by the program")
             : GetDefaultLimit().source;
}

void SetMemoryLimitBytes(int64_t bytes) {
  memory_limit_override.store(bytes > 0 ? bytes : 0, std::memory_order_relaxed);
}

std::string FormatBytes(int64_t bytes) {
  if (bytes < 1024) return absl::StrCat(bytes, " bytes");
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB",
                                           "TiB", "PiB", "EiB"};
  double value = static_cast<double>(bytes);
  int unit = -1;
  while (value >= 1024 && unit < 5) {
    value /= 1024;
    ++unit;
  }
  return absl::StrFormat("%.1f %s", value, kUnits[unit]);
}

absl::Status CheckMemory(int64_t bytes, absl::string_view what,
                         absl::string_view details) {
  const int64_t limit = MemoryLimitBytes();
  if (bytes <= limit) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrCat(
      what, " needs ", FormatBytes(bytes), " (", bytes,
      " bytes), more than the memory limit of ", FormatBytes(limit), " (",
      MemoryLimitSource(), ")", details.empty() ? "" : ": ", details));
}

Tensor::Buffer::Buffer(size_t bytes) : capacity(bytes) {
  // aligned_alloc wants a size that is a multiple of the alignment.
  if (bytes > std::numeric_limits<size_t>::max() - 127) throw std::bad_alloc();
  size_t rounded = std::max<size_t>(64, (bytes + 63) / 64 * 64);
  data = std::aligned_alloc(64, rounded);
  // Never hand out a null buffer for kernels to write through.
  if (data == nullptr) throw std::bad_alloc();
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
