#include "framework/training/model.h"

#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <ostream>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/memory/memory.h"
#include "absl/strings/str_cat.h"
#include "framework/data/dataset.h"
#include "framework/distributed/communicator.h"
#include "framework/distributed/data_parallel.h"
#include "framework/status_macros.h"
#include "framework/training/bucketing.h"
#include "framework/training/padding_invariance.h"
#include "framework/training/progress.h"
#include "framework/training/resume.h"

namespace loom {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

int64_t RowSize(const Tensor& t) {
  return t.dim(0) == 0 ? 0 : t.num_elements() / t.dim(0);
}

Shape WithRows(const Tensor& t, int64_t rows) {
  Shape shape = t.shape();
  shape[0] = rows;
  return shape;
}

// Copies rows order[begin, end) of `src` into `dst` (resized).
void GatherRows(const Tensor& src, const std::vector<int64_t>& order,
                int64_t begin, int64_t end, Tensor* dst) {
  dst->Resize(src.dtype(), WithRows(src, end - begin));
  const int64_t bytes = RowSize(src) * DTypeSize(src.dtype());
  const char* from = static_cast<const char*>(src.raw());
  char* to = static_cast<char*>(dst->raw());
  for (int64_t i = begin; i < end; ++i) {
    std::memcpy(to + (i - begin) * bytes, from + order[i] * bytes, bytes);
  }
}

// A display name for a metric value: the value's name without a scope
// ("metrics/accuracy" -> "accuracy").
std::string DisplayName(const std::string& value) {
  size_t slash = value.rfind('/');
  return slash == std::string::npos ? value : value.substr(slash + 1);
}

std::vector<int64_t> Identity(int64_t n) {
  std::vector<int64_t> order(n);
  for (int64_t i = 0; i < n; ++i) order[i] = i;
  return order;
}

Metrics MeanMetrics(const std::vector<std::string>& names,
                    const std::vector<double>& sums, int64_t count,
                    const std::string& prefix = "") {
  Metrics out;
  for (size_t k = 0; k < names.size(); ++k) {
    out.emplace_back(prefix + names[k], count > 0 ? sums[k] / count : 0.0);
  }
  return out;
}

// The shape of `info` with unknown dimensions taken as `batch_size` (the
// first) or 1 (any other: a lower bound).
Shape EstimatedShape(const ValueInfo& info, int64_t batch_size) {
  Shape shape = info.shape;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] < 0) shape[i] = i == 0 ? batch_size : 1;
  }
  return shape;
}

// Adds `bytes` to `*total`, saturating: the sum is only compared with the
// limit.
void AddBytes(int64_t bytes, int64_t* total) {
  *total = bytes > std::numeric_limits<int64_t>::max() - *total
               ? std::numeric_limits<int64_t>::max()
               : *total + bytes;
}

int64_t BytesOrMax(DType dtype, const Shape& shape) {
  absl::StatusOr<int64_t> bytes = TensorBytes(dtype, shape);
  return bytes.ok() ? *bytes : std::numeric_limits<int64_t>::max();
}

// Checks, from the graph's shapes, that the model fits in the memory limit
// (tensor.h) before the executor allocates anything: each parameter with
// its gradient, then one training step at `batch_size` rows (parameters
// with gradients plus every graph input and node output). The estimate is a
// lower bound: a huge parameter, num_words, units or max_len is refused
// here instead of failing an allocation.
absl::Status CheckModelMemory(const Graph& g, int64_t batch_size) {
  int64_t params = 0;
  for (int v : g.parameter_values()) {
    const Value& value = g.values()[v];
    int64_t both = 0;
    const int64_t bytes = BytesOrMax(value.info.dtype, value.info.shape);
    AddBytes(bytes, &both);
    AddBytes(bytes, &both);
    LOOM_RETURN_IF_ERROR(CheckMemory(
        both, absl::StrCat(
                  "parameter '", value.name, "' ", DTypeName(value.info.dtype),
                  ShapeToString(value.info.shape), " with its gradient")));
    AddBytes(both, &params);
  }
  int64_t values = 0;
  int64_t largest = -1;
  int largest_value = -1;
  for (size_t v = 0; v < g.values().size(); ++v) {
    const Value& value = g.values()[v];
    if (value.kind == Value::Kind::kParameter) continue;
    const int64_t bytes =
        BytesOrMax(value.info.dtype, EstimatedShape(value.info, batch_size));
    AddBytes(bytes, &values);
    if (bytes > largest) {
      largest = bytes;
      largest_value = static_cast<int>(v);
    }
  }
  int64_t total = params;
  AddBytes(values, &total);
  if (total <= MemoryLimitBytes()) return absl::OkStatus();
  std::string details = absl::StrCat(
      "parameters with gradients ", FormatBytes(params),
      ", graph inputs and node outputs at least ", FormatBytes(values));
  if (largest_value >= 0) {
    const Value& value = g.values()[largest_value];
    absl::StrAppend(
        &details, ", the largest of them ",
        value.kind == Value::Kind::kNodeOutput
            ? absl::StrCat("the output of ", g.Describe(value.producer))
            : absl::StrCat("graph input '", value.name, "'"),
        ", ", DTypeName(value.info.dtype),
        ShapeToString(EstimatedShape(value.info, batch_size)), ", ",
        FormatBytes(largest));
  }
  return CheckMemory(total,
                     absl::StrCat("a training step at batch size ", batch_size),
                     details);
}

// CheckIdsFitEmbeddings on a graph; `prefix` starts the message.
absl::Status CheckIdsFit(const Graph& g, const std::string& features_input,
                         int64_t num_ids, const std::string& prefix,
                         const std::string& source) {
  const int features = g.FindValue(features_input);
  if (features < 0) return absl::OkStatus();
  for (size_t n = 0; n < g.nodes().size(); ++n) {
    const Node& node = g.nodes()[n];
    if (node.op->signature.name != "Embedding" || node.inputs.size() < 2 ||
        node.inputs[0] != features || node.inputs[1] < 0) {
      continue;
    }
    const Value& table = g.values()[node.inputs[1]];
    if (table.info.shape.empty() || table.info.shape[0] < 0 ||
        table.info.shape[0] >= num_ids) {
      continue;
    }
    return absl::InvalidArgumentError(absl::StrCat(
        prefix, source, " gives token ids up to ", num_ids - 1, ", but ",
        g.Describe(static_cast<int>(n)), " looks them up in '", table.name,
        "', which has ", table.info.shape[0],
        " rows: a rare word would fail when it appears; make the table's rows "
        "and dataset.num_words agree"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckIdsFitEmbeddings(const Model& model, int64_t num_ids,
                                   const std::string& source) {
  return CheckIdsFit(model.executor().graph(), model.def().features_input(),
                     num_ids, "", source);
}

LabeledExamples SliceRows(const LabeledExamples& examples, int64_t begin,
                          int64_t end) {
  LabeledExamples out;
  std::vector<int64_t> order = Identity(examples.size());
  GatherRows(examples.features, order, begin, end, &out.features);
  GatherRows(examples.labels, order, begin, end, &out.labels);
  if (!examples.groups.empty()) {
    out.groups.assign(examples.groups.begin() + begin,
                      examples.groups.begin() + end);
  }
  return out;
}

absl::StatusOr<std::pair<LabeledExamples, LabeledExamples>> SplitValidation(
    const LabeledExamples& examples, double fraction) {
  if (!(fraction >= 0 && fraction < 1)) {  // NaN too.
    return absl::InvalidArgumentError(
        absl::StrCat("validation_split must be in [0, 1), got ", fraction));
  }
  const int64_t n = examples.size();
  // Keras: split_at = int(n * (1 - fraction)). The fraction arrives as a
  // float (0.2f is 0.2000000030), so round it to the decimal it was written
  // as before computing, or 8,000 * 0.8 would give 6,399.
  const double exact = std::round(fraction * 1e6) / 1e6;
  const int64_t split = static_cast<int64_t>(n * (1.0 - exact) + 1e-9);
  if (fraction > 0 && (split == 0 || split == n)) {
    return absl::InvalidArgumentError(
        absl::StrCat("validation_split ", fraction, " of ", n,
                     " examples leaves no training or no validation examples"));
  }
  if (examples.groups.empty() || fraction == 0) {
    return std::make_pair(SliceRows(examples, 0, split),
                          SliceRows(examples, split, n));
  }
  if (static_cast<int64_t>(examples.groups.size()) != n) {
    return absl::InvalidArgumentError(
        absl::StrCat("validation_split: ", examples.groups.size(),
                     " group ids for ", n, " examples"));
  }
  // Whole groups, taken from the end, as Keras takes rows.
  absl::flat_hash_map<int64_t, int64_t> size_of;
  for (int64_t g : examples.groups) ++size_of[g];
  absl::flat_hash_set<int64_t> held;
  int64_t taken = 0;
  for (int64_t i = n - 1; i >= 0 && taken < n - split; --i) {
    if (held.insert(examples.groups[i]).second) {
      taken += size_of[examples.groups[i]];
    }
  }
  if (taken == n) {
    return absl::InvalidArgumentError(absl::StrCat(
        "validation_split ", fraction, " of ", n, " examples in ",
        size_of.size(),
        " groups (dataset.group_by) leaves no training examples: one group "
        "holds them all"));
  }
  std::vector<int64_t> train_rows;
  std::vector<int64_t> validation_rows;
  for (int64_t i = 0; i < n; ++i) {
    (held.contains(examples.groups[i]) ? validation_rows : train_rows)
        .push_back(i);
  }
  const auto gather = [&](const std::vector<int64_t>& rows) {
    LabeledExamples out;
    const int64_t count = static_cast<int64_t>(rows.size());
    GatherRows(examples.features, rows, 0, count, &out.features);
    GatherRows(examples.labels, rows, 0, count, &out.labels);
    for (int64_t r : rows) out.groups.push_back(examples.groups[r]);
    return out;
  };
  return std::make_pair(gather(train_rows), gather(validation_rows));
}

absl::StatusOr<std::unique_ptr<Model>> Model::Create(const ModelFile& file,
                                                     const OpRegistry& registry,
                                                     uint64_t seed) {
  auto model = absl::WrapUnique(new Model());
  model->def_ = file.model;
  LOOM_ASSIGN_OR_RETURN(
      auto graph, Graph::Build(file.model.graph(), registry, file.source));
  const std::string& filename =
      file.source.file.empty() ? file.model.name() : file.source.file;
  LOOM_RETURN_IF_ERROR(ValidateModelBindings(file.model, *graph, filename));
  // Before anything is allocated (and before the data set is read): a huge
  // parameter, num_words, units or max_len is an error, not a failed
  // allocation during the first step.
  const int64_t batch = file.model.training().batch_size() > 0
                            ? file.model.training().batch_size()
                            : 32;
  if (auto s = CheckModelMemory(*graph, batch); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat(filename, ": ", s.message()));
  }
  if (const int64_t words = file.model.dataset().num_words(); words > 0) {
    LOOM_RETURN_IF_ERROR(
        CheckIdsFit(*graph, file.model.features_input(), words, filename + ": ",
                    absl::StrCat("dataset.num_words ", words)));
  }
  // Length trimming: a padding-invariant model's graph takes features of
  // any time length (the check on what Fit, Evaluate and Predict are given
  // keeps the file's shape).
  if (const int f = graph->FindValue(file.model.features_input()); f >= 0) {
    model->features_shape_ = graph->values()[f].info.shape;
  }
  if (file.model.no_length_trimming()) {
    model->length_trimming_status_ = absl::FailedPreconditionError(
        absl::StrCat(filename, " sets no_length_trimming"));
  } else if (auto s = CheckPaddingInvariant(*graph, file.model.features_input(),
                                            file.model.prediction(),
                                            file.model.dataset().padding());
             !s.ok()) {
    model->length_trimming_status_ = absl::Status(
        s.code(),
        absl::StrCat("model '", file.model.name(), "': ", s.message()));
  } else {
    GraphDef relaxed = file.model.graph();
    for (InputDef& in : *relaxed.mutable_input()) {
      if (in.name() == file.model.features_input() &&
          in.shape().dim_size() == 2) {
        in.mutable_shape()->set_dim(1, -1);
      }
    }
    auto open = Graph::Build(relaxed, registry, file.source);
    if (!open.ok()) {
      return absl::Status(
          open.status().code(),
          absl::StrCat("the graph with the features' time length left open "
                       "(length trimming; no_length_trimming: true turns it "
                       "off): ",
                       open.status().message()));
    }
    graph = *std::move(open);
    model->trims_lengths_ = true;
  }
  LOOM_ASSIGN_OR_RETURN(
      auto executor,
      Executor::Create(std::shared_ptr<const Graph>(std::move(graph)), seed));
  model->executor_ = std::move(executor);
  LOOM_RETURN_IF_ERROR(model->executor_->InitializeParameters());
  auto optimizer = CreateOptimizer(file.model.training().optimizer());
  if (!optimizer.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        filename, ": training.optimizer: ", optimizer.status().message()));
  }
  model->optimizer_ = *std::move(optimizer);
  model->metric_names_.push_back("loss");
  model->metric_values_.push_back(file.model.loss());
  for (const std::string& m : file.model.metric()) {
    model->metric_names_.push_back(DisplayName(m));
    model->metric_values_.push_back(m);
  }
  return model;
}

namespace {

// Checks `t` against the graph input `input` that the ModelDef binds in
// `field`; `what` names the data ("features").
absl::Status CheckBoundInput(const Graph& g, const char* field,
                             const std::string& input, const Tensor& t,
                             const char* what) {
  const int v = g.FindValue(input);
  if (v < 0 || g.values()[v].kind != Value::Kind::kInput) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, " '", input, "' is not an input of the model's graph"));
  }
  const ValueInfo& info = g.values()[v].info;
  if (t.dtype() == info.dtype && ShapesCompatible(info.shape, t.shape())) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "the model's ", field, " '", input, "' is ", DTypeName(info.dtype),
      ShapeToString(info.shape), ", but the ", what, " are ",
      DTypeName(t.dtype()), ShapeToString(t.shape()),
      t.dtype() == DType::kInt32 && info.dtype != DType::kInt32
          ? " (token ids: make it an input of dtype DT_INT32)"
          : ""));
}

}  // namespace

absl::Status Model::CheckFeatures(const Tensor& features) const {
  LOOM_RETURN_IF_ERROR(CheckBoundInput(executor_->graph(), "features_input",
                                       def_.features_input(), features,
                                       "features"));
  // A trimming model's graph takes any time length; what it is given is
  // still padded to the file's.
  if (trims_lengths_ && !ShapesCompatible(features_shape_, features.shape())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the model's features_input '", def_.features_input(), "' is ",
        DTypeName(DType::kInt32), ShapeToString(features_shape_),
        ", but the features are ", DTypeName(features.dtype()),
        ShapeToString(features.shape())));
  }
  return absl::OkStatus();
}

absl::Status Model::CheckExamples(const LabeledExamples& data) const {
  LOOM_RETURN_IF_ERROR(CheckFeatures(data.features));
  return CheckBoundInput(executor_->graph(), "labels_input",
                         def_.labels_input(), data.labels, "labels");
}

void Model::set_communicator(distributed::Communicator* comm,
                             bool allreduce_overlap) {
  comm_ = comm;
  allreducer_.reset();
  if (comm_ != nullptr && comm_->size() > 1) {
    allreducer_ = std::make_shared<distributed::GradientAllreducer>(comm_);
    allreducer_->set_overlap(allreduce_overlap);
  }
}

absl::Status Model::RunBatch(const LabeledExamples& data,
                             const std::vector<int64_t>& order, int64_t begin,
                             int64_t end, bool training,
                             std::vector<double>* sums,
                             const std::vector<RowSpan>* spans) {
  // Data-parallel: this rank's slice of the global batch [begin, end).
  const int64_t global_rows = end - begin;
  if (allreducer_ != nullptr) {
    std::tie(begin, end) =
        distributed::ShardOfBatch(begin, end, comm_->rank(), comm_->size());
  }
  const int64_t rows = end - begin;
  if (training && allreducer_ != nullptr) {
    // Gradients of this rank's mean loss, weighted by its share: their sum
    // over ranks is the gradient of the global batch's mean loss (summed
    // during Backward with overlap, else in FinishStep).
    LOOM_RETURN_IF_ERROR(allreducer_->BeginStep(
        *executor_, def_.loss(),
        static_cast<float>(rows) / static_cast<float>(global_rows), rows > 0));
  }
  if (rows > 0) {
    if (spans != nullptr) {
      GatherColumns(
          data.features, order, begin, end,
          BatchColumns(*spans, order, begin, end, data.features.dim(1)),
          &batch_features_);
    } else {
      GatherRows(data.features, order, begin, end, &batch_features_);
    }
    GatherRows(data.labels, order, begin, end, &batch_labels_);
    FeedMap feeds = {{def_.features_input(), batch_features_},
                     {def_.labels_input(), batch_labels_}};
    LOOM_RETURN_IF_ERROR(executor_->Run(feeds, metric_values_, training));
    if (training) {
      LOOM_RETURN_IF_ERROR(executor_->Backward(def_.loss()));
    }
  }
  if (training) {
    if (allreducer_ != nullptr) {
      LOOM_RETURN_IF_ERROR(allreducer_->FinishStep(*executor_));
    }
    LOOM_RETURN_IF_ERROR(optimizer_->Apply(executor_->parameters()));
  }
  if (rows == 0) return absl::OkStatus();
  for (size_t k = 0; k < metric_values_.size(); ++k) {
    LOOM_ASSIGN_OR_RETURN(auto value, executor_->Fetch(metric_values_[k]));
    (*sums)[k] += double{value->f32()[0]} * rows;
  }
  return absl::OkStatus();
}

absl::StatusOr<History> Model::Fit(const LabeledExamples& train,
                                   const LabeledExamples& validation,
                                   const FitOptions& options,
                                   const std::vector<Callback*>& callbacks) {
  if (options.batch_size <= 0 || options.epochs < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("fit needs batch_size > 0 and epochs >= 0, got ",
                     options.batch_size, " and ", options.epochs));
  }
  if (train.size() == 0) {
    return absl::InvalidArgumentError("fit was given no training examples");
  }
  LOOM_RETURN_IF_ERROR(CheckExamples(train));
  if (validation.size() > 0) {
    LOOM_RETURN_IF_ERROR(CheckExamples(validation));
  }
  // Length bucketing: rows grouped by length, batches within a group.
  const bool bucketed = options.bucket_by_length != nullptr;
  std::vector<RowSpan> spans;
  std::vector<int32_t> boundaries;
  std::string bucketing;  // The boundaries, in the resume checkpoint.
  if (bucketed) {
    if (!trims_lengths_) {
      return absl::Status(
          length_trimming_status_.code(),
          absl::StrCat("training.bucket_by_length cuts batches to their "
                       "longest row, which this model does not allow: ",
                       length_trimming_status_.message()));
    }
    spans = RowSpans(train.features);
    LOOM_ASSIGN_OR_RETURN(boundaries,
                          BucketBoundaries(*options.bucket_by_length, spans));
    bucketing = DescribeBoundaries(boundaries);
  }
  // Epoch `epoch`'s batches: a function of the data, the settings, the seed
  // and the epoch, so a resumed run draws the same.
  const auto plan_epoch = [&](int epoch) {
    if (bucketed) {
      return PlanBucketedEpoch(spans, boundaries, options.batch_size,
                               options.shuffle, options.seed, epoch);
    }
    BatchPlan plan;
    const int64_t rows = train.size();
    plan.order = options.shuffle
                     ? data::ShuffledOrder(rows, options.seed * 1000003 + epoch)
                     : Identity(rows);
    for (int64_t b = 0; b < rows; b += options.batch_size) {
      plan.start.push_back(b);
    }
    plan.start.push_back(rows);
    return plan;
  };
  const bool resumable =
      options.resume_writer != nullptr || options.resume_from != nullptr;
  const uint64_t data_hash = resumable ? HashExamples(train, validation) : 0;
  History history;
  history.model_name = def_.name();
  // What every EpochLog will hold, for callbacks to check their monitor.
  epoch_metric_names_ = metric_names_;
  if (validation.size() > 0) {
    for (const std::string& name : metric_names_) {
      epoch_metric_names_.push_back("val_" + name);
    }
  }
  for (Callback* c : callbacks) {
    LOOM_RETURN_IF_ERROR(c->OnTrainBegin(*this));
  }
  const int64_t n = train.size();
  // Batches per epoch (with buckets, each bucket's last may be partial).
  const int64_t steps = bucketed
                            ? plan_epoch(1).num_batches()
                            : (n + options.batch_size - 1) / options.batch_size;
  if (allreducer_ != nullptr) {
    // Every rank must train the same model on the same data, from rank 0's
    // parameters.
    LOOM_RETURN_IF_ERROR(comm_->CheckSameOnAllRanks(def_.ShortDebugString(),
                                                    "the model definition"));
    const uint64_t h = HashExamples(train, validation);
    LOOM_RETURN_IF_ERROR(comm_->CheckSameOnAllRanks(
        absl::string_view(reinterpret_cast<const char*>(&h), sizeof(h)),
        absl::StrCat("the training and validation data (", n, " and ",
                     validation.size(), " examples)")));
    LOOM_RETURN_IF_ERROR(
        distributed::BroadcastParameters(*comm_, executor_->parameters()));
  }

  // Where training starts: epoch 1, step 0, or a resume checkpoint's place.
  int first_epoch = 1;
  int64_t first_step = 0;
  bool stopped = false;  // By a callback, before the checkpoint was written.
  std::vector<double> sums(metric_values_.size(), 0.0);
  int64_t seen = 0;
  double seconds_before = 0;  // Of the epoch in progress, before a resume.
  if (const TrainingState* st = options.resume_from) {
    const std::string where = "the resume checkpoint";
    if (st->train_examples() != n ||
        st->validation_examples() != validation.size() ||
        st->data_hash() != data_hash) {
      return absl::FailedPreconditionError(absl::StrCat(
          where, " was written for ", st->train_examples(), " training and ",
          st->validation_examples(), " validation examples, this run has ", n,
          " and ", validation.size(),
          st->train_examples() == n &&
                  st->validation_examples() == validation.size()
              ? " but they differ"
              : "",
          ": resume with the data the run was started on"));
    }
    if (st->batch_size() != options.batch_size || st->seed() != options.seed) {
      return absl::FailedPreconditionError(
          absl::StrCat(where, " was written with batch_size ", st->batch_size(),
                       " and seed ", st->seed(), ", this run has ",
                       options.batch_size, " and ", options.seed));
    }
    if (st->bucketing() != bucketing) {
      return absl::FailedPreconditionError(absl::StrCat(
          where, " was written with length bucketing ",
          st->bucketing().empty() ? "off" : st->bucketing(), ", this run has ",
          bucketing.empty() ? "it off" : bucketing,
          ": resume with the run's training.bucket_by_length"));
    }
    if (st->step() < 0 || st->step() > steps || st->epoch() < 1 ||
        (st->step() > 0 &&
         static_cast<size_t>(st->metric_sum_size()) != sums.size())) {
      return absl::DataLossError(absl::StrCat(
          where, " stands at epoch ", st->epoch(), ", step ", st->step(),
          ", which this run (", steps, " steps per epoch) does not have"));
    }
    LOOM_RETURN_IF_ERROR(RestoreModelState(*st, where, callbacks, this));
    for (const EpochLogState& e : st->history()) {
      history.epochs.push_back(FromEpochLogState(e));
    }
    first_epoch = st->epoch();
    first_step = st->step();
    stopped = st->finished();
    if (first_step > 0) {
      sums.assign(st->metric_sum().begin(), st->metric_sum().end());
      seen = st->seen();
      seconds_before = st->epoch_train_seconds();
    }
    // Data-parallel: this rank's own generators and running sums.
    LOOM_RETURN_IF_ERROR(RestoreRankState(
        *st, allreducer_ ? comm_->rank() : 0, allreducer_ ? comm_->size() : 1,
        *executor_, first_step > 0 ? &sums : nullptr));
  }
  // A resume checkpoint of where training stands now.
  const auto checkpoint = [&](int epoch, int64_t step, bool finished,
                              double seconds) -> absl::Status {
    if (options.resume_writer == nullptr) return absl::OkStatus();
    TrainingState st;
    st.set_epoch(epoch);
    st.set_step(step);
    st.set_finished(finished);
    if (step > 0) {
      for (double v : sums) st.add_metric_sum(v);
      st.set_seen(seen);
      st.set_epoch_train_seconds(seconds);
    }
    for (const EpochLog& e : history.epochs) {
      ToEpochLogState(e, st.add_history());
    }
    st.set_data_hash(data_hash);
    st.set_train_examples(n);
    st.set_validation_examples(validation.size());
    st.set_batch_size(options.batch_size);
    st.set_seed(options.seed);
    st.set_epochs(options.epochs);
    st.set_threads(options.threads);
    st.set_bucketing(bucketing);
    CaptureModelState(*this, callbacks, &st);
    if (allreducer_ != nullptr) {
      LOOM_RETURN_IF_ERROR(
          AddRankStates(*comm_, *executor_, step > 0 ? &sums : nullptr, &st));
    }
    absl::Status s;
    if (allreducer_ == nullptr || comm_->is_root()) {
      s = options.resume_writer->Write(st);
    }
    if (allreducer_ != nullptr) {
      // Every rank's part went in; rank 0 wrote. The others wait until it
      // has (a rank ending early would make mpirun kill rank 0 mid-write).
      int64_t written = s.ok() ? 1 : 0;
      LOOM_RETURN_IF_ERROR(
          comm_->Broadcast(absl::MakeSpan(&written, 1), 0,
                           "whether the checkpoint was written"));
      if (!written && s.ok()) {
        s = absl::UnavailableError("rank 0 could not write it");
      }
    }
    if (!s.ok()) {
      return absl::Status(
          s.code(),
          absl::StrCat("writing the resume checkpoint after epoch ",
                       epoch - (step == 0 ? 1 : 0), ": ", s.message()));
    }
    return absl::OkStatus();
  };
  // Data-parallel: a stop any rank got, so all stop at the same step.
  const auto stop_requested = [&]() -> absl::StatusOr<bool> {
    if (options.stop_requested == nullptr) return false;
    int64_t stop = options.stop_requested->load() ? 1 : 0;
    if (allreducer_ != nullptr) {
      LOOM_RETURN_IF_ERROR(
          comm_->AllreduceMax(absl::MakeSpan(&stop, 1), "the stop requests"));
    }
    return stop != 0;
  };

  for (int epoch = first_epoch; !stopped && epoch <= options.epochs; ++epoch) {
    const int64_t start_step = epoch == first_epoch ? first_step : 0;
    if (start_step == 0) {
      sums.assign(metric_values_.size(), 0.0);
      seen = 0;
      seconds_before = 0;
    }
    if (options.log) {
      *options.log << "Epoch " << epoch << "/" << options.epochs;
      if (start_step > 0) {
        *options.log << " (resumed after step " << start_step << " of " << steps
                     << ")";
      }
      *options.log << "\n" << std::flush;
    }
    const BatchPlan plan = plan_epoch(epoch);
    ProgressBar bar(options.log, options.interactive, steps);
    const auto start = Clock::now();
    const auto elapsed = [&] { return seconds_before + SecondsSince(start); };
    for (int64_t step = start_step; step < steps; ++step) {
      const int64_t begin = plan.start[step];
      const int64_t end = plan.start[step + 1];
      const double loss_before = sums[0];
      if (auto s = RunBatch(train, plan.order, begin, end, true, &sums,
                            bucketed ? &spans : nullptr);
          !s.ok()) {
        return absl::Status(
            s.code(), absl::StrCat("epoch ", epoch, ", step ", step + 1, ": ",
                                   s.message()));
      }
      // Keras' TerminateOnNaN: the weights are no longer usable.
      if (options.terminate_on_nan && !std::isfinite(sums[0])) {
        const double loss = (sums[0] - loss_before) / (end - begin);
        if (options.log && options.interactive) *options.log << "\n";
        return absl::InvalidArgumentError(absl::StrCat(
            "epoch ", epoch, ", step ", step + 1, " of ", steps, ": the loss '",
            def_.loss(), "' is ", std::isnan(loss) ? "NaN" : "infinite",
            "; training stopped (the weights are no longer usable: lower the "
            "learning rate, currently ",
            optimizer_->learning_rate(), ", or check the data)",
            options.resume_writer ? "; the last resume checkpoint is from "
                                    "before it"
                                  : ""));
      }
      seen = end;
      if (options.log) {
        // Data-parallel: this rank's own rows so far (its sums are theirs).
        const int64_t shown = allreducer_ == nullptr
                                  ? seen
                                  : distributed::ShardOfBatch(
                                        0, seen, comm_->rank(), comm_->size())
                                        .second;
        bar.Update(step + 1, elapsed(),
                   MeanMetrics(metric_names_, sums, shown));
      }
      for (Callback* c : callbacks) {
        LOOM_RETURN_IF_ERROR(c->OnBatchEnd(epoch, step + 1, *this));
      }
      LOOM_ASSIGN_OR_RETURN(const bool interrupt, stop_requested());
      if (interrupt ||
          (options.checkpoint_every > 0 &&
           (step + 1) % options.checkpoint_every == 0 && step + 1 < steps)) {
        LOOM_RETURN_IF_ERROR(checkpoint(epoch, step + 1, false, elapsed()));
      }
      if (interrupt) {
        if (options.log && options.interactive) *options.log << "\n";
        return absl::CancelledError(absl::StrCat(
            "stopped after step ", step + 1, " of ", steps, " of epoch ", epoch,
            options.resume_writer ? " and wrote a resume checkpoint" : ""));
      }
    }
    EpochLog log;
    log.epoch = epoch;
    log.train_seconds = elapsed();
    log.learning_rate = optimizer_->current_learning_rate();
    if (allreducer_ != nullptr) {
      // Each rank summed its own rows' metrics: the epoch's are the total.
      int64_t unused = 0;
      LOOM_RETURN_IF_ERROR(
          distributed::ReduceMetricSums(*comm_, &sums, &unused));
    }
    log.metrics = MeanMetrics(metric_names_, sums, seen);
    if (validation.size() > 0) {
      LOOM_ASSIGN_OR_RETURN(auto val, Evaluate(validation, options.batch_size));
      for (auto& [name, value] : val) {
        log.metrics.emplace_back("val_" + name, value);
      }
    }
    log.seconds = elapsed();
    if (options.log) bar.Finish(log.seconds, log.metrics);
    history.epochs.push_back(log);
    for (Callback* c : callbacks) {
      bool c_stop = false;
      LOOM_RETURN_IF_ERROR(c->OnEpochEnd(epoch, log, *this, &c_stop));
      stopped |= c_stop;
    }
    LOOM_RETURN_IF_ERROR(checkpoint(epoch + 1, 0, stopped, 0));
    bool stop_now = false;
    if (!stopped && epoch < options.epochs) {
      LOOM_ASSIGN_OR_RETURN(stop_now, stop_requested());
    }
    if (stop_now) {
      return absl::CancelledError(absl::StrCat(
          "stopped after epoch ", epoch,
          options.resume_writer ? " and wrote a resume checkpoint" : ""));
    }
  }
  for (Callback* c : callbacks) {
    LOOM_RETURN_IF_ERROR(c->OnTrainEnd(*this));
  }
  return history;
}

absl::StatusOr<Metrics> Model::Evaluate(const LabeledExamples& data,
                                        int batch_size) {
  if (batch_size <= 0) {
    return absl::InvalidArgumentError("evaluate needs batch_size > 0");
  }
  const int64_t n = data.size();
  if (n == 0) return absl::InvalidArgumentError("evaluate was given no data");
  LOOM_RETURN_IF_ERROR(CheckExamples(data));
  std::vector<double> sums(metric_values_.size(), 0.0);
  if (trims_lengths_) {
    // Rows by length, each batch cut to its longest row.
    const std::vector<RowSpan> spans = RowSpans(data.features);
    const BatchPlan plan = PlanByLength(spans, batch_size);
    for (int64_t b = 0; b < plan.num_batches(); ++b) {
      LOOM_RETURN_IF_ERROR(RunBatch(data, plan.order, plan.start[b],
                                    plan.start[b + 1], false, &sums, &spans));
    }
  } else {
    const std::vector<int64_t> order = Identity(n);
    for (int64_t begin = 0; begin < n; begin += batch_size) {
      const int64_t end = std::min(n, begin + batch_size);
      LOOM_RETURN_IF_ERROR(RunBatch(data, order, begin, end, false, &sums));
    }
  }
  if (allreducer_ != nullptr) {  // Each rank ran its slices of the batches.
    int64_t unused = 0;
    LOOM_RETURN_IF_ERROR(distributed::ReduceMetricSums(*comm_, &sums, &unused));
  }
  return MeanMetrics(metric_names_, sums, n);
}

absl::StatusOr<Tensor> Model::Predict(const Tensor& features, int batch_size) {
  if (batch_size <= 0) {
    return absl::InvalidArgumentError("predict needs batch_size > 0");
  }
  LOOM_RETURN_IF_ERROR(CheckFeatures(features));
  const int64_t n = features.dim(0);
  Tensor out;
  // With trimming: rows by length, each batch cut to its longest row, the
  // outputs put back in the rows' order.
  std::vector<RowSpan> spans;
  BatchPlan plan;
  if (trims_lengths_) {
    spans = RowSpans(features);
    plan = PlanByLength(spans, batch_size);
  } else {
    plan.order = Identity(n);
    for (int64_t b = 0; b < n; b += batch_size) plan.start.push_back(b);
    plan.start.push_back(n);
  }
  const std::vector<std::string> fetch = {def_.prediction()};
  for (int64_t b = 0; b < plan.num_batches(); ++b) {
    const int64_t begin = plan.start[b];
    const int64_t end = plan.start[b + 1];
    if (trims_lengths_) {
      GatherColumns(
          features, plan.order, begin, end,
          BatchColumns(spans, plan.order, begin, end, features.dim(1)),
          &batch_features_);
    } else {
      GatherRows(features, plan.order, begin, end, &batch_features_);
    }
    FeedMap feeds = {{def_.features_input(), batch_features_}};
    LOOM_RETURN_IF_ERROR(executor_->Run(feeds, fetch, false));
    LOOM_ASSIGN_OR_RETURN(auto pred, executor_->Fetch(def_.prediction()));
    const int64_t width = RowSize(*pred);
    if (!out.is_initialized()) {
      out = Tensor(DType::kFloat32, {n, width});
    }
    for (int64_t i = begin; i < end; ++i) {
      std::memcpy(out.f32() + plan.order[i] * width,
                  pred->f32() + (i - begin) * width, width * sizeof(float));
    }
  }
  return out;
}

}  // namespace loom
