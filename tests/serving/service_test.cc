// The HTTP service (serving/service.h): every endpoint and error as a
// function call, then the real thing on a free loopback port with
// cpp-httplib: concurrent clients, a new model version picked up during
// traffic with no request failing, and a stop that finishes the requests
// in flight.
#include "serving/service.h"

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "tests/inference/test_models.h"

namespace loom::serving {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

std::string TmpDir() { return std::string(std::getenv("TEST_TMPDIR")); }

// A folder of versions: <dir>/1 (and more as tests add them).
std::string VersionsDir() {
  const std::string dir = TmpDir() + "/versions";
  testing::WriteTestModel("models/bilstm.pbtxt", dir + "/1", {}, 1);
  return dir;
}

std::unique_ptr<Service> MakeService(const std::string& path,
                                     ServiceOptions options = {}) {
  options.model_path = path;
  auto service = Service::Create(options);
  EXPECT_TRUE(service.ok()) << service.status();
  return service.ok() ? *std::move(service) : nullptr;
}

json Body(const HttpResponse& r) { return json::parse(r.body, nullptr, false); }

TEST(ServiceTest, PredictInTfServingShape) {
  auto service = MakeService(VersionsDir());
  ASSERT_NE(service, nullptr);
  EXPECT_EQ(service->name(), "bilstm");
  EXPECT_EQ(service->version(), 1);
  HttpResponse r = service->Handle(
      "POST", "/v1/models/bilstm:predict",
      R"({"instances": ["good film", {"text": "not good"}, "?!"]})");
  ASSERT_EQ(r.status, 200) << r.body;
  const json body = Body(r);
  ASSERT_EQ(body["predictions"].size(), 3u);
  for (const json& p : body["predictions"]) {
    const double neg = p["probabilities"]["negative"];
    const double pos = p["probabilities"]["positive"];
    EXPECT_NEAR(neg + pos, 1.0, 1e-6);
    EXPECT_EQ(p["label"], pos > neg ? "positive" : "negative");
  }
  EXPECT_EQ(body["predictions"][2]["warning"], "no words in the text");
  // The versioned path of the version served works too.
  r = service->Handle("POST", "/v1/models/bilstm/versions/1:predict",
                      R"({"instances": ["good"]})");
  EXPECT_EQ(r.status, 200) << r.body;
}

TEST(ServiceTest, StatusMetadataHealthAndMetrics) {
  auto service = MakeService(VersionsDir());
  ASSERT_NE(service, nullptr);
  HttpResponse r = service->Handle("GET", "/v1/models/bilstm", "");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(Body(r)["model_version_status"][0]["version"], "1");
  EXPECT_EQ(Body(r)["model_version_status"][0]["state"], "AVAILABLE");
  r = service->Handle("GET", "/v1/models/bilstm/metadata", "");
  ASSERT_EQ(r.status, 200);
  const json meta = Body(r)["metadata"];
  EXPECT_EQ(meta["classes"], json({"negative", "positive"}));
  EXPECT_EQ(meta["max_len"], 20);
  EXPECT_EQ(meta["vocabulary_size"], 11);
  EXPECT_THAT(meta["ops"].dump(), HasSubstr("\"LSTM\""));
  EXPECT_EQ(service->Handle("GET", "/healthz", "").status, 200);
  EXPECT_EQ(service->Handle("GET", "/readyz", "").status, 200);
  service->Handle("POST", "/v1/models/bilstm:predict", "{}");
  r = service->Handle("GET", "/metrics", "");
  ASSERT_EQ(r.status, 200);
  EXPECT_THAT(r.content_type, HasSubstr("text/plain"));
  EXPECT_THAT(r.body, HasSubstr("loom_requests_total{code=\"200\"} 4"));
  EXPECT_THAT(r.body, HasSubstr("loom_requests_total{code=\"400\"} 1"));
  EXPECT_THAT(r.body, HasSubstr("loom_request_duration_seconds_bucket"));
  EXPECT_THAT(r.body, HasSubstr("loom_model_version{model=\"bilstm\"} 1"));
  EXPECT_THAT(r.body, HasSubstr("loom_batch_requests_count"));
}

TEST(ServiceTest, BadRequestsGetJsonErrors) {
  ServiceOptions options;
  options.max_instances = 3;
  options.max_text_bytes = 50;
  options.max_body_bytes = 1000;
  auto service = MakeService(VersionsDir(), options);
  ASSERT_NE(service, nullptr);
  struct Case {
    const char* method;
    std::string path, body;
    int status;
    const char* message;
  };
  const std::string predict = "/v1/models/bilstm:predict";
  const std::vector<Case> cases = {
      {"POST", predict, "{not json", 400, "not valid JSON"},
      {"POST", predict, "[1, 2]", 400, "must be a JSON object"},
      {"POST", predict, R"({"inputs": ["a"]})", 400, "\"instances\" must be"},
      {"POST", predict, R"({"instances": []})", 400, "\"instances\" is empty"},
      {"POST", predict, R"({"instances": [1]})", 400,
       "instances[0] must be a string"},
      {"POST", predict, R"({"instances": [{"txt": "a"}]})", 400,
       "instances[0] has no \"text\""},
      {"POST", predict, R"({"instances": ["a", "b", "c", "d"]})", 400,
       "4 instances are over the limit of 3"},
      {"POST", predict,
       absl::StrCat(R"({"instances": [")", std::string(60, 'x'), R"("]})"), 400,
       "instances[0] is 60 bytes, over the limit of 50"},
      {"POST", predict, std::string(2000, ' '), 413, "over the limit of 1000"},
      {"POST", predict, "{\"instances\": [\"\xff\"]}", 400, "not valid JSON"},
      {"GET", predict, "", 405, "predict takes POST"},
      {"POST", "/v1/models/other:predict", "{}", 404,
       "model 'other' is not served"},
      {"POST", "/v1/models/bilstm/versions/7:predict", "{}", 404,
       "version 7 is not served (serving version 1)"},
      {"POST", "/v1/models/bilstm:classify", "{}", 404,
       "unknown method 'classify'"},
      {"GET", "/v1/models/bilstm/labels", "", 404, "no such path"},
      {"GET", "/v2/models", "", 404, "no such path"},
  };
  for (const Case& c : cases) {
    HttpResponse r = service->Handle(c.method, c.path, c.body);
    EXPECT_EQ(r.status, c.status) << c.path << " " << c.body;
    const json body = Body(r);
    ASSERT_TRUE(body.is_object()) << r.body;
    EXPECT_THAT(body["error"].get<std::string>(), HasSubstr(c.message))
        << c.path << " " << c.body;
  }
}

TEST(ServiceTest, AFolderWithoutAModelIsRefused) {
  const std::string empty = TmpDir() + "/empty_models";
  std::filesystem::create_directories(empty);
  ServiceOptions options;
  options.model_path = empty;
  EXPECT_THAT(std::string(Service::Create(options).status().message()),
              HasSubstr("neither a model folder"));
}

// ------------------------------------------------------- over HTTP --

TEST(HttpServiceTest, ConcurrentClientsReloadDuringTrafficAndDrain) {
  const std::string dir = TmpDir() + "/http_versions";
  testing::WriteTestModel("models/bilstm.pbtxt", dir + "/1", {}, 1);
  ServiceOptions options;
  options.predictor.max_batch_size = 32;
  options.predictor.batch_timeout_micros = 500;
  auto service = MakeService(dir, options);
  ASSERT_NE(service, nullptr);

  httplib::Server server;
  const auto answer = [&](const httplib::Request& req, httplib::Response& res) {
    HttpResponse r = service->Handle(req.method, req.path, req.body);
    res.status = r.status;
    res.set_content(r.body, r.content_type.c_str());
  };
  server.Get(".*", answer);
  server.Post(".*", answer);
  const int port = server.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread listener([&] { server.listen_after_bind(); });
  while (!server.is_running()) std::this_thread::yield();

  constexpr int kClients = 8;
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0}, saw_version_2{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      httplib::Client client("127.0.0.1", port);
      client.set_keep_alive(true);
      const std::vector<std::string> texts = testing::TestTexts(9);
      for (int i = 0; i < 400 && !stop; ++i) {
        const std::string body = absl::StrCat(
            "{\"instances\": [\"", texts[(c + i) % texts.size()], "\"]}");
        auto res =
            client.Post("/v1/models/bilstm:predict", body, "application/json");
        if (res && res->status == 200) {
          ++ok;
        } else {
          ++failed;
        }
        auto status = client.Get("/v1/models/bilstm");
        if (status &&
            status->body.find("\"version\":\"2\"") != std::string::npos) {
          ++saw_version_2;
        }
      }
    });
  }
  // A new version appears while the clients run.
  while (ok < 100) std::this_thread::yield();
  testing::WriteTestModel("models/bilstm.pbtxt", dir + "/2", {}, 2);
  ASSERT_TRUE(service->Reload().ok());
  EXPECT_EQ(service->version(), 2);
  while (saw_version_2 == 0 && failed == 0) std::this_thread::yield();
  stop = true;
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(failed, 0);
  EXPECT_GT(ok, 100);

  // A reload of a broken newer version keeps serving version 2.
  const std::string broken = dir + "/3";
  std::filesystem::create_directories(broken);
  std::filesystem::copy_file(dir + "/2/model.pbtxt", broken + "/model.pbtxt");
  EXPECT_THAT(std::string(service->Reload().message()),
              HasSubstr("still serving version 2"));
  EXPECT_EQ(service->version(), 2);

  // Stop while requests are in flight: each is answered, then listen ends.
  std::atomic<int> drained_ok{0}, drained_failed{0};
  std::vector<std::thread> last;
  for (int c = 0; c < 4; ++c) {
    last.emplace_back([&] {
      httplib::Client client("127.0.0.1", port);
      auto res = client.Post(
          "/v1/models/bilstm:predict",
          R"({"instances": ["good", "bad film", "not good", "great plot"]})",
          "application/json");
      if (res && res->status == 200) {
        ++drained_ok;
      } else if (res) {
        ++drained_failed;  // Answered with an error: that would be a bug.
      }
      // No response at all: the request came after the listener closed.
    });
  }
  for (std::thread& t : last) t.join();
  server.stop();
  listener.join();
  EXPECT_EQ(drained_ok, 4);
  EXPECT_EQ(drained_failed, 0);
}

}  // namespace
}  // namespace loom::serving
