// OpRegistry: every op Loom can run, by name. Built-in ops and plugins
// register through the same entry point (plugin.h).
#ifndef LOOM_FRAMEWORK_REGISTRY_H_
#define LOOM_FRAMEWORK_REGISTRY_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "framework/op.h"

namespace loom {

struct LoomPluginInfo;  // plugin.h

class OpRegistry {
 public:
  OpRegistry() = default;
  OpRegistry(const OpRegistry&) = delete;
  OpRegistry& operator=(const OpRegistry&) = delete;

  // Checks the definition (a name, a shape function, at least one kernel,
  // defaults of the declared types, optional inputs last, at most one
  // variadic input, last and with no optional inputs in the signature: see
  // ArgSpec::variadic) and adds it.
  // A name that is already registered is refused, naming both sources.
  absl::Status Register(OpDef def);

  // nullptr if no op has this name.
  const OpDef* Find(const std::string& name) const;
  // All ops, sorted by name.
  std::vector<const OpDef*> List() const;

  // The source new registrations are attributed to (set by the plugin
  // loader while a plugin registers its ops).
  void set_current_source(std::string source) {
    current_source_ = std::move(source);
  }

 private:
  // RegisterPlugin() takes back what a plugin registered before it failed,
  // so that a plugin is registered entirely or not at all.
  friend absl::Status RegisterPlugin(const LoomPluginInfo& info,
                                     const std::string& source,
                                     OpRegistry* registry);
  void Remove(const std::string& name) { ops_.erase(name); }

  absl::flat_hash_map<std::string, std::unique_ptr<OpDef>> ops_;
  std::string current_source_ = "builtin";
};

// A reference card for one op: signature, attributes with types and
// defaults, kernels and where it came from.
std::string DescribeOp(const OpDef& def);

// The ops linked into the program (Loom's built-in ops, ops/): each file
// adds its OpDefs at start-up with LOOM_REGISTER_OP (ops/op_library.h), so
// the framework never names them; a program gets them by linking //ops.
using OpDefFactory = std::vector<OpDef> (*)();

// Used by LOOM_REGISTER_OP at static-initialization time.
bool AddBuiltinOps(OpDefFactory factory);

// Registers every op linked into the program into `registry`, through the
// entry point plugins use (as the plugin "builtin"). An error when none is
// linked, saying to link //ops.
absl::Status RegisterBuiltinOps(OpRegistry* registry);

// Registers `defs` one by one, stopping at the first error.
absl::Status RegisterAll(std::vector<OpDef> defs, OpRegistry* registry);

}  // namespace loom

#endif  // LOOM_FRAMEWORK_REGISTRY_H_
