#include "tests/inference/test_models.h"

#include <cstdlib>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "framework/data/text.h"
#include "framework/model_io.h"
#include "framework/status_macros.h"
#include "framework/training/model.h"
#include "framework/training/saved_model.h"
#include "framework/training/train_job.h"

namespace loom::testing {

const std::vector<std::string>& TestWords() {
  static const auto* words = new std::vector<std::string>{
      "good", "bad", "film", "not", "great", "awful", "plot", "acting"};
  return *words;
}

const char kNoEmbeddingModel[] = R"pb(
  name: "no_embedding"
  features_input: "x"
  labels_input: "label"
  prediction: "probability"
  loss: "loss"
  dataset { name: "imdb" num_words: 50 max_len: 4 }
  graph {
    input {
      name: "x"
      dtype: DT_FLOAT
      shape { dim: -1 dim: 4 }
    }
    input {
      name: "label"
      dtype: DT_FLOAT
      shape { dim: -1 dim: 1 }
    }
    parameter {
      name: "output/kernel"
      shape { dim: 4 dim: 1 }
      initializer { glorot_uniform {} }
    }
    parameter {
      name: "output/bias"
      shape { dim: 1 }
      initializer { zeros {} }
    }
    node {
      name: "probability"
      op: "Dense"
      input: "x"
      input: "output/kernel"
      input: "output/bias"
      attr {
        key: "units"
        value { i: 1 }
      }
      attr {
        key: "activation"
        value { s: "sigmoid" }
      }
    }
    node {
      name: "loss"
      op: "BinaryCrossentropy"
      input: "probability"
      input: "label"
    }
  }
)pb";

namespace {

// `file` with weights from `seed` and TestWords() as a model folder.
absl::Status SaveTestModel(const ModelFile& file, const OpRegistry& registry,
                           const std::string& dir, int seed) {
  LOOM_ASSIGN_OR_RETURN(auto model, Model::Create(file, registry, seed));
  LOOM_ASSIGN_OR_RETURN(auto vocabulary,
                        data::Vocabulary::FromWords(TestWords(), 50));
  return SaveModel(*model, vocabulary, dir);
}

}  // namespace

std::string WriteTestModel(const std::string& model_file,
                           const std::string& dir,
                           const std::vector<std::string>& classes, int seed,
                           int max_len) {
  if (std::filesystem::exists(dir + "/weights.ckpt")) return dir;
  OpRegistry registry;
  auto file = ReadModelFile(model_file);
  ConfigOverrides overrides;
  overrides.num_words = 50;
  overrides.max_len = max_len;
  if (!PrepareRegistry({}, &registry).ok() || !file.ok() ||
      !ApplyOverrides(overrides, &file->model).ok()) {
    std::abort();
  }
  for (const std::string& c : classes) {
    file->model.mutable_dataset()->add_class_name(c);
  }
  if (!SaveTestModel(*file, registry, dir, seed).ok()) std::abort();
  return dir;
}

absl::Status WriteTestModelText(const std::string& text, const std::string& dir,
                                int seed) {
  OpRegistry registry;
  LOOM_RETURN_IF_ERROR(PrepareRegistry({}, &registry));
  LOOM_ASSIGN_OR_RETURN(ModelFile file, ParseModelText(text, "test.pbtxt"));
  return SaveTestModel(file, registry, dir, seed);
}

std::vector<std::string> TestTexts(int n) {
  std::vector<std::string> texts;
  const auto& words = TestWords();
  for (int i = 0; i < n; ++i) {
    std::string t;
    for (int k = 0; k <= i % 9; ++k) {
      absl::StrAppend(&t, words[(i * 7 + k * 3) % words.size()], " ");
    }
    texts.push_back(t);
  }
  return texts;
}

}  // namespace loom::testing
