// A trained model on disk: a folder with the model definition as trained
// (model.pbtxt), its weights (weights.ckpt) and its vocabulary
// (vocabulary.txt). Each file is written atomically.
#ifndef LOOM_FRAMEWORK_TRAINING_SAVED_MODEL_H_
#define LOOM_FRAMEWORK_TRAINING_SAVED_MODEL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "framework/data/text.h"
#include "framework/model_io.h"
#include "framework/registry.h"
#include "framework/training/model.h"

namespace loom {

// Writes the folder. With `copy_plugins`, every op plugin the graph's ops
// come from is copied into dir/plugins/ and listed in dir/plugins/MANIFEST
// (one line per plugin: file name, plugin ABI version, FNV-1a checksum, the
// ops the graph uses from it), so the folder loads anywhere the host has
// Loom (ModelFolderPlugins).
absl::Status SaveModel(Model& model, const data::Vocabulary& vocabulary,
                       const std::string& dir, bool copy_plugins = true);

// The plugins a model folder carries (dir/plugins/MANIFEST), checked: each
// file present, its checksum and ABI version the manifest's. Paths to
// load, in manifest order; none if the folder has no manifest. Errors name
// the folder and the plugin.
absl::StatusOr<std::vector<std::string>> ModelFolderPlugins(
    const std::string& dir);

// The checksum MANIFEST records for a plugin: FNV-1a, 64 bits, of the
// file's bytes (a check against damage and stale copies, not tampering).
uint64_t PluginChecksum(absl::string_view bytes);

// PluginChecksum of the plugin file at `path` (at most 1 GiB); errors name
// the file.
absl::StatusOr<uint64_t> PluginFileChecksum(const std::string& path);

struct LoadedModel {
  std::unique_ptr<Model> model;
  data::Vocabulary vocabulary;
};

// Loads what SaveModel wrote; a missing, corrupt or mismatched file is an
// error naming it.
absl::StatusOr<LoadedModel> LoadModel(const std::string& dir,
                                      const OpRegistry& registry);

// The model definition of a saved model, dir/model.pbtxt: read it first to
// prepare the registry for it (the plugins it declares), then pass it to
// LoadModel below.
absl::StatusOr<ModelFile> ReadSavedModelFile(const std::string& dir);

// As LoadModel above, with `file` read by ReadSavedModelFile(dir).
absl::StatusOr<LoadedModel> LoadModel(const std::string& dir,
                                      const ModelFile& file,
                                      const OpRegistry& registry);

// Encodes raw review texts as the model's dataset settings say (start id,
// vocabulary, max_len, padding and truncation): int32 [n, max_len].
Tensor EncodeTexts(const std::vector<std::string>& texts,
                   const data::Vocabulary& vocabulary,
                   const TextDatasetDef& dataset);
// The same for texts that live elsewhere (no copies).
Tensor EncodeTextViews(const std::vector<std::string_view>& texts,
                       const data::Vocabulary& vocabulary,
                       const TextDatasetDef& dataset);

}  // namespace loom

#endif  // LOOM_FRAMEWORK_TRAINING_SAVED_MODEL_H_
