#include "tests/training/small_runs.h"

#include <cstdlib>
#include <map>

#include "ops/op_library.h"

namespace loom::testing {

const OpRegistry& BuiltinRegistry() {
  static const OpRegistry* registry = [] {
    auto* r = new OpRegistry();
    if (!RegisterBuiltinOps(r).ok()) std::abort();
    return r;
  }();
  return *registry;
}

std::string TmpDir() { return std::string(std::getenv("TEST_TMPDIR")); }

const std::string& WriteCorpusOnce(
    const std::string& name, const data::SyntheticCorpusOptions& options) {
  static auto* written = new std::map<std::string, std::string>();
  auto [it, inserted] = written->emplace(name, TmpDir() + "/" + name);
  if (inserted && !data::WriteSyntheticImdb(it->second, options).ok()) {
    std::abort();
  }
  return it->second;
}

TrainJobOptions SmallRun(const SmallRunSettings& settings) {
  TrainJobOptions options;
  options.graph = settings.graph;
  options.data_flags.data = settings.corpus;
  options.output_dir = TmpDir() + "/" + settings.out;
  options.threads = 1;
  ConfigOverrides& o = options.overrides;
  o.max_len = settings.max_len;
  o.num_words = settings.num_words;
  o.train_limit = 0;
  o.test_limit = 0;
  o.batch_size = 32;
  o.epochs = settings.epochs;
  return options;
}

}  // namespace loom::testing
