// Graph: a GraphDef checked against the op registry, ready to execute.
//
// Building a Graph checks everything before anything runs: unique names,
// known ops, inputs that exist, attribute names and types, cycles, and
// shapes (via each op's shape function). Errors name the node, its op, the
// problem and, when known, the model file and line.
//
// Parameters: a node either names every parameter input itself (the full
// form; the parameters are declared in the GraphDef), or, for an op that
// declares its parameters (OpDef::params), gives fewer inputs than the
// signature requires: then its inputs fill the signature's non-parameter
// inputs in order and the builder creates "<node>/<suffix>" for each
// parameter, shaped and initialized as the op says. A parameter of that
// name declared in the GraphDef is used instead (its shape and initializer
// win; it must still fit the shape function). def() is the graph in the
// full form: created parameters appended after the declared ones, in node
// order, and every node's inputs spelled out.
#ifndef LOOM_FRAMEWORK_GRAPH_H_
#define LOOM_FRAMEWORK_GRAPH_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "framework/op.h"
#include "framework/proto/graph.pb.h"
#include "framework/registry.h"

namespace loom {

// Where the GraphDef came from, for error messages.
struct GraphSource {
  std::string file;             // Empty when not from a file.
  std::vector<int> node_lines;  // 1-based line of each node; may be empty.
  std::vector<int> parameter_lines;
  // Plugins the model says it needs, named in "unknown op" errors.
  std::vector<std::string> required_plugins;
};

// A GraphDef's dtype and shape as the runtime spells them.
DType FromProto(loom::DataType dtype);
Shape FromProto(const ShapeProto& shape);

// Every value in the graph: a graph input, a parameter, or a node output.
struct Value {
  enum class Kind { kInput, kParameter, kNodeOutput };
  std::string name;  // "node" for output 0, "node:k" for output k.
  Kind kind;
  ValueInfo info;
  int producer = -1;           // Node index for kNodeOutput.
  int index = -1;              // Output index, parameter index or input index.
  std::vector<int> consumers;  // Node indices, possibly repeated.
};

struct Node {
  std::string name;
  const OpDef* op = nullptr;
  AttrMap attrs;
  // Value indices, one per signature input (-1 for an absent optional),
  // or with a variadic input one per input the node gives.
  std::vector<int> inputs;
  std::vector<int> outputs;  // Value indices.
  const KernelDef* kernel = nullptr;
  std::string location;  // "file:line: " or "" for messages.
};

class Graph {
 public:
  static absl::StatusOr<std::unique_ptr<Graph>> Build(
      const GraphDef& def, const OpRegistry& registry,
      const GraphSource& source = {});

  // The graph in the full form (see above): what was built.
  const GraphDef& def() const { return def_; }
  // Nodes in a topological order.
  const std::vector<Node>& nodes() const { return nodes_; }
  const std::vector<Value>& values() const { return values_; }
  // Value index by name ("node", "node:1", parameter or input name), or -1.
  int FindValue(const std::string& name) const;
  // Value indices of the graph inputs and parameters, in def() order.
  const std::vector<int>& input_values() const { return input_values_; }
  const std::vector<int>& parameter_values() const { return parameter_values_; }
  // "file:line: node 'name' (Op)" for messages about a node.
  std::string Describe(int node) const;

 private:
  Graph() = default;

  GraphDef def_;
  std::vector<Node> nodes_;
  std::vector<Value> values_;
  absl::flat_hash_map<std::string, int> value_by_name_;
  std::vector<int> input_values_;
  std::vector<int> parameter_values_;
};

// The graph as a table, like Keras' model.summary(): every node in the
// order it runs, its op, output shape ("None" for a size known only at run
// time), the parameters it holds with their shapes and element counts, and
// the values it reads; then the totals, trainable and not (frozen). A
// parameter belongs to the node that reads it where its op could have
// created it (Dense's kernel to the Dense, not to an L2 penalty on it),
// else to the first node that reads it; a parameter nobody reads is listed
// last.
std::string GraphSummary(const Graph& graph, const std::string& title);

// Splits "node:k" into ("node", k); plain "node" is output 0.
absl::StatusOr<std::pair<std::string, int>> ParseValueName(
    const std::string& name);

}  // namespace loom

#endif  // LOOM_FRAMEWORK_GRAPH_H_
