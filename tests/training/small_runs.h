// Test helper: short tools/train runs on small generated corpora, as the
// training tests (pipeline_test, resume_test, layers_test) make them.
#ifndef LOOM_TESTS_TRAINING_SMALL_RUNS_H_
#define LOOM_TESTS_TRAINING_SMALL_RUNS_H_

#include <string>

#include "framework/registry.h"
#include "framework/training/train_job.h"
#include "tests/data/synthetic_corpus.h"

namespace loom::testing {

// The built-in ops, registered once per test binary.
const OpRegistry& BuiltinRegistry();

// The test's scratch folder, $TEST_TMPDIR.
std::string TmpDir();

// A generated IMDb-shaped corpus (tests/data/synthetic_corpus.h) in
// TmpDir()/<name>, written the first time a test binary asks for `name`
// (aborting if it cannot be); the folder. Later calls with the same name
// return it as written.
const std::string& WriteCorpusOnce(const std::string& name,
                                   const data::SyntheticCorpusOptions& options);

// The small-data settings of a training run: the architecture is
// `graph`'s, the data `corpus`, and the run folder TmpDir()/<out>.
struct SmallRunSettings {
  std::string graph;   // "models/bilstm.pbtxt".
  std::string corpus;  // A folder WriteCorpusOnce gave.
  std::string out;     // Run folder under TmpDir().
  int max_len = 30;
  int num_words = 300;
  int epochs = 1;
};

// A run of one thread over every example of the corpus, in batches of 32,
// with `settings` overriding the model file's max_len, num_words and
// epochs; callers add the rest (learning rate, patience, ...).
TrainJobOptions SmallRun(const SmallRunSettings& settings);

}  // namespace loom::testing

#endif  // LOOM_TESTS_TRAINING_SMALL_RUNS_H_
