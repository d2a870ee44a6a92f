#include "framework/training/train_job.h"

#include <omp.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <ostream>
#include <sstream>
#include <system_error>
#include <thread>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "framework/checkpoint.h"
#include "framework/data/corpus.h"
#include "framework/data/dataset.h"
#include "framework/file_util.h"
#include "framework/model_io.h"
#include "framework/plugin.h"
#include "framework/registry.h"
#include "framework/training/callbacks.h"
#include "framework/training/classification.h"
#include "framework/training/config_set.h"
#include "framework/training/history.h"
#include "framework/training/model.h"
#include "framework/training/resume.h"
#include "framework/training/saved_model.h"
#include "framework/training/score_file.h"

namespace loom {
namespace {

LabeledExamples ToLabeledExamples(const data::EncodedSplit& split) {
  LabeledExamples examples;
  examples.features = Tensor::FromVector({split.n, split.max_len}, split.ids);
  examples.labels = Tensor::FromVector({split.n, 1}, split.labels);
  return examples;
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

// The first `max_bytes` bytes of `text` on one line, cut at a character
// boundary, with "..." if anything was cut.
std::string TextPreview(const std::string& text, size_t max_bytes) {
  size_t end = std::min(max_bytes, text.size());
  while (end > 0 && end < text.size() &&
         (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) {
    --end;  // Inside a UTF-8 sequence.
  }
  std::string preview = text.substr(0, end);
  for (char& c : preview) {
    if (c == '\n' || c == '\t' || c == '\r') c = ' ';
  }
  return end < text.size() ? preview + "..." : preview;
}

double PeakMemoryMb() {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024.0;
}

// Keeps the graph consistent with the data set settings: the features
// input is [batch, max_len] and every table an Embedding node reads has
// num_words rows. The other parameters follow by themselves when the ops
// create them (Graph::Build shapes them from these).
void SyncGraphWithDataset(ModelDef* def) {
  GraphDef* graph = def->mutable_graph();
  const TextDatasetDef& d = def->dataset();
  for (InputDef& in : *graph->mutable_input()) {
    if (in.name() == def->features_input() && in.shape().dim_size() == 2 &&
        d.max_len() > 0) {
      in.mutable_shape()->set_dim(1, d.max_len());
    }
  }
  if (d.num_words() <= 0) return;
  for (NodeDef& node : *graph->mutable_node()) {
    if (node.op() != "Embedding") continue;
    // A node giving only the ids has the op create "<node>/table" of
    // input_dim rows (a parameter of that name declared overrides it).
    const bool created = node.input_size() < 2;
    if (created) (*node.mutable_attr())["input_dim"].set_i(d.num_words());
    const std::string table = created ? node.name() + "/table" : node.input(1);
    for (ParameterDef& p : *graph->mutable_parameter()) {
      if (p.name() == table && p.shape().dim_size() == 2) {
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

// The paths of the files named `name` in the directory tree `dir`
// (searched recursively; directory symlinks below `dir` are not followed),
// in sorted order, so that the first does not depend on the order the file
// system lists a folder in; none if `dir` cannot be read.
std::vector<std::string> FindFilesInTree(const std::string& dir,
                                         const std::string& name) {
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
  std::sort(found.begin(), found.end());
  return found;
}

// The checksum of a plugin file, to tell copies from different builds
// (0 if it cannot be read: then it is compared by path only).
uint64_t FileChecksum(const std::string& path) {
  return PluginFileChecksum(path).value_or(0);
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
  if (auto s =
          PrepareRegistryForModelDir(dir, *file, plugins, search, registry);
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

absl::Status ResolveDataSource(const DataFlags& flags, TextDatasetDef* d) {
  if (!flags.data.empty()) {
    d->set_source(UserPath(flags.data));
  } else if (!d->source().empty()) {
    d->set_source(UserPath(d->source()));
  } else {
    d->set_source(data::DefaultDataPath());
    if (d->source().empty()) {
      return absl::NotFoundError(
          "no data: pass --data=PATH (a CSV, TSV or JSON Lines file, a "
          "folder of class subfolders, or IMDb's archive or folder), or run "
          "tools/setup.sh --imdb PATH to put IMDb in the data cache");
    }
  }
  if (!flags.test_data.empty()) {
    d->set_test_source(UserPath(flags.test_data));
  } else if (!d->test_source().empty()) {
    d->set_test_source(UserPath(d->test_source()));
  }
  if (!flags.data_format.empty()) d->set_format(flags.data_format);
  if (!flags.text_column.empty()) d->set_text_column(flags.text_column);
  if (!flags.label_column.empty()) d->set_label_column(flags.label_column);
  if (!flags.on_bad_rows.empty()) d->set_on_bad_rows(flags.on_bad_rows);
  if (!flags.on_bad_text.empty()) d->set_on_bad_text(flags.on_bad_text);
  return data::ValidateSourceSettings(*d);
}

int MaxThreads() {
  const unsigned cores = std::thread::hardware_concurrency();
  return 4 * static_cast<int>(cores > 0 ? cores : 1);
}

absl::Status CheckThreads(int threads) {
  if (threads < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--threads must be >= 0 (0: all cores), got ", threads));
  }
  if (threads > MaxThreads()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--threads=", threads, " is more than ", MaxThreads(),
                     ", 4 per core on this machine's ", MaxThreads() / 4,
                     " cores; more threads only wait for each other"));
  }
  return absl::OkStatus();
}

void SetThreads(int threads) {
  if (threads > 0) omp_set_num_threads(std::min(threads, MaxThreads()));
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
    // The first folder on the path holding it wins (the first in sorted
    // order within a folder); copies elsewhere are fine if they are the
    // same file, but two different builds of one name would make the
    // choice silent and surprising: that is an error naming them.
    std::vector<std::string> all;
    for (const std::string& dir : search_path) {
      for (std::string& f : FindFilesInTree(dir, name)) {
        all.push_back(std::move(f));
      }
    }
    const std::string found = all.empty() ? "" : all.front();
    if (all.size() > 1) {
      const uint64_t first = FileChecksum(found);
      std::vector<std::string> different;
      for (size_t i = 1; i < all.size(); ++i) {
        const uint64_t other = FileChecksum(all[i]);
        if (first == 0 || other == 0 || other != first) {
          different.push_back(all[i]);
        }
      }
      if (!different.empty()) {
        return absl::FailedPreconditionError(absl::StrCat(
            model, " requires plugin '", name,
            "', and the plugin path holds different files of that name: ",
            found, " (first on the path) and ", absl::StrJoin(different, ", "),
            "; remove the stale ones or choose one with --plugin=PATH"));
      }
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

absl::Status PrepareRegistryForModelDir(const std::string& dir,
                                        const ModelFile& file,
                                        const std::vector<std::string>& plugins,
                                        const PluginSearch& search,
                                        OpRegistry* registry) {
  auto carried = ModelFolderPlugins(dir);
  if (!carried.ok()) return carried.status();
  // A --plugin of the same file name wins over the folder's copy.
  absl::flat_hash_set<std::string> given;
  for (const std::string& p : plugins) {
    given.insert(std::filesystem::path(p).filename().string());
  }
  std::vector<std::string> all = plugins;
  for (const std::string& p : *carried) {
    if (!given.contains(std::filesystem::path(p).filename().string())) {
      all.push_back(p);
    }
  }
  return PrepareRegistryForModel(file, all, search, registry);
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
    if (!(*o.learning_rate > 0 && *o.learning_rate <= kMaxLearningRate)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--learning_rate must be a finite number in (0, ",
                       kMaxLearningRate, "], got ", *o.learning_rate));
    }
    OptimizerDef* opt = t->mutable_optimizer();
    if (opt->has_sgd()) {
      opt->mutable_sgd()->set_learning_rate(*o.learning_rate);
    } else {
      opt->mutable_adam()->set_learning_rate(*o.learning_rate);
    }
  }
  if (o.validation_split) {
    if (!(*o.validation_split >= 0 && *o.validation_split < 1)) {
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
  // Once, after every override: the model file's values and --set's too.
  if (auto s = CheckModelSettings(*def); !s.ok()) return s;
  SyncGraphWithDataset(def);
  if (t->epochs() <= 0 && !o.epochs) t->set_epochs(1);
  if (t->batch_size() <= 0) t->set_batch_size(32);  // Keras' default.
  return absl::OkStatus();
}

namespace {

// --resume continues a run with the settings it started with: its
// config.pbtxt. Anything that would change them is an error naming it.
absl::Status CheckResumeOptions(const TrainJobOptions& options) {
  std::vector<std::string> given;
  if (!options.graph.empty()) given.push_back("--graph");
  const DataFlags& d = options.data_flags;
  for (const auto& [flag, value] :
       {std::pair<const char*, const std::string*>{"--data", &d.data},
        {"--test_data", &d.test_data},
        {"--data_format", &d.data_format},
        {"--text_column", &d.text_column},
        {"--label_column", &d.label_column},
        {"--on_bad_rows", &d.on_bad_rows},
        {"--on_bad_text", &d.on_bad_text}}) {
    if (!value->empty()) given.push_back(flag);
  }
  if (!options.output_dir.empty()) given.push_back("--output_dir");
  const ConfigOverrides& o = options.overrides;
  if (o.batch_size) given.push_back("--batch_size");
  if (o.learning_rate) given.push_back("--learning_rate");
  if (o.validation_split) given.push_back("--validation_split");
  if (o.seed) given.push_back("--seed");
  if (o.max_len) given.push_back("--max_len");
  if (o.num_words) given.push_back("--num_words");
  if (o.train_limit) given.push_back("--train_limit");
  if (o.test_limit) given.push_back("--test_limit");
  if (o.patience) given.push_back("--patience");
  if (!o.set.empty()) given.push_back("--set");
  if (given.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "--resume continues the run with the settings it started with (its "
      "config.pbtxt); leave out ",
      absl::StrJoin(given, ", "),
      " (only --epochs, --threads, --checkpoint_every and the plugin and "
      "progress flags may be given)"));
}

}  // namespace

absl::Status RunTrainJob(const TrainJobOptions& options,
                         std::ostream& out_arg) {
  // Data-parallel: only rank 0 prints and writes.
  const bool ranks = options.comm != nullptr && options.comm->size() > 1;
  const bool root = !ranks || options.comm->is_root();
  std::ostringstream discard;
  std::ostream& out = root ? out_arg : discard;
  if (ranks && (!options.resume_dir.empty() || options.checkpoint_every > 0)) {
    return absl::UnimplementedError(
        "--resume and --checkpoint_every do not work under mpirun yet (the "
        "epoch's running metrics are per rank); train with one process, or "
        "without them");
  }
  if (auto s = CheckThreads(options.threads); !s.ok()) return s;
  if (options.checkpoint_every < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--checkpoint_every must be >= 0 (0: at every epoch's end only), got ",
        options.checkpoint_every));
  }
  const bool resuming = !options.resume_dir.empty();
  const std::string resume_dir = resuming ? UserPath(options.resume_dir) : "";
  if (resuming) {
    if (auto s = CheckResumeOptions(options); !s.ok()) return s;
  }
  SetThreads(options.threads);
  auto file = ReadModelFile(resuming ? resume_dir + "/config.pbtxt"
                                     : UserPath(options.graph));
  if (!file.ok()) {
    if (resuming && absl::IsNotFound(file.status())) {
      return absl::NotFoundError(absl::StrCat(
          "--resume=", options.resume_dir, ": ", file.status().message(),
          " (--resume takes the output folder of a tools/train run)"));
    }
    return file.status();
  }
  OpRegistry registry;
  if (auto s = PrepareRegistryForModel(*file, options.plugins,
                                       options.plugin_search, &registry);
      !s.ok()) {
    return s;
  }
  ModelDef& def = file->model;
  if (auto s = ApplyOverrides(options.overrides, &def); !s.ok()) return s;
  const TrainingDef& training = def.training();

  if (auto s = ResolveDataSource(options.data_flags, def.mutable_dataset());
      !s.ok()) {
    return s;
  }
  auto model = Model::Create(*file, registry, training.seed());
  if (!model.ok()) return model.status();
  (*model)->set_communicator(options.comm);

  out << "Loading data (" << def.dataset().source() << ", num_words "
      << def.dataset().num_words() << ", max_len " << def.dataset().max_len()
      << ")\n"
      << std::flush;
  auto dataset = data::LoadTextDataset("", def.dataset());
  if (!dataset.ok()) return dataset.status();
  for (const std::string& note : dataset->notes)
    out << "Data: " << note << "\n";
  // The classes are saved with the model, in the order of its outputs.
  for (TextDatasetDef* d :
       {def.mutable_dataset(), (*model)->mutable_def()->mutable_dataset()}) {
    d->clear_class_name();
    for (const std::string& name : dataset->class_names)
      d->add_class_name(name);
  }
  if (auto s = CheckClassesMatchModel(**model, dataset->class_names); !s.ok()) {
    return s;
  }
  auto split = SplitValidation(ToLabeledExamples(dataset->train),
                               training.validation_split());
  if (!split.ok()) return split.status();
  const LabeledExamples test = ToLabeledExamples(dataset->test);
  out << "Train on " << split->first.size() << " examples, validate on "
      << split->second.size() << ", test on " << test.size() << "\n";

  const std::string dir =
      resuming
          ? resume_dir
          : UserPath(options.output_dir.empty()
                         ? absl::StrCat("runs/", def.name(), "-", Timestamp())
                         : options.output_dir);
  if (root) {
    if (auto s = MakeDirectories(dir); !s.ok()) return s;
    if (auto s = WriteModelFile(def, dir + "/config.pbtxt"); !s.ok()) {
      return s;
    }
  }

  auto callbacks = CreateCallbacks(training, &out);
  if (!callbacks.ok()) return callbacks.status();
  CheckpointWriter checkpoints(dir + "/checkpoints",
                               split->second.size() > 0 ? "val_loss" : "loss");
  std::vector<Callback*> all;
  if (root) all.push_back(&checkpoints);
  for (auto& c : *callbacks) all.push_back(c.get());

  ResumeWriter resume_writer(dir + "/checkpoints");
  if (options.checkpoint_stage_hook) {
    resume_writer.set_stage_hook(options.checkpoint_stage_hook);
  }
  TrainingState resume_state;
  FitOptions fit;
  if (resuming) {
    std::vector<std::string> notes;
    std::string path;
    auto state = LoadResumeState(dir + "/checkpoints", &notes, &path);
    for (const std::string& note : notes) out << "Resume: " << note << "\n";
    if (!state.ok()) return state.status();
    resume_state = *std::move(state);
    out << "Resuming " << dir << " from " << path << ": "
        << (resume_state.step() > 0
                ? absl::StrCat("epoch ", resume_state.epoch(), " after step ",
                               resume_state.step())
                : absl::StrCat(resume_state.history_size(), " epochs done"))
        << "\n";
    if (resume_state.threads() != options.threads) {
      out << "Resume: the run was started with --threads="
          << resume_state.threads()
          << " and resumes with --threads=" << options.threads
          << "; results may differ from an uninterrupted run in the last "
             "bits\n";
    }
    fit.resume_from = &resume_state;
  }
  fit.epochs = training.epochs();
  fit.batch_size = training.batch_size();
  fit.shuffle = true;
  fit.seed = training.seed();
  fit.log = &out;
  fit.interactive = options.interactive;
  fit.resume_writer = root ? &resume_writer : nullptr;
  fit.checkpoint_every = options.checkpoint_every;
  fit.stop_requested = options.stop_requested;
  fit.threads = options.threads;
  (*model)->executor().set_profiling(options.profile);
  auto history = (*model)->Fit(split->first, split->second, fit, all);
  if (absl::IsCancelled(history.status())) {
    return absl::CancelledError(absl::StrCat(
        history.status().message(), " to ", dir,
        "/checkpoints; continue the run with: tools/train --resume=", dir,
        " (bazel run //tools:train -- --resume=", dir, ")"));
  }
  if (!history.ok()) return history.status();
  if (options.profile) out << (*model)->executor().ProfileReport();

  auto metrics = (*model)->Evaluate(test, training.batch_size());
  if (!metrics.ok()) return metrics.status();
  out << TestLine(*metrics) << "\n";
  auto report = EvaluateClassification(**model, test, training.batch_size(),
                                       dataset->class_names);
  if (!report.ok()) return report.status();
  out << absl::StrFormat("Test macro F1: %.4f (%d classes)\n", report->macro_f1,
                         dataset->class_names.size());
  if (!root) return absl::OkStatus();  // Rank 0 writes the run folder.

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
  if (auto s = WriteConfusionMatrixSvg(*report, title,
                                       dir + "/confusion_matrix.svg");
      !s.ok()) {
    return s;
  }
  std::string results = absl::StrCat(TestLine(*metrics), "\n",
                                     FormatClassificationReport(*report));
  for (const EpochLog& e : history->epochs) {
    absl::StrAppendFormat(&results,
                          "epoch %d: %.2f s (training steps %.2f s)\n", e.epoch,
                          e.seconds, e.train_seconds);
  }
  absl::StrAppendFormat(&results, "peak memory: %.0f MB\n", PeakMemoryMb());
  if (auto s = WriteFileAtomically(dir + "/results.txt", results); !s.ok()) {
    return s;
  }
  if (auto s = SaveModel(**model, dataset->vocabulary, dir + "/model",
                         options.copy_plugins);
      !s.ok()) {
    return s;
  }
  out << "Wrote " << dir << " (history.csv, history.json, "
      << "learning_curve.svg, confusion_matrix.svg, results.txt, model/, "
      << "checkpoints/); peak memory "
      << absl::StrFormat("%.0f", PeakMemoryMb()) << " MB\n";
  return absl::OkStatus();
}

absl::Status RunEvaluateJob(const EvaluateJobOptions& options,
                            std::ostream& out) {
  if (auto s = CheckThreads(options.threads); !s.ok()) return s;
  if (options.batch_size < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--batch_size must be positive (0: the model's), got ",
                     options.batch_size));
  }
  SetThreads(options.threads);
  OpRegistry registry;
  auto loaded = LoadSavedModel(UserPath(options.model_dir), options.plugins,
                               options.plugin_search, &registry);
  if (!loaded.ok()) return loaded.status();
  TextDatasetDef dataset_def = loaded->model->def().dataset();
  if (auto s = ResolveDataSource(options.data_flags, &dataset_def); !s.ok()) {
    return s;
  }
  const ModelDef& def = loaded->model->def();
  auto corpus = data::LoadCorpus(dataset_def);
  if (!corpus.ok()) return corpus.status();
  for (const std::string& note : corpus->notes) out << "Data: " << note << "\n";
  auto test = data::EncodeTestSplit(*corpus, loaded->vocabulary, dataset_def);
  if (!test.ok()) return test.status();
  const int batch = options.batch_size > 0
                        ? options.batch_size
                        : std::max(1, def.training().batch_size());
  const LabeledExamples test_examples = ToLabeledExamples(*test);
  auto metrics = loaded->model->Evaluate(test_examples, batch);
  if (!metrics.ok()) return metrics.status();
  auto report = EvaluateClassification(*loaded->model, test_examples, batch,
                                       corpus->class_names);
  if (!report.ok()) return report.status();
  out << "Evaluated on " << test->n << " test examples\n"
      << TestLine(*metrics) << "\n"
      << FormatClassificationReport(*report);
  return absl::OkStatus();
}

absl::Status RunPredictJob(const PredictJobOptions& options,
                           std::ostream& out) {
  if (auto s = CheckThreads(options.threads); !s.ok()) return s;
  SetThreads(options.threads);
  const bool file_mode = !options.input.empty();
  if (file_mode && options.output.empty()) {
    return absl::InvalidArgumentError(
        "--input needs --output (the scored file to write)");
  }
  if (file_mode && !options.texts.empty()) {
    return absl::InvalidArgumentError(
        "give either --input or texts to classify, not both");
  }
  if (!file_mode && options.texts.empty()) {
    return absl::InvalidArgumentError("no review text to classify");
  }
  if (options.batch_size <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--batch_size must be positive, got ", options.batch_size));
  }
  OpRegistry registry;
  auto loaded = LoadSavedModel(UserPath(options.model_dir), options.plugins,
                               options.plugin_search, &registry);
  if (!loaded.ok()) return loaded.status();
  Model& model = *loaded->model;
  std::vector<std::string> classes(model.def().dataset().class_name().begin(),
                                   model.def().dataset().class_name().end());
  if (classes.empty()) classes = {"negative", "positive"};  // Older models.
  if (file_mode) {
    // Scoring reads the columns and bad-input settings the model trained
    // with, unless the flags say otherwise.
    TextDatasetDef d = model.def().dataset();
    d.clear_class_name();
    for (const std::string& c : classes) d.add_class_name(c);
    DataFlags flags = options.data_flags;
    flags.data = options.input;
    if (auto s = ResolveDataSource(flags, &d); !s.ok()) return s;
    *model.mutable_def()->mutable_dataset()->mutable_class_name() =
        d.class_name();
    ScoreFileOptions score;
    score.input = d.source();
    score.output = UserPath(options.output);
    score.input_format = options.data_flags.data_format;
    score.output_format = options.output_format;
    if (!d.text_column().empty()) score.read.text_column = d.text_column();
    if (!d.label_column().empty()) score.read.label_column = d.label_column();
    score.read.skip_bad_rows = d.on_bad_rows() == "skip";
    score.read.replace_bad_text = d.on_bad_text() == "replace";
    score.batch_size = options.batch_size;
    score.interactive = options.interactive;
    auto summary = ScoreFile(model, loaded->vocabulary, score, out);
    return summary.status();
  }
  if (auto s = CheckClassesMatchModel(model, classes); !s.ok()) return s;
  Tensor ids =
      EncodeTexts(options.texts, loaded->vocabulary, model.def().dataset());
  auto probs = model.Predict(ids, options.batch_size);
  if (!probs.ok()) return probs.status();
  std::vector<float> p;
  for (size_t i = 0; i < options.texts.size(); ++i) {
    ClassProbabilities(*probs, static_cast<int64_t>(i), &p);
    const int label = ArgMax(p);
    const float shown = p.size() == 2 ? p[1] : p[label];
    out << absl::StrFormat("%.4f\t%s\t%s\n", shown, classes[label],
                           TextPreview(options.texts[i], 60));
  }
  return absl::OkStatus();
}

}  // namespace loom
