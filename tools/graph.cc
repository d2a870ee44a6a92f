// Prints a model file's graph as Keras' model.summary() does: each node
// (a layer of the layer form expands to one), its output shape, the
// parameters it holds with their shapes, and the totals, as tools/train
// would build it (the data set's max_len and num_words, overrides applied).
//   bazel run //tools:graph -- --graph=models/bilstm.pbtxt [--max_len=200]
#include "framework/graph.h"

#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "framework/model_io.h"
#include "framework/training/train_job.h"
#include "tools/flag_help.h"

ABSL_FLAG(std::string, graph, "", "The model file (.pbtxt).");
ABSL_FLAG(std::vector<std::string>, plugin, {}, loom::tools::kPluginHelp);
ABSL_FLAG(std::string, plugin_path, "", loom::tools::kPluginPathHelp);
ABSL_FLAG(int, max_len, 0, "Overrides dataset.max_len (0: the file's).");
ABSL_FLAG(int, num_words, 0, "Overrides dataset.num_words (0: the file's).");
ABSL_FLAG(std::vector<std::string>, set, {},
          "Other settings by their path in the model file, as tools/train's "
          "--set.");

namespace {

absl::Status PrintGraph(const char* argv0) {
  auto file = loom::ReadModelFile(loom::UserPath(absl::GetFlag(FLAGS_graph)));
  if (!file.ok()) return file.status();
  loom::PluginSearch search;
  search.plugin_path = absl::GetFlag(FLAGS_plugin_path);
  search.shipped_dir = loom::ShippedPluginDir(argv0);
  loom::OpRegistry registry;
  if (auto s = loom::PrepareRegistryForModel(*file, absl::GetFlag(FLAGS_plugin),
                                             search, &registry);
      !s.ok()) {
    return s;
  }
  loom::ConfigOverrides o;
  if (absl::GetFlag(FLAGS_max_len) != 0)
    o.max_len = absl::GetFlag(FLAGS_max_len);
  if (absl::GetFlag(FLAGS_num_words) != 0) {
    o.num_words = absl::GetFlag(FLAGS_num_words);
  }
  o.set = absl::GetFlag(FLAGS_set);
  if (auto s = loom::ApplyOverrides(o, &file->model); !s.ok()) return s;
  auto graph = loom::Graph::Build(file->model.graph(), registry, file->source);
  if (!graph.ok()) return graph.status();
  std::cout << loom::GraphSummary(**graph, file->model.name());
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
