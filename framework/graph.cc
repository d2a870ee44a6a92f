#include "framework/graph.h"

#include <algorithm>
#include <deque>
#include <limits>

#include "absl/memory/memory.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "framework/status_macros.h"

namespace loom {

DType FromProto(loom::DataType dtype) {
  return dtype == DT_INT32 ? DType::kInt32 : DType::kFloat32;
}

Shape FromProto(const ShapeProto& shape) {
  return Shape(shape.dim().begin(), shape.dim().end());
}

namespace {

std::string Location(const GraphSource& source, const std::vector<int>& lines,
                     int index) {
  if (source.file.empty()) return "";
  if (index < static_cast<int>(lines.size()) && lines[index] > 0) {
    return absl::StrCat(source.file, ":", lines[index], ": ");
  }
  return absl::StrCat(source.file, ": ");
}

// A parameter's shape is fully defined and non-empty, and its size in
// bytes fits in int64 (NumElements() would overflow).
absl::Status CheckParameterShape(const Shape& shape, const std::string& where) {
  if (shape.empty() || !IsFullyDefined(shape) ||
      std::find_if(shape.begin(), shape.end(),
                   [](int64_t d) { return d <= 0; }) != shape.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, "needs a fully defined, non-empty shape, got ",
                     ShapeToString(shape)));
  }
  int64_t elements = 1;
  for (const int64_t d : shape) {
    if (elements > std::numeric_limits<int64_t>::max() / 4 / d) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "shape ", ShapeToString(shape),
                       " has too many elements (more than 2^61)"));
    }
    elements *= d;
  }
  return absl::OkStatus();
}

// The signature inputs an op can create, by signature index (-1: not a
// parameter input), after checking the op's ParamSpecs.
absl::StatusOr<std::vector<int>> ParamSlots(const OpDef& op) {
  const OpSignature& sig = op.signature;
  if (HasVariadicInput(sig)) {
    return absl::InternalError(absl::StrCat(
        "op ", sig.name, " declares parameters but has a variadic input"));
  }
  std::vector<int> slot_spec(sig.inputs.size(), -1);
  for (size_t p = 0; p < op.params.size(); ++p) {
    const int in = op.params[p].input;
    if (in < 0 || in >= static_cast<int>(sig.inputs.size()) ||
        sig.inputs[in].variadic || slot_spec[in] >= 0 || !op.params[p].make) {
      return absl::InternalError(absl::StrCat(
          "op ", sig.name, " declares parameter ", p,
          " for an input it cannot create (input ", in,
          ": out of range, variadic, declared twice, or no make function)"));
    }
    slot_spec[in] = static_cast<int>(p);
  }
  return slot_spec;
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
    LOOM_RETURN_IF_ERROR(add_value(std::move(v), where));
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
    LOOM_RETURN_IF_ERROR(CheckParameterShape(shape, where));
    Value v{p.name(), Value::Kind::kParameter, {DType::kFloat32, shape}};
    v.index = i;
    graph->parameter_values_.push_back(values.size());
    LOOM_RETURN_IF_ERROR(add_value(std::move(v), where));
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
      LOOM_RETURN_IF_ERROR(add_value(std::move(v), where));
    }
  }

  // Parameters the ops create: a node of an op with ParamSpecs that gives
  // fewer inputs than its signature requires leaves its parameters to the
  // op; its inputs are then its non-parameter inputs, in order. The names
  // are made now, so any node can read them; the shapes once the owner's
  // inputs are known.
  struct Created {
    int value;  // The parameter's value index.
    int spec;   // Index in the op's params.
    ParameterDef def;
  };
  std::vector<std::vector<Created>> created(num_nodes);
  std::vector<int> owner_of_value(values.size(), -1);
  // Per node, the signature input each given input fills (empty: the same
  // index, the full form).
  std::vector<std::vector<int>> input_slot(num_nodes);
  for (int i = 0; i < num_nodes; ++i) {
    const NodeDef& nd = def.node(i);
    Node& node = nodes[i];
    const OpDef& op = *node.op;
    const auto& sig = op.signature;
    if (op.params.empty() || nd.input_size() >= MinNodeInputs(sig)) continue;
    const std::string where =
        absl::StrCat(node.location, "node '", nd.name(), "' (", nd.op(), "): ");
    auto slot_spec = ParamSlots(op);
    if (!slot_spec.ok()) {
      return absl::InternalError(
          absl::StrCat(where, slot_spec.status().message()));
    }
    std::vector<int> free_inputs;  // Signature indices the node gives.
    for (size_t k = 0; k < sig.inputs.size(); ++k) {
      if ((*slot_spec)[k] < 0) free_inputs.push_back(static_cast<int>(k));
    }
    std::vector<ArgSpec> free_args;
    for (int k : free_inputs) free_args.push_back(sig.inputs[k]);
    const int given = nd.input_size();
    bool missing = given > static_cast<int>(free_inputs.size());
    for (size_t k = given; !missing && k < free_inputs.size(); ++k) {
      missing = !sig.inputs[free_inputs[k]].optional;
    }
    if (missing) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "takes inputs (", ArgListText(sig.inputs),
                       "), or (", ArgListText(free_args),
                       ") leaving its parameters to the op, but got ", given));
    }
    input_slot[i].assign(free_inputs.begin(), free_inputs.begin() + given);
    for (size_t p = 0; p < op.params.size(); ++p) {
      const ParamSpec& spec = op.params[p];
      const std::string suffix =
          spec.suffix ? spec.suffix(node.attrs) : sig.inputs[spec.input].name;
      if (suffix.empty()) {
        if (sig.inputs[spec.input].optional) continue;
        return absl::InternalError(
            absl::StrCat(where, "the op gives required input '",
                         sig.inputs[spec.input].name, "' no parameter"));
      }
      const std::string name = absl::StrCat(nd.name(), "/", suffix);
      if (auto it = by_name.find(name); it != by_name.end()) {
        const Value& v = values[it->second];
        if (v.kind == Value::Kind::kParameter &&
            owner_of_value[it->second] < 0) {
          continue;  // A parameter declared in the graph overrides it.
        }
        return absl::InvalidArgumentError(
            absl::StrCat(where, "the op creates parameter '", name,
                         "', but that name is already used in the graph"));
      }
      Value v{name, Value::Kind::kParameter};
      const int index = static_cast<int>(values.size());
      LOOM_RETURN_IF_ERROR(add_value(std::move(v), where));
      owner_of_value.resize(values.size(), -1);
      owner_of_value[index] = i;
      Created c{index, static_cast<int>(p), {}};
      c.def.set_name(name);
      created[i].push_back(std::move(c));
    }
  }
  owner_of_value.resize(values.size(), -1);

  // Resolve inputs.
  std::vector<std::vector<int>> deps(num_nodes);  // Producer node indices.
  for (int i = 0; i < num_nodes; ++i) {
    const NodeDef& nd = def.node(i);
    Node& node = nodes[i];
    const auto& sig = node.op->signature;
    const std::string where =
        absl::StrCat(node.location, "node '", nd.name(), "' (", nd.op(), "): ");
    const int given = nd.input_size();
    if (!input_slot[i].empty() || !created[i].empty()) {
      // The node leaves its parameters to the op (checked above).
      node.inputs.assign(sig.inputs.size(), -1);
      for (const Created& c : created[i]) {
        node.inputs[node.op->params[c.spec].input] = c.value;
        values[c.value].consumers.push_back(i);
      }
      for (const ParamSpec& spec : node.op->params) {
        if (node.inputs[spec.input] >= 0) continue;
        const std::string suffix =
            spec.suffix ? spec.suffix(node.attrs) : sig.inputs[spec.input].name;
        if (suffix.empty()) continue;
        const int v = graph->FindValue(absl::StrCat(nd.name(), "/", suffix));
        node.inputs[spec.input] = v;  // Declared in the graph.
        values[v].consumers.push_back(i);
      }
      for (int k = 0; k < given; ++k) {
        const std::string& ref = nd.input(k);
        const int slot = input_slot[i][k];
        const std::string& input_name = sig.inputs[slot].name;
        if (ref.empty()) {
          if (!sig.inputs[slot].optional) {
            return absl::InvalidArgumentError(
                absl::StrCat(where, "input '", input_name,
                             "' is required but given as \"\""));
          }
          continue;
        }
        auto parsed = ParseValueName(ref);
        if (!parsed.ok()) {
          return absl::InvalidArgumentError(
              absl::StrCat(where, parsed.status().message()));
        }
        const int v = graph->FindValue(ref);
        if (v < 0) {
          return absl::InvalidArgumentError(
              absl::StrCat(where, "input '", input_name, "' reads '", ref,
                           "', which is no node, parameter or graph input"));
        }
        node.inputs[slot] = v;
        values[v].consumers.push_back(i);
        if (values[v].kind == Value::Kind::kNodeOutput) {
          deps[i].push_back(values[v].producer);
        } else if (owner_of_value[v] >= 0 && owner_of_value[v] != i) {
          deps[i].push_back(owner_of_value[v]);
        }
      }
      // The graph's definition gets the full form: every input by name.
      NodeDef* full = graph->def_.mutable_node(i);
      full->clear_input();
      int last = -1;
      for (size_t k = 0; k < node.inputs.size(); ++k) {
        if (node.inputs[k] >= 0) last = static_cast<int>(k);
      }
      for (int k = 0; k <= last; ++k) {
        full->add_input(node.inputs[k] < 0 ? "" : values[node.inputs[k]].name);
      }
      continue;
    }
    // Inputs are positional. A variadic input (always the last, in a
    // signature without optional inputs) takes every input past the fixed
    // ones.
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
      } else if (owner_of_value[v] >= 0 && owner_of_value[v] != i) {
        deps[i].push_back(owner_of_value[v]);
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

  // Shape inference in topological order. A node's own parameters are
  // shaped first, from its other inputs.
  for (int k = 0; k < num_nodes; ++k) {
    Node& node = graph->nodes_[k];
    std::vector<const ValueInfo*> infos;
    for (int v : node.inputs) {
      infos.push_back(v < 0 || owner_of_value[v] >= 0 ? nullptr
                                                      : &values[v].info);
    }
    for (Created& c : created[order[k]]) {
      const ParamSpec& spec = node.op->params[c.spec];
      ShapeContext param_ctx(node.name, node.attrs, infos,
                             static_cast<int>(node.outputs.size()));
      auto made = spec.make(param_ctx);
      const std::string where =
          absl::StrCat(graph->Describe(k), ": parameter '", c.def.name(), "'");
      if (!made.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": ", made.status().message()));
      }
      const std::string from_op = absl::StrCat(where, " (from the op) ");
      LOOM_RETURN_IF_ERROR(CheckParameterShape(made->shape, from_op));
      values[c.value].info = {DType::kFloat32, made->shape};
      for (const int64_t d : made->shape) c.def.mutable_shape()->add_dim(d);
      *c.def.mutable_initializer() = made->initializer;
    }
    for (size_t j = 0; j < node.inputs.size(); ++j) {
      if (node.inputs[j] >= 0) infos[j] = &values[node.inputs[j]].info;
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

  // The created parameters follow the declared ones, in the order of their
  // nodes in the GraphDef: initialization draws from one generator in
  // parameter order, so the order fixes the initial weights.
  for (int i = 0; i < num_nodes; ++i) {
    for (Created& c : created[i]) {
      values[c.value].index = graph->def_.parameter_size();
      graph->parameter_values_.push_back(c.value);
      *graph->def_.add_parameter() = std::move(c.def);
    }
  }
  return graph;
}

namespace {

// "(None, 100, 64)", as Keras prints shapes.
std::string SummaryShape(const Shape& shape) {
  std::vector<std::string> dims;
  for (const int64_t d : shape) {
    dims.push_back(d < 0 ? "None" : absl::StrCat(d));
  }
  if (dims.size() == 1) return absl::StrCat("(", dims[0], ",)");
  return absl::StrCat("(", absl::StrJoin(dims, ", "), ")");
}

// 1234567 -> "1,234,567".
std::string WithCommas(int64_t n) {
  std::string digits = absl::StrCat(n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

int64_t Elements(const Shape& shape) {
  int64_t n = 1;
  for (const int64_t d : shape) n *= d;
  return n;
}

}  // namespace

std::string GraphSummary(const Graph& graph, const std::string& title) {
  const std::vector<Value>& values = graph.values();
  const std::vector<Node>& nodes = graph.nodes();
  // The node each parameter is listed under (-1: read by none).
  std::vector<int> holder(values.size(), -1);
  for (const int v : graph.parameter_values()) {
    for (size_t n = 0; n < nodes.size() && holder[v] < 0; ++n) {
      const Node& node = nodes[n];
      for (const ParamSpec& spec : node.op->params) {
        if (spec.input < static_cast<int>(node.inputs.size()) &&
            node.inputs[spec.input] == v) {
          holder[v] = static_cast<int>(n);
        }
      }
    }
    for (size_t n = 0; n < nodes.size() && holder[v] < 0; ++n) {
      for (const int in : nodes[n].inputs) {
        if (in == v) holder[v] = static_cast<int>(n);
      }
    }
  }
  struct Row {
    std::string layer, shape, params, inputs;
  };
  std::vector<Row> rows;
  const auto add_parameter = [&](int v) {
    const Value& p = values[v];
    const bool frozen = graph.def().parameter(p.index).frozen();
    rows.push_back({absl::StrCat("  ", p.name, frozen ? " (frozen)" : ""),
                    ShapeToString(p.info.shape),
                    WithCommas(Elements(p.info.shape)), ""});
  };
  for (size_t n = 0; n < nodes.size(); ++n) {
    const Node& node = nodes[n];
    int64_t count = 0;
    std::vector<int> held;
    std::vector<std::string> reads;
    for (const int v : node.inputs) {
      if (v < 0) continue;
      if (values[v].kind != Value::Kind::kParameter ||
          holder[v] != static_cast<int>(n)) {
        reads.push_back(values[v].name);
      } else if (std::find(held.begin(), held.end(), v) == held.end()) {
        held.push_back(v);
        count += Elements(values[v].info.shape);
      }
    }
    rows.push_back({absl::StrCat(node.name, " (", node.op->signature.name, ")"),
                    node.outputs.empty()
                        ? ""
                        : SummaryShape(values[node.outputs[0]].info.shape),
                    WithCommas(count), absl::StrJoin(reads, ", ")});
    for (const int v : held) add_parameter(v);
  }
  bool orphans = false;
  for (const int v : graph.parameter_values()) {
    if (holder[v] >= 0) continue;
    if (!orphans) rows.push_back({"(read by no node)", "", "0", ""});
    orphans = true;
    add_parameter(v);
  }
  int64_t trainable = 0, frozen = 0;
  for (const int v : graph.parameter_values()) {
    const int64_t n = Elements(values[v].info.shape);
    (graph.def().parameter(values[v].index).frozen() ? frozen : trainable) += n;
  }

  Row header{"Layer (type)", "Output Shape", "Param #", "Connected to"};
  size_t w[3] = {header.layer.size(), header.shape.size(),
                 header.params.size()};
  size_t width = 0;
  for (const Row& r : rows) {
    w[0] = std::max(w[0], r.layer.size());
    w[1] = std::max(w[1], r.shape.size());
    w[2] = std::max(w[2], r.params.size());
  }
  const auto line = [&](const Row& r) {
    std::string text = absl::StrFormat(" %-*s  %-*s  %*s  %s", w[0], r.layer,
                                       w[1], r.shape, w[2], r.params, r.inputs);
    while (!text.empty() && text.back() == ' ') text.pop_back();
    width = std::max(width, text.size());
    return text;
  };
  std::vector<std::string> lines;
  const std::string head = line(header);
  for (const Row& r : rows) lines.push_back(line(r));
  std::string out = absl::StrCat("Model: \"", title, "\"\n");
  absl::StrAppend(&out, std::string(width, '_'), "\n", head, "\n",
                  std::string(width, '='), "\n");
  for (const std::string& l : lines) absl::StrAppend(&out, l, "\n");
  absl::StrAppend(&out, std::string(width, '='), "\n",
                  "Total params: ", WithCommas(trainable + frozen), "\n",
                  "Trainable params: ", WithCommas(trainable), "\n",
                  "Non-trainable params: ", WithCommas(frozen), "\n",
                  std::string(width, '_'), "\n");
  return out;
}

}  // namespace loom
