// Joins trained models into one model folder that predicts the mean of
// their probabilities (framework/training/ensemble.h):
//   bazel run //tools:ensemble -- --output_dir=runs/ensemble
//     --members=runs/a/model,runs/b/model
// (one command line).
// The folder is scored, evaluated and served as any model folder.
#include "framework/training/ensemble.h"

#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "tools/flag_help.h"

ABSL_FLAG(std::vector<std::string>, members, {},
          "The model/ folders (written by train) to join, comma-separated: "
          "at least two, trained with the same data settings.");
ABSL_FLAG(std::string, output_dir, "", "The ensemble's model folder.");
ABSL_FLAG(std::vector<std::string>, plugin, {}, loom::tools::kPluginHelp);
ABSL_FLAG(std::string, plugin_path, "", loom::tools::kPluginPathHelp);

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Joins trained Loom models into one that predicts the mean of their "
      "probabilities.\n"
      "  bazel run //tools:ensemble -- --members=DIR1,DIR2,... "
      "--output_dir=DIR");
  absl::ParseCommandLine(argc, argv);
  loom::EnsembleJobOptions options;
  options.member_dirs = absl::GetFlag(FLAGS_members);
  options.output_dir = absl::GetFlag(FLAGS_output_dir);
  options.plugins = absl::GetFlag(FLAGS_plugin);
  options.plugin_search.plugin_path = absl::GetFlag(FLAGS_plugin_path);
  options.plugin_search.shipped_dir = loom::ShippedPluginDir(argv[0]);
  const absl::Status status = loom::RunEnsembleJob(options, std::cout);
  if (!status.ok()) {
    std::cerr << "ensemble: " << status.message() << "\n";
    return 1;
  }
  return 0;
}
