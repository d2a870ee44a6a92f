// Plugins: op libraries loaded at run time from shared objects.
//
// A plugin exports one C symbol, `loom_plugin_entry` (use LOOM_PLUGIN
// below), returning a LoomPluginInfo that states the plugin ABI version it
// was built for. The loader refuses a plugin whose version differs from the
// host's. Built-in ops register through the same struct, linked statically.
//
// The ABI version is kLoomPluginAbiVersion. Bump it whenever a type a plugin
// sees changes layout or meaning: OpDef, OpSignature, AttrSpec, ArgSpec,
// AttrMap, ShapeContext, KernelContext, KernelInitContext, KernelDef and
// KernelFactory, GradContext, OpKernel's virtual functions, ValueInfo,
// Tensor, the DType and AttrType enums, SparseRows, DnnlContext, OpRegistry,
// the AttrValue message (framework/proto/graph.proto), or the protobuf or
// oneDNN major version Loom is built against. Adding a free function or a
// new op changes nothing.
#ifndef LOOM_FRAMEWORK_PLUGIN_H_
#define LOOM_FRAMEWORK_PLUGIN_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "framework/registry.h"

namespace loom {

// 2: ArgSpec gained `variadic` and `min_count` (variadic inputs).
// 3: OpDef gained `params` (parameters an op creates, ParamSpec).
inline constexpr int kLoomPluginAbiVersion = 3;

// Registers a plugin's ops into the registry it is given.
using RegisterOpsFn = absl::Status (*)(OpRegistry* registry);

struct LoomPluginInfo {
  int abi_version;
  const char* name;
  RegisterOpsFn register_ops;
};

// Registers the ops of `info` (built-in or loaded), attributing them to
// `source`; checks the ABI version first. All or nothing: if the plugin's
// registration function fails, the ops it registered before failing are
// removed again.
absl::Status RegisterPlugin(const LoomPluginInfo& info,
                            const std::string& source, OpRegistry* registry);

// dlopen()s `path`, finds `loom_plugin_entry`, checks the ABI version and
// registers the plugin's ops (all or none). A `path` without a '/' is
// looked for in the current folder first (loaded, and named in messages
// and OpDef::source, as "./<path>"), then, as dlopen() does, on the system
// library path; the error when neither has it says so. A plugin that registered
// stays loaded for the life of the process (kernels it created may still be
// alive); one that failed is unloaded.
absl::Status LoadPlugin(const std::string& path, OpRegistry* registry);

}  // namespace loom

// Defines the plugin's entry point. Use once per shared object:
//   LOOM_PLUGIN("my_ops", RegisterMyOps);
#define LOOM_PLUGIN(plugin_name, register_fn)                                  \
  extern "C" __attribute__((visibility("default")))                            \
  const ::loom::LoomPluginInfo*                                                \
  loom_plugin_entry() {                                                        \
    static const ::loom::LoomPluginInfo info = {::loom::kLoomPluginAbiVersion, \
                                                plugin_name, register_fn};     \
    return &info;                                                              \
  }

#endif  // LOOM_FRAMEWORK_PLUGIN_H_
