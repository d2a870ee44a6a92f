// Times reading the IMDb data (archive or folder) and building the padded
// dataset as pipeline 1 does (num_words 10000, max_len 200, all reviews).
//
//   LOOM_IMDB=/path/to/aclImdb_v1_labeled.tar.gz bazel run -c opt
//   //tests/data:imdb_benchmark
//
// Without $LOOM_IMDB the data is looked up with DefaultDataPath(); the
// binary prints a message and exits 0 if there is none.
#include <cstdlib>
#include <iostream>
#include <string>

#include "benchmark/benchmark.h"
#include "framework/data/dataset.h"
#include "framework/data/imdb.h"
#include "framework/proto/model.pb.h"

namespace loom::data {
namespace {

std::string DataPath() {
  const char* env = std::getenv("LOOM_IMDB");
  if (env != nullptr && *env != '\0') return env;
  return DefaultDataPath();
}

loom::TextDatasetDef PipelineDef() {
  loom::TextDatasetDef def;
  def.set_name("imdb");
  def.set_num_words(10000);
  def.set_max_len(200);
  def.set_shuffle_seed(1);
  return def;
}

void BM_ReadImdb(benchmark::State& state) {
  const std::string path = DataPath();
  if (path.empty()) {
    state.SkipWithError("no IMDb data: set LOOM_IMDB or LOOM_DATA_DIR");
    return;
  }
  int64_t reviews = 0;
  for (auto _ : state) {
    absl::StatusOr<ImdbCorpus> corpus = ReadImdb(path);
    if (!corpus.ok()) {
      state.SkipWithError(std::string(corpus.status().message()).c_str());
      return;
    }
    reviews = static_cast<int64_t>(corpus->train.size() + corpus->test.size());
    benchmark::DoNotOptimize(corpus->train.data());
  }
  state.counters["reviews"] = static_cast<double>(reviews);
}

void BM_BuildTextDataset(benchmark::State& state) {
  const std::string path = DataPath();
  if (path.empty()) {
    state.SkipWithError("no IMDb data: set LOOM_IMDB or LOOM_DATA_DIR");
    return;
  }
  absl::StatusOr<ImdbCorpus> corpus = ReadImdb(path);
  if (!corpus.ok()) {
    state.SkipWithError(std::string(corpus.status().message()).c_str());
    return;
  }
  for (auto _ : state) {
    absl::StatusOr<TextDataset> data = BuildTextDataset(*corpus, PipelineDef());
    if (!data.ok()) {
      state.SkipWithError(std::string(data.status().message()).c_str());
      return;
    }
    benchmark::DoNotOptimize(data->train.ids.data());
  }
}

// What a training run pays: ReadImdb + BuildTextDataset.
void BM_LoadTextDataset(benchmark::State& state) {
  const std::string path = DataPath();
  if (path.empty()) {
    state.SkipWithError("no IMDb data: set LOOM_IMDB or LOOM_DATA_DIR");
    return;
  }
  for (auto _ : state) {
    absl::StatusOr<TextDataset> data = LoadTextDataset(path, PipelineDef());
    if (!data.ok()) {
      state.SkipWithError(std::string(data.status().message()).c_str());
      return;
    }
    benchmark::DoNotOptimize(data->train.ids.data());
  }
}

// Each repetition is one full pass; report mean/median/stddev over 5.
BENCHMARK(BM_ReadImdb)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1)
    ->Repetitions(5)
    ->UseRealTime();
BENCHMARK(BM_BuildTextDataset)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1)
    ->Repetitions(5)
    ->UseRealTime();
BENCHMARK(BM_LoadTextDataset)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1)
    ->Repetitions(5)
    ->UseRealTime();

}  // namespace
}  // namespace loom::data

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  const std::string path = loom::data::DataPath();
  if (path.empty()) {
    std::cerr << "imdb_benchmark: skipped, no IMDb data found (set LOOM_IMDB "
                 "or LOOM_DATA_DIR, or put aclImdb/ or aclImdb_v1.tar.gz in "
                 "~/.cache/loom).\n";
    return 0;
  }
  std::cerr << "imdb_benchmark: data " << path << "\n";
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
