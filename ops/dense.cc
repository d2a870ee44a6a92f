// Dense: a fully connected layer, y = activation(x * kernel + bias)
// (Keras' Dense), on the oneDNN inner product primitive with the
// activation fused as an eltwise post-op.
//
//   input  x:      float [N, C] or [N, T, C]; [N, T, C] is applied to every
//                  step, i.e. treated as [N*T, C]
//   input  kernel: float [C, U]
//   input  bias:   float [U] (optional; left out means no bias)
//   output y:      float [N, U] or [N, T, U]
//   attr   units:      int, U (> 0; must match the kernel)
//   attr   activation: string = "linear"; one of linear, relu, sigmoid, tanh
//   attr   use_bias:   bool = true; whether the op creates a bias when the
//                      node gives only x
//
// Parameters it creates when a node gives only x (Keras' defaults):
// "<node>/kernel" [C, U], glorot_uniform; "<node>/bias" [U], zeros.
//
// Gradient: the activation's derivative is taken from y, then inner product
// backward_data gives dx and backward_weights gives dkernel and dbias.
// The kernel keeps its row-major [C, U] layout, which oneDNN reads as the
// "io" format of its [U, C] weights, so no reorders are needed. Primitives
// are cached per number of rows.
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "framework/dnnl_util.h"
#include "framework/op.h"
#include "framework/status_macros.h"
#include "ops/op_library.h"

namespace loom {
namespace {

using dnnl::memory;

enum class Activation { kLinear, kRelu, kSigmoid, kTanh };

absl::StatusOr<Activation> ParseActivation(const std::string& name) {
  if (name == "linear") return Activation::kLinear;
  if (name == "relu") return Activation::kRelu;
  if (name == "sigmoid") return Activation::kSigmoid;
  if (name == "tanh") return Activation::kTanh;
  return absl::InvalidArgumentError(
      absl::StrCat("attribute 'activation' is '", name,
                   "'; expected one of linear, relu, sigmoid, tanh"));
}

absl::Status CheckUnits(int64_t units) {
  if (units <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("attribute 'units' must be positive, got ", units));
  }
  return absl::OkStatus();
}

class DenseKernel : public OpKernel {
 public:
  absl::Status Init(const KernelInitContext& init) {
    units_ = init.attrs.GetInt("units");
    LOOM_RETURN_IF_ERROR(CheckUnits(units_));
    LOOM_ASSIGN_OR_RETURN(activation_,
                          ParseActivation(init.attrs.GetString("activation")));
    has_bias_ = init.inputs.size() > 2 && init.inputs[2] != nullptr;
    return absl::OkStatus();
  }

  absl::Status Forward(KernelContext& ctx) override {
    const Tensor& x = *ctx.input(0);
    const Tensor& w = *ctx.input(1);
    LOOM_RETURN_IF_ERROR(CheckShapes(x, w, ctx.input(2)));
    const int64_t in = w.dim(0);
    const int64_t rows = x.num_elements() / in;
    Shape y_shape = x.shape();
    y_shape.back() = units_;
    Tensor& y = *ctx.output(0);
    y.Resize(DType::kFloat32, y_shape);
    Primitives* p = nullptr;
    LOOM_RETURN_IF_ERROR(GetPrimitives(ctx.engine(), rows, in, &p));
    const dnnl::engine& e = ctx.engine();
    return DnnlCall("inner product forward", [&] {
      std::unordered_map<int, memory> args = {
          {DNNL_ARG_SRC, WrapTensor(e, x, p->src)},
          {DNNL_ARG_WEIGHTS, WrapTensor(e, w, p->weights)},
          {DNNL_ARG_DST, WrapTensor(e, y, p->dst)}};
      if (has_bias_)
        args[DNNL_ARG_BIAS] = WrapTensor(e, *ctx.input(2), p->bias);
      p->forward.execute(ctx.stream(), args);
      ctx.stream().wait();
    });
  }

  absl::Status Backward(GradContext& ctx) override {
    const Tensor& x = *ctx.input(0);
    const Tensor& w = *ctx.input(1);
    const Tensor& y = *ctx.output(0);
    const Tensor* dy = ctx.output_grad(0);
    Tensor* dx = ctx.input_grad(0);
    Tensor* dw = ctx.input_grad(1);
    Tensor* db = has_bias_ ? ctx.input_grad(2) : nullptr;
    if (dy == nullptr) {
      if (dx != nullptr) dx->ResizeZeroed(DType::kFloat32, x.shape());
      if (dw != nullptr) dw->ResizeZeroed(DType::kFloat32, w.shape());
      if (db != nullptr) db->ResizeZeroed(DType::kFloat32, {units_});
      return absl::OkStatus();
    }
    const int64_t in = w.dim(0);
    const int64_t rows = x.num_elements() / in;
    Primitives* p = nullptr;
    LOOM_RETURN_IF_ERROR(GetPrimitives(ctx.engine(), rows, in, &p));

    // dz = dy * activation'(z), written in terms of y = activation(z).
    const Tensor* dz = dy;
    if (activation_ != Activation::kLinear) {
      dz_.Resize(DType::kFloat32, y.shape());
      const float* py = y.f32();
      const float* pg = dy->f32();
      float* pz = dz_.f32();
      const int64_t n = y.num_elements();
      switch (activation_) {
        case Activation::kRelu:
          for (int64_t i = 0; i < n; ++i) pz[i] = py[i] > 0 ? pg[i] : 0.0f;
          break;
        case Activation::kSigmoid:
          for (int64_t i = 0; i < n; ++i) pz[i] = pg[i] * py[i] * (1 - py[i]);
          break;
        case Activation::kTanh:
          for (int64_t i = 0; i < n; ++i) pz[i] = pg[i] * (1 - py[i] * py[i]);
          break;
        case Activation::kLinear:
          break;
      }
      dz = &dz_;
    }

    const dnnl::engine& e = ctx.engine();
    return DnnlCall("inner product backward", [&] {
      if (dx != nullptr) {
        dx->Resize(DType::kFloat32, x.shape());
        p->backward_data.execute(
            ctx.stream(), {{DNNL_ARG_DIFF_DST, WrapTensor(e, *dz, p->dst)},
                           {DNNL_ARG_WEIGHTS, WrapTensor(e, w, p->weights)},
                           {DNNL_ARG_DIFF_SRC, WrapTensor(e, *dx, p->src)}});
      }
      if (dw != nullptr || db != nullptr) {
        // backward_weights computes both; an unwanted one goes to scratch.
        Tensor* dw_out = dw != nullptr ? dw : &scratch_dw_;
        dw_out->Resize(DType::kFloat32, w.shape());
        std::unordered_map<int, memory> args = {
            {DNNL_ARG_SRC, WrapTensor(e, x, p->src)},
            {DNNL_ARG_DIFF_DST, WrapTensor(e, *dz, p->dst)},
            {DNNL_ARG_DIFF_WEIGHTS, WrapTensor(e, *dw_out, p->weights)}};
        if (has_bias_) {
          Tensor* db_out = db != nullptr ? db : &scratch_db_;
          db_out->Resize(DType::kFloat32, {units_});
          args[DNNL_ARG_DIFF_BIAS] = WrapTensor(e, *db_out, p->bias);
        }
        p->backward_weights.execute(ctx.stream(), args);
      }
      ctx.stream().wait();
    });
  }

 private:
  struct Primitives {
    memory::desc src, weights, bias, dst;
    dnnl::inner_product_forward forward;
    dnnl::inner_product_backward_data backward_data;
    dnnl::inner_product_backward_weights backward_weights;
  };

  absl::Status CheckShapes(const Tensor& x, const Tensor& w,
                           const Tensor* bias) const {
    if ((x.rank() != 2 && x.rank() != 3) || w.rank() != 2 ||
        x.shape().back() != w.dim(0) || w.dim(1) != units_) {
      return absl::InvalidArgumentError(absl::StrCat(
          "expects x [N, C] or [N, T, C] and kernel [C, ", units_, "], got x ",
          ShapeToString(x.shape()), " and kernel ", ShapeToString(w.shape())));
    }
    if (has_bias_ && bias->shape() != Shape{units_}) {
      return absl::InvalidArgumentError(absl::StrCat(
          "bias must be [", units_, "], got ", ShapeToString(bias->shape())));
    }
    return absl::OkStatus();
  }

  absl::Status GetPrimitives(const dnnl::engine& engine, int64_t rows,
                             int64_t in, Primitives** out) {
    const std::pair<int64_t, int64_t> key(rows, in);
    if (auto it = cache_.find(key); it != cache_.end()) {
      *out = it->second.get();
      return absl::OkStatus();
    }
    auto p = std::make_unique<Primitives>();
    LOOM_RETURN_IF_ERROR(DnnlCall("inner product setup", [&] {
      using tag = memory::format_tag;
      const auto f32 = memory::data_type::f32;
      p->src = memory::desc({rows, in}, f32, tag::nc);
      // oneDNN's weights are [U, C]; "io" is the row-major [C, U] kernel.
      p->weights = memory::desc({units_, in}, f32, tag::io);
      p->bias = memory::desc({units_}, f32, tag::x);
      p->dst = memory::desc({rows, units_}, f32, tag::nc);
      const auto prop = dnnl::prop_kind::forward_training;
      auto fwd_desc = has_bias_ ? dnnl::inner_product_forward::desc(
                                      prop, p->src, p->weights, p->bias, p->dst)
                                : dnnl::inner_product_forward::desc(
                                      prop, p->src, p->weights, p->dst);
      dnnl::primitive_attr attr;
      if (activation_ != Activation::kLinear) {
        dnnl::post_ops ops;
        ops.append_eltwise(1.0f, EltwiseAlgorithm(), 0.0f, 0.0f);
        attr.set_post_ops(ops);
      }
      dnnl::inner_product_forward::primitive_desc fwd(fwd_desc, attr, engine);
      dnnl::inner_product_backward_data::primitive_desc bwd_data(
          dnnl::inner_product_backward_data::desc(p->src, p->weights, p->dst),
          engine, fwd);
      auto bwd_weights_desc = has_bias_
                                  ? dnnl::inner_product_backward_weights::desc(
                                        p->src, p->weights, p->bias, p->dst)
                                  : dnnl::inner_product_backward_weights::desc(
                                        p->src, p->weights, p->dst);
      dnnl::inner_product_backward_weights::primitive_desc bwd_weights(
          bwd_weights_desc, engine, fwd);
      p->forward = dnnl::inner_product_forward(fwd);
      p->backward_data = dnnl::inner_product_backward_data(bwd_data);
      p->backward_weights = dnnl::inner_product_backward_weights(bwd_weights);
    }));
    *out = p.get();
    cache_[key] = std::move(p);
    return absl::OkStatus();
  }

  dnnl::algorithm EltwiseAlgorithm() const {
    switch (activation_) {
      case Activation::kRelu:
        return dnnl::algorithm::eltwise_relu;
      case Activation::kSigmoid:
        return dnnl::algorithm::eltwise_logistic;
      case Activation::kTanh:
        return dnnl::algorithm::eltwise_tanh;
      case Activation::kLinear:
        break;
    }
    return dnnl::algorithm::eltwise_linear;
  }

  int64_t units_ = 0;
  Activation activation_ = Activation::kLinear;
  bool has_bias_ = false;
  Tensor dz_;
  Tensor scratch_dw_;
  Tensor scratch_db_;
  absl::flat_hash_map<std::pair<int64_t, int64_t>, std::unique_ptr<Primitives>>
      cache_;
};

absl::Status DenseShape(ShapeContext& ctx) {
  const int64_t units = ctx.attrs().GetInt("units");
  LOOM_RETURN_IF_ERROR(CheckUnits(units));
  LOOM_RETURN_IF_ERROR(
      ParseActivation(ctx.attrs().GetString("activation")).status());
  for (int i = 0; i < ctx.num_inputs(); ++i) {
    LOOM_RETURN_IF_ERROR(ctx.ExpectDType(i, DType::kFloat32));
  }
  const Shape& x = ctx.input(0)->shape;
  if (x.size() != 2 && x.size() != 3) {
    return absl::InvalidArgumentError(
        absl::StrCat("x must be [N, C] or [N, T, C], got ", ShapeToString(x)));
  }
  const Shape& w = ctx.input(1)->shape;
  if (w.size() != 2 || !DimsCompatible(w[0], x.back())) {
    return absl::InvalidArgumentError(
        absl::StrCat("kernel must be [C, U] with C = ", x.back(), " (x is ",
                     ShapeToString(x), "), got ", ShapeToString(w)));
  }
  if (!DimsCompatible(w[1], units)) {
    return absl::InvalidArgumentError(
        absl::StrCat("kernel ", ShapeToString(w), " has ", w[1],
                     " columns but attribute 'units' is ", units));
  }
  if (ctx.num_inputs() > 2 && ctx.input(2) != nullptr) {
    const Shape& b = ctx.input(2)->shape;
    if (b.size() != 1 || !DimsCompatible(b[0], units)) {
      return absl::InvalidArgumentError(
          absl::StrCat("bias must be [", units, "] (attribute 'units'), got ",
                       ShapeToString(b)));
    }
  }
  Shape y = x;
  y.back() = units;
  ctx.set_output(0, {DType::kFloat32, y});
  return absl::OkStatus();
}

std::vector<OpDef> DenseOps() {
  OpDef def;
  def.signature.name = "Dense";
  def.signature.doc =
      "Fully connected layer y = activation(x * kernel + bias) over the last "
      "axis.";
  def.signature.inputs = {{"x", "float [N, C] or [N, T, C]"},
                          {"kernel", "float [C, U]"},
                          {"bias", "float [U]", /*optional=*/true}};
  def.signature.outputs = {{"y", "float [N, U] or [N, T, U]"}};
  def.signature.attrs = {
      IntAttr("units", std::nullopt, "output width U"),
      StringAttr("activation", "linear", "linear, relu, sigmoid or tanh"),
      BoolAttr("use_bias", true,
               "create a bias when the node gives only x (a given kernel "
               "without bias means none)")};
  def.shape_fn = DenseShape;
  def.params.push_back(
      {/*input=*/1, nullptr,
       [](const ShapeContext& ctx) -> absl::StatusOr<OwnedParameter> {
         const int64_t units = ctx.attrs().GetInt("units");
         LOOM_RETURN_IF_ERROR(CheckUnits(units));
         const ValueInfo* x = ctx.input(0);
         if (x->shape.size() != 2 && x->shape.size() != 3) {
           return absl::InvalidArgumentError(absl::StrCat(
               "x must be [N, C] or [N, T, C], got ", ShapeToString(x->shape)));
         }
         OwnedParameter p;
         p.shape = {x->shape.back(), units};
         p.initializer.mutable_glorot_uniform();
         return p;
       },
       "[C, units], glorot_uniform"});
  def.params.push_back(
      {/*input=*/2,
       [](const AttrMap& attrs) {
         return std::string(attrs.GetBool("use_bias") ? "bias" : "");
       },
       [](const ShapeContext& ctx) -> absl::StatusOr<OwnedParameter> {
         const int64_t units = ctx.attrs().GetInt("units");
         LOOM_RETURN_IF_ERROR(CheckUnits(units));
         OwnedParameter p;
         p.shape = {units};
         p.initializer.mutable_zeros();
         return p;
       },
       "[units], zeros (unless use_bias is false)"});
  def.kernels.push_back({"onednn", MakeKernelFactory<DenseKernel>()});
  std::vector<OpDef> defs;
  defs.push_back(std::move(def));
  return defs;
}

LOOM_REGISTER_OP(DenseOps);

}  // namespace
}  // namespace loom
