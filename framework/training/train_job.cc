#include "framework/training/train_job.h"

#include <memory>
#include <ostream>
#include <sstream>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "framework/data/dataset.h"
#include "framework/file_util.h"
#include "framework/model_io.h"
#include "framework/status_macros.h"
#include "framework/training/callbacks.h"
#include "framework/training/classification.h"
#include "framework/training/model.h"
#include "framework/training/resume.h"
#include "framework/training/run_folder.h"
#include "framework/training/saved_model.h"
#include "framework/training/warm_start.h"

namespace loom {
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
        {"--group_by", &d.group_by},
        {"--on_bad_rows", &d.on_bad_rows},
        {"--on_bad_text", &d.on_bad_text}}) {
    if (!value->empty()) given.push_back(flag);
  }
  if (!options.output_dir.empty()) given.push_back("--output_dir");
  for (const auto& [flag, value] : GivenSettingFlags(options.overrides)) {
    if (!flag->resumable) given.push_back(absl::StrCat("--", flag->name));
  }
  if (!options.overrides.set.empty()) given.push_back("--set");
  if (!options.lstm_precision.empty()) given.push_back("--lstm_precision");
  if (given.empty()) return absl::OkStatus();
  std::vector<std::string> allowed;
  for (const SettingFlag& flag : SettingFlags()) {
    if (flag.resumable) allowed.push_back(absl::StrCat("--", flag.name));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "--resume continues the run with the settings it started with (its "
      "config.pbtxt); leave out ",
      absl::StrJoin(given, ", "), " (only ", absl::StrJoin(allowed, ", "),
      ", --threads, --checkpoint_every and the plugin and progress flags may "
      "be given)"));
}

// The options checked before anything is read.
absl::Status CheckTrainOptions(const TrainJobOptions& options) {
  LOOM_RETURN_IF_ERROR(CheckThreads(options.threads));
  if (options.checkpoint_every < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--checkpoint_every must be >= 0 (0: at every epoch's end only), got ",
        options.checkpoint_every));
  }
  if (!options.resume_dir.empty()) {
    LOOM_RETURN_IF_ERROR(CheckResumeOptions(options));
  }
  return absl::OkStatus();
}

// The configuration a run trains with: the model file (--graph), or the
// config.pbtxt of the run `resume_dir` continues; `registry` prepared for
// the plugins it declares, the overrides applied and the data source
// resolved.
absl::StatusOr<ModelFile> ReadTrainConfig(const TrainJobOptions& options,
                                          const std::string& resume_dir,
                                          OpRegistry* registry) {
  const bool resuming = !resume_dir.empty();
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
  LOOM_RETURN_IF_ERROR(PrepareRegistryForModel(
      *file, options.plugins, options.plugin_search, registry));
  LOOM_RETURN_IF_ERROR(ApplyOverrides(options.overrides, &file->model));
  if (!options.lstm_precision.empty()) {
    int lstm_nodes = 0;
    for (NodeDef& node : *file->model.mutable_graph()->mutable_node()) {
      if (node.op() != "LSTM") continue;
      (*node.mutable_attr())["precision"].set_s(options.lstm_precision);
      ++lstm_nodes;
    }
    if (lstm_nodes == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--lstm_precision=", options.lstm_precision,
                       ": the model has no LSTM node"));
    }
  }
  LOOM_RETURN_IF_ERROR(
      ResolveDataSource(options.data_flags, file->model.mutable_dataset()));
  return file;
}

// The newest intact resume checkpoint of the run folder `dir`, with what
// resuming it means printed to `out`.
absl::StatusOr<TrainingState> LoadResumeCheckpoint(const std::string& dir,
                                                   int threads,
                                                   std::ostream& out) {
  std::vector<std::string> notes;
  std::string path;
  auto state = LoadResumeState(dir + "/checkpoints", &notes, &path);
  for (const std::string& note : notes) out << "Resume: " << note << "\n";
  if (!state.ok()) return state.status();
  out << "Resuming " << dir << " from " << path << ": "
      << (state->step() > 0
              ? absl::StrCat("epoch ", state->epoch(), " after step ",
                             state->step())
              : absl::StrCat(state->history_size(), " epochs done"))
      << "\n";
  if (state->threads() != threads) {
    out << "Resume: the run was started with --threads=" << state->threads()
        << " and resumes with --threads=" << threads
        << "; results may differ from an uninterrupted run in the last "
           "bits\n";
  }
  return state;
}

}  // namespace

absl::Status RunTrainJob(const TrainJobOptions& options,
                         std::ostream& out_arg) {
  // Data-parallel: only rank 0 prints and writes.
  const bool ranks = options.comm != nullptr && options.comm->size() > 1;
  const bool root = !ranks || options.comm->is_root();
  std::ostringstream discard;
  std::ostream& out = root ? out_arg : discard;
  LOOM_RETURN_IF_ERROR(CheckTrainOptions(options));
  const bool resuming = !options.resume_dir.empty();
  const std::string resume_dir = resuming ? UserPath(options.resume_dir) : "";
  SetThreads(options.threads);

  // The configuration, read once; the model built from it.
  OpRegistry registry;
  LOOM_ASSIGN_OR_RETURN(ModelFile file,
                        ReadTrainConfig(options, resume_dir, &registry));
  ModelDef& def = file.model;
  const TrainingDef& training = def.training();
  LOOM_ASSIGN_OR_RETURN(std::unique_ptr<Model> model,
                        Model::Create(file, registry, training.seed()));
  model->set_communicator(options.comm, options.allreduce_overlap);

  // The data: loaded, its classes checked against the model and recorded
  // (they are saved with the model, in the order of its outputs), split.
  out << "Loading data (" << def.dataset().source() << ", num_words "
      << def.dataset().num_words() << ", max_len " << def.dataset().max_len()
      << ")\n"
      << std::flush;
  LOOM_ASSIGN_OR_RETURN(data::TextDataset dataset,
                        data::LoadTextDataset("", def.dataset()));
  for (const std::string& note : dataset.notes) out << "Data: " << note << "\n";
  for (TextDatasetDef* d :
       {def.mutable_dataset(), model->mutable_def()->mutable_dataset()}) {
    d->clear_class_name();
    for (const std::string& name : dataset.class_names) d->add_class_name(name);
  }
  LOOM_RETURN_IF_ERROR(CheckClassesMatchModel(*model, dataset.class_names));
  LOOM_ASSIGN_OR_RETURN(auto split,
                        SplitValidation(ToLabeledExamples(dataset.train),
                                        training.validation_split()));
  const auto& [train, validation] = split;
  const LabeledExamples test = ToLabeledExamples(dataset.test);
  if (!def.dataset().group_by().empty() && validation.size() > 0) {
    out << "Data: validation takes whole groups of '"
        << def.dataset().group_by() << "': " << validation.size()
        << " examples of "
        << absl::flat_hash_set<int64_t>(validation.groups.begin(),
                                        validation.groups.end())
               .size()
        << " groups\n";
  }
  // A resumed run has its values from its checkpoint and only refreezes.
  if (training.has_warm_start() &&
      (!resuming || training.warm_start().freeze())) {
    WarmStartDef* warm_start = def.mutable_training()->mutable_warm_start();
    warm_start->set_model(UserPath(warm_start->model()));
    *model->mutable_def()->mutable_training()->mutable_warm_start() =
        *warm_start;
    LOOM_ASSIGN_OR_RETURN(
        std::vector<std::string> taken,
        WarmStart(*warm_start, dataset.vocabulary, model.get(), !resuming));
    out << (resuming ? "Frozen by the warm start from " : "Warm start from ")
        << warm_start->model() << ":\n";
    for (const std::string& line : taken) out << "  " << line << "\n";
  }
  out << "Train on " << train.size() << " examples, validate on "
      << validation.size() << ", test on " << test.size() << "\n";

  // The run folder and the configuration used.
  const std::string dir =
      resuming ? resume_dir
               : (options.output_dir.empty() ? DefaultRunFolder(def.name())
                                             : UserPath(options.output_dir));
  if (root) {
    LOOM_RETURN_IF_ERROR(MakeDirectories(dir));
    LOOM_RETURN_IF_ERROR(WriteModelFile(def, dir + "/config.pbtxt"));
  }

  // Training, from the start or from the run's resume checkpoint.
  LOOM_ASSIGN_OR_RETURN(std::vector<std::unique_ptr<Callback>> callbacks,
                        CreateCallbacks(training, &out));
  CheckpointWriter checkpoints(dir + "/checkpoints",
                               validation.size() > 0 ? "val_loss" : "loss");
  std::vector<Callback*> all;
  checkpoints.set_writes(root);  // Every rank runs the same callbacks.
  all.push_back(&checkpoints);
  for (auto& c : callbacks) all.push_back(c.get());
  ResumeWriter resume_writer(dir + "/checkpoints");
  if (options.checkpoint_stage_hook) {
    resume_writer.set_stage_hook(options.checkpoint_stage_hook);
  }
  TrainingState resume_state;
  FitOptions fit;
  if (resuming) {
    if (root) {
      LOOM_ASSIGN_OR_RETURN(resume_state,
                            LoadResumeCheckpoint(dir, options.threads, out));
    }
    if (ranks) {  // Rank 0 read it; every rank gets its bytes.
      std::string bytes;
      if (root) {
        LOOM_ASSIGN_OR_RETURN(bytes, EncodeTrainingState(resume_state));
      }
      LOOM_RETURN_IF_ERROR(options.comm->Broadcast(
          &bytes, 0, absl::StrCat("the resume checkpoint of ", dir)));
      if (!root) {
        LOOM_ASSIGN_OR_RETURN(
            resume_state,
            DecodeTrainingState(bytes, dir + "/checkpoints (from rank 0)"));
      }
    }
    fit.resume_from = &resume_state;
  }
  fit.epochs = training.epochs();
  fit.batch_size = training.batch_size();
  fit.shuffle = true;
  fit.seed = training.seed();
  fit.log = &out;
  fit.interactive = options.interactive;
  // Data-parallel: every rank takes part in a checkpoint, rank 0 writes it.
  fit.resume_writer = &resume_writer;
  fit.checkpoint_every = options.checkpoint_every;
  fit.stop_requested = options.stop_requested;
  fit.threads = options.threads;
  if (training.has_bucket_by_length()) {
    fit.bucket_by_length = &training.bucket_by_length();
  }
  model->executor().set_profiling(options.profile);
  auto history = model->Fit(train, validation, fit, all);
  if (absl::IsCancelled(history.status())) {
    return absl::CancelledError(absl::StrCat(
        history.status().message(), " to ", dir,
        "/checkpoints; continue the run with: tools/train --resume=", dir,
        " (bazel run //tools:train -- --resume=", dir, ")"));
  }
  if (!history.ok()) return history.status();
  if (options.profile) out << model->executor().ProfileReport();

  // The test, then the reports and the saved model (rank 0 writes them).
  LOOM_ASSIGN_OR_RETURN(const Metrics metrics,
                        model->Evaluate(test, training.batch_size()));
  out << TestLine(metrics) << "\n";
  LOOM_ASSIGN_OR_RETURN(
      const ClassificationReport report,
      EvaluateClassification(*model, test, training.batch_size(),
                             dataset.class_names));
  out << absl::StrFormat("Test macro F1: %.4f (%d classes)\n", report.macro_f1,
                         dataset.class_names.size());
  if (!root) return absl::OkStatus();
  const std::string title =
      def.description().empty() ? def.name() : def.description();
  LOOM_RETURN_IF_ERROR(WriteRunReports(dir, title, *history, metrics, report));
  LOOM_RETURN_IF_ERROR(SaveModel(*model, dataset.vocabulary, dir + "/model",
                                 options.copy_plugins));
  out << "Wrote " << dir << " (history.csv, history.json, "
      << "learning_curve.svg, confusion_matrix.svg, results.txt, model/, "
      << "checkpoints/); peak memory "
      << absl::StrFormat("%.0f", PeakMemoryMb()) << " MB\n";
  return absl::OkStatus();
}

}  // namespace loom
