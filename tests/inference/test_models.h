// Test helper: model folders as tools/train writes them, made from a model
// file with seeded (untrained) weights and a small vocabulary, for tests of
// what loads model folders (the Predictor, the C API, the explainer, the
// service), and the small model files those tests share.
#ifndef LOOM_TESTS_INFERENCE_TEST_MODELS_H_
#define LOOM_TESTS_INFERENCE_TEST_MODELS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace loom::testing {

// The words of the vocabulary (ids 3, 4, ...).
const std::vector<std::string>& TestWords();

// Writes `model_file` (e.g. "models/bilstm.pbtxt", num_words 50, max_len
// `max_len`) with weights initialized from `seed` and `classes` (if any) as
// its dataset.class_name to `dir`, once per path; returns `dir`.
std::string WriteTestModel(const std::string& model_file,
                           const std::string& dir,
                           const std::vector<std::string>& classes = {},
                           int seed = 7, int max_len = 20);

// A model file (protobuf text) whose float features "x" [N, 4] go straight
// into a Dense(1, sigmoid) layer: it predicts, but there is no Embedding to
// explain through (num_words 50, max_len 4).
extern const char kNoEmbeddingModel[];

// Writes a model folder to `dir` from model file `text`, with weights
// initialized from `seed` and a vocabulary of TestWords() (num_words 50).
absl::Status WriteTestModelText(const std::string& text, const std::string& dir,
                                int seed);

// `n` texts of 1 to 9 of TestWords(), different from each other.
std::vector<std::string> TestTexts(int n);

}  // namespace loom::testing

#endif  // LOOM_TESTS_INFERENCE_TEST_MODELS_H_
