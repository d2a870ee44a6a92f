// Evaluates a trained model on the test split of its data set:
//   bazel run //tools:evaluate -- --model=runs/<run>/model
#include <fcntl.h>
#include <unistd.h>

#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "framework/training/evaluate_job.h"
#include "tools/data_flags.h"
#include "tools/flag_help.h"

ABSL_FLAG(std::string, model, "", "A model/ folder written by train.");
LOOM_DATA_FLAGS()
ABSL_FLAG(std::vector<std::string>, plugin, {}, loom::tools::kPluginHelp);
ABSL_FLAG(std::string, plugin_path, "", loom::tools::kPluginPathHelp);
ABSL_FLAG(int, threads, 0, loom::tools::kThreadsHelp);
ABSL_FLAG(int, batch_size, 0, "Batch size (0: the model's).");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Evaluates a trained Loom model on its test split.\n"
      "  bazel run //tools:evaluate -- --model=runs/<run>/model");
  absl::ParseCommandLine(argc, argv);
  // A closed standard output would lose the results, and the next file
  // opened would take its descriptor and receive them.
  if (::fcntl(STDOUT_FILENO, F_GETFD) == -1) {
    std::cerr << "evaluate: standard output is closed; redirect it to a file "
                 "(or /dev/null)\n";
    return 2;
  }
  loom::EvaluateJobOptions options;
  options.model_dir = absl::GetFlag(FLAGS_model);
  if (options.model_dir.empty()) {
    std::cerr << "evaluate: --model is required; see --help\n";
    return 2;
  }
  options.data_flags = ReadDataFlags();
  options.plugins = absl::GetFlag(FLAGS_plugin);
  options.plugin_search.plugin_path = absl::GetFlag(FLAGS_plugin_path);
  options.plugin_search.shipped_dir = loom::ShippedPluginDir(argv[0]);
  options.threads = absl::GetFlag(FLAGS_threads);
  options.batch_size = absl::GetFlag(FLAGS_batch_size);
  absl::Status status = loom::RunEvaluateJob(options, std::cout);
  std::cout.flush();
  if (!status.ok()) {
    std::cerr << "evaluate: " << status.message() << "\n";
    return 1;
  }
  if (!std::cout) {
    std::cerr << "evaluate: cannot write the results to standard output "
                 "(closed, or a full disk or /dev/full?)\n";
    return 1;
  }
  return 0;
}
