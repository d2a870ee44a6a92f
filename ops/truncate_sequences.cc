// TruncateSequences: rows of token ids cut to at most max_len steps, as
// Keras' pad_sequences(maxlen, truncating) cuts them: "pre" keeps each
// row's last max_len steps, "post" its first.
//
//   input  ids:  int32 [N, T], token ids (0 padding)
//   output kept: int32 [N, min(T, max_len)]
//
// A graph whose features are encoded at one length can so feed a model
// trained at a shorter one: an ensemble of members with different
// dataset.max_len (framework/training/ensemble.h) gives each member the
// columns its own encoding would have held. That holds when the padding
// is on the side the truncation cuts (padding PRE with "pre", POST with
// "post"): the last (first) max_len columns of a row encoded at a greater
// length are then exactly the row encoded at max_len, and a batch cut to
// its longest row (length trimming) gives each row the same ids after
// its padding.
//
// Integer in, integer out: no gradient.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "framework/op.h"
#include "framework/status_macros.h"
#include "ops/op_library.h"

namespace loom {
namespace {

absl::Status CheckAttrs(int64_t max_len, const std::string& truncating) {
  if (max_len <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("attribute 'max_len' must be positive, got ", max_len));
  }
  if (truncating != "pre" && truncating != "post") {
    return absl::InvalidArgumentError(
        absl::StrCat("attribute 'truncating' must be \"pre\" or \"post\", "
                     "got \"",
                     truncating, "\""));
  }
  return absl::OkStatus();
}

class TruncateSequencesKernel : public OpKernel {
 public:
  absl::Status Init(const KernelInitContext& init) {
    max_len_ = init.attrs.GetInt("max_len");
    pre_ = init.attrs.GetString("truncating") == "pre";
    return CheckAttrs(max_len_, init.attrs.GetString("truncating"));
  }

  absl::Status Forward(KernelContext& ctx) override {
    const Tensor& ids = *ctx.input(0);
    LOOM_RETURN_IF_ERROR(CheckTokenIds(ids));
    const int64_t n = ids.dim(0), t = ids.dim(1);
    const int64_t kept = std::min(t, max_len_);
    const int64_t skip = pre_ ? t - kept : 0;
    Tensor& out = *ctx.output(0);
    out.Resize(DType::kInt32, {n, kept});
    for (int64_t r = 0; r < n; ++r) {
      if (kept == 0) break;
      std::memcpy(out.i32() + r * kept, ids.i32() + r * t + skip,
                  static_cast<size_t>(kept) * sizeof(int32_t));
    }
    return absl::OkStatus();
  }

 private:
  int64_t max_len_ = 0;
  bool pre_ = true;
};

absl::Status TruncateSequencesShape(ShapeContext& ctx) {
  LOOM_ASSIGN_OR_RETURN(const Shape ids, TokenIdsShape(ctx, 0));
  const int64_t max_len = ctx.attrs().GetInt("max_len");
  LOOM_RETURN_IF_ERROR(
      CheckAttrs(max_len, ctx.attrs().GetString("truncating")));
  // An open time length (-1) stays open.
  const int64_t t = ids[1] < 0 ? -1 : std::min(ids[1], max_len);
  ctx.set_output(0, {DType::kInt32, {ids[0], t}});
  return absl::OkStatus();
}

std::vector<OpDef> TruncateSequencesOps() {
  OpDef def;
  def.signature.name = "TruncateSequences";
  def.signature.doc =
      "Rows of token ids cut to at most max_len steps, as Keras' "
      "pad_sequences truncates: \"pre\" keeps the last steps, \"post\" the "
      "first.";
  def.signature.inputs = {{"ids", "int32 [N, T]: token ids, 0 padding"}};
  def.signature.outputs = {
      {"kept", "int32 [N, min(T, max_len)]: each row's kept steps"}};
  def.signature.attrs = {
      IntAttr("max_len", std::nullopt, "the most steps kept, > 0"),
      StringAttr("truncating", "pre",
                 "\"pre\": keep the last max_len steps; \"post\": the first")};
  def.shape_fn = TruncateSequencesShape;
  def.kernels.push_back(
      {"reference", MakeKernelFactory<TruncateSequencesKernel>()});
  def.differentiable = false;
  std::vector<OpDef> defs;
  defs.push_back(std::move(def));
  return defs;
}

LOOM_REGISTER_OP(TruncateSequencesOps);

}  // namespace
}  // namespace loom
