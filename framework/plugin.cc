#include "framework/plugin.h"

#include <dlfcn.h>

#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"

namespace loom {

absl::Status RegisterPlugin(const LoomPluginInfo& info,
                            const std::string& source, OpRegistry* registry) {
  if (info.abi_version != kLoomPluginAbiVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "plugin ", source, " was built for Loom plugin ABI version ",
        info.abi_version, ", but this Loom has ABI version ",
        kLoomPluginAbiVersion, "; rebuild the plugin against this Loom"));
  }
  if (info.register_ops == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("plugin ", source, " has no registration function"));
  }
  absl::flat_hash_set<std::string> before;
  for (const OpDef* def : registry->List()) before.insert(def->signature.name);
  registry->set_current_source(source);
  absl::Status status = info.register_ops(registry);
  registry->set_current_source("builtin");
  if (!status.ok()) {
    // All or nothing: remove the ops this plugin registered before failing.
    std::vector<std::string> added;
    for (const OpDef* def : registry->List()) {
      if (!before.contains(def->signature.name)) {
        added.push_back(def->signature.name);
      }
    }
    for (const std::string& name : added) registry->Remove(name);
    return absl::Status(
        status.code(),
        absl::StrCat(
            "plugin ", source, ": ", status.message(),
            added.empty() ? "" : " (none of its ops were registered)"));
  }
  return absl::OkStatus();
}

absl::Status LoadPlugin(const std::string& path, OpRegistry* registry) {
  // dlopen() looks a name without a '/' up on the system library path only,
  // never in the current folder, where a user who types --plugin=libx.so
  // means it: a file of that name there is loaded as ./libx.so.
  const bool bare = !path.empty() && path.find('/') == std::string::npos;
  std::string to_open = path;
  std::error_code error;
  if (bare && std::filesystem::is_regular_file(path, error)) {
    to_open = absl::StrCat("./", path);
  }
  void* handle = dlopen(to_open.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    std::string hint;
    if (bare && to_open == path) {
      const std::filesystem::path cwd = std::filesystem::current_path(error);
      hint = absl::StrCat(
          " (a name without a '/' is looked for in the current folder, ",
          error ? std::string("which cannot be read") : cwd.string(),
          ", then on the system library path: LD_LIBRARY_PATH, "
          "/etc/ld.so.cache, /lib, /usr/lib; give the plugin's path, e.g. "
          "--plugin=path/to/",
          path, ")");
    }
    return absl::NotFoundError(absl::StrCat("cannot load plugin ", path, ": ",
                                            why ? why : "unknown error", hint));
  }
  using EntryFn = const LoomPluginInfo* (*)();
  auto entry = reinterpret_cast<EntryFn>(dlsym(handle, "loom_plugin_entry"));
  if (entry == nullptr) {
    dlclose(handle);
    return absl::InvalidArgumentError(
        absl::StrCat(to_open,
                     " is not a Loom plugin: it has no "
                     "'loom_plugin_entry' symbol (define one with "
                     "LOOM_PLUGIN)"));
  }
  const LoomPluginInfo* info = entry();
  if (info == nullptr) {
    dlclose(handle);
    return absl::InvalidArgumentError(
        absl::StrCat("plugin ", to_open, ": loom_plugin_entry returned null"));
  }
  absl::Status status = RegisterPlugin(*info, to_open, registry);
  // A failed plugin left nothing registered: it is safe to unload.
  if (!status.ok()) dlclose(handle);
  return status;
}

}  // namespace loom
