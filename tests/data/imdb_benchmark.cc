// Times reading the IMDb data (archive or folder) and building the padded
// dataset as pipeline 1 does (num_words 10000, max_len 200, all reviews).
//
//   LOOM_IMDB=/path/to/aclImdb_v1_labeled.tar.gz bazel run -c opt
//   //tests/data:imdb_benchmark
//
// Without $LOOM_IMDB the data is looked up with DefaultDataPath(); the
// binary prints a message and exits 0 if there is none. Before timing, it
// prints corpus statistics for both punctuation settings: median review
// length in tokens, reviews longer than max_len and the fraction of test
// tokens out of the num_words vocabulary.
#include <algorithm>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "benchmark/benchmark.h"
#include "framework/data/dataset.h"
#include "framework/data/imdb.h"
#include "framework/data/text.h"
#include "framework/proto/model.pb.h"

namespace loom::data {
namespace {

std::string DataPath() {
  const char* env = std::getenv("LOOM_IMDB");
  if (env != nullptr && *env != '\0') return env;
  return DefaultDataPath();
}

loom::TextDatasetDef PipelineDef(bool keep_punctuation = false) {
  loom::TextDatasetDef def;
  def.set_name("imdb");
  def.set_num_words(10000);
  def.set_max_len(200);
  def.set_shuffle_seed(1);
  def.set_keep_punctuation(keep_punctuation);
  return def;
}

double Median(std::vector<size_t> values) {
  if (values.empty()) return 0;
  const size_t mid = values.size() / 2;
  std::nth_element(values.begin(), values.begin() + mid, values.end());
  const double upper = static_cast<double>(values[mid]);
  if (values.size() % 2 == 1) return upper;
  const double lower = static_cast<double>(
      *std::max_element(values.begin(), values.begin() + mid));
  return (lower + upper) / 2;
}

// Prints, for both punctuation settings: the median number of tokens per
// review (train, test, all), how many reviews exceed max_len ids (with the
// start id) and the fraction of test tokens the vocabulary built from train
// maps to the out-of-vocabulary id.
void PrintCorpusStatistics(const ImdbCorpus& corpus) {
  std::string buffer;
  std::vector<std::string_view> tokens;
  for (bool keep : {false, true}) {
    const loom::TextDatasetDef def = PipelineDef(keep);
    std::vector<std::string_view> train_texts;
    for (const Review& review : corpus.train) {
      train_texts.push_back(review.text);
    }
    absl::StatusOr<Vocabulary> vocabulary =
        Vocabulary::Build(train_texts, def.num_words(), keep);
    if (!vocabulary.ok()) {
      std::cerr << "imdb_benchmark: " << vocabulary.status() << "\n";
      return;
    }
    std::vector<size_t> train_lengths;
    std::vector<size_t> test_lengths;
    int64_t over_max_len = 0;
    int64_t test_tokens = 0;
    int64_t test_oov = 0;
    for (int split = 0; split < 2; ++split) {
      const std::vector<Review>& reviews =
          split == 0 ? corpus.train : corpus.test;
      for (const Review& review : reviews) {
        Tokenize(review.text, &buffer, &tokens, keep);
        (split == 0 ? train_lengths : test_lengths).push_back(tokens.size());
        if (static_cast<int64_t>(tokens.size()) + 1 > def.max_len()) {
          ++over_max_len;
        }
        if (split == 1) {
          test_tokens += static_cast<int64_t>(tokens.size());
          for (std::string_view token : tokens) {
            if (vocabulary->Id(token) == Vocabulary::kOovId) ++test_oov;
          }
        }
      }
    }
    std::vector<size_t> all_lengths = train_lengths;
    all_lengths.insert(all_lengths.end(), test_lengths.begin(),
                       test_lengths.end());
    const int64_t reviews = static_cast<int64_t>(all_lengths.size());
    if (reviews == 0 || test_tokens == 0) return;
    std::cerr << std::fixed << std::setprecision(1)
              << "imdb_benchmark: keep_punctuation=" << (keep ? 1 : 0)
              << ": median tokens per review " << Median(all_lengths)
              << " (train " << Median(train_lengths) << ", test "
              << Median(test_lengths) << "); " << over_max_len << "/" << reviews
              << " reviews (" << 100.0 * over_max_len / reviews
              << "%) exceed max_len " << def.max_len()
              << "; test tokens out of vocabulary (num_words "
              << def.num_words() << "): " << test_oov << "/" << test_tokens
              << " = " << std::setprecision(2) << 100.0 * test_oov / test_tokens
              << "%\n";
  }
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
  const bool keep_punctuation = state.range(0) != 0;
  for (auto _ : state) {
    absl::StatusOr<TextDataset> data =
        BuildTextDataset(*corpus, PipelineDef(keep_punctuation));
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
// Argument: keep_punctuation (0, the pipelines' default, or 1).
BENCHMARK(BM_BuildTextDataset)
    ->ArgName("keep_punctuation")
    ->Arg(0)
    ->Arg(1)
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
  {  // The corpus is freed before the timings.
    absl::StatusOr<loom::data::ImdbCorpus> corpus = loom::data::ReadImdb(path);
    if (!corpus.ok()) {
      std::cerr << "imdb_benchmark: " << corpus.status() << "\n";
      return 1;
    }
    loom::data::PrintCorpusStatistics(*corpus);
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
