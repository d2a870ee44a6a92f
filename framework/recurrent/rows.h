// Elementwise loops on float rows, vectorized by hand where the build
// allows (GCC's -O2 leaves loops of unknown length scalar). Each output
// element is one multiply and/or one add whatever the path, so the
// vectorized and scalar loops give the same bits.
#ifndef LOOM_FRAMEWORK_RECURRENT_ROWS_H_
#define LOOM_FRAMEWORK_RECURRENT_ROWS_H_

#include <cstdint>
#include <cstring>
#include <vector>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define LOOM_RECURRENT_AVX2 1
#endif

namespace loom {
namespace recurrent {

// out[i] = a[i] * b[i] + (c == nullptr ? 0 : c[i]); out may alias a or c.
inline void MulAdd(const float* a, const float* b, const float* c, int64_t n,
                   float* out) {
  int64_t i = 0;
#ifdef LOOM_RECURRENT_AVX2
  for (; i + 8 <= n; i += 8) {
    const __m256 ab =
        _mm256_mul_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
    _mm256_storeu_ps(
        out + i, c == nullptr ? ab : _mm256_add_ps(ab, _mm256_loadu_ps(c + i)));
  }
#endif
  for (; i < n; ++i) out[i] = a[i] * b[i] + (c == nullptr ? 0.0f : c[i]);
}

// out[i] += a[i].
inline void AddTo(const float* a, int64_t n, float* out) {
  int64_t i = 0;
#ifdef LOOM_RECURRENT_AVX2
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(out + i, _mm256_add_ps(_mm256_loadu_ps(out + i),
                                            _mm256_loadu_ps(a + i)));
  }
#endif
  for (; i < n; ++i) out[i] += a[i];
}

// out[i] (+)= in[i] * scale[i] (scale may be nullptr: 1).
inline void CopyRow(const float* in, const float* scale, int64_t size,
                    bool accumulate, float* out) {
  if (scale != nullptr) {
    MulAdd(in, scale, accumulate ? out : nullptr, size, out);
  } else if (accumulate) {
    AddTo(in, size, out);
  } else {
    std::memcpy(out, in, size * sizeof(float));
  }
}

// out[i] = 0 for i < size, unless accumulating (adding zeros).
inline void ZeroRow(int64_t size, bool accumulate, float* out) {
  if (!accumulate) std::memset(out, 0, size * sizeof(float));
}

// The mask's data, or nullptr for an empty (inactive) mask.
inline const float* MaskOrNull(const std::vector<float>& mask) {
  return mask.empty() ? nullptr : mask.data();
}

}  // namespace recurrent
}  // namespace loom

#endif  // LOOM_FRAMEWORK_RECURRENT_ROWS_H_
