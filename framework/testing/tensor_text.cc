#include "framework/testing/tensor_text.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "framework/file_util.h"
#include "framework/status_macros.h"

namespace loom::testing {
namespace {

// Larger tensors are refused rather than risk exhausting memory.
constexpr int64_t kMaxElements = int64_t{1} << 24;

// A block being read: its header and the values so far.
struct PendingBlock {
  TensorBlock block;
  DType dtype = DType::kFloat32;
  Shape shape;
  int64_t expected = 0;
  int64_t count = 0;
};

class Parser {
 public:
  explicit Parser(absl::string_view filename) : filename_(filename) {}

  absl::StatusOr<std::vector<TensorBlock>> Parse(absl::string_view text) {
    int line_number = 0;
    for (absl::string_view line : absl::StrSplit(text, '\n')) {
      ++line_number;
      line_ = line_number;
      const size_t hash = line.find('#');
      if (hash != absl::string_view::npos) line = line.substr(0, hash);
      line = absl::StripAsciiWhitespace(line);
      if (line.empty()) continue;
      LOOM_RETURN_IF_ERROR(line.find(':') != absl::string_view::npos
                               ? Header(line)
                               : Values(line));
    }
    LOOM_RETURN_IF_ERROR(Finish("the end of the file"));
    return std::move(blocks_);
  }

 private:
  absl::Status Error(int line, absl::string_view message) const {
    return absl::InvalidArgumentError(
        absl::StrCat(filename_, ":", line, ": ", message));
  }

  std::string Describe(const PendingBlock& p) const {
    return absl::StrCat("'", p.block.name, "' (", DTypeName(p.dtype), " ",
                        ShapeToString(p.shape), ")");
  }

  // Closes the current block; `where` says where it ended, for messages.
  absl::Status Finish(absl::string_view where) {
    if (!pending_.has_value()) return absl::OkStatus();
    PendingBlock& p = *pending_;
    if (p.block.value.has_value() && p.count != p.expected) {
      return Error(p.block.line, absl::StrCat(Describe(p), " takes ",
                                              p.expected, " value(s), but ",
                                              p.count, " come before ", where));
    }
    blocks_.push_back(std::move(p.block));
    pending_.reset();
    return absl::OkStatus();
  }

  absl::Status Header(absl::string_view line) {
    LOOM_RETURN_IF_ERROR(Finish(absl::StrCat("line ", line_)));
    const size_t colon = line.find(':');
    const absl::string_view name =
        absl::StripAsciiWhitespace(line.substr(0, colon));
    absl::string_view rest = absl::StripAsciiWhitespace(line.substr(colon + 1));
    if (name.empty()) {
      return Error(line_,
                   "a header line is NAME: DTYPE [SHAPE]; the name is "
                   "missing before ':'");
    }
    for (char c : name) {
      if (absl::ascii_isspace(static_cast<unsigned char>(c))) {
        return Error(line_, absl::StrCat("name '", name,
                                         "' has a space; a header line is "
                                         "NAME: DTYPE [SHAPE]"));
      }
    }
    PendingBlock p;
    p.block.name = std::string(name);
    p.block.line = line_;
    if (rest == "none") {
      pending_ = std::move(p);
      return absl::OkStatus();
    }
    // The dtype runs to the first space or '['.
    size_t dtype_end = 0;
    while (dtype_end < rest.size() && rest[dtype_end] != '[' &&
           !absl::ascii_isspace(static_cast<unsigned char>(rest[dtype_end]))) {
      ++dtype_end;
    }
    const absl::string_view dtype = rest.substr(0, dtype_end);
    if (dtype == "float32") {
      p.dtype = DType::kFloat32;
    } else if (dtype == "int32") {
      p.dtype = DType::kInt32;
    } else {
      return Error(line_,
                   absl::StrCat("'", name, "': unknown dtype '", dtype,
                                "' (float32 or int32, or 'none' to leave an "
                                "optional input out)"));
    }
    rest = absl::StripAsciiWhitespace(rest.substr(dtype_end));
    const size_t close = rest.find(']');
    if (rest.empty() || rest.front() != '[' ||
        close == absl::string_view::npos) {
      return Error(line_, absl::StrCat("'", name,
                                       "': the shape must follow the dtype "
                                       "in brackets, e.g. [2, 3] ([] for a "
                                       "scalar)"));
    }
    const absl::string_view dims =
        absl::StripAsciiWhitespace(rest.substr(1, close - 1));
    int64_t elements = 1;
    if (!dims.empty()) {
      for (absl::string_view dim : absl::StrSplit(dims, ',')) {
        dim = absl::StripAsciiWhitespace(dim);
        int64_t d;
        if (!absl::SimpleAtoi(dim, &d) || d < 0) {
          return Error(line_, absl::StrCat("'", name, "': '", dim,
                                           "' is not a dimension (an integer "
                                           ">= 0)"));
        }
        if (d > kMaxElements || elements * d > kMaxElements) {
          return Error(line_, absl::StrCat("'", name, "': more than ",
                                           kMaxElements, " elements"));
        }
        elements *= d;
        p.shape.push_back(d);
      }
    }
    p.expected = elements;
    p.block.value.emplace(p.dtype, p.shape);
    pending_ = std::move(p);
    return Values(rest.substr(close + 1));
  }

  absl::Status Values(absl::string_view line) {
    if (!pending_.has_value()) {
      return Error(line_,
                   "values before the first header line (NAME: DTYPE [SHAPE])");
    }
    PendingBlock& p = *pending_;
    for (absl::string_view token :
         absl::StrSplit(line, absl::ByAnyChar(" \t\r,"), absl::SkipEmpty())) {
      if (!p.block.value.has_value()) {
        return Error(line_, absl::StrCat("'", p.block.name,
                                         "' is 'none' (left out): it takes "
                                         "no values"));
      }
      if (p.count == p.expected) {
        return Error(line_, absl::StrCat("too many values: ", Describe(p),
                                         " takes ", p.expected));
      }
      Tensor& t = *p.block.value;
      if (p.dtype == DType::kFloat32) {
        float v;
        if (!absl::SimpleAtof(token, &v)) {
          return Error(
              line_, absl::StrCat("'", token, "' is not a float32 value, for ",
                                  Describe(p)));
        }
        t.f32()[p.count] = v;
      } else {
        int32_t v;
        if (!absl::SimpleAtoi(token, &v)) {
          return Error(line_,
                       absl::StrCat("'", token, "' is not an int32 value, for ",
                                    Describe(p)));
        }
        t.i32()[p.count] = v;
      }
      ++p.count;
    }
    return absl::OkStatus();
  }

  std::string filename_;
  int line_ = 0;
  std::optional<PendingBlock> pending_;
  std::vector<TensorBlock> blocks_;
};

std::string ArgNames(const OpSignature& sig) { return ArgListText(sig.inputs); }

}  // namespace

absl::StatusOr<std::vector<TensorBlock>> ParseTensorBlocks(
    absl::string_view text, absl::string_view filename) {
  return Parser(filename).Parse(text);
}

absl::StatusOr<std::vector<TensorBlock>> ReadTensorBlocks(
    const std::string& path) {
  LOOM_ASSIGN_OR_RETURN(auto text, ReadFile(path));
  return ParseTensorBlocks(text, path);
}

absl::StatusOr<std::vector<std::optional<Tensor>>> InputsFromBlocks(
    const OpSignature& sig, const std::vector<TensorBlock>& blocks,
    absl::string_view filename) {
  const int given = static_cast<int>(blocks.size());
  const int min_inputs = MinNodeInputs(sig);
  const int max_inputs = MaxNodeInputs(sig);
  if (max_inputs >= 0 && given > max_inputs) {
    return absl::InvalidArgumentError(absl::StrCat(
        filename, ":", blocks[max_inputs].line, ": op ", sig.name,
        " takes at most ", max_inputs, " input(s) (", ArgNames(sig),
        "), and this is input ", max_inputs, ", counted from 0"));
  }
  if (given < min_inputs) {
    return absl::InvalidArgumentError(absl::StrCat(
        filename, ": op ", sig.name, " takes ",
        max_inputs < 0 ? absl::StrCat(min_inputs, " or more")
                       : absl::StrCat("at least ", min_inputs),
        " input(s) (", ArgNames(sig), "), but the file gives ", given));
  }
  std::vector<std::optional<Tensor>> inputs;
  for (int i = 0; i < given; ++i) {
    const TensorBlock& b = blocks[i];
    const std::string want = NodeInputName(sig, i);
    if (b.name != want) {
      return absl::InvalidArgumentError(absl::StrCat(
          filename, ":", b.line, ": input ", i, " of ", sig.name, " is '", want,
          "', not '", b.name,
          "' (the file gives the inputs in order: ", ArgNames(sig), ")"));
    }
    if (!b.value.has_value() &&
        !sig.inputs[SignatureInputIndex(sig, i)].optional) {
      return absl::InvalidArgumentError(absl::StrCat(
          filename, ":", b.line, ": input '", want, "' of ", sig.name,
          " is required; only optional inputs may be 'none'"));
    }
    inputs.push_back(b.value);
  }
  return inputs;
}

std::string FloatText(float v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  auto result = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, result.ptr);
}

std::string FormatTensorBlock(absl::string_view name, const Tensor& value) {
  std::string out = absl::StrCat(name, ": ", DTypeName(value.dtype()), " ",
                                 ShapeToString(value.shape()), "\n");
  const int64_t n = value.num_elements();
  const int64_t row = value.rank() == 0 ? 1 : value.shape().back();
  for (int64_t i = 0; i < n; ++i) {
    absl::StrAppend(&out, i % row == 0 ? "  " : " ",
                    value.dtype() == DType::kFloat32
                        ? FloatText(value.f32()[i])
                        : absl::StrCat(value.i32()[i]),
                    (i + 1) % row == 0 ? "\n" : "");
  }
  return out;
}

std::string FormatMissingBlock(absl::string_view name) {
  return absl::StrCat(name, ": none\n");
}

}  // namespace loom::testing
