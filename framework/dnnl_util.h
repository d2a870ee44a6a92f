// Small helpers for kernels that call oneDNN on Loom tensors.
#ifndef LOOM_FRAMEWORK_DNNL_UTIL_H_
#define LOOM_FRAMEWORK_DNNL_UTIL_H_

#include "absl/status/status.h"
#include "framework/tensor.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace loom {

dnnl::memory::dims ToDims(const Shape& shape);

// A plain row-major f32/s32 descriptor of `shape` ("abc..." layout).
dnnl::memory::desc PlainDesc(const Shape& shape, DType dtype = DType::kFloat32);

// Wraps the tensor's buffer (no copy) as a oneDNN memory with a plain layout
// or with `desc` when given.
dnnl::memory WrapTensor(const dnnl::engine& engine, const Tensor& tensor);
dnnl::memory WrapTensor(const dnnl::engine& engine, const Tensor& tensor,
                        const dnnl::memory::desc& desc);

// Runs `fn`, turning a dnnl::error into a Status (oneDNN reports errors by
// exception; none may cross Loom's API).
template <typename Fn>
absl::Status DnnlCall(const char* what, Fn&& fn) {
  try {
    fn();
  } catch (const dnnl::error& e) {
    return absl::InternalError(std::string("oneDNN ") + what +
                               " failed: " + e.what());
  }
  return absl::OkStatus();
}

}  // namespace loom

#endif  // LOOM_FRAMEWORK_DNNL_UTIL_H_
