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

// What the variadic test op saw last, per context: num_inputs() of the
// ShapeContext, KernelContext and GradContext, and the KernelInitContext's
// input count (-1 until seen).
struct VariadicProbe {
  int shape_inputs = -1;
  int init_inputs = -1;
  int forward_inputs = -1;
  int grad_inputs = -1;
};

// "WeightedSum": inputs (first, rest...) with `rest` variadic with
// min_count `min_rest`; all float of one shape. y = sum_i (i + 1) * x_i over
// every node input i, so a gradient sent to the wrong input index shows.
// Records what it sees in *probe (may be null).
OpDef WeightedSumOp(int min_rest, VariadicProbe* probe);

}  // namespace loom::testing

#endif  // LOOM_TESTS_FRAMEWORK_TEST_OPS_H_
