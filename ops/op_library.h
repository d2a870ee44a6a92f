// The built-in op library. Each file in ops/ defines one op (or a tight
// family) and adds it here with LOOM_REGISTER_OP; RegisterBuiltinOps() then
// registers them all through the same entry point plugins use.
#ifndef LOOM_OPS_OP_LIBRARY_H_
#define LOOM_OPS_OP_LIBRARY_H_

#include <vector>

#include "absl/status/status.h"
#include "framework/op.h"
#include "framework/registry.h"

namespace loom {

using OpDefFactory = std::vector<OpDef> (*)();

// Used by LOOM_REGISTER_OP at static-initialization time.
bool AddBuiltinOps(OpDefFactory factory);

// Registers every built-in op into `registry`.
absl::Status RegisterBuiltinOps(OpRegistry* registry);

// Registers `defs` one by one, stopping at the first error.
absl::Status RegisterAll(std::vector<OpDef> defs, OpRegistry* registry);

}  // namespace loom

// In an ops/ file: LOOM_REGISTER_OP(DenseOps); where DenseOps() returns the
// file's OpDefs.
#define LOOM_REGISTER_OP(factory) \
  static const bool loom_registered_##factory = ::loom::AddBuiltinOps(factory)

#endif  // LOOM_OPS_OP_LIBRARY_H_
