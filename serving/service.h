// The sentiment service behind tools/serve: TensorFlow Serving's REST API
// over a Predictor, independent of the HTTP library (tools/serve.cc puts
// cpp-httplib in front of it), so every request path can be tested and
// fuzzed as a function call.
//
//   POST /v1/models/<name>:predict   {"instances": ["text", ...]} or
//                                    {"instances": [{"text": "..."}, ...]}
//     -> {"predictions": [{"label": "positive",
//                          "probabilities": {"negative": 0.08, ...}}, ...]}
//   POST /v1/models/<name>:explain   {"instances": [...], "steps": 50,
//                                     "target_class": 1 or "positive"}
//     -> {"explanations": [<tools/predict --explain --format=json>, ...]}
//        (framework/inference/explain.h), run on a second copy of the
//        model on its own thread, loaded at the first :explain request
//   GET  /v1/models/<name>           version status
//   GET  /v1/models/<name>/metadata  classes, max_len, vocabulary, ops
//   GET  /healthz                    live
//   GET  /readyz                     a model is loaded
//   GET  /metrics                    Prometheus text format
// Errors are {"error": "..."} with a 4xx status (5xx only for a failure of
// the model itself). The model is a model folder, or a folder of numbered
// version folders (TF Serving's layout) whose highest version is served;
// Reload() switches to a newer one with no request failing: requests in
// flight finish on the version they started with.
#ifndef LOOM_SERVING_SERVICE_H_
#define LOOM_SERVING_SERVICE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "framework/inference/explain.h"
#include "framework/inference/predictor.h"

namespace loom::serving {

struct ServiceOptions {
  std::string model_path;  // A model folder or a folder of versions.
  std::string name;        // In URLs; "" = the model file's name.
  PredictorOptions predictor;
  std::vector<std::string> plugins;  // Op plugins to load.
  std::string plugin_path;           // Where declared plugins are found.
  int64_t max_body_bytes = int64_t{1} << 20;  // Larger bodies: 413.
  int max_instances = 1000;                   // Per request.
  int64_t max_text_bytes = 100000;            // Per instance.
  // :explain costs steps + words + 2 runs of the model per instance.
  int max_explain_instances = 16;  // Per :explain request.
  int max_explain_steps = 200;     // Integration steps at most.
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

class Service {
 public:
  // Loads the model (the highest version); fails if it cannot.
  static absl::StatusOr<std::unique_ptr<Service>> Create(
      const ServiceOptions& options);

  // Answers one request. Thread-safe; never fails: errors are responses.
  HttpResponse Handle(std::string_view method, std::string_view path,
                      std::string_view body);

  // Serves a newer version if the model folder has one (a no-op for a
  // plain model folder unless its files changed). On failure the current
  // version keeps serving and the error is returned (and counted).
  absl::Status Reload();

  const std::string& name() const { return name_; }
  int64_t version() const;
  // A response for an error the HTTP layer found itself (413, 404, ...).
  static HttpResponse Error(int status, std::string_view message);

 private:
  struct Servable {
    int64_t version = 0;
    std::string dir;
    int64_t stamp = 0;  // The files' newest modification time.
    // Declared first, destroyed last: the predictor and the explainer use
    // its ops.
    std::unique_ptr<OpRegistry> registry;
    std::unique_ptr<Predictor> predictor;
    // The explainer's own copy of the model on its own thread (explain.h),
    // loaded by the first :explain request; explain_status says why not.
    mutable absl::Mutex explain_mu;
    mutable bool explain_loaded ABSL_GUARDED_BY(explain_mu) = false;
    mutable absl::Status explain_status ABSL_GUARDED_BY(explain_mu);
    mutable std::unique_ptr<ThreadedExplainer> explainer
        ABSL_GUARDED_BY(explain_mu);
    // The explainer, loaded by the first call.
    absl::StatusOr<const ThreadedExplainer*> GetExplainer() const;
  };
  Service() = default;
  absl::StatusOr<std::shared_ptr<const Servable>> LoadVersion(
      int64_t version, const std::string& dir) const;
  std::shared_ptr<const Servable> current() const;
  // Sets *instances to the number of texts classified.
  HttpResponse Predict(const Servable& servable, std::string_view body,
                       int64_t* instances);
  HttpResponse Explain(const Servable& servable, std::string_view body,
                       int64_t* instances);
  HttpResponse Status(const Servable& servable) const;
  HttpResponse Metadata(const Servable& servable) const;
  std::string Metrics() const;
  void Record(int status, double seconds, int64_t instances);

  ServiceOptions options_;
  std::string name_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const Servable> servable_ ABSL_GUARDED_BY(mu_);
  absl::Mutex reload_mu_;  // One reload at a time.

  // Metrics.
  mutable absl::Mutex metrics_mu_;
  std::vector<std::pair<int, int64_t>> requests_by_code_
      ABSL_GUARDED_BY(metrics_mu_);
  std::vector<int64_t> latency_buckets_ ABSL_GUARDED_BY(metrics_mu_);
  double latency_sum_ ABSL_GUARDED_BY(metrics_mu_) = 0;
  int64_t latency_count_ ABSL_GUARDED_BY(metrics_mu_) = 0;
  int64_t instances_total_ ABSL_GUARDED_BY(metrics_mu_) = 0;
  int64_t reloads_ ABSL_GUARDED_BY(metrics_mu_) = 0;
  int64_t reload_failures_ ABSL_GUARDED_BY(metrics_mu_) = 0;
};

// The version folders of `path` (numeric names holding a model.pbtxt),
// highest first; empty if `path` is itself a model folder or has none.
std::vector<std::pair<int64_t, std::string>> ListVersions(
    const std::string& path);

}  // namespace loom::serving

#endif  // LOOM_SERVING_SERVICE_H_
