#include "framework/training/saved_model.h"

#include <algorithm>
#include <filesystem>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "framework/checkpoint.h"
#include "framework/data/dataset.h"
#include "framework/file_util.h"
#include "framework/model_io.h"
#include "framework/plugin.h"
#include "framework/status_macros.h"

namespace loom {

namespace {

constexpr char kManifestHeader[] = "loom-plugins v1";

// The largest plugin file read to checksum it.
constexpr int64_t kMaxPluginBytes = int64_t{1} << 30;

// Copies the plugins the graph's ops come from into dir/plugins/.
absl::Status SavePlugins(Model& model, const std::string& dir) {
  // Plugin path -> the ops the graph uses from it, in first-use order.
  std::vector<std::pair<std::string, std::vector<std::string>>> plugins;
  for (const Node& node : model.executor().graph().nodes()) {
    const std::string& source = node.op->source;
    if (source.empty() || source == "builtin") continue;
    auto it = std::find_if(plugins.begin(), plugins.end(),
                           [&](const auto& p) { return p.first == source; });
    if (it == plugins.end()) {
      plugins.push_back({source, {}});
      it = plugins.end() - 1;
    }
    if (std::find(it->second.begin(), it->second.end(),
                  node.op->signature.name) == it->second.end()) {
      it->second.push_back(node.op->signature.name);
    }
  }
  if (plugins.empty()) return absl::OkStatus();
  const std::string folder = dir + "/plugins";
  LOOM_RETURN_IF_ERROR(MakeDirectories(folder));
  std::string manifest = absl::StrCat(kManifestHeader, "\n");
  for (const auto& [path, ops] : plugins) {
    auto bytes = ReadFile(path);
    if (!bytes.ok()) {
      return absl::Status(bytes.status().code(),
                          absl::StrCat("copying plugin ", path, " into ",
                                       folder, ": ", bytes.status().message()));
    }
    const std::string name = std::filesystem::path(path).filename().string();
    LOOM_RETURN_IF_ERROR(WriteFileAtomically(folder + "/" + name, *bytes));
    absl::StrAppendFormat(&manifest, "%s abi=%d fnv1a64=%016x ops=%s\n", name,
                          kLoomPluginAbiVersion, PluginChecksum(*bytes),
                          absl::StrJoin(ops, ","));
  }
  return WriteFileAtomically(folder + "/MANIFEST", manifest);
}

}  // namespace

uint64_t PluginChecksum(absl::string_view bytes) {
  return Fnv1a64(bytes.data(), bytes.size());
}

absl::StatusOr<uint64_t> PluginFileChecksum(const std::string& path) {
  LOOM_ASSIGN_OR_RETURN(auto bytes,
                        ReadFile(path, kMaxPluginBytes, "a plugin"));
  return PluginChecksum(bytes);
}

absl::StatusOr<std::vector<std::string>> ModelFolderPlugins(
    const std::string& dir) {
  const std::string folder = dir + "/plugins";
  const std::string manifest_path = folder + "/MANIFEST";
  if (!std::filesystem::exists(manifest_path)) {
    return std::vector<std::string>();
  }
  LOOM_ASSIGN_OR_RETURN(auto manifest, ReadFile(manifest_path));
  std::vector<std::string> lines =
      absl::StrSplit(manifest, '\n', absl::SkipEmpty());
  if (lines.empty() || lines[0] != kManifestHeader) {
    return absl::DataLossError(absl::StrCat(
        manifest_path, ": not a plugin manifest (first line is not '",
        kManifestHeader, "')"));
  }
  std::vector<std::string> paths;
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::string where = absl::StrCat(manifest_path, ":", i + 1);
    std::vector<std::string> fields = absl::StrSplit(lines[i], ' ');
    int abi = -1;
    uint64_t checksum = 0;
    bool have_checksum = false;
    for (size_t f = 1; f < fields.size(); ++f) {
      absl::string_view v = fields[f];
      if (absl::ConsumePrefix(&v, "abi=")) {
        if (!absl::SimpleAtoi(v, &abi)) abi = -1;
      } else if (absl::ConsumePrefix(&v, "fnv1a64=")) {
        have_checksum = absl::SimpleHexAtoi(v, &checksum);
      }
    }
    if (fields.empty() || fields[0].empty() ||
        fields[0].find('/') != std::string::npos || abi < 0 || !have_checksum) {
      return absl::DataLossError(absl::StrCat(
          where, ": expected '<file> abi=<N> fnv1a64=<hex> ops=<ops>'"));
    }
    if (abi != kLoomPluginAbiVersion) {
      return absl::FailedPreconditionError(absl::StrCat(
          where, ": plugin ", fields[0], " was built for plugin ABI ", abi,
          "; this Loom loads ABI ", kLoomPluginAbiVersion,
          ": rebuild the plugin and train again"));
    }
    const std::string path = folder + "/" + fields[0];
    auto actual = PluginFileChecksum(path);
    if (!actual.ok()) {
      return absl::NotFoundError(
          absl::StrCat(dir, " needs plugin ", fields[0], " (", where,
                       "), which is missing: ", actual.status().message()));
    }
    if (*actual != checksum) {
      return absl::DataLossError(
          absl::StrCat(path, " does not match its checksum in ", where,
                       ": the file was changed or damaged after training"));
    }
    paths.push_back(path);
  }
  return paths;
}

absl::Status SaveModel(Model& model, const data::Vocabulary& vocabulary,
                       const std::string& dir, bool copy_plugins) {
  LOOM_RETURN_IF_ERROR(MakeDirectories(dir));
  if (copy_plugins) {
    LOOM_RETURN_IF_ERROR(SavePlugins(model, dir));
  }
  LOOM_RETURN_IF_ERROR(WriteModelFile(model.def(), dir + "/model.pbtxt"));
  LOOM_RETURN_IF_ERROR(
      SaveCheckpoint(model.executor().parameters(), dir + "/weights.ckpt"));
  return vocabulary.Save(dir + "/vocabulary.txt");
}

absl::StatusOr<LoadedModel> LoadModel(const std::string& dir,
                                      const OpRegistry& registry) {
  LOOM_ASSIGN_OR_RETURN(auto file, ReadSavedModelFile(dir));
  return LoadModel(dir, file, registry);
}

absl::StatusOr<ModelFile> ReadSavedModelFile(const std::string& dir) {
  return ReadModelFile(dir + "/model.pbtxt");
}

absl::StatusOr<LoadedModel> LoadModel(const std::string& dir,
                                      const ModelFile& file,
                                      const OpRegistry& registry) {
  LoadedModel loaded;
  LOOM_ASSIGN_OR_RETURN(
      auto model, Model::Create(file, registry, file.model.training().seed()));
  loaded.model = std::move(model);
  LOOM_RETURN_IF_ERROR(LoadCheckpoint(dir + "/weights.ckpt",
                                      &loaded.model->executor().parameters()));
  LOOM_ASSIGN_OR_RETURN(auto vocabulary,
                        data::Vocabulary::Load(dir + "/vocabulary.txt"));
  // Every id the vocabulary can give must have a row in the tables.
  LOOM_RETURN_IF_ERROR(CheckIdsFitEmbeddings(*loaded.model, vocabulary.size(),
                                             dir + "/vocabulary.txt"));
  loaded.vocabulary = std::move(vocabulary);
  return loaded;
}

Tensor EncodeTexts(const std::vector<std::string>& texts,
                   const data::Vocabulary& vocabulary,
                   const TextDatasetDef& dataset) {
  return EncodeTextViews(
      std::vector<std::string_view>(texts.begin(), texts.end()), vocabulary,
      dataset);
}

Tensor EncodeTextViews(const std::vector<std::string_view>& texts,
                       const data::Vocabulary& vocabulary,
                       const TextDatasetDef& dataset) {
  const data::Padding padding = data::PaddingOf(dataset.padding());
  const data::Padding truncating = data::PaddingOf(dataset.truncating());
  const int64_t n = static_cast<int64_t>(texts.size());
  const int max_len = dataset.max_len();
  Tensor ids(DType::kInt32, {n, max_len});
  std::string buffer;
  std::vector<std::string_view> tokens;
  for (int64_t i = 0; i < n; ++i) {
    vocabulary.EncodeRow(texts[i], max_len, padding, truncating, &buffer,
                         &tokens, ids.i32() + i * max_len);
  }
  return ids;
}

}  // namespace loom
