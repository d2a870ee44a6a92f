// HashedBigrams: each pair of neighboring token ids as one id, hashed into
// a fixed number of buckets (fastText's hashed n-grams, Keras'
// TextVectorization(ngrams=2) with a Hashing layer), so an Embedding can
// learn a vector per word pair ("not good", "well worth") without a bigram
// vocabulary.
//
//   input  ids:     int32 [N, T], token ids (0 padding)
//   output bigrams: int32 [N, T]; bigrams[n, t] is 1 + H(ids[n, t-1],
//                   ids[n, t]) mod buckets, and 0 (padding) at t = 0 and
//                   wherever ids[n, t-1] or ids[n, t] is 0
//
// So a row's bigram ids depend on its own ids only, never on how much
// padding surrounds them: an Embedding with mask_zero and masked pooling
// after it keep the model padding-invariant (length trimming and bucketing
// work). H is a fixed 64-bit mix (SplitMix64's finalizer) of the pair:
// the same ids give the same bigram ids on every machine and run.
//
// Integer in, integer out: no gradient.
#include <cstdint>
#include <vector>

#include "absl/strings/str_cat.h"
#include "framework/op.h"
#include "framework/status_macros.h"
#include "ops/op_library.h"

namespace loom {
namespace {

// The most buckets: bigram ids must fit an Embedding table's rows.
constexpr int64_t kMaxBuckets = int64_t{1} << 30;

uint64_t Mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

absl::Status CheckBuckets(int64_t buckets) {
  if (buckets <= 0 || buckets > kMaxBuckets) {
    return absl::InvalidArgumentError(
        absl::StrCat("attribute 'buckets' must be in [1, ", kMaxBuckets,
                     "], got ", buckets));
  }
  return absl::OkStatus();
}

class HashedBigramsKernel : public OpKernel {
 public:
  absl::Status Init(const KernelInitContext& init) {
    buckets_ = init.attrs.GetInt("buckets");
    return CheckBuckets(buckets_);
  }

  absl::Status Forward(KernelContext& ctx) override {
    const Tensor& ids = *ctx.input(0);
    LOOM_RETURN_IF_ERROR(CheckTokenIds(ids));
    const int64_t n = ids.dim(0), t = ids.dim(1);
    Tensor& out = *ctx.output(0);
    out.Resize(DType::kInt32, ids.shape());
    const uint64_t buckets = static_cast<uint64_t>(buckets_);
    for (int64_t r = 0; r < n; ++r) {
      const int32_t* in = ids.i32() + r * t;
      int32_t* o = out.i32() + r * t;
      if (t > 0) o[0] = 0;
      for (int64_t s = 1; s < t; ++s) {
        const int32_t a = in[s - 1], b = in[s];
        if (a == 0 || b == 0) {
          o[s] = 0;
          continue;
        }
        const uint64_t pair = (uint64_t{static_cast<uint32_t>(a)} << 32) |
                              uint64_t{static_cast<uint32_t>(b)};
        o[s] = static_cast<int32_t>(1 + Mix(pair) % buckets);
      }
    }
    return absl::OkStatus();
  }

 private:
  int64_t buckets_ = 0;
};

absl::Status HashedBigramsShape(ShapeContext& ctx) {
  LOOM_ASSIGN_OR_RETURN(const Shape ids, TokenIdsShape(ctx, 0));
  LOOM_RETURN_IF_ERROR(CheckBuckets(ctx.attrs().GetInt("buckets")));
  ctx.set_output(0, {DType::kInt32, ids});
  return absl::OkStatus();
}

std::vector<OpDef> HashedBigramsOps() {
  OpDef def;
  def.signature.name = "HashedBigrams";
  def.signature.doc =
      "Neighboring token id pairs hashed into 1..buckets (0 where either id "
      "is padding, and at the first step), for an Embedding of bigrams.";
  def.signature.inputs = {{"ids", "int32 [N, T]: token ids, 0 padding"}};
  def.signature.outputs = {
      {"bigrams", "int32 [N, T]: ids in [0, buckets], 0 padding"}};
  def.signature.attrs = {IntAttr(
      "buckets", std::nullopt,
      "how many bigram ids (an Embedding after it has buckets + 1 rows)")};
  def.shape_fn = HashedBigramsShape;
  def.kernels.push_back(
      {"reference", MakeKernelFactory<HashedBigramsKernel>()});
  def.differentiable = false;
  std::vector<OpDef> defs;
  defs.push_back(std::move(def));
  return defs;
}

LOOM_REGISTER_OP(HashedBigramsOps);

}  // namespace
}  // namespace loom
