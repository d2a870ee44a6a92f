// Executor: runs a Graph forward on batches and derives its backward pass.
//
// It owns the parameters, their gradients and every intermediate buffer;
// buffers persist across steps, so a step at a shape seen before allocates
// nothing. Forward runs only the nodes the requested values need. Backward
// walks those nodes in reverse, calling each op's registered gradient,
// summing gradients where a value feeds several nodes and skipping nodes
// through which no parameter reaches the loss.
#ifndef LOOM_FRAMEWORK_EXECUTOR_H_
#define LOOM_FRAMEWORK_EXECUTOR_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "framework/graph.h"
#include "framework/op.h"
#include "framework/tensor.h"

namespace loom {

struct Parameter {
  std::string name;
  Tensor value;
  // Gradient of the last Backward(); zero if the loss does not reach it.
  Tensor grad;
  bool trainable = true;
  // When the last gradient came only as sparse rows (Embedding), the rows
  // it touched (with repeats); empty when the gradient is dense.
  std::vector<int32_t> touched_rows;
  bool grad_is_sparse = false;
};

using FeedMap = absl::flat_hash_map<std::string, Tensor>;

class Executor {
 public:
  // Creates one kernel per node. `seed` seeds parameter initialization and
  // every node's random generator (dropout masks).
  static absl::StatusOr<std::unique_ptr<Executor>> Create(
      std::shared_ptr<const Graph> graph, uint64_t seed);

  // Fills every parameter from its initializer.
  absl::Status InitializeParameters();

  // Feeds graph inputs and computes `fetches` (value names) and what they
  // need. `training` turns on dropout and lets Backward() follow.
  absl::Status Run(const FeedMap& feeds, absl::Span<const std::string> fetches,
                   bool training);

  // A value computed by the last Run(), by name.
  absl::StatusOr<const Tensor*> Fetch(const std::string& name) const;

  // Gradients of the scalar `loss` (computed by the last Run) with
  // respect to every trainable parameter, written to Parameter::grad.
  // With `seed`, `loss` may be any float value of seed's shape, and the
  // result is the vector-Jacobian product seed^T * d(loss)/d(parameters).
  absl::Status Backward(const std::string& loss, const Tensor* seed = nullptr);

  // Called by Backward() with a parameter's index (into parameters()) as
  // soon as that parameter's gradient is final: right after the last node
  // that contributes to it (in backward order) has added its part, with
  // Parameter::grad and, for a sparse gradient, touched_rows and
  // grad_is_sparse set as Backward() leaves them. Trainable parameters the
  // loss does not reach are reported at the end (zero gradient); frozen
  // ones never. Each trainable parameter is reported exactly once per
  // Backward(), in the order GradientReadyOrder() gives. An error from the
  // hook ends Backward() with that error. For overlapping the gradient
  // allreduce with the backward pass; an empty function turns it off.
  using BackwardHook = std::function<absl::Status(int parameter)>;
  void set_backward_hook(BackwardHook hook) {
    backward_hook_ = std::move(hook);
  }

  // The order in which Backward(loss) finalizes the trainable parameters'
  // gradients after a Run() whose fetches include `loss` (any such Run: the
  // nodes the other fetches add do not reach the loss), and whether each
  // gradient comes only as sparse rows (every contribution through an
  // op's sparse_grad_inputs, e.g. an Embedding's table). Needs no Run().
  struct GradientReady {
    int parameter = 0;
    bool sparse = false;
  };
  absl::StatusOr<std::vector<GradientReady>> GradientReadyOrder(
      const std::string& loss);

  // Run() in inference or training mode, but each value named in
  // `overrides` (a node output) is replaced by the given tensor right after
  // its node runs, so every node reading it sees the override (e.g. chosen
  // embedding rows in place of the looked-up ones). An override must have
  // the computed value's dtype and shape.
  absl::Status RunWithOverrides(const FeedMap& feeds, const FeedMap& overrides,
                                absl::Span<const std::string> fetches,
                                bool training);

  // After a Run(): the vector-Jacobian product seed^T * d(output)/d(wrt)
  // for the float value `output` (seed of its shape) with respect to the
  // node output `wrt`, both computed by the last run, through every node
  // between them (parameters need not be on the path). Parameter gradients
  // are left as they were. Zero when `output` does not depend on `wrt`.
  absl::StatusOr<Tensor> ValueGradient(const std::string& output,
                                       const Tensor& seed,
                                       const std::string& wrt);

  // Reseeds every node's random generator (dropout masks) as Create() did.
  void Reseed(uint64_t seed);

  // For resume checkpoints: each node's random generator state (in node
  // order, as std::mt19937_64 writes it), and restoring them; an error
  // names the node whose state does not parse.
  std::vector<std::string> RngStates() const;
  absl::Status SetRngStates(const std::vector<std::string>& states);

  // When on, Run() and Backward() time every node; ProfileReport() lists
  // the totals, slowest first.
  void set_profiling(bool on) { profiling_ = on; }
  std::string ProfileReport() const;

  std::vector<Parameter>& parameters() { return parameters_; }
  const std::vector<Parameter>& parameters() const { return parameters_; }
  Parameter* FindParameter(const std::string& name);
  const Graph& graph() const { return *graph_; }

 private:
  struct NodeState {
    std::unique_ptr<OpKernel> kernel;
    std::mt19937_64 rng;
    std::unique_ptr<KernelContext> ctx;  // Of the last forward run.
    std::vector<Tensor> input_grad_scratch;
    std::vector<SparseRows> sparse_scratch;
    double forward_seconds = 0;
    double backward_seconds = 0;
    int64_t forward_calls = 0;
  };
  // The nodes a Run() of a set of fetches executes, in topological order,
  // and the fetched values (cached per set of fetches).
  struct RunOrder {
    std::vector<int> nodes;
    std::vector<int> fetch_values;
  };
  // Gradient bookkeeping of a parameter during Backward.
  enum class GradState { kZero, kStale, kDense, kSparse };

  Executor(std::shared_ptr<const Graph> graph, uint64_t seed);
  absl::StatusOr<const RunOrder*> GetRunOrder(
      absl::Span<const std::string> fetches);
  // Marks, in `marked` (one entry per value), every output of the last run
  // order's nodes that depends on a marked value (an op's constant outputs
  // depend on nothing).
  void MarkDependents(std::vector<char>& marked) const;
  // For Backward over `order` from `loss_value`: which input of which
  // node sends a gradient, derived from the graph alone. `ready` gets the
  // trainable parameters in the order their gradients become final, and
  // `last_node[k]` the position in `order` of ready[k]'s last contributor
  // (-1: none, the loss does not reach it).
  void PlanBackward(const RunOrder& order, int loss_value,
                    std::vector<GradientReady>* ready,
                    std::vector<int>* last_node) const;
  absl::Status AddDenseGrad(int value, Tensor* grad);
  absl::Status AddSparseGrad(int value, SparseRows* grad);

  std::shared_ptr<const Graph> graph_;
  uint64_t seed_;
  DnnlContext dnnl_;
  std::vector<NodeState> nodes_;
  std::vector<Tensor> values_;  // Indexed like graph_->values().
  std::vector<Parameter> parameters_;
  absl::flat_hash_map<std::string, RunOrder> run_orders_;
  const RunOrder* last_run_order_ = nullptr;
  bool last_run_training_ = false;
  std::vector<char> computed_;  // Per value, by the last Run().
  // Value index -> tensor, during RunWithOverrides() only.
  absl::flat_hash_map<int, const Tensor*> overrides_;

  std::vector<Tensor> value_grads_;
  std::vector<char> has_grad_;
  std::vector<GradState> param_grad_state_;
  bool profiling_ = false;
  BackwardHook backward_hook_;
};

}  // namespace loom

#endif  // LOOM_FRAMEWORK_EXECUTOR_H_
