#include "framework/training/saved_model.h"

#include "absl/strings/str_cat.h"
#include "framework/checkpoint.h"
#include "framework/file_util.h"
#include "framework/model_io.h"

namespace loom {

absl::Status SaveModel(Model& model, const data::Vocabulary& vocabulary,
                       const std::string& dir) {
  if (auto s = MakeDirectories(dir); !s.ok()) return s;
  if (auto s = WriteModelFile(model.def(), dir + "/model.pbtxt"); !s.ok()) {
    return s;
  }
  if (auto s =
          SaveCheckpoint(model.executor().parameters(), dir + "/weights.ckpt");
      !s.ok()) {
    return s;
  }
  return vocabulary.Save(dir + "/vocabulary.txt");
}

absl::StatusOr<LoadedModel> LoadModel(const std::string& dir,
                                      const OpRegistry& registry) {
  auto file = ReadSavedModelFile(dir);
  if (!file.ok()) return file.status();
  return LoadModel(dir, *file, registry);
}

absl::StatusOr<ModelFile> ReadSavedModelFile(const std::string& dir) {
  return ReadModelFile(dir + "/model.pbtxt");
}

absl::StatusOr<LoadedModel> LoadModel(const std::string& dir,
                                      const ModelFile& file,
                                      const OpRegistry& registry) {
  LoadedModel loaded;
  auto model = Model::Create(file, registry, file.model.training().seed());
  if (!model.ok()) return model.status();
  loaded.model = *std::move(model);
  if (auto s = LoadCheckpoint(dir + "/weights.ckpt",
                              &loaded.model->executor().parameters());
      !s.ok()) {
    return s;
  }
  auto vocabulary = data::Vocabulary::Load(dir + "/vocabulary.txt");
  if (!vocabulary.ok()) return vocabulary.status();
  loaded.vocabulary = *std::move(vocabulary);
  return loaded;
}

Tensor EncodeTexts(const std::vector<std::string>& texts,
                   const data::Vocabulary& vocabulary,
                   const TextDatasetDef& dataset) {
  std::vector<std::vector<int32_t>> sequences;
  sequences.reserve(texts.size());
  for (const std::string& text : texts) {
    sequences.push_back(vocabulary.Encode(text));
  }
  auto padding = [](TextDatasetDef::Padding p) {
    return p == TextDatasetDef::POST ? data::Padding::kPost
                                     : data::Padding::kPre;
  };
  std::vector<int32_t> ids = data::PadSequences(sequences, dataset.max_len(),
                                                padding(dataset.padding()),
                                                padding(dataset.truncating()));
  return Tensor::FromVector(
      {static_cast<int64_t>(texts.size()), dataset.max_len()}, ids);
}

}  // namespace loom
