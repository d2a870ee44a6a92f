#include "serving/service.h"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "framework/status_macros.h"
#include "framework/training/saved_model.h"
#include "framework/training/train_job.h"
#include "nlohmann/json.hpp"

namespace loom::serving {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// Latency histogram bounds, seconds (Prometheus' le labels).
constexpr double kLatencyBounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025,
                                     0.05,  0.1,    0.25,  0.5,  1.0};
constexpr int kNumLatencyBounds = sizeof(kLatencyBounds) / sizeof(double);

bool IsModelFolder(const std::string& dir) {
  struct stat st;
  return ::stat((dir + "/model.pbtxt").c_str(), &st) == 0 &&
         S_ISREG(st.st_mode);
}

// The newest modification time of a model folder's files (ns), so a
// plain folder whose files were replaced is reloaded.
int64_t Stamp(const std::string& dir) {
  int64_t newest = 0;
  for (const char* f : {"model.pbtxt", "weights.ckpt", "vocabulary.txt"}) {
    struct stat st;
    if (::stat((dir + "/" + f).c_str(), &st) == 0) {
      newest = std::max<int64_t>(
          newest, int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec);
    }
  }
  return newest;
}

HttpResponse Json(int status, const json& body) {
  HttpResponse r;
  r.status = status;
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  r.body += "\n";
  return r;
}

// Reads the request body's "instances" (texts, or objects with a "text")
// into *texts and the whole body into *request; an error response if the
// body or an instance is bad or over a limit. `max_instances` and
// `limit_flag` are the instance limit and the tools/serve flag setting it.
std::optional<HttpResponse> ParseInstances(std::string_view body,
                                           const ServiceOptions& options,
                                           int max_instances,
                                           const char* limit_flag,
                                           const char* verb, json* request,
                                           std::vector<std::string>* texts) {
  if (static_cast<int64_t>(body.size()) > options.max_body_bytes) {
    return Service::Error(413, absl::StrCat("request body of ", body.size(),
                                            " bytes is over the limit of ",
                                            options.max_body_bytes));
  }
  *request = json::parse(body.begin(), body.end(), nullptr, false);
  if (request->is_discarded()) {
    return Service::Error(400, "the request body is not valid JSON (UTF-8)");
  }
  if (!request->is_object()) {
    return Service::Error(400,
                          "the request body must be a JSON object with "
                          "\"instances\"");
  }
  const auto it = request->find("instances");
  if (it == request->end() || !it->is_array()) {
    return Service::Error(400,
                          "\"instances\" must be a list of texts, or of "
                          "objects with a \"text\"");
  }
  if (it->empty()) return Service::Error(400, "\"instances\" is empty");
  if (static_cast<int64_t>(it->size()) > max_instances) {
    return Service::Error(
        400, absl::StrCat(it->size(), " instances are over the limit of ",
                          max_instances, " per ", verb, " request (",
                          limit_flag, ")"));
  }
  texts->reserve(it->size());
  for (size_t i = 0; i < it->size(); ++i) {
    const json& instance = (*it)[i];
    const json* text = &instance;
    if (instance.is_object()) {
      const auto t = instance.find("text");
      if (t == instance.end()) {
        return Service::Error(
            400, absl::StrCat("instances[", i, "] has no \"text\""));
      }
      text = &*t;
    }
    if (!text->is_string()) {
      return Service::Error(400, absl::StrCat("instances[", i,
                                              "] must be a string or "
                                              "{\"text\": string}"));
    }
    texts->push_back(text->get<std::string>());
    if (static_cast<int64_t>(texts->back().size()) > options.max_text_bytes) {
      return Service::Error(
          400,
          absl::StrCat("instances[", i, "] is ", texts->back().size(),
                       " bytes, over the limit of ", options.max_text_bytes));
    }
  }
  return std::nullopt;
}

}  // namespace

std::vector<std::pair<int64_t, std::string>> ListVersions(
    const std::string& path) {
  std::vector<std::pair<int64_t, std::string>> versions;
  if (IsModelFolder(path)) return versions;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(path, ec), end; !ec && it != end;
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    int64_t v = 0;
    if (!absl::SimpleAtoi(name, &v) || v < 0) continue;
    if (IsModelFolder(it->path().string())) {
      versions.emplace_back(v, it->path().string());
    }
  }
  std::sort(versions.begin(), versions.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  return versions;
}

HttpResponse Service::Error(int status, std::string_view message) {
  return Json(status, json{{"error", std::string(message)}});
}

absl::StatusOr<std::unique_ptr<Service>> Service::Create(
    const ServiceOptions& options) {
  if (options.max_explain_instances < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max_explain_instances must be at least 1, got ",
                     options.max_explain_instances));
  }
  if (options.max_explain_steps < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max_explain_steps must be at least 2, got ",
                     options.max_explain_steps));
  }
  auto service = std::unique_ptr<Service>(new Service());
  service->options_ = options;
  service->latency_buckets_.assign(kNumLatencyBounds + 1, 0);
  std::string dir = options.model_path;
  int64_t version = 1;
  if (!IsModelFolder(dir)) {
    const auto versions = ListVersions(dir);
    if (versions.empty()) {
      return absl::NotFoundError(absl::StrCat(
          "--model=", dir,
          " is neither a model folder (with model.pbtxt) nor a folder of "
          "numbered version folders (1/, 2/, ...) holding one"));
    }
    version = versions.front().first;
    dir = versions.front().second;
  }
  LOOM_ASSIGN_OR_RETURN(auto servable, service->LoadVersion(version, dir));
  service->name_ =
      options.name.empty() ? servable->predictor->name() : options.name;
  absl::MutexLock lock(&service->mu_);
  service->servable_ = std::move(servable);
  return service;
}

absl::StatusOr<std::shared_ptr<const Service::Servable>> Service::LoadVersion(
    int64_t version, const std::string& dir) const {
  LOOM_ASSIGN_OR_RETURN(auto file, ReadSavedModelFile(dir));
  auto registry = std::make_unique<OpRegistry>();
  PluginSearch search;
  search.plugin_path = options_.plugin_path;
  LOOM_RETURN_IF_ERROR(PrepareRegistryForModelDir(dir, file, options_.plugins,
                                                  search, registry.get()));
  LOOM_ASSIGN_OR_RETURN(auto predictor,
                        Predictor::Load(dir, *registry, options_.predictor));
  auto servable = std::make_shared<Servable>();
  servable->version = version;
  servable->dir = dir;
  servable->stamp = Stamp(dir);
  servable->registry = std::move(registry);
  servable->predictor = std::move(predictor);
  return std::shared_ptr<const Servable>(std::move(servable));
}

std::shared_ptr<const Service::Servable> Service::current() const {
  absl::MutexLock lock(&mu_);
  return servable_;
}

int64_t Service::version() const { return current()->version; }

absl::Status Service::Reload() {
  absl::MutexLock reload(&reload_mu_);
  const std::shared_ptr<const Servable> now = current();
  int64_t version = now->version;
  std::string dir = options_.model_path;
  const auto versions = ListVersions(options_.model_path);
  if (!versions.empty()) {
    if (versions.front().first == now->version &&
        Stamp(versions.front().second) == now->stamp) {
      return absl::OkStatus();
    }
    version = versions.front().first;
    dir = versions.front().second;
  } else if (!IsModelFolder(dir) || Stamp(dir) == now->stamp) {
    return absl::OkStatus();
  }
  auto next = LoadVersion(version, dir);
  absl::MutexLock lock(&metrics_mu_);
  if (!next.ok()) {
    ++reload_failures_;
    return absl::Status(
        next.status().code(),
        absl::StrCat("reload of ", dir,
                     " failed, still "
                     "serving version ",
                     now->version, ": ", next.status().message()));
  }
  ++reloads_;
  absl::MutexLock swap(&mu_);
  servable_ = *std::move(next);
  return absl::OkStatus();
}

void Service::Record(int status, double seconds, int64_t instances) {
  absl::MutexLock lock(&metrics_mu_);
  bool found = false;
  for (auto& [code, count] : requests_by_code_) {
    if (code == status) {
      ++count;
      found = true;
    }
  }
  if (!found) {
    requests_by_code_.emplace_back(status, 1);
    std::sort(requests_by_code_.begin(), requests_by_code_.end());
  }
  int b = 0;
  while (b < kNumLatencyBounds && seconds > kLatencyBounds[b]) ++b;
  ++latency_buckets_[b];
  latency_sum_ += seconds;
  ++latency_count_;
  instances_total_ += instances;
}

HttpResponse Service::Handle(std::string_view method, std::string_view path,
                             std::string_view body) {
  const auto start = Clock::now();
  int64_t instances = 0;
  HttpResponse response = [&]() -> HttpResponse {
    if (path == "/healthz") return Json(200, json{{"status", "live"}});
    if (path == "/readyz") return Json(200, json{{"status", "ready"}});
    if (path == "/metrics") {
      HttpResponse r;
      r.content_type = "text/plain; version=0.0.4";
      r.body = Metrics();
      return r;
    }
    absl::string_view rest(path.data(), path.size());
    if (!absl::ConsumePrefix(&rest, "/v1/models/")) {
      return Error(404, absl::StrCat("no such path: ", rest));
    }
    std::string_view verb;
    if (const size_t colon = rest.rfind(':');
        colon != absl::string_view::npos) {
      verb = std::string_view(rest.data() + colon + 1, rest.size() - colon - 1);
      rest = rest.substr(0, colon);
    }
    std::string_view name(rest.data(), rest.size());
    std::string_view tail;
    if (const size_t slash = name.find('/'); slash != std::string_view::npos) {
      tail = name.substr(slash + 1);
      name = name.substr(0, slash);
    }
    if (name != name_) {
      return Error(404, absl::StrCat("model '", std::string(name),
                                     "' is not served (this "
                                     "service serves '",
                                     name_, "')"));
    }
    const std::shared_ptr<const Servable> servable = current();
    absl::string_view t(tail.data(), tail.size());
    if (absl::ConsumePrefix(&t, "versions/")) {
      int64_t v = 0;
      absl::string_view number = t.substr(0, t.find('/'));
      if (!absl::SimpleAtoi(number, &v) || v != servable->version) {
        return Error(404, absl::StrCat("version ", number,
                                       " is not served (serving version ",
                                       servable->version, ")"));
      }
      t.remove_prefix(number.size());
      absl::ConsumePrefix(&t, "/");
    }
    if (verb == "predict") {
      if (method != "POST") return Error(405, "predict takes POST");
      if (!t.empty()) {
        return Error(404, absl::StrCat("no such path: ", std::string(path)));
      }
      return Predict(*servable, body, &instances);
    }
    if (verb == "explain") {
      if (method != "POST") return Error(405, "explain takes POST");
      if (!t.empty()) {
        return Error(404, absl::StrCat("no such path: ", std::string(path)));
      }
      return Explain(*servable, body, &instances);
    }
    if (!verb.empty()) {
      return Error(404, absl::StrCat("unknown method '", std::string(verb),
                                     "' (this service answers :predict and "
                                     ":explain)"));
    }
    if (method != "GET") return Error(405, "model status takes GET");
    if (t.empty()) return Status(*servable);
    if (t == "metadata") return Metadata(*servable);
    return Error(404, absl::StrCat("no such path: ", std::string(path)));
  }();
  Record(response.status,
         std::chrono::duration<double>(Clock::now() - start).count(),
         instances);
  return response;
}

HttpResponse Service::Predict(const Servable& servable, std::string_view body,
                              int64_t* instances) {
  json request;
  std::vector<std::string> texts;
  if (auto error =
          ParseInstances(body, options_, options_.max_instances,
                         "--max_instances", ":predict", &request, &texts)) {
    return *error;
  }
  auto predictions = servable.predictor->Predict(texts);
  if (!predictions.ok()) {
    return Error(500, absl::StrCat("the model failed: ",
                                   predictions.status().message()));
  }
  *instances = static_cast<int64_t>(predictions->size());
  const std::vector<std::string>& classes = servable.predictor->class_names();
  json out = json::array();
  for (const Prediction& p : *predictions) {
    json probabilities = json::object();
    for (size_t c = 0; c < classes.size(); ++c) {
      probabilities[classes[c]] = p.probabilities[c];
    }
    json entry = {{"label", classes[p.label]},
                  {"probabilities", std::move(probabilities)}};
    if (p.num_tokens == 0) entry["warning"] = "no words in the text";
    out.push_back(std::move(entry));
  }
  return Json(200, json{{"predictions", std::move(out)}});
}

absl::StatusOr<const ThreadedExplainer*> Service::Servable::GetExplainer()
    const {
  absl::MutexLock lock(&explain_mu);
  if (!explain_loaded) {
    auto loaded = ThreadedExplainer::Load(dir, *registry);
    explain_loaded = true;
    if (loaded.ok()) {
      explainer = *std::move(loaded);
    } else {
      explain_status = loaded.status();
    }
  }
  LOOM_RETURN_IF_ERROR(explain_status);
  return explainer.get();
}

HttpResponse Service::Explain(const Servable& servable, std::string_view body,
                              int64_t* instances) {
  json request;
  std::vector<std::string> texts;
  if (auto error = ParseInstances(
          body, options_, options_.max_explain_instances,
          "--max_explain_instances", ":explain", &request, &texts)) {
    return *error;
  }
  for (const auto& [key, value] : request.items()) {
    if (key != "instances" && key != "steps" && key != "target_class") {
      return Error(400, absl::StrCat("unknown field \"", key,
                                     "\" (:explain takes \"instances\", "
                                     "\"steps\" and \"target_class\")"));
    }
  }
  ExplainOptions explain;
  explain.steps = std::min(explain.steps, options_.max_explain_steps);
  if (const auto it = request.find("steps"); it != request.end()) {
    if (!it->is_number_integer()) {
      return Error(400, "\"steps\" must be an integer");
    }
    const int64_t steps = it->get<int64_t>();
    if (steps < 2) {
      return Error(400, absl::StrCat("\"steps\" must be at least 2 (the "
                                     "trapezoid rule's two ends), got ",
                                     steps));
    }
    if (steps > options_.max_explain_steps) {
      return Error(
          400,
          absl::StrCat("\"steps\" ", steps, " is over the limit of ",
                       options_.max_explain_steps, " (--max_explain_steps)"));
    }
    explain.steps = static_cast<int>(steps);
  }
  const std::vector<std::string>& classes = servable.predictor->class_names();
  if (const auto it = request.find("target_class");
      it != request.end() && !it->is_null()) {
    const int n = static_cast<int>(classes.size());
    if (it->is_number_integer()) {
      const int64_t c = it->get<int64_t>();
      if (c < 0 || c >= n) {
        return Error(400,
                     absl::StrCat("\"target_class\" ", c,
                                  " is not a class index in [0, ", n, ")"));
      }
      explain.target_class = static_cast<int>(c);
    } else if (it->is_string()) {
      const std::string name = it->get<std::string>();
      const auto found = std::find(classes.begin(), classes.end(), name);
      if (found == classes.end()) {
        return Error(400, absl::StrCat("\"target_class\" \"", name,
                                       "\" is not one of the model's "
                                       "classes (",
                                       absl::StrJoin(classes, ", "), ")"));
      }
      explain.target_class = static_cast<int>(found - classes.begin());
    } else {
      return Error(400,
                   "\"target_class\" must be a class index or a class name");
    }
  }
  auto explainer = servable.GetExplainer();
  if (!explainer.ok()) {
    const absl::StatusCode code = explainer.status().code();
    // A model that cannot be explained (no Embedding op) is the request's
    // problem, as TF Serving maps FAILED_PRECONDITION.
    return Error(code == absl::StatusCode::kFailedPrecondition ? 400 : 500,
                 absl::StrCat(code == absl::StatusCode::kFailedPrecondition
                                  ? ""
                                  : "the model failed to load for :explain: ",
                              explainer.status().message()));
  }
  auto results = (*explainer)->Explain(texts, explain);
  if (!results.ok()) {
    return Error(
        500, absl::StrCat("the model failed: ", results.status().message()));
  }
  json out = json::array();
  for (size_t i = 0; i < results->size(); ++i) {
    const absl::StatusOr<loom::Explanation>& e = (*results)[i];
    if (!e.ok()) {
      const bool bad_input =
          e.status().code() == absl::StatusCode::kInvalidArgument;
      return Error(bad_input ? 400 : 500,
                   absl::StrCat(bad_input ? "" : "the model failed on ",
                                "instances[", i, "]: ", e.status().message()));
    }
    json one = json::parse(ExplanationToJson(*e, texts[i]), nullptr, false);
    if (one.is_discarded()) {
      return Error(500, absl::StrCat("the explanation of instances[", i,
                                     "] is not finite (the model gave NaN "
                                     "or infinity)"));
    }
    out.push_back(std::move(one));
  }
  *instances = static_cast<int64_t>(out.size());
  return Json(200, json{{"explanations", std::move(out)}});
}

HttpResponse Service::Status(const Servable& servable) const {
  return Json(
      200,
      json{{"model_version_status",
            json::array({json{{"version", std::to_string(servable.version)},
                              {"state", "AVAILABLE"},
                              {"status", json{{"error_code", "OK"},
                                              {"error_message", ""}}}}})}});
}

HttpResponse Service::Metadata(const Servable& servable) const {
  const Predictor& p = *servable.predictor;
  return Json(
      200,
      json{{"model_spec", json{{"name", name_},
                               {"version", std::to_string(servable.version)}}},
           {"metadata", json{{"classes", p.class_names()},
                             {"max_len", p.max_len()},
                             {"vocabulary_size", p.vocabulary_size()},
                             {"num_words", p.num_words()},
                             {"ops", p.ops()}}}});
}

std::string Service::Metrics() const {
  const std::shared_ptr<const Servable> servable = current();
  const PredictorStats stats = servable->predictor->stats();
  absl::MutexLock lock(&metrics_mu_);
  std::string out;
  absl::StrAppend(&out,
                  "# HELP loom_requests_total Requests answered, by HTTP "
                  "status.\n# TYPE loom_requests_total counter\n");
  for (const auto& [code, count] : requests_by_code_) {
    absl::StrAppendFormat(&out, "loom_requests_total{code=\"%d\"} %d\n", code,
                          count);
  }
  absl::StrAppend(&out,
                  "# HELP loom_request_duration_seconds Time to answer a "
                  "request.\n# TYPE loom_request_duration_seconds "
                  "histogram\n");
  int64_t cumulative = 0;
  for (int b = 0; b <= kNumLatencyBounds; ++b) {
    cumulative += latency_buckets_[b];
    if (b < kNumLatencyBounds) {
      absl::StrAppendFormat(
          &out, "loom_request_duration_seconds_bucket{le=\"%g\"} %d\n",
          kLatencyBounds[b], cumulative);
    } else {
      absl::StrAppendFormat(
          &out, "loom_request_duration_seconds_bucket{le=\"+Inf\"} %d\n",
          cumulative);
    }
  }
  absl::StrAppendFormat(&out,
                        "loom_request_duration_seconds_sum %.6f\n"
                        "loom_request_duration_seconds_count %d\n",
                        latency_sum_, latency_count_);
  absl::StrAppendFormat(&out,
                        "# HELP loom_instances_total Texts classified.\n"
                        "# TYPE loom_instances_total counter\n"
                        "loom_instances_total %d\n",
                        instances_total_);
  static const char* const kCallBuckets[] = {"1",  "2",  "4",   "8",
                                             "16", "32", "+Inf"};
  absl::StrAppend(&out,
                  "# HELP loom_batch_requests Requests joined per run of the "
                  "model (dynamic batching).\n# TYPE loom_batch_requests "
                  "histogram\n");
  cumulative = 0;
  for (size_t b = 0; b < stats.calls_per_run.size(); ++b) {
    cumulative += stats.calls_per_run[b];
    absl::StrAppendFormat(&out, "loom_batch_requests_bucket{le=\"%s\"} %d\n",
                          kCallBuckets[b], cumulative);
  }
  absl::StrAppendFormat(
      &out,
      "loom_batch_requests_sum %d\nloom_batch_requests_count %d\n"
      "# HELP loom_batch_texts_total Texts run by the model.\n"
      "# TYPE loom_batch_texts_total counter\nloom_batch_texts_total %d\n"
      "# HELP loom_queue_seconds_total Time requests waited for the model.\n"
      "# TYPE loom_queue_seconds_total counter\n"
      "loom_queue_seconds_total %.6f\n"
      "# HELP loom_model_version The model version served.\n"
      "# TYPE loom_model_version gauge\nloom_model_version{model=\"%s\"} %d\n"
      "# HELP loom_reloads_total Model reloads, by result.\n"
      "# TYPE loom_reloads_total counter\n"
      "loom_reloads_total{result=\"ok\"} %d\n"
      "loom_reloads_total{result=\"failed\"} %d\n",
      stats.calls, stats.runs, stats.texts, stats.queue_seconds, name_,
      servable->version, reloads_, reload_failures_);
  return out;
}

}  // namespace loom::serving
