#include "tests/inference/test_models.h"

#include <cstdlib>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "framework/data/text.h"
#include "framework/model_io.h"
#include "framework/training/model.h"
#include "framework/training/saved_model.h"
#include "framework/training/train_job.h"

namespace loom::testing {

const std::vector<std::string>& TestWords() {
  static const auto* words = new std::vector<std::string>{
      "good", "bad", "film", "not", "great", "awful", "plot", "acting"};
  return *words;
}

std::string WriteTestModel(const std::string& model_file,
                           const std::string& dir,
                           const std::vector<std::string>& classes, int seed) {
  if (std::filesystem::exists(dir + "/weights.ckpt")) return dir;
  OpRegistry registry;
  auto file = ReadModelFile(model_file);
  ConfigOverrides overrides;
  overrides.num_words = 50;
  overrides.max_len = 20;
  if (!PrepareRegistry({}, &registry).ok() || !file.ok() ||
      !ApplyOverrides(overrides, &file->model).ok()) {
    std::abort();
  }
  for (const std::string& c : classes) {
    file->model.mutable_dataset()->add_class_name(c);
  }
  auto model = Model::Create(*file, registry, seed);
  auto vocabulary = data::Vocabulary::FromWords(TestWords(), 50);
  if (!model.ok() || !vocabulary.ok() ||
      !SaveModel(**model, *vocabulary, dir).ok()) {
    std::abort();
  }
  return dir;
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
