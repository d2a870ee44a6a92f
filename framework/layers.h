// The layer form of a model file (ModelDef.layers, Keras' Sequential and
// functional API) and its expansion into the graph form.
//
//   layers {
//     layer { name: "embedding" embedding { output_dim: 64 mask_zero: true } }
//     layer { lstm { units: 32 bidirectional: true return_sequences: true } }
//     layer { global_max_pooling1d {} }
//     layer { name: "probability" dense { units: 1 activation: "sigmoid" } }
//     loss: "binary_crossentropy"
//   }
//
// becomes the graph input "tokens" [N, dataset.max_len], one node per layer
// (named as the layer; the ops create the parameters, "<layer>/kernel",
// ...), masks passed along as Keras passes them (an Embedding with
// mask_zero to the LSTMs, Dropouts, Denses and average poolings after it),
// the loss on the last layer ("loss", with each Dense's kernel_l2 penalty
// "<layer>/l2" added), the metrics ("accuracy") and the labels input
// "label". The expansion checks only what the layers say; the ops' shape
// functions check the rest when the graph is built.
#ifndef LOOM_FRAMEWORK_LAYERS_H_
#define LOOM_FRAMEWORK_LAYERS_H_

#include <vector>

#include "absl/status/status.h"
#include "framework/graph.h"
#include "framework/proto/model.pb.h"

namespace loom {

// Replaces model->layers with the graph it stands for: model->graph (which
// must be empty) and the bindings the model leaves unset (features_input,
// labels_input, prediction, loss, metric). `layer_lines` holds the 1-based
// line of each layer and `layers_line` that of the layers block (0:
// unknown); source->node_lines gets a line for each node made. Errors name
// source->file, the line and the layer.
absl::Status ExpandLayers(ModelDef* model, const std::vector<int>& layer_lines,
                          int layers_line, GraphSource* source);

}  // namespace loom

#endif  // LOOM_FRAMEWORK_LAYERS_H_
