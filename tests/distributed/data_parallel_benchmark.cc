// Step time and communication of data-parallel training, for
// docs/SCALING.md: trains a model file's graph on synthetic reviews (token
// ids drawn from a Zipf law over the vocabulary, lengths uniform in
// [max_len/4, max_len], pre-padded), alone or under mpirun, and prints on
// rank 0 per epoch: seconds, seconds in the gradient allreduce, bytes per
// step this rank contributed, and the parameter bytes.
//   mpirun -np 2 bazel-bin/tests/distributed/data_parallel_benchmark
//       --graph=models/bilstm.pbtxt --examples=6400 --epochs=3
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "framework/distributed/data_parallel.h"
#include "framework/executor.h"
#include "framework/graph.h"
#include "framework/model_io.h"
#include "framework/optimizer.h"
#include "framework/registry.h"
#include "ops/op_library.h"

ABSL_FLAG(std::string, graph, "models/bilstm.pbtxt", "A node-form model file.");
ABSL_FLAG(int64_t, examples, 6400, "Training examples (global).");
ABSL_FLAG(int, epochs, 3, "Epochs.");
ABSL_FLAG(int64_t, batch_size, 0, "Global batch (default: the file's).");
ABSL_FLAG(int, vocab_scale, 1,
          "Multiply the embedding table's rows (and the ids' range) by this.");
ABSL_FLAG(std::string, sparse, "auto", "auto, rows or dense.");
ABSL_FLAG(int64_t, fusion_bytes, int64_t{64} << 20, "Fusion buffer bytes.");
ABSL_FLAG(bool, overlap, true,
          "Overlap the dense gradients' allreduce with the backward pass.");
ABSL_FLAG(std::vector<std::string>, allreduce_bytes, {},
          "Instead of training: time MPI_Allreduce (sum, float) of buffers of "
          "these sizes in bytes, 30 times each, and print the median.");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  auto created = loom::distributed::Communicator::Create();
  if (!created.ok()) {
    std::fprintf(stderr, "%s\n",
                 std::string(created.status().message()).c_str());
    return 1;
  }
  loom::distributed::Communicator& comm = **created;
  auto fail = [&](const absl::Status& s) {
    std::fprintf(stderr, "benchmark: %s: %s\n", comm.Where().c_str(),
                 std::string(s.message()).c_str());
    comm.Abort(1);
    return 1;
  };
  if (!absl::GetFlag(FLAGS_allreduce_bytes).empty()) {
    for (const std::string& text : absl::GetFlag(FLAGS_allreduce_bytes)) {
      const int64_t bytes = std::stoll(text);
      std::vector<float> buffer(bytes / 4, 1.0f);
      std::vector<double> times;
      for (int k = 0; k < 31; ++k) {
        if (auto s = comm.Barrier("the start"); !s.ok()) return fail(s);
        comm.ResetStats();
        if (auto s = comm.AllreduceSum(absl::MakeSpan(buffer), "a buffer");
            !s.ok()) {
          return fail(s);
        }
        if (k > 0) times.push_back(comm.stats().seconds);  // 1st: warm-up.
      }
      std::sort(times.begin(), times.end());
      if (comm.is_root()) {
        const double median = times[times.size() / 2];
        std::printf(
            "allreduce %lld bytes on %d ranks: median %.3f ms (min %.3f, max "
            "%.3f), %.2f GB/s of 2(N-1)/N x bytes\n",
            static_cast<long long>(bytes), comm.size(), 1e3 * median,
            1e3 * times.front(), 1e3 * times.back(),
            2.0 * (comm.size() - 1) / comm.size() * bytes / median / 1e9);
      }
    }
    return 0;
  }
  loom::OpRegistry registry;
  if (auto s = loom::RegisterBuiltinOps(&registry); !s.ok()) return fail(s);
  auto file = loom::ReadModelFile(absl::GetFlag(FLAGS_graph));
  if (!file.ok()) return fail(file.status());
  const int scale = absl::GetFlag(FLAGS_vocab_scale);
  int64_t vocab = 0;
  int64_t max_len = 0;
  for (auto& p : *file->model.mutable_graph()->mutable_parameter()) {
    if (p.name() == "embedding/table") {
      p.mutable_shape()->set_dim(0, p.shape().dim(0) * scale);
      vocab = p.shape().dim(0);
    }
  }
  // A table the Embedding node creates (layer-form model files): its rows
  // are the node's input_dim.
  for (auto& node : *file->model.mutable_graph()->mutable_node()) {
    if (node.op() != "Embedding") continue;
    auto it = node.mutable_attr()->find("input_dim");
    if (it == node.mutable_attr()->end() || it->second.i() <= 0) continue;
    if (vocab == 0) {
      it->second.set_i(it->second.i() * scale);
      vocab = it->second.i();
    }
  }
  if (vocab < 3) {
    return fail(absl::InvalidArgumentError(
        "found no embedding table (embedding/table or an Embedding node's "
        "input_dim) to draw ids for"));
  }
  for (const auto& in : file->model.graph().input()) {
    if (in.name() == file->model.features_input()) max_len = in.shape().dim(1);
  }
  auto graph = loom::Graph::Build(file->model.graph(), registry, file->source);
  if (!graph.ok()) return fail(graph.status());
  auto executor = loom::Executor::Create(std::move(*graph), 42);
  if (!executor.ok()) return fail(executor.status());
  if (auto s = (*executor)->InitializeParameters(); !s.ok()) return fail(s);
  auto optimizer = loom::CreateOptimizer(file->model.training().optimizer());
  if (!optimizer.ok()) return fail(optimizer.status());

  const int64_t n = absl::GetFlag(FLAGS_examples);
  std::mt19937 rng(11);
  // Zipf(1) over ids 2..vocab-1 by inverse transform on the harmonic CDF.
  std::vector<double> cdf(vocab);
  double total = 0;
  for (int64_t i = 2; i < vocab; ++i) cdf[i] = (total += 1.0 / (i - 1));
  std::uniform_real_distribution<double> u(0, total);
  std::vector<int32_t> ids(n * max_len, 0);
  std::vector<float> labels(n);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t len = max_len / 4 + rng() % (max_len - max_len / 4 + 1);
    for (int64_t t = max_len - len; t < max_len; ++t) {
      ids[i * max_len + t] = static_cast<int32_t>(
          std::lower_bound(cdf.begin() + 2, cdf.end(), u(rng)) - cdf.begin());
    }
    labels[i] = static_cast<float>(ids[i * max_len + max_len - 1] % 2);
  }
  const loom::Tensor features = loom::Tensor::FromVector({n, max_len}, ids);
  const loom::Tensor y = loom::Tensor::FromVector({n, 1}, labels);

  loom::distributed::DataParallelOptions options;
  options.features_input = file->model.features_input();
  options.labels_input = file->model.labels_input();
  options.loss = file->model.loss();
  options.batch_size = absl::GetFlag(FLAGS_batch_size) > 0
                           ? absl::GetFlag(FLAGS_batch_size)
                           : file->model.training().batch_size();
  options.epochs = absl::GetFlag(FLAGS_epochs);
  options.shuffle_seed = 42;
  options.fusion_bytes = absl::GetFlag(FLAGS_fusion_bytes);
  options.overlap = absl::GetFlag(FLAGS_overlap);
  const std::string sparse = absl::GetFlag(FLAGS_sparse);
  options.sparse = sparse == "rows" ? loom::distributed::SparseExchange::kRows
                   : sparse == "dense"
                       ? loom::distributed::SparseExchange::kDense
                       : loom::distributed::SparseExchange::kAuto;
  int64_t param_bytes = 0;
  int64_t table_bytes = 0;
  for (const loom::Parameter& p : (*executor)->parameters()) {
    param_bytes += static_cast<int64_t>(p.value.num_bytes());
    if (p.name == "embedding/table") table_bytes = p.value.num_bytes();
  }
  auto results = loom::distributed::TrainDataParallel(
      comm, **executor, **optimizer, features, y, options);
  if (!results.ok()) return fail(results.status());
  if (comm.is_root()) {
    std::printf(
        "graph %s, ranks %d, examples %lld, batch %lld, vocab %lld, max_len "
        "%lld, parameters %.2f MB (embedding %.2f MB), sparse %s, overlap "
        "%s\n",
        absl::GetFlag(FLAGS_graph).c_str(), comm.size(),
        static_cast<long long>(n), static_cast<long long>(options.batch_size),
        static_cast<long long>(vocab), static_cast<long long>(max_len),
        param_bytes / 1e6, table_bytes / 1e6, sparse.c_str(),
        options.overlap ? "on" : "off");
    for (size_t e = 0; e < results->size(); ++e) {
      const auto& r = (*results)[e];
      std::printf(
          "epoch %zu: %.3f s, %lld steps, %.2f ms/step, allreduce %.3f s "
          "(%.2f ms/step), %.3f MB/step sent by each rank, loss %.5f\n",
          e + 1, r.seconds, static_cast<long long>(r.steps),
          1e3 * r.seconds / r.steps, r.allreduce_seconds,
          1e3 * r.allreduce_seconds / r.steps,
          r.allreduce_bytes / 1e6 / r.steps, r.loss);
      std::printf(
          "  after backward per step: dense buckets %.3f ms, embedding rows "
          "%.3f ms; in the backward hook %.3f ms; %lld of %lld buckets "
          "started during backward\n",
          1e3 * r.dense_after_backward_seconds / r.steps,
          1e3 * r.rows_seconds / r.steps, 1e3 * r.hook_seconds / r.steps,
          static_cast<long long>(r.buckets_started_in_backward),
          static_cast<long long>(r.buckets));
    }
  }
  return 0;
}
