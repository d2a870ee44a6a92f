#include "framework/inference/explain.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "framework/executor.h"
#include "framework/graph.h"
#include "framework/status_macros.h"
#include "framework/training/saved_model.h"

namespace loom {
namespace {

bool IsRecurrentOp(const std::string& op) {
  const std::string upper = absl::AsciiStrToUpper(op);
  return upper.find("LSTM") != std::string::npos ||
         upper.find("GRU") != std::string::npos ||
         upper.find("RNN") != std::string::npos;
}

}  // namespace

absl::StatusOr<Explainer> Explainer::Create(
    Model* model, const data::Vocabulary* vocabulary) {
  if (model == nullptr || vocabulary == nullptr) {
    return absl::InvalidArgumentError("Explainer: no model or vocabulary");
  }
  Explainer e;
  e.model_ = model;
  e.vocabulary_ = vocabulary;
  const ModelDef& def = model->def();
  const Graph& g = model->executor().graph();
  const int features = g.FindValue(def.features_input());
  std::vector<std::string> found;
  for (const Node& node : g.nodes()) {
    if (node.op->signature.name != "Embedding") continue;
    if (!node.inputs.empty() && node.inputs[0] == features) {
      found.push_back(g.values()[node.outputs[0]].name);
    }
  }
  if (found.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "model '", def.name(),
        "' cannot be explained: integrated gradients follow the token ids "
        "through an Embedding op (the gradient is taken with respect to the "
        "looked-up rows, ids have none), and no Embedding node of its graph "
        "reads the features input '",
        def.features_input(), "'"));
  }
  e.embedding_values_ = std::move(found);
  const int pred = g.FindValue(def.prediction());
  if (pred < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("model '", def.name(), "' has no prediction value '",
                     def.prediction(), "'"));
  }
  const Shape& shape = g.values()[pred].info.shape;
  e.prediction_width_ = shape.empty() ? 1 : shape.back();
  if (shape.size() != 2 || e.prediction_width_ < 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        "model '", def.name(), "' cannot be explained: its prediction '",
        def.prediction(), "' is ", ShapeToString(shape),
        ", not class probabilities [N, K]"));
  }
  const TextDatasetDef& d = def.dataset();
  e.class_names_.assign(d.class_name().begin(), d.class_name().end());
  if (e.class_names_.empty()) e.class_names_ = {"negative", "positive"};
  const int64_t expected = e.prediction_width_ == 1 ? 2 : e.prediction_width_;
  if (static_cast<int64_t>(e.class_names_.size()) != expected) {
    return absl::FailedPreconditionError(
        absl::StrCat("model '", def.name(), "' names ", e.class_names_.size(),
                     " classes but its prediction gives ", expected));
  }
  e.max_len_ = d.max_len();
  if (e.max_len_ <= 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("model '", def.name(), "': dataset.max_len must be > 0"));
  }
  e.pad_pre_ = d.padding() != TextDatasetDef::POST;
  e.truncate_pre_ = d.truncating() != TextDatasetDef::POST;
  bool forward = true;
  for (const Node& node : g.nodes()) {
    if (!IsRecurrentOp(node.op->signature.name)) continue;
    e.has_recurrence_ = true;
    if (node.attrs.Has("direction") &&
        node.attrs.GetString("direction") != "forward") {
      forward = false;
    }
    if (node.attrs.Has("go_backwards") && node.attrs.GetBool("go_backwards")) {
      forward = false;
    }
  }
  e.reads_forward_ = e.has_recurrence_ && forward;
  return e;
}

std::vector<int32_t> Explainer::PadRow(const std::vector<int32_t>& ids,
                                       std::vector<int>* positions) const {
  const int n = static_cast<int>(ids.size());
  const int kept = std::min(n, max_len_);
  const int first = truncate_pre_ ? n - kept : 0;  // First id kept.
  const int offset = pad_pre_ ? max_len_ - kept : 0;
  std::vector<int32_t> row(max_len_, data::Vocabulary::kPadId);
  if (positions != nullptr) positions->assign(n, -1);
  for (int i = 0; i < kept; ++i) {
    row[offset + i] = ids[first + i];
    if (positions != nullptr) (*positions)[first + i] = offset + i;
  }
  return row;
}

double Explainer::ClassProbability(const Tensor& prediction, int64_t row,
                                   int target_class) const {
  if (prediction_width_ == 1) {
    const double p = prediction.f32()[row];
    return target_class == 1 ? p : 1.0 - p;
  }
  return prediction.f32()[row * prediction_width_ + target_class];
}

absl::StatusOr<std::vector<double>> Explainer::Score(const Tensor& ids,
                                                     int target_class) {
  Executor& ex = model_->executor();
  const std::string& pred = model_->def().prediction();
  const std::vector<std::string> fetches = {pred};
  LOOM_RETURN_IF_ERROR(
      ex.Run({{model_->def().features_input(), ids}}, fetches, false));
  LOOM_ASSIGN_OR_RETURN(auto p, ex.Fetch(pred));
  std::vector<double> out(ids.dim(0));
  for (int64_t i = 0; i < ids.dim(0); ++i) {
    out[i] = ClassProbability(*p, i, target_class);
  }
  return out;
}

absl::StatusOr<std::vector<double>> Explainer::IntegratedGradients(
    const std::vector<int32_t>& row, int target_class, int steps,
    int32_t baseline_id, double* fx, double* fb) {
  if (steps < 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "integrated gradients need steps >= 2 (the trapezoid rule's two "
        "ends), got ",
        steps));
  }
  if (target_class < 0 || target_class >= num_classes()) {
    return absl::InvalidArgumentError(
        absl::StrCat("class ", target_class, " is not one of the model's ",
                     num_classes(), " classes [0, ", num_classes(), ")"));
  }
  if (baseline_id < 0 || baseline_id >= vocabulary_->num_words()) {
    return absl::InvalidArgumentError(
        absl::StrCat("baseline token id ", baseline_id, " is not in [0, ",
                     vocabulary_->num_words(), ")"));
  }
  const int64_t t_len = static_cast<int64_t>(row.size());
  Executor& ex = model_->executor();
  const std::string& features = model_->def().features_input();
  const std::string& pred = model_->def().prediction();

  // The embeddings of x and of the baseline, from one run of the graph.
  std::vector<int32_t> pair(2 * t_len);
  for (int64_t t = 0; t < t_len; ++t) {
    pair[t] = row[t];
    pair[t_len + t] = row[t] == data::Vocabulary::kPadId ? row[t] : baseline_id;
  }
  LOOM_RETURN_IF_ERROR(
      ex.Run({{features, Tensor::FromVector({2, t_len}, pair)}},
             embedding_values_, false));
  // Per embedding: x's and the baseline's rows, and the path between.
  struct Path {
    std::vector<float> x;
    std::vector<float> base;
    int64_t width = 0;
  };
  std::vector<Path> paths;
  FeedMap overrides;
  for (const std::string& value : embedding_values_) {
    LOOM_ASSIGN_OR_RETURN(auto emb, ex.Fetch(value));
    if (emb->rank() != 3 || emb->dim(0) != 2 || emb->dim(1) != t_len) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the Embedding output '", value, "' is ", ShapeToString(emb->shape()),
          ", expected [2, ", t_len, ", D]"));
    }
    Path path;
    path.width = emb->dim(2);
    const int64_t row_size = t_len * path.width;
    path.x.assign(emb->f32(), emb->f32() + row_size);
    path.base.assign(emb->f32() + row_size, emb->f32() + 2 * row_size);
    // steps rows: alpha_k = k / (steps - 1).
    Tensor along(DType::kFloat32, {steps, t_len, path.width});
    for (int k = 0; k < steps; ++k) {
      const float alpha = static_cast<float>(k) / (steps - 1);
      float* dst = along.f32() + k * row_size;
      for (int64_t j = 0; j < row_size; ++j) {
        dst[j] = path.base[j] + alpha * (path.x[j] - path.base[j]);
      }
    }
    overrides.emplace(value, std::move(along));
    paths.push_back(std::move(path));
  }

  // All rows with x's ids (its mask).
  std::vector<int32_t> ids(steps * t_len);
  for (int k = 0; k < steps; ++k) {
    std::copy(row.begin(), row.end(), ids.begin() + k * t_len);
  }
  {
    const std::vector<std::string> fetches = {pred};
    LOOM_RETURN_IF_ERROR(ex.RunWithOverrides(
        {{features, Tensor::FromVector({steps, t_len}, ids)}}, overrides,
        fetches, false));
  }
  LOOM_ASSIGN_OR_RETURN(auto p, ex.Fetch(pred));
  *fb = ClassProbability(*p, 0, target_class);
  *fx = ClassProbability(*p, steps - 1, target_class);
  Tensor seed(DType::kFloat32, p->shape());
  for (int k = 0; k < steps; ++k) {
    if (prediction_width_ == 1) {
      seed.f32()[k] = target_class == 1 ? 1.0f : -1.0f;
    } else {
      seed.f32()[k * prediction_width_ + target_class] = 1.0f;
    }
  }
  std::vector<double> scores(t_len, 0.0);
  for (size_t e = 0; e < paths.size(); ++e) {
    LOOM_ASSIGN_OR_RETURN(auto grad,
                          ex.ValueGradient(pred, seed, embedding_values_[e]));
    const Path& path = paths[e];
    const int64_t row_size = t_len * path.width;
    // Trapezoid weights: 1/(steps-1), halved at both ends.
    std::vector<double> mean_grad(row_size, 0.0);
    for (int k = 0; k < steps; ++k) {
      const double w = (k == 0 || k == steps - 1 ? 0.5 : 1.0) / (steps - 1);
      const float* gk = grad.f32() + k * row_size;
      for (int64_t j = 0; j < row_size; ++j) mean_grad[j] += w * gk[j];
    }
    for (int64_t t = 0; t < t_len; ++t) {
      double s = 0;
      for (int64_t d = 0; d < path.width; ++d) {
        const int64_t j = t * path.width + d;
        s += (static_cast<double>(path.x[j]) - path.base[j]) * mean_grad[j];
      }
      scores[t] += s;
    }
  }
  return scores;
}

absl::StatusOr<Explanation> Explainer::Explain(const std::string& text,
                                               const ExplainOptions& options) {
  const std::vector<std::string> words =
      data::Tokenize(text, vocabulary_->tokenizer_options());
  if (words.empty()) {
    return absl::InvalidArgumentError(
        "nothing to explain: the text has no words");
  }
  std::vector<int32_t> ids = vocabulary_->Encode(text);
  if (ids.size() != words.size() + 1) {
    return absl::InternalError(absl::StrCat("the text encodes to ", ids.size(),
                                            " ids for ", words.size(),
                                            " words and the start id"));
  }
  bool any_known = false;
  for (size_t i = 1; i < ids.size(); ++i) {
    any_known |= ids[i] != data::Vocabulary::kOovId;
  }
  if (!any_known) {
    return absl::InvalidArgumentError(absl::StrCat(
        "nothing to explain: none of the text's ", words.size(),
        " words is in the model's vocabulary, so every one reads as the same "
        "out-of-vocabulary token"));
  }
  std::vector<int> positions;
  const std::vector<int32_t> row = PadRow(ids, &positions);
  const int64_t t_len = max_len_;

  Explanation e;
  e.class_names = class_names_;
  e.steps = options.steps;
  e.reads_forward = reads_forward_;
  e.has_recurrence = has_recurrence_;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (positions[i] < 0) continue;  // Truncated away.
    ExplainedToken tok;
    tok.id = ids[i];
    tok.position = positions[i];
    tok.is_word = i > 0;
    tok.word = i == 0 ? "<start>" : words[i - 1];
    e.tokens.push_back(std::move(tok));
  }

  // The prediction of the text itself.
  {
    Executor& ex = model_->executor();
    const std::vector<std::string> fetches = {model_->def().prediction()};
    LOOM_RETURN_IF_ERROR(ex.Run(
        {{model_->def().features_input(), Tensor::FromVector({1, t_len}, row)}},
        fetches, false));
    LOOM_ASSIGN_OR_RETURN(auto p, ex.Fetch(model_->def().prediction()));
    for (int c = 0; c < num_classes(); ++c) {
      e.probabilities.push_back(ClassProbability(*p, 0, c));
    }
  }
  e.predicted_class = static_cast<int>(
      std::max_element(e.probabilities.begin(), e.probabilities.end()) -
      e.probabilities.begin());
  e.target_class =
      options.target_class < 0 ? e.predicted_class : options.target_class;

  double fx = 0, fb = 0;
  LOOM_ASSIGN_OR_RETURN(auto scores,
                        IntegratedGradients(row, e.target_class, options.steps,
                                            options.baseline_id, &fx, &fb));
  e.target_probability = fx;
  e.baseline_probability = fb;
  for (ExplainedToken& tok : e.tokens) {
    tok.attribution = scores[tok.position];
  }
  e.attribution_sum = std::accumulate(scores.begin(), scores.end(), 0.0);
  e.completeness_error = std::fabs(e.attribution_sum - (fx - fb));

  if (options.occlusion) {
    std::vector<int> word_tokens;
    for (size_t i = 0; i < e.tokens.size(); ++i) {
      if (e.tokens[i].is_word) word_tokens.push_back(static_cast<int>(i));
    }
    const int64_t n = static_cast<int64_t>(word_tokens.size());
    if (n > 0) {
      std::vector<int32_t> batch(n * t_len);
      for (int64_t k = 0; k < n; ++k) {
        std::copy(row.begin(), row.end(), batch.begin() + k * t_len);
        batch[k * t_len + e.tokens[word_tokens[k]].position] =
            data::Vocabulary::kPadId;
      }
      LOOM_ASSIGN_OR_RETURN(
          auto occluded,
          Score(Tensor::FromVector({n, t_len}, batch), e.target_class));
      const double base = e.probabilities[e.target_class];
      for (int64_t k = 0; k < n; ++k) {
        e.tokens[word_tokens[k]].occlusion = base - occluded[k];
      }
    }
    e.has_occlusion = true;
  }

  if (options.prefix_curve) {
    // Row i holds the ids kept, up to and including tokens[i].
    std::vector<int32_t> kept;
    for (const ExplainedToken& tok : e.tokens) kept.push_back(tok.id);
    const int64_t n = static_cast<int64_t>(kept.size());
    std::vector<int32_t> batch(n * t_len);
    for (int64_t i = 0; i < n; ++i) {
      const std::vector<int32_t> prefix(kept.begin(), kept.begin() + i + 1);
      const std::vector<int32_t> padded = PadRow(prefix);
      std::copy(padded.begin(), padded.end(), batch.begin() + i * t_len);
    }
    LOOM_ASSIGN_OR_RETURN(
        auto curve,
        Score(Tensor::FromVector({n, t_len}, batch), e.target_class));
    e.prefix_probabilities = std::move(curve);
  }
  return e;
}

// ---------------------------------------------------------------------------
// ThreadedExplainer

struct ThreadedExplainer::Job {
  const std::vector<std::string>* texts = nullptr;
  const ExplainOptions* options = nullptr;
  std::vector<absl::StatusOr<Explanation>> results;
  bool done = false;
};

absl::StatusOr<std::unique_ptr<ThreadedExplainer>> ThreadedExplainer::Load(
    const std::string& model_dir, const OpRegistry& registry) {
  auto explainer = std::unique_ptr<ThreadedExplainer>(new ThreadedExplainer());
  ThreadedExplainer* p = explainer.get();
  // The model thread loads the model: its primitives must stay there.
  p->thread_ =
      std::thread([p, model_dir, &registry] { p->Serve(model_dir, registry); });
  absl::MutexLock lock(&p->mu_);
  p->mu_.Await(absl::Condition(&p->loaded_));
  LOOM_RETURN_IF_ERROR(p->load_status_);  // Joined by ~.
  return explainer;
}

ThreadedExplainer::~ThreadedExplainer() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void ThreadedExplainer::Serve(const std::string& model_dir,
                              const OpRegistry& registry) {
  auto loaded = LoadModel(model_dir, registry);
  std::optional<Explainer> explainer;
  absl::Status status = loaded.status();
  if (status.ok()) {
    auto created = Explainer::Create(loaded->model.get(), &loaded->vocabulary);
    status = created.status();
    if (created.ok()) explainer.emplace(*std::move(created));
  }
  {
    absl::MutexLock lock(&mu_);
    if (status.ok()) {
      const TextDatasetDef& d = loaded->model->def().dataset();
      name_ = loaded->model->def().name();
      max_len_ = d.max_len();
      class_names_.assign(d.class_name().begin(), d.class_name().end());
      if (class_names_.empty()) class_names_ = {"negative", "positive"};
    }
    load_status_ = status;
    loaded_ = true;
    if (!status.ok()) return;
  }
  while (true) {
    Job* job = nullptr;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](ThreadedExplainer* p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->mu_) {
            return p->stopping_ || !p->queue_.empty();
          },
          this));
      if (queue_.empty()) return;  // Stopping, nothing left to run.
      job = queue_.front();
      queue_.pop_front();
    }
    std::vector<absl::StatusOr<Explanation>> results;
    results.reserve(job->texts->size());
    for (const std::string& text : *job->texts) {
      results.push_back(explainer->Explain(text, *job->options));
    }
    absl::MutexLock lock(&mu_);
    job->results = std::move(results);
    job->done = true;
  }
}

absl::StatusOr<std::vector<absl::StatusOr<Explanation>>>
ThreadedExplainer::Explain(const std::vector<std::string>& texts,
                           const ExplainOptions& options) const {
  if (texts.empty()) {
    return absl::InvalidArgumentError("no texts to explain");
  }
  Job job;
  job.texts = &texts;
  job.options = &options;
  absl::MutexLock lock(&mu_);
  queue_.push_back(&job);
  mu_.Await(absl::Condition(&job.done));
  return std::move(job.results);
}

}  // namespace loom
