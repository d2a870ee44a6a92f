// Model: a ModelDef made runnable, with Keras' fit / evaluate / predict.
//
// It owns the graph, the executor (parameters and buffers), the optimizer
// and the names the ModelDef binds (features, labels, prediction, loss,
// metrics). Nothing in it is specific to one model definition.
#ifndef LOOM_FRAMEWORK_TRAINING_MODEL_H_
#define LOOM_FRAMEWORK_TRAINING_MODEL_H_

#include <atomic>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "framework/executor.h"
#include "framework/model_io.h"
#include "framework/optimizer.h"
#include "framework/proto/train_state.pb.h"
#include "framework/registry.h"
#include "framework/training/history.h"

namespace loom {

namespace distributed {
class Communicator;
class GradientAllreducer;
}  // namespace distributed

// n labeled examples, as Fit and Evaluate take them: the features of each
// row, [n, ...] (int32 token ids or float), and its label, [n, 1] float.
// (Predict takes the features alone.)
struct LabeledExamples {
  Tensor features;
  Tensor labels;
  // Optional, [n]: rows with equal values are one group (dataset.group_by),
  // kept on one side of SplitValidation. Empty: no groups.
  std::vector<int64_t> groups;
  int64_t size() const {
    return features.is_initialized() ? features.dim(0) : 0;
  }
};

// Rows [begin, end) of `examples`, copied.
LabeledExamples SliceRows(const LabeledExamples& examples, int64_t begin,
                          int64_t end);

// Keras' validation_split: the last `fraction` of the rows (before any
// shuffling) become validation data. Returns {train, validation}. With
// groups, whole groups move: walking from the last row back, each row's
// group (all of its rows) joins validation until it holds at least
// `fraction` of the rows; both parts keep the rows' order. An error when
// that leaves no training rows (one group holds them all).
absl::StatusOr<std::pair<LabeledExamples, LabeledExamples>> SplitValidation(
    const LabeledExamples& examples, double fraction);

using Metrics = std::vector<std::pair<std::string, double>>;

class Model;

// Checks that token ids below `num_ids` (a vocabulary's size, or the
// dataset's num_words) fit every embedding table the features input
// indexes: a larger vocabulary failed only when a rare word appeared. The
// error names `source` (the vocabulary or the setting), the table and its
// rows. Model::Create checks the model's dataset.num_words.
absl::Status CheckIdsFitEmbeddings(const Model& model, int64_t num_ids,
                                   const std::string& source);

class Model;

// Keras-style callbacks, called by Model::Fit.
class Callback {
 public:
  virtual ~Callback() = default;
  virtual absl::Status OnTrainBegin(Model& model) { return absl::OkStatus(); }
  // `log` holds the epoch's metrics (loss, accuracy, val_loss, ...).
  // Set *stop to end training after this epoch.
  virtual absl::Status OnEpochEnd(int epoch, const EpochLog& log, Model& model,
                                  bool* stop) {
    return absl::OkStatus();
  }
  // After every training step (Keras' on_train_batch_end): `step` counts
  // the epoch's steps from 1. Runs before that step's resume checkpoint.
  virtual absl::Status OnBatchEnd(int epoch, int64_t step, Model& model) {
    return absl::OkStatus();
  }
  virtual absl::Status OnTrainEnd(Model& model) { return absl::OkStatus(); }

  // For resume checkpoints (resume.h): what the callback is ("early_stopping"
  // ...), its state, and restoring that state (after OnTrainBegin); errors
  // name `where` (the checkpoint file). Stateless callbacks keep these.
  virtual std::string kind() const { return "callback"; }
  virtual void SaveState(const Model& model, CallbackState* state) const {}
  virtual absl::Status RestoreState(const CallbackState& state, Model& model,
                                    const std::string& where) {
    return absl::OkStatus();
  }
};

class ResumeWriter;
struct RowSpan;

struct FitOptions {
  int epochs = 1;
  int batch_size = 32;
  bool shuffle = true;  // Reshuffle training batches every epoch.
  uint64_t seed = 0;    // Seeds the shuffles.
  // Where progress goes (nullptr: silent), and whether it is a terminal
  // (a redrawn progress bar) or a file (one line per epoch).
  std::ostream* log = nullptr;
  bool interactive = false;
  // Keras' TerminateOnNaN: a NaN or infinite training loss stops Fit at
  // once with an error naming the epoch and step.
  bool terminate_on_nan = true;
  // Resume checkpoints (resume.h): with a writer, one is written at the end
  // of every epoch (after the callbacks) and, with checkpoint_every > 0,
  // after every that many steps of an epoch.
  ResumeWriter* resume_writer = nullptr;
  int64_t checkpoint_every = 0;
  // Continue from this state (read by LoadResumeState) instead of starting
  // afresh; it must be of the same data, batch size and seed.
  const TrainingState* resume_from = nullptr;
  // Polled after every step: once it is true, Fit writes a resume
  // checkpoint (with a writer) and returns a CancelledError saying where it
  // stopped.
  const std::atomic<bool>* stop_requested = nullptr;
  // Recorded in resume checkpoints, to warn when a run resumes with another
  // thread count (results then differ in the last bits).
  int threads = 0;
  // Length bucketing (training.bucket_by_length, bucketing.h): batches are
  // drawn within length buckets and cut to their longest row. Null: off
  // (batches of the shuffled rows, padded as given). Refused for a model
  // that does not trim lengths (Model::trims_lengths).
  const BucketByLengthDef* bucket_by_length = nullptr;
};

class Model {
 public:
  // Builds the graph (validating it against `registry`), the executor and
  // the optimizer, and initializes the parameters from their initializers.
  static absl::StatusOr<std::unique_ptr<Model>> Create(
      const ModelFile& file, const OpRegistry& registry, uint64_t seed);

  // Trains on `train`, reporting metrics on `validation` (may be empty)
  // after each epoch, as Keras' fit does.
  absl::StatusOr<History> Fit(const LabeledExamples& train,
                              const LabeledExamples& validation,
                              const FitOptions& options,
                              const std::vector<Callback*>& callbacks);

  // Mean loss and metrics over `data`, in inference mode: {"loss", ...}.
  // With trims_lengths(), rows are taken by increasing length and each
  // batch is cut to its longest row (bucketing.h).
  absl::StatusOr<Metrics> Evaluate(const LabeledExamples& data, int batch_size);

  // The prediction value for each row of `features`, flattened per row, in
  // the rows' order. With trims_lengths(), rows are run by increasing length
  // and each batch is cut to its longest row.
  absl::StatusOr<Tensor> Predict(const Tensor& features, int batch_size);

  // Whether batches are cut to their longest row: the model is
  // padding-invariant (padding_invariance.h) and its ModelDef does not set
  // no_length_trimming. Then the graph's features input takes any time
  // length (its shape [-1, -1]); features given to Fit, Evaluate and
  // Predict must still have the model file's shape.
  bool trims_lengths() const { return trims_lengths_; }
  // Why it does not (the padding-invariance check's error, or that
  // no_length_trimming is set); OK when it does.
  const absl::Status& length_trimming_status() const {
    return length_trimming_status_;
  }

  const ModelDef& def() const { return def_; }
  ModelDef* mutable_def() { return &def_; }
  Executor& executor() { return *executor_; }
  const Executor& executor() const { return *executor_; }
  Optimizer& optimizer() { return *optimizer_; }
  const Optimizer& optimizer() const { return *optimizer_; }
  // Names of the reported metrics, loss first: {"loss", "accuracy"}.
  const std::vector<std::string>& metric_names() const { return metric_names_; }
  // The metrics every EpochLog of the current Fit() reports (set before
  // the callbacks' OnTrainBegin): metric_names(), then with validation data
  // each of them again with a "val_" prefix.
  const std::vector<std::string>& epoch_metric_names() const {
    return epoch_metric_names_;
  }

  // Data-parallel training (docs/SCALING.md) over `comm` (not owned; null
  // or a group of one: this process alone). Fit then checks that every
  // rank has the same model definition and data, starts from rank 0's
  // parameters, gives each rank its slice of every global batch
  // (distributed::ShardOfBatch), sums the weighted gradients across ranks
  // between Backward and the optimizer step, and reduces the metrics;
  // Evaluate shares its batches the same way. Every rank must make the same
  // calls. With `allreduce_overlap` the gradient sum runs during the
  // backward pass (distributed::GradientAllreducer::BeginStep), with the
  // same result.
  void set_communicator(distributed::Communicator* comm,
                        bool allreduce_overlap = true);

 private:
  Model() = default;
  // Check features, and examples' features and labels, against the graph
  // inputs the model binds (dtype and shape), naming features_input or
  // labels_input.
  absl::Status CheckFeatures(const Tensor& features) const;
  absl::Status CheckExamples(const LabeledExamples& data) const;
  // Runs one batch (rows `order[begin, end)` of `data`) and adds its
  // size-weighted metrics to `sums`.
  // With `spans` (of data's rows), the batch is cut to its rows' columns.
  absl::Status RunBatch(const LabeledExamples& data,
                        const std::vector<int64_t>& order, int64_t begin,
                        int64_t end, bool training, std::vector<double>* sums,
                        const std::vector<RowSpan>* spans = nullptr);

  ModelDef def_;
  std::unique_ptr<Executor> executor_;
  std::unique_ptr<Optimizer> optimizer_;
  std::vector<std::string> metric_names_;   // Display names.
  std::vector<std::string> metric_values_;  // Graph values, loss first.
  std::vector<std::string> epoch_metric_names_;
  bool trims_lengths_ = false;
  absl::Status length_trimming_status_;
  // The features input's shape in the model file (the graph's may be
  // relaxed to any time length).
  Shape features_shape_;
  // Reused batch buffers.
  Tensor batch_features_;
  Tensor batch_labels_;
  distributed::Communicator* comm_ = nullptr;
  std::shared_ptr<distributed::GradientAllreducer> allreducer_;
};

}  // namespace loom

#endif  // LOOM_FRAMEWORK_TRAINING_MODEL_H_
