// Loom's C++ API: a header-only wrapper over the C API (loom.h), so a C++
// program links only libloom.so and needs no other Loom or Abseil headers.
// Nothing throws: calls return a loom::api::Status.
//
//   loom::api::Status status;
//   auto predictor = loom::api::Predictor::Load("runs/x/model", &status);
//   if (!predictor) { std::cerr << status.message() << "\n"; return 1; }
//   std::vector<loom::api::Prediction> out;
//   status = predictor->Predict({"Great film.", "Dreadful."}, &out);
//
// A Predictor may be used by many threads at once.
#ifndef LOOM_CAPI_LOOM_HPP_
#define LOOM_CAPI_LOOM_HPP_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "loom.h"

namespace loom::api {

class Status {
 public:
  Status() = default;
  // Takes ownership of a LoomStatus* (NULL is success).
  explicit Status(LoomStatus* status)
      : code_(loom_status_code(status)), message_(loom_status_message(status)) {
    loom_status_free(status);
  }
  Status(LoomStatusCode code, std::string message)
      : code_(code), message_(std::move(message)) {}
  bool ok() const { return code_ == LOOM_OK; }
  LoomStatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  LoomStatusCode code_ = LOOM_OK;
  std::string message_;
};

struct Prediction {
  int label = 0;                     // Index into class_names().
  std::string label_name;            // class_names()[label].
  std::vector<float> probabilities;  // One per class.
};

class Predictor {
 public:
  // Loads a model folder written by tools/train; on failure returns null
  // and sets *status (which may be null). Checks the API version first.
  static std::unique_ptr<Predictor> Load(
      const std::string& model_dir, Status* status,
      const std::vector<std::string>& plugins = {},
      const std::string& plugin_path = "") {
    Status ignored;
    Status& s = status != nullptr ? *status : ignored;
    if (loom_api_version() != LOOM_API_VERSION) {
      s = Status(LOOM_FAILED_PRECONDITION,
                 "libloom's API version " + std::to_string(loom_api_version()) +
                     " is not this header's " +
                     std::to_string(LOOM_API_VERSION));
      return nullptr;
    }
    std::vector<const char*> names;
    for (const std::string& p : plugins) names.push_back(p.c_str());
    LoomModel* model = nullptr;
    s = Status(loom_model_load(
        model_dir.c_str(), names.data(), names.size(),
        plugin_path.empty() ? nullptr : plugin_path.c_str(), &model));
    if (!s.ok()) return nullptr;
    std::unique_ptr<Predictor> predictor(new Predictor(model));
    size_t k = 0;
    s = Status(loom_model_num_classes(model, &k));
    for (size_t i = 0; s.ok() && i < k; ++i) {
      const char* name = nullptr;
      s = Status(loom_model_class_name(model, i, &name));
      if (s.ok()) predictor->class_names_.emplace_back(name);
    }
    return s.ok() ? std::move(predictor) : nullptr;
  }

  ~Predictor() { loom_model_free(model_); }
  Predictor(const Predictor&) = delete;
  Predictor& operator=(const Predictor&) = delete;

  const std::vector<std::string>& class_names() const { return class_names_; }

  Status Predict(const std::vector<std::string>& texts,
                 std::vector<Prediction>* out) const {
    std::vector<const char*> pointers;
    pointers.reserve(texts.size());
    for (const std::string& t : texts) pointers.push_back(t.c_str());
    std::vector<float> probabilities(texts.size() * class_names_.size());
    std::vector<int32_t> labels(texts.size());
    Status s(loom_predict_texts(model_, pointers.data(), pointers.size(),
                                probabilities.data(), labels.data()));
    if (s.ok()) Fill(probabilities, labels, out);
    return s;
  }

  // `ids` holds `num_rows` rows of `length` token ids, row-major.
  Status PredictIds(const std::vector<int32_t>& ids, size_t num_rows,
                    size_t length, std::vector<Prediction>* out) const {
    if (ids.size() != num_rows * length) {
      return Status(LOOM_INVALID_ARGUMENT,
                    "PredictIds: ids.size() is not num_rows * length");
    }
    std::vector<float> probabilities(num_rows * class_names_.size());
    std::vector<int32_t> labels(num_rows);
    Status s(loom_predict_ids(model_, ids.data(), num_rows, length,
                              probabilities.data(), labels.data()));
    if (s.ok()) Fill(probabilities, labels, out);
    return s;
  }

 private:
  explicit Predictor(LoomModel* model) : model_(model) {}

  void Fill(const std::vector<float>& probabilities,
            const std::vector<int32_t>& labels,
            std::vector<Prediction>* out) const {
    const size_t k = class_names_.size();
    out->assign(labels.size(), Prediction());
    for (size_t i = 0; i < labels.size(); ++i) {
      Prediction& p = (*out)[i];
      p.label = labels[i];
      p.label_name = class_names_[static_cast<size_t>(labels[i])];
      p.probabilities.assign(probabilities.begin() + i * k,
                             probabilities.begin() + (i + 1) * k);
    }
  }

  LoomModel* model_;
  std::vector<std::string> class_names_;
};

}  // namespace loom::api

#endif  // LOOM_CAPI_LOOM_HPP_
