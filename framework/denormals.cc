#include "framework/denormals.h"

#include <omp.h>

#if defined(__SSE__)
#include <xmmintrin.h>
#endif

namespace loom {
namespace {

#if defined(__SSE__)
constexpr unsigned kFlushToZero = 0x8000;       // MXCSR bit 15.
constexpr unsigned kDenormalsAreZero = 0x0040;  // MXCSR bit 6.
#endif

void FlushOnThisThread() {
#if defined(__SSE__)
  _mm_setcsr(_mm_getcsr() | kFlushToZero | kDenormalsAreZero);
#endif
}

}  // namespace

void FlushDenormalsInKernelThreads() {
  FlushOnThisThread();
#pragma omp parallel
  FlushOnThisThread();
}

bool FlushesDenormals() {
#if defined(__SSE__)
  const unsigned both = kFlushToZero | kDenormalsAreZero;
  return (_mm_getcsr() & both) == both;
#else
  return false;
#endif
}

}  // namespace loom
