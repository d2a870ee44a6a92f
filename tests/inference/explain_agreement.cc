// How far the explanations of framework/inference/explain.h can be trusted,
// measured on a trained model's test examples (issue 12):
//   1. sign agreement: for each review, the top-k words by |integrated
//      gradients| (k = 3), and whether occlusion (f(x) - f(x without the
//      word)) has the same sign for each; the fraction of those words that
//      agree, of reviews whose top-k all agree, and the same for the top 1.
//   2. completeness: |sum of attributions - (f(x) - f(baseline))| over the
//      first --reviews test reviews for each of --sweep_steps, mean, median,
//      95th percentile and max, and relative to |f(x) - f(baseline)|.
// Attributions are for the predicted class, the baseline all padding, as
// tools/predict --explain does. The test examples are the model's own
// split of its data (as tools/evaluate reads them).
//
//   bazel run -c opt //tests/inference:explain_agreement -- --model=DIR
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <numeric>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "framework/data/corpus.h"
#include "framework/data/dataset.h"
#include "framework/inference/explain.h"
#include "framework/status_macros.h"
#include "framework/training/saved_model.h"
#include "framework/training/train_job.h"

ABSL_FLAG(std::string, model, "", "A trained model folder.");
ABSL_FLAG(int, agreement_reviews, 0,
          "Test reviews for the sign agreement (0: all).");
ABSL_FLAG(int, top_k, 3, "Words per review compared (by |IG|).");
ABSL_FLAG(int, steps, 50, "Integration steps for the sign agreement.");
ABSL_FLAG(int, reviews, 200, "Test reviews for the completeness sweep.");
ABSL_FLAG(std::vector<std::string>, sweep_steps,
          std::vector<std::string>({"10", "25", "50", "100", "200"}),
          "Integration steps of the completeness sweep.");
ABSL_FLAG(int, threads, 0, "oneDNN threads (0: all cores).");

namespace loom {
namespace {

using Clock = std::chrono::steady_clock;

double Quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(q * v.size()));
  return v[i];
}

double Mean(const std::vector<double>& v) {
  return v.empty() ? 0 : std::accumulate(v.begin(), v.end(), 0.0) / v.size();
}

// The predicted class of one padded row.
absl::StatusOr<int> Predicted(Explainer& explainer,
                              const std::vector<int32_t>& row) {
  const Tensor ids =
      Tensor::FromVector({1, static_cast<int64_t>(row.size())}, row);
  int best = 0;
  double best_p = -1;
  for (int c = 0; c < explainer.num_classes(); ++c) {
    LOOM_ASSIGN_OR_RETURN(auto p, explainer.Score(ids, c));
    if (p[0] > best_p) {
      best_p = p[0];
      best = c;
    }
  }
  return best;
}

bool IsWord(int32_t id) { return id > data::Vocabulary::kStartId; }

absl::Status Run() {
  const std::string dir = UserPath(absl::GetFlag(FLAGS_model));
  if (dir.empty()) {
    return absl::InvalidArgumentError("--model=DIR (a trained model folder)");
  }
  LOOM_RETURN_IF_ERROR(CheckThreads(absl::GetFlag(FLAGS_threads)));
  SetThreads(absl::GetFlag(FLAGS_threads));
  const int top_k = absl::GetFlag(FLAGS_top_k);
  const int steps = absl::GetFlag(FLAGS_steps);
  if (top_k < 1) return absl::InvalidArgumentError("--top_k must be >= 1");
  std::vector<int> sweep;
  for (const std::string& s : absl::GetFlag(FLAGS_sweep_steps)) {
    int v = 0;
    if (!absl::SimpleAtoi(s, &v) || v < 2) {
      return absl::InvalidArgumentError(
          absl::StrCat("--sweep_steps: \"", s, "\" is not a count >= 2"));
    }
    sweep.push_back(v);
  }
  OpRegistry registry;
  LOOM_ASSIGN_OR_RETURN(auto file, ReadSavedModelFile(dir));
  LOOM_RETURN_IF_ERROR(
      PrepareRegistryForModelDir(dir, file, {}, PluginSearch{}, &registry));
  LOOM_ASSIGN_OR_RETURN(auto loaded, LoadModel(dir, file, registry));
  TextDatasetDef def = loaded.model->def().dataset();
  LOOM_RETURN_IF_ERROR(ResolveDataSource(DataFlags{}, &def));
  LOOM_ASSIGN_OR_RETURN(auto corpus, data::LoadCorpus(def));
  LOOM_ASSIGN_OR_RETURN(auto test,
                        data::EncodeTestSplit(corpus, loaded.vocabulary, def));
  LOOM_ASSIGN_OR_RETURN(auto explainer, Explainer::Create(loaded.model.get(),
                                                          &loaded.vocabulary));
  const int64_t t_len = test.max_len;
  auto row_of = [&](int64_t i) {
    return std::vector<int32_t>(test.ids.begin() + i * t_len,
                                test.ids.begin() + (i + 1) * t_len);
  };
  std::printf("model %s (%s), %lld test examples, max_len %lld\n",
              loaded.model->def().name().c_str(), dir.c_str(),
              static_cast<long long>(test.n), static_cast<long long>(t_len));

  // 1. Sign agreement of IG and occlusion on the top-k words by |IG|.
  int64_t n_agree = test.n;
  if (absl::GetFlag(FLAGS_agreement_reviews) > 0) {
    n_agree =
        std::min<int64_t>(n_agree, absl::GetFlag(FLAGS_agreement_reviews));
  }
  int64_t words = 0, agree = 0, reviews = 0, all_agree = 0, top1_agree = 0;
  int64_t zero_occlusion = 0;
  std::vector<double> abs_ig, abs_occ;  // Of the words compared.
  const auto start = Clock::now();
  for (int64_t i = 0; i < n_agree; ++i) {
    const std::vector<int32_t> row = row_of(i);
    std::vector<int> positions;
    for (int64_t t = 0; t < t_len; ++t) {
      if (IsWord(row[t])) positions.push_back(static_cast<int>(t));
    }
    if (positions.empty()) continue;
    LOOM_ASSIGN_OR_RETURN(auto target, Predicted(explainer, row));
    double fx = 0, fb = 0;
    LOOM_ASSIGN_OR_RETURN(auto ig, explainer.IntegratedGradients(
                                       row, target, steps, 0, &fx, &fb));
    std::sort(positions.begin(), positions.end(), [&](int a, int b) {
      return std::fabs(ig[a]) > std::fabs(ig[b]);
    });
    const int k = std::min<int>(top_k, static_cast<int>(positions.size()));
    std::vector<int32_t> batch(static_cast<size_t>(k + 1) * t_len);
    std::copy(row.begin(), row.end(), batch.begin());
    for (int j = 0; j < k; ++j) {
      std::copy(row.begin(), row.end(), batch.begin() + (j + 1) * t_len);
      batch[(j + 1) * t_len + positions[j]] = data::Vocabulary::kPadId;
    }
    LOOM_ASSIGN_OR_RETURN(
        auto scores,
        explainer.Score(Tensor::FromVector({k + 1, t_len}, batch), target));
    bool every = true;
    for (int j = 0; j < k; ++j) {
      const double a = ig[positions[j]];
      const double o = scores[0] - scores[j + 1];
      const bool same = (a > 0 && o > 0) || (a < 0 && o < 0);
      zero_occlusion += o == 0 ? 1 : 0;
      ++words;
      agree += same ? 1 : 0;
      every = every && same;
      if (j == 0) top1_agree += same ? 1 : 0;
      abs_ig.push_back(std::fabs(a));
      abs_occ.push_back(std::fabs(o));
    }
    ++reviews;
    all_agree += every ? 1 : 0;
  }
  const double agree_seconds =
      std::chrono::duration<double>(Clock::now() - start).count();
  std::printf(
      "sign agreement, IG (%d steps) vs occlusion, top %d words by |IG| of "
      "%lld reviews (%.0f s):\n"
      "  words agreeing: %lld / %lld = %.4f\n"
      "  reviews whose top %d all agree: %lld / %lld = %.4f\n"
      "  top-1 word agreeing: %lld / %lld = %.4f\n"
      "  occlusion exactly 0: %lld; median |IG| %.4g, median |occlusion| "
      "%.4g\n",
      steps, top_k, static_cast<long long>(reviews), agree_seconds,
      static_cast<long long>(agree), static_cast<long long>(words),
      words ? static_cast<double>(agree) / words : 0.0, top_k,
      static_cast<long long>(all_agree), static_cast<long long>(reviews),
      reviews ? static_cast<double>(all_agree) / reviews : 0.0,
      static_cast<long long>(top1_agree), static_cast<long long>(reviews),
      reviews ? static_cast<double>(top1_agree) / reviews : 0.0,
      static_cast<long long>(zero_occlusion), Quantile(abs_ig, 0.5),
      Quantile(abs_occ, 0.5));

  // 2. Completeness error against steps.
  const int64_t n_sweep =
      std::min<int64_t>(test.n, std::max(1, absl::GetFlag(FLAGS_reviews)));
  std::printf(
      "completeness |sum IG - (f(x) - f(baseline))| over %lld reviews "
      "(trapezoid rule):\n"
      "  steps      mean    median       p95       max  mean relative\n",
      static_cast<long long>(n_sweep));
  for (int s : sweep) {
    std::vector<double> errors, relative;
    for (int64_t i = 0; i < n_sweep; ++i) {
      const std::vector<int32_t> row = row_of(i);
      if (std::none_of(row.begin(), row.end(), IsWord)) continue;
      LOOM_ASSIGN_OR_RETURN(auto target, Predicted(explainer, row));
      double fx = 0, fb = 0;
      LOOM_ASSIGN_OR_RETURN(
          auto ig, explainer.IntegratedGradients(row, target, s, 0, &fx, &fb));
      const double sum = std::accumulate(ig.begin(), ig.end(), 0.0);
      const double err = std::fabs(sum - (fx - fb));
      errors.push_back(err);
      if (std::fabs(fx - fb) > 1e-6)
        relative.push_back(err / std::fabs(fx - fb));
    }
    std::printf("  %5d  %8.2e  %8.2e  %8.2e  %8.2e  %8.2e\n", s, Mean(errors),
                Quantile(errors, 0.5), Quantile(errors, 0.95),
                Quantile(errors, 1.0), Mean(relative));
    std::fflush(stdout);
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace loom

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const absl::Status s = loom::Run();
  if (!s.ok()) {
    std::cerr << "explain_agreement: " << s.message() << "\n";
    return 1;
  }
  return 0;
}
