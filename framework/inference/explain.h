// Explanations of a text classifier's prediction, from the graph alone:
//
// - Integrated gradients (Sundararajan et al. 2017) through the embedding.
//   Token ids are not differentiable, so the path runs in embedding space:
//   the Embedding node's output (the looked-up rows, [N, T, D]) is replaced
//   by alpha * x_emb + (1 - alpha) * baseline_emb for `steps` values of
//   alpha in one batched run, and the gradient of the target class's
//   probability is taken with respect to it (Executor::RunWithOverrides and
//   Executor::ValueGradient). The integral is the trapezoid rule on
//   alpha_k = k / (steps - 1), k = 0..steps-1 (steps - 1 intervals; error
//   O(1 / steps^2) for a smooth path, but ReLU and max pooling make the
//   gradient jump along it, and on pipeline 2 the completeness error falls
//   about as 1 / steps: models/RESULTS.md). A token's score is
//   sum_d (x_emb - base_emb)[t, d] *
//   average gradient[t, d]. The baseline replaces every non-padding position
//   by `baseline_id` (default 0: an all-padding sequence); the mask the
//   Embedding derives from the ids (mask_zero) stays the input's on the
//   whole path, so completeness reads sum(attributions) = f(x) - f(baseline)
//   with f(baseline) evaluated under that mask (baseline_probability).
// - Occlusion: each word's id replaced by padding (0), re-scored in one
//   batched run; a word's score is f(x) - f(x without it).
// - The prefix curve: the target probability after each prefix of the
//   review (the start token and the first 1, 2, ... words, padded as the
//   model's dataset says), in one batched run. It shows how a model whose
//   recurrent layer runs forward in time reads the review.
//
// Works for any graph whose features go through Embedding nodes (found by
// op name), whatever ops follow them, built-in or from plugins. With several
// (an ensemble, tools/ensemble), every embedding follows the path with the
// same alpha, and a token's score sums its terms over them: the path is one
// straight line in the space of all the embeddings, so completeness holds
// as for one.
// The Model must be used from one thread (see predictor.h).
#ifndef LOOM_FRAMEWORK_INFERENCE_EXPLAIN_H_
#define LOOM_FRAMEWORK_INFERENCE_EXPLAIN_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "framework/data/readers/reader.h"
#include "framework/data/text.h"
#include "framework/registry.h"
#include "framework/tensor.h"
#include "framework/training/model.h"

namespace loom {

struct ExplainOptions {
  int steps = 50;            // Integration points, >= 2.
  int target_class = -1;     // -1: the predicted class.
  int32_t baseline_id = 0;   // Token id of the baseline (0: padding).
  bool occlusion = true;     // Also compute occlusion scores.
  bool prefix_curve = true;  // Also compute the prefix curve.
};

struct ExplainedToken {
  std::string word;        // As tokenized; "<start>" for the start id.
  int32_t id = 0;          // Its id (2 = out of vocabulary).
  int position = 0;        // Its position in the padded row.
  bool is_word = true;     // False for the start token.
  double attribution = 0;  // Integrated gradients.
  double occlusion = 0;    // f(x) - f(x with this id set to padding).
};

struct Explanation {
  std::vector<std::string> class_names;
  std::vector<float> probabilities;  // Of the text, per class.
  int predicted_class = 0;
  int target_class = 0;             // The class explained.
  double target_probability = 0;    // f(x).
  double baseline_probability = 0;  // f(baseline), as completeness uses it.
  int steps = 0;
  std::vector<ExplainedToken> tokens;  // The row's non-padding positions.
  double attribution_sum = 0;
  // |attribution_sum - (f(x) - f(baseline))|.
  double completeness_error = 0;
  bool has_occlusion = false;
  // prefix_probabilities[i]: the target probability of the row holding
  // tokens[0..i] only (empty without the prefix curve).
  std::vector<double> prefix_probabilities;
  // Whether every recurrent layer (LSTM, GRU) of the graph runs forward in
  // time only, so the prefix curve is the model's reading word by word.
  bool reads_forward = false;
  bool has_recurrence = false;
};

class Explainer {
 public:
  // `model` and `vocabulary` must outlive the Explainer. Fails, saying why,
  // when the model cannot be explained (no Embedding op fed by its
  // features, or a prediction that is not per-class probabilities).
  static absl::StatusOr<Explainer> Create(Model* model,
                                          const data::Vocabulary* vocabulary);

  // Tokenizes and pads `text` as the model's dataset says, then explains
  // it. Errors: empty text, no word in the vocabulary, bad options.
  absl::StatusOr<Explanation> Explain(const std::string& text,
                                      const ExplainOptions& options = {});

  // Integrated-gradient attributions of one padded row ([T] ids) for
  // `target_class`, one per position (0 where the row holds padding and
  // the baseline too). `*fx`, `*fb` receive f(x) and f(baseline).
  absl::StatusOr<std::vector<double>> IntegratedGradients(
      const std::vector<int32_t>& row, int target_class, int steps,
      int32_t baseline_id, double* fx, double* fb);

  // The target class probability of each row of `ids` ([n, T]), one run.
  absl::StatusOr<std::vector<double>> Score(const Tensor& ids,
                                            int target_class);

  // The row as the model sees `ids` (unpadded, start id first): padded and
  // truncated as the dataset says; `*positions` (if not null) receives the
  // position in the row of each id kept, -1 for one truncated away.
  std::vector<int32_t> PadRow(const std::vector<int32_t>& ids,
                              std::vector<int>* positions = nullptr) const;

  int num_classes() const { return static_cast<int>(class_names_.size()); }
  int max_len() const { return max_len_; }
  // The Embedding nodes' outputs the path runs through.
  const std::vector<std::string>& embedding_values() const {
    return embedding_values_;
  }

 private:
  Explainer() = default;
  // Row `row` of a prediction tensor as class probabilities.
  double ClassProbability(const Tensor& prediction, int64_t row,
                          int target_class) const;

  Model* model_ = nullptr;
  const data::Vocabulary* vocabulary_ = nullptr;
  std::vector<std::string> class_names_;
  std::vector<std::string> embedding_values_;  // Embedding nodes' output 0.
  int64_t prediction_width_ = 1;
  int max_len_ = 0;
  bool pad_pre_ = true;
  bool truncate_pre_ = true;
  bool reads_forward_ = false;
  bool has_recurrence_ = false;
};

// Plain text: each word colored by its attribution on a terminal (`color`:
// ANSI 24-bit background, green for the class, red against, stronger for
// larger magnitude), or "word(+0.123)" without; the probability, the
// completeness check and the top words for and against.
std::string FormatExplanationText(const Explanation& e, bool color);

// JSON: classes, probabilities, tokens with attributions and occlusion
// scores, completeness and the prefix curve.
std::string ExplanationToJson(const Explanation& e, const std::string& text);

// A self-contained HTML page: the words highlighted as Captum's text
// visualizer does, the top words, and the prefix curve as an inline SVG.
std::string ExplanationToHtml(const Explanation& e, const std::string& text,
                              const std::string& model_name);

// One row of a report of many texts (ExplanationReportToHtml): the text,
// where it came from ("reviews.csv:14"), and its explanation or why it has
// none (an empty text, only unknown words).
struct ReportRow {
  std::string where;
  std::string text;
  absl::StatusOr<Explanation> explanation = absl::UnknownError("not run");
};

// Explains the first `max_rows` records of `path` (read by the data readers
// as `format` says, "" = detected; `read` gives the text column and the
// bad-row settings). A record that cannot be explained (empty text, no word
// in the vocabulary) is a row with its error; a file that cannot be read,
// bad options or a failed model run are errors.
absl::StatusOr<std::vector<ReportRow>> ExplainRecords(
    Explainer& explainer, const std::string& path, const std::string& format,
    const data::ReadOptions& read, int max_rows, const ExplainOptions& options);

// One self-contained HTML page for many texts: per row its words
// highlighted, the probability, and the prefix curve as an inline SVG when
// the model reads forward in time (reads_forward); `source` names the file.
std::string ExplanationReportToHtml(const std::vector<ReportRow>& rows,
                                    const std::string& model_name,
                                    const std::string& source);

// An Explainer over its own copy of a model folder, on its own thread, for
// services: oneDNN primitives must run on the thread that created them
// (predictor.h), so the copy is loaded on that thread and every
// explanation runs there, one request after another. Explain() may be
// called from many threads at once.
class ThreadedExplainer {
 public:
  // Loads `model_dir` with ops from `registry` (which must outlive the
  // ThreadedExplainer). Errors: the folder cannot be loaded, or its model
  // cannot be explained (Explainer::Create).
  static absl::StatusOr<std::unique_ptr<ThreadedExplainer>> Load(
      const std::string& model_dir, const OpRegistry& registry);

  // Explains each text on the model thread; one result per text (an error
  // for a text that cannot be explained). Fails only when `texts` is empty.
  absl::StatusOr<std::vector<absl::StatusOr<Explanation>>> Explain(
      const std::vector<std::string>& texts,
      const ExplainOptions& options) const;

  const std::vector<std::string>& class_names() const { return class_names_; }
  const std::string& name() const { return name_; }
  int max_len() const { return max_len_; }

  ~ThreadedExplainer();

 private:
  ThreadedExplainer() = default;
  struct Job;
  void Serve(const std::string& model_dir, const OpRegistry& registry);

  std::thread thread_;
  mutable absl::Mutex mu_;
  mutable std::deque<Job*> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool loaded_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status load_status_ ABSL_GUARDED_BY(mu_);
  // Set by the model thread before loaded_, read-only afterwards.
  std::vector<std::string> class_names_;
  std::string name_;
  int max_len_ = 0;
};

}  // namespace loom

#endif  // LOOM_FRAMEWORK_INFERENCE_EXPLAIN_H_
