#include "framework/training/bucketing.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "framework/data/dataset.h"

namespace loom {
namespace {

// SplitMix64's finalizer: independent seeds for the buckets' shuffles.
uint64_t Mix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

constexpr int32_t kMaxBuckets = 1000;

}  // namespace

std::vector<RowSpan> RowSpans(const Tensor& ids) {
  const int64_t n = ids.dim(0);
  const int64_t t = ids.dim(1);
  std::vector<RowSpan> spans(static_cast<size_t>(n));
  const int32_t* data = ids.i32();
  for (int64_t i = 0; i < n; ++i) {
    const int32_t* row = data + i * t;
    int64_t first = 0;
    while (first < t && row[first] == 0) ++first;
    if (first == t) continue;  // Padding only: {0, 0}.
    int64_t last = t;
    while (row[last - 1] == 0) --last;
    spans[i] = {static_cast<int32_t>(first), static_cast<int32_t>(last)};
  }
  return spans;
}

RowSpan BatchColumns(const std::vector<RowSpan>& spans,
                     const std::vector<int64_t>& order, int64_t begin,
                     int64_t end, int64_t time) {
  int64_t lo = time;
  int64_t hi = 0;
  for (int64_t i = begin; i < end; ++i) {
    const RowSpan& s = spans[order[i]];
    if (s.length() == 0) continue;
    lo = std::min<int64_t>(lo, s.begin);
    hi = std::max<int64_t>(hi, s.end);
  }
  if (hi <= lo) {  // Padding only: one step of it.
    lo = 0;
    hi = std::min<int64_t>(1, time);
  }
  const int64_t width =
      std::min(time, (hi - lo + kLengthStep - 1) / kLengthStep * kLengthStep);
  hi = std::min(time, lo + width);
  lo = hi - width;
  return {static_cast<int32_t>(lo), static_cast<int32_t>(hi)};
}

void GatherColumns(const Tensor& ids, const std::vector<int64_t>& order,
                   int64_t begin, int64_t end, RowSpan columns, Tensor* dst) {
  const int64_t t = ids.dim(1);
  const int64_t width = columns.length();
  dst->Resize(DType::kInt32, {end - begin, width});
  const int32_t* from = ids.i32();
  int32_t* to = dst->i32();
  for (int64_t i = begin; i < end; ++i) {
    std::memcpy(to + (i - begin) * width, from + order[i] * t + columns.begin,
                width * sizeof(int32_t));
  }
}

BatchPlan PlanByLength(const std::vector<RowSpan>& spans, int64_t batch_size) {
  const int64_t n = static_cast<int64_t>(spans.size());
  BatchPlan plan;
  plan.order.resize(spans.size());
  for (int64_t i = 0; i < n; ++i) plan.order[i] = i;
  // Longest first: the first batch sizes every buffer for the rest, which
  // then reuse it (shorter batches first would grow them batch by batch).
  std::stable_sort(plan.order.begin(), plan.order.end(),
                   [&](int64_t a, int64_t b) {
                     return spans[a].length() > spans[b].length();
                   });
  for (int64_t b = 0; b < n; b += batch_size) plan.start.push_back(b);
  plan.start.push_back(n);
  return plan;
}

absl::StatusOr<std::vector<int32_t>> BucketBoundaries(
    const BucketByLengthDef& def, const std::vector<RowSpan>& spans) {
  const std::string at = "training.bucket_by_length";
  if ((def.buckets() != 0) == (def.boundary_size() > 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        at, " needs exactly one of buckets (a count) and boundary (lengths)",
        def.buckets() != 0 ? ", both are set" : ", neither is set"));
  }
  std::vector<int32_t> boundaries;
  if (def.boundary_size() > 0) {
    for (int i = 0; i < def.boundary_size(); ++i) {
      const int32_t b = def.boundary(i);
      if (b <= 0 || (i > 0 && b <= def.boundary(i - 1))) {
        return absl::InvalidArgumentError(
            absl::StrCat(at, ".boundary[", i, "] is ", b,
                         ": the boundaries must be positive and increasing"));
      }
      boundaries.push_back(b);
    }
    return boundaries;
  }
  if (def.buckets() < 1 || def.buckets() > kMaxBuckets) {
    return absl::InvalidArgumentError(
        absl::StrCat(at, ".buckets is ", def.buckets(), ": it must be in [1, ",
                     kMaxBuckets, "]"));
  }
  std::vector<int32_t> lengths;
  lengths.reserve(spans.size());
  for (const RowSpan& s : spans) lengths.push_back(s.length());
  std::sort(lengths.begin(), lengths.end());
  const int64_t n = static_cast<int64_t>(lengths.size());
  for (int64_t k = 1; k < def.buckets() && n > 0; ++k) {
    // Bucket k starts at the length of row k * n / buckets (sorted).
    const int32_t b = lengths[k * n / def.buckets()];
    // No empty bucket below the shortest row, nor two equal boundaries.
    if (b > lengths.front() && (boundaries.empty() || b > boundaries.back())) {
      boundaries.push_back(b);
    }
  }
  return boundaries;
}

BatchPlan PlanBucketedEpoch(const std::vector<RowSpan>& spans,
                            const std::vector<int32_t>& boundaries,
                            int64_t batch_size, bool shuffle, uint64_t seed,
                            int epoch) {
  const int64_t n = static_cast<int64_t>(spans.size());
  std::vector<std::vector<int64_t>> buckets(boundaries.size() + 1);
  for (int64_t i = 0; i < n; ++i) {
    const int32_t len = spans[i].length();
    const size_t b = static_cast<size_t>(
        std::upper_bound(boundaries.begin(), boundaries.end(), len) -
        boundaries.begin());
    buckets[b].push_back(i);
  }
  const uint64_t epoch_seed = seed * 1000003 + static_cast<uint64_t>(epoch);
  // Batches as (bucket, first row within it).
  std::vector<std::pair<size_t, int64_t>> batches;
  for (size_t b = 0; b < buckets.size(); ++b) {
    std::vector<int64_t>& rows = buckets[b];
    const int64_t size = static_cast<int64_t>(rows.size());
    if (shuffle) {
      const std::vector<int64_t> perm =
          data::ShuffledOrder(size, Mix(epoch_seed ^ Mix(b + 1)));
      std::vector<int64_t> shuffled(rows.size());
      for (int64_t i = 0; i < size; ++i) shuffled[i] = rows[perm[i]];
      rows = std::move(shuffled);
    }
    for (int64_t r = 0; r < size; r += batch_size) batches.emplace_back(b, r);
  }
  std::vector<int64_t> batch_order(batches.size());
  if (shuffle) {
    batch_order = data::ShuffledOrder(static_cast<int64_t>(batches.size()),
                                      Mix(epoch_seed));
  } else {
    for (size_t k = 0; k < batch_order.size(); ++k) batch_order[k] = k;
  }
  BatchPlan plan;
  plan.order.reserve(spans.size());
  plan.start.push_back(0);
  for (int64_t k : batch_order) {
    const auto [b, first] = batches[k];
    const std::vector<int64_t>& rows = buckets[b];
    const int64_t last = std::min<int64_t>(static_cast<int64_t>(rows.size()),
                                           first + batch_size);
    plan.order.insert(plan.order.end(), rows.begin() + first,
                      rows.begin() + last);
    plan.start.push_back(static_cast<int64_t>(plan.order.size()));
  }
  return plan;
}

std::string DescribeBoundaries(const std::vector<int32_t>& boundaries) {
  if (boundaries.empty()) return "one bucket (all lengths)";
  std::string out =
      absl::StrCat(boundaries.size() + 1, " buckets: < ", boundaries[0]);
  for (size_t i = 1; i < boundaries.size(); ++i) {
    absl::StrAppend(&out, ", ", boundaries[i - 1], "-", boundaries[i] - 1);
  }
  absl::StrAppend(&out, ", >= ", boundaries.back());
  return out;
}

}  // namespace loom
