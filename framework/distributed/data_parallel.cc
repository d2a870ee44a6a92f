#include "framework/distributed/data_parallel.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "framework/data/dataset.h"
#include "framework/status_macros.h"

namespace loom::distributed {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Makes sure `p.grad` has the value's shape (a rank that never ran
// Backward may not have allocated it).
void EnsureGrad(Parameter& p) {
  if (!p.grad.is_initialized() || p.grad.shape() != p.value.shape()) {
    p.grad.ResizeZeroed(DType::kFloat32, p.value.shape());
  }
}

int64_t RowWidth(const Parameter& p) {
  return p.value.dim(0) > 0 ? p.value.num_elements() / p.value.dim(0) : 0;
}

// Rows of `src` picked by `order[begin, end)`, like Model's GatherRows.
void GatherRows(const Tensor& src, const std::vector<int64_t>& order,
                int64_t begin, int64_t end, Tensor* dst) {
  Shape shape = src.shape();
  shape[0] = end - begin;
  dst->Resize(src.dtype(), shape);
  const int64_t row_bytes =
      (src.dim(0) > 0 ? src.num_elements() / src.dim(0) : 0) *
      static_cast<int64_t>(DTypeSize(src.dtype()));
  const char* from = static_cast<const char*>(src.raw());
  char* to = static_cast<char*>(dst->raw());
  for (int64_t i = begin; i < end; ++i) {
    std::memcpy(to + (i - begin) * row_bytes, from + order[i] * row_bytes,
                row_bytes);
  }
}

}  // namespace

std::pair<int64_t, int64_t> ShardOfBatch(int64_t begin, int64_t end, int rank,
                                         int size) {
  const int64_t n = end - begin;
  return {begin + n * rank / size, begin + n * (rank + 1) / size};
}

absl::Status BroadcastParameters(Communicator& comm,
                                 std::vector<Parameter>& params) {
  if (comm.size() == 1) return absl::OkStatus();
  for (Parameter& p : params) {
    LOOM_RETURN_IF_ERROR(comm.Broadcast(
        p.value.flat(), 0, absl::StrCat("parameter '", p.name, "'")));
  }
  return absl::OkStatus();
}

absl::Status CheckParametersAgree(Communicator& comm,
                                  const std::vector<Parameter>& params) {
  if (comm.size() == 1) return absl::OkStatus();
  std::string all;
  for (const Parameter& p : params) {
    const uint64_t h = StableHash(p.value.flat());
    all.append(reinterpret_cast<const char*>(&h), sizeof(h));
  }
  return comm.CheckSameOnAllRanks(all, "the parameter values");
}

GradientAllreducer::GradientAllreducer(Communicator* comm, int64_t fusion_bytes,
                                       SparseExchange sparse)
    : comm_(comm),
      fusion_bytes_(std::max<int64_t>(fusion_bytes, sizeof(float))),
      sparse_(sparse) {}

absl::Status GradientAllreducer::FlushBucket(std::vector<Parameter>& params,
                                             const std::vector<size_t>& members,
                                             float weight, bool has_grad) {
  if (members.empty()) return absl::OkStatus();
  int64_t total = 0;
  for (size_t k : members) total += params[k].value.num_elements();
  buffer_.resize(static_cast<size_t>(total));
  int64_t offset = 0;
  for (size_t k : members) {
    Parameter& p = params[k];
    EnsureGrad(p);
    const int64_t n = p.value.num_elements();
    float* dst = buffer_.data() + offset;
    if (has_grad) {
      const float* g = p.grad.f32();
      for (int64_t i = 0; i < n; ++i) dst[i] = weight * g[i];
    } else {
      std::fill_n(dst, n, 0.0f);
    }
    offset += n;
  }
  std::string what =
      absl::StrCat("the gradients of '", params[members[0]].name, "'");
  if (members.size() > 1) {
    absl::StrAppend(&what, " and ", members.size() - 1, " more parameters");
  }
  LOOM_RETURN_IF_ERROR(comm_->AllreduceSum(absl::MakeSpan(buffer_), what));
  offset = 0;
  for (size_t k : members) {
    Parameter& p = params[k];
    const int64_t n = p.value.num_elements();
    std::memcpy(p.grad.f32(), buffer_.data() + offset, n * sizeof(float));
    offset += n;
  }
  stats_.dense_bytes += total * static_cast<int64_t>(sizeof(float));
  ++stats_.buckets;
  return absl::OkStatus();
}

absl::Status GradientAllreducer::Allreduce(std::vector<Parameter>& params,
                                           float weight, bool has_grad) {
  const auto start = Clock::now();
  ++stats_.steps;
  if (comm_->size() == 1) {
    // One process: the weight is 1 and the gradient is already the sum.
    if (weight != 1.0f && has_grad) {
      for (Parameter& p : params) {
        if (!p.trainable) continue;
        for (float& g : p.grad.flat()) g *= weight;
      }
    }
    stats_.seconds += SecondsSince(start);
    return absl::OkStatus();
  }
  // Which gradients are sparse, agreed by every rank: per parameter, how
  // many ranks hold it as rows, how many densely, and the distinct rows.
  std::vector<int64_t> kinds(params.size() * 3, 0);
  for (size_t k = 0; k < params.size(); ++k) {
    Parameter& p = params[k];
    if (!p.trainable || !has_grad) continue;
    if (p.grad_is_sparse) {
      rows_.assign(p.touched_rows.begin(), p.touched_rows.end());
      std::sort(rows_.begin(), rows_.end());
      rows_.erase(std::unique(rows_.begin(), rows_.end()), rows_.end());
      kinds[3 * k] = 1;
      kinds[3 * k + 2] = static_cast<int64_t>(rows_.size());
    } else {
      kinds[3 * k + 1] = 1;
    }
  }
  LOOM_RETURN_IF_ERROR(
      comm_->AllreduceSum(absl::MakeSpan(kinds), "the kinds of the gradients"));
  // Dense gradients, last parameter first, fused.
  std::vector<size_t> bucket;
  int64_t bucket_bytes = 0;
  for (size_t i = params.size(); i-- > 0;) {
    Parameter& p = params[i];
    if (!p.trainable) continue;
    const bool sparse = kinds[3 * i] > 0 && kinds[3 * i + 1] == 0;
    if (sparse) {
      LOOM_RETURN_IF_ERROR(ExchangeSparse(p, weight, has_grad));
      continue;
    }
    const int64_t bytes =
        p.value.num_elements() * static_cast<int64_t>(sizeof(float));
    if (!bucket.empty() && bucket_bytes + bytes > fusion_bytes_) {
      LOOM_RETURN_IF_ERROR(FlushBucket(params, bucket, weight, has_grad));
      bucket.clear();
      bucket_bytes = 0;
    }
    bucket.push_back(i);
    bucket_bytes += bytes;
  }
  LOOM_RETURN_IF_ERROR(FlushBucket(params, bucket, weight, has_grad));
  stats_.seconds += SecondsSince(start);
  return absl::OkStatus();
}

absl::Status GradientAllreducer::PlanLayout(Executor& executor,
                                            const std::string& loss) {
  const std::vector<Parameter>& params = executor.parameters();
  LOOM_ASSIGN_OR_RETURN(auto order, executor.GradientReadyOrder(loss));
  buckets_.clear();
  row_exchanged_.clear();
  bucket_of_.assign(params.size(), -1);
  index_in_bucket_.assign(params.size(), -1);
  int64_t bucket_bytes = 0;
  for (const Executor::GradientReady& r : order) {
    if (r.sparse) {
      row_exchanged_.push_back(r.parameter);
      continue;
    }
    const int64_t n = params[r.parameter].value.num_elements();
    const int64_t bytes = n * static_cast<int64_t>(sizeof(float));
    if (buckets_.empty() || (!buckets_.back().members.empty() &&
                             bucket_bytes + bytes > fusion_bytes_)) {
      buckets_.emplace_back();
      bucket_bytes = 0;
    }
    Bucket& b = buckets_.back();
    bucket_of_[r.parameter] = static_cast<int>(buckets_.size()) - 1;
    index_in_bucket_[r.parameter] = static_cast<int>(b.members.size());
    b.offsets.push_back(static_cast<int64_t>(b.buffer.size()));
    b.members.push_back(r.parameter);
    b.buffer.resize(b.buffer.size() + static_cast<size_t>(n));
    bucket_bytes += bytes;
  }
  // Every rank must start the same allreduces in the same order.
  LOOM_RETURN_IF_ERROR(comm_->CheckSameOnAllRanks(
      DescribeLayout(params),
      absl::StrCat("the gradient bucket layout (", buckets_.size(),
                   " buckets of up to ", fusion_bytes_, " bytes)")));
  planned_ = true;
  return absl::OkStatus();
}

std::string GradientAllreducer::DescribeLayout(
    const std::vector<Parameter>& params) const {
  std::string out;
  for (size_t b = 0; b < buckets_.size(); ++b) {
    absl::StrAppend(&out, "bucket ", b, ":");
    for (int p : buckets_[b].members) {
      absl::StrAppend(&out, " ", params[p].name, "[",
                      params[p].value.num_elements(), "]");
    }
    absl::StrAppend(&out, "\n");
  }
  if (!row_exchanged_.empty()) {
    absl::StrAppend(&out, "rows:");
    for (int p : row_exchanged_) absl::StrAppend(&out, " ", params[p].name);
    absl::StrAppend(&out, "\n");
  }
  return out;
}

void GradientAllreducer::CopyIntoBucket(const std::vector<Parameter>& params,
                                        int p) {
  Bucket& b = buckets_[bucket_of_[p]];
  const int k = index_in_bucket_[p];
  const int64_t n = params[p].value.num_elements();
  float* dst = b.buffer.data() + b.offsets[k];
  const bool has = has_grad_ && params[p].grad.is_initialized() &&
                   params[p].grad.num_elements() == n;
  if (has) {
    const float* g = params[p].grad.f32();
    for (int64_t i = 0; i < n; ++i) dst[i] = weight_ * g[i];
  } else {
    std::fill_n(dst, n, 0.0f);
  }
  copied_[p] = 1;
  ++b.ready;
}

absl::Status GradientAllreducer::StartCompleteBuckets() {
  while (next_to_start_ < buckets_.size()) {
    Bucket& b = buckets_[next_to_start_];
    if (b.ready < static_cast<int>(b.members.size())) break;
    LOOM_RETURN_IF_ERROR(comm_->StartAllreduceSum(
        absl::MakeSpan(b.buffer),
        absl::StrCat("gradient bucket ", next_to_start_, " (", b.members.size(),
                     " parameters)"),
        &b.pending));
    b.started = true;
    ++stats_.buckets;
    stats_.dense_bytes += static_cast<int64_t>(b.buffer.size() * sizeof(float));
    ++next_to_start_;
  }
  return absl::OkStatus();
}

absl::Status GradientAllreducer::OnGradientReady(std::vector<Parameter>& params,
                                                 int p) {
  const auto start = Clock::now();
  if (p < 0 || static_cast<size_t>(p) >= bucket_of_.size()) {
    return absl::InternalError(
        absl::StrCat("gradient allreduce: no parameter ", p));
  }
  if (bucket_of_[p] >= 0 && !copied_[p]) {
    CopyIntoBucket(params, p);
    LOOM_RETURN_IF_ERROR(StartCompleteBuckets());
  }
  // Let MPI move the buckets in flight along (it progresses only inside
  // MPI calls).
  for (size_t b = 0; b < next_to_start_; ++b) {
    if (buckets_[b].pending.active()) {
      LOOM_RETURN_IF_ERROR(comm_->TestAllreduce(&buckets_[b].pending).status());
    }
  }
  stats_.hook_seconds += SecondsSince(start);
  return absl::OkStatus();
}

absl::Status GradientAllreducer::BeginStep(Executor& executor,
                                           const std::string& loss,
                                           float weight, bool has_grad) {
  if (in_step_) {
    return absl::FailedPreconditionError(
        "gradient allreduce: BeginStep() again before FinishStep()");
  }
  if (!planned_) LOOM_RETURN_IF_ERROR(PlanLayout(executor, loss));
  weight_ = weight;
  has_grad_ = has_grad;
  copied_.assign(executor.parameters().size(), 0);
  for (Bucket& b : buckets_) {
    b.ready = 0;
    b.started = false;
  }
  next_to_start_ = 0;
  in_step_ = true;
  if (overlap_ && comm_->size() > 1) {
    std::vector<Parameter>* params = &executor.parameters();
    executor.set_backward_hook(
        [this, params](int p) { return OnGradientReady(*params, p); });
  } else {
    executor.set_backward_hook(nullptr);
  }
  return absl::OkStatus();
}

absl::Status GradientAllreducer::FinishStep(Executor& executor) {
  if (!in_step_) {
    return absl::FailedPreconditionError(
        "gradient allreduce: FinishStep() without BeginStep()");
  }
  in_step_ = false;
  executor.set_backward_hook(nullptr);
  std::vector<Parameter>& params = executor.parameters();
  const auto start = Clock::now();
  ++stats_.steps;
  if (comm_->size() == 1) {
    if (weight_ != 1.0f && has_grad_) {
      for (Parameter& p : params) {
        if (!p.trainable) continue;
        for (float& g : p.grad.flat()) g *= weight_;
      }
    }
    stats_.seconds += SecondsSince(start);
    return absl::OkStatus();
  }
  stats_.buckets_started_in_backward += static_cast<int64_t>(next_to_start_);
  // What the backward pass did not hand over (no hook, no Backward on this
  // rank, or a gradient it never reported).
  for (size_t b = 0; b < buckets_.size(); ++b) {
    for (int p : buckets_[b].members) {
      if (!copied_[p]) CopyIntoBucket(params, p);
    }
  }
  LOOM_RETURN_IF_ERROR(StartCompleteBuckets());
  const auto rows_start = Clock::now();
  stats_.dense_after_backward_seconds +=
      std::chrono::duration<double>(rows_start - start).count();
  // The rows while the buckets are in flight.
  for (int p : row_exchanged_) {
    Parameter& param = params[p];
    if (has_grad_ && !param.grad_is_sparse) {
      return absl::InternalError(absl::StrCat(
          "gradient allreduce on ", comm_->Where(), ": the gradient of '",
          param.name, "' was planned as rows but came dense"));
    }
    LOOM_RETURN_IF_ERROR(ExchangeSparse(param, weight_, has_grad_));
  }
  const auto wait_start = Clock::now();
  stats_.rows_seconds +=
      std::chrono::duration<double>(wait_start - rows_start).count();
  for (Bucket& b : buckets_) {
    LOOM_RETURN_IF_ERROR(comm_->WaitAllreduce(&b.pending));
    for (size_t k = 0; k < b.members.size(); ++k) {
      Parameter& param = params[b.members[k]];
      EnsureGrad(param);
      std::memcpy(param.grad.f32(), b.buffer.data() + b.offsets[k],
                  param.value.num_elements() * sizeof(float));
      param.grad_is_sparse = false;
    }
  }
  stats_.dense_after_backward_seconds += SecondsSince(wait_start);
  stats_.seconds += SecondsSince(start);
  return absl::OkStatus();
}

absl::Status GradientAllreducer::ExchangeSparse(Parameter& p, float weight,
                                                bool has_grad) {
  EnsureGrad(p);
  const int64_t width = RowWidth(p);
  const int64_t table_rows = p.value.dim(0);
  rows_.clear();
  if (has_grad && p.grad_is_sparse) {
    rows_.assign(p.touched_rows.begin(), p.touched_rows.end());
    std::sort(rows_.begin(), rows_.end());
    rows_.erase(std::unique(rows_.begin(), rows_.end()), rows_.end());
  }
  const std::string what = absl::StrCat("the gradient rows of '", p.name, "'");
  std::vector<int> counts;
  LOOM_RETURN_IF_ERROR(comm_->Allgatherv(absl::MakeConstSpan(rows_), &all_rows_,
                                         &counts,
                                         absl::StrCat(what, " (row ids)")));
  stats_.sparse_bytes += static_cast<int64_t>(rows_.size() * sizeof(int32_t));
  // Ring allreduce moves 2(N-1)/N of the table per rank; gathering rows
  // moves (N-1)/N of all ranks' rows to each.
  const int64_t row_floats = static_cast<int64_t>(all_rows_.size()) * width;
  const bool as_rows =
      sparse_ == SparseExchange::kRows ||
      (sparse_ == SparseExchange::kAuto && row_floats < 2 * table_rows * width);
  // Clear what this rank's gradient holds (only its touched rows are
  // non-zero), keeping this rank's contribution first.
  values_.resize(rows_.size() * static_cast<size_t>(width));
  for (size_t j = 0; j < rows_.size(); ++j) {
    const float* g = p.grad.f32() + int64_t{rows_[j]} * width;
    for (int64_t c = 0; c < width; ++c) values_[j * width + c] = weight * g[c];
  }
  for (int32_t r : p.touched_rows) {
    std::fill_n(p.grad.f32() + int64_t{r} * width, width, 0.0f);
  }
  if (as_rows) {
    std::vector<int> value_counts;
    LOOM_RETURN_IF_ERROR(comm_->Allgatherv(absl::MakeConstSpan(values_),
                                           &all_values_, &value_counts, what));
    stats_.sparse_bytes += static_cast<int64_t>(values_.size() * sizeof(float));
    // Rank order, the same on every rank: the same sums everywhere.
    for (size_t j = 0; j < all_rows_.size(); ++j) {
      float* dst = p.grad.f32() + int64_t{all_rows_[j]} * width;
      const float* src = all_values_.data() + j * width;
      for (int64_t c = 0; c < width; ++c) dst[c] += src[c];
    }
    ++stats_.sparse_as_rows;
  } else {
    for (size_t j = 0; j < rows_.size(); ++j) {
      float* dst = p.grad.f32() + int64_t{rows_[j]} * width;
      std::memcpy(dst, values_.data() + j * width, width * sizeof(float));
    }
    LOOM_RETURN_IF_ERROR(
        comm_->AllreduceSum(p.grad.flat(), absl::StrCat(what, " (densely)")));
    stats_.dense_bytes += static_cast<int64_t>(p.grad.num_bytes());
    ++stats_.sparse_as_dense;
  }
  // Every rank now holds the union of the touched rows: the optimizer
  // updates those, and the executor clears them before the next Backward.
  p.touched_rows.assign(all_rows_.begin(), all_rows_.end());
  std::sort(p.touched_rows.begin(), p.touched_rows.end());
  p.touched_rows.erase(
      std::unique(p.touched_rows.begin(), p.touched_rows.end()),
      p.touched_rows.end());
  p.grad_is_sparse = true;
  return absl::OkStatus();
}

absl::Status ReduceMetricSums(Communicator& comm, std::vector<double>* sums,
                              int64_t* rows) {
  if (comm.size() == 1) return absl::OkStatus();
  std::vector<double> all(*sums);
  all.push_back(static_cast<double>(*rows));
  LOOM_RETURN_IF_ERROR(
      comm.AllreduceSum(absl::MakeSpan(all), "the metric sums"));
  *rows = static_cast<int64_t>(all.back());
  all.pop_back();
  *sums = std::move(all);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<EpochResult>> TrainDataParallel(
    Communicator& comm, Executor& executor, Optimizer& optimizer,
    const Tensor& features, const Tensor& labels,
    const DataParallelOptions& options) {
  if (options.batch_size <= 0 || options.epochs < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("data-parallel training needs batch_size > 0 and epochs "
                     ">= 0, got ",
                     options.batch_size, " and ", options.epochs));
  }
  const int64_t n = features.dim(0);
  if (n == 0 || labels.dim(0) != n) {
    return absl::InvalidArgumentError(
        absl::StrCat("data-parallel training needs as many labels as "
                     "examples (> 0), got ",
                     n, " and ", labels.dim(0)));
  }
  LOOM_RETURN_IF_ERROR(BroadcastParameters(comm, executor.parameters()));
  GradientAllreducer reducer(&comm, options.fusion_bytes, options.sparse);
  reducer.set_overlap(options.overlap);
  const std::vector<std::string> fetches = {options.loss};
  Tensor batch_features, batch_labels;
  std::vector<EpochResult> results;
  const int64_t steps = (n + options.batch_size - 1) / options.batch_size;
  for (int epoch = 1; epoch <= options.epochs; ++epoch) {
    std::vector<int64_t> order;
    if (options.shuffle_seed != 0) {
      order = data::ShuffledOrder(n, options.shuffle_seed * 1000003 + epoch);
    } else {
      order.resize(n);
      for (int64_t i = 0; i < n; ++i) order[i] = i;
    }
    reducer.ResetStats();
    comm.ResetStats();
    const auto start = Clock::now();
    std::vector<double> sums = {0.0};
    int64_t rows = 0;
    for (int64_t step = 0; step < steps; ++step) {
      const int64_t begin = step * options.batch_size;
      const int64_t end = std::min(n, begin + options.batch_size);
      const auto [first, last] =
          ShardOfBatch(begin, end, comm.rank(), comm.size());
      const bool has_rows = last > first;
      const float weight =
          static_cast<float>(last - first) / static_cast<float>(end - begin);
      LOOM_RETURN_IF_ERROR(
          reducer.BeginStep(executor, options.loss, weight, has_rows));
      if (has_rows) {
        GatherRows(features, order, first, last, &batch_features);
        GatherRows(labels, order, first, last, &batch_labels);
        FeedMap feeds = {{options.features_input, batch_features},
                         {options.labels_input, batch_labels}};
        if (auto s = executor.Run(feeds, fetches, /*training=*/true); !s.ok()) {
          return absl::Status(
              s.code(), absl::StrCat("epoch ", epoch, ", step ", step + 1, ", ",
                                     comm.Where(), ": ", s.message()));
        }
        LOOM_RETURN_IF_ERROR(executor.Backward(options.loss));
        LOOM_ASSIGN_OR_RETURN(auto loss, executor.Fetch(options.loss));
        sums[0] += double{loss->f32()[0]} * (last - first);
        rows += last - first;
      }
      if (auto s = reducer.FinishStep(executor); !s.ok()) {
        return absl::Status(
            s.code(), absl::StrCat("epoch ", epoch, ", step ", step + 1, ": ",
                                   s.message()));
      }
      LOOM_RETURN_IF_ERROR(optimizer.Apply(executor.parameters()));
    }
    EpochResult result;
    result.seconds = SecondsSince(start);
    result.allreduce_seconds = reducer.stats().seconds;
    result.hook_seconds = reducer.stats().hook_seconds;
    result.buckets = reducer.stats().buckets;
    result.dense_after_backward_seconds =
        reducer.stats().dense_after_backward_seconds;
    result.rows_seconds = reducer.stats().rows_seconds;
    result.buckets_started_in_backward =
        reducer.stats().buckets_started_in_backward;
    result.allreduce_bytes =
        reducer.stats().dense_bytes + reducer.stats().sparse_bytes;
    result.steps = steps;
    LOOM_RETURN_IF_ERROR(ReduceMetricSums(comm, &sums, &rows));
    result.loss = sums[0] / static_cast<double>(rows);
    results.push_back(result);
  }
  return results;
}

}  // namespace loom::distributed
