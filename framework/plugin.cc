#include "framework/plugin.h"

#include <dlfcn.h>

#include <string>
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
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    return absl::NotFoundError(absl::StrCat("cannot load plugin ", path, ": ",
                                            why ? why : "unknown error"));
  }
  using EntryFn = const LoomPluginInfo* (*)();
  auto entry = reinterpret_cast<EntryFn>(dlsym(handle, "loom_plugin_entry"));
  if (entry == nullptr) {
    dlclose(handle);
    return absl::InvalidArgumentError(
        absl::StrCat(path,
                     " is not a Loom plugin: it has no "
                     "'loom_plugin_entry' symbol (define one with "
                     "LOOM_PLUGIN)"));
  }
  const LoomPluginInfo* info = entry();
  if (info == nullptr) {
    dlclose(handle);
    return absl::InvalidArgumentError(
        absl::StrCat("plugin ", path, ": loom_plugin_entry returned null"));
  }
  absl::Status status = RegisterPlugin(*info, path, registry);
  // A failed plugin left nothing registered: it is safe to unload.
  if (!status.ok()) dlclose(handle);
  return status;
}

}  // namespace loom
