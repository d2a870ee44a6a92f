#include "framework/dnnl_util.h"

namespace loom {

dnnl::memory::dims ToDims(const Shape& shape) {
  return dnnl::memory::dims(shape.begin(), shape.end());
}

dnnl::memory::desc PlainDesc(const Shape& shape, DType dtype) {
  dnnl::memory::dims dims = ToDims(shape);
  if (dims.empty()) dims = {1};
  dnnl::memory::dims strides(dims.size(), 1);
  for (int i = static_cast<int>(dims.size()) - 2; i >= 0; --i) {
    strides[i] = strides[i + 1] * dims[i + 1];
  }
  return dnnl::memory::desc(dims,
                            dtype == DType::kInt32
                                ? dnnl::memory::data_type::s32
                                : dnnl::memory::data_type::f32,
                            strides);
}

dnnl::memory WrapTensor(const dnnl::engine& engine, const Tensor& tensor) {
  return WrapTensor(engine, tensor, PlainDesc(tensor.shape(), tensor.dtype()));
}

dnnl::memory WrapTensor(const dnnl::engine& engine, const Tensor& tensor,
                        const dnnl::memory::desc& desc) {
  return dnnl::memory(desc, engine, const_cast<void*>(tensor.raw()));
}

}  // namespace loom
