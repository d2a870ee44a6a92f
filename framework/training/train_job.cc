#include "framework/training/train_job.h"

#include <omp.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <ostream>
#include <system_error>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "framework/data/dataset.h"
#include "framework/file_util.h"
#include "framework/model_io.h"
#include "framework/plugin.h"
#include "framework/training/callbacks.h"
#include "framework/training/config_set.h"
#include "framework/training/history.h"
#include "framework/training/model.h"
#include "framework/training/saved_model.h"
#include "ops/op_library.h"

namespace loom {
namespace {

Arrays ToArrays(const data::EncodedSplit& split) {
  Arrays arrays;
  arrays.features = Tensor::FromVector({split.n, split.max_len}, split.ids);
  arrays.labels = Tensor::FromVector({split.n, 1}, split.labels);
  return arrays;
}

std::string Timestamp() {
  std::time_t now = std::time(nullptr);
  std::tm tm;
  localtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%d-%H%M%S", &tm);
  return buf;
}

// "Test loss: 0.3830 | Test acc: 0.8510", Keras-notebook style.
std::string TestLine(const Metrics& metrics) {
  std::string line;
  for (const auto& [name, value] : metrics) {
    const std::string shown = name == "accuracy" ? "acc" : name;
    absl::StrAppendFormat(&line, "%sTest %s: %.4f", line.empty() ? "" : " | ",
                          shown, value);
  }
  return line;
}

double PeakMemoryMb() {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024.0;
}

absl::StatusOr<data::TextDataset> LoadData(const std::string& data_flag,
                                           const TextDatasetDef& def) {
  std::string path =
      data_flag.empty() ? data::DefaultDataPath() : UserPath(data_flag);
  if (path.empty()) {
    return absl::NotFoundError(
        "no IMDb data: pass --data=PATH (the aclImdb .tar.gz or its "
        "folder) or run tools/setup.sh --imdb PATH to fill the cache");
  }
  return data::LoadTextDataset(path, def);
}

// Keeps the graph consistent with the data set settings: the features
// input is [batch, max_len] and every table an Embedding node reads has
// num_words rows.
void SyncGraphWithDataset(ModelDef* def) {
  GraphDef* graph = def->mutable_graph();
  const TextDatasetDef& d = def->dataset();
  for (InputDef& in : *graph->mutable_input()) {
    if (in.name() == def->features_input() && in.shape().dim_size() == 2 &&
        d.max_len() > 0) {
      in.mutable_shape()->set_dim(1, d.max_len());
    }
  }
  for (const NodeDef& node : graph->node()) {
    if (node.op() != "Embedding" || node.input_size() < 2) continue;
    for (ParameterDef& p : *graph->mutable_parameter()) {
      if (p.name() == node.input(1) && p.shape().dim_size() == 2 &&
          d.num_words() > 0) {
        p.mutable_shape()->set_dim(0, d.num_words());
      }
    }
  }
}

// The workspace name (WORKSPACE), the top folder of a tool's runfiles.
constexpr char kWorkspaceName[] = "loom";

// Appends the non-empty directories of a colon-separated list to `dirs`.
void AppendDirs(const std::string& list, std::vector<std::string>* dirs) {
  for (absl::string_view dir : absl::StrSplit(list, ':', absl::SkipEmpty())) {
    dirs->push_back(UserPath(std::string(dir)));
  }
}

// The path of a file named `name` in the directory tree `dir` (searched
// recursively; directory symlinks below `dir` are not followed), or "" if
// there is none or `dir` cannot be read. If the tree holds several files of
// that name (say two builds of a plugin), the first in sorted order of their
// paths wins, so the choice does not depend on the order the file system
// lists a folder in.
std::string FindFileInTree(const std::string& dir, const std::string& name) {
  namespace fs = std::filesystem;
  std::vector<std::string> found;
  std::error_code ec;
  for (fs::recursive_directory_iterator
           it(dir, fs::directory_options::skip_permission_denied, ec),
       end;
       !ec && it != end; it.increment(ec)) {
    if (it->path().filename() != name) continue;
    std::error_code file_ec;
    if (fs::is_regular_file(it->path(), file_ec)) {
      found.push_back(it->path().string());
    }
  }
  if (found.empty()) return "";
  return *std::min_element(found.begin(), found.end());
}

// The model file as errors name it.
const std::string& ModelFileName(const ModelFile& file) {
  return file.source.file.empty() ? file.model.name() : file.source.file;
}

// LoadModel(dir), with the registry prepared for the saved model.pbtxt: the
// built-in ops, `plugins` and the plugins the model declares.
absl::StatusOr<LoadedModel> LoadSavedModel(
    const std::string& dir, const std::vector<std::string>& plugins,
    const PluginSearch& search, OpRegistry* registry) {
  auto file = ReadSavedModelFile(dir);
  if (!file.ok()) return file.status();
  if (auto s = PrepareRegistryForModel(*file, plugins, search, registry);
      !s.ok()) {
    return s;
  }
  return LoadModel(dir, *file, *registry);
}

}  // namespace

std::string UserPath(const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  const char* wd = std::getenv("BUILD_WORKING_DIRECTORY");
  return wd != nullptr ? absl::StrCat(wd, "/", path) : path;
}

void SetThreads(int threads) {
  if (threads > 0) omp_set_num_threads(threads);
}

absl::Status PrepareRegistry(const std::vector<std::string>& plugins,
                             OpRegistry* registry) {
  if (auto s = RegisterBuiltinOps(registry); !s.ok()) return s;
  for (const std::string& p : plugins) {
    if (auto s = LoadPlugin(UserPath(p), registry); !s.ok()) return s;
  }
  return absl::OkStatus();
}

std::vector<std::string> PluginSearchPath(const PluginSearch& search) {
  std::vector<std::string> dirs;
  AppendDirs(search.plugin_path, &dirs);
  if (const char* env = std::getenv("LOOM_PLUGIN_PATH"); env != nullptr) {
    AppendDirs(env, &dirs);
  }
  if (!search.shipped_dir.empty()) dirs.push_back(search.shipped_dir);
  return dirs;
}

std::string ShippedPluginDir(const std::string& program) {
  const char* runfiles = std::getenv("RUNFILES_DIR");
  std::string root;
  if (runfiles != nullptr && runfiles[0] != '\0') {
    root = runfiles;
  } else if (!program.empty()) {
    root = program + ".runfiles";
  } else {
    return "";
  }
  return absl::StrCat(root, "/", kWorkspaceName, "/plugins");
}

absl::StatusOr<std::vector<std::string>> ResolveRequiredPlugins(
    const ModelFile& file, const std::vector<std::string>& plugins,
    const std::vector<std::string>& search_path) {
  namespace fs = std::filesystem;
  // File names already provided: the explicit plugins, then each declared
  // plugin once resolved (a name declared twice is loaded once).
  absl::flat_hash_set<std::string> provided;
  for (const std::string& p : plugins) {
    provided.insert(fs::path(p).filename().string());
  }
  const std::string& model = ModelFileName(file);
  std::vector<std::string> paths;
  for (const std::string& name : file.model.required_plugin()) {
    if (name.empty() || name.find('/') != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          model, ": required_plugin '", name,
          "' must be a plugin's file name (e.g. libloom_gru.so), without a "
          "directory; put the directory on --plugin_path"));
    }
    if (provided.contains(name)) continue;
    std::string found;
    for (const std::string& dir : search_path) {
      found = FindFileInTree(dir, name);
      if (!found.empty()) break;
    }
    if (found.empty()) {
      return absl::NotFoundError(absl::StrCat(
          model, " requires plugin '", name,
          "', not found on the plugin path (",
          search_path.empty() ? "no directories"
                              : absl::StrJoin(search_path, ", "),
          "); build it and pass --plugin=PATH or --plugin_path=DIR"));
    }
    provided.insert(name);
    paths.push_back(found);
  }
  return paths;
}

absl::Status PrepareRegistryForModel(const ModelFile& file,
                                     const std::vector<std::string>& plugins,
                                     const PluginSearch& search,
                                     OpRegistry* registry) {
  if (auto s = PrepareRegistry(plugins, registry); !s.ok()) return s;
  auto required =
      ResolveRequiredPlugins(file, plugins, PluginSearchPath(search));
  if (!required.ok()) return required.status();
  for (const std::string& path : *required) {
    if (auto s = LoadPlugin(path, registry); !s.ok()) {
      return absl::Status(
          s.code(),
          absl::StrCat(ModelFileName(file), " requires plugin '",
                       std::filesystem::path(path).filename().string(),
                       "', found as ", path, ": ", s.message()));
    }
  }
  return absl::OkStatus();
}

absl::Status ApplyOverrides(const ConfigOverrides& o, ModelDef* def) {
  for (const std::string& assignment : o.set) {
    if (auto s = SetConfigValue(assignment, def); !s.ok()) return s;
  }
  TrainingDef* t = def->mutable_training();
  TextDatasetDef* d = def->mutable_dataset();
  auto positive = [](const char* flag, int64_t v) -> absl::Status {
    if (v > 0) return absl::OkStatus();
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, " must be positive, got ", v));
  };
  if (o.epochs) {
    if (*o.epochs < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--epochs must be >= 0, got ", *o.epochs));
    }
    t->set_epochs(*o.epochs);
  }
  if (o.batch_size) {
    if (auto s = positive("batch_size", *o.batch_size); !s.ok()) return s;
    t->set_batch_size(*o.batch_size);
  }
  if (o.learning_rate) {
    if (!(*o.learning_rate > 0)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--learning_rate must be positive, got ", *o.learning_rate));
    }
    OptimizerDef* opt = t->mutable_optimizer();
    if (opt->has_sgd()) {
      opt->mutable_sgd()->set_learning_rate(*o.learning_rate);
    } else {
      opt->mutable_adam()->set_learning_rate(*o.learning_rate);
    }
  }
  if (o.validation_split) {
    if (*o.validation_split < 0 || *o.validation_split >= 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--validation_split must be in [0, 1), got ", *o.validation_split));
    }
    t->set_validation_split(*o.validation_split);
  }
  if (o.seed) t->set_seed(*o.seed);
  if (o.max_len) {
    if (auto s = positive("max_len", *o.max_len); !s.ok()) return s;
    d->set_max_len(*o.max_len);
  }
  if (o.num_words) {
    if (*o.num_words <= 3) {
      return absl::InvalidArgumentError(
          absl::StrCat("--num_words must be > 3, got ", *o.num_words));
    }
    d->set_num_words(*o.num_words);
  }
  if (o.train_limit) {
    if (*o.train_limit < 0) {
      return absl::InvalidArgumentError("--train_limit must be >= 0");
    }
    d->set_train_limit(*o.train_limit);
  }
  if (o.test_limit) {
    if (*o.test_limit < 0) {
      return absl::InvalidArgumentError("--test_limit must be >= 0");
    }
    d->set_test_limit(*o.test_limit);
  }
  if (o.patience) {
    if (*o.patience < 0) {
      return absl::InvalidArgumentError("--patience must be >= 0");
    }
    for (CallbackDef& c : *t->mutable_callback()) {
      if (c.has_early_stopping()) {
        c.mutable_early_stopping()->set_patience(*o.patience);
      }
    }
  }
  SyncGraphWithDataset(def);
  if (t->epochs() <= 0 && !o.epochs) t->set_epochs(1);
  if (t->batch_size() <= 0) t->set_batch_size(32);  // Keras' default.
  return absl::OkStatus();
}

absl::Status RunTrainJob(const TrainJobOptions& options, std::ostream& out) {
  SetThreads(options.threads);
  auto file = ReadModelFile(UserPath(options.graph));
  if (!file.ok()) return file.status();
  OpRegistry registry;
  if (auto s = PrepareRegistryForModel(*file, options.plugins,
                                       options.plugin_search, &registry);
      !s.ok()) {
    return s;
  }
  ModelDef& def = file->model;
  if (auto s = ApplyOverrides(options.overrides, &def); !s.ok()) return s;
  const TrainingDef& training = def.training();

  auto model = Model::Create(*file, registry, training.seed());
  if (!model.ok()) return model.status();

  out << "Loading data (" << def.dataset().name() << ", num_words "
      << def.dataset().num_words() << ", max_len " << def.dataset().max_len()
      << ")\n"
      << std::flush;
  auto dataset = LoadData(options.data, def.dataset());
  if (!dataset.ok()) return dataset.status();
  auto split =
      SplitValidation(ToArrays(dataset->train), training.validation_split());
  if (!split.ok()) return split.status();
  const Arrays test = ToArrays(dataset->test);
  out << "Train on " << split->first.size() << " examples, validate on "
      << split->second.size() << ", test on " << test.size() << "\n";

  const std::string dir =
      UserPath(options.output_dir.empty()
                   ? absl::StrCat("runs/", def.name(), "-", Timestamp())
                   : options.output_dir);
  if (auto s = MakeDirectories(dir); !s.ok()) return s;
  if (auto s = WriteModelFile(def, dir + "/config.pbtxt"); !s.ok()) return s;

  auto callbacks = CreateCallbacks(training, &out);
  if (!callbacks.ok()) return callbacks.status();
  CheckpointWriter checkpoints(dir + "/checkpoints",
                               split->second.size() > 0 ? "val_loss" : "loss");
  std::vector<Callback*> all = {&checkpoints};
  for (auto& c : *callbacks) all.push_back(c.get());

  FitOptions fit;
  fit.epochs = training.epochs();
  fit.batch_size = training.batch_size();
  fit.shuffle = true;
  fit.seed = training.seed();
  fit.log = &out;
  fit.interactive = options.interactive;
  (*model)->executor().set_profiling(options.profile);
  auto history = (*model)->Fit(split->first, split->second, fit, all);
  if (!history.ok()) return history.status();
  if (options.profile) out << (*model)->executor().ProfileReport();

  auto metrics = (*model)->Evaluate(test, training.batch_size());
  if (!metrics.ok()) return metrics.status();
  out << TestLine(*metrics) << "\n";

  const std::string title =
      def.description().empty() ? def.name() : def.description();
  if (auto s = WriteHistoryCsv(*history, dir + "/history.csv"); !s.ok()) {
    return s;
  }
  if (auto s = WriteHistoryJson(*history, dir + "/history.json"); !s.ok()) {
    return s;
  }
  if (auto s =
          WriteLearningCurveSvg(*history, title, dir + "/learning_curve.svg");
      !s.ok()) {
    return s;
  }
  std::string results = absl::StrCat(TestLine(*metrics), "\n");
  for (const EpochLog& e : history->epochs) {
    absl::StrAppendFormat(&results,
                          "epoch %d: %.2f s (training steps %.2f s)\n", e.epoch,
                          e.seconds, e.train_seconds);
  }
  absl::StrAppendFormat(&results, "peak memory: %.0f MB\n", PeakMemoryMb());
  if (auto s = WriteFileAtomically(dir + "/results.txt", results); !s.ok()) {
    return s;
  }
  if (auto s = SaveModel(**model, dataset->vocabulary, dir + "/model");
      !s.ok()) {
    return s;
  }
  out << "Wrote " << dir << " (history.csv, history.json, "
      << "learning_curve.svg, model/, checkpoints/); peak memory "
      << absl::StrFormat("%.0f", PeakMemoryMb()) << " MB\n";
  return absl::OkStatus();
}

absl::Status RunEvaluateJob(const EvaluateJobOptions& options,
                            std::ostream& out) {
  SetThreads(options.threads);
  OpRegistry registry;
  auto loaded = LoadSavedModel(UserPath(options.model_dir), options.plugins,
                               options.plugin_search, &registry);
  if (!loaded.ok()) return loaded.status();
  const ModelDef& def = loaded->model->def();
  std::string path =
      options.data.empty() ? data::DefaultDataPath() : UserPath(options.data);
  if (path.empty()) {
    return absl::NotFoundError("no IMDb data: pass --data=PATH");
  }
  auto corpus = data::ReadImdb(path);
  if (!corpus.ok()) return corpus.status();
  auto test = data::EncodeTestSplit(*corpus, loaded->vocabulary, def.dataset());
  if (!test.ok()) return test.status();
  const int batch = options.batch_size > 0
                        ? options.batch_size
                        : std::max(1, def.training().batch_size());
  auto metrics = loaded->model->Evaluate(ToArrays(*test), batch);
  if (!metrics.ok()) return metrics.status();
  out << "Evaluated on " << test->n << " test reviews\n"
      << TestLine(*metrics) << "\n";
  return absl::OkStatus();
}

absl::Status RunPredictJob(const PredictJobOptions& options,
                           std::ostream& out) {
  SetThreads(options.threads);
  if (options.texts.empty()) {
    return absl::InvalidArgumentError("no review text to classify");
  }
  OpRegistry registry;
  auto loaded = LoadSavedModel(UserPath(options.model_dir), options.plugins,
                               options.plugin_search, &registry);
  if (!loaded.ok()) return loaded.status();
  Tensor ids = EncodeTexts(options.texts, loaded->vocabulary,
                           loaded->model->def().dataset());
  auto probs = loaded->model->Predict(ids, 64);
  if (!probs.ok()) return probs.status();
  for (size_t i = 0; i < options.texts.size(); ++i) {
    const float p = probs->f32()[i * (probs->num_elements() / probs->dim(0))];
    std::string preview = options.texts[i].substr(0, 60);
    for (char& c : preview) {
      if (c == '\n' || c == '\t') c = ' ';
    }
    out << absl::StrFormat("%.4f\t%s\t%s%s\n", p,
                           p > 0.5f ? "positive" : "negative", preview,
                           options.texts[i].size() > 60 ? "..." : "");
  }
  return absl::OkStatus();
}

}  // namespace loom
