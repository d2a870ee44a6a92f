#include "framework/training/config_overrides.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "framework/status_macros.h"
#include "framework/training/config_set.h"

namespace loom {
namespace {

constexpr SettingFlag kSettingFlags[] = {
#define LOOM_SETTING_ROW_(flag, type, path, help, resumable) \
  {#flag, path, help, resumable},
    LOOM_SETTING_FLAGS(LOOM_SETTING_ROW_)
#undef LOOM_SETTING_ROW_
};

// A value as --set reads it back: integers in decimal, floats with the 9
// significant digits that give back the same float.
std::string SetValue(int v) { return absl::StrCat(v); }
std::string SetValue(int64_t v) { return absl::StrCat(v); }
std::string SetValue(float v) { return absl::StrFormat("%.9g", v); }
std::string SetValue(const std::string& v) { return v; }

// Keeps the graph consistent with the data set settings: the features
// input is [batch, max_len] and every table an Embedding of the features'
// ids reads has num_words rows. An Embedding of other ids (say the
// HashedBigrams of the tokens) keeps its own rows. The other parameters
// follow by themselves when the ops create them (Graph::Build shapes them
// from these).
void SyncGraphWithDataset(ModelDef* def) {
  GraphDef* graph = def->mutable_graph();
  const TextDatasetDef& d = def->dataset();
  for (InputDef& in : *graph->mutable_input()) {
    if (in.name() == def->features_input() && in.shape().dim_size() == 2 &&
        d.max_len() > 0) {
      in.mutable_shape()->set_dim(1, d.max_len());
    }
  }
  if (d.num_words() <= 0) return;
  for (NodeDef& node : *graph->mutable_node()) {
    if (node.op() != "Embedding" || node.input_size() < 1) continue;
    if (!def->features_input().empty() &&
        node.input(0) != def->features_input()) {
      continue;
    }
    // A node giving only the ids has the op create "<node>/table" of
    // input_dim rows (a parameter of that name declared overrides it).
    const bool created = node.input_size() < 2;
    if (created) (*node.mutable_attr())["input_dim"].set_i(d.num_words());
    const std::string table = created ? node.name() + "/table" : node.input(1);
    for (ParameterDef& p : *graph->mutable_parameter()) {
      if (p.name() == table && p.shape().dim_size() == 2) {
        p.mutable_shape()->set_dim(0, d.num_words());
      }
    }
  }
}

}  // namespace

absl::Span<const SettingFlag> SettingFlags() { return kSettingFlags; }

std::vector<std::pair<const SettingFlag*, std::string>> GivenSettingFlags(
    const ConfigOverrides& o) {
  std::vector<std::pair<const SettingFlag*, std::string>> given;
  const SettingFlag* row = kSettingFlags;
#define LOOM_GIVEN_SETTING_(flag, type, path, help, resumable) \
  if (o.flag) given.emplace_back(row, SetValue(*o.flag));      \
  ++row;
  LOOM_SETTING_FLAGS(LOOM_GIVEN_SETTING_)
#undef LOOM_GIVEN_SETTING_
  return given;
}

absl::Status ApplyOverrides(const ConfigOverrides& o, ModelDef* def) {
  GivenSettings given;
  std::vector<std::string> paths;
  for (const std::string& assignment : o.set) {
    paths.clear();
    LOOM_RETURN_IF_ERROR(SetConfigValue(assignment, def, &paths));
    for (const std::string& path : paths) given[path] = path;
  }
  for (const auto& [flag, value] : GivenSettingFlags(o)) {
    paths.clear();
    absl::Status s =
        SetConfigValue(absl::StrCat(flag->path, "=", value), def, &paths);
    if (!s.ok()) {
      return absl::Status(s.code(),
                          absl::StrCat("--", flag->name, ": ", s.message()));
    }
    for (const std::string& path : paths) {
      given[path] = absl::StrCat("--", flag->name);
    }
    if (paths.empty()) {  // --patience without an EarlyStopping callback.
      LOOM_RETURN_IF_ERROR(
          CheckSettingValue(flag->path, value, absl::StrCat("--", flag->name)));
    }
  }
  // Once, after every override: the model file's values, --set's and the
  // named flags'.
  LOOM_RETURN_IF_ERROR(CheckModelSettings(*def, given));
  SyncGraphWithDataset(def);
  TrainingDef* t = def->mutable_training();
  if (t->epochs() <= 0 && !given.contains("training.epochs")) {
    t->set_epochs(1);
  }
  if (t->batch_size() <= 0) t->set_batch_size(32);  // Keras' default.
  return absl::OkStatus();
}

}  // namespace loom
