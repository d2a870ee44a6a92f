// Denormal floats flushed to zero in the threads that run kernels, as
// TensorFlow does by default. A gradient that shrinks through many time
// steps of a recurrent layer reaches the denormal range (below about
// 1.2e-38), where x86 arithmetic is tens of times slower: on random data
// at pipeline 1's shape the LSTM's training step ran about 10x slower
// without this (tests/ops/lstm_benchmark). Flushing changes only values
// that small, which no model's output depends on.
#ifndef LOOM_FRAMEWORK_DENORMALS_H_
#define LOOM_FRAMEWORK_DENORMALS_H_

namespace loom {

// Sets flush-to-zero and denormals-are-zero (MXCSR FTZ and DAZ) on the
// calling thread and on every thread of its OpenMP team, which oneDNN's
// kernels run on; threads the team creates later inherit it from the
// calling thread. Call it after setting the thread count and before the
// first kernel runs (the jobs do, in SetThreads; the Predictor does on its
// model thread). No-op where the CPU is not x86.
void FlushDenormalsInKernelThreads();

// Whether the calling thread flushes denormals (FTZ and DAZ both set).
bool FlushesDenormals();

}  // namespace loom

#endif  // LOOM_FRAMEWORK_DENORMALS_H_
