#include "framework/training/model.h"

#include <chrono>
#include <cmath>
#include <cstring>
#include <ostream>

#include "absl/memory/memory.h"
#include "absl/strings/str_cat.h"
#include "framework/data/dataset.h"
#include "framework/training/progress.h"

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

}  // namespace

Arrays SliceRows(const Arrays& arrays, int64_t begin, int64_t end) {
  Arrays out;
  std::vector<int64_t> order = Identity(arrays.size());
  GatherRows(arrays.features, order, begin, end, &out.features);
  GatherRows(arrays.labels, order, begin, end, &out.labels);
  return out;
}

absl::StatusOr<std::pair<Arrays, Arrays>> SplitValidation(const Arrays& arrays,
                                                          double fraction) {
  if (fraction < 0 || fraction >= 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("validation_split must be in [0, 1), got ", fraction));
  }
  const int64_t n = arrays.size();
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
  return std::make_pair(SliceRows(arrays, 0, split),
                        SliceRows(arrays, split, n));
}

absl::StatusOr<std::unique_ptr<Model>> Model::Create(const ModelFile& file,
                                                     const OpRegistry& registry,
                                                     uint64_t seed) {
  auto model = absl::WrapUnique(new Model());
  model->def_ = file.model;
  auto graph = Graph::Build(file.model.graph(), registry, file.source);
  if (!graph.ok()) return graph.status();
  const std::string& filename =
      file.source.file.empty() ? file.model.name() : file.source.file;
  if (auto s = ValidateModelBindings(file.model, **graph, filename); !s.ok()) {
    return s;
  }
  auto executor =
      Executor::Create(std::shared_ptr<const Graph>(*std::move(graph)), seed);
  if (!executor.ok()) return executor.status();
  model->executor_ = *std::move(executor);
  if (auto s = model->executor_->InitializeParameters(); !s.ok()) return s;
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

absl::Status Model::RunBatch(const Arrays& data,
                             const std::vector<int64_t>& order, int64_t begin,
                             int64_t end, bool training,
                             std::vector<double>* sums) {
  GatherRows(data.features, order, begin, end, &batch_.features);
  GatherRows(data.labels, order, begin, end, &batch_.labels);
  FeedMap feeds = {{def_.features_input(), batch_.features},
                   {def_.labels_input(), batch_.labels}};
  if (auto s = executor_->Run(feeds, metric_values_, training); !s.ok()) {
    return s;
  }
  if (training) {
    if (auto s = executor_->Backward(def_.loss()); !s.ok()) return s;
    if (auto s = optimizer_->Apply(executor_->parameters()); !s.ok()) {
      return s;
    }
  }
  const int64_t rows = end - begin;
  for (size_t k = 0; k < metric_values_.size(); ++k) {
    auto value = executor_->Fetch(metric_values_[k]);
    if (!value.ok()) return value.status();
    (*sums)[k] += double{(*value)->f32()[0]} * rows;
  }
  return absl::OkStatus();
}

absl::StatusOr<History> Model::Fit(const Arrays& train,
                                   const Arrays& validation,
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
  History history;
  history.model_name = def_.name();
  for (Callback* c : callbacks) {
    if (auto s = c->OnTrainBegin(*this); !s.ok()) return s;
  }
  const int64_t n = train.size();
  const int64_t steps = (n + options.batch_size - 1) / options.batch_size;
  for (int epoch = 1; epoch <= options.epochs; ++epoch) {
    if (options.log)
      *options.log << "Epoch " << epoch << "/" << options.epochs << "\n"
                   << std::flush;
    std::vector<int64_t> order =
        options.shuffle ? data::ShuffledOrder(n, options.seed * 1000003 + epoch)
                        : Identity(n);
    ProgressBar bar(options.log, options.interactive, steps);
    std::vector<double> sums(metric_values_.size(), 0.0);
    const auto start = Clock::now();
    int64_t seen = 0;
    for (int64_t step = 0; step < steps; ++step) {
      const int64_t begin = step * options.batch_size;
      const int64_t end = std::min(n, begin + options.batch_size);
      if (auto s = RunBatch(train, order, begin, end, true, &sums); !s.ok()) {
        return absl::Status(
            s.code(), absl::StrCat("epoch ", epoch, ", step ", step + 1, ": ",
                                   s.message()));
      }
      seen = end;
      if (options.log) {
        bar.Update(step + 1, SecondsSince(start),
                   MeanMetrics(metric_names_, sums, seen));
      }
    }
    EpochLog log;
    log.epoch = epoch;
    log.train_seconds = SecondsSince(start);
    log.learning_rate = optimizer_->learning_rate();
    log.metrics = MeanMetrics(metric_names_, sums, seen);
    if (validation.size() > 0) {
      auto val = Evaluate(validation, options.batch_size);
      if (!val.ok()) return val.status();
      for (auto& [name, value] : *val) {
        log.metrics.emplace_back("val_" + name, value);
      }
    }
    log.seconds = SecondsSince(start);
    if (options.log) bar.Finish(log.seconds, log.metrics);
    history.epochs.push_back(log);
    bool stop = false;
    for (Callback* c : callbacks) {
      bool c_stop = false;
      if (auto s = c->OnEpochEnd(epoch, log, *this, &c_stop); !s.ok()) {
        return s;
      }
      stop |= c_stop;
    }
    if (stop) break;
  }
  for (Callback* c : callbacks) {
    if (auto s = c->OnTrainEnd(*this); !s.ok()) return s;
  }
  return history;
}

absl::StatusOr<Metrics> Model::Evaluate(const Arrays& data, int batch_size) {
  if (batch_size <= 0) {
    return absl::InvalidArgumentError("evaluate needs batch_size > 0");
  }
  const int64_t n = data.size();
  if (n == 0) return absl::InvalidArgumentError("evaluate was given no data");
  const std::vector<int64_t> order = Identity(n);
  std::vector<double> sums(metric_values_.size(), 0.0);
  for (int64_t begin = 0; begin < n; begin += batch_size) {
    const int64_t end = std::min(n, begin + batch_size);
    if (auto s = RunBatch(data, order, begin, end, false, &sums); !s.ok()) {
      return s;
    }
  }
  return MeanMetrics(metric_names_, sums, n);
}

absl::StatusOr<Tensor> Model::Predict(const Tensor& features, int batch_size) {
  if (batch_size <= 0) {
    return absl::InvalidArgumentError("predict needs batch_size > 0");
  }
  const int64_t n = features.dim(0);
  Tensor out;
  const std::vector<int64_t> order = Identity(n);
  const std::vector<std::string> fetch = {def_.prediction()};
  for (int64_t begin = 0; begin < n; begin += batch_size) {
    const int64_t end = std::min(n, begin + batch_size);
    GatherRows(features, order, begin, end, &batch_.features);
    FeedMap feeds = {{def_.features_input(), batch_.features}};
    if (auto s = executor_->Run(feeds, fetch, false); !s.ok()) return s;
    auto pred = executor_->Fetch(def_.prediction());
    if (!pred.ok()) return pred.status();
    const int64_t width = RowSize(**pred);
    if (!out.is_initialized()) {
      out = Tensor(DType::kFloat32, {n, width});
    }
    std::memcpy(out.f32() + begin * width, (*pred)->f32(),
                (end - begin) * width * sizeof(float));
  }
  return out;
}

}  // namespace loom
