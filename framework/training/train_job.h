// The main job behind tools/train, tools/evaluate and tools/predict: read a
// model definition, apply command-line overrides, load the data set, train,
// evaluate on the test split and write everything a run produces.
#ifndef LOOM_FRAMEWORK_TRAINING_TRAIN_JOB_H_
#define LOOM_FRAMEWORK_TRAINING_TRAIN_JOB_H_

#include <atomic>
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "framework/distributed/communicator.h"
#include "framework/model_io.h"
#include "framework/proto/model.pb.h"
#include "framework/registry.h"

namespace loom {

// Values that override the model definition; unset ones leave it alone.
struct ConfigOverrides {
  std::optional<int> epochs;
  std::optional<int> batch_size;
  std::optional<float> learning_rate;
  std::optional<float> validation_split;
  std::optional<int64_t> seed;
  std::optional<int> max_len;
  std::optional<int> num_words;
  std::optional<int> train_limit;
  std::optional<int> test_limit;
  std::optional<int> patience;  // Of every EarlyStopping callback.
  // "path=value" assignments for any other setting (config_set.h), applied
  // before the fields above.
  std::vector<std::string> set;
};

// Applies and checks the overrides: bad values are errors naming the flag
// (or the --set assignment).
// The graph follows max_len and num_words: the features input's length and
// the rows of every table an Embedding node reads.
absl::Status ApplyOverrides(const ConfigOverrides& overrides, ModelDef* def);

// Where the plugins a model declares (its required_plugin file names) are
// looked for when no --plugin of the same file name was given.
struct PluginSearch {
  // --plugin_path: directories, colon-separated, searched first.
  std::string plugin_path;
  // The plugins shipped with the tool (see ShippedPluginDir), searched last,
  // after the directories of LOOM_PLUGIN_PATH; "" = none.
  std::string shipped_dir;
};

// Where the examples come from, as the tools' flags say; each one set
// overrides the model file's dataset field.
struct DataFlags {
  std::string data;          // --data: dataset.source.
  std::string test_data;     // --test_data: dataset.test_source.
  std::string data_format;   // --data_format: dataset.format.
  std::string text_column;   // --text_column: dataset.text_column.
  std::string label_column;  // --label_column: dataset.label_column.
  std::string on_bad_rows;   // --on_bad_rows: dataset.on_bad_rows.
  std::string on_bad_text;   // --on_bad_text: dataset.on_bad_text.
};

// Applies `flags` to `dataset` and makes its paths absolute (relative ones
// are taken as UserPath does); with neither --data nor a source in the
// model file, the source is the data cache's IMDb (DefaultDataPath), and
// an error says how to give data if there is none.
absl::Status ResolveDataSource(const DataFlags& flags, TextDatasetDef* dataset);

struct TrainJobOptions {
  std::string graph;  // Model definition (.pbtxt).
  DataFlags data_flags;
  std::string output_dir;  // "" = runs/<model>-<timestamp>.
  std::vector<std::string> plugins;
  PluginSearch plugin_search;
  int threads = 0;  // 0 = all cores.
  ConfigOverrides overrides;
  // Progress: a redrawn bar (terminal) or one line per epoch.
  bool interactive = false;
  // Print the time spent in each node at the end.
  bool profile = false;
  // Copy the plugins the model's ops come from into model/plugins/.
  bool copy_plugins = true;
  // Continue the run in this folder (one RunTrainJob wrote) from its newest
  // intact resume checkpoint (resume.h), with its config.pbtxt: `graph`,
  // the data flags and every override but `epochs` must be left unset.
  std::string resume_dir;
  // Also write a resume checkpoint every this many steps (0: only at the
  // end of every epoch).
  int64_t checkpoint_every = 0;
  // Polled after every step: once true, training writes a resume checkpoint
  // and the job returns a CancelledError saying how to resume (tools/train
  // sets it on SIGINT and SIGTERM).
  const std::atomic<bool>* stop_requested = nullptr;
  // For tests: the resume checkpoints' stage hook (ResumeWriter).
  std::function<void(absl::string_view stage)> checkpoint_stage_hook;
  // Data-parallel training over these ranks (tools/train under mpirun; not
  // owned; null: this process alone): every rank trains its slice of each
  // batch (Model::set_communicator); only rank 0 prints and writes the run
  // folder and its checkpoints.
  distributed::Communicator* comm = nullptr;
};

// Trains as the options say and writes into the output folder: config.pbtxt
// (the configuration used), history.csv/.json, learning_curve.svg,
// checkpoints/{best,last}.ckpt and model/ (see saved_model.h). Progress and
// the final "Test loss: ... | Test acc: ..." line go to `out`.
absl::Status RunTrainJob(const TrainJobOptions& options, std::ostream& out);

struct EvaluateJobOptions {
  std::string model_dir;  // A model/ folder written by RunTrainJob.
  DataFlags data_flags;   // Default: the data the model was trained on.
  std::vector<std::string> plugins;
  PluginSearch plugin_search;
  int threads = 0;
  int batch_size = 0;  // 0 = the model's.
};

// Evaluates a saved model on the test split of its data set.
absl::Status RunEvaluateJob(const EvaluateJobOptions& options,
                            std::ostream& out);

struct PredictJobOptions {
  std::string model_dir;
  std::vector<std::string> texts;  // Raw reviews.
  // A file to score instead of `texts` (any format the data readers read;
  // data_flags.data_format, text_column, on_bad_rows and on_bad_text
  // apply), written to `output` with the predictions appended.
  std::string input;
  std::string output;
  std::string output_format;  // "" = from the output's extension.
  DataFlags data_flags;
  bool interactive = false;  // Progress redrawn on a terminal.
  int batch_size = 128;
  std::vector<std::string> plugins;
  PluginSearch plugin_search;
  int threads = 0;
};

// Prints "probability<TAB>label<TAB>text preview" for each review: the
// probability of the second class for a two-class model ("positive" for
// IMDb's), else of the predicted class. With `input`, scores that file into
// `output` instead (score_file.h).
absl::Status RunPredictJob(const PredictJobOptions& options, std::ostream& out);

// The most threads --threads accepts: 4 per core.
int MaxThreads();

// --threads: 0 (all cores) up to MaxThreads(); an error naming the flag
// otherwise. The jobs below check it first.
absl::Status CheckThreads(int threads);

// Sets the number of threads oneDNN's kernels use (0: all cores; at most
// MaxThreads()).
void SetThreads(int threads);

// A path as the user meant it: relative paths are taken from the folder
// `bazel run` was started in (BUILD_WORKING_DIRECTORY), if any.
std::string UserPath(const std::string& path);

// Registers the built-in ops and loads `plugins` into `registry`.
absl::Status PrepareRegistry(const std::vector<std::string>& plugins,
                             OpRegistry* registry);

// The plugin search path, in order: the directories of
// search.plugin_path, then those of the LOOM_PLUGIN_PATH environment
// variable (both colon-separated; relative ones are taken as UserPath
// does), then search.shipped_dir. Empty entries are skipped.
std::vector<std::string> PluginSearchPath(const PluginSearch& search);

// The plugins shipped with a tool: the plugins/ folder of its runfiles,
// $RUNFILES_DIR/loom/plugins if RUNFILES_DIR is set, else
// <program>.runfiles/loom/plugins. `program` is the tool's argv[0].
std::string ShippedPluginDir(const std::string& program);

// The plugins `file` declares (required_plugin) that are not already among
// `plugins` (compared by file name), each looked up by its file name in the
// directory trees of `search_path` (the first one holding it wins):
// the paths to load, in the order declared. A declared plugin found nowhere
// is a NotFound error naming the model file, the plugin and the directories
// searched.
absl::StatusOr<std::vector<std::string>> ResolveRequiredPlugins(
    const ModelFile& file, const std::vector<std::string>& plugins,
    const std::vector<std::string>& search_path);

// PrepareRegistry(plugins, registry), then loads the plugins `file`
// declares that `plugins` does not provide, found on the search path.
absl::Status PrepareRegistryForModel(const ModelFile& file,
                                     const std::vector<std::string>& plugins,
                                     const PluginSearch& search,
                                     OpRegistry* registry);

// PrepareRegistryForModel for a saved model folder `dir` (whose
// model.pbtxt is `file`): the plugins the folder carries (dir/plugins/,
// checked against its manifest) are loaded too, unless `plugins` has one of
// the same file name.
absl::Status PrepareRegistryForModelDir(const std::string& dir,
                                        const ModelFile& file,
                                        const std::vector<std::string>& plugins,
                                        const PluginSearch& search,
                                        OpRegistry* registry);

}  // namespace loom

#endif  // LOOM_FRAMEWORK_TRAINING_TRAIN_JOB_H_
