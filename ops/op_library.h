// The header every file of ops/ includes: LOOM_REGISTER_OP adds the file's
// OpDefs to the ops linked into the program, which RegisterBuiltinOps()
// (framework/registry.h) registers through the entry point plugins use.
// Each file defines one op (or a tight family); checks that several ops
// share are below.
#ifndef LOOM_OPS_OP_LIBRARY_H_
#define LOOM_OPS_OP_LIBRARY_H_

#include <cmath>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "framework/op.h"
#include "framework/registry.h"

// In an ops/ file: LOOM_REGISTER_OP(DenseOps); where DenseOps() returns the
// file's OpDefs.
#define LOOM_REGISTER_OP(factory) \
  static const bool loom_registered_##factory = ::loom::AddBuiltinOps(factory)

namespace loom {

// ---------------------------------------------------------------------------
// Token ids int32 [N, T] (0 padding), as HashedBigrams and TruncateSequences
// take them.

// At shape inference: input `input` is int32 of rank 2; returns its shape.
inline absl::StatusOr<Shape> TokenIdsShape(const ShapeContext& ctx, int input) {
  absl::Status dtype = ctx.ExpectDType(input, DType::kInt32);
  if (!dtype.ok()) return dtype;
  const Shape& ids = ctx.input(input)->shape;
  if (ids.size() != 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("ids must be [N, T], got ", ShapeToString(ids)));
  }
  return ids;
}

// At run time.
inline absl::Status CheckTokenIds(const Tensor& ids) {
  if (ids.dtype() != DType::kInt32 || ids.rank() != 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("ids must be int32 [N, T], got ", DTypeName(ids.dtype()),
                     ShapeToString(ids.shape())));
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// Class-index labels, as SparseCategoricalCrossentropy and
// SparseCategoricalAccuracy take them: labels [N] or [N, 1] holding class
// indices as floats, against scores y [N, K].

// At shape inference, where dimensions may be unknown (-1).
inline absl::Status CheckClassLabelShapes(const Shape& labels, const Shape& y) {
  if (y.size() != 2 || y[1] == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "y must be [N, K] with K >= 1 classes, got ", ShapeToString(y)));
  }
  if (labels.size() != 1 &&
      !(labels.size() == 2 && DimsCompatible(labels[1], 1))) {
    return absl::InvalidArgumentError(
        absl::StrCat("labels must be [N] or [N, 1] (class indices), got ",
                     ShapeToString(labels)));
  }
  if (!DimsCompatible(labels[0], y[0])) {
    return absl::InvalidArgumentError(absl::StrCat(
        "labels ", ShapeToString(labels), " and y ", ShapeToString(y),
        " must have the same N: ", labels[0], " vs ", y[0]));
  }
  return absl::OkStatus();
}

// At run time (shape inference may have seen unknown dimensions).
inline absl::Status CheckClassLabelTensors(const Tensor& labels,
                                           const Tensor& y) {
  if (y.rank() != 2 || y.dim(1) < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "y must be [N, K] with K >= 1, got ", ShapeToString(y.shape())));
  }
  if (!(labels.rank() == 1 || (labels.rank() == 2 && labels.dim(1) == 1)) ||
      labels.dim(0) != y.dim(0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "labels must be [N] or [N, 1] with N = ", y.dim(0), " (y is ",
        ShapeToString(y.shape()), "), got ", ShapeToString(labels.shape())));
  }
  return absl::OkStatus();
}

// The label of row `i` as a class index in [0, classes).
inline absl::StatusOr<int64_t> ReadClassLabel(const Tensor& labels, int64_t i,
                                              int64_t classes) {
  const float v = labels.f32()[i];
  // Also false for NaN.
  if (!(v >= 0.0f && v < static_cast<float>(classes) && v == std::floor(v))) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "label in row %d is %.9g, not a class index: expected an integer "
        "in [0, %d) (y has %d classes)",
        i, v, classes, classes));
  }
  return static_cast<int64_t>(v);
}

}  // namespace loom

#endif  // LOOM_OPS_OP_LIBRARY_H_
