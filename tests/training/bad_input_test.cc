// Bad input from the outside (issue 13): model files, settings and data that
// crashed, hung or trained silently wrong are errors that say what is wrong,
// found before training (or at the step where it happens).
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "framework/data/dataset.h"
#include "framework/model_io.h"
#include "framework/tensor.h"
#include "framework/training/callbacks.h"
#include "framework/training/model.h"
#include "framework/training/train_job.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "tests/data/synthetic_corpus.h"

namespace loom {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string TmpDir() { return std::string(std::getenv("TEST_TMPDIR")); }

// A small text classifier: Embedding [N, 20, 128], average pooling
// [N, 128], Dense with a sigmoid; with `chain` Relu nodes after the pooling,
// or before it with `chain_on_sequence`.
std::string ModelText(int chain, bool chain_on_sequence = false) {
  ModelDef def;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(
      R"pb(
        name: "small"
        features_input: "tokens"
        labels_input: "label"
        prediction: "probability"
        loss: "loss"
        metric: "accuracy"
        dataset { num_words: 100 max_len: 20 }
        training {
          optimizer { adam {} }
          epochs: 1
          batch_size: 32
        }
        graph {
          input {
            name: "tokens"
            dtype: DT_INT32
            shape { dim: -1 dim: 20 }
          }
          input {
            name: "label"
            dtype: DT_FLOAT
            shape { dim: -1 dim: 1 }
          }
          parameter {
            name: "table"
            shape { dim: 100 dim: 128 }
            initializer { uniform {} }
          }
          parameter {
            name: "kernel"
            shape { dim: 128 dim: 1 }
            initializer { glorot_uniform {} }
          }
          node { name: "emb" op: "Embedding" input: "tokens" input: "table" }
          node { name: "pool" op: "GlobalAveragePooling1D" input: "emb" }
          node {
            name: "probability"
            op: "Dense"
            input: "pool"
            input: "kernel"
            attr {
              key: "units"
              value { i: 1 }
            }
            attr {
              key: "activation"
              value { s: "sigmoid" }
            }
          }
          node {
            name: "loss"
            op: "BinaryCrossentropy"
            input: "probability"
            input: "label"
          }
          node {
            name: "accuracy"
            op: "BinaryAccuracy"
            input: "probability"
            input: "label"
          }
        }
      )pb",
      &def));
  GraphDef* graph = def.mutable_graph();
  // The node the chain reads, and the one that reads the chain's end.
  const std::string from = chain_on_sequence ? "emb" : "pool";
  NodeDef* reader = graph->mutable_node(chain_on_sequence ? 1 : 2);
  std::string previous = from;
  for (int i = 0; i < chain; ++i) {
    NodeDef* relu = graph->add_node();
    relu->set_name(absl::StrCat("r", i));
    relu->set_op("Relu");
    relu->add_input(previous);
    previous = relu->name();
  }
  reader->set_input(0, previous);
  std::string text;
  EXPECT_TRUE(google::protobuf::TextFormat::PrintToString(def, &text));
  return text;
}

struct Built {
  std::unique_ptr<OpRegistry> registry;
  absl::StatusOr<std::unique_ptr<Model>> model;
};

// The model as the training driver builds it, after `overrides`.
Built Build(const std::string& text, const ConfigOverrides& overrides = {}) {
  Built b;
  b.registry = std::make_unique<OpRegistry>();
  EXPECT_TRUE(PrepareRegistry({}, b.registry.get()).ok());
  auto file = ParseModelText(text, "small.pbtxt");
  EXPECT_TRUE(file.ok()) << file.status();
  if (absl::Status s = ApplyOverrides(overrides, &file->model); !s.ok()) {
    b.model = s;
    return b;
  }
  b.model = Model::Create(*file, *b.registry, 1);
  return b;
}

std::string Message(const absl::Status& s) { return std::string(s.message()); }

// Random examples: token ids [n, 20] and 0/1 labels [n, 1].
LabeledExamples Examples(int64_t n) {
  std::vector<int32_t> ids(n * 20);
  std::vector<float> labels(n);
  for (int64_t i = 0; i < n; ++i) {
    labels[i] = static_cast<float>(i % 2);
    for (int t = 0; t < 20; ++t) ids[i * 20 + t] = (i * 7 + t * 3) % 100;
  }
  LabeledExamples a;
  a.features = Tensor::FromVector({n, 20}, ids);
  a.labels = Tensor::FromVector({n, 1}, labels);
  return a;
}

// Sets the memory limit for one test.
class MemoryLimit {
 public:
  explicit MemoryLimit(int64_t bytes) { SetMemoryLimitBytes(bytes); }
  ~MemoryLimit() { SetMemoryLimitBytes(0); }
};

TEST(BadInputTest, SmallModelTrains) {
  Built b = Build(ModelText(2));
  ASSERT_TRUE(b.model.ok()) << b.model.status();
  FitOptions fit;
  auto history = (*b.model)->Fit(Examples(64), LabeledExamples(), fit, {});
  ASSERT_TRUE(history.ok()) << history.status();
}

// --num_words=2147483647 crashed (SIGSEGV: aligned_alloc's null was
// written to); huge units likewise.
TEST(BadInputTest, HugeParametersAreRefusedBeforeAllocating) {
  ConfigOverrides o;
  o.num_words = 2147483647;
  Built b = Build(ModelText(0), o);
  ASSERT_FALSE(b.model.ok());
  EXPECT_EQ(b.model.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(Message(b.model.status()),
              HasSubstr("small.pbtxt: parameter 'table' float32[2147483647, "
                        "128] with its gradient needs 2.0 TiB "
                        "(2199023254528 bytes), more than the memory limit"));
  // A layer of a billion units.
  std::string text = ModelText(0);
  absl::StrReplaceAll({{"graph {", R"pb(graph { parameter {
                                          name: "hidden/kernel"
                                          shape { dim: 128 dim: 1000000000 }
                                        })pb"}},
                      &text);
  b = Build(text);
  ASSERT_FALSE(b.model.ok());
  EXPECT_THAT(Message(b.model.status()),
              HasSubstr("parameter 'hidden/kernel' float32[128, 1000000000] "
                        "with its gradient needs 953.7 GiB"));
}

// max_len 1e8 ended in bad_alloc; a long max_len is refused by the memory
// it would take for one step, before the data set is read.
TEST(BadInputTest, HugeActivationsAreRefusedWhenTheModelIsBuilt) {
  MemoryLimit limit(int64_t{1} << 30);
  ConfigOverrides o;
  o.max_len = 1000000;
  Built b = Build(ModelText(0), o);
  ASSERT_FALSE(b.model.ok());
  EXPECT_THAT(Message(b.model.status()),
              HasSubstr("small.pbtxt: a training step at batch size 32 needs "
                        "15.5 GiB"));
  EXPECT_THAT(Message(b.model.status()),
              HasSubstr("more than the memory limit of 1.0 GiB (set by the "
                        "program): parameters with gradients 101.0 KiB, "
                        "graph inputs and node outputs at least 15.5 GiB, "
                        "the largest of them the output of small.pbtxt:"));
  EXPECT_THAT(Message(b.model.status()),
              HasSubstr("node 'emb' (Embedding), float32[32, 1000000, 128], "
                        "15.3 GiB"));
  o.max_len = 100000000;  // More tokens than any review can have.
  b = Build(ModelText(0), o);
  EXPECT_THAT(Message(b.model.status()),
              HasSubstr("--max_len is 100000000: no review is that long"));
}

// A step fitting the limit while the whole encoded data set does not: the
// ids of every review at max_len were allocated unchecked.
TEST(BadInputTest, HugeEncodedDataSetIsRefusedBeforeAllocating) {
  const std::string dir = std::string(getenv("TEST_TMPDIR")) + "/huge_data";
  data::SyntheticCorpusOptions options;
  options.train_per_label = 100;
  options.test_per_label = 50;
  ASSERT_TRUE(data::WriteSyntheticImdb(dir, options).ok());
  TextDatasetDef def;
  def.set_source(dir);
  def.set_num_words(100);
  def.set_max_len(200000);
  MemoryLimit limit(int64_t{64} << 20);
  auto dataset = data::LoadTextDataset("", def);
  ASSERT_FALSE(dataset.ok());
  EXPECT_EQ(dataset.status().code(), absl::StatusCode::kResourceExhausted);
  // 2 x 300 reviews x 200,000 ids x 4 bytes.
  EXPECT_THAT(Message(dataset.status()),
              HasSubstr("the encoded data set needs 457.8 MiB (480000000 "
                        "bytes), more than the memory limit of 64.0 MiB"));
  EXPECT_THAT(Message(dataset.status()),
              HasSubstr("300 reviews of max_len 200000 token ids"));
}

// A 100,000-node Relu chain: on [32, 20, 128] values it would need at least
// 30.5 GiB (it crashed after 7.8 GB), refused at once; on pooled [32, 128]
// values it builds and trains.
TEST(BadInputTest, LongReluChains) {
  {
    MemoryLimit limit(int64_t{1} << 30);
    Built b = Build(ModelText(100000, true));
    ASSERT_FALSE(b.model.ok());
    EXPECT_THAT(Message(b.model.status()),
                HasSubstr("a training step at batch size 32 needs 30.5 GiB"));
  }
  Built b = Build(ModelText(100000));
  ASSERT_TRUE(b.model.ok()) << b.model.status();
  FitOptions fit;
  auto history = (*b.model)->Fit(Examples(32), LabeledExamples(), fit, {});
  ASSERT_TRUE(history.ok()) << history.status();
}

// A vocabulary larger than the embedding table failed only when a rare
// word appeared.
TEST(BadInputTest, VocabularyLargerThanTheEmbeddingTableIsRefused) {
  std::string text = ModelText(0);
  absl::StrReplaceAll({{"num_words: 100", "num_words: 150"}}, &text);
  auto file = ParseModelText(text, "small.pbtxt");
  ASSERT_TRUE(file.ok());
  OpRegistry registry;
  ASSERT_TRUE(PrepareRegistry({}, &registry).ok());
  auto model = Model::Create(*file, registry, 1);
  ASSERT_FALSE(model.ok());
  EXPECT_THAT(Message(model.status()),
              HasSubstr("small.pbtxt: dataset.num_words 150 gives token ids "
                        "up to 149, but small.pbtxt:"));
  EXPECT_THAT(Message(model.status()),
              HasSubstr("node 'emb' (Embedding) looks them up in 'table', "
                        "which has 100 rows: a rare word would fail"));
  Built b = Build(ModelText(0));
  ASSERT_TRUE(b.model.ok());
  EXPECT_TRUE(CheckIdsFitEmbeddings(**b.model, 100, "vocabulary.txt").ok());
  EXPECT_THAT(Message(CheckIdsFitEmbeddings(**b.model, 101, "vocabulary.txt")),
              HasSubstr("vocabulary.txt gives token ids up to 100, but"));
}

// --validation_split=nan crashed SplitValidation (SIGSEGV).
TEST(BadInputTest, NanValidationSplitIsRefused) {
  auto split = SplitValidation(Examples(10), std::nan(""));
  EXPECT_THAT(Message(split.status()),
              HasSubstr("validation_split must be in [0, 1), got nan"));
}

// Keras' TerminateOnNaN, on by default: learning_rate inf trained to
// "Test loss: -nan", exited 0 and saved the model.
TEST(BadInputTest, NanLossStopsTrainingAtOnce) {
  Built b = Build(ModelText(0));
  ASSERT_TRUE(b.model.ok()) << b.model.status();
  LabeledExamples data = Examples(100);
  data.labels.f32()[70] = std::nanf("");  // In step 3 of 4.
  std::ostringstream log;
  FitOptions fit;
  fit.epochs = 3;
  fit.shuffle = false;
  fit.log = &log;
  auto history = (*b.model)->Fit(data, LabeledExamples(), fit, {});
  ASSERT_FALSE(history.ok());
  EXPECT_THAT(
      Message(history.status()),
      HasSubstr("epoch 1, step 3 of 4: the loss 'loss' is NaN; "
                "training stopped (the weights are no longer usable: "
                "lower the learning rate, currently 0.001, or check the "
                "data)"));
  EXPECT_THAT(log.str(), Not(HasSubstr("Epoch 2/3")));
  fit.terminate_on_nan = false;  // Keras without the callback.
  b = Build(ModelText(0));
  EXPECT_TRUE((*b.model)->Fit(data, LabeledExamples(), fit, {}).ok());
}

// "val_banana" was refused only after the first epoch had trained.
TEST(BadInputTest, UnknownMonitorIsRefusedBeforeTheFirstEpoch) {
  Built b = Build(ModelText(0));
  ASSERT_TRUE(b.model.ok()) << b.model.status();
  EarlyStoppingDef def;
  def.set_monitor("val_banana");
  EarlyStopping stopping(def, nullptr, "training.callback[0].early_stopping");
  std::ostringstream log;
  FitOptions fit;
  fit.log = &log;
  LabeledExamples data = Examples(80);
  auto split = SplitValidation(data, 0.25);
  ASSERT_TRUE(split.ok());
  auto history = (*b.model)->Fit(split->first, split->second, fit, {&stopping});
  EXPECT_EQ(Message(history.status()),
            "training.callback[0].early_stopping.monitor: 'val_banana' is not "
            "a metric this training reports; it reports loss, accuracy, "
            "val_loss, val_accuracy");
  EXPECT_EQ(log.str(), "");  // No epoch began.
  // Without validation data, the error says why val_ metrics are missing.
  ReduceLrOnPlateauDef reduce;
  reduce.set_monitor("val_loss");
  ReduceLrOnPlateau plateau(reduce, nullptr);
  history = (*b.model)->Fit(data, LabeledExamples(), fit, {&plateau});
  EXPECT_THAT(Message(history.status()),
              HasSubstr("ReduceLROnPlateau.monitor: 'val_loss' is not a "
                        "metric this training reports; it reports loss, "
                        "accuracy (no val_ metrics: there is no validation "
                        "data; set training.validation_split)"));
}

// A float features_input failed at step 1 with a shape message that did
// not name features_input.
TEST(BadInputTest, FeaturesOfTheWrongDtypeNameFeaturesInput) {
  const std::string text = R"pb(
    features_input: "x"
    labels_input: "y"
    prediction: "out"
    loss: "loss"
    graph {
      input {
        name: "x"
        dtype: DT_FLOAT
        shape { dim: -1 dim: 20 }
      }
      input {
        name: "y"
        dtype: DT_FLOAT
        shape { dim: -1 dim: 1 }
      }
      parameter {
        name: "w"
        shape { dim: 20 dim: 1 }
        initializer { glorot_uniform {} }
      }
      node { name: "out" op: "MatMul" input: "x" input: "w" }
      node { name: "loss" op: "MeanSquaredError" input: "out" input: "y" }
    }
  )pb";
  OpRegistry registry;
  ASSERT_TRUE(PrepareRegistry({}, &registry).ok());
  auto file = ParseModelText(text, "mlp.pbtxt");
  ASSERT_TRUE(file.ok());
  auto model = Model::Create(*file, registry, 1);
  ASSERT_TRUE(model.ok()) << model.status();
  FitOptions fit;
  auto history = (*model)->Fit(Examples(40), LabeledExamples(), fit, {});
  EXPECT_EQ(Message(history.status()),
            "the model's features_input 'x' is float32[?, 20], but the "
            "features are int32[40, 20] (token ids: make it an input of "
            "dtype DT_INT32)");
  EXPECT_THAT(Message((*model)->Evaluate(Examples(40), 8).status()),
              HasSubstr("features_input 'x'"));
  EXPECT_THAT(Message((*model)->Predict(Examples(4).features, 8).status()),
              HasSubstr("features_input 'x'"));
}

// The tools: exit status and message when standard output cannot be
// written (the results were lost with exit status 0).
struct Result {
  int exit_code = -1;
  std::string errors;
};

Result RunShell(const std::string& command) {
  Result r;
  const std::string errors = TmpDir() + "/stderr.txt";
  const int status =
      std::system(absl::StrCat("(", command, ") 2>", errors).c_str());
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  FILE* f = std::fopen(errors.c_str(), "r");
  if (f != nullptr) {
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0)
      r.errors.append(buf, n);
    std::fclose(f);
  }
  return r;
}

TEST(BadInputTest, ToolsFailWhenStandardOutputIsFullOrClosed) {
  const std::string data = TmpDir() + "/corpus";
  data::SyntheticCorpusOptions options;
  options.train_per_label = 40;
  options.test_per_label = 20;
  ASSERT_TRUE(data::WriteSyntheticImdb(data, options).ok());
  const std::string run = TmpDir() + "/run";
  const std::string train =
      absl::StrCat("tools/train --graph=models/lstm.pbtxt --data=", data,
                   " --max_len=20 --num_words=200 --epochs=1 --threads=1 "
                   "--progress=lines --output_dir=",
                   run);
  Result r = RunShell(train + " >/dev/full");
  EXPECT_EQ(r.exit_code, 1) << r.errors;
  EXPECT_THAT(r.errors, HasSubstr("train: cannot write to standard output"));
  r = RunShell(train + " >&-");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.errors, HasSubstr("train: standard output is closed"));
  r = RunShell(train + " >/dev/null");
  ASSERT_EQ(r.exit_code, 0) << r.errors;

  const std::string evaluate =
      absl::StrCat("tools/evaluate --threads=1 --model=", run, "/model");
  r = RunShell(evaluate + " >/dev/full");
  EXPECT_EQ(r.exit_code, 1) << r.errors;
  EXPECT_THAT(r.errors,
              HasSubstr("evaluate: cannot write the results to standard "
                        "output"));
  r = RunShell(evaluate + " >&-");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.errors, HasSubstr("evaluate: standard output is closed"));
  r = RunShell(evaluate + " --batch_size=-1 >/dev/null");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.errors, HasSubstr("--batch_size must be positive"));
  r = RunShell(evaluate + " >/dev/null");
  EXPECT_EQ(r.exit_code, 0) << r.errors;
}

}  // namespace
}  // namespace loom
