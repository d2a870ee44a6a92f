// Classifies raw review text with a trained model:
//   bazel run //tools:predict -- --model=runs/<run>/model "A great film."
// Reviews come from the arguments, else --file (one per line), else stdin
// (one per line). Prints probability, label and the start of each review.
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "framework/training/train_job.h"
#include "tools/flag_help.h"

ABSL_FLAG(std::string, model, "", "A model/ folder written by train.");
ABSL_FLAG(std::string, file, "", "Read reviews from this file, one a line.");
ABSL_FLAG(std::vector<std::string>, plugin, {}, loom::tools::kPluginHelp);
ABSL_FLAG(std::string, plugin_path, "", loom::tools::kPluginPathHelp);
ABSL_FLAG(int, threads, 0, loom::tools::kThreadsHelp);

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Classifies reviews as positive or negative.\n"
      "  bazel run //tools:predict -- --model=runs/<run>/model \"text\" ...");
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  loom::PredictJobOptions options;
  options.model_dir = absl::GetFlag(FLAGS_model);
  if (options.model_dir.empty()) {
    std::cerr << "predict: --model is required; see --help\n";
    return 2;
  }
  options.plugins = absl::GetFlag(FLAGS_plugin);
  options.plugin_search.plugin_path = absl::GetFlag(FLAGS_plugin_path);
  options.plugin_search.shipped_dir = loom::ShippedPluginDir(argv[0]);
  options.threads = absl::GetFlag(FLAGS_threads);
  for (size_t i = 1; i < args.size(); ++i) options.texts.push_back(args[i]);
  if (options.texts.empty()) {
    const std::string file = absl::GetFlag(FLAGS_file);
    std::ifstream in;
    if (!file.empty()) {
      in.open(loom::UserPath(file));
      if (!in) {
        std::cerr << "predict: cannot open " << file << "\n";
        return 1;
      }
    }
    std::istream& src = file.empty() ? std::cin : in;
    for (std::string line; std::getline(src, line);) {
      if (!line.empty()) options.texts.push_back(line);
    }
  }
  absl::Status status = loom::RunPredictJob(options, std::cout);
  if (!status.ok()) {
    std::cerr << "predict: " << status.message() << "\n";
    return 1;
  }
  return 0;
}
