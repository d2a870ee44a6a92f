#include "framework/model_io.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "framework/file_util.h"
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
  return file;
}

absl::StatusOr<ModelFile> ReadModelFile(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) return text.status();
  return ParseModelText(*text, path);
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
    if (auto s = check(field, name, required); !s.ok()) return s;
  }
  for (const std::string& m : model.metric()) {
    if (auto s = check("metric", m, true); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace loom
