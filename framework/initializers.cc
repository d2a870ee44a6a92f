#include "framework/initializers.h"

#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"

namespace loom {
namespace {

// Fills a rows x cols block (row stride `stride`) with an orthogonal matrix
// as Keras does: QR of a normal matrix, with Q's columns signed by R's
// diagonal so the result is uniformly distributed.
void FillOrthogonal(std::mt19937_64& rng, int64_t rows, int64_t cols,
                    int64_t stride, float gain, float* out) {
  // Work on the taller orientation so Gram-Schmidt has enough room.
  const bool transpose = rows < cols;
  const int64_t m = transpose ? cols : rows;  // Vector length.
  const int64_t n = transpose ? rows : cols;  // Number of vectors (n <= m).
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<double> q(n * m);
  for (double& x : q) x = normal(rng);
  // Modified Gram-Schmidt, twice for numerical orthogonality.
  for (int64_t j = 0; j < n; ++j) {
    double* v = &q[j * m];
    for (int pass = 0; pass < 2; ++pass) {
      for (int64_t k = 0; k < j; ++k) {
        const double* u = &q[k * m];
        double dot = 0;
        for (int64_t t = 0; t < m; ++t) dot += u[t] * v[t];
        for (int64_t t = 0; t < m; ++t) v[t] -= dot * u[t];
      }
    }
    double norm = 0;
    for (int64_t t = 0; t < m; ++t) norm += v[t] * v[t];
    norm = std::sqrt(norm);
    for (int64_t t = 0; t < m; ++t) v[t] /= norm;
  }
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      // Vector j, component t.
      double x = transpose ? q[r * m + c] : q[c * m + r];
      out[r * stride + c] = static_cast<float>(gain * x);
    }
  }
}

}  // namespace

absl::Status InitializeTensor(const InitializerDef& init, std::mt19937_64& rng,
                              Tensor* tensor) {
  if (tensor->dtype() != DType::kFloat32) {
    return absl::InvalidArgumentError("only float32 values are initialized");
  }
  float* data = tensor->f32();
  const int64_t n = tensor->num_elements();
  const Shape& shape = tensor->shape();
  const int64_t last = shape.empty() ? 1 : shape.back();
  if (init.blocks() < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "blocks must be >= 1 (0 or unset: 1), got ", init.blocks()));
  }
  const int64_t blocks = init.blocks() > 1 ? init.blocks() : 1;
  if (last % blocks != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "blocks=", blocks, " does not divide the last dimension ", last));
  }
  const int64_t block_cols = last / blocks;
  const int64_t rows = n / last;

  switch (init.kind_case()) {
    case InitializerDef::kZeros:
    case InitializerDef::KIND_NOT_SET:
      tensor->SetZero();
      return absl::OkStatus();
    case InitializerDef::kOnes:
      std::fill_n(data, n, 1.0f);
      return absl::OkStatus();
    case InitializerDef::kConstant:
      if (!std::isfinite(init.constant().value())) {
        return absl::InvalidArgumentError(
            absl::StrCat("constant value must be a finite number, got ",
                         init.constant().value()));
      }
      std::fill_n(data, n, init.constant().value());
      return absl::OkStatus();
    case InitializerDef::kSegments:
      tensor->SetZero();
      for (const auto& seg : init.segments().segment()) {
        if (seg.begin() < 0 || seg.end() > last || seg.begin() > seg.end()) {
          return absl::InvalidArgumentError(
              absl::StrCat("segment [", seg.begin(), ", ", seg.end(),
                           ") is outside the last dimension ", last));
        }
        if (!std::isfinite(seg.value())) {
          return absl::InvalidArgumentError(absl::StrCat(
              "segment [", seg.begin(), ", ", seg.end(),
              "): value must be a finite number, got ", seg.value()));
        }
        for (int64_t r = 0; r < rows; ++r) {
          for (int64_t c = seg.begin(); c < seg.end(); ++c) {
            data[r * last + c] = seg.value();
          }
        }
      }
      return absl::OkStatus();
    case InitializerDef::kUniform: {
      float lo = init.uniform().minval(), hi = init.uniform().maxval();
      if (lo == 0 && hi == 0) {  // Keras' RandomUniform default.
        lo = -0.05f;
        hi = 0.05f;
      }
      if (!(lo < hi) || !std::isfinite(lo) || !std::isfinite(hi)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "uniform needs finite minval < maxval, got ", lo, " and ", hi));
      }
      std::uniform_real_distribution<float> dist(lo, hi);
      for (int64_t i = 0; i < n; ++i) data[i] = dist(rng);
      return absl::OkStatus();
    }
    case InitializerDef::kGlorotUniform: {
      // Keras: fan_in = rows (all but the last dim), fan_out = block cols.
      const double fan_in = shape.size() >= 2 ? rows : last;
      const double fan_out = block_cols;
      const float limit =
          static_cast<float>(std::sqrt(6.0 / (fan_in + fan_out)));
      std::uniform_real_distribution<float> dist(-limit, limit);
      for (int64_t i = 0; i < n; ++i) data[i] = dist(rng);
      return absl::OkStatus();
    }
    case InitializerDef::kOrthogonal: {
      if (shape.size() < 2) {
        return absl::InvalidArgumentError(absl::StrCat(
            "orthogonal needs a matrix, got shape ", ShapeToString(shape)));
      }
      const float gain =
          init.orthogonal().gain() == 0 ? 1.0f : init.orthogonal().gain();
      if (!std::isfinite(gain)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "orthogonal gain must be a finite number, got ", gain));
      }
      for (int64_t b = 0; b < blocks; ++b) {
        FillOrthogonal(rng, rows, block_cols, last, gain,
                       data + b * block_cols);
      }
      return absl::OkStatus();
    }
  }
  return absl::InvalidArgumentError("unknown initializer");
}

}  // namespace loom
