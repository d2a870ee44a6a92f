// Early-return helpers for absl::Status and absl::StatusOr, as used all
// over Loom (Debian's Abseil does not export its own).
//
//   LOOM_RETURN_IF_ERROR(graph.Validate());
//   LOOM_ASSIGN_OR_RETURN(Tensor t, ReadTensor(path));
//   LOOM_ASSIGN_OR_RETURN(auto plan, GetPlan(shape));
//
// Both evaluate their argument once. LOOM_ASSIGN_OR_RETURN moves the value
// out of the StatusOr into the declaration or lvalue on its left.

#ifndef LOOM_FRAMEWORK_STATUS_MACROS_H_
#define LOOM_FRAMEWORK_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define LOOM_RETURN_IF_ERROR(expr)                     \
  do {                                                 \
    ::absl::Status loom_status_ = (expr);              \
    if (!loom_status_.ok()) return loom_status_;       \
  } while (false)

#define LOOM_STATUS_CONCAT_INNER_(a, b) a##b
#define LOOM_STATUS_CONCAT_(a, b) LOOM_STATUS_CONCAT_INNER_(a, b)

#define LOOM_ASSIGN_OR_RETURN(lhs, expr) \
  LOOM_ASSIGN_OR_RETURN_IMPL_(           \
      LOOM_STATUS_CONCAT_(loom_statusor_, __LINE__), lhs, expr)

#define LOOM_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                \
  if (!statusor.ok()) return statusor.status();          \
  lhs = std::move(statusor).value()

#endif  // LOOM_FRAMEWORK_STATUS_MACROS_H_
