// Lists every registered op (built-in and from --plugin) as a reference
// card: signature, inputs, outputs, attributes with types and defaults.
//   bazel run //tools:ops [-- --plugin=bazel-bin/plugins/gru/libloom_gru.so]
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "framework/op.h"
#include "framework/registry.h"
#include "framework/training/plugin_search.h"
#include "tools/flag_help.h"

ABSL_FLAG(std::vector<std::string>, plugin, {}, loom::tools::kPluginHelp);
ABSL_FLAG(std::string, op, "", "Show only this op.");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("Lists Loom's registered ops.");
  absl::ParseCommandLine(argc, argv);
  loom::OpRegistry registry;
  absl::Status s =
      loom::PrepareRegistry(absl::GetFlag(FLAGS_plugin), &registry);
  if (!s.ok()) {
    std::cerr << "ops: " << s.message() << "\n";
    return 1;
  }
  const std::string only = absl::GetFlag(FLAGS_op);
  int shown = 0;
  for (const loom::OpDef* def : registry.List()) {
    if (!only.empty() && def->signature.name != only) continue;
    std::cout << loom::DescribeOp(*def);
    // What a node that leaves out its parameters gets (Graph::Build).
    for (const loom::ParamSpec& p : def->params) {
      std::cout << "  param  " << def->signature.inputs[p.input].name
                << ": created as " << p.doc << "\n";
    }
    std::cout << "\n";
    ++shown;
  }
  if (shown == 0) {
    std::cerr << "ops: no op named '" << only << "'\n";
    return 1;
  }
  return 0;
}
