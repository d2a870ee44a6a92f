// Small ops that exist only for the framework tests.
#ifndef LOOM_TESTS_FRAMEWORK_TEST_OPS_H_
#define LOOM_TESTS_FRAMEWORK_TEST_OPS_H_

#include "framework/op.h"

namespace loom::testing {

// "AttrProbe": identity on a float tensor with an int attribute "count"
// (default 1) and a float attribute "scale" (required).
OpDef AttrProbeOp();

// "CountingIdentity": identity whose Backward increments *backward_calls.
OpDef CountingIdentityOp(int* backward_calls);

}  // namespace loom::testing

#endif  // LOOM_TESTS_FRAMEWORK_TEST_OPS_H_
