#include "ops/op_library.h"

#include "framework/plugin.h"

namespace loom {
namespace {

std::vector<OpDefFactory>& BuiltinFactories() {
  static auto* factories = new std::vector<OpDefFactory>();
  return *factories;
}

absl::Status RegisterBuiltins(OpRegistry* registry) {
  for (OpDefFactory factory : BuiltinFactories()) {
    absl::Status s = RegisterAll(factory(), registry);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace

bool AddBuiltinOps(OpDefFactory factory) {
  BuiltinFactories().push_back(factory);
  return true;
}

absl::Status RegisterAll(std::vector<OpDef> defs, OpRegistry* registry) {
  for (OpDef& def : defs) {
    absl::Status s = registry->Register(std::move(def));
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status RegisterBuiltinOps(OpRegistry* registry) {
  static const LoomPluginInfo kBuiltin = {kLoomPluginAbiVersion, "builtin",
                                          &RegisterBuiltins};
  return RegisterPlugin(kBuiltin, "builtin", registry);
}

}  // namespace loom
