// Length trimming and length bucketing of token-id batches.
//
// A batch of padded id rows ([n, T], padding id 0) is cut to the columns
// that hold its rows' ids: trailing padding goes for dataset.padding POST,
// leading padding for PRE. This is exact for a padding-invariant model
// (padding_invariance.h). The kept width is rounded up to a multiple of
// kLengthStep (within T), so a model sees at most T / kLengthStep + 1 time
// lengths and the kernels' per-shape primitives and buffers stay bounded.
//
// Inference (Model::Evaluate, Model::Predict) orders rows by length and
// cuts batches in that order (PlanByLength); training with
// training.bucket_by_length groups rows into length buckets and draws each
// epoch's batches within buckets (PlanBucketedEpoch). Both are pure
// functions of the data, the settings, the seed and the epoch: a resumed
// run recomputes the same batches.
#ifndef LOOM_FRAMEWORK_TRAINING_BUCKETING_H_
#define LOOM_FRAMEWORK_TRAINING_BUCKETING_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "framework/proto/model.pb.h"
#include "framework/tensor.h"

namespace loom {

inline constexpr int64_t kLengthStep = 8;

// The columns [begin, end) of a row that hold its non-padding ids (the
// first to the last non-zero id); {0, 0} for a row of padding only.
struct RowSpan {
  int32_t begin = 0;
  int32_t end = 0;
  int32_t length() const { return end - begin; }
};

// The span of every row of `ids` (int32 [n, T]).
std::vector<RowSpan> RowSpans(const Tensor& ids);

// The columns a batch of rows order[begin, end) keeps: every row's span,
// widened to a multiple of kLengthStep (at most T), towards the end first
// (POST padding), then towards the start (PRE).
RowSpan BatchColumns(const std::vector<RowSpan>& spans,
                     const std::vector<int64_t>& order, int64_t begin,
                     int64_t end, int64_t time);

// Copies rows order[begin, end) of `ids` ([n, T]), columns `columns`, into
// `dst` (resized to [end - begin, columns.length()]).
void GatherColumns(const Tensor& ids, const std::vector<int64_t>& order,
                   int64_t begin, int64_t end, RowSpan columns, Tensor* dst);

// An epoch's batches: batch k is rows order[start[k], start[k + 1]).
struct BatchPlan {
  std::vector<int64_t> order;
  std::vector<int64_t> start;  // num_batches() + 1 entries, from 0 to n.
  int64_t num_batches() const {
    return start.empty() ? 0 : static_cast<int64_t>(start.size()) - 1;
  }
};

// Rows by decreasing length (ties in row order), in batches of
// `batch_size`: inference's plan. Longest first, so the first batch sizes
// the buffers that the shorter ones then reuse.
BatchPlan PlanByLength(const std::vector<RowSpan>& spans, int64_t batch_size);

// The bucket boundaries of `def` for rows of these spans: def.boundary
// when given, else the def.buckets - 1 quantiles of the lengths
// (duplicates dropped, so fewer buckets when many rows share a length).
// A row of length L is in bucket b, the first with L < boundary[b], or the
// last. Errors name the field: neither or both fields set, buckets outside
// [1, 1000], boundaries not increasing or not positive.
absl::StatusOr<std::vector<int32_t>> BucketBoundaries(
    const BucketByLengthDef& def, const std::vector<RowSpan>& spans);

// Epoch `epoch`'s batches: each bucket's rows (shuffled with `shuffle`,
// seeded by seed and epoch) cut into batches of `batch_size`, the last of
// a bucket maybe smaller; then the order of the batches shuffled (with
// `shuffle`). Without shuffle, buckets in order, rows in row order.
BatchPlan PlanBucketedEpoch(const std::vector<RowSpan>& spans,
                            const std::vector<int32_t>& boundaries,
                            int64_t batch_size, bool shuffle, uint64_t seed,
                            int epoch);

// "buckets < 20, 20-59, >= 60" style text of boundaries, for messages and
// the resume checkpoint.
std::string DescribeBoundaries(const std::vector<int32_t>& boundaries);

}  // namespace loom

#endif  // LOOM_FRAMEWORK_TRAINING_BUCKETING_H_
