// Data-parallel training pieces over a Communicator (issue 16), in the
// manner of Horovod: every rank holds the whole model, takes its slice of
// every global batch, and the gradients are summed across ranks before each
// rank applies the same optimizer update.
//
// Batch sharding: --batch_size is the global batch. Rank r of N takes rows
// [b + floor(r*n/N), b + floor((r+1)*n/N)) of a global batch [b, b+n). Its
// loss is the mean over its own rows, so its gradient is weighted by its
// share, n_r / n, before the sum: sum_r (n_r/n) * mean_r = the mean over the
// global batch, i.e. the update one process makes (up to float summation
// order).
//
// Gradients (GradientAllreducer): dense gradients are copied into fused
// buffers of up to `fusion_bytes` (Horovod's tensor fusion), last parameter
// first (the order Backward finishes them), one MPI_Allreduce per buffer.
// An Embedding's gradient comes as rows (Parameter::grad_is_sparse, with
// Parameter::touched_rows); the ranks exchange the rows they touched
// (MPI_Allgatherv of row ids and values) or, when that is more bytes than a
// ring allreduce of the whole table, allreduce the table densely. Either
// way every rank ends with the same summed rows and the union of the
// touched rows, so a sparse-aware optimizer updates exactly the rows one
// process would.
#ifndef LOOM_FRAMEWORK_DISTRIBUTED_DATA_PARALLEL_H_
#define LOOM_FRAMEWORK_DISTRIBUTED_DATA_PARALLEL_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "framework/distributed/communicator.h"
#include "framework/executor.h"
#include "framework/optimizer.h"
#include "framework/tensor.h"

namespace loom::distributed {

// This rank's rows [first, second) of the global batch [begin, end).
std::pair<int64_t, int64_t> ShardOfBatch(int64_t begin, int64_t end, int rank,
                                         int size);

// Copies every parameter's value from rank 0 to all ranks (after
// InitializeParameters or a restore on rank 0), fused in buffers.
absl::Status BroadcastParameters(Communicator& comm,
                                 std::vector<Parameter>& params);

// Fails on every rank, naming the ranks, when their parameter values differ
// (a check that they start from the same point).
absl::Status CheckParametersAgree(Communicator& comm,
                                  const std::vector<Parameter>& params);

enum class SparseExchange {
  kAuto,   // Rows when fewer bytes than a ring allreduce of the table.
  kRows,   // Always exchange touched rows.
  kDense,  // Always allreduce the whole table.
};

struct AllreduceStats {
  int64_t steps = 0;
  int64_t dense_bytes = 0;      // Payload per rank summed over steps.
  int64_t sparse_bytes = 0;     // Rows and ids this rank sent.
  int64_t buckets = 0;          // Fused dense allreduces.
  int64_t sparse_as_rows = 0;   // Embedding exchanges done as rows,
  int64_t sparse_as_dense = 0;  // or densely.
  double seconds = 0;           // Wall time in Allreduce() or FinishStep()
                                // (after the backward pass), copies
                                // included.
  double hook_seconds = 0;      // Wall time in the backward hook (copies
                                // into buckets, starting and polling).
  int64_t buckets_started_in_backward = 0;  // Of `buckets`, with overlap.
  // Of `seconds` in FinishStep: the dense buckets (copies not done in the
  // backward pass, starting, waiting, copying back), and the row exchange.
  double dense_after_backward_seconds = 0;
  double rows_seconds = 0;
};

class GradientAllreducer {
 public:
  // Horovod's default fusion buffer is 64 MiB.
  explicit GradientAllreducer(Communicator* comm,
                              int64_t fusion_bytes = int64_t{64} << 20,
                              SparseExchange sparse = SparseExchange::kAuto);

  // Replaces each trainable parameter's gradient by
  // sum over ranks of (weight_r * grad_r). `weight` is this rank's share of
  // the global batch (n_r / n); `has_grad` false means this rank ran no
  // Backward for this step (an empty slice): it contributes zero, whatever
  // its grad tensors hold. Every rank must call it once per step with the
  // same parameters.
  absl::Status Allreduce(std::vector<Parameter>& params, float weight,
                         bool has_grad);

  // The step API Fit and TrainDataParallel use, with the allreduce
  // overlapped with the backward pass or not (`overlap`); both give
  // bit-identical results. Per step, on every rank:
  //   BeginStep(executor, loss, weight, has_grad);
  //   Run and Backward (only if has_grad);
  //   FinishStep(executor);
  // The first BeginStep fixes the bucket layout: the dense trainable
  // gradients in the order Backward finalizes them
  // (Executor::GradientReadyOrder, reverse topological), cut into buckets
  // of up to `fusion_bytes`; the gradients that come as rows (embedding
  // tables) are exchanged as in Allreduce(). It checks the layout is the
  // same on every rank (the error names the ranks that differ). With
  // overlap, BeginStep installs a backward hook on `executor`: each final
  // gradient is copied (weighted) into its bucket, and a bucket's
  // non-blocking allreduce starts as soon as it is complete (buckets start
  // in layout order, the same on every rank); FinishStep starts what is
  // left, exchanges the rows, waits for every bucket, writes the sums back
  // into Parameter::grad and removes the hook. Without overlap FinishStep
  // does all of it. The result replaces every trainable gradient by the sum
  // over ranks of weight_r * grad_r, as Allreduce() does.
  void set_overlap(bool on) { overlap_ = on; }
  bool overlap() const { return overlap_; }
  absl::Status BeginStep(Executor& executor, const std::string& loss,
                         float weight, bool has_grad);
  absl::Status FinishStep(Executor& executor);
  // The layout, once planned: one line per bucket ("bucket 0: a, b"), then
  // "rows: table" for the row-exchanged ones.
  std::string DescribeLayout(const std::vector<Parameter>& params) const;

  const AllreduceStats& stats() const { return stats_; }
  void ResetStats() { stats_ = AllreduceStats(); }

 private:
  struct Bucket {
    std::vector<int> members;  // Parameter indices, in layout order.
    std::vector<int64_t> offsets;
    std::vector<float> buffer;
    int ready = 0;  // Members copied in this step.
    bool started = false;
    Communicator::PendingAllreduce pending;
  };
  absl::Status PlanLayout(Executor& executor, const std::string& loss);
  // Copies parameter `p`'s weighted gradient (or zeros) into its bucket.
  void CopyIntoBucket(const std::vector<Parameter>& params, int p);
  // Starts, in layout order, every complete bucket not yet started.
  absl::Status StartCompleteBuckets();
  absl::Status OnGradientReady(std::vector<Parameter>& params, int p);

  absl::Status FlushBucket(std::vector<Parameter>& params,
                           const std::vector<size_t>& members, float weight,
                           bool has_grad);
  absl::Status ExchangeSparse(Parameter& p, float weight, bool has_grad);

  Communicator* comm_;
  int64_t fusion_bytes_;
  SparseExchange sparse_;
  std::vector<float> buffer_;
  std::vector<int32_t> rows_;
  std::vector<float> values_;
  std::vector<int32_t> all_rows_;
  std::vector<float> all_values_;
  AllreduceStats stats_;
  // The step API's layout and state.
  bool overlap_ = true;
  bool planned_ = false;
  std::vector<Bucket> buckets_;
  std::vector<int> row_exchanged_;  // Parameters exchanged as rows.
  std::vector<int> bucket_of_;      // Per parameter: bucket, or -1.
  std::vector<int> index_in_bucket_;
  std::vector<char> copied_;  // Per parameter, this step.
  size_t next_to_start_ = 0;
  float weight_ = 1;
  bool has_grad_ = true;
  bool in_step_ = false;
};

// Sums per-metric sums (each metric's mean times rows) and the row count
// over ranks, so MeanMetrics-style means are over the global data.
absl::Status ReduceMetricSums(Communicator& comm, std::vector<double>* sums,
                              int64_t* rows);

// A data-parallel epoch loop on an Executor and Optimizer, the steps
// Model::Fit takes (shuffled global batches, Run, Backward, Apply) with the
// sharding and gradient sum above in between. Used by the tests and the
// scaling measurement; the training driver gets the same pieces through a
// hook in Model::Fit.
struct DataParallelOptions {
  std::string features_input;
  std::string labels_input;
  std::string loss;
  int64_t batch_size = 32;
  int epochs = 1;
  uint64_t shuffle_seed = 1;  // 0 = no shuffling.
  int64_t fusion_bytes = int64_t{64} << 20;
  SparseExchange sparse = SparseExchange::kAuto;
  // Overlap the gradient allreduce with the backward pass
  // (GradientAllreducer::BeginStep); the results are bit-identical.
  bool overlap = true;
};

struct EpochResult {
  double loss = 0;               // Mean training loss over the epoch's rows.
  double seconds = 0;            // Wall time of the epoch.
  double allreduce_seconds = 0;  // After the backward pass (FinishStep).
  double hook_seconds = 0;       // In the backward hook.
  int64_t buckets = 0;           // Dense allreduces,
  int64_t buckets_started_in_backward = 0;  // of which started in Backward.
  double dense_after_backward_seconds = 0;  // Of allreduce_seconds: dense
  double rows_seconds = 0;                  // buckets, embedding rows.
  int64_t allreduce_bytes = 0;  // Per rank, dense and sparse payload.
  int64_t steps = 0;
};

absl::StatusOr<std::vector<EpochResult>> TrainDataParallel(
    Communicator& comm, Executor& executor, Optimizer& optimizer,
    const Tensor& features, const Tensor& labels,
    const DataParallelOptions& options);

}  // namespace loom::distributed

#endif  // LOOM_FRAMEWORK_DISTRIBUTED_DATA_PARALLEL_H_
