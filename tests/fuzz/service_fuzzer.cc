// Fuzz target: the HTTP service's request handler (serving/service.h),
// as tools/serve calls it for every request. The input's first line is
// "<METHOD> <PATH>", the rest the body. The model is a small one made at
// start (Embedding -> GlobalAveragePooling1D -> Dense, seeded weights),
// with tight limits so large inputs reach the limit checks. Checks what the
// service promises: every answer is a JSON object (or the metrics text)
// with a status in 200-599, errors carry "error", and predictions match
// the instances in number, and so do explanations.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "framework/data/text.h"
#include "framework/file_util.h"
#include "framework/model_io.h"
#include "framework/training/model.h"
#include "framework/training/saved_model.h"
#include "framework/training/train_job.h"
#include "nlohmann/json.hpp"
#include "serving/service.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

constexpr char kModel[] = R"pb(
  name: "fuzz"
  features_input: "tokens"
  labels_input: "label"
  prediction: "probability"
  loss: "loss"
  metric: "accuracy"
  dataset { num_words: 20 max_len: 8 class_name: "neg" class_name: "pos" }
  training {
    optimizer { adam {} }
    batch_size: 4
  }
  graph {
    input {
      name: "tokens"
      dtype: DT_INT32
      shape { dim: -1 dim: 8 }
    }
    input {
      name: "label"
      dtype: DT_FLOAT
      shape { dim: -1 dim: 1 }
    }
    parameter {
      name: "table"
      shape { dim: 20 dim: 4 }
      initializer { uniform { minval: -0.5 maxval: 0.5 } }
    }
    parameter {
      name: "w"
      shape { dim: 4 dim: 1 }
      initializer { glorot_uniform {} }
    }
    parameter {
      name: "b"
      shape { dim: 1 }
      initializer { zeros {} }
    }
    node { name: "emb" op: "Embedding" input: "tokens" input: "table" }
    node { name: "avg" op: "GlobalAveragePooling1D" input: "emb" }
    node {
      name: "probability"
      op: "Dense"
      input: "avg"
      input: "w"
      input: "b"
      attr {
        key: "units"
        value { i: 1 }
      }
      attr {
        key: "activation"
        value { s: "sigmoid" }
      }
    }
    node {
      name: "loss"
      op: "BinaryCrossentropy"
      input: "probability"
      input: "label"
    }
    node {
      name: "accuracy"
      op: "BinaryAccuracy"
      input: "probability"
      input: "label"
    }
  }
)pb";

loom::serving::Service* MakeService() {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string dir = std::string(tmp != nullptr ? tmp : "/tmp") +
                          "/loom_service_fuzzer_" + std::to_string(::getpid());
  const std::string file = dir + ".pbtxt";
  loom::OpRegistry registry;
  if (!loom::WriteFileAtomically(file, kModel).ok() ||
      !loom::PrepareRegistry({}, &registry).ok()) {
    loom::fuzz::Fail("cannot write the model file");
  }
  auto model_file = loom::ReadModelFile(file);
  if (!model_file.ok()) loom::fuzz::Fail(model_file.status().ToString());
  auto model = loom::Model::Create(*model_file, registry, 1);
  auto vocabulary =
      loom::data::Vocabulary::FromWords({"good", "bad", "not", "film"}, 20);
  if (!model.ok() || !vocabulary.ok() ||
      !loom::SaveModel(**model, *vocabulary, dir).ok()) {
    loom::fuzz::Fail("cannot save the model folder");
  }
  loom::serving::ServiceOptions options;
  options.model_path = dir;
  options.max_body_bytes = 4096;
  options.max_instances = 16;
  options.max_text_bytes = 256;
  options.max_explain_instances = 4;
  options.max_explain_steps = 32;
  auto service = loom::serving::Service::Create(options);
  if (!service.ok()) loom::fuzz::Fail(service.status().ToString());
  return service->release();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static loom::serving::Service* service = MakeService();
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t newline = input.find('\n');
  const std::string_view first = input.substr(0, newline);
  const std::string_view body =
      newline == std::string_view::npos ? "" : input.substr(newline + 1);
  const size_t space = first.find(' ');
  const std::string_view method = first.substr(0, space);
  const std::string_view path =
      space == std::string_view::npos ? "" : first.substr(space + 1);
  const loom::serving::HttpResponse r = service->Handle(method, path, body);
  if (r.status < 200 || r.status > 599) loom::fuzz::Fail("status out of range");
  if (path == "/metrics") return 0;
  const auto json = nlohmann::json::parse(r.body, nullptr, false);
  if (json.is_discarded() || !json.is_object()) {
    loom::fuzz::Fail("the answer is not a JSON object");
  }
  if (r.status >= 400 && !json.contains("error")) {
    loom::fuzz::Fail("an error answer without \"error\"");
  }
  if (r.status == 200 && json.contains("predictions")) {
    const auto request = nlohmann::json::parse(body, nullptr, false);
    if (request.is_discarded() || !request.contains("instances") ||
        request["instances"].size() != json["predictions"].size()) {
      loom::fuzz::Fail("predictions do not match the instances");
    }
  }
  if (r.status == 200 && json.contains("explanations")) {
    const auto request = nlohmann::json::parse(body, nullptr, false);
    if (request.is_discarded() || !request.contains("instances") ||
        request["instances"].size() != json["explanations"].size()) {
      loom::fuzz::Fail("explanations do not match the instances");
    }
  }
  return 0;
}
