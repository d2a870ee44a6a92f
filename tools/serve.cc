// Serves a trained model over HTTP with TensorFlow Serving's REST API
// (serving/service.h):
//   bazel run //tools:serve -- --model=runs/<run>/model [--port=8501]
//   curl -d '{"instances": ["A wonderful film."]}'
//       localhost:8501/v1/models/<name>:predict
// and :explain for integrated-gradient attributions of each word.
// --model is a model folder or a folder of numbered versions; a newer
// version is picked up every --poll_seconds and on SIGHUP. SIGTERM or
// SIGINT: stop accepting, finish the requests in flight, exit 0.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>

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
#include "absl/strings/str_format.h"
#include "absl/synchronization/notification.h"
#include "framework/training/threads.h"
#include "framework/training/user_path.h"
#include "httplib.h"
#include "serving/service.h"
#include "tools/flag_help.h"

ABSL_FLAG(std::string, model, "",
          "A model folder written by train, or a folder of numbered version "
          "folders (1/, 2/, ...) of which the highest is served.");
ABSL_FLAG(std::string, name, "",
          "The model's name in URLs (default: the model file's name).");
ABSL_FLAG(std::string, host, "127.0.0.1", "Address to listen on.");
ABSL_FLAG(int, port, 8501, "Port to listen on (0: any free port).");
ABSL_FLAG(int, max_batch_size, 64,
          "Dynamic batching: requests joined into one run of the model, up "
          "to this many texts (0: no batching).");
ABSL_FLAG(int64_t, batch_timeout_micros, 1000,
          "Dynamic batching: how long the first waiting request waits for "
          "others to join it.");
ABSL_FLAG(int64_t, max_body_bytes, 1 << 20,
          "Larger request bodies are refused (413).");
ABSL_FLAG(int, max_instances, 1000, "Texts per request at most (else 400).");
ABSL_FLAG(int64_t, max_text_bytes, 100000,
          "Bytes per text at most (else 400).");
ABSL_FLAG(int, max_explain_instances, 16,
          "Texts per :explain request at most (else 400).");
ABSL_FLAG(int, max_explain_steps, 200,
          "Integration steps per :explain request at most (else 400).");
ABSL_FLAG(int, http_threads, 128,
          "Threads answering HTTP requests; each keep-alive connection holds "
          "one while open, so have as many as concurrent clients.");
ABSL_FLAG(int, poll_seconds, 5,
          "How often to look for a newer model version (0: only on SIGHUP).");
ABSL_FLAG(bool, log_requests, true,
          "Log one line per request (method, path, status, milliseconds).");
ABSL_FLAG(std::vector<std::string>, plugin, {}, loom::tools::kPluginHelp);
ABSL_FLAG(std::string, plugin_path, "", loom::tools::kPluginPathHelp);
ABSL_FLAG(int, threads, 0, loom::tools::kThreadsHelp);

namespace {

// Debian's libcpp-httplib 0.11 listens with a backlog of 5
// (CPPHTTPLIB_LISTEN_BACKLOG, compiled into the library), so a burst of
// new connections overflows the accept queue: Linux then drops the
// handshake's last ACK, and clients that already sent a request see the
// connection fail (64 clients connecting at once lost a few requests that
// way). httplib does not expose its socket, so find the listening socket
// on `port` and listen() on it again with a larger backlog, which Linux
// allows on a listening socket.
void WidenListenBacklog(int port) {
  for (int fd = 3; fd < 1024; ++fd) {
    int listening = 0;
    socklen_t len = sizeof(listening);
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 ||
        !listening) {
      continue;
    }
    sockaddr_storage addr;
    socklen_t addr_len = sizeof(addr);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &addr_len) != 0) {
      continue;
    }
    int bound = -1;
    if (addr.ss_family == AF_INET) {
      bound = ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
    } else if (addr.ss_family == AF_INET6) {
      bound = ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
    }
    if (bound == port) ::listen(fd, 1024);
  }
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Serves a trained Loom model over HTTP (TensorFlow Serving's REST "
      "API).\n  bazel run //tools:serve -- --model=runs/<run>/model");
  absl::ParseCommandLine(argc, argv);
  const std::string model = absl::GetFlag(FLAGS_model);
  if (model.empty()) {
    std::cerr << "serve: --model is required; see --help\n";
    return 2;
  }
  // The signals are taken by one thread (sigwait), so block them in every
  // thread, which inherit this mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  loom::SetThreads(absl::GetFlag(FLAGS_threads));
  loom::serving::ServiceOptions options;
  options.model_path = loom::UserPath(model);
  options.name = absl::GetFlag(FLAGS_name);
  options.predictor.max_batch_size = absl::GetFlag(FLAGS_max_batch_size);
  options.predictor.batch_timeout_micros =
      absl::GetFlag(FLAGS_batch_timeout_micros);
  options.max_body_bytes = absl::GetFlag(FLAGS_max_body_bytes);
  options.max_instances = absl::GetFlag(FLAGS_max_instances);
  options.max_text_bytes = absl::GetFlag(FLAGS_max_text_bytes);
  options.max_explain_instances = absl::GetFlag(FLAGS_max_explain_instances);
  options.max_explain_steps = absl::GetFlag(FLAGS_max_explain_steps);
  options.plugins = absl::GetFlag(FLAGS_plugin);
  options.plugin_path = absl::GetFlag(FLAGS_plugin_path);
  auto service = loom::serving::Service::Create(options);
  if (!service.ok()) {
    std::cerr << "serve: " << service.status().message() << "\n";
    return 1;
  }
  loom::serving::Service& svc = **service;

  httplib::Server server;
  const int http_threads = std::max(1, absl::GetFlag(FLAGS_http_threads));
  server.new_task_queue = [http_threads] {
    return new httplib::ThreadPool(static_cast<size_t>(http_threads));
  };
  // Answers go out at once (no Nagle delay), and clients keep their
  // connections for many requests.
  server.set_tcp_nodelay(true);
  server.set_keep_alive_max_count(100000);
  server.set_payload_max_length(
      static_cast<size_t>(absl::GetFlag(FLAGS_max_body_bytes)));
  const bool log_requests = absl::GetFlag(FLAGS_log_requests);
  const auto answer = [&svc, log_requests](const httplib::Request& req,
                                           httplib::Response& res) {
    const auto start = std::chrono::steady_clock::now();
    loom::serving::HttpResponse r = svc.Handle(req.method, req.path, req.body);
    res.status = r.status;
    res.set_content(r.body, r.content_type.c_str());
    if (log_requests) {
      // One line per request: method, path, status, milliseconds.
      std::fprintf(stderr, "%s %s %d %.2f ms\n", req.method.c_str(),
                   req.path.c_str(), r.status,
                   std::chrono::duration<double, std::milli>(
                       std::chrono::steady_clock::now() - start)
                       .count());
    }
  };
  server.Get(".*", answer);
  server.Post(".*", answer);
  server.Put(".*", answer);
  server.Delete(".*", answer);
  // Errors httplib finds itself (a body over the limit, a bad request
  // line) get the same JSON error body.
  server.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;
    const char* what = res.status == 413   ? "request body too large"
                       : res.status == 400 ? "malformed HTTP request"
                                           : "HTTP error";
    loom::serving::HttpResponse r =
        loom::serving::Service::Error(res.status, what);
    res.set_content(r.body, r.content_type.c_str());
  });

  const std::string host = absl::GetFlag(FLAGS_host);
  int port = absl::GetFlag(FLAGS_port);
  if (port == 0) {
    port = server.bind_to_any_port(host.c_str());
  } else if (!server.bind_to_port(host.c_str(), port)) {
    port = -1;
  }
  if (port < 0) {
    std::cerr << "serve: cannot listen on " << host << ":"
              << absl::GetFlag(FLAGS_port) << "\n";
    return 1;
  }
  WidenListenBacklog(port);
  std::printf("Serving %s version %lld on http://%s:%d/v1/models/%s\n",
              svc.name().c_str(), static_cast<long long>(svc.version()),
              host.c_str(), port, svc.name().c_str());
  std::fflush(stdout);

  absl::Notification stopping;
  std::thread signal_thread([&] {
    while (true) {
      int sig = 0;
      if (sigwait(&signals, &sig) != 0) continue;
      if (sig == SIGHUP) {
        absl::Status s = svc.Reload();
        std::fprintf(stderr, "serve: SIGHUP: %s (version %lld)\n",
                     s.ok() ? "reloaded" : std::string(s.message()).c_str(),
                     static_cast<long long>(svc.version()));
        continue;
      }
      std::fprintf(stderr, "serve: %s: finishing requests in flight\n",
                   sig == SIGTERM ? "SIGTERM" : "SIGINT");
      stopping.Notify();
      server.stop();
      return;
    }
  });
  std::thread poll_thread([&] {
    const int seconds = absl::GetFlag(FLAGS_poll_seconds);
    if (seconds <= 0) return;
    while (!stopping.WaitForNotificationWithTimeout(absl::Seconds(seconds))) {
      const int64_t before = svc.version();
      absl::Status s = svc.Reload();
      if (!s.ok()) {
        std::fprintf(stderr, "serve: %s\n", std::string(s.message()).c_str());
      } else if (svc.version() != before) {
        std::fprintf(stderr, "serve: now serving version %lld\n",
                     static_cast<long long>(svc.version()));
      }
    }
  });
  const bool listened = server.listen_after_bind();
  // listen returns once stop() was called and the requests in flight were
  // answered (httplib joins its worker threads).
  if (!stopping.HasBeenNotified()) {
    stopping.Notify();
    pthread_kill(signal_thread.native_handle(), SIGTERM);
  }
  signal_thread.join();
  poll_thread.join();
  std::fprintf(stderr, "serve: stopped\n");
  return listened || stopping.HasBeenNotified() ? 0 : 1;
}
