#include "framework/inference/predictor.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "framework/data/dataset.h"
#include "framework/denormals.h"
#include "framework/status_macros.h"
#include "framework/training/classification.h"
#include "framework/training/saved_model.h"

namespace loom {

struct Predictor::Job {
  const Tensor* ids = nullptr;
  absl::StatusOr<Tensor> prediction;
  absl::Time enqueued;
  bool done = false;
};

PredictorStats Predictor::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

Predictor::~Predictor() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void Predictor::Serve(const std::string& model_dir, const ModelFile& file,
                      const OpRegistry& registry) {
  auto loaded = LoadModel(model_dir, file, registry);
  {
    absl::MutexLock lock(&mu_);
    loaded_ = true;
    if (!loaded.ok()) {
      load_status_ = loaded.status();
      return;
    }
    vocabulary_ = std::move(loaded->vocabulary);
    model_ = std::move(loaded->model);
  }
  while (true) {
    std::vector<Job*> jobs;
    int64_t rows = 0;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](Predictor* p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->mu_) {
            return p->stopping_ || !p->queue_.empty();
          },
          this));
      if (queue_.empty()) return;  // Stopping, nothing left to run.
      if (max_batch_size_ > 0 && batch_timeout_micros_ > 0) {
        // Wait for more calls, up to the timeout after the first one.
        const absl::Time deadline = queue_.front()->enqueued +
                                    absl::Microseconds(batch_timeout_micros_);
        mu_.AwaitWithDeadline(
            absl::Condition(
                +[](Predictor* p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->mu_) {
                  int64_t waiting = 0;
                  for (const Job* j : p->queue_) waiting += j->ids->dim(0);
                  return p->stopping_ || waiting >= p->max_batch_size_;
                },
                this),
            deadline);
      }
      // The first call always runs; more join while they fit.
      do {
        rows += queue_.front()->ids->dim(0);
        jobs.push_back(queue_.front());
        queue_.pop_front();
      } while (max_batch_size_ > 0 && !queue_.empty() &&
               rows + queue_.front()->ids->dim(0) <= max_batch_size_);
      const absl::Time now = absl::Now();
      ++stats_.runs;
      stats_.calls += static_cast<int64_t>(jobs.size());
      stats_.texts += rows;
      const size_t n = jobs.size();
      const int bucket = n <= 1    ? 0
                         : n == 2  ? 1
                         : n <= 4  ? 2
                         : n <= 8  ? 3
                         : n <= 16 ? 4
                         : n <= 32 ? 5
                                   : 6;
      ++stats_.calls_per_run[bucket];
      for (const Job* j : jobs) {
        stats_.queue_seconds += absl::ToDoubleSeconds(now - j->enqueued);
      }
    }
    if (jobs.size() == 1) {
      absl::StatusOr<Tensor> prediction =
          model_->Predict(*jobs[0]->ids, batch_size_);
      absl::MutexLock lock(&mu_);
      jobs[0]->prediction = std::move(prediction);
      jobs[0]->done = true;
      continue;
    }
    // Join the calls' rows into one input, run once, split the result.
    const int64_t width = jobs[0]->ids->dim(1);
    Tensor joined = Tensor::FromVector(
        {rows, width}, std::vector<int32_t>(static_cast<size_t>(rows * width)));
    int64_t at = 0;
    for (const Job* j : jobs) {
      std::copy(j->ids->i32(), j->ids->i32() + j->ids->num_elements(),
                joined.i32() + at * width);
      at += j->ids->dim(0);
    }
    absl::StatusOr<Tensor> prediction =
        model_->Predict(joined, std::max(batch_size_, max_batch_size_));
    absl::MutexLock lock(&mu_);
    at = 0;
    for (Job* j : jobs) {
      if (!prediction.ok()) {
        j->prediction = prediction.status();
      } else {
        const int64_t k = prediction->num_elements() / rows;
        const int64_t n = j->ids->dim(0);
        Tensor part(DType::kFloat32, {n, k});
        std::copy(prediction->f32() + at * k, prediction->f32() + (at + n) * k,
                  part.f32());
        j->prediction = std::move(part);
      }
      at += j->ids->dim(0);
      j->done = true;
    }
  }
}

absl::StatusOr<std::unique_ptr<Predictor>> Predictor::Load(
    const std::string& model_dir, std::unique_ptr<OpRegistry> registry,
    const PredictorOptions& options) {
  if (registry == nullptr) {
    return absl::InvalidArgumentError("Predictor::Load: no op registry");
  }
  const OpRegistry& ref = *registry;
  LOOM_ASSIGN_OR_RETURN(auto predictor, Load(model_dir, ref, options));
  predictor->owned_registry_ = std::move(registry);
  return predictor;
}

absl::StatusOr<std::unique_ptr<Predictor>> Predictor::Load(
    const std::string& model_dir, const OpRegistry& registry,
    const PredictorOptions& options) {
  if (options.batch_size <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Predictor options: batch_size must be > 0, got ", options.batch_size));
  }
  LOOM_ASSIGN_OR_RETURN(auto file, ReadSavedModelFile(model_dir));
  auto predictor = std::unique_ptr<Predictor>(new Predictor());
  Predictor* p = predictor.get();
  p->model_dir_ = model_dir;
  p->batch_size_ = options.batch_size;
  p->max_batch_size_ = std::max(0, options.max_batch_size);
  p->batch_timeout_micros_ = std::max<int64_t>(0, options.batch_timeout_micros);
  // The model thread loads the model: its primitives must stay there.
  const ModelFile& model_file = file;
  p->thread_ = std::thread([p, &model_file, &registry] {
    FlushDenormalsInKernelThreads();  // This thread's own OpenMP team.
    p->Serve(p->model_dir_, model_file, registry);
  });
  {
    absl::MutexLock lock(&p->mu_);
    p->mu_.Await(absl::Condition(&p->loaded_));
    LOOM_RETURN_IF_ERROR(p->load_status_);  // Joined by ~.
  }
  Model& model = *p->model_;  // Read-only from here on.
  p->name_ = model.def().name();
  p->dataset_ = model.def().dataset();
  p->max_len_ = p->dataset_.max_len();
  p->class_names_.assign(p->dataset_.class_name().begin(),
                         p->dataset_.class_name().end());
  if (p->class_names_.empty()) {
    p->class_names_ = {"negative", "positive"};  // Older folders.
  }
  if (auto s = CheckClassesMatchModel(model, p->class_names_); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat(model_dir, ": ", s.message()));
  }
  if (p->max_len_ <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(model_dir, "/model.pbtxt: dataset.max_len must be > 0"));
  }
  std::set<std::string> ops;
  for (const NodeDef& node : model.def().graph().node()) ops.insert(node.op());
  p->ops_.assign(ops.begin(), ops.end());
  return predictor;
}

absl::StatusOr<std::vector<Prediction>> Predictor::Run(
    const Tensor& ids) const {
  Job job;
  job.ids = &ids;
  {
    absl::MutexLock lock(&mu_);
    job.enqueued = absl::Now();
    queue_.push_back(&job);
    mu_.Await(absl::Condition(&job.done));
  }
  LOOM_RETURN_IF_ERROR(job.prediction.status());
  std::vector<Prediction> out(static_cast<size_t>(ids.dim(0)));
  for (int64_t i = 0; i < ids.dim(0); ++i) {
    ClassProbabilities(*job.prediction, i, &out[i].probabilities);
    out[i].label = ArgMax(out[i].probabilities);
  }
  return out;
}

absl::StatusOr<std::vector<Prediction>> Predictor::Predict(
    const std::vector<std::string>& texts) const {
  if (texts.empty()) return std::vector<Prediction>();
  const int64_t n = static_cast<int64_t>(texts.size());
  Tensor ids = Tensor::FromVector(
      {n, max_len_}, std::vector<int32_t>(static_cast<size_t>(n) * max_len_,
                                          data::Vocabulary::kPadId));
  std::vector<int> num_tokens(texts.size());
  std::string buffer;
  std::vector<std::string_view> tokens;
  const data::Padding padding = data::PaddingOf(dataset_.padding());
  const data::Padding truncating = data::PaddingOf(dataset_.truncating());
  for (int64_t i = 0; i < n; ++i) {
    num_tokens[i] = static_cast<int>(
        vocabulary_.EncodeRow(texts[i], max_len_, padding, truncating, &buffer,
                              &tokens, ids.i32() + i * max_len_));
  }
  LOOM_ASSIGN_OR_RETURN(auto out, Run(ids));
  for (int64_t i = 0; i < n; ++i) out[i].num_tokens = num_tokens[i];
  return out;
}

absl::StatusOr<std::vector<Prediction>> Predictor::PredictIds(
    const int32_t* ids, int64_t n, int64_t length) const {
  if (n < 0 || length <= 0 || (n > 0 && ids == nullptr)) {
    return absl::InvalidArgumentError(
        absl::StrCat("PredictIds: need n >= 0 rows of length > 0 ids, got n ",
                     n, ", length ", length));
  }
  if (n == 0) return std::vector<Prediction>();
  if (n > (int64_t{1} << 31) / std::max<int64_t>(length, max_len_)) {
    return absl::InvalidArgumentError(
        absl::StrCat("PredictIds: ", n, " rows of ", length,
                     " ids are more than one call may pass"));
  }
  const int32_t limit = vocabulary_.num_words();
  Tensor padded = Tensor::FromVector(
      {n, max_len_}, std::vector<int32_t>(static_cast<size_t>(n) * max_len_,
                                          data::Vocabulary::kPadId));
  for (int64_t i = 0; i < n; ++i) {
    const int32_t* src = ids + i * length;
    for (int64_t t = 0; t < length; ++t) {
      if (src[t] < 0 || src[t] >= limit) {
        return absl::InvalidArgumentError(
            absl::StrCat("PredictIds: row ", i, ", position ", t, ": id ",
                         src[t], " is not in [0, ", limit, ")"));
      }
    }
    data::PadSequenceInto(src, static_cast<size_t>(length), max_len_,
                          data::PaddingOf(dataset_.padding()),
                          data::PaddingOf(dataset_.truncating()),
                          padded.i32() + i * max_len_);
  }
  LOOM_ASSIGN_OR_RETURN(auto out, Run(padded));
  for (int64_t i = 0; i < n; ++i) {
    int count = 0;
    for (int64_t t = 0; t < length; ++t) {
      count += ids[i * length + t] > data::Vocabulary::kStartId ? 1 : 0;
    }
    out[i].num_tokens = count;
  }
  return out;
}

}  // namespace loom
