// Reading and writing model definitions (.pbtxt).
#ifndef LOOM_FRAMEWORK_MODEL_IO_H_
#define LOOM_FRAMEWORK_MODEL_IO_H_

#include <cstdint>
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

// The largest model file read: a model definition is a few KiB, and
// /dev/zero or a data file given by mistake must not be read whole.
inline constexpr int64_t kMaxModelFileBytes = int64_t{64} << 20;

// Parses a ModelDef in protobuf text format. Syntax errors and unknown
// fields name the file, line and column. A model in the layer form
// (`layers`) comes back expanded into its graph (ExpandLayers, layers.h). Only a regular file of at most
// kMaxModelFileBytes is read; an empty one (or one of only comments) is an
// error saying so.
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
