// Prints a model file's graph as Keras' model.summary() does: each node
// (a layer of the layer form expands to one), its output shape, the
// parameters it holds with their shapes, and the totals, as tools/train
// would build it (the data set's max_len and num_words, tools/train's
// setting flags and --set applied).
//   bazel run //tools:graph -- --graph=models/bilstm.pbtxt [--max_len=200]
#include "framework/graph.h"

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "framework/model_io.h"
#include "framework/status_macros.h"
#include "framework/training/config_overrides.h"
#include "framework/training/plugin_search.h"
#include "framework/training/user_path.h"
#include "tools/flag_help.h"
#include "tools/setting_flags.h"

ABSL_FLAG(std::string, graph, "", "The model file (.pbtxt).");
ABSL_FLAG(std::vector<std::string>, plugin, {}, loom::tools::kPluginHelp);
ABSL_FLAG(std::string, plugin_path, "", loom::tools::kPluginPathHelp);
LOOM_SETTING_FLAGS_DEFINE()
ABSL_FLAG(std::vector<std::string>, set, {},
          "Other settings by their path in the model file, as tools/train's "
          "--set.");

namespace {

absl::Status PrintGraph(const char* argv0) {
  LOOM_ASSIGN_OR_RETURN(
      loom::ModelFile file,
      loom::ReadModelFile(loom::UserPath(absl::GetFlag(FLAGS_graph))));
  loom::PluginSearch search;
  search.plugin_path = absl::GetFlag(FLAGS_plugin_path);
  search.shipped_dir = loom::ShippedPluginDir(argv0);
  loom::OpRegistry registry;
  LOOM_RETURN_IF_ERROR(loom::PrepareRegistryForModel(
      file, absl::GetFlag(FLAGS_plugin), search, &registry));
  loom::ConfigOverrides o;
  ReadSettingFlags(&o);
  o.set = absl::GetFlag(FLAGS_set);
  LOOM_RETURN_IF_ERROR(loom::ApplyOverrides(o, &file.model));
  LOOM_ASSIGN_OR_RETURN(
      std::unique_ptr<loom::Graph> graph,
      loom::Graph::Build(file.model.graph(), registry, file.source));
  std::cout << loom::GraphSummary(*graph, file.model.name());
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Prints the graph a model file expands to: layers, output shapes, "
      "parameters and totals.");
  absl::ParseCommandLine(argc, argv);
  if (absl::GetFlag(FLAGS_graph).empty()) {
    std::cerr << "graph: --graph=MODEL.pbtxt is required\n";
    return 2;
  }
  if (absl::Status s = PrintGraph(argv[0]); !s.ok()) {
    std::cerr << "graph: " << s.message() << "\n";
    return 1;
  }
  return std::cout.flush() ? 0 : 1;
}
