// Load test of a running Loom service, loopback only, bounded in requests
// and time:
//   bazel run //tools:load_test -- --port=8501 --model=bilstm
//       --concurrency=1,8,64 --requests=4000 --seconds=20
// At each concurrency, that many client threads send one-text predict
// requests (texts cycled from a fixed list) over keep-alive connections
// until --requests were sent or --seconds passed; prints requests/s,
// p50/p95/p99 latency and the failed requests.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "httplib.h"

ABSL_FLAG(std::string, host, "127.0.0.1",
          "The service's address: loopback only (127.0.0.0/8 or ::1).");
ABSL_FLAG(int, port, 8501, "The service's port.");
ABSL_FLAG(std::string, model, "", "The model's name in URLs.");
ABSL_FLAG(std::vector<std::string>, concurrency,
          std::vector<std::string>({"1", "8", "64"}),
          "Client threads, one run per value.");
ABSL_FLAG(int, requests, 4000, "Requests per run at most.");
ABSL_FLAG(double, seconds, 20, "Seconds per run at most.");

namespace {

const char* const kTexts[] = {
    "A wonderful film, the acting was superb and the story moving.",
    "Dreadful. The plot made no sense and I left halfway through.",
    "Not bad at all, better than I expected from the trailer.",
    "The ending ruined what had been a good film until then.",
    "I would not recommend it to anyone, a waste of two hours.",
    "Great performances and a clever script: see it.",
};

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(q * v.size()));
  return v[i];
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Load-tests a running Loom service on this machine.\n"
      "  bazel run //tools:load_test -- --port=8501 --model=NAME");
  absl::ParseCommandLine(argc, argv);
  const std::string host = absl::GetFlag(FLAGS_host);
  if (host.rfind("127.", 0) != 0 && host != "localhost" && host != "::1") {
    std::cerr << "load_test: --host must be a loopback address, got " << host
              << "\n";
    return 2;
  }
  const std::string model = absl::GetFlag(FLAGS_model);
  if (model.empty()) {
    std::cerr << "load_test: --model (the name in URLs) is required\n";
    return 2;
  }
  const std::string path = absl::StrCat("/v1/models/", model, ":predict");
  const int port = absl::GetFlag(FLAGS_port);
  const int max_requests = std::max(1, absl::GetFlag(FLAGS_requests));
  const double max_seconds = absl::GetFlag(FLAGS_seconds);
  int total_failed = 0;
  std::printf("%-11s %9s %10s %9s %9s %9s %7s\n", "concurrency", "requests",
              "req/s", "p50 ms", "p95 ms", "p99 ms", "failed");
  for (const std::string& c : absl::GetFlag(FLAGS_concurrency)) {
    const int threads = std::max(1, std::atoi(c.c_str()));
    std::atomic<int> issued{0};
    std::atomic<int> failed{0};
    std::vector<std::vector<double>> latencies(threads);
    const auto start = std::chrono::steady_clock::now();
    const auto deadline =
        start + std::chrono::duration<double>(std::max(0.1, max_seconds));
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        httplib::Client client(host, port);
        client.set_keep_alive(true);
        client.set_tcp_nodelay(true);
        client.set_read_timeout(30, 0);
        while (std::chrono::steady_clock::now() < deadline) {
          const int k = issued.fetch_add(1);
          if (k >= max_requests) break;
          const std::string body =
              absl::StrCat("{\"instances\": [\"", kTexts[k % 6], "\"]}");
          const auto sent = std::chrono::steady_clock::now();
          auto res = client.Post(path.c_str(), body, "application/json");
          const double ms = std::chrono::duration<double, std::milli>(
                                std::chrono::steady_clock::now() - sent)
                                .count();
          if (!res || res->status != 200) {
            if (failed.fetch_add(1) < 3) {
              std::fprintf(
                  stderr, "load_test: request failed: %s\n",
                  res ? absl::StrCat("HTTP ", res->status, ": ", res->body)
                            .c_str()
                      : httplib::to_string(res.error()).c_str());
            }
          } else {
            latencies[t].push_back(ms);
          }
        }
      });
    }
    for (std::thread& t : pool) t.join();
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
    std::vector<double> all;
    for (const auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
    const int done = static_cast<int>(all.size()) + failed.load();
    std::printf("%-11d %9d %10.0f %9.2f %9.2f %9.2f %7d\n", threads, done,
                all.size() / elapsed, Percentile(all, 0.50),
                Percentile(all, 0.95), Percentile(all, 0.99), failed.load());
    total_failed += failed.load();
  }
  return total_failed == 0 ? 0 : 1;
}
