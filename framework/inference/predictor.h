// Predictor: a trained model folder (written by tools/train: model.pbtxt with
// its class names, weights.ckpt, vocabulary.txt) made ready to classify raw
// texts, for services that embed Loom.
//
// Thread safety: every const method may be called from many threads at
// once. A call tokenizes and pads in the calling thread, then hands the
// ids to the Predictor's own model thread, which runs requests one after
// another (each run uses every core through OpenMP) and loaded the model.
// The model must stay on one thread: oneDNN as Debian builds it gives a
// primitive the scratchpad of the thread that created it (a thread_local
// "global scratchpad"), and executing it on another thread reads past that
// thread's scratchpad (seen as a crash in the LSTM primitive). The op
// registry is the caller's (it must outlive the Predictor) or owned by it.
#ifndef LOOM_FRAMEWORK_INFERENCE_PREDICTOR_H_
#define LOOM_FRAMEWORK_INFERENCE_PREDICTOR_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "framework/data/text.h"
#include "framework/model_io.h"
#include "framework/registry.h"
#include "framework/tensor.h"
#include "framework/training/model.h"

namespace loom {

struct PredictorOptions {
  // Texts per run of the model; longer calls are split.
  int batch_size = 128;
  // Dynamic batching, as TensorFlow Serving's: calls waiting for the model
  // thread are joined into one run of up to max_batch_size texts; with
  // batch_timeout_micros > 0 the thread waits that long after the first
  // waiting call for more to arrive. 0 = no batching across calls.
  int max_batch_size = 0;
  int64_t batch_timeout_micros = 0;
};

// What the model thread did, for monitoring (Predictor::stats()).
struct PredictorStats {
  int64_t runs = 0;   // Runs of the model.
  int64_t calls = 0;  // Calls served by them.
  int64_t texts = 0;  // Rows run.
  // Runs by number of calls joined: 1, 2, 3-4, 5-8, 9-16, 17-32, >32.
  std::vector<int64_t> calls_per_run = std::vector<int64_t>(7, 0);
  double queue_seconds = 0;  // Summed time calls waited for the thread.
};

struct Prediction {
  int label = 0;                     // Index into class_names().
  std::vector<float> probabilities;  // One per class.
  int num_tokens = 0;  // Words of the text found in the vocabulary or not.
};

class Predictor {
 public:
  // Loads `model_dir` with ops from `registry`, which the caller keeps alive
  // (and unchanged) for the Predictor's lifetime. Errors name the folder
  // and the file at fault.
  static absl::StatusOr<std::unique_ptr<Predictor>> Load(
      const std::string& model_dir, const OpRegistry& registry,
      const PredictorOptions& options = {});
  // The same, taking ownership of the registry.
  static absl::StatusOr<std::unique_ptr<Predictor>> Load(
      const std::string& model_dir, std::unique_ptr<OpRegistry> registry,
      const PredictorOptions& options = {});

  // Classifies raw texts (UTF-8). An empty list gives an empty result.
  absl::StatusOr<std::vector<Prediction>> Predict(
      const std::vector<std::string>& texts) const;
  // Classifies token ids already encoded as the model expects: `n` rows of
  // `length` ids (row-major), each id in [0, vocabulary_size()). Rows
  // shorter or longer than max_len() are padded or truncated as the model's
  // dataset settings say.
  absl::StatusOr<std::vector<Prediction>> PredictIds(const int32_t* ids,
                                                     int64_t n,
                                                     int64_t length) const;

  const std::string& model_dir() const { return model_dir_; }
  const std::string& name() const { return name_; }
  const std::vector<std::string>& class_names() const { return class_names_; }
  int max_len() const { return max_len_; }
  int vocabulary_size() const { return vocabulary_.size(); }
  int num_words() const { return vocabulary_.num_words(); }
  const data::Vocabulary& vocabulary() const { return vocabulary_; }
  // The ops the model's graph uses, sorted, each once.
  const std::vector<std::string>& ops() const { return ops_; }
  PredictorStats stats() const;

  ~Predictor();

 private:
  Predictor() = default;
  // Runs `ids` ([n, max_len]) on the model thread and waits for it.
  absl::StatusOr<std::vector<Prediction>> Run(const Tensor& ids) const;

  std::string model_dir_;
  std::string name_;
  std::unique_ptr<OpRegistry> owned_registry_;
  struct Job;
  // The model thread: loads the model, then runs jobs until destroyed.
  void Serve(const std::string& model_dir, const ModelFile& file,
             const OpRegistry& registry);

  std::unique_ptr<Model> model_;  // Used on the model thread only.
  std::thread thread_;
  mutable absl::Mutex mu_;
  mutable std::deque<Job*> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool loaded_ ABSL_GUARDED_BY(mu_) = false;  // The load has ended.
  absl::Status load_status_ ABSL_GUARDED_BY(mu_);
  data::Vocabulary vocabulary_;
  TextDatasetDef dataset_;
  std::vector<std::string> class_names_;
  std::vector<std::string> ops_;
  int max_len_ = 0;
  int batch_size_ = 128;
  int max_batch_size_ = 0;
  int64_t batch_timeout_micros_ = 0;
  PredictorStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace loom

#endif  // LOOM_FRAMEWORK_INFERENCE_PREDICTOR_H_
