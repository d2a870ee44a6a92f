#include "framework/training/plugin_search.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <system_error>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "framework/plugin.h"
#include "framework/status_macros.h"
#include "framework/training/user_path.h"

namespace loom {
namespace {

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

}  // namespace

absl::Status PrepareRegistry(const std::vector<std::string>& plugins,
                             OpRegistry* registry) {
  LOOM_RETURN_IF_ERROR(RegisterBuiltinOps(registry));
  for (const std::string& p : plugins) {
    LOOM_RETURN_IF_ERROR(LoadPlugin(UserPath(p), registry));
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
  LOOM_RETURN_IF_ERROR(PrepareRegistry(plugins, registry));
  LOOM_ASSIGN_OR_RETURN(
      const std::vector<std::string> required,
      ResolveRequiredPlugins(file, plugins, PluginSearchPath(search)));
  for (const std::string& path : required) {
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
  LOOM_ASSIGN_OR_RETURN(const std::vector<std::string> carried,
                        ModelFolderPlugins(dir));
  // A --plugin of the same file name wins over the folder's copy.
  absl::flat_hash_set<std::string> given;
  for (const std::string& p : plugins) {
    given.insert(std::filesystem::path(p).filename().string());
  }
  std::vector<std::string> all = plugins;
  for (const std::string& p : carried) {
    if (!given.contains(std::filesystem::path(p).filename().string())) {
      all.push_back(p);
    }
  }
  return PrepareRegistryForModel(file, all, search, registry);
}

absl::StatusOr<LoadedModel> LoadSavedModel(
    const std::string& dir, const std::vector<std::string>& plugins,
    const PluginSearch& search, OpRegistry* registry) {
  LOOM_ASSIGN_OR_RETURN(ModelFile file, ReadSavedModelFile(dir));
  LOOM_RETURN_IF_ERROR(
      PrepareRegistryForModelDir(dir, file, plugins, search, registry));
  return LoadModel(dir, file, *registry);
}

}  // namespace loom
