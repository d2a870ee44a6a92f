// The C API (loom.h) over loom::Predictor. Every entry point catches
// everything, so no C++ exception crosses the boundary.
#include "capi/loom.h"

#include <dlfcn.h>

#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "framework/inference/predictor.h"
#include "framework/training/saved_model.h"
#include "framework/training/train_job.h"

struct LoomStatus {
  LoomStatusCode code;
  std::string message;
};

struct LoomModel {
  std::unique_ptr<loom::Predictor> predictor;
};

namespace {

LoomStatusCode ToCode(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return LOOM_OK;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return LOOM_INVALID_ARGUMENT;
    case absl::StatusCode::kNotFound:
      return LOOM_NOT_FOUND;
    case absl::StatusCode::kFailedPrecondition:
      return LOOM_FAILED_PRECONDITION;
    case absl::StatusCode::kResourceExhausted:
      return LOOM_RESOURCE_EXHAUSTED;
    case absl::StatusCode::kDataLoss:
      return LOOM_DATA_LOSS;
    default:
      return LOOM_INTERNAL;
  }
}

LoomStatus* MakeStatus(LoomStatusCode code, std::string message) {
  // nothrow: a status must be makeable when memory is short.
  LoomStatus* s = new (std::nothrow) LoomStatus;
  if (s == nullptr) return nullptr;  // Cannot say more.
  s->code = code;
  try {
    s->message = std::move(message);
  } catch (...) {
  }
  return s;
}

LoomStatus* FromStatus(const absl::Status& status) {
  if (status.ok()) return nullptr;
  return MakeStatus(ToCode(status.code()), std::string(status.message()));
}

// The folder of plugins installed beside this library (tools/install.sh
// puts them in <libdir>/loom/plugins), or "" if it cannot be told.
std::string InstalledPluginDir() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&loom_api_version), &info) == 0 ||
      info.dli_fname == nullptr) {
    return "";
  }
  const std::string path = info.dli_fname;
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return "";
  return path.substr(0, slash) + "/loom/plugins";
}

LoomStatus* Invalid(const char* call, const std::string& what) {
  return MakeStatus(LOOM_INVALID_ARGUMENT, absl::StrCat(call, ": ", what));
}

// Runs `body` (returning LoomStatus*), turning any exception into a status.
template <typename Body>
LoomStatus* Guard(const char* call, Body body) {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return MakeStatus(LOOM_RESOURCE_EXHAUSTED,
                      absl::StrCat(call, ": out of memory"));
  } catch (const std::exception& e) {
    return MakeStatus(LOOM_INTERNAL, absl::StrCat(call, ": ", e.what()));
  } catch (...) {
    return MakeStatus(LOOM_INTERNAL, absl::StrCat(call, ": unknown error"));
  }
}

void CopyOut(const std::vector<loom::Prediction>& predictions,
             size_t num_classes, float* probabilities, int32_t* labels) {
  for (size_t i = 0; i < predictions.size(); ++i) {
    std::memcpy(probabilities + i * num_classes,
                predictions[i].probabilities.data(),
                num_classes * sizeof(float));
    if (labels != nullptr) labels[i] = predictions[i].label;
  }
}

}  // namespace

extern "C" {

uint32_t loom_api_version(void) { return LOOM_API_VERSION; }

const char* loom_version_string(void) { return "0.1.0"; }

LoomStatusCode loom_status_code(const LoomStatus* status) {
  return status == nullptr ? LOOM_OK : status->code;
}

const char* loom_status_message(const LoomStatus* status) {
  return status == nullptr ? "" : status->message.c_str();
}

void loom_status_free(LoomStatus* status) { delete status; }

LoomStatus* loom_model_load(const char* model_dir, const char* const* plugins,
                            size_t num_plugins, const char* plugin_path,
                            LoomModel** out) {
  constexpr char kCall[] = "loom_model_load";
  return Guard(kCall, [&]() -> LoomStatus* {
    if (out == nullptr) return Invalid(kCall, "out is NULL");
    *out = nullptr;
    if (model_dir == nullptr || model_dir[0] == '\0') {
      return Invalid(kCall, "model_dir is NULL or empty");
    }
    if (num_plugins > 0 && plugins == nullptr) {
      return Invalid(kCall, "plugins is NULL but num_plugins > 0");
    }
    std::vector<std::string> plugin_list;
    for (size_t i = 0; i < num_plugins; ++i) {
      if (plugins[i] == nullptr) {
        return Invalid(kCall, absl::StrCat("plugins[", i, "] is NULL"));
      }
      plugin_list.emplace_back(plugins[i]);
    }
    auto file = loom::ReadSavedModelFile(model_dir);
    if (!file.ok()) return FromStatus(file.status());
    auto registry = std::make_unique<loom::OpRegistry>();
    loom::PluginSearch search;
    if (plugin_path != nullptr) search.plugin_path = plugin_path;
    search.shipped_dir = InstalledPluginDir();
    if (auto s = loom::PrepareRegistryForModelDir(model_dir, *file, plugin_list,
                                                  search, registry.get());
        !s.ok()) {
      return FromStatus(s);
    }
    auto predictor = loom::Predictor::Load(model_dir, std::move(registry));
    if (!predictor.ok()) return FromStatus(predictor.status());
    auto* model = new LoomModel;
    model->predictor = *std::move(predictor);
    *out = model;
    return nullptr;
  });
}

void loom_model_free(LoomModel* model) { delete model; }

LoomStatus* loom_model_num_classes(const LoomModel* model, size_t* out) {
  if (model == nullptr || out == nullptr) {
    return Invalid("loom_model_num_classes", "model or out is NULL");
  }
  *out = model->predictor->class_names().size();
  return nullptr;
}

LoomStatus* loom_model_class_name(const LoomModel* model, size_t index,
                                  const char** out) {
  if (model == nullptr || out == nullptr) {
    return Invalid("loom_model_class_name", "model or out is NULL");
  }
  const auto& names = model->predictor->class_names();
  if (index >= names.size()) {
    return Invalid("loom_model_class_name",
                   absl::StrCat("index ", index, " is not below the ",
                                names.size(), " classes"));
  }
  *out = names[index].c_str();
  return nullptr;
}

LoomStatus* loom_model_max_len(const LoomModel* model, int64_t* out) {
  if (model == nullptr || out == nullptr) {
    return Invalid("loom_model_max_len", "model or out is NULL");
  }
  *out = model->predictor->max_len();
  return nullptr;
}

LoomStatus* loom_model_num_words(const LoomModel* model, int64_t* out) {
  if (model == nullptr || out == nullptr) {
    return Invalid("loom_model_num_words", "model or out is NULL");
  }
  *out = model->predictor->num_words();
  return nullptr;
}

LoomStatus* loom_predict_texts(const LoomModel* model, const char* const* texts,
                               size_t num_texts, float* probabilities,
                               int32_t* labels) {
  constexpr char kCall[] = "loom_predict_texts";
  return Guard(kCall, [&]() -> LoomStatus* {
    if (model == nullptr) return Invalid(kCall, "model is NULL");
    if (num_texts == 0) return nullptr;
    if (texts == nullptr || probabilities == nullptr) {
      return Invalid(kCall, "texts or probabilities is NULL");
    }
    std::vector<std::string> list;
    list.reserve(num_texts);
    for (size_t i = 0; i < num_texts; ++i) {
      if (texts[i] == nullptr) {
        return Invalid(kCall, absl::StrCat("texts[", i, "] is NULL"));
      }
      list.emplace_back(texts[i]);
    }
    auto predictions = model->predictor->Predict(list);
    if (!predictions.ok()) return FromStatus(predictions.status());
    CopyOut(*predictions, model->predictor->class_names().size(), probabilities,
            labels);
    return nullptr;
  });
}

LoomStatus* loom_predict_ids(const LoomModel* model, const int32_t* ids,
                             size_t num_rows, size_t length,
                             float* probabilities, int32_t* labels) {
  constexpr char kCall[] = "loom_predict_ids";
  return Guard(kCall, [&]() -> LoomStatus* {
    if (model == nullptr) return Invalid(kCall, "model is NULL");
    if (num_rows == 0) return nullptr;
    if (ids == nullptr || probabilities == nullptr) {
      return Invalid(kCall, "ids or probabilities is NULL");
    }
    auto predictions = model->predictor->PredictIds(
        ids, static_cast<int64_t>(num_rows), static_cast<int64_t>(length));
    if (!predictions.ok()) return FromStatus(predictions.status());
    CopyOut(*predictions, model->predictor->class_names().size(), probabilities,
            labels);
    return nullptr;
  });
}

}  // extern "C"
