// Tensor values as text, for tools/check_op: the format of --inputs_file,
// which --print_outputs also prints, so printed values can be saved and fed
// back. One block per tensor:
//
//   # A comment runs from '#' to the end of the line; blank lines are
//   # ignored.
//   x: float32 [2, 3]
//     0.5 -1 2.25
//     3 4e-3 nan
//   ids: int32 [4] 0 3 1 9
//   mask: none
//
// A block starts with a header line `NAME: DTYPE [D0, D1, ...]`: the name
// (for an op's inputs, the input's name as check_op prints it; element k of
// a variadic input `values` is `values_k`), the dtype (float32 or int32) and
// the shape in brackets (`[]` for a scalar, which has one value). Then come
// the values, in row-major order, separated by spaces, tabs, commas or line
// breaks, on the header line after the shape or on the lines below it:
// exactly as many as the shape has elements. Float values are decimal
// numbers, `nan`, `inf` or `-inf`; int32 values are integers. `NAME: none`
// leaves out an optional input. Only header lines have a ':'.
#ifndef LOOM_FRAMEWORK_TESTING_TENSOR_TEXT_H_
#define LOOM_FRAMEWORK_TESTING_TENSOR_TEXT_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "framework/op.h"
#include "framework/tensor.h"

namespace loom::testing {

// One block of the format.
struct TensorBlock {
  std::string name;
  int line = 0;                 // Of the header, counted from 1.
  std::optional<Tensor> value;  // std::nullopt for `NAME: none`.
};

// Parses `text` in the format above. Errors start with "FILE:LINE: ",
// `filename` being what to call the text in them.
absl::StatusOr<std::vector<TensorBlock>> ParseTensorBlocks(
    absl::string_view text, absl::string_view filename);

// Reads and parses the file at `path`.
absl::StatusOr<std::vector<TensorBlock>> ReadTensorBlocks(
    const std::string& path);

// The node inputs of op `sig` from the blocks, as OpTestCase::inputs takes
// them: one block per input, in order, each named as the input is
// (NodeInputName), and `none` only for optional inputs. `filename` is for
// the messages ("FILE:LINE: ...").
absl::StatusOr<std::vector<std::optional<Tensor>>> InputsFromBlocks(
    const OpSignature& sig, const std::vector<TensorBlock>& blocks,
    absl::string_view filename);

// A float32 value as the format writes it: the shortest text that reads back
// as the same float ("0.1", "-3", "1e-08", "nan", "inf").
std::string FloatText(float v);

// One block: the header, then the values, one line per row of the last
// dimension, each line indented by two spaces. Ends with a newline.
std::string FormatTensorBlock(absl::string_view name, const Tensor& value);
// `NAME: none`, with a newline.
std::string FormatMissingBlock(absl::string_view name);

}  // namespace loom::testing

#endif  // LOOM_FRAMEWORK_TESTING_TENSOR_TEXT_H_
