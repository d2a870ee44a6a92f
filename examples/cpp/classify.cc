// Classifies texts with a trained Loom model, through the C++ API
// (loom/loom.hpp, a header-only wrapper over the C API).
//
//   c++ -std=c++17 classify.cc $(pkg-config --cflags --libs loom) -o classify
//   ./classify runs/<run>/model "A wonderful film." "Dreadful."
//
// Prints, for each text, the predicted class and every class' probability.
#include <cstdio>
#include <iostream>
#include <loom/loom.hpp>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: " << argv[0] << " MODEL_DIR TEXT...\n";
    return 2;
  }
  loom::api::Status status;
  auto predictor = loom::api::Predictor::Load(argv[1], &status);
  if (predictor == nullptr) {
    std::cerr << "classify: " << status.message() << "\n";
    return 1;
  }
  const std::vector<std::string> texts(argv + 2, argv + argc);
  std::vector<loom::api::Prediction> predictions;
  status = predictor->Predict(texts, &predictions);
  if (!status.ok()) {
    std::cerr << "classify: " << status.message() << "\n";
    return 1;
  }
  for (const loom::api::Prediction& p : predictions) {
    std::printf("%s", p.label_name.c_str());
    for (float probability : p.probabilities)
      std::printf("\t%.9g", probability);
    std::printf("\n");
  }
  return 0;
}
