#include "framework/training/warm_start.h"

#include <fnmatch.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "framework/checkpoint.h"
#include "framework/graph.h"
#include "framework/status_macros.h"

namespace loom {
namespace {

// Names of the parameters that are the table of an Embedding node looked up
// with the model's token ids: their rows are indexed by the vocabulary.
absl::flat_hash_set<std::string> VocabularyTables(const Model& model) {
  absl::flat_hash_set<std::string> out;
  const Graph& graph = model.executor().graph();
  const int features = graph.FindValue(model.def().features_input());
  if (features < 0) return out;
  for (const Node& node : graph.nodes()) {
    if (node.op == nullptr || node.op->signature.name != "Embedding" ||
        node.inputs.size() < 2 || node.inputs[0] != features ||
        node.inputs[1] < 0) {
      continue;
    }
    const Value& table = graph.values()[node.inputs[1]];
    if (table.kind == Value::Kind::kParameter) out.insert(table.name);
  }
  return out;
}

bool SameVocabulary(const data::Vocabulary& a, const data::Vocabulary& b) {
  return a.words() == b.words() &&
         a.tokenizer_options() == b.tokenizer_options();
}

}  // namespace

absl::StatusOr<std::vector<std::string>> WarmStart(
    const WarmStartDef& def, const data::Vocabulary& vocabulary, Model* model,
    bool set_values) {
  const std::string& dir = def.model();
  if (dir.empty()) {
    return absl::InvalidArgumentError(
        "training.warm_start.model: no model folder given");
  }
  const std::string where = absl::StrCat("warm start from ", dir, ": ");
  LOOM_ASSIGN_OR_RETURN(std::vector<NamedTensor> source,
                        ReadCheckpoint(dir + "/weights.ckpt"));
  LOOM_ASSIGN_OR_RETURN(data::Vocabulary source_vocabulary,
                        data::Vocabulary::Load(dir + "/vocabulary.txt"));
  absl::flat_hash_map<std::string, const Tensor*> by_name;
  for (const NamedTensor& t : source) by_name[t.name] = &t.value;

  std::vector<Parameter>& params = model->executor().parameters();
  // The parameters chosen: by pattern, or every one the source has.
  std::vector<size_t> chosen;
  if (def.parameters().empty()) {
    for (size_t i = 0; i < params.size(); ++i) {
      if (by_name.contains(params[i].name)) chosen.push_back(i);
    }
    if (chosen.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, "it has no parameter named as one of this model's"));
    }
  } else {
    std::vector<bool> taken(params.size(), false);
    for (const std::string& pattern : def.parameters()) {
      bool matched = false;
      for (size_t i = 0; i < params.size(); ++i) {
        if (fnmatch(pattern.c_str(), params[i].name.c_str(), 0) != 0) continue;
        matched = true;
        if (!by_name.contains(params[i].name)) {
          return absl::InvalidArgumentError(absl::StrCat(
              where, "pattern '", pattern, "' chooses parameter '",
              params[i].name, "', which the source model does not have"));
        }
        if (!taken[i]) chosen.push_back(i);
        taken[i] = true;
      }
      if (!matched) {
        std::string names;
        for (const Parameter& p : params) {
          absl::StrAppend(&names, names.empty() ? "" : ", ", p.name);
        }
        return absl::InvalidArgumentError(
            absl::StrCat(where, "pattern '", pattern,
                         "' matches no parameter of this model (", names, ")"));
      }
    }
  }

  // Check every chosen parameter, planning its copy, before changing any.
  const absl::flat_hash_set<std::string> tables = VocabularyTables(*model);
  const bool same_vocabulary = SameVocabulary(vocabulary, source_vocabulary);
  struct Copy {
    size_t param;
    const Tensor* from;
    std::vector<std::pair<int64_t, int64_t>> rows;  // Empty: whole tensor.
  };
  std::vector<Copy> copies;
  std::vector<std::string> lines;
  for (size_t i : chosen) {
    const Parameter& p = params[i];
    const Tensor* from = by_name.at(p.name);
    const std::string shapes =
        absl::StrCat("this model's ", ShapeToString(p.value.shape()),
                     ", the source's ", ShapeToString(from->shape()));
    if (!tables.contains(p.name) || same_vocabulary) {
      if (from->shape() != p.value.shape()) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, "parameter '", p.name, "' differs in shape: ", shapes));
      }
      copies.push_back({i, from, {}});
      lines.push_back(absl::StrCat(p.name, " ", ShapeToString(p.value.shape()),
                                   ": copied"));
      continue;
    }
    // A vocabulary table: row by row, by word.
    if (from->rank() != 2 || p.value.rank() != 2 ||
        from->dim(1) != p.value.dim(1)) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "vocabulary table '", p.name,
                       "' needs two dimensions and the same width: ", shapes));
    }
    if (from->dim(0) < source_vocabulary.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, "vocabulary table '", p.name, "' has ", from->dim(0),
          " rows, fewer than the source vocabulary's ",
          source_vocabulary.size(), " ids"));
    }
    Copy copy{i, from, {}};
    const int64_t rows = std::min<int64_t>(p.value.dim(0), vocabulary.size());
    for (int64_t id = 0; id < rows; ++id) {
      int64_t source_id = -1;
      if (id < data::Vocabulary::kFirstWordId) {
        source_id = id;  // Padding, start and unknown mean the same.
      } else {
        const int32_t s =
            source_vocabulary.Id(vocabulary.Word(static_cast<int32_t>(id)));
        if (s >= data::Vocabulary::kFirstWordId) source_id = s;
      }
      if (source_id >= 0) copy.rows.emplace_back(id, source_id);
    }
    lines.push_back(absl::StrCat(p.name, " ", ShapeToString(p.value.shape()),
                                 ": ", copy.rows.size(), " of ", p.value.dim(0),
                                 " rows, by word"));
    copies.push_back(std::move(copy));
  }

  if (def.freeze()) {
    for (std::string& line : lines) line += ", frozen";
    for (const Copy& c : copies) params[c.param].trainable = false;
  }
  if (!set_values) return lines;
  for (const Copy& c : copies) {
    Tensor& to = params[c.param].value;
    if (c.rows.empty()) {
      std::memcpy(to.raw(), c.from->raw(), to.num_bytes());
      continue;
    }
    const int64_t width = to.dim(1);
    float* dst = to.f32();
    const float* src = c.from->f32();
    for (const auto& [id, source_id] : c.rows) {
      std::memcpy(dst + id * width, src + source_id * width,
                  width * sizeof(float));
    }
  }
  return lines;
}

}  // namespace loom
