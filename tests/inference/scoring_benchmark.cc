// Whole-process scoring against the bare oneDNN primitive, in one run:
//   1. the bare BiLSTM inference primitive at pipeline 2's shape (T 100,
//      C 64, H 32, bidirectional_concat, f32) for each batch size: reviews
//      per second of the primitive alone (weights reordered once);
//   2. tools/predict's scoring (ScoreFile: read the CSV, tokenize, encode,
//      run the whole model, write the scored CSV) of IMDb's 25,000 test
//      reviews with a trained pipeline 2 model folder, for each batch size.
// Prints both and their ratio, and, to show where the rest goes, the rate
// of each stage alone: reading and encoding the CSV on one thread, and the
// whole model (Model::Predict) on the encoded reviews, chunked as
// ScoreFile chunks them. Seconds per review add up: scoring can be no
// faster than 1 / (1/model + 1/read + 1/encode) unless reading and encoding
// run beside the model on cores it leaves idle. The model folder is --model
// (train one with
//   bazel run //tools:train -- --graph=models/bilstm.pbtxt --output_dir=D);
// the reviews come from the IMDb data (DefaultDataPath or $LOOM_IMDB).
//
//   bazel run -c opt //tests/inference:scoring_benchmark -- --model=D/model
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "framework/data/dataset.h"
#include "framework/data/imdb.h"
#include "framework/data/readers/reader.h"
#include "framework/file_util.h"
#include "framework/training/saved_model.h"
#include "framework/training/score_file.h"
#include "framework/training/train_job.h"
#include "oneapi/dnnl/dnnl.hpp"

ABSL_FLAG(std::string, model, "", "A pipeline 2 model folder.");
ABSL_FLAG(std::vector<std::string>, batch_sizes,
          std::vector<std::string>({"64", "128", "256", "512"}),
          "Batch sizes to measure.");
ABSL_FLAG(int, repeats, 3, "Runs per measurement (the median is printed).");
ABSL_FLAG(bool, profile, false,
          "Also print the time spent in each node of the model stage.");

namespace loom {
namespace {

using Clock = std::chrono::steady_clock;

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Reviews per second of the bare inference primitive at batch `n`.
double BarePrimitiveRate(int64_t n, int repeats) {
  using dnnl::memory;
  using Tag = memory::format_tag;
  const auto f32 = memory::data_type::f32;
  const int64_t t = 100, c = 64, h = 32;
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  const memory::desc src({t, n, c}, f32, Tag::tnc);
  const memory::desc dst({t, n, 2 * h}, f32, Tag::tnc);
  const memory::desc any_layer({1, 2, c, 4, h}, f32, Tag::any);
  const memory::desc any_iter({1, 2, h, 4, h}, f32, Tag::any);
  const memory::desc user_layer({1, 2, c, 4, h}, f32, Tag::ldigo);
  const memory::desc user_iter({1, 2, h, 4, h}, f32, Tag::ldigo);
  const memory::desc bias({1, 2, 4, h}, f32, Tag::ldgo);
  const memory::desc none;
  dnnl::lstm_forward::primitive_desc pd(
      dnnl::lstm_forward::desc(dnnl::prop_kind::forward_inference,
                               dnnl::rnn_direction::bidirectional_concat, src,
                               none, none, any_layer, any_iter, bias, dst, none,
                               none),
      engine);
  dnnl::lstm_forward forward(pd);
  auto fill = [](memory& m, float bound) {
    std::mt19937_64 rng(7);
    std::uniform_real_distribution<float> dist(-bound, bound);
    float* p = static_cast<float*>(m.get_data_handle());
    for (size_t i = 0; i < m.get_desc().get_size() / sizeof(float); ++i) {
      p[i] = dist(rng);
    }
  };
  memory x(src, engine), y(dst, engine), b(bias, engine);
  memory w(user_layer, engine), u(user_iter, engine);
  memory fw(pd.weights_layer_desc(), engine),
      fu(pd.weights_iter_desc(), engine);
  fill(x, 1), fill(w, 0.2f), fill(u, 0.2f), fill(b, 0.2f);
  dnnl::reorder(w, fw).execute(stream, w, fw);
  dnnl::reorder(u, fu).execute(stream, u, fu);
  auto run = [&] {
    forward.execute(stream, {{DNNL_ARG_SRC_LAYER, x},
                             {DNNL_ARG_WEIGHTS_LAYER, fw},
                             {DNNL_ARG_WEIGHTS_ITER, fu},
                             {DNNL_ARG_BIAS, b},
                             {DNNL_ARG_DST_LAYER, y}});
    stream.wait();
  };
  for (int i = 0; i < 3; ++i) run();  // Warm up.
  std::vector<double> rates;
  for (int r = 0; r < repeats; ++r) {
    const int iterations = std::max<int64_t>(10, 25000 / n);
    const auto start = Clock::now();
    for (int i = 0; i < iterations; ++i) run();
    const double s =
        std::chrono::duration<double>(Clock::now() - start).count();
    rates.push_back(iterations * n / s);
  }
  return Median(rates);
}

struct ReaderRates {
  double read = 0;    // Reviews per second of reading the CSV alone.
  double encode = 0;  // Of tokenizing and encoding them alone.
};

// Reads `path` and encodes its texts on this thread (ScoreFile's reader
// stage), with the encoded chunks in `*chunks`.
ReaderRates ReadAndEncodeRates(const std::string& path,
                               const LoadedModel& loaded, int64_t chunk_rows,
                               std::vector<Tensor>* chunks) {
  chunks->clear();
  const auto start = Clock::now();
  std::vector<std::string> texts;
  int64_t rows = 0;
  double encode_s = 0;
  const auto flush = [&] {
    if (texts.empty()) return;
    const auto t0 = Clock::now();
    chunks->push_back(
        EncodeTexts(texts, loaded.vocabulary, loaded.model->def().dataset()));
    encode_s += std::chrono::duration<double>(Clock::now() - t0).count();
    rows += static_cast<int64_t>(texts.size());
    texts.clear();
  };
  data::ReadOptions read;
  read.require_label = false;
  data::ReadStats stats;
  const absl::Status s = data::ReadRecords(
      path, "", read,
      [&](data::Record& record) -> absl::Status {
        texts.push_back(std::move(record.text));
        if (static_cast<int64_t>(texts.size()) >= chunk_rows) flush();
        return absl::OkStatus();
      },
      &stats);
  flush();
  if (!s.ok()) {
    std::cerr << "scoring_benchmark: " << s << "\n";
    return {};
  }
  const double total =
      std::chrono::duration<double>(Clock::now() - start).count();
  return {rows / std::max(total - encode_s, 1e-9),
          rows / std::max(encode_s, 1e-9)};
}

// Reviews per second of Model::Predict alone over the encoded `chunks`.
double ModelRate(Model& model, const std::vector<Tensor>& chunks, int batch) {
  const auto start = Clock::now();
  int64_t rows = 0;
  for (const Tensor& ids : chunks) {
    absl::StatusOr<Tensor> prediction = model.Predict(ids, batch);
    if (!prediction.ok()) {
      std::cerr << "scoring_benchmark: " << prediction.status() << "\n";
      return 0;
    }
    rows += ids.shape()[0];
  }
  return rows / std::chrono::duration<double>(Clock::now() - start).count();
}

int Main() {
  const std::string model_dir = absl::GetFlag(FLAGS_model);
  if (model_dir.empty()) {
    std::cerr << "scoring_benchmark: --model=DIR (a pipeline 2 model folder) "
                 "is required\n";
    return 2;
  }
  const char* env = std::getenv("LOOM_IMDB");
  const std::string imdb =
      env != nullptr && *env ? env : data::DefaultDataPath();
  auto corpus = data::ReadImdb(imdb);
  if (!corpus.ok()) {
    std::cerr << "scoring_benchmark: " << corpus.status() << "\n";
    return 1;
  }
  std::string csv = "text\n";
  for (const data::Review& r : corpus->test) {
    std::string quoted = "\"";
    for (char ch : r.text)
      quoted += ch == '"' ? std::string("\"\"") : std::string(1, ch);
    absl::StrAppend(&csv, quoted, "\"\n");
  }
  const std::string dir = absl::StrCat("/tmp/loom_scoring_", ::getpid());
  if (!MakeDirectories(dir).ok() ||
      !WriteFileAtomically(dir + "/test.csv", csv).ok()) {
    std::cerr << "scoring_benchmark: cannot write " << dir << "\n";
    return 1;
  }
  OpRegistry registry;
  if (!PrepareRegistry({}, &registry).ok()) return 1;
  auto loaded = LoadModel(UserPath(model_dir), registry);
  if (!loaded.ok()) {
    std::cerr << "scoring_benchmark: " << loaded.status() << "\n";
    return 1;
  }
  const int repeats = std::max(1, absl::GetFlag(FLAGS_repeats));
  std::printf("%-6s %12s %10s %10s %10s %10s %7s %7s\n", "batch", "primitive/s",
              "read/s", "encode/s", "model/s", "scoring/s", "model", "ratio");
  for (const std::string& b : absl::GetFlag(FLAGS_batch_sizes)) {
    const int batch = std::atoi(b.c_str());
    if (batch <= 0) continue;
    const double bare = BarePrimitiveRate(batch, repeats);
    const int64_t chunk_rows = std::max(8192, batch);
    std::vector<double> read_rates, encode_rates, model_rates, rates;
    std::vector<Tensor> chunks;
    for (int r = 0; r < repeats; ++r) {
      const ReaderRates reader =
          ReadAndEncodeRates(dir + "/test.csv", *loaded, chunk_rows, &chunks);
      read_rates.push_back(reader.read);
      encode_rates.push_back(reader.encode);
      model_rates.push_back(ModelRate(*loaded->model, chunks, batch));
    }
    if (absl::GetFlag(FLAGS_profile)) {
      loaded->model->executor().set_profiling(true);
      ModelRate(*loaded->model, chunks, batch);
      std::cout << "model stage, batch " << batch << ":\n"
                << loaded->model->executor().ProfileReport();
      loaded->model->executor().set_profiling(false);
    }
    for (int r = 0; r < repeats; ++r) {
      ScoreFileOptions options;
      options.input = dir + "/test.csv";
      options.output = dir + "/scored.csv";
      options.batch_size = batch;
      options.chunk_rows = chunk_rows;
      std::ostringstream out;
      auto summary =
          ScoreFile(*loaded->model, loaded->vocabulary, options, out);
      if (!summary.ok()) {
        std::cerr << "scoring_benchmark: " << summary.status() << "\n";
        return 1;
      }
      rates.push_back(summary->rows / summary->seconds);
    }
    const double scoring = Median(rates);
    const double model_rate = Median(model_rates);
    std::printf("%-6d %12.0f %10.0f %10.0f %10.0f %10.0f %7.3f %7.3f\n", batch,
                bare, Median(read_rates), Median(encode_rates), model_rate,
                scoring, model_rate / bare, scoring / bare);
  }
  std::remove((dir + "/test.csv").c_str());
  std::remove((dir + "/scored.csv").c_str());
  ::rmdir(dir.c_str());
  return 0;
}

}  // namespace
}  // namespace loom

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return loom::Main();
}
