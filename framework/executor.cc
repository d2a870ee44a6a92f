#include "framework/executor.h"

#include <algorithm>
#include <chrono>
#include <sstream>
#include <utility>

#include "absl/memory/memory.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "framework/initializers.h"
#include "framework/status_macros.h"

namespace loom {
namespace {

// FNV-1a over the node name, mixed with the seed: stable across processes
// (absl::Hash is salted per process, so it cannot seed reproducible runs).
uint64_t NodeSeed(uint64_t seed, const std::string& name) {
  uint64_t h = 1469598103934665603ull ^ (seed * 0x9e3779b97f4a7c15ull);
  for (unsigned char c : name) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

void AddInto(const Tensor& src, Tensor* dst) {
  float* d = dst->f32();
  const float* s = src.f32();
  const int64_t n = dst->num_elements();
  for (int64_t i = 0; i < n; ++i) d[i] += s[i];
}

// Adds rows of `grad` into the dense `dst` ([rows, ...]).
void ScatterAdd(const SparseRows& grad, Tensor* dst) {
  const int64_t width = dst->num_elements() / dst->dim(0);
  float* d = dst->f32();
  const float* s = grad.values.f32();
  for (size_t k = 0; k < grad.rows.size(); ++k) {
    float* row = d + int64_t{grad.rows[k]} * width;
    const float* src = s + k * width;
    for (int64_t j = 0; j < width; ++j) row[j] += src[j];
  }
}

}  // namespace

Executor::Executor(std::shared_ptr<const Graph> graph, uint64_t seed)
    : graph_(std::move(graph)), seed_(seed) {}

absl::StatusOr<std::unique_ptr<Executor>> Executor::Create(
    std::shared_ptr<const Graph> graph, uint64_t seed) {
  auto ex = absl::WrapUnique(new Executor(std::move(graph), seed));
  const Graph& g = *ex->graph_;
  ex->nodes_.resize(g.nodes().size());
  for (size_t i = 0; i < g.nodes().size(); ++i) {
    const Node& node = g.nodes()[i];
    std::vector<const ValueInfo*> infos;
    for (int v : node.inputs) {
      infos.push_back(v < 0 ? nullptr : &g.values()[v].info);
    }
    KernelInitContext init{node.name, node.attrs, infos};
    auto kernel = node.kernel->create(init);
    if (!kernel.ok()) {
      return absl::Status(
          kernel.status().code(),
          absl::StrCat(g.Describe(i), ": ", kernel.status().message()));
    }
    NodeState& state = ex->nodes_[i];
    state.kernel = *std::move(kernel);
    state.rng.seed(NodeSeed(seed, node.name));
    state.input_grad_scratch.resize(node.inputs.size());
    state.sparse_scratch.resize(node.inputs.size());
  }
  ex->values_.resize(g.values().size());
  ex->computed_.assign(g.values().size(), 0);
  ex->value_grads_.resize(g.values().size());
  ex->has_grad_.assign(g.values().size(), 0);
  for (int v : g.parameter_values()) {
    const Value& value = g.values()[v];
    const ParameterDef& def = g.def().parameter(value.index);
    Parameter p;
    p.name = value.name;
    p.value = Tensor(DType::kFloat32, value.info.shape);
    p.grad = Tensor(DType::kFloat32, value.info.shape);
    p.trainable = !def.frozen();
    ex->parameters_.push_back(std::move(p));
  }
  ex->param_grad_state_.assign(ex->parameters_.size(), GradState::kZero);
  return ex;
}

absl::Status Executor::InitializeParameters() {
  const Graph& g = *graph_;
  std::mt19937_64 rng(seed_);
  for (size_t i = 0; i < parameters_.size(); ++i) {
    const ParameterDef& def = g.def().parameter(i);
    absl::Status s =
        InitializeTensor(def.initializer(), rng, &parameters_[i].value);
    if (!s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "parameter '", def.name(), "': initializer: ", s.message()));
    }
  }
  return absl::OkStatus();
}

Parameter* Executor::FindParameter(const std::string& name) {
  for (Parameter& p : parameters_) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

absl::StatusOr<const Executor::RunOrder*> Executor::GetRunOrder(
    absl::Span<const std::string> fetches) {
  const std::string key = absl::StrJoin(fetches, "\n");
  if (auto it = run_orders_.find(key); it != run_orders_.end()) {
    return &it->second;
  }
  const Graph& g = *graph_;
  RunOrder order;
  std::vector<char> needed(g.nodes().size(), 0);
  std::vector<int> stack;
  for (const std::string& name : fetches) {
    int v = g.FindValue(name);
    if (v < 0) {
      return absl::NotFoundError(
          absl::StrCat("no value named '", name, "' in the graph"));
    }
    order.fetch_values.push_back(v);
    if (g.values()[v].kind == Value::Kind::kNodeOutput) {
      stack.push_back(g.values()[v].producer);
    }
  }
  while (!stack.empty()) {
    int n = stack.back();
    stack.pop_back();
    if (needed[n]) continue;
    needed[n] = 1;
    for (int v : g.nodes()[n].inputs) {
      if (v >= 0 && g.values()[v].kind == Value::Kind::kNodeOutput) {
        stack.push_back(g.values()[v].producer);
      }
    }
  }
  for (size_t n = 0; n < needed.size(); ++n) {
    if (needed[n]) order.nodes.push_back(n);
  }
  return &(run_orders_[key] = std::move(order));
}

absl::Status Executor::Run(const FeedMap& feeds,
                           absl::Span<const std::string> fetches,
                           bool training) {
  const Graph& g = *graph_;
  last_run_order_ = nullptr;
  LOOM_ASSIGN_OR_RETURN(const RunOrder* order, GetRunOrder(fetches));
  std::fill(computed_.begin(), computed_.end(), 0);

  // Which graph inputs the run order reads.
  std::vector<char> input_needed(g.values().size(), 0);
  for (int n : order->nodes) {
    for (int v : g.nodes()[n].inputs) {
      if (v >= 0) input_needed[v] = 1;
    }
  }
  for (int v : order->fetch_values) input_needed[v] = 1;
  for (const auto& [name, tensor] : feeds) {
    int v = g.FindValue(name);
    if (v < 0 || g.values()[v].kind != Value::Kind::kInput) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", name, "' is fed but is not a graph input"));
    }
  }
  for (int v : g.input_values()) {
    const Value& value = g.values()[v];
    auto it = feeds.find(value.name);
    if (it == feeds.end()) {
      if (input_needed[v]) {
        return absl::InvalidArgumentError(absl::StrCat("graph input '",
                                                       value.name,
                                                       "' is needed but was "
                                                       "not fed"));
      }
      continue;
    }
    const Tensor& t = it->second;
    if (t.dtype() != value.info.dtype ||
        !ShapesCompatible(value.info.shape, t.shape())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "graph input '", value.name, "' expects ",
          DTypeName(value.info.dtype), ShapeToString(value.info.shape),
          ", got ", DTypeName(t.dtype()), ShapeToString(t.shape())));
    }
    values_[v] = t;  // Shares the caller's buffer.
    computed_[v] = 1;
  }
  for (size_t i = 0; i < parameters_.size(); ++i) {
    int v = g.parameter_values()[i];
    values_[v] = parameters_[i].value;  // Shares the buffer.
    computed_[v] = 1;
  }

  for (int n : order->nodes) {
    const Node& node = g.nodes()[n];
    NodeState& state = nodes_[n];
    std::vector<const Tensor*> inputs;
    inputs.reserve(node.inputs.size());
    for (int v : node.inputs) inputs.push_back(v < 0 ? nullptr : &values_[v]);
    std::vector<Tensor*> outputs;
    for (int v : node.outputs) outputs.push_back(&values_[v]);
    state.ctx = std::make_unique<KernelContext>(
        node.attrs, &dnnl_, std::move(inputs), std::move(outputs), training,
        &state.rng);
    const auto start = std::chrono::steady_clock::now();
    absl::Status s = state.kernel->Forward(*state.ctx);
    if (profiling_) {
      state.forward_seconds += std::chrono::duration<double>(
                                   std::chrono::steady_clock::now() - start)
                                   .count();
      ++state.forward_calls;
    }
    if (!s.ok()) {
      return absl::Status(s.code(),
                          absl::StrCat(g.Describe(n), ": ", s.message()));
    }
    for (int v : node.outputs) computed_[v] = 1;
    if (!overrides_.empty()) {
      for (int v : node.outputs) {
        auto it = overrides_.find(v);
        if (it == overrides_.end()) continue;
        const Tensor& o = *it->second;
        if (o.dtype() != values_[v].dtype() ||
            o.shape() != values_[v].shape()) {
          return absl::InvalidArgumentError(absl::StrCat(
              "the override of '", g.values()[v].name, "' is ",
              DTypeName(o.dtype()), ShapeToString(o.shape()),
              " but the value computed is ", DTypeName(values_[v].dtype()),
              ShapeToString(values_[v].shape())));
        }
        values_[v].CopyFrom(o);
      }
    }
  }
  last_run_order_ = order;
  last_run_training_ = training;
  return absl::OkStatus();
}

absl::Status Executor::RunWithOverrides(const FeedMap& feeds,
                                        const FeedMap& overrides,
                                        absl::Span<const std::string> fetches,
                                        bool training) {
  const Graph& g = *graph_;
  overrides_.clear();
  for (const auto& [name, tensor] : overrides) {
    const int v = g.FindValue(name);
    if (v < 0 || g.values()[v].kind != Value::Kind::kNodeOutput) {
      return absl::InvalidArgumentError(absl::StrCat(
          "'", name, "' is overridden but is not a node output of the graph"));
    }
    overrides_[v] = &tensor;
  }
  absl::Status s = Run(feeds, fetches, training);
  overrides_.clear();
  return s;
}

absl::StatusOr<Tensor> Executor::ValueGradient(const std::string& output,
                                               const Tensor& seed,
                                               const std::string& wrt) {
  const Graph& g = *graph_;
  if (last_run_order_ == nullptr) {
    return absl::FailedPreconditionError(
        "ValueGradient() needs a successful Run() first");
  }
  const int out = g.FindValue(output);
  const int from = g.FindValue(wrt);
  if (out < 0 || !computed_[out] || from < 0 || !computed_[from]) {
    return absl::FailedPreconditionError(
        absl::StrCat("value '", out < 0 || !computed_[out] ? output : wrt,
                     "' was not computed by the last run"));
  }
  if (g.values()[from].kind != Value::Kind::kNodeOutput) {
    return absl::InvalidArgumentError(
        absl::StrCat("gradients are taken with respect to node outputs; '", wrt,
                     "' is a graph input or parameter"));
  }
  if (seed.dtype() != DType::kFloat32 || seed.shape() != values_[out].shape()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the gradient seed for '", output, "' must be float",
                     ShapeToString(values_[out].shape()), ", got ",
                     DTypeName(seed.dtype()), ShapeToString(seed.shape())));
  }
  // Values that depend on `wrt`.
  const auto& nodes = g.nodes();
  std::vector<char> depends(g.values().size(), 0);
  depends[from] = 1;
  MarkDependents(depends);
  Tensor result(DType::kFloat32, values_[from].shape());
  if (!depends[out]) return result;
  std::fill(has_grad_.begin(), has_grad_.end(), 0);
  value_grads_[out].CopyFrom(seed);
  has_grad_[out] = 1;
  for (auto it = last_run_order_->nodes.rbegin();
       it != last_run_order_->nodes.rend(); ++it) {
    const int n = *it;
    const Node& node = nodes[n];
    bool has_output_grad = false;
    for (int v : node.outputs) has_output_grad |= has_grad_[v] != 0;
    bool wants_input_grad = false;
    for (int v : node.inputs) wants_input_grad |= v >= 0 && depends[v];
    if (!has_output_grad || !wants_input_grad) continue;
    if (!node.op->differentiable) {
      return absl::InvalidArgumentError(
          absl::StrCat(g.Describe(n), ": '", output, "' depends on '", wrt,
                       "' through this node, but its op has no gradient"));
    }
    NodeState& state = nodes_[n];
    std::vector<const Tensor*> output_grads;
    for (int v : node.outputs) {
      output_grads.push_back(has_grad_[v] ? &value_grads_[v] : nullptr);
    }
    std::vector<Tensor*> input_grads(node.inputs.size(), nullptr);
    std::vector<SparseRows*> sparse_grads(node.inputs.size(), nullptr);
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      const int v = node.inputs[i];
      if (v >= 0 && depends[v]) input_grads[i] = &state.input_grad_scratch[i];
    }
    GradContext ctx(state.ctx.get(), std::move(output_grads), input_grads,
                    sparse_grads);
    if (absl::Status s = state.kernel->Backward(ctx); !s.ok()) {
      return absl::Status(
          s.code(), absl::StrCat(g.Describe(n), ": backward: ", s.message()));
    }
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      if (input_grads[i] == nullptr) continue;
      if (absl::Status s = AddDenseGrad(node.inputs[i], input_grads[i]);
          !s.ok()) {
        return absl::Status(s.code(),
                            absl::StrCat(g.Describe(n), ": ", s.message()));
      }
    }
  }
  if (has_grad_[from]) result.CopyFrom(value_grads_[from]);
  return result;
}

absl::StatusOr<const Tensor*> Executor::Fetch(const std::string& name) const {
  int v = graph_->FindValue(name);
  if (v < 0) {
    return absl::NotFoundError(
        absl::StrCat("no value named '", name, "' in the graph"));
  }
  if (!computed_[v]) {
    return absl::FailedPreconditionError(
        absl::StrCat("value '", name, "' was not computed by the last run"));
  }
  return &values_[v];
}

absl::Status Executor::AddDenseGrad(int v, Tensor* grad) {
  const Value& value = graph_->values()[v];
  if (value.kind == Value::Kind::kParameter) {
    Parameter& p = parameters_[value.index];
    GradState& state = param_grad_state_[value.index];
    if (grad->shape() != p.value.shape()) {
      return absl::InternalError(
          absl::StrCat("gradient for parameter '", p.name, "' has shape ",
                       ShapeToString(grad->shape()), ", expected ",
                       ShapeToString(p.value.shape())));
    }
    if (state == GradState::kStale) {
      std::swap(p.grad, *grad);
    } else {
      AddInto(*grad, &p.grad);
    }
    state = GradState::kDense;
    return absl::OkStatus();
  }
  if (value.kind != Value::Kind::kNodeOutput) return absl::OkStatus();
  if (grad->shape() != values_[v].shape()) {
    return absl::InternalError(
        absl::StrCat("gradient for '", value.name, "' has shape ",
                     ShapeToString(grad->shape()), ", expected ",
                     ShapeToString(values_[v].shape())));
  }
  if (!has_grad_[v]) {
    std::swap(value_grads_[v], *grad);
    has_grad_[v] = 1;
  } else {
    AddInto(*grad, &value_grads_[v]);
  }
  return absl::OkStatus();
}

absl::Status Executor::AddSparseGrad(int v, SparseRows* grad) {
  const Value& value = graph_->values()[v];
  Parameter& p = parameters_[value.index];
  GradState& state = param_grad_state_[value.index];
  const int64_t rows = p.value.dim(0);
  for (int32_t r : grad->rows) {
    if (r < 0 || r >= rows) {
      return absl::InternalError(absl::StrCat(
          "sparse gradient row ", r, " outside parameter '", p.name, "'"));
    }
  }
  if (state == GradState::kStale) {
    p.grad.SetZero();
    state = GradState::kZero;
  }
  ScatterAdd(*grad, &p.grad);
  if (state == GradState::kZero || state == GradState::kSparse) {
    p.touched_rows.insert(p.touched_rows.end(), grad->rows.begin(),
                          grad->rows.end());
    state = GradState::kSparse;
  }
  return absl::OkStatus();
}

std::string Executor::ProfileReport() const {
  std::vector<int> order(nodes_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  auto total = [&](int i) {
    return nodes_[i].forward_seconds + nodes_[i].backward_seconds;
  };
  std::sort(order.begin(), order.end(),
            [&](int a, int b) { return total(a) > total(b); });
  std::string out =
      "node                              op                  "
      "  calls  forward s  backward s\n";
  for (int i : order) {
    const Node& node = graph_->nodes()[i];
    absl::StrAppend(
        &out,
        absl::StrFormat("%-33s %-20s %6d %10.3f %11.3f\n", node.name,
                        node.op->signature.name, nodes_[i].forward_calls,
                        nodes_[i].forward_seconds, nodes_[i].backward_seconds));
  }
  return out;
}

void Executor::Reseed(uint64_t seed) {
  seed_ = seed;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    nodes_[i].rng.seed(NodeSeed(seed, graph_->nodes()[i].name));
  }
}

std::vector<std::string> Executor::RngStates() const {
  std::vector<std::string> out;
  out.reserve(nodes_.size());
  for (const NodeState& node : nodes_) {
    std::ostringstream text;
    text << node.rng;
    out.push_back(text.str());
  }
  return out;
}

absl::Status Executor::SetRngStates(const std::vector<std::string>& states) {
  if (states.size() != nodes_.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the random generator states are for ", states.size(),
                     " nodes, the graph has ", nodes_.size()));
  }
  std::vector<std::mt19937_64> parsed(states.size());
  for (size_t i = 0; i < states.size(); ++i) {
    std::istringstream text(states[i]);
    text >> parsed[i];
    if (text.fail()) {
      return absl::DataLossError(absl::StrCat(
          "the random generator state of ",
          graph_->Describe(static_cast<int>(i)), " does not parse"));
    }
  }
  for (size_t i = 0; i < states.size(); ++i) nodes_[i].rng = parsed[i];
  return absl::OkStatus();
}

void Executor::MarkDependents(std::vector<char>& marked) const {
  const auto& nodes = graph_->nodes();
  for (int n : last_run_order_->nodes) {
    bool any = false;
    for (int v : nodes[n].inputs) any |= v >= 0 && marked[v];
    if (!any) continue;
    const auto& constant = nodes[n].op->constant_outputs;
    for (size_t k = 0; k < nodes[n].outputs.size(); ++k) {
      if (std::find(constant.begin(), constant.end(), static_cast<int>(k)) ==
          constant.end()) {
        marked[nodes[n].outputs[k]] = 1;
      }
    }
  }
}

void Executor::PlanBackward(const RunOrder& order, int loss_value,
                            std::vector<GradientReady>* ready,
                            std::vector<int>* last_node) const {
  const Graph& g = *graph_;
  const auto& nodes = g.nodes();
  std::vector<char> from_param(g.values().size(), 0);
  for (size_t i = 0; i < parameters_.size(); ++i) {
    if (parameters_[i].trainable) from_param[g.parameter_values()[i]] = 1;
  }
  for (int n : order.nodes) {
    bool any = false;
    for (int v : nodes[n].inputs) any |= v >= 0 && from_param[v];
    if (!any) continue;
    const auto& constant = nodes[n].op->constant_outputs;
    for (size_t k = 0; k < nodes[n].outputs.size(); ++k) {
      if (std::find(constant.begin(), constant.end(), static_cast<int>(k)) ==
          constant.end()) {
        from_param[nodes[n].outputs[k]] = 1;
      }
    }
  }
  // Backward's walk without the kernels: which nodes run and which of
  // their inputs get a gradient.
  std::vector<char> gets_grad(g.values().size(), 0);
  gets_grad[loss_value] = 1;
  std::vector<int> last(parameters_.size(), -1);
  std::vector<char> sparse(parameters_.size(), 1);
  std::vector<char> runs(order.nodes.size(), 0);
  for (int pos = static_cast<int>(order.nodes.size()) - 1; pos >= 0; --pos) {
    const Node& node = nodes[order.nodes[pos]];
    bool has_output_grad = false;
    for (int v : node.outputs) has_output_grad |= gets_grad[v] != 0;
    bool wants_input_grad = false;
    for (int v : node.inputs) wants_input_grad |= v >= 0 && from_param[v];
    if (!has_output_grad || !wants_input_grad) continue;
    runs[pos] = 1;
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      const int v = node.inputs[i];
      if (v < 0 || !from_param[v]) continue;
      const Value& value = g.values()[v];
      if (value.kind == Value::Kind::kParameter) {
        last[value.index] = pos;
        const auto& s = node.op->sparse_grad_inputs;
        if (std::find(s.begin(), s.end(), static_cast<int>(i)) == s.end()) {
          sparse[value.index] = 0;
        }
      } else if (value.kind == Value::Kind::kNodeOutput) {
        gets_grad[v] = 1;
      }
    }
  }
  ready->clear();
  last_node->clear();
  std::vector<char> listed(parameters_.size(), 0);
  for (int pos = static_cast<int>(order.nodes.size()) - 1; pos >= 0; --pos) {
    if (!runs[pos]) continue;
    for (int v : nodes[order.nodes[pos]].inputs) {
      if (v < 0 || g.values()[v].kind != Value::Kind::kParameter) continue;
      const int p = g.values()[v].index;
      if (last[p] != pos || listed[p]) continue;
      listed[p] = 1;
      ready->push_back({p, sparse[p] != 0});
      last_node->push_back(pos);
    }
  }
  for (size_t p = 0; p < parameters_.size(); ++p) {
    if (!parameters_[p].trainable || listed[p]) continue;
    ready->push_back({static_cast<int>(p), false});
    last_node->push_back(-1);
  }
}

absl::StatusOr<std::vector<Executor::GradientReady>>
Executor::GradientReadyOrder(const std::string& loss) {
  const int loss_value = graph_->FindValue(loss);
  if (loss_value < 0) {
    return absl::NotFoundError(
        absl::StrCat("no value named '", loss, "' (the loss) in the graph"));
  }
  const std::vector<std::string> fetches = {loss};
  LOOM_ASSIGN_OR_RETURN(const RunOrder* order, GetRunOrder(fetches));
  std::vector<GradientReady> ready;
  std::vector<int> last_node;
  PlanBackward(*order, loss_value, &ready, &last_node);
  return ready;
}

absl::Status Executor::Backward(const std::string& loss, const Tensor* seed) {
  const Graph& g = *graph_;
  if (last_run_order_ == nullptr) {
    return absl::FailedPreconditionError(
        "Backward() needs a successful Run() first");
  }
  const int loss_value = g.FindValue(loss);
  if (loss_value < 0 || !computed_[loss_value]) {
    return absl::FailedPreconditionError(
        absl::StrCat("the loss '", loss, "' was not computed by the last run"));
  }
  if (seed != nullptr) {
    if (seed->shape() != values_[loss_value].shape() ||
        seed->dtype() != DType::kFloat32) {
      return absl::InvalidArgumentError(
          absl::StrCat("the gradient seed for '", loss, "' must be float",
                       ShapeToString(values_[loss_value].shape()), ", got ",
                       DTypeName(seed->dtype()), ShapeToString(seed->shape())));
    }
  } else if (values_[loss_value].num_elements() != 1 ||
             values_[loss_value].dtype() != DType::kFloat32) {
    return absl::InvalidArgumentError(
        absl::StrCat("the loss '", loss, "' must be a float scalar, got shape ",
                     ShapeToString(values_[loss_value].shape())));
  }

  // Values that depend on a trainable parameter.
  const auto& nodes = g.nodes();
  std::vector<char> from_param(g.values().size(), 0);
  for (size_t i = 0; i < parameters_.size(); ++i) {
    if (parameters_[i].trainable) from_param[g.parameter_values()[i]] = 1;
  }
  MarkDependents(from_param);

  // Reset gradient state. Sparse parameter gradients are cleared row by row
  // so the embedding table is never swept densely.
  for (size_t i = 0; i < parameters_.size(); ++i) {
    Parameter& p = parameters_[i];
    GradState& state = param_grad_state_[i];
    if (state == GradState::kSparse) {
      const int64_t width = p.grad.num_elements() / p.grad.dim(0);
      for (int32_t r : p.touched_rows) {
        std::fill_n(p.grad.f32() + int64_t{r} * width, width, 0.0f);
      }
      state = GradState::kZero;
    } else if (state == GradState::kDense) {
      state = GradState::kStale;
    }
    p.touched_rows.clear();
  }
  std::fill(has_grad_.begin(), has_grad_.end(), 0);
  if (seed != nullptr) {
    value_grads_[loss_value].CopyFrom(*seed);
  } else {
    value_grads_[loss_value].ResizeZeroed(DType::kFloat32,
                                          values_[loss_value].shape());
    value_grads_[loss_value].f32()[0] = 1.0f;
  }
  has_grad_[loss_value] = 1;

  // With a hook: which parameters are final after which node.
  std::vector<GradientReady> ready;
  std::vector<int> last_node;
  size_t next_ready = 0;
  if (backward_hook_) {
    PlanBackward(*last_run_order_, loss_value, &ready, &last_node);
  }
  auto report = [&](size_t k) -> absl::Status {
    const int p = ready[k].parameter;
    parameters_[p].grad_is_sparse = param_grad_state_[p] == GradState::kSparse;
    absl::Status s = backward_hook_(p);
    if (!s.ok()) {
      return absl::Status(
          s.code(), absl::StrCat("backward hook for parameter '",
                                 parameters_[p].name, "': ", s.message()));
    }
    return absl::OkStatus();
  };

  const int num_nodes = static_cast<int>(last_run_order_->nodes.size());
  for (int pos = num_nodes - 1; pos >= 0; --pos) {
    const int n = last_run_order_->nodes[pos];
    const Node& node = nodes[n];
    bool has_output_grad = false;
    for (int v : node.outputs) has_output_grad |= has_grad_[v] != 0;
    bool wants_input_grad = false;
    for (int v : node.inputs) wants_input_grad |= v >= 0 && from_param[v];
    if (!has_output_grad || !wants_input_grad) continue;
    if (!node.op->differentiable) {
      return absl::InvalidArgumentError(
          absl::StrCat(g.Describe(n),
                       ": the loss depends on parameters through this "
                       "node, but its op has no gradient"));
    }
    NodeState& state = nodes_[n];
    std::vector<const Tensor*> output_grads;
    for (int v : node.outputs) {
      output_grads.push_back(has_grad_[v] ? &value_grads_[v] : nullptr);
    }
    std::vector<Tensor*> input_grads(node.inputs.size(), nullptr);
    std::vector<SparseRows*> sparse_grads(node.inputs.size(), nullptr);
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      const int v = node.inputs[i];
      if (v < 0 || !from_param[v]) continue;
      const bool sparse =
          g.values()[v].kind == Value::Kind::kParameter &&
          std::find(node.op->sparse_grad_inputs.begin(),
                    node.op->sparse_grad_inputs.end(),
                    static_cast<int>(i)) != node.op->sparse_grad_inputs.end();
      if (sparse) {
        sparse_grads[i] = &state.sparse_scratch[i];
      } else {
        input_grads[i] = &state.input_grad_scratch[i];
      }
    }
    GradContext ctx(state.ctx.get(), std::move(output_grads), input_grads,
                    sparse_grads);
    const auto start = std::chrono::steady_clock::now();
    absl::Status s = state.kernel->Backward(ctx);
    if (profiling_) {
      state.backward_seconds += std::chrono::duration<double>(
                                    std::chrono::steady_clock::now() - start)
                                    .count();
    }
    if (!s.ok()) {
      return absl::Status(
          s.code(), absl::StrCat(g.Describe(n), ": backward: ", s.message()));
    }
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      absl::Status added;
      if (input_grads[i] != nullptr) {
        added = AddDenseGrad(node.inputs[i], input_grads[i]);
      } else if (sparse_grads[i] != nullptr) {
        added = AddSparseGrad(node.inputs[i], sparse_grads[i]);
      }
      if (!added.ok()) {
        return absl::Status(added.code(),
                            absl::StrCat(g.Describe(n), ": ", added.message()));
      }
    }
    for (; next_ready < ready.size() && last_node[next_ready] == pos;
         ++next_ready) {
      LOOM_RETURN_IF_ERROR(report(next_ready));
    }
  }

  for (size_t i = 0; i < parameters_.size(); ++i) {
    if (param_grad_state_[i] == GradState::kStale) {
      parameters_[i].grad.SetZero();
      param_grad_state_[i] = GradState::kZero;
    }
    parameters_[i].grad_is_sparse = param_grad_state_[i] == GradState::kSparse;
  }
  // Parameters the loss does not reach: zero, final now.
  for (; next_ready < ready.size(); ++next_ready) {
    LOOM_RETURN_IF_ERROR(report(next_ready));
  }
  return absl::OkStatus();
}

}  // namespace loom
