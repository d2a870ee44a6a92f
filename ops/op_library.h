// The header every file of ops/ includes: LOOM_REGISTER_OP adds the file's
// OpDefs to the ops linked into the program, which RegisterBuiltinOps()
// (framework/registry.h) registers through the entry point plugins use.
// Each file defines one op (or a tight family).
#ifndef LOOM_OPS_OP_LIBRARY_H_
#define LOOM_OPS_OP_LIBRARY_H_

#include "framework/op.h"
#include "framework/registry.h"

// In an ops/ file: LOOM_REGISTER_OP(DenseOps); where DenseOps() returns the
// file's OpDefs.
#define LOOM_REGISTER_OP(factory) \
  static const bool loom_registered_##factory = ::loom::AddBuiltinOps(factory)

#endif  // LOOM_OPS_OP_LIBRARY_H_
