#include "framework/training/padding_invariance.h"

#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "framework/status_macros.h"

namespace loom {
namespace {

// What a value is, as far as the padding goes.
enum class Kind {
  kConstant,  // Does not depend on the features (parameters, other inputs).
  kSteps,     // Has the features' time axis (dim 1), step by step.
  kMask,      // The padding mask [N, T] of an Embedding with mask_zero.
  kRow,       // Per row, no time axis, independent of the padding.
};

// Ops that work on each time step alone, whatever their rank (elementwise,
// or over the last axis only).
const absl::flat_hash_set<std::string>& ElementwiseOps() {
  static const auto* ops = new absl::flat_hash_set<std::string>{
      "Add", "Dropout", "SpatialDropout1D", "Relu", "Sigmoid", "Tanh"};
  return *ops;
}

// The index of the signature input named `name`, or -1.
int InputNamed(const Node& node, const std::string& name) {
  const auto& inputs = node.op->signature.inputs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace

absl::Status CheckPaddingInvariant(const Graph& graph,
                                   const std::string& features,
                                   const std::string& prediction,
                                   TextDatasetDef::Padding padding) {
  const auto refuse = [](const std::string& what) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the prediction depends on the padding (length trimming needs one "
        "that does not): ",
        what));
  };
  const int f = graph.FindValue(features);
  if (f < 0 || graph.values()[f].kind != Value::Kind::kInput) {
    return refuse(absl::StrCat("'", features, "' is not a graph input"));
  }
  const ValueInfo& fi = graph.values()[f].info;
  if (fi.dtype != DType::kInt32 || fi.shape.size() != 2) {
    return refuse(absl::StrCat("the features input '", features, "' is ",
                               DTypeName(fi.dtype), ShapeToString(fi.shape),
                               ", not token ids int32[N, T]"));
  }
  const int p = graph.FindValue(prediction);
  if (p < 0) {
    return refuse(absl::StrCat("no value named '", prediction, "'"));
  }
  // The nodes the prediction needs.
  std::vector<char> needed(graph.nodes().size(), 0);
  std::vector<int> stack;
  if (graph.values()[p].kind == Value::Kind::kNodeOutput) {
    stack.push_back(graph.values()[p].producer);
  }
  while (!stack.empty()) {
    const int n = stack.back();
    stack.pop_back();
    if (needed[n]) continue;
    needed[n] = 1;
    for (int v : graph.nodes()[n].inputs) {
      if (v >= 0 && graph.values()[v].kind == Value::Kind::kNodeOutput) {
        stack.push_back(graph.values()[v].producer);
      }
    }
  }
  std::vector<Kind> kind(graph.values().size(), Kind::kConstant);
  kind[f] = Kind::kSteps;
  for (size_t n = 0; n < graph.nodes().size(); ++n) {
    if (!needed[n]) continue;
    const Node& node = graph.nodes()[n];
    const std::string& op = node.op->signature.name;
    const auto bad = [&](const std::string& why) {
      return refuse(absl::StrCat(graph.Describe(static_cast<int>(n)), " ", why,
                                 "; set no_length_trimming: true to keep "
                                 "batches padded to dataset.max_len"));
    };
    bool steps = false;  // Some input has the time axis (values or a mask).
    bool rows = false;
    for (int v : node.inputs) {
      if (v < 0) continue;
      steps |= kind[v] == Kind::kSteps || kind[v] == Kind::kMask;
      rows |= kind[v] == Kind::kRow;
    }
    Kind out = Kind::kConstant;
    if (!steps) {
      // No time axis reaches it: whatever it does, per row.
      out = rows ? Kind::kRow : Kind::kConstant;
      for (int v : node.outputs) kind[v] = out;
      continue;
    }
    const auto rank = [&](int input) {
      return graph.values()[node.inputs[input]].info.shape.size();
    };
    if (op == "Embedding") {
      if (kind[node.inputs[0]] != Kind::kSteps || rank(0) != 2) {
        return bad("looks up ids that are not the features' [N, T] ids");
      }
      kind[node.outputs[0]] = Kind::kSteps;
      if (node.outputs.size() > 1) {
        kind[node.outputs[1]] =
            node.attrs.GetBool("mask_zero") ? Kind::kMask : Kind::kSteps;
      }
      continue;
    }
    if (op == "HashedBigrams") {
      // Pairs of neighboring ids, 0 wherever either is padding: a row's
      // ids do not depend on the padding around it.
      if (kind[node.inputs[0]] != Kind::kSteps || rank(0) != 2) {
        return bad("hashes ids that are not the features' [N, T] ids");
      }
      kind[node.outputs[0]] = Kind::kSteps;
      continue;
    }
    if (op == "TruncateSequences") {
      // Cutting on the padding's side keeps each row's ids (as far as the
      // cut length allows) whatever the padding before the cut; cutting on
      // the other side keeps more or fewer of them as the batch's length
      // changes.
      if (kind[node.inputs[0]] != Kind::kSteps || rank(0) != 2) {
        return bad("cuts ids that are not the features' [N, T] ids");
      }
      const bool pre = node.attrs.GetString("truncating") == "pre";
      if (pre != (padding == TextDatasetDef::PRE)) {
        return bad(
            absl::StrCat("cuts the ", pre ? "first" : "last",
                         " steps while the padding is at the ",
                         padding == TextDatasetDef::PRE ? "start" : "end",
                         ": which ids it keeps depends on the batch's length"));
      }
      kind[node.outputs[0]] = Kind::kSteps;
      continue;
    }
    if (op == "LSTM" || op == "GRU" || op == "GlobalMaxPooling1D" ||
        op == "GlobalAveragePooling1D") {
      const bool recurrent = op == "LSTM" || op == "GRU";
      const int m = InputNamed(node, "mask");
      const bool masked = m >= 0 && m < static_cast<int>(node.inputs.size()) &&
                          node.inputs[m] >= 0 &&
                          kind[node.inputs[m]] == Kind::kMask;
      if (!masked) {
        const bool has_mask = m >= 0 &&
                              m < static_cast<int>(node.inputs.size()) &&
                              node.inputs[m] >= 0;
        return bad(absl::StrCat(
            has_mask ? "reads a mask that is not the padding mask of an "
                       "Embedding with mask_zero"
                     : "reads no mask",
            recurrent ? ": the padded steps change its state"
                      : ": it pools over every step, the padded ones too"));
      }
      for (size_t i = 0; i < node.inputs.size(); ++i) {
        if (static_cast<int>(i) == m || node.inputs[i] < 0) continue;
        if (kind[node.inputs[i]] == Kind::kMask) {
          return bad("reads the mask as data");
        }
      }
      const bool sequences = recurrent && node.attrs.Has("return_sequences") &&
                             node.attrs.GetBool("return_sequences");
      for (int v : node.outputs) {
        kind[v] = sequences ? Kind::kSteps : Kind::kRow;
      }
      continue;
    }
    if (ElementwiseOps().contains(op)) {
      out = Kind::kSteps;
    } else if (op == "Dense" || op == "Softmax") {
      if (rank(0) < 3) {
        return bad(absl::StrCat(
            "works over the last axis of a [N, T] value, which is the time "
            "axis: it mixes time steps",
            op == "Dense" ? " (a dense over time)" : ""));
      }
      out = Kind::kSteps;
    } else if (op == "Concatenate") {
      const int64_t r = static_cast<int64_t>(rank(0));
      int64_t axis = node.attrs.GetInt("axis");
      if (axis < 0) axis += r;
      if (axis == 1) {
        return bad("joins values along the time axis");
      }
      out = Kind::kSteps;
    } else if (op == "Conv1D" || op == "MaxPooling1D") {
      return bad(
          "mixes neighboring time steps without the mask (its windows "
          "reach into the padding)");
    } else {
      return bad(
          "reads a value with a time axis, and it is not known to work per "
          "time step or to read the padding mask (it may mix time steps, as "
          "a convolution, a flatten or a dense over time does)");
    }
    for (int v : node.outputs) kind[v] = out;
  }
  if (kind[p] == Kind::kSteps || kind[p] == Kind::kMask) {
    return refuse(absl::StrCat(
        "the prediction '", prediction, "' ",
        ShapeToString(graph.values()[p].info.shape),
        " keeps the time axis: its shape depends on the batch's length"));
  }
  return absl::OkStatus();
}

absl::Status CheckPaddingInvariant(const ModelDef& model,
                                   const OpRegistry& registry) {
  LOOM_ASSIGN_OR_RETURN(auto graph, Graph::Build(model.graph(), registry));
  return CheckPaddingInvariant(*graph, model.features_input(),
                               model.prediction(), model.dataset().padding());
}

}  // namespace loom
