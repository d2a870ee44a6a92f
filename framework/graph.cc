#include "framework/graph.h"

#include <algorithm>
#include <deque>
#include <limits>

#include "absl/memory/memory.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace loom {
namespace {

DType FromProto(loom::DataType dtype) {
  return dtype == DT_INT32 ? DType::kInt32 : DType::kFloat32;
}

Shape FromProto(const ShapeProto& shape) {
  return Shape(shape.dim().begin(), shape.dim().end());
}

std::string Location(const GraphSource& source, const std::vector<int>& lines,
                     int index) {
  if (source.file.empty()) return "";
  if (index < static_cast<int>(lines.size()) && lines[index] > 0) {
    return absl::StrCat(source.file, ":", lines[index], ": ");
  }
  return absl::StrCat(source.file, ": ");
}

}  // namespace

absl::StatusOr<std::pair<std::string, int>> ParseValueName(
    const std::string& name) {
  size_t colon = name.rfind(':');
  if (colon == std::string::npos) return std::make_pair(name, 0);
  int index = 0;
  if (!absl::SimpleAtoi(name.substr(colon + 1), &index) || index < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad value name '", name,
                     "': expected 'node' or 'node:<output index>'"));
  }
  return std::make_pair(name.substr(0, colon), index);
}

int Graph::FindValue(const std::string& name) const {
  auto it = value_by_name_.find(name);
  if (it != value_by_name_.end()) return it->second;
  // "node:0" names the same value as "node".
  if (name.size() > 2 && name.substr(name.size() - 2) == ":0") {
    it = value_by_name_.find(name.substr(0, name.size() - 2));
    if (it != value_by_name_.end()) return it->second;
  }
  return -1;
}

std::string Graph::Describe(int node) const {
  const Node& n = nodes_[node];
  return absl::StrCat(n.location, "node '", n.name, "' (", n.op->signature.name,
                      ")");
}

absl::StatusOr<std::unique_ptr<Graph>> Graph::Build(const GraphDef& def,
                                                    const OpRegistry& registry,
                                                    const GraphSource& source) {
  auto graph = absl::WrapUnique(new Graph());
  graph->def_ = def;
  std::vector<Value>& values = graph->values_;
  auto& by_name = graph->value_by_name_;

  auto add_value = [&](Value v, const std::string& where) -> absl::Status {
    if (by_name.contains(v.name)) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, "the name '", v.name, "' is used twice in the graph"));
    }
    by_name[v.name] = static_cast<int>(values.size());
    values.push_back(std::move(v));
    return absl::OkStatus();
  };

  // Graph inputs and parameters.
  const std::string file_prefix =
      source.file.empty() ? "" : absl::StrCat(source.file, ": ");
  for (int i = 0; i < def.input_size(); ++i) {
    const InputDef& in = def.input(i);
    const std::string where =
        absl::StrCat(file_prefix, "graph input '", in.name(), "': ");
    if (in.name().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(file_prefix, "graph input ", i, " has no name"));
    }
    if (in.dtype() == DT_INVALID) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "dtype is missing (DT_FLOAT or DT_INT32)"));
    }
    Value v{in.name(),
            Value::Kind::kInput,
            {FromProto(in.dtype()), FromProto(in.shape())}};
    v.index = i;
    graph->input_values_.push_back(values.size());
    if (auto s = add_value(std::move(v), where); !s.ok()) return s;
  }
  for (int i = 0; i < def.parameter_size(); ++i) {
    const ParameterDef& p = def.parameter(i);
    const std::string where =
        absl::StrCat(Location(source, source.parameter_lines, i), "parameter '",
                     p.name(), "': ");
    if (p.name().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "parameter ", i, " has no name"));
    }
    Shape shape = FromProto(p.shape());
    if (shape.empty() || !IsFullyDefined(shape) ||
        std::find(shape.begin(), shape.end(), 0) != shape.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "needs a fully defined, non-empty shape, got ",
                       ShapeToString(shape)));
    }
    // Its size in bytes must fit in int64: NumElements() would overflow.
    int64_t elements = 1;
    for (const int64_t d : shape) {
      if (elements > std::numeric_limits<int64_t>::max() / 4 / d) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, "shape ", ShapeToString(shape),
                         " has too many elements (more than 2^61)"));
      }
      elements *= d;
    }
    Value v{p.name(), Value::Kind::kParameter, {DType::kFloat32, shape}};
    v.index = i;
    graph->parameter_values_.push_back(values.size());
    if (auto s = add_value(std::move(v), where); !s.ok()) return s;
  }

  // Nodes: check ops and attributes, then name their outputs.
  const int num_nodes = def.node_size();
  std::vector<Node> nodes(num_nodes);
  absl::flat_hash_map<std::string, int> node_by_name;
  for (int i = 0; i < num_nodes; ++i) {
    const NodeDef& nd = def.node(i);
    Node& node = nodes[i];
    node.name = nd.name();
    node.location = Location(source, source.node_lines, i);
    const std::string where =
        absl::StrCat(node.location, "node '", nd.name(), "' (", nd.op(), "): ");
    if (nd.name().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(node.location, "node ", i, " has no name"));
    }
    if (nd.name().find(':') != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "node names may not contain ':'"));
    }
    if (node_by_name.contains(nd.name())) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "another node has the same name"));
    }
    node_by_name[nd.name()] = i;
    node.op = registry.Find(nd.op());
    if (node.op == nullptr) {
      std::string hint;
      if (!source.required_plugins.empty()) {
        hint = absl::StrCat("; the model requires plugins ",
                            absl::StrJoin(source.required_plugins, ", "),
                            ": load them with --plugin=PATH, or put "
                            "their folder on --plugin_path or "
                            "LOOM_PLUGIN_PATH");
      } else {
        hint = "; is it provided by a plugin that was not loaded?";
      }
      return absl::NotFoundError(
          absl::StrCat(where, "unknown op '", nd.op(), "'", hint));
    }
    auto attrs = AttrMap::Resolve(node.op->signature.attrs, nd.attr());
    if (!attrs.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, attrs.status().message()));
    }
    node.attrs = *std::move(attrs);
    node.kernel = &node.op->kernels.front();
    if (node.attrs.Has("_kernel")) {
      const std::string& want = node.attrs.GetString("_kernel");
      node.kernel = nullptr;
      for (const KernelDef& k : node.op->kernels) {
        if (k.name == want) node.kernel = &k;
      }
      if (node.kernel == nullptr) {
        return absl::NotFoundError(
            absl::StrCat(where, "op has no kernel named '", want, "'"));
      }
    }
    const auto& sig = node.op->signature;
    for (size_t k = 0; k < sig.outputs.size(); ++k) {
      Value v{k == 0 ? nd.name() : absl::StrCat(nd.name(), ":", k),
              Value::Kind::kNodeOutput};
      v.producer = i;
      v.index = static_cast<int>(k);
      node.outputs.push_back(values.size());
      if (auto s = add_value(std::move(v), where); !s.ok()) return s;
    }
  }

  // Resolve inputs.
  std::vector<std::vector<int>> deps(num_nodes);  // Producer node indices.
  for (int i = 0; i < num_nodes; ++i) {
    const NodeDef& nd = def.node(i);
    Node& node = nodes[i];
    const auto& sig = node.op->signature;
    const std::string where =
        absl::StrCat(node.location, "node '", nd.name(), "' (", nd.op(), "): ");
    // Inputs are positional. A variadic input (always the last, in a
    // signature without optional inputs) takes every input past the fixed
    // ones.
    const int given = nd.input_size();
    const bool variadic = HasVariadicInput(sig);
    const int fixed = static_cast<int>(sig.inputs.size()) - (variadic ? 1 : 0);
    const int min_inputs = MinNodeInputs(sig);
    const int max_inputs = MaxNodeInputs(sig);
    if (variadic && given >= fixed && given < min_inputs) {
      const ArgSpec& list = sig.inputs.back();
      return absl::InvalidArgumentError(absl::StrCat(
          where, "input '", list.name, "' needs at least ", list.min_count,
          list.min_count == 1 ? " tensor" : " tensors", ", got ",
          given - fixed));
    }
    if (given < min_inputs || (max_inputs >= 0 && given > max_inputs)) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, "takes inputs (", ArgListText(sig.inputs), ")",
          variadic ? absl::StrCat(", at least ", min_inputs, " in all") : "",
          " but got ", given));
    }
    node.inputs.assign(variadic ? given : sig.inputs.size(), -1);
    for (int k = 0; k < given; ++k) {
      const std::string& ref = nd.input(k);
      const ArgSpec& spec = sig.inputs[SignatureInputIndex(sig, k)];
      const std::string input_name = NodeInputName(sig, k);
      if (ref.empty()) {
        // "" leaves an optional input out while naming later ones.
        if (spec.variadic) {
          return absl::InvalidArgumentError(absl::StrCat(
              where, "input '", input_name,
              "' is given as \"\", but the tensors of variadic input '",
              spec.name, "' cannot be left out"));
        }
        if (!spec.optional) {
          return absl::InvalidArgumentError(absl::StrCat(
              where, "input '", input_name, "' is required but given as \"\""));
        }
        continue;
      }
      auto parsed = ParseValueName(ref);
      if (!parsed.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, parsed.status().message()));
      }
      int v = graph->FindValue(ref);
      if (v < 0) {
        auto it = node_by_name.find(parsed->first);
        if (it != node_by_name.end()) {
          return absl::InvalidArgumentError(
              absl::StrCat(where, "input '", input_name, "' reads '", ref,
                           "', but node '", parsed->first, "' has only ",
                           nodes[it->second].outputs.size(), " output(s)"));
        }
        return absl::InvalidArgumentError(
            absl::StrCat(where, "input '", input_name, "' reads '", ref,
                         "', which is no node, parameter or graph input"));
      }
      node.inputs[k] = v;
      values[v].consumers.push_back(i);
      if (values[v].kind == Value::Kind::kNodeOutput) {
        deps[i].push_back(values[v].producer);
      }
    }
  }

  // Topological order (Kahn); what remains is on a cycle.
  std::vector<int> pending(num_nodes, 0);
  std::vector<std::vector<int>> users(num_nodes);
  for (int i = 0; i < num_nodes; ++i) {
    for (int d : deps[i]) {
      ++pending[i];
      users[d].push_back(i);
    }
  }
  std::deque<int> ready;
  for (int i = 0; i < num_nodes; ++i) {
    if (pending[i] == 0) ready.push_back(i);
  }
  std::vector<int> order;
  while (!ready.empty()) {
    int n = ready.front();
    ready.pop_front();
    order.push_back(n);
    for (int u : users[n]) {
      if (--pending[u] == 0) ready.push_back(u);
    }
  }
  if (static_cast<int>(order.size()) != num_nodes) {
    std::vector<std::string> cyclic;
    int first = -1;
    for (int i = 0; i < num_nodes; ++i) {
      if (pending[i] > 0) {
        cyclic.push_back(nodes[i].name);
        if (first < 0) first = i;
      }
    }
    return absl::InvalidArgumentError(absl::StrCat(
        nodes[first].location,
        "the graph has a cycle through nodes: ", absl::StrJoin(cyclic, ", ")));
  }

  // Renumber nodes in topological order.
  std::vector<int> new_index(num_nodes);
  for (int k = 0; k < num_nodes; ++k) new_index[order[k]] = k;
  graph->nodes_.reserve(num_nodes);
  for (int k = 0; k < num_nodes; ++k) {
    graph->nodes_.push_back(std::move(nodes[order[k]]));
  }
  for (Value& v : values) {
    if (v.kind == Value::Kind::kNodeOutput) v.producer = new_index[v.producer];
    for (int& c : v.consumers) c = new_index[c];
  }

  // Shape inference in topological order.
  for (int k = 0; k < num_nodes; ++k) {
    Node& node = graph->nodes_[k];
    std::vector<const ValueInfo*> infos;
    for (int v : node.inputs) {
      infos.push_back(v < 0 ? nullptr : &values[v].info);
    }
    ShapeContext ctx(node.name, node.attrs, infos,
                     static_cast<int>(node.outputs.size()));
    absl::Status status = node.op->shape_fn(ctx);
    if (!status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(graph->Describe(k), ": ", status.message()));
    }
    for (size_t o = 0; o < node.outputs.size(); ++o) {
      values[node.outputs[o]].info = ctx.outputs()[o];
    }
  }
  return graph;
}

}  // namespace loom
