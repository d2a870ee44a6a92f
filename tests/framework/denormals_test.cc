// FlushDenormalsInKernelThreads: off by default, then on in the calling
// thread and every OpenMP thread, where a denormal product becomes zero.
#include "framework/denormals.h"

#include <omp.h>

#include <cfloat>
#include <vector>

#include "gtest/gtest.h"

namespace loom {
namespace {

// A denormal times one, computed where the compiler cannot fold it.
float DenormalTimesOne() {
  volatile float denormal = FLT_MIN / 4;  // Below the smallest normal.
  volatile float one = 1.0f;
  return denormal * one;
}

TEST(DenormalsTest, FlushedInTheCallingThreadAndTheOpenMpTeam) {
  omp_set_num_threads(3);
  ASSERT_FALSE(FlushesDenormals());  // The process default.
  EXPECT_GT(DenormalTimesOne(), 0.0f);

  FlushDenormalsInKernelThreads();
  EXPECT_TRUE(FlushesDenormals());
  EXPECT_EQ(DenormalTimesOne(), 0.0f);
  std::vector<int> flushed(3, -1);
  std::vector<float> products(3, -1);
#pragma omp parallel num_threads(3)
  {
    const int i = omp_get_thread_num();
    flushed[i] = FlushesDenormals() ? 1 : 0;
    products[i] = DenormalTimesOne();
  }
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(flushed[i], 1) << "OpenMP thread " << i;
    EXPECT_EQ(products[i], 0.0f) << "OpenMP thread " << i;
  }
}

}  // namespace
}  // namespace loom
