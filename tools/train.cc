// Trains a model definition:
//   bazel run //tools:train -- --graph=models/bilstm.pbtxt
// Every setting of the .pbtxt can be overridden by a flag; --help lists them.
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "framework/distributed/communicator.h"
#include "framework/training/progress.h"
#include "framework/training/train_job.h"
#include "tools/data_flags.h"
#include "tools/flag_help.h"
#include "tools/setting_flags.h"

ABSL_FLAG(std::string, graph, "", "Model definition (.pbtxt) to train.");
ABSL_FLAG(std::string, resume, "",
          "Continue a killed or interrupted run: the output folder of a "
          "tools/train run. It resumes from the newest intact checkpoint "
          "(checkpoints/resume.ckpt) with the run's config.pbtxt and ends as "
          "the uninterrupted run would have (same --threads); only --epochs, "
          "--threads, --checkpoint_every and the plugin and progress flags "
          "may be given with it.");
ABSL_FLAG(int64_t, checkpoint_every, 0,
          "Also write a resume checkpoint every this many training steps "
          "(0: only at the end of every epoch).");
LOOM_DATA_FLAGS()
ABSL_FLAG(std::string, output_dir, "",
          "Where results go (default runs/<model>-<timestamp>).");
ABSL_FLAG(std::vector<std::string>, plugin, {}, loom::tools::kPluginHelp);
ABSL_FLAG(std::string, plugin_path, "", loom::tools::kPluginPathHelp);
ABSL_FLAG(int, threads, 0, loom::tools::kThreadsHelp);
LOOM_SETTING_FLAGS_DEFINE()
ABSL_FLAG(std::vector<std::string>, set, {},
          "Override any other setting of the .pbtxt's dataset or training "
          "part by its path, comma-separated path=value pairs, e.g. "
          "--set=dataset.keep_punctuation=true,training.callback[0]."
          "early_stopping.min_delta=0.001 (see "
          "framework/training/config_set.h). The named flags (--epochs, "
          "--batch_size, ...) are shortcuts for such paths and win over "
          "--set.");
ABSL_FLAG(std::string, lstm_precision, "",
          "Set the precision of every LSTM node: f32 or bf16 (the fused "
          "kernel's oneDNN primitives on bf16 data, weights and gradients "
          "kept in f32; needs a CPU with bf16 support). Kept in the trained "
          "model. Default: as the model file says (f32).");
ABSL_FLAG(bool, copy_plugins, true,
          "Copy the op plugins the model uses into <output_dir>/model/plugins/ "
          "so the model folder loads without --plugin anywhere.");
ABSL_FLAG(bool, profile, false,
          "Print the time spent in each node after training.");
ABSL_FLAG(bool, allreduce_overlap, true,
          "Under mpirun: sum each bucket of gradients over the ranks as soon "
          "as the backward pass has finished them, overlapping the "
          "communication with the rest of the backward pass (the same "
          "result as without).");
ABSL_FLAG(std::string, progress, "auto",
          "Progress display: auto, bar (redrawn) or lines (one per epoch).");

namespace {

// SIGINT and SIGTERM ask training to stop after the current step and write
// a resume checkpoint; a second one ends the process at once. They are
// blocked in every thread (main blocks them before any other thread
// starts, MPI's and OpenMP's included) and taken by one thread in
// sigwait(), so no system call of the training or of MPI is ever
// interrupted by them. (With a plain handler, a SIGTERM to one rank under
// mpirun was followed by heap corruption on that rank in 2 of 6 runs of
// tests/distributed/resume_test; with this, 0 of 8. The exact call it
// interrupted was not found.)
std::atomic<bool> stop_requested{false};
std::atomic<int> stop_signal{0};

sigset_t StopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

void WaitForStopSignals() {
  const sigset_t set = StopSignals();
  while (true) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) continue;
    if (stop_requested.load()) {  // The second: end now, by the signal.
      std::signal(sig, SIG_DFL);
      pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
      std::raise(sig);
      return;
    }
    stop_signal.store(sig);
    stop_requested.store(true);
    static const char kMessage[] =
        "\ntrain: stopping after this step to write a resume checkpoint "
        "(again to stop at once)\n";
    [[maybe_unused]] ssize_t n =
        ::write(STDERR_FILENO, kMessage, sizeof(kMessage) - 1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  {
    const sigset_t stop = StopSignals();
    pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  }
  absl::SetProgramUsageMessage(
      "Trains a Loom model definition.\n"
      "  bazel run //tools:train -- --graph=models/bilstm.pbtxt [flags]");
  absl::ParseCommandLine(argc, argv);
  // A closed standard output would lose the results, and the next file
  // opened would take its descriptor and receive them.
  if (::fcntl(STDOUT_FILENO, F_GETFD) == -1) {
    std::cerr << "train: standard output is closed; redirect it to a file "
                 "(or /dev/null)\n";
    return 2;
  }
  loom::TrainJobOptions options;
  options.graph = absl::GetFlag(FLAGS_graph);
  options.resume_dir = absl::GetFlag(FLAGS_resume);
  options.checkpoint_every = absl::GetFlag(FLAGS_checkpoint_every);
  if (options.graph.empty() && options.resume_dir.empty()) {
    std::cerr << "train: --graph is required (e.g. "
                 "--graph=models/bilstm.pbtxt), or --resume=RUN_DIR to "
                 "continue a run; see --help\n";
    return 2;
  }
  options.data_flags = ReadDataFlags();
  options.output_dir = absl::GetFlag(FLAGS_output_dir);
  options.plugins = absl::GetFlag(FLAGS_plugin);
  options.plugin_search.plugin_path = absl::GetFlag(FLAGS_plugin_path);
  options.plugin_search.shipped_dir = loom::ShippedPluginDir(argv[0]);
  options.threads = absl::GetFlag(FLAGS_threads);
  ReadSettingFlags(&options.overrides);
  options.overrides.set = absl::GetFlag(FLAGS_set);
  options.lstm_precision = absl::GetFlag(FLAGS_lstm_precision);
  const std::string progress = absl::GetFlag(FLAGS_progress);
  if (progress != "auto" && progress != "bar" && progress != "lines") {
    std::cerr << "train: --progress must be auto, bar or lines, got '"
              << progress << "'\n";
    return 2;
  }
  options.profile = absl::GetFlag(FLAGS_profile);
  options.copy_plugins = absl::GetFlag(FLAGS_copy_plugins);
  options.allreduce_overlap = absl::GetFlag(FLAGS_allreduce_overlap);
  options.interactive =
      progress == "bar" ||
      (progress == "auto" && loom::ProgressBar::StdoutIsTerminal());
  // Under mpirun: data-parallel over the ranks (docs/SCALING.md).
  auto comm = loom::distributed::Communicator::Create();
  if (!comm.ok()) {
    std::cerr << "train: " << comm.status().message() << "\n";
    return 1;
  }
  const bool ranks = (*comm)->size() > 1;
  if (ranks) options.comm = comm->get();
  // Under mpirun (which passes a signal to every rank) the ranks reduce
  // their stop requests at every step, so all stop at the same one and
  // rank 0 writes the resume checkpoint.
  options.stop_requested = &stop_requested;
  std::thread(WaitForStopSignals).detach();
  absl::Status status = loom::RunTrainJob(options, std::cout);
  std::cout.flush();
  if (ranks && absl::IsCancelled(status) && !(*comm)->is_root()) {
    return 128 + (stop_signal.load() != 0 ? stop_signal.load()
                                          : SIGINT);  // Rank 0 says.
  }
  if (ranks && !status.ok() && !absl::IsCancelled(status)) {
    // One rank's error ends every rank (the others may be waiting for it).
    std::cerr << "train: " << (*comm)->Where() << ": " << status.message()
              << "\n";
    std::cerr.flush();
    (*comm)->Abort(1);
  }
  if (absl::IsCancelled(status)) {
    std::cerr << "train: " << status.message() << "\n";
    return 128 + (stop_signal.load() != 0 ? stop_signal.load() : SIGINT);
  }
  if (!status.ok()) {
    std::cerr << "train: " << status.message() << "\n";
    return 1;
  }
  if (!std::cout) {
    std::cerr << "train: cannot write to standard output (closed, or a full "
                 "disk or /dev/full?): the progress and test results shown "
                 "there are lost; the run's files were written\n";
    return 1;
  }
  return 0;
}
