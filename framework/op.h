// The four parts of an op, declared together in one ops/ file:
//   1. its signature (inputs, outputs, typed attributes with defaults),
//   2. a shape function (ShapeFn) run when a graph is loaded,
//   3. one or more kernels (OpKernel::Forward), created once per node so they
//      can read attributes and build oneDNN primitives once,
//   4. its gradient (OpKernel::Backward), which may use what Forward kept
//      (workspaces, dropout masks).
// An OpDef bundles them; OpRegistry (registry.h) holds OpDefs by name.
#ifndef LOOM_FRAMEWORK_OP_H_
#define LOOM_FRAMEWORK_OP_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "framework/proto/graph.pb.h"
#include "framework/status_macros.h"
#include "framework/tensor.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace loom {

// ---------------------------------------------------------------------------
// Signature.

enum class AttrType {
  kInt,
  kFloat,
  kString,
  kBool,
  kIntList,
  kFloatList,
  kStringList,
  kShape,
  kTensor,
};
const char* AttrTypeName(AttrType type);

struct AttrSpec {
  std::string name;
  AttrType type;
  // Unset: the attribute is required.
  std::optional<AttrValue> default_value;
  std::string doc;
};

struct ArgSpec {
  std::string name;
  std::string doc;
  // Optional inputs may be left out (or given as "" in a NodeDef, to name
  // a later one); only trailing inputs can be optional.
  bool optional = false;
  // A variadic input is a list of tensors: a node gives it any number
  // >= min_count of times, as its last inputs (by position, like every
  // input). Its elements are named "<name>_0", "<name>_1", ... in
  // messages. Rules, checked by OpRegistry::Register():
  //   - only the last input may be variadic, and no output;
  //   - a signature with a variadic input has no optional inputs, and the
  //     variadic input is not itself optional: with both, a node's input
  //     count could not say which inputs it gave (min_count = 0 is the way
  //     to let the whole list be left out);
  //   - min_count >= 0;
  //   - a variadic input cannot be listed in OpDef::sparse_grad_inputs.
  bool variadic = false;
  // For a variadic input, the fewest tensors a node may give it.
  int min_count = 0;
};

struct OpSignature {
  std::string name;
  std::string doc;
  std::vector<ArgSpec> inputs;
  std::vector<ArgSpec> outputs;
  std::vector<AttrSpec> attrs;
};

// Free helpers on signatures (they assume a signature the registry has
// accepted).
//
// Whether the last input is variadic.
bool HasVariadicInput(const OpSignature& sig);
// How many inputs a node of this op may list: at least MinNodeInputs(), at
// most MaxNodeInputs(), which is -1 (no limit) with a variadic input.
// Optional inputs count toward the maximum only.
int MinNodeInputs(const OpSignature& sig);
int MaxNodeInputs(const OpSignature& sig);
// The name of a node's input `i` in messages: the signature's input name,
// or "<name>_<k>" for element k of a variadic input.
std::string NodeInputName(const OpSignature& sig, int i);
// The index in sig.inputs of the ArgSpec a node's input `i` belongs to.
int SignatureInputIndex(const OpSignature& sig, int i);
// An argument list for messages and docs: "x, mask?" (optional inputs
// carry '?') and "values..." for a variadic input.
std::string ArgListText(const std::vector<ArgSpec>& args);

// Helpers to write defaults in signatures: IntAttr("units", 0), ...
AttrSpec IntAttr(std::string name, std::optional<int64_t> def = std::nullopt,
                 std::string doc = "");
AttrSpec FloatAttr(std::string name, std::optional<float> def = std::nullopt,
                   std::string doc = "");
AttrSpec StringAttr(std::string name,
                    std::optional<std::string> def = std::nullopt,
                    std::string doc = "");
AttrSpec BoolAttr(std::string name, std::optional<bool> def = std::nullopt,
                  std::string doc = "");
AttrSpec IntListAttr(std::string name,
                     std::optional<std::vector<int64_t>> def = std::nullopt,
                     std::string doc = "");

// A node's attributes after validation against the signature: every
// declared attribute is present with the declared type, defaults filled in.
class AttrMap {
 public:
  AttrMap() = default;
  // Checks `given` against `specs`: unknown names, wrong types and missing
  // required attributes are errors naming the attribute.
  static absl::StatusOr<AttrMap> Resolve(
      absl::Span<const AttrSpec> specs,
      const google::protobuf::Map<std::string, AttrValue>& given);

  int64_t GetInt(const std::string& name) const;
  float GetFloat(const std::string& name) const;
  const std::string& GetString(const std::string& name) const;
  bool GetBool(const std::string& name) const;
  std::vector<int64_t> GetIntList(const std::string& name) const;
  std::vector<float> GetFloatList(const std::string& name) const;
  std::vector<std::string> GetStringList(const std::string& name) const;
  const AttrValue& Get(const std::string& name) const;
  bool Has(const std::string& name) const { return values_.contains(name); }

 private:
  absl::flat_hash_map<std::string, AttrValue> values_;
};

// ---------------------------------------------------------------------------
// Shape inference.

// What is known about a value before running: its dtype and shape, with -1
// for dimensions known only at run time.
struct ValueInfo {
  DType dtype = DType::kFloat32;
  Shape shape;
};

class ShapeContext {
 public:
  ShapeContext(const std::string& node_name, const AttrMap& attrs,
               std::vector<const ValueInfo*> inputs, int num_outputs)
      : node_name_(node_name),
        attrs_(attrs),
        inputs_(std::move(inputs)),
        outputs_(num_outputs) {}

  const std::string& node_name() const { return node_name_; }
  const AttrMap& attrs() const { return attrs_; }
  // The node's input count: without a variadic input, the signature's
  // (optional inputs left out count, as nullptr); with one, the inputs
  // before it plus as many as the node gave the variadic input.
  int num_inputs() const { return static_cast<int>(inputs_.size()); }
  // nullptr for an optional input that was left out.
  const ValueInfo* input(int i) const {
    return i < static_cast<int>(inputs_.size()) ? inputs_[i] : nullptr;
  }
  void set_output(int i, ValueInfo info) { outputs_[i] = std::move(info); }
  const std::vector<ValueInfo>& outputs() const { return outputs_; }

  // Convenience checks that produce errors in a uniform style ("input 1
  // must have rank 3, got shape [4, 5]"). Each one passes for an optional
  // input that was left out. A dimension known only at run time (-1)
  // agrees with any size.
  absl::Status ExpectRank(int input, int rank) const;
  absl::Status ExpectDType(int input, DType dtype) const;
  // The input has `min_rank` dimensions or more.
  absl::Status ExpectRankAtLeast(int input, int min_rank) const;
  // Dimension `dim` of the input is `size` (or unknown); a negative `dim`
  // counts from the end (-1: the last). The input must have that
  // dimension. `size` -1 accepts any size, so only the rank is checked.
  absl::Status ExpectDim(int input, int dim, int64_t size) const;
  // Dimension `dim_a` of input `a` and dimension `dim_b` of input `b` agree
  // (DimsCompatible); negative dimensions count from the end. Both inputs
  // must have those dimensions; passes if either input was left out.
  absl::Status ExpectSameDim(int a, int dim_a, int b, int dim_b) const;

 private:
  const std::string& node_name_;
  const AttrMap& attrs_;
  std::vector<const ValueInfo*> inputs_;
  std::vector<ValueInfo> outputs_;
};

using ShapeFn = std::function<absl::Status(ShapeContext&)>;

// Two dimensions agree if equal or either is unknown.
bool DimsCompatible(int64_t a, int64_t b);
// Two shapes agree if they have the same rank and every dimension agrees.
bool ShapesCompatible(const Shape& a, const Shape& b);

// ---------------------------------------------------------------------------
// Kernels.

// Shared by all kernels of one executor: the oneDNN engine and stream.
struct DnnlContext {
  DnnlContext();
  dnnl::engine engine;
  dnnl::stream stream;
};

// What a kernel sees when it runs forward.
class KernelContext {
 public:
  KernelContext(const AttrMap& attrs, DnnlContext* dnnl,
                std::vector<const Tensor*> inputs, std::vector<Tensor*> outputs,
                bool training, std::mt19937_64* rng)
      : attrs_(attrs),
        dnnl_(dnnl),
        inputs_(std::move(inputs)),
        outputs_(std::move(outputs)),
        training_(training),
        rng_(rng) {}

  const AttrMap& attrs() const { return attrs_; }
  // As ShapeContext::num_inputs(): includes every element of a variadic
  // input.
  int num_inputs() const { return static_cast<int>(inputs_.size()); }
  // nullptr for an optional input that was left out.
  const Tensor* input(int i) const {
    return i < static_cast<int>(inputs_.size()) ? inputs_[i] : nullptr;
  }
  // The executor keeps outputs between steps; Resize() them to reuse memory.
  Tensor* output(int i) { return outputs_[i]; }
  int num_outputs() const { return static_cast<int>(outputs_.size()); }
  // True while training: dropout and similar ops are active.
  bool training() const { return training_; }
  // The node's own generator, seeded from the executor's seed and the node
  // name, so runs with the same seed draw the same masks.
  std::mt19937_64& rng() { return *rng_; }
  const dnnl::engine& engine() const { return dnnl_->engine; }
  dnnl::stream& stream() { return dnnl_->stream; }

 private:
  const AttrMap& attrs_;
  DnnlContext* dnnl_;
  std::vector<const Tensor*> inputs_;
  std::vector<Tensor*> outputs_;
  bool training_;
  std::mt19937_64* rng_;
};

// A gradient given as rows of a [rows, ...] value: the Embedding gradient.
// values holds one row per entry of `rows` (repeats allowed; they add up).
struct SparseRows {
  std::vector<int32_t> rows;
  Tensor values;
};

// What a kernel sees when it runs backward: the forward inputs and outputs,
// the gradients of the outputs, and room for the gradients of the inputs.
class GradContext {
 public:
  GradContext(KernelContext* forward, std::vector<const Tensor*> output_grads,
              std::vector<Tensor*> input_grads,
              std::vector<SparseRows*> sparse_input_grads)
      : forward_(forward),
        output_grads_(std::move(output_grads)),
        input_grads_(std::move(input_grads)),
        sparse_input_grads_(std::move(sparse_input_grads)) {}

  KernelContext& forward() { return *forward_; }
  const AttrMap& attrs() const { return forward_->attrs(); }
  // The forward inputs, every element of a variadic input included; input
  // gradients are indexed the same way.
  int num_inputs() const { return forward_->num_inputs(); }
  const Tensor* input(int i) const { return forward_->input(i); }
  const Tensor* output(int i) const { return forward_->output(i); }
  bool training() const { return forward_->training(); }
  const dnnl::engine& engine() const { return forward_->engine(); }
  dnnl::stream& stream() { return forward_->stream(); }

  // Gradient of the loss with respect to output i; nullptr when no gradient
  // flows into it (treat as zeros).
  const Tensor* output_grad(int i) const { return output_grads_[i]; }
  // Whether the gradient of input i is wanted.
  bool needs_input_grad(int i) const {
    return input_grads_[i] != nullptr || sparse_input_grads_[i] != nullptr;
  }
  // Where to write the gradient of input i (nullptr when not wanted). The
  // kernel resizes it to the input's shape and overwrites every element;
  // the executor adds gradients that reach a value along several paths.
  Tensor* input_grad(int i) { return input_grads_[i]; }
  // For inputs that accept a row-sparse gradient (see OpDef::sparse_grad_
  // inputs), the kernel fills this instead of input_grad(i).
  SparseRows* sparse_input_grad(int i) { return sparse_input_grads_[i]; }
  // For a fused backward (one oneDNN primitive, one loop) that computes
  // several input gradients at once and cannot leave one out: input_grad(i)
  // when it is wanted, else `scratch`, a tensor the kernel owns (keep it as
  // a member, so its buffer is reused from step to step) to receive the
  // gradient nobody wants. Either way the tensor returned is resized to
  // float32 `shape`, with unspecified contents: the kernel overwrites every
  // element. Give each unwanted gradient its own scratch tensor. Not for an
  // input whose gradient is wanted as sparse rows (sparse_input_grad(i) not
  // nullptr): fill that as before.
  Tensor* input_grad_or_scratch(int i, const Shape& shape, Tensor* scratch);

 private:
  KernelContext* forward_;
  std::vector<const Tensor*> output_grads_;
  std::vector<Tensor*> input_grads_;
  std::vector<SparseRows*> sparse_input_grads_;
};

class OpKernel {
 public:
  virtual ~OpKernel() = default;
  virtual absl::Status Forward(KernelContext& ctx) = 0;
  // Runs after Forward of the same step, with the same KernelContext.
  virtual absl::Status Backward(GradContext& ctx) {
    return absl::UnimplementedError("this op has no gradient");
  }
};

// What a kernel factory sees: the node and its validated attributes and
// input infos, so it can check attribute values and prepare once.
struct KernelInitContext {
  const std::string& node_name;
  const AttrMap& attrs;
  // One per node input, as ShapeContext::num_inputs() counts them.
  const std::vector<const ValueInfo*>& inputs;
};

using KernelFactory = std::function<absl::StatusOr<std::unique_ptr<OpKernel>>(
    const KernelInitContext&)>;

struct KernelDef {
  std::string name;  // "onednn", "reference", ...
  KernelFactory create;
};

// ---------------------------------------------------------------------------
// Parameters an op owns.

// What an op says about a parameter it creates for a node: its shape and
// how it starts.
struct OwnedParameter {
  Shape shape;
  InitializerDef initializer;
};

// A parameter input an op can create itself, as a Caffe layer creates its
// blobs: a node that leaves out its parameter inputs (see Graph::Build)
// gets a parameter named "<node>/<suffix>", shaped from the node's
// attributes and the shapes of its other inputs. A parameter of that name
// declared in the graph overrides it (its shape and initializer are used).
struct ParamSpec {
  // The signature input the parameter fills; not optional unless `suffix`
  // may return "".
  int input = 0;
  // The name suffix for these attributes (names are needed before shapes
  // are known); "" when the node gets no such parameter (an LSTM's
  // backward_* inputs unless bidirectional). Unset: the input's name.
  std::function<std::string(const AttrMap&)> suffix;
  // The shape and initializer. The context holds the node's attributes
  // and its non-parameter inputs (the parameter inputs are nullptr); the
  // shape function runs afterwards and checks the result as it checks a
  // given parameter.
  std::function<absl::StatusOr<OwnedParameter>(const ShapeContext&)> make;
  // For the reference: the shape and initializer in words.
  std::string doc;
};

struct OpDef {
  OpSignature signature;
  ShapeFn shape_fn;
  // The parameter inputs the op can create (Graph::Build); empty: every
  // parameter is given by the node.
  std::vector<ParamSpec> params;
  // The first kernel is the default; a node can pick another with the
  // string attribute "_kernel".
  std::vector<KernelDef> kernels;
  // False for ops that pass no gradient (metrics, comparisons): a graph
  // whose loss depends on a parameter through such an op is rejected.
  bool differentiable = true;
  // Inputs whose gradient the kernel writes as SparseRows when the input is
  // a parameter (Embedding's table). Indices into signature.inputs; not a
  // variadic input.
  std::vector<int> sparse_grad_inputs;
  // Outputs through which no gradient flows (Embedding's mask): values
  // computed from them do not count as depending on parameters, so their
  // consumers are never asked for gradients toward them.
  std::vector<int> constant_outputs;
  // Set by the registry: "builtin" or the plugin file it came from.
  std::string source;
};

// Builds a kernel factory for a default-constructible kernel class with a
// method `absl::Status Init(const KernelInitContext&)` that reads attributes
// and checks their values once.
template <typename K>
KernelFactory MakeKernelFactory() {
  return [](const KernelInitContext& init)
             -> absl::StatusOr<std::unique_ptr<OpKernel>> {
    auto kernel = std::make_unique<K>();
    LOOM_RETURN_IF_ERROR(kernel->Init(init));
    return kernel;
  };
}

}  // namespace loom

#endif  // LOOM_FRAMEWORK_OP_H_
