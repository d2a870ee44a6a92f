// Times reading a CSV of reviews and building the padded dataset from it
// (LoadTextDataset: read, check UTF-8, tokenize, count, encode), as
// training on a company's own file does. The CSV is IMDb's 50,000 labeled
// reviews (columns review, sentiment), written once to a temporary file
// from the IMDb data ($LOOM_IMDB, else DefaultDataPath()); the benchmark
// prints a message and exits 0 if there is none.
//
//   bazel run -c opt //tests/data:csv_benchmark
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "framework/data/dataset.h"
#include "framework/data/imdb.h"
#include "framework/data/readers/reader.h"
#include "framework/file_util.h"

namespace loom::data {
namespace {

std::string CsvField(const std::string& s) {
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

// The path of the 50,000-review CSV, made on first use; "" without data.
const std::string& ReviewsCsv() {
  static const std::string* path = [] {
    const char* env = std::getenv("LOOM_IMDB");
    const std::string imdb = env != nullptr && *env ? env : DefaultDataPath();
    auto* p = new std::string();
    if (imdb.empty()) return p;
    auto corpus = ReadImdb(imdb);
    if (!corpus.ok()) {
      std::cerr << corpus.status() << "\n";
      return p;
    }
    std::string csv = "review,sentiment\n";
    for (const auto* split : {&corpus->train, &corpus->test}) {
      for (const Review& r : *split) {
        absl::StrAppend(&csv, CsvField(r.text), ",",
                        r.label == 1 ? "positive" : "negative", "\n");
      }
    }
    const char* tmp = std::getenv("TMPDIR");
    *p = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/loom_csv_benchmark_",
                      ::getpid(), ".csv");
    if (!WriteFileAtomically(*p, csv).ok()) p->clear();
    return p;
  }();
  return *path;
}

void BM_ReadCsv(benchmark::State& state) {
  if (ReviewsCsv().empty()) {
    state.SkipWithError("no IMDb data to make the CSV from");
    return;
  }
  ReadOptions options;
  options.text_column = "review";
  options.label_column = "sentiment";
  int64_t records = 0;
  for (auto _ : state) {
    ReadStats stats;
    absl::Status s = ReadRecords(
        ReviewsCsv(), "", options, [](Record&) { return absl::OkStatus(); },
        &stats);
    if (!s.ok()) state.SkipWithError(std::string(s.message()).c_str());
    records = stats.records;
  }
  state.counters["reviews"] = static_cast<double>(records);
}
BENCHMARK(BM_ReadCsv)->Unit(benchmark::kMillisecond)->MinTime(2);

void BM_LoadTextDatasetFromCsv(benchmark::State& state) {
  if (ReviewsCsv().empty()) {
    state.SkipWithError("no IMDb data to make the CSV from");
    return;
  }
  loom::TextDatasetDef def;
  def.set_num_words(20000);
  def.set_max_len(200);
  def.set_text_column("review");
  def.set_label_column("sentiment");
  for (auto _ : state) {
    auto dataset = LoadTextDataset(ReviewsCsv(), def);
    if (!dataset.ok()) {
      state.SkipWithError(std::string(dataset.status().message()).c_str());
    }
    benchmark::DoNotOptimize(dataset);
  }
}
BENCHMARK(BM_LoadTextDatasetFromCsv)->Unit(benchmark::kMillisecond)->MinTime(2);

}  // namespace
}  // namespace loom::data

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  if (!loom::data::ReviewsCsv().empty()) {
    std::remove(loom::data::ReviewsCsv().c_str());
  }
  return 0;
}
