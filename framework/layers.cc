#include "framework/layers.h"

#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "framework/status_macros.h"

namespace loom {
namespace {

// What a layer's output is, for the layers that read it.
struct LayerOutput {
  std::string value;   // The node output.
  std::string mask;    // Its [N, T] mask value, or "" (none).
  int64_t units = 0;   // A Dense layer's width, else 0.
  std::string logits;  // A softmax layer's input, else "".
};

// A Dense layer's kernel_l2 penalty: an L2Regularizer node on the layer's
// weight matrix (the parameter Keras calls its kernel, "<layer>/kernel").
struct Penalty {
  std::string node;
  std::string weights;
  float l2;
  int line;
};

// The kind's name as Keras names layers (and this file's messages).
std::string KindName(const LayerDef& layer) {
  switch (layer.kind_case()) {
    case LayerDef::kEmbedding:
      return "embedding";
    case LayerDef::kLstm:
      return layer.lstm().bidirectional() ? "bidirectional" : "lstm";
    case LayerDef::kDense:
      return "dense";
    case LayerDef::kDropout:
      return "dropout";
    case LayerDef::kSpatialDropout1D:
      return "spatial_dropout1d";
    case LayerDef::kGlobalMaxPooling1D:
      return "global_max_pooling1d";
    case LayerDef::kGlobalAveragePooling1D:
      return "global_average_pooling1d";
    case LayerDef::kConcatenate:
      return "concatenate";
    case LayerDef::kSoftmax:
      return "softmax";
    case LayerDef::kOp:
      return absl::AsciiStrToLower(layer.op().op());
    case LayerDef::KIND_NOT_SET:
      break;
  }
  return "";
}

void SetInt(NodeDef* node, const std::string& name, int64_t v) {
  (*node->mutable_attr())[name].set_i(v);
}
void SetFloat(NodeDef* node, const std::string& name, float v) {
  (*node->mutable_attr())[name].set_f(v);
}
void SetString(NodeDef* node, const std::string& name, const std::string& v) {
  (*node->mutable_attr())[name].set_s(v);
}
void SetBool(NodeDef* node, const std::string& name, bool v) {
  (*node->mutable_attr())[name].set_b(v);
}

absl::Status CheckRate(const std::string& where, const std::string& field,
                       float rate) {
  if (rate >= 0.0f && rate < 1.0f) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(where, field, " must be in [0, 1), got ", rate));
}

}  // namespace

absl::Status ExpandLayers(ModelDef* model, const std::vector<int>& layer_lines,
                          int layers_line, GraphSource* source) {
  const LayersDef& layers = model->layers();
  const std::string file = source->file.empty() ? "model" : source->file;
  const auto at = [&](int line) {
    return line > 0 ? absl::StrCat(file, ":", line, ": ")
                    : absl::StrCat(file, ": ");
  };
  if (model->graph().input_size() > 0 || model->graph().parameter_size() > 0 ||
      model->graph().node_size() > 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        at(layers_line),
        "the model sets both `layers` and `graph`; a model file is one or "
        "the other (the graph form says what the layers cannot)"));
  }
  if (layers.layer_size() == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(at(layers_line), "`layers` has no layer"));
  }
  const TextDatasetDef& dataset = model->dataset();
  if (dataset.max_len() <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        at(layers_line),
        "the layer form takes the length of the features input from "
        "dataset.max_len, which is not set (> 0)"));
  }

  GraphDef graph;
  std::vector<int> node_lines;
  const std::string features =
      layers.input().empty() ? "tokens" : layers.input();
  InputDef* in = graph.add_input();
  in->set_name(features);
  in->set_dtype(DT_INT32);
  in->mutable_shape()->add_dim(-1);
  in->mutable_shape()->add_dim(dataset.max_len());

  absl::flat_hash_map<std::string, LayerOutput> outputs;
  outputs[features] = {features, "", 0};
  absl::flat_hash_map<std::string, int> kind_count;
  std::vector<Penalty> penalties;
  LayerOutput last = outputs[features];

  for (int i = 0; i < layers.layer_size(); ++i) {
    const LayerDef& layer = layers.layer(i);
    const int line =
        i < static_cast<int>(layer_lines.size()) ? layer_lines[i] : layers_line;
    const std::string kind = KindName(layer);
    if (kind.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          at(line), "layer ", i,
          " has no kind (embedding, lstm, dense, dropout, spatial_dropout1d, "
          "global_max_pooling1d, global_average_pooling1d, concatenate, "
          "softmax or op)"));
    }
    std::string name = layer.name();
    if (name.empty()) {
      // Keras: "dense", "dense_1", ... skipping names already taken.
      int& count = kind_count[kind];
      do {
        name = count == 0 ? kind : absl::StrCat(kind, "_", count);
        ++count;
      } while (outputs.contains(name));
    }
    const std::string where =
        absl::StrCat(at(line), "layer '", name, "' (", kind, "): ");
    if (name.find(':') != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "layer names may not contain ':'"));
    }
    if (outputs.contains(name)) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, "the name is used twice (by an earlier layer or the input)"));
    }
    std::vector<LayerOutput> ins;
    if (layer.input_size() == 0) {
      ins.push_back(last);
    } else {
      for (const std::string& ref : layer.input()) {
        auto it = outputs.find(ref);
        if (it == outputs.end()) {
          return absl::InvalidArgumentError(
              absl::StrCat(where, "input '", ref,
                           "' is no earlier layer and not the features input '",
                           features, "'"));
        }
        ins.push_back(it->second);
      }
    }
    const bool many_inputs = layer.kind_case() == LayerDef::kConcatenate ||
                             layer.kind_case() == LayerDef::kOp;
    if (!many_inputs && ins.size() != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "takes one input, got ", ins.size(),
                       " (join values with a concatenate layer)"));
    }
    NodeDef* node = graph.add_node();
    node_lines.push_back(line);
    node->set_name(name);
    node->add_input(ins[0].value);
    LayerOutput out{name, "", 0};
    switch (layer.kind_case()) {
      case LayerDef::kEmbedding: {
        const EmbeddingLayer& e = layer.embedding();
        const int64_t rows =
            e.input_dim() > 0 ? e.input_dim() : dataset.num_words();
        if (rows <= 0 || e.output_dim() <= 0) {
          return absl::InvalidArgumentError(absl::StrCat(
              where,
              "input_dim (or dataset.num_words) and output_dim must be "
              "positive, got ",
              rows, " and ", e.output_dim()));
        }
        node->set_op("Embedding");
        SetInt(node, "input_dim", rows);
        SetInt(node, "output_dim", e.output_dim());
        if (e.mask_zero()) {
          SetBool(node, "mask_zero", true);
          out.mask = absl::StrCat(name, ":1");
        }
        break;
      }
      case LayerDef::kLstm: {
        const LstmLayer& l = layer.lstm();
        std::string direction = "forward";
        if (l.bidirectional()) {
          if (l.merge_mode().empty() || l.merge_mode() == "concat") {
            direction = "bidirectional_concat";
          } else if (l.merge_mode() == "sum") {
            direction = "bidirectional_sum";
          } else {
            return absl::InvalidArgumentError(
                absl::StrCat(where,
                             "merge_mode must be \"concat\" or \"sum\", "
                             "got \"",
                             l.merge_mode(), "\""));
          }
        } else if (!l.merge_mode().empty()) {
          return absl::InvalidArgumentError(
              absl::StrCat(where, "merge_mode needs bidirectional: true"));
        }
        LOOM_RETURN_IF_ERROR(CheckRate(where, "dropout", l.dropout()));
        LOOM_RETURN_IF_ERROR(
            CheckRate(where, "recurrent_dropout", l.recurrent_dropout()));
        node->set_op("LSTM");
        if (!ins[0].mask.empty()) node->add_input(ins[0].mask);
        SetInt(node, "units", l.units());
        if (direction != "forward") SetString(node, "direction", direction);
        if (l.return_sequences()) {
          SetBool(node, "return_sequences", true);
          out.mask = ins[0].mask;
        }
        if (l.dropout() > 0) SetFloat(node, "dropout", l.dropout());
        if (l.recurrent_dropout() > 0) {
          SetFloat(node, "recurrent_dropout", l.recurrent_dropout());
        }
        if (!l.precision().empty() && l.precision() != "f32") {
          SetString(node, "precision", l.precision());
        }
        break;
      }
      case LayerDef::kDense: {
        const DenseLayer& d = layer.dense();
        node->set_op("Dense");
        SetInt(node, "units", d.units());
        if (!d.activation().empty() && d.activation() != "linear") {
          SetString(node, "activation", d.activation());
        }
        if (d.no_bias()) SetBool(node, "use_bias", false);
        if (!(d.kernel_l2() >= 0.0f)) {
          return absl::InvalidArgumentError(absl::StrCat(
              where, "kernel_l2 must be >= 0, got ", d.kernel_l2()));
        }
        if (d.kernel_l2() > 0) {
          penalties.push_back({absl::StrCat(name, "/l2"),
                               absl::StrCat(name, "/kernel"), d.kernel_l2(),
                               line});
        }
        out.mask = ins[0].mask;
        out.units = d.units();
        break;
      }
      case LayerDef::kDropout:
      case LayerDef::kSpatialDropout1D: {
        const bool spatial = layer.kind_case() == LayerDef::kSpatialDropout1D;
        const float rate =
            spatial ? layer.spatial_dropout1d().rate() : layer.dropout().rate();
        LOOM_RETURN_IF_ERROR(CheckRate(where, "rate", rate));
        node->set_op(spatial ? "SpatialDropout1D" : "Dropout");
        SetFloat(node, "rate", rate);
        out.mask = ins[0].mask;
        break;
      }
      case LayerDef::kGlobalMaxPooling1D:
        // Keras' GlobalMaxPooling1D drops the mask: masked steps count.
        node->set_op("GlobalMaxPooling1D");
        if (layer.global_max_pooling1d().masked()) {
          if (ins[0].mask.empty()) {
            return absl::InvalidArgumentError(absl::StrCat(
                where,
                "masked: true, but no mask reaches it (an embedding "
                "with mask_zero before it)"));
          }
          node->add_input(ins[0].mask);
        }
        break;
      case LayerDef::kGlobalAveragePooling1D:
        node->set_op("GlobalAveragePooling1D");
        if (!ins[0].mask.empty()) node->add_input(ins[0].mask);
        break;
      case LayerDef::kConcatenate:
        if (ins.size() < 2) {
          return absl::InvalidArgumentError(
              absl::StrCat(where, "joins 2 or more inputs, got ", ins.size()));
        }
        node->set_op("Concatenate");
        for (size_t k = 1; k < ins.size(); ++k) node->add_input(ins[k].value);
        if (layer.concatenate().axis() != 0) {
          SetInt(node, "axis", layer.concatenate().axis());
        }
        break;
      case LayerDef::kSoftmax:
        node->set_op("Softmax");
        out.logits = ins[0].value;
        break;
      case LayerDef::kOp:
        if (layer.op().op().empty()) {
          return absl::InvalidArgumentError(
              absl::StrCat(where, "op layer names no op"));
        }
        node->set_op(layer.op().op());
        for (size_t k = 1; k < ins.size(); ++k) node->add_input(ins[k].value);
        *node->mutable_attr() = layer.op().attr();
        break;
      case LayerDef::KIND_NOT_SET:
        break;
    }
    outputs[name] = out;
    last = out;
  }

  // The loss, the penalties and the metrics on the last layer's output.
  const std::string prediction = last.value;
  const std::string labels = "label";
  if (outputs.contains(labels)) {
    return absl::InvalidArgumentError(
        absl::StrCat(at(layers_line), "a layer is named '", labels,
                     "', the name of the labels input the layer form adds"));
  }
  const bool categorical = layers.loss() == "sparse_categorical_crossentropy";
  if (!layers.loss().empty() && layers.loss() != "binary_crossentropy" &&
      !categorical) {
    return absl::InvalidArgumentError(absl::StrCat(
        at(layers_line), "loss '", layers.loss(),
        "' is not one the layer form knows (binary_crossentropy, "
        "sparse_categorical_crossentropy); use the graph form for others"));
  }
  InputDef* label = graph.add_input();
  label->set_name(labels);
  label->set_dtype(DT_FLOAT);
  label->mutable_shape()->add_dim(-1);
  label->mutable_shape()->add_dim(categorical || last.units <= 0 ? 1
                                                                 : last.units);
  if (!(layers.label_smoothing() >= 0.0f && layers.label_smoothing() <= 1.0f)) {
    return absl::InvalidArgumentError(
        absl::StrCat(at(layers_line), "label_smoothing must be in [0, 1], got ",
                     layers.label_smoothing()));
  }
  NodeDef* crossentropy = graph.add_node();
  node_lines.push_back(layers_line);
  crossentropy->set_name(penalties.empty() ? "loss" : "crossentropy");
  if (categorical) {
    // Class indices against the probabilities, or (more accurate) against
    // the logits a last softmax layer reads.
    crossentropy->set_op("SparseCategoricalCrossentropy");
    crossentropy->add_input(labels);
    if (last.logits.empty()) {
      crossentropy->add_input(prediction);
    } else {
      crossentropy->add_input(last.logits);
      SetBool(crossentropy, "from_logits", true);
    }
  } else {
    crossentropy->set_op("BinaryCrossentropy");
    crossentropy->add_input(prediction);
    crossentropy->add_input(labels);
  }
  if (layers.label_smoothing() > 0) {
    SetFloat(crossentropy, "label_smoothing", layers.label_smoothing());
  }
  for (const Penalty& p : penalties) {
    NodeDef* node = graph.add_node();
    node_lines.push_back(p.line);
    node->set_name(p.node);
    node->set_op("L2Regularizer");
    node->add_input(p.weights);
    SetFloat(node, "l2", p.l2);
  }
  // loss = crossentropy + penalty_0 + penalty_1 + ...
  std::string sum = crossentropy->name();
  for (size_t k = 0; k < penalties.size(); ++k) {
    NodeDef* add = graph.add_node();
    node_lines.push_back(layers_line);
    add->set_name(k + 1 == penalties.size() ? "loss"
                                            : absl::StrCat("loss/sum_", k));
    add->set_op("Add");
    add->add_input(sum);
    add->add_input(penalties[k].node);
    sum = add->name();
  }
  std::vector<std::string> metrics(layers.metric().begin(),
                                   layers.metric().end());
  if (metrics.empty()) metrics.push_back("accuracy");
  for (const std::string& metric : metrics) {
    const bool sparse = metric == "sparse_categorical_accuracy" ||
                        (metric == "accuracy" && categorical);
    if (!sparse && metric != "accuracy" && metric != "binary_accuracy") {
      return absl::InvalidArgumentError(absl::StrCat(
          at(layers_line), "metric '", metric,
          "' is not one the layer form knows (accuracy, binary_accuracy, "
          "sparse_categorical_accuracy)"));
    }
    NodeDef* node = graph.add_node();
    node_lines.push_back(layers_line);
    node->set_name(metric);
    if (sparse) {
      node->set_op("SparseCategoricalAccuracy");
      node->add_input(labels);
      node->add_input(prediction);
    } else {
      node->set_op("BinaryAccuracy");
      node->add_input(prediction);
      node->add_input(labels);
    }
  }

  *model->mutable_graph() = std::move(graph);
  model->clear_layers();
  if (model->features_input().empty()) model->set_features_input(features);
  if (model->labels_input().empty()) model->set_labels_input(labels);
  if (model->prediction().empty()) model->set_prediction(prediction);
  if (model->loss().empty()) model->set_loss("loss");
  if (model->metric_size() == 0) {
    for (const std::string& m : metrics) model->add_metric(m);
  }
  source->node_lines = std::move(node_lines);
  source->parameter_lines.clear();
  return absl::OkStatus();
}

}  // namespace loom
