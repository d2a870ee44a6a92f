// The plugins a model declares (required_plugin) load by themselves: found
// by file name on the plugin search path (--plugin_path, LOOM_PLUGIN_PATH,
// the plugins shipped with the tool), unless an explicit --plugin of the same
// file name is given; a declared plugin found nowhere is an error naming the
// model file, the plugin and the directories searched.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include "absl/strings/str_cat.h"
#include "framework/file_util.h"
#include "framework/model_io.h"
#include "framework/plugin.h"
#include "framework/registry.h"
#include "framework/training/evaluate_job.h"
#include "framework/training/predict_job.h"
#include "framework/training/train_job.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/data/synthetic_corpus.h"

namespace loom {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

// Runfiles paths (this test's data, see tests/training/BUILD).
constexpr char kGru[] = "plugins/gru/libloom_gru.so";
constexpr char kBigru[] = "models/bigru.pbtxt";
constexpr char kCnnLstm[] = "models/cnn_lstm.pbtxt";

std::string TmpDir() { return std::string(getenv("TEST_TMPDIR")); }

// A fresh, empty folder under TEST_TMPDIR.
std::string FreshDir(const std::string& name) {
  const std::string dir = TmpDir() + "/" + name;
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir);
  return dir;
}

// Copies the GRU plugin to dir/relative and returns the copy's path.
std::string CopyGru(const std::string& dir, const std::string& relative) {
  const fs::path to = fs::path(dir) / relative;
  fs::create_directories(to.parent_path());
  fs::copy_file(kGru, to, fs::copy_options::overwrite_existing);
  return to.string();
}

ModelFile ReadOrDie(const std::string& path) {
  auto file = ReadModelFile(path);
  EXPECT_TRUE(file.ok()) << file.status();
  if (!file.ok()) std::abort();
  return *std::move(file);
}

// Sets an environment variable for the life of the object.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name); old != nullptr) old_ = old;
    had_ = std::getenv(name) != nullptr;
    if (value != nullptr) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (had_) {
      setenv(name_.c_str(), old_.c_str(), 1);
    } else {
      unsetenv(name_.c_str());
    }
  }

 private:
  std::string name_;
  std::string old_;
  bool had_ = false;
};

TEST(PluginPathTest, FindsDeclaredPluginInNestedFolder) {
  const std::string dir = FreshDir("nested");
  const std::string copy = CopyGru(dir, "a/b/libloom_gru.so");
  auto paths = ResolveRequiredPlugins(ReadOrDie(kBigru), {}, {dir});
  ASSERT_TRUE(paths.ok()) << paths.status();
  EXPECT_THAT(*paths, ElementsAre(copy));
}

TEST(PluginPathTest, ExplicitPluginOfTheSameFileNameIsNotLoadedAgain) {
  const std::string dir = FreshDir("explicit");
  CopyGru(dir, "libloom_gru.so");
  const ModelFile file = ReadOrDie(kBigru);
  auto paths = ResolveRequiredPlugins(file, {kGru}, {dir});
  ASSERT_TRUE(paths.ok()) << paths.status();
  EXPECT_THAT(*paths, IsEmpty());

  // Loading it again would fail: its ops are already registered.
  OpRegistry twice;
  ASSERT_TRUE(PrepareRegistry({kGru}, &twice).ok());
  EXPECT_THAT(
      std::string(LoadPlugin(dir + "/libloom_gru.so", &twice).message()),
      HasSubstr("already registered"));

  // So the registry holds the explicit plugin's GRU, and no error.
  OpRegistry registry;
  PluginSearch search;
  search.plugin_path = dir;
  absl::Status s = PrepareRegistryForModel(file, {kGru}, search, &registry);
  ASSERT_TRUE(s.ok()) << s;
  const OpDef* gru = registry.Find("GRU");
  ASSERT_NE(gru, nullptr);
  EXPECT_EQ(gru->source, kGru);
}

TEST(PluginPathTest, SearchPathOrder) {
  ScopedEnv env("LOOM_PLUGIN_PATH", "/env/one::/env/two");
  PluginSearch search;
  search.plugin_path = "/flag/one:/flag/two:";
  search.shipped_dir = "/shipped";
  EXPECT_THAT(PluginSearchPath(search),
              ElementsAre("/flag/one", "/flag/two", "/env/one", "/env/two",
                          "/shipped"));
}

TEST(PluginPathTest, FirstFolderOnThePathHoldingThePluginWins) {
  const std::string empty = FreshDir("order_empty");
  const std::string first = FreshDir("order_first");
  const std::string second = FreshDir("order_second");
  const std::string in_first = CopyGru(first, "x/libloom_gru.so");
  const std::string in_second = CopyGru(second, "libloom_gru.so");
  const ModelFile file = ReadOrDie(kBigru);
  auto paths = ResolveRequiredPlugins(file, {}, {empty, first, second});
  ASSERT_TRUE(paths.ok()) << paths.status();
  EXPECT_THAT(*paths, ElementsAre(in_first));
  paths = ResolveRequiredPlugins(file, {}, {empty, second, first});
  ASSERT_TRUE(paths.ok()) << paths.status();
  EXPECT_THAT(*paths, ElementsAre(in_second));

  // Through the flag and the environment: the flag's folders come first.
  ScopedEnv env("LOOM_PLUGIN_PATH", second.c_str());
  PluginSearch search;
  search.plugin_path = first;
  OpRegistry registry;
  absl::Status s = PrepareRegistryForModel(file, {}, search, &registry);
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_NE(registry.Find("GRU"), nullptr);
  EXPECT_EQ(registry.Find("GRU")->source, in_first);
}

TEST(PluginPathTest, TwoCopiesInOneTreeTakeTheFirstInSortedOrder) {
  const std::string dir = FreshDir("two_copies");
  CopyGru(dir, "b/libloom_gru.so");
  const std::string a = CopyGru(dir, "a/z/libloom_gru.so");
  auto paths = ResolveRequiredPlugins(ReadOrDie(kBigru), {}, {dir});
  ASSERT_TRUE(paths.ok()) << paths.status();
  EXPECT_THAT(*paths, ElementsAre(a));
}

// Two different builds of one file name on the path: which one loads
// would be a silent choice, so it is an error naming both (identical
// copies, as above, are fine).
TEST(PluginPathTest, DifferentFilesOfOneNameAreAnErrorNamingThem) {
  const std::string first = FreshDir("differ_first");
  const std::string second = FreshDir("differ_second");
  const std::string a = CopyGru(first, "libloom_gru.so");
  const std::string b = CopyGru(second, "old/libloom_gru.so");
  const std::string same = CopyGru(second, "same/libloom_gru.so");
  {
    std::ofstream stale(b, std::ios::app | std::ios::binary);
    stale << "another build";
  }
  auto paths = ResolveRequiredPlugins(ReadOrDie(kBigru), {}, {first, second});
  ASSERT_FALSE(paths.ok());
  EXPECT_EQ(paths.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(paths.status().message()),
              HasSubstr("requires plugin 'libloom_gru.so', and the plugin "
                        "path holds different files of that name: " +
                        a + " (first on the path) and " + b +
                        "; remove the stale ones or choose one with "
                        "--plugin=PATH"));
  EXPECT_THAT(std::string(paths.status().message()), Not(HasSubstr(same)));
  // An explicit --plugin of that name settles it.
  paths = ResolveRequiredPlugins(ReadOrDie(kBigru), {a}, {first, second});
  ASSERT_TRUE(paths.ok()) << paths.status();
  EXPECT_THAT(*paths, IsEmpty());
}

TEST(PluginPathTest, NotFoundNamesModelPluginAndFolders) {
  const std::string one = FreshDir("not_found_one");
  const std::string two = TmpDir() + "/no_such_folder";
  auto paths = ResolveRequiredPlugins(ReadOrDie(kBigru), {}, {one, two});
  ASSERT_FALSE(paths.ok());
  EXPECT_EQ(paths.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(paths.status().message(),
            "models/bigru.pbtxt requires plugin 'libloom_gru.so', not found "
            "on the plugin path (" +
                one + ", " + two +
                "); build it and pass --plugin=PATH or --plugin_path=DIR");

  paths = ResolveRequiredPlugins(ReadOrDie(kCnnLstm), {}, {});
  ASSERT_FALSE(paths.ok());
  EXPECT_THAT(std::string(paths.status().message()),
              HasSubstr("models/cnn_lstm.pbtxt requires plugin "
                        "'libloom_conv1d.so', not found on the plugin path "
                        "(no directories)"));
}

TEST(PluginPathTest, RequiredPluginMustBeAFileName) {
  auto file =
      ParseModelText("name: \"m\" required_plugin: \"gru/x.so\"", "m.pbtxt");
  ASSERT_TRUE(file.ok()) << file.status();
  auto paths = ResolveRequiredPlugins(*file, {}, {"plugins"});
  ASSERT_FALSE(paths.ok());
  EXPECT_THAT(std::string(paths.status().message()),
              HasSubstr("m.pbtxt: required_plugin 'gru/x.so' must be a "
                        "plugin's file name"));
}

TEST(PluginPathTest, ShippedPluginDirFollowsRunfiles) {
  {
    ScopedEnv env("RUNFILES_DIR", "/r/train.runfiles");
    EXPECT_EQ(ShippedPluginDir("/bin/train"), "/r/train.runfiles/loom/plugins");
  }
  {
    ScopedEnv env("RUNFILES_DIR", nullptr);
    EXPECT_EQ(ShippedPluginDir("/bin/train"),
              "/bin/train.runfiles/loom/plugins");
  }
}

// The shipped plugins of this test's runfiles (plugins/ holds the GRU and
// Conv1D plugins) serve every model that declares them.
TEST(PluginPathTest, ShippedPluginsServeBothPluginModels) {
  for (const char* model : {kBigru, kCnnLstm}) {
    PluginSearch search;
    search.shipped_dir = ShippedPluginDir("unused");
    OpRegistry registry;
    absl::Status s =
        PrepareRegistryForModel(ReadOrDie(model), {}, search, &registry);
    EXPECT_TRUE(s.ok()) << model << ": " << s;
  }
}

// End to end: models/bigru.pbtxt trains through the driver with no --plugin,
// its plugin found on the plugin path; without a path it is refused.
TEST(PluginPathTest, TrainsBigruWithoutExplicitPlugin) {
  const std::string corpus = TmpDir() + "/corpus";
  data::SyntheticCorpusOptions corpus_options;
  corpus_options.train_per_label = 60;
  corpus_options.test_per_label = 20;
  corpus_options.seed = 5;
  corpus_options.min_words = 10;
  corpus_options.max_words = 20;
  ASSERT_TRUE(data::WriteSyntheticImdb(corpus, corpus_options).ok());

  TrainJobOptions options;
  options.graph = kBigru;
  options.data_flags.data = corpus;
  options.output_dir = TmpDir() + "/bigru_run";
  options.threads = 1;
  ConfigOverrides& o = options.overrides;
  o.max_len = 20;
  o.num_words = 200;
  o.train_limit = 0;
  o.test_limit = 0;
  o.batch_size = 32;
  o.epochs = 1;

  std::ostringstream refused;
  absl::Status s = RunTrainJob(options, refused);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("requires plugin 'libloom_gru.so', not found"));

  options.plugin_search.plugin_path = FreshDir("path_for_train");
  CopyGru(options.plugin_search.plugin_path, "lib/libloom_gru.so");
  std::ostringstream out;
  s = RunTrainJob(options, out);
  ASSERT_TRUE(s.ok()) << s << "\n" << out.str();
  EXPECT_THAT(out.str(), HasSubstr("Test acc: "));

  // The saved model keeps required_plugin: evaluate and predict find the
  // plugin the same way.
  EvaluateJobOptions evaluate;
  evaluate.model_dir = options.output_dir + "/model";
  evaluate.data_flags.data = corpus;
  evaluate.threads = 1;
  evaluate.plugin_search = options.plugin_search;
  std::ostringstream evaluated;
  s = RunEvaluateJob(evaluate, evaluated);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_THAT(evaluated.str(), HasSubstr("Test acc: "));

  // The model folder carries its plugin (file, ABI, checksum, ops in
  // plugins/MANIFEST): predict loads it from there, with no plugin path.
  const std::string carried = evaluate.model_dir + "/plugins/libloom_gru.so";
  ASSERT_TRUE(std::filesystem::exists(carried));
  auto manifest = ReadFile(evaluate.model_dir + "/plugins/MANIFEST");
  ASSERT_TRUE(manifest.ok());
  EXPECT_THAT(*manifest,
              HasSubstr(absl::StrCat(
                  "libloom_gru.so abi=", kLoomPluginAbiVersion, " fnv1a64=")));
  EXPECT_THAT(*manifest, HasSubstr(" ops=GRU\n"));
  PredictJobOptions predict;
  predict.model_dir = evaluate.model_dir;
  predict.texts = {"a good film"};
  predict.threads = 1;
  std::ostringstream predicted;
  s = RunPredictJob(predict, predicted);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_THAT(predicted.str(), HasSubstr("a good film"));

  // A damaged or missing copy is refused, naming it.
  auto bytes = ReadFile(carried);
  ASSERT_TRUE(bytes.ok());
  ASSERT_TRUE(WriteFileAtomically(carried, *bytes + "x").ok());
  s = RunPredictJob(predict, predicted);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("libloom_gru.so does not match its checksum"));
  std::filesystem::remove(carried);
  s = RunPredictJob(predict, predicted);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("needs plugin libloom_gru.so"));

  // Trained with copy_plugins off, the folder needs the plugin path.
  options.copy_plugins = false;
  options.output_dir = TmpDir() + "/bigru_run_no_copy";
  std::ostringstream again;
  ASSERT_TRUE(RunTrainJob(options, again).ok()) << again.str();
  predict.model_dir = options.output_dir + "/model";
  EXPECT_FALSE(std::filesystem::exists(predict.model_dir + "/plugins"));
  s = RunPredictJob(predict, predicted);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("model.pbtxt requires plugin 'libloom_gru.so'"));
  predict.plugin_search = options.plugin_search;
  s = RunPredictJob(predict, predicted);
  ASSERT_TRUE(s.ok()) << s;
}

}  // namespace
}  // namespace loom
