#include "framework/training/config_overrides.h"

#include "absl/strings/str_cat.h"
#include "framework/status_macros.h"
#include "framework/training/config_set.h"

namespace loom {
namespace {

// Keeps the graph consistent with the data set settings: the features
// input is [batch, max_len] and every table an Embedding node reads has
// num_words rows. The other parameters follow by themselves when the ops
// create them (Graph::Build shapes them from these).
void SyncGraphWithDataset(ModelDef* def) {
  GraphDef* graph = def->mutable_graph();
  const TextDatasetDef& d = def->dataset();
  for (InputDef& in : *graph->mutable_input()) {
    if (in.name() == def->features_input() && in.shape().dim_size() == 2 &&
        d.max_len() > 0) {
      in.mutable_shape()->set_dim(1, d.max_len());
    }
  }
  if (d.num_words() <= 0) return;
  for (NodeDef& node : *graph->mutable_node()) {
    if (node.op() != "Embedding") continue;
    // A node giving only the ids has the op create "<node>/table" of
    // input_dim rows (a parameter of that name declared overrides it).
    const bool created = node.input_size() < 2;
    if (created) (*node.mutable_attr())["input_dim"].set_i(d.num_words());
    const std::string table = created ? node.name() + "/table" : node.input(1);
    for (ParameterDef& p : *graph->mutable_parameter()) {
      if (p.name() == table && p.shape().dim_size() == 2) {
        p.mutable_shape()->set_dim(0, d.num_words());
      }
    }
  }
}

}  // namespace

absl::Status ApplyOverrides(const ConfigOverrides& o, ModelDef* def) {
  for (const std::string& assignment : o.set) {
    LOOM_RETURN_IF_ERROR(SetConfigValue(assignment, def));
  }
  TrainingDef* t = def->mutable_training();
  TextDatasetDef* d = def->mutable_dataset();
  auto positive = [](const char* flag, int64_t v) -> absl::Status {
    if (v > 0) return absl::OkStatus();
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, " must be positive, got ", v));
  };
  if (o.epochs) {
    if (*o.epochs < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--epochs must be >= 0, got ", *o.epochs));
    }
    t->set_epochs(*o.epochs);
  }
  if (o.batch_size) {
    LOOM_RETURN_IF_ERROR(positive("batch_size", *o.batch_size));
    t->set_batch_size(*o.batch_size);
  }
  if (o.learning_rate) {
    if (!(*o.learning_rate > 0 && *o.learning_rate <= kMaxLearningRate)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--learning_rate must be a finite number in (0, ",
                       kMaxLearningRate, "], got ", *o.learning_rate));
    }
    OptimizerDef* opt = t->mutable_optimizer();
    if (opt->has_sgd()) {
      opt->mutable_sgd()->set_learning_rate(*o.learning_rate);
    } else {
      opt->mutable_adam()->set_learning_rate(*o.learning_rate);
    }
  }
  if (o.validation_split) {
    if (!(*o.validation_split >= 0 && *o.validation_split < 1)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--validation_split must be in [0, 1), got ", *o.validation_split));
    }
    t->set_validation_split(*o.validation_split);
  }
  if (o.seed) t->set_seed(*o.seed);
  if (o.max_len) {
    LOOM_RETURN_IF_ERROR(positive("max_len", *o.max_len));
    d->set_max_len(*o.max_len);
  }
  if (o.num_words) {
    if (*o.num_words <= 3) {
      return absl::InvalidArgumentError(
          absl::StrCat("--num_words must be > 3, got ", *o.num_words));
    }
    d->set_num_words(*o.num_words);
  }
  if (o.train_limit) {
    if (*o.train_limit < 0) {
      return absl::InvalidArgumentError("--train_limit must be >= 0");
    }
    d->set_train_limit(*o.train_limit);
  }
  if (o.test_limit) {
    if (*o.test_limit < 0) {
      return absl::InvalidArgumentError("--test_limit must be >= 0");
    }
    d->set_test_limit(*o.test_limit);
  }
  if (o.patience) {
    if (*o.patience < 0) {
      return absl::InvalidArgumentError("--patience must be >= 0");
    }
    for (CallbackDef& c : *t->mutable_callback()) {
      if (c.has_early_stopping()) {
        c.mutable_early_stopping()->set_patience(*o.patience);
      }
    }
  }
  // Once, after every override: the model file's values and --set's too.
  LOOM_RETURN_IF_ERROR(CheckModelSettings(*def));
  SyncGraphWithDataset(def);
  if (t->epochs() <= 0 && !o.epochs) t->set_epochs(1);
  if (t->batch_size() <= 0) t->set_batch_size(32);  // Keras' default.
  return absl::OkStatus();
}

}  // namespace loom
