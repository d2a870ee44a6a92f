#include "framework/model_io.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "framework/file_util.h"
#include "framework/layers.h"
#include "framework/status_macros.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"

namespace loom {
namespace {

class CollectErrors : public google::protobuf::io::ErrorCollector {
 public:
  explicit CollectErrors(const std::string& filename) : filename_(filename) {}
  void AddError(int line, int column, const std::string& message) override {
    errors_.push_back(
        absl::StrCat(filename_, ":", line + 1, ":", column + 1, ": ", message));
  }
  void AddWarning(int line, int column, const std::string& message) override {}
  const std::vector<std::string>& errors() const { return errors_; }

 private:
  std::string filename_;
  std::vector<std::string> errors_;
};

}  // namespace

absl::StatusOr<ModelFile> ParseModelText(const std::string& text,
                                         const std::string& filename) {
  ModelFile file;
  google::protobuf::TextFormat::Parser parser;
  CollectErrors errors(filename);
  parser.RecordErrorsTo(&errors);
  google::protobuf::TextFormat::ParseInfoTree tree;
  parser.WriteLocationsTo(&tree);
  if (!parser.ParseFromString(text, &file.model)) {
    return absl::InvalidArgumentError(
        errors.errors().empty()
            ? absl::StrCat(filename, ": not a valid ModelDef")
            : absl::StrJoin(errors.errors(), "\n"));
  }
  file.source.file = filename;
  const auto* model_desc = ModelDef::descriptor();
  const auto* graph_desc = GraphDef::descriptor();
  const auto* graph_tree =
      tree.GetTreeForNested(model_desc->FindFieldByName("graph"), -1);
  if (graph_tree != nullptr) {
    const auto* node_field = graph_desc->FindFieldByName("node");
    for (int i = 0; i < file.model.graph().node_size(); ++i) {
      file.source.node_lines.push_back(
          graph_tree->GetLocation(node_field, i).line + 1);
    }
    const auto* param_field = graph_desc->FindFieldByName("parameter");
    for (int i = 0; i < file.model.graph().parameter_size(); ++i) {
      file.source.parameter_lines.push_back(
          graph_tree->GetLocation(param_field, i).line + 1);
    }
  }
  file.source.required_plugins.assign(file.model.required_plugin().begin(),
                                      file.model.required_plugin().end());
  if (file.model.has_layers()) {
    const auto* layers_field = model_desc->FindFieldByName("layers");
    const int layers_line = tree.GetLocation(layers_field, -1).line + 1;
    std::vector<int> layer_lines;
    if (const auto* layers_tree = tree.GetTreeForNested(layers_field, -1)) {
      const auto* layer_field =
          LayersDef::descriptor()->FindFieldByName("layer");
      for (int i = 0; i < file.model.layers().layer_size(); ++i) {
        layer_lines.push_back(layers_tree->GetLocation(layer_field, i).line +
                              1);
      }
    }
    LOOM_RETURN_IF_ERROR(
        ExpandLayers(&file.model, layer_lines, layers_line, &file.source));
  }
  return file;
}

absl::StatusOr<ModelFile> ReadModelFile(const std::string& path) {
  LOOM_ASSIGN_OR_RETURN(auto text,
                        ReadFile(path, kMaxModelFileBytes, "a model file"));
  if (absl::StripAsciiWhitespace(text).empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model file ", path, " is empty",
        text.empty() ? "" : " (only white space)",
        "; a model file is a loom.ModelDef in protobuf text format (see "
        "docs/MODEL_FORMAT.md and models/)"));
  }
  auto file = ParseModelText(text, path);
  if (file.ok() && file->model.ByteSizeLong() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model file ", path,
        " sets nothing (only comments); a model file is a loom.ModelDef in "
        "protobuf text format (see docs/MODEL_FORMAT.md and models/)"));
  }
  return file;
}

absl::Status WriteModelFile(const ModelDef& model, const std::string& path) {
  std::string text;
  if (!google::protobuf::TextFormat::PrintToString(model, &text)) {
    return absl::InternalError(
        absl::StrCat("cannot print model '", model.name(), "' as text"));
  }
  return WriteFileAtomically(path, text);
}

absl::Status ValidateModelBindings(const ModelDef& model, const Graph& graph,
                                   const std::string& filename) {
  auto check = [&](const std::string& field, const std::string& name,
                   bool required) -> absl::Status {
    if (name.empty()) {
      if (!required) return absl::OkStatus();
      return absl::InvalidArgumentError(
          absl::StrCat(filename, ": the model sets no '", field, "'"));
    }
    if (graph.FindValue(name) < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(filename, ": ", field, " '", name,
                       "' is no node, parameter or input of the graph"));
    }
    return absl::OkStatus();
  };
  for (auto [field, name, required] :
       std::vector<std::tuple<std::string, std::string, bool>>{
           {"features_input", model.features_input(), true},
           {"labels_input", model.labels_input(), true},
           {"prediction", model.prediction(), true},
           {"loss", model.loss(), true}}) {
    LOOM_RETURN_IF_ERROR(check(field, name, required));
  }
  for (const std::string& m : model.metric()) {
    LOOM_RETURN_IF_ERROR(check("metric", m, true));
  }
  // What is fed must be a graph input.
  for (auto [field, name] : std::vector<std::pair<std::string, std::string>>{
           {"features_input", model.features_input()},
           {"labels_input", model.labels_input()}}) {
    const Value& v = graph.values()[graph.FindValue(name)];
    if (v.kind != Value::Kind::kInput) {
      return absl::InvalidArgumentError(absl::StrCat(
          filename, ": ", field, " '", name, "' is a ",
          v.kind == Value::Kind::kParameter ? "parameter" : "node output",
          ", not a graph input (the data are fed to graph inputs)"));
    }
  }
  // The loss and the metrics are float scalars computed by nodes: training
  // and the reports read one number from each.
  const auto scalar = [&](const std::string& field,
                          const std::string& name) -> absl::Status {
    const Value& v = graph.values()[graph.FindValue(name)];
    if (v.kind != Value::Kind::kNodeOutput) {
      return absl::InvalidArgumentError(absl::StrCat(
          filename, ": ", field, " '", name, "' is a ",
          v.kind == Value::Kind::kParameter ? "parameter" : "graph input",
          "; it must be the output of a node computing it (e.g. ",
          field == "loss" ? "BinaryCrossentropy" : "BinaryAccuracy", ")"));
    }
    const Shape& shape = v.info.shape;
    const bool is_scalar = std::all_of(shape.begin(), shape.end(),
                                       [](int64_t d) { return d == 1; });
    if (v.info.dtype != DType::kFloat32 || !is_scalar) {
      return absl::InvalidArgumentError(absl::StrCat(
          filename, ": ", field, " '", name, "' is ", DTypeName(v.info.dtype),
          ShapeToString(shape), "; it must be a float scalar (shape [])",
          field == "metric" && name == model.prediction()
              ? ": it is the prediction, not a metric computed from it"
              : ""));
    }
    return absl::OkStatus();
  };
  LOOM_RETURN_IF_ERROR(scalar("loss", model.loss()));
  for (const std::string& m : model.metric()) {
    LOOM_RETURN_IF_ERROR(scalar("metric", m));
  }
  return absl::OkStatus();
}

}  // namespace loom
