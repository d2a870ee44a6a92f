// The op registry a model needs: the built-in ops, the plugins given with
// --plugin, and the plugins a model file declares (required_plugin), found
// by file name on the plugin search path (--plugin_path, LOOM_PLUGIN_PATH,
// the plugins shipped with the tool) or carried in a saved model folder.
#ifndef LOOM_FRAMEWORK_TRAINING_PLUGIN_SEARCH_H_
#define LOOM_FRAMEWORK_TRAINING_PLUGIN_SEARCH_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "framework/model_io.h"
#include "framework/registry.h"
#include "framework/training/saved_model.h"

namespace loom {

// Where the plugins a model declares (its required_plugin file names) are
// looked for when no --plugin of the same file name was given.
struct PluginSearch {
  // --plugin_path: directories, colon-separated, searched first.
  std::string plugin_path;
  // The plugins shipped with the tool (see ShippedPluginDir), searched last,
  // after the directories of LOOM_PLUGIN_PATH; "" = none.
  std::string shipped_dir;
};

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

// LoadModel(dir) (saved_model.h), with `registry` prepared for the saved
// model.pbtxt by PrepareRegistryForModelDir.
absl::StatusOr<LoadedModel> LoadSavedModel(
    const std::string& dir, const std::vector<std::string>& plugins,
    const PluginSearch& search, OpRegistry* registry);

}  // namespace loom

#endif  // LOOM_FRAMEWORK_TRAINING_PLUGIN_SEARCH_H_
