// SparseCategoricalCrossentropy: the mean cross-entropy of class scores
// against integer class labels (Keras' losses.SparseCategoricalCrossentropy,
// reduction over the batch).
//
//   input  labels: float [N] or [N, 1]; class indices 0..K-1 stored as
//                  floats (as the training driver feeds labels). Anything
//                  else (2.5, -1, K, NaN) is an InvalidArgument error naming
//                  the row and the value.
//   input  y:      float [N, K]; probabilities, or logits when from_logits
//   output loss:   float []; the mean over the N rows (0 when N is 0)
//   attr   from_logits:     bool = false
//   attr   label_smoothing: float in [0, 1] = 0; the target distribution of
//                           a row with label c is t_k = (1 - ls) [k == c] +
//                           ls / K (Keras' CategoricalCrossentropy smoothing)
//
// Per row, with t the target distribution:
//   logits z:      log-softmax, loss = sum_k t_k (logsumexp(z) - z_k),
//                  computed as log(sum_k exp(z_k - max)) + sum_k t_k (max -
//                  z_k); gradient (softmax(z) - t) / N.
//   probabilities: p'_k = clip(p_k, eps, 1 - eps), eps = 1e-7, and the
//                  cross-entropy against p' renormalized, loss = log(sum_k
//                  p'_k) - sum_k t_k log p'_k: exactly what Keras computes
//                  (it clips, takes the log and applies
//                  sparse_softmax_cross_entropy_with_logits). For rows that
//                  sum to 1 this is -sum_k t_k log p_k up to ~K * eps.
//                  Gradient (1 / sum_j p'_j - t_k / p'_k) / N, and zero for
//                  the elements that were clipped (p_k < eps or p_k > 1 -
//                  eps).
// Sums are taken in double.
//
// Labels get no gradient: the loss is a step function of them. If one is
// asked for (labels computed from parameters), it is written as zeros.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "framework/op.h"
#include "framework/status_macros.h"
#include "ops/op_library.h"

namespace loom {
namespace {

constexpr double kEpsilon = 1e-7;  // Keras' backend.epsilon().

absl::Status CheckLabelSmoothing(float ls) {
  if (!(ls >= 0.0f && ls <= 1.0f)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "attribute 'label_smoothing' must be in [0, 1], got ", ls));
  }
  return absl::OkStatus();
}

// Reads every label as a class index in [0, classes).
absl::Status ReadClasses(const Tensor& labels, int64_t classes,
                         std::vector<int32_t>* out) {
  const int64_t n = labels.num_elements();
  out->resize(n);
  for (int64_t i = 0; i < n; ++i) {
    LOOM_ASSIGN_OR_RETURN(const int64_t c, ReadClassLabel(labels, i, classes));
    (*out)[i] = static_cast<int32_t>(c);
  }
  return absl::OkStatus();
}

class SparseCategoricalCrossentropyKernel : public OpKernel {
 public:
  absl::Status Init(const KernelInitContext& init) {
    from_logits_ = init.attrs.GetBool("from_logits");
    label_smoothing_ = init.attrs.GetFloat("label_smoothing");
    return CheckLabelSmoothing(label_smoothing_);
  }

  absl::Status Forward(KernelContext& ctx) override {
    const Tensor& labels = *ctx.input(0);
    const Tensor& y = *ctx.input(1);
    LOOM_RETURN_IF_ERROR(CheckClassLabelTensors(labels, y));
    const int64_t n = y.dim(0), k = y.dim(1);
    LOOM_RETURN_IF_ERROR(ReadClasses(labels, k, &classes_));
    // Backward reuses each row's normalizer: sum_k exp(z_k - max) for
    // logits, sum_k p'_k for probabilities.
    row_sums_.resize(n);
    const double on = OnValue(k), off = OffValue(k);
    double total = 0;
    for (int64_t i = 0; i < n; ++i) {
      const float* row = y.f32() + i * k;
      const int32_t c = classes_[i];
      double loss;
      if (from_logits_) {
        const double max = *std::max_element(row, row + k);
        double sum_exp = 0, sum_gap = 0;
        for (int64_t j = 0; j < k; ++j) {
          sum_exp += std::exp(row[j] - max);
          sum_gap += max - row[j];
        }
        row_sums_[i] = sum_exp;
        // sum_k t_k (max - z_k) with t = off everywhere, plus on - off at c.
        loss = std::log(sum_exp) + off * sum_gap + (on - off) * (max - row[c]);
      } else {
        double sum = 0, sum_log = 0;
        for (int64_t j = 0; j < k; ++j) {
          const double p = Clip(row[j]);
          sum += p;
          sum_log += std::log(p);
        }
        row_sums_[i] = sum;
        loss =
            std::log(sum) - off * sum_log - (on - off) * std::log(Clip(row[c]));
      }
      total += loss;
    }
    Tensor& out = *ctx.output(0);
    out.Resize(DType::kFloat32, {});
    out.f32()[0] = n == 0 ? 0.0f : static_cast<float>(total / n);
    return absl::OkStatus();
  }

  absl::Status Backward(GradContext& ctx) override {
    const Tensor& labels = *ctx.input(0);
    const Tensor& y = *ctx.input(1);
    if (Tensor* dlabels = ctx.input_grad(0)) {
      dlabels->ResizeZeroed(DType::kFloat32, labels.shape());
    }
    Tensor* dy = ctx.input_grad(1);
    if (dy == nullptr) return absl::OkStatus();
    const Tensor* dloss = ctx.output_grad(0);
    const int64_t n = y.dim(0), k = y.dim(1);
    if (dloss == nullptr || n == 0) {
      dy->ResizeZeroed(DType::kFloat32, y.shape());
      return absl::OkStatus();
    }
    dy->Resize(DType::kFloat32, y.shape());
    const double scale = double{dloss->f32()[0]} / n;
    const double on = OnValue(k), off = OffValue(k);
    for (int64_t i = 0; i < n; ++i) {
      const float* row = y.f32() + i * k;
      float* grad = dy->f32() + i * k;
      const int32_t c = classes_[i];
      if (from_logits_) {
        const double max = *std::max_element(row, row + k);
        const double inv_sum = 1.0 / row_sums_[i];
        for (int64_t j = 0; j < k; ++j) {
          const double t = j == c ? on : off;
          grad[j] = static_cast<float>(scale *
                                       (std::exp(row[j] - max) * inv_sum - t));
        }
      } else {
        const double inv_sum = 1.0 / row_sums_[i];
        for (int64_t j = 0; j < k; ++j) {
          const double v = row[j];
          if (v < kEpsilon || v > 1 - kEpsilon) {
            grad[j] = 0.0f;
            continue;
          }
          const double t = j == c ? on : off;
          grad[j] = static_cast<float>(scale * (inv_sum - t / v));
        }
      }
    }
    return absl::OkStatus();
  }

 private:
  static double Clip(float p) {
    return std::clamp(static_cast<double>(p), kEpsilon, 1 - kEpsilon);
  }
  // The target of the labelled class and of every other class.
  double OnValue(int64_t k) const {
    return 1.0 - label_smoothing_ + OffValue(k);
  }
  double OffValue(int64_t k) const {
    return static_cast<double>(label_smoothing_) / k;
  }

  bool from_logits_ = false;
  float label_smoothing_ = 0.0f;
  std::vector<int32_t> classes_;
  std::vector<double> row_sums_;
};

absl::Status SparseCategoricalCrossentropyShape(ShapeContext& ctx) {
  LOOM_RETURN_IF_ERROR(
      CheckLabelSmoothing(ctx.attrs().GetFloat("label_smoothing")));
  for (int i = 0; i < 2; ++i) {
    LOOM_RETURN_IF_ERROR(ctx.ExpectDType(i, DType::kFloat32));
  }
  LOOM_RETURN_IF_ERROR(
      CheckClassLabelShapes(ctx.input(0)->shape, ctx.input(1)->shape));
  ctx.set_output(0, {DType::kFloat32, {}});
  return absl::OkStatus();
}

std::vector<OpDef> SparseCategoricalCrossentropyOps() {
  OpDef def;
  def.signature.name = "SparseCategoricalCrossentropy";
  def.signature.doc =
      "Mean cross-entropy of class probabilities (or logits) against integer "
      "class labels.";
  def.signature.inputs = {
      {"labels", "float [N] or [N, 1]: class indices in [0, K)"},
      {"y", "float [N, K]: probabilities, or logits"}};
  def.signature.outputs = {{"loss", "float []"}};
  def.signature.attrs = {
      BoolAttr("from_logits", false, "y holds logits"),
      FloatAttr("label_smoothing", 0.0f,
                "in [0, 1]: targets become (1 - ls) * onehot + ls / K")};
  def.shape_fn = SparseCategoricalCrossentropyShape;
  def.kernels.push_back(
      {"reference", MakeKernelFactory<SparseCategoricalCrossentropyKernel>()});
  std::vector<OpDef> defs;
  defs.push_back(std::move(def));
  return defs;
}

LOOM_REGISTER_OP(SparseCategoricalCrossentropyOps);

}  // namespace
}  // namespace loom
