// Reading and writing model definitions (.pbtxt).
#ifndef LOOM_FRAMEWORK_MODEL_IO_H_
#define LOOM_FRAMEWORK_MODEL_IO_H_

#include <string>

#include "absl/status/statusor.h"
#include "framework/graph.h"
#include "framework/proto/model.pb.h"

namespace loom {

struct ModelFile {
  ModelDef model;
  // The file name and the line of each node and parameter, so graph errors
  // can point into the file.
  GraphSource source;
};

// Parses a ModelDef in protobuf text format. Syntax errors and unknown
// fields name the file, line and column.
absl::StatusOr<ModelFile> ReadModelFile(const std::string& path);
absl::StatusOr<ModelFile> ParseModelText(const std::string& text,
                                         const std::string& filename);

// Writes `model` as text, atomically.
absl::Status WriteModelFile(const ModelDef& model, const std::string& path);

// Checks that the values a ModelDef names (features, labels, prediction,
// loss, metrics) exist in its graph.
absl::Status ValidateModelBindings(const ModelDef& model, const Graph& graph,
                                   const std::string& filename);

}  // namespace loom

#endif  // LOOM_FRAMEWORK_MODEL_IO_H_
