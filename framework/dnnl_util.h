// Small helpers for kernels that call oneDNN on Loom tensors.
#ifndef LOOM_FRAMEWORK_DNNL_UTIL_H_
#define LOOM_FRAMEWORK_DNNL_UTIL_H_

#include <string>
#include <unordered_map>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
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

// The Status for a oneDNN error: "oneDNN <what> failed: <oneDNN's message>
// (dnnl_<status>)", then `details` when not empty, then how to see more:
// run with ONEDNN_VERBOSE=1, and compare the arguments given to execute()
// with the primitive descriptor's query_md(query::exec_arg_md, DNNL_ARG_*).
// DnnlCall and DnnlExecute use it.
absl::Status DnnlErrorStatus(absl::string_view what, const dnnl::error& error,
                             absl::string_view details = "");

// Runs `fn`, turning a dnnl::error into a Status (oneDNN reports errors by
// exception; none may cross Loom's API).
template <typename Fn>
absl::Status DnnlCall(const char* what, Fn&& fn) {
  try {
    fn();
  } catch (const dnnl::error& e) {
    return DnnlErrorStatus(what, e);
  }
  return absl::OkStatus();
}

// Runs `primitive` on `stream` with `args` and waits for it, inside
// DnnlCall. When oneDNN refuses, the message also says which arguments the
// primitive's descriptor describes (query_md(exec_arg_md, arg) not empty)
// that `args` lacks, and which given memories have another descriptor than
// it expects: the usual cause of "could not execute a primitive".
absl::Status DnnlExecute(const char* what, const dnnl::primitive& primitive,
                         dnnl::stream& stream,
                         const std::unordered_map<int, dnnl::memory>& args);

// What DnnlExecute adds to an error: the arguments `primitive` expects that
// `args` lacks or gives with another memory descriptor ("" when there are
// none, or when the primitive has no descriptor). An argument is expected
// when the descriptor's query_md(exec_arg_md, arg) is not empty; for batch
// and layer normalization, which describe every scale/shift argument alike,
// only those their flags (use_scale, use_shift, use_scaleshift) and
// prop_kind ask for.
std::string DnnlArgsProblems(const dnnl::primitive& primitive,
                             const std::unordered_map<int, dnnl::memory>& args);

// The name of a DNNL_ARG_* value, e.g. "DNNL_ARG_SHIFT" for 52, or its
// number when it has none here.
std::string DnnlArgName(int arg);

}  // namespace loom

#endif  // LOOM_FRAMEWORK_DNNL_UTIL_H_
