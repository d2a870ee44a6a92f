// LSTM: both kernels against a naive double-precision reference with Keras
// semantics (masking, both directions, concat/sum, sequences/last state),
// gradients against finite differences and against each other, dropout
// behaviour, and attribute errors.
#include <omp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "framework/op.h"
#include "framework/registry.h"
#include "framework/status_macros.h"
#include "framework/testing/op_testing.h"
#include "gtest/gtest.h"

namespace loom::testing {
namespace {

// ---------------------------------------------------------------------------
// Inputs and the reference.

struct LstmInputs {
  int64_t n, t, c, h;
  Tensor x, mask;
  std::array<Tensor, 2> kernel, recurrent, bias;  // Per direction.
};

// Row lengths cycle through: all steps valid, pre-padded (zeros first),
// no valid step, post-padded. With `gaps`, rows also get holes inside.
Tensor MakeMask(int64_t n, int64_t t, bool gaps) {
  Tensor mask(DType::kFloat32, {n, t});
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t s = 0; s < t; ++s) {
      bool valid = true;
      switch (r % 4) {
        case 0:
          valid = true;
          break;
        case 1:
          valid = s >= t - 3;  // Pre-padded, 3 valid steps.
          break;
        case 2:
          valid = false;
          break;
        case 3:
          valid = s < 2;  // Post-padded, 2 valid steps.
          break;
      }
      if (gaps) valid = (r % 4 == 2) ? false : (s + r) % 3 != 1;
      mask.f32()[r * t + s] = valid ? 1.0f : 0.0f;
    }
  }
  return mask;
}

LstmInputs MakeInputs(int64_t n, int64_t t, int64_t c, int64_t h,
                      uint64_t seed = 1, bool gaps = false) {
  LstmInputs in{n, t, c, h};
  in.x = RandomTensor({n, t, c}, seed, -1.0f, 1.0f);
  in.mask = MakeMask(n, t, gaps);
  for (int k = 0; k < 2; ++k) {
    in.kernel[k] = RandomTensor({c, 4 * h}, seed + 10 + k, -0.6f, 0.6f);
    in.recurrent[k] = RandomTensor({h, 4 * h}, seed + 20 + k, -0.6f, 0.6f);
    in.bias[k] = RandomTensor({4 * h}, seed + 30 + k, -0.3f, 0.3f);
  }
  return in;
}

bool Bidirectional(const std::string& direction) {
  return direction != "forward";
}

struct Options {
  std::string direction = "forward";
  bool return_sequences = false;
  bool masked = false;
  std::string kernel = "fused";
  float dropout = 0;
  float recurrent_dropout = 0;
  bool training = false;
  uint64_t seed = 1;
};

OpTestCase MakeCase(const LstmInputs& in, const Options& o) {
  OpTestCase test;
  test.op = "LSTM";
  test.attrs["units"] = IntValue(in.h);
  test.attrs["direction"] = StringValue(o.direction);
  test.attrs["return_sequences"] = BoolValue(o.return_sequences);
  test.attrs["dropout"] = FloatValue(o.dropout);
  test.attrs["recurrent_dropout"] = FloatValue(o.recurrent_dropout);
  test.attrs["_kernel"] = StringValue(o.kernel);
  test.inputs = {in.x, in.kernel[0], in.recurrent[0], in.bias[0]};
  test.inputs.push_back(o.masked ? std::optional<Tensor>(in.mask)
                                 : std::nullopt);
  if (Bidirectional(o.direction)) {
    test.inputs.push_back(in.kernel[1]);
    test.inputs.push_back(in.recurrent[1]);
    test.inputs.push_back(in.bias[1]);
  }
  // Every float input but the mask.
  test.differentiable = {true, true, true, true, false, true, true, true};
  test.training = o.training;
  test.seed = o.seed;
  return test;
}

double Sigmoid(double v) { return 1.0 / (1.0 + std::exp(-v)); }

// Dropout masks for the reference, already scaled; empty: none.
struct RefMasks {
  std::array<std::vector<double>, 2> input;      // [N, C]
  std::array<std::vector<double>, 2> recurrent;  // [N, H]
};

// One direction of one row: outputs [T, H] (zeros at masked steps) and the
// last state [H].
void ReferenceRow(const LstmInputs& in, bool masked, int k, int64_t row,
                  const std::vector<double>* input_mask,
                  const std::vector<double>* recurrent_mask,
                  std::vector<double>* outputs, std::vector<double>* last) {
  const int64_t T = in.t, C = in.c, H = in.h;
  const float* W = in.kernel[k].f32();
  const float* U = in.recurrent[k].f32();
  const float* b = in.bias[k].f32();
  std::vector<double> h(H, 0.0), c(H, 0.0), z(4 * H);
  outputs->assign(T * H, 0.0);
  for (int64_t s = 0; s < T; ++s) {
    const int64_t t = k == 0 ? s : T - 1 - s;
    if (masked && in.mask.f32()[row * T + t] == 0.0f) continue;
    for (int64_t g = 0; g < 4 * H; ++g) {
      double v = b[g];
      for (int64_t ch = 0; ch < C; ++ch) {
        double xv = in.x.f32()[(row * T + t) * C + ch];
        if (input_mask) xv *= (*input_mask)[row * C + ch];
        v += xv * W[ch * 4 * H + g];
      }
      for (int64_t i = 0; i < H; ++i) {
        double hv = h[i];
        if (recurrent_mask) hv *= (*recurrent_mask)[row * H + i];
        v += hv * U[i * 4 * H + g];
      }
      z[g] = v;
    }
    for (int64_t j = 0; j < H; ++j) {
      const double ig = Sigmoid(z[j]), fg = Sigmoid(z[H + j]);
      const double gg = std::tanh(z[2 * H + j]), og = Sigmoid(z[3 * H + j]);
      c[j] = fg * c[j] + ig * gg;
      h[j] = og * std::tanh(c[j]);
      (*outputs)[t * H + j] = h[j];
    }
  }
  *last = h;
}

// The op's output, flattened, computed in double precision.
std::vector<double> Reference(const LstmInputs& in, const Options& o,
                              const RefMasks& masks = {}) {
  const int64_t N = in.n, T = in.t, H = in.h;
  const bool bidi = Bidirectional(o.direction);
  const bool concat = o.direction == "bidirectional_concat";
  const int64_t width = concat ? 2 * H : H;
  std::vector<double> y(o.return_sequences ? N * T * width : N * width, 0.0);
  for (int k = 0; k < (bidi ? 2 : 1); ++k) {
    const int64_t off = concat ? k * H : 0;
    for (int64_t n = 0; n < N; ++n) {
      std::vector<double> outputs, last;
      ReferenceRow(in, o.masked, k, n,
                   masks.input[k].empty() ? nullptr : &masks.input[k],
                   masks.recurrent[k].empty() ? nullptr : &masks.recurrent[k],
                   &outputs, &last);
      for (int64_t j = 0; j < H; ++j) {
        if (o.return_sequences) {
          for (int64_t t = 0; t < T; ++t) {
            y[(n * T + t) * width + off + j] += outputs[t * H + j];
          }
        } else {
          y[n * width + off + j] += last[j];
        }
      }
    }
  }
  return y;
}

void ExpectNear(const Tensor& got, const std::vector<double>& want, double tol,
                const std::string& what) {
  ASSERT_EQ(got.num_elements(), static_cast<int64_t>(want.size())) << what;
  int bad = 0;
  for (int64_t i = 0; i < got.num_elements() && bad < 5; ++i) {
    if (std::abs(got.f32()[i] - want[i]) > tol) {
      ++bad;
      ADD_FAILURE() << what << ": element " << i << " is " << got.f32()[i]
                    << ", expected " << want[i];
    }
  }
}

void ExpectTensorsNear(const Tensor& a, const Tensor& b, double tol,
                       const std::string& what) {
  ASSERT_EQ(a.shape(), b.shape()) << what;
  std::vector<double> want(b.flat().begin(), b.flat().end());
  ExpectNear(a, want, tol, what);
}

// ---------------------------------------------------------------------------
// Every configuration: direction x return_sequences x masked x kernel.

using Config = std::tuple<std::string, bool, bool, std::string>;

Options ToOptions(const Config& config) {
  Options o;
  o.direction = std::get<0>(config);
  o.return_sequences = std::get<1>(config);
  o.masked = std::get<2>(config);
  o.kernel = std::get<3>(config);
  return o;
}

class LstmConfigTest : public ::testing::TestWithParam<Config> {};

TEST_P(LstmConfigTest, ForwardMatchesReference) {
  const LstmInputs in = MakeInputs(4, 5, 4, 3);
  const Options o = ToOptions(GetParam());
  for (bool training : {false, true}) {
    Options run = o;
    run.training = training;
    auto out = RunOp(BuiltinRegistry(), MakeCase(in, run));
    ASSERT_TRUE(out.ok()) << out.status();
    const int64_t width =
        o.direction == "bidirectional_concat" ? 2 * in.h : in.h;
    EXPECT_EQ((*out)[0].shape(), o.return_sequences ? Shape({in.n, in.t, width})
                                                    : Shape({in.n, width}));
    ExpectNear((*out)[0], Reference(in, o), 2e-5,
               training ? "training" : "inference");
  }
}

TEST_P(LstmConfigTest, GradientMatchesFiniteDifferences) {
  const LstmInputs in = MakeInputs(4, 5, 4, 3);
  Options o = ToOptions(GetParam());
  for (bool training : {false, true}) {
    o.training = training;
    GradientCheckOptions options;
    options.epsilon = 1e-2;
    options.atol = 3e-3;
    options.rtol = 3e-2;
    auto report = CheckGradients(BuiltinRegistry(), MakeCase(in, o), options);
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_TRUE(report->ok) << report->worst;
    EXPECT_GT(report->checked, 0);
  }
}

INSTANTIATE_TEST_SUITE_P(
    All, LstmConfigTest,
    ::testing::Combine(::testing::Values("forward", "bidirectional_concat",
                                         "bidirectional_sum"),
                       ::testing::Bool(), ::testing::Bool(),
                       ::testing::Values("fused", "stepwise")),
    [](const ::testing::TestParamInfo<Config>& info) {
      return std::get<0>(info.param) +
             (std::get<1>(info.param) ? "_Sequences" : "_Last") +
             (std::get<2>(info.param) ? "_Masked" : "_Unmasked") + "_" +
             std::get<3>(info.param);
    });

// The two kernels' analytic gradients agree closely (finite differences
// above are looser).
using KernelPairConfig = std::tuple<std::string, bool, bool>;
class LstmKernelsAgreeTest : public ::testing::TestWithParam<KernelPairConfig> {
};

TEST_P(LstmKernelsAgreeTest, GradientsOfBothKernelsAgree) {
  // H = 11 exercises the vectorized gate loops and their scalar tails.
  const LstmInputs in = MakeInputs(6, 7, 5, 11, 3);
  Options o;
  o.direction = std::get<0>(GetParam());
  o.return_sequences = std::get<1>(GetParam());
  o.masked = std::get<2>(GetParam());
  o.training = true;
  const OpTestCase fused = MakeCase(in, o);
  o.kernel = "stepwise";
  const OpTestCase stepwise = MakeCase(in, o);

  auto out = RunOp(BuiltinRegistry(), fused);
  ASSERT_TRUE(out.ok()) << out.status();
  ExpectNear((*out)[0], Reference(in, o), 2e-5, "fused forward");
  auto out_stepwise = RunOp(BuiltinRegistry(), stepwise);
  ASSERT_TRUE(out_stepwise.ok()) << out_stepwise.status();
  ExpectNear((*out_stepwise)[0], Reference(in, o), 2e-5, "stepwise forward");

  // In inference, dropout attributes change nothing and both kernels agree.
  {
    Options inference = o;
    inference.training = false;
    inference.dropout = 0.3f;
    inference.recurrent_dropout = 0.3f;
    inference.kernel = "fused";
    auto a = RunOp(BuiltinRegistry(), MakeCase(in, inference));
    inference.kernel = "stepwise";
    auto b = RunOp(BuiltinRegistry(), MakeCase(in, inference));
    ASSERT_TRUE(a.ok() && b.ok());
    ExpectTensorsNear((*a)[0], (*b)[0], 1e-5, "inference, fused vs stepwise");
  }

  const std::vector<Tensor> weights = {
      RandomTensor((*out)[0].shape(), 99, -1.0f, 1.0f)};
  auto a = ComputeGradients(BuiltinRegistry(), fused, weights);
  ASSERT_TRUE(a.ok()) << a.status();
  auto b = ComputeGradients(BuiltinRegistry(), stepwise, weights);
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_EQ(a->size(), b->size());
  for (size_t i = 0; i < a->size(); ++i) {
    if (!(*a)[i].is_initialized()) continue;
    ExpectTensorsNear((*a)[i], (*b)[i], 1e-4,
                      "gradient of input " + std::to_string(i));
  }
}

INSTANTIATE_TEST_SUITE_P(
    All, LstmKernelsAgreeTest,
    ::testing::Combine(::testing::Values("forward", "bidirectional_concat",
                                         "bidirectional_sum"),
                       ::testing::Bool(), ::testing::Bool()),
    [](const ::testing::TestParamInfo<KernelPairConfig>& info) {
      return std::get<0>(info.param) +
             (std::get<1>(info.param) ? "_Sequences" : "_Last") +
             (std::get<2>(info.param) ? "_Masked" : "_Unmasked");
    });

// The fused kernel's copies in and out of the primitives split the rows
// among OpenMP's threads: on 3 threads every output and gradient is what
// one thread computes (up to the primitives' own summation order).
TEST(LstmTest, ThreadsSplitTheCopiesWithoutChangingResults) {
  const LstmInputs in = MakeInputs(13, 9, 5, 11, 21, /*gaps=*/true);
  for (const char* direction :
       {"forward", "bidirectional_concat", "bidirectional_sum"}) {
    for (bool sequences : {true, false}) {
      Options o;
      o.direction = direction;
      o.return_sequences = sequences;
      o.masked = true;
      o.training = true;
      o.dropout = 0.25f;
      const OpTestCase test = MakeCase(in, o);
      const int threads = omp_get_max_threads();
      omp_set_num_threads(1);
      auto one = RunOp(BuiltinRegistry(), test);
      ASSERT_TRUE(one.ok()) << one.status();
      const std::vector<Tensor> weights = {
          RandomTensor((*one)[0].shape(), 5, -1.0f, 1.0f)};
      auto one_grads = ComputeGradients(BuiltinRegistry(), test, weights);
      omp_set_num_threads(3);
      auto three = RunOp(BuiltinRegistry(), test);
      auto three_grads = ComputeGradients(BuiltinRegistry(), test, weights);
      omp_set_num_threads(threads);
      ASSERT_TRUE(three.ok()) << three.status();
      ASSERT_TRUE(one_grads.ok() && three_grads.ok());
      const std::string where =
          std::string(direction) + (sequences ? ", sequences" : ", last");
      ExpectTensorsNear((*three)[0], (*one)[0], 1e-6, where + ": output");
      ASSERT_EQ(one_grads->size(), three_grads->size());
      for (size_t i = 0; i < one_grads->size(); ++i) {
        if (!(*one_grads)[i].is_initialized()) continue;
        ExpectTensorsNear((*three_grads)[i], (*one_grads)[i], 1e-5,
                          where + ": gradient of input " + std::to_string(i));
      }
    }
  }
}

// Masks with holes inside a row: the stepwise kernel masks step by step;
// the fused kernel gathers each row's valid steps into aligned steps.
TEST(LstmTest, NonContiguousMask) {
  const LstmInputs in = MakeInputs(4, 6, 3, 3, 5, /*gaps=*/true);
  for (const char* kernel : {"fused", "stepwise"}) {
    for (const char* direction : {"forward", "bidirectional_concat"}) {
      for (bool sequences : {false, true}) {
        Options o;
        o.direction = direction;
        o.return_sequences = sequences;
        o.masked = true;
        o.kernel = kernel;
        auto out = RunOp(BuiltinRegistry(), MakeCase(in, o));
        ASSERT_TRUE(out.ok()) << out.status();
        ExpectNear((*out)[0], Reference(in, o), 2e-5,
                   std::string(kernel) + " " + direction);
        auto report = CheckGradients(BuiltinRegistry(), MakeCase(in, o));
        ASSERT_TRUE(report.ok()) << report.status();
        EXPECT_TRUE(report->ok)
            << kernel << " " << direction << ": " << report->worst;
      }
    }
  }
}

// A step at a new shape after an old one reuses nothing stale.
TEST(LstmTest, ShapesChangeBetweenRuns) {
  for (const char* kernel : {"fused", "stepwise"}) {
    Options o;
    o.direction = "bidirectional_sum";
    o.return_sequences = true;
    o.masked = true;
    o.kernel = kernel;
    const LstmInputs a = MakeInputs(4, 5, 4, 3, 1);
    const LstmInputs b = MakeInputs(8, 3, 4, 3, 2);
    for (const LstmInputs* in : {&a, &b, &a}) {
      auto out = RunOp(BuiltinRegistry(), MakeCase(*in, o));
      ASSERT_TRUE(out.ok()) << out.status();
      ExpectNear((*out)[0], Reference(*in, o), 2e-5, kernel);
    }
  }
}

// ---------------------------------------------------------------------------
// One kernel instance at changing shapes. The kernels share their buffers
// between the shapes they have seen, so these run one instance through
// interleaved shapes, training and inference, and compare every output and
// gradient with a fresh instance's at that step.

// Drives one LSTM kernel instance as the executor does, feeding any batch
// size (op_testing's graphs fix the input shapes) and asking for the
// gradient of every float input but the mask.
class LstmDriver {
 public:
  static std::unique_ptr<LstmDriver> Create(const Options& o, int64_t units) {
    auto driver = std::unique_ptr<LstmDriver>(new LstmDriver());
    const OpDef* def = BuiltinRegistry().Find("LSTM");
    if (def == nullptr) return nullptr;
    NodeDef node;
    auto& given = *node.mutable_attr();
    given["units"] = IntValue(units);
    given["direction"] = StringValue(o.direction);
    given["return_sequences"] = BoolValue(o.return_sequences);
    given["dropout"] = FloatValue(o.dropout);
    given["recurrent_dropout"] = FloatValue(o.recurrent_dropout);
    auto attrs = AttrMap::Resolve(def->signature.attrs, given);
    if (!attrs.ok()) return nullptr;
    driver->attrs_ = *std::move(attrs);
    for (const KernelDef& k : def->kernels) {
      if (k.name != o.kernel) continue;
      const std::string name = "lstm";
      const std::vector<const ValueInfo*> infos;
      auto kernel = k.create(KernelInitContext{name, driver->attrs_, infos});
      if (!kernel.ok()) return nullptr;
      driver->kernel_ = *std::move(kernel);
    }
    if (driver->kernel_ == nullptr) return nullptr;
    driver->bidirectional_ = Bidirectional(o.direction);
    driver->masked_ = o.masked;
    return driver;
  }

  // Runs forward on `in` (kept until the next Forward) with the generator
  // seeded as for every run, so dropout masks depend only on the shape.
  absl::StatusOr<Tensor> Forward(const LstmInputs& in, bool training) {
    in_ = in;
    inputs_ = {&in_.x, &in_.kernel[0], &in_.recurrent[0], &in_.bias[0],
               masked_ ? &in_.mask : nullptr};
    if (bidirectional_) {
      inputs_.insert(inputs_.end(),
                     {&in_.kernel[1], &in_.recurrent[1], &in_.bias[1]});
    }
    rng_.seed(1234);
    ctx_ = std::make_unique<KernelContext>(
        attrs_, &dnnl_, inputs_, std::vector<Tensor*>{&y_}, training, &rng_);
    LOOM_RETURN_IF_ERROR(kernel_->Forward(*ctx_));
    return y_.Clone();
  }

  // Gradients of <dy, y> for the last Forward, one per input (empty for the
  // mask and absent inputs).
  absl::StatusOr<std::vector<Tensor>> Backward(const Tensor& dy) {
    std::vector<Tensor> grads(inputs_.size());
    std::vector<Tensor*> wanted(inputs_.size(), nullptr);
    for (size_t i = 0; i < inputs_.size(); ++i) {
      if (inputs_[i] != nullptr && i != 4) wanted[i] = &grads[i];
    }
    GradContext ctx(ctx_.get(), {&dy}, wanted,
                    std::vector<SparseRows*>(inputs_.size(), nullptr));
    LOOM_RETURN_IF_ERROR(kernel_->Backward(ctx));
    for (Tensor& g : grads) {
      if (g.is_initialized()) g = g.Clone();
    }
    return grads;
  }

 private:
  LstmDriver() = default;

  AttrMap attrs_;
  std::unique_ptr<OpKernel> kernel_;
  DnnlContext dnnl_;
  std::mt19937_64 rng_;
  bool bidirectional_ = false, masked_ = false;
  LstmInputs in_{};
  std::vector<const Tensor*> inputs_;
  std::unique_ptr<KernelContext> ctx_;
  Tensor y_;
};

// Fails on any difference, NaN included.
void ExpectSame(const Tensor& got, const Tensor& want,
                const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  int bad = 0;
  for (int64_t i = 0; i < got.num_elements() && bad < 5; ++i) {
    if (!(got.f32()[i] == want.f32()[i])) {
      ++bad;
      ADD_FAILURE() << what << ": element " << i << " is " << got.f32()[i]
                    << ", expected " << want.f32()[i];
    }
  }
}

double SumAbs(const Tensor& t) {
  double sum = 0;
  for (int64_t i = 0; i < t.num_elements(); ++i) sum += std::abs(t.f32()[i]);
  return sum;
}

struct DriverStep {
  int64_t batch;
  bool training;
  bool backward;
};

// Output and gradients of one step.
struct StepResult {
  Tensor y;
  std::vector<Tensor> grads;
};

absl::StatusOr<StepResult> RunStep(LstmDriver& driver, const LstmInputs& in,
                                   const DriverStep& step) {
  StepResult r;
  LOOM_ASSIGN_OR_RETURN(r.y, driver.Forward(in, step.training));
  if (step.backward) {
    const Tensor dy = RandomTensor(r.y.shape(), 77 + in.n, -1.0f, 1.0f);
    LOOM_ASSIGN_OR_RETURN(r.grads, driver.Backward(dy));
  }
  return r;
}

// Runs `steps` on one instance and each step on a fresh one; they must
// agree exactly. Without dropout, outputs are also checked against the
// reference, and the fresh instance's gradients against the executor's.
void ExpectInterleavedMatchesFresh(const Options& o,
                                   const std::vector<DriverStep>& steps,
                                   bool gaps = false) {
  const int64_t t = 6, c = 5, h = 11;
  auto shared = LstmDriver::Create(o, h);
  ASSERT_NE(shared, nullptr);
  for (size_t i = 0; i < steps.size(); ++i) {
    const DriverStep& step = steps[i];
    const std::string what =
        o.kernel + " " + o.direction + " step " + std::to_string(i) +
        " (batch " + std::to_string(step.batch) +
        (step.training ? ", training" : ", inference") + ")";
    // Inputs depend on the batch size only, so repeated shapes repeat them.
    const LstmInputs in =
        MakeInputs(step.batch, t, c, h, 40 + step.batch, gaps);
    auto got = RunStep(*shared, in, step);
    ASSERT_TRUE(got.ok()) << what << ": " << got.status();
    auto fresh_driver = LstmDriver::Create(o, h);
    ASSERT_NE(fresh_driver, nullptr);
    auto want = RunStep(*fresh_driver, in, step);
    ASSERT_TRUE(want.ok()) << what << ": " << want.status();

    ExpectSame(got->y, want->y, what + ", output");
    EXPECT_GT(SumAbs(want->y), 1e-3) << what;
    const bool dropout =
        step.training && (o.dropout > 0 || o.recurrent_dropout > 0);
    if (!dropout) {
      Options ref = o;
      ref.masked = true;
      const std::vector<double> expected = Reference(in, ref);
      ASSERT_EQ(want->y.num_elements(), static_cast<int64_t>(expected.size()));
      for (int64_t e = 0; e < want->y.num_elements(); ++e) {
        ASSERT_TRUE(std::abs(want->y.f32()[e] - expected[e]) <= 2e-5)
            << what << ": element " << e << " is " << want->y.f32()[e]
            << ", reference " << expected[e];
      }
    }
    if (!step.backward) continue;
    ASSERT_EQ(got->grads.size(), want->grads.size());
    for (size_t g = 0; g < want->grads.size(); ++g) {
      if (!want->grads[g].is_initialized()) continue;
      ExpectSame(got->grads[g], want->grads[g],
                 what + ", gradient of input " + std::to_string(g));
      EXPECT_GT(SumAbs(want->grads[g]), 1e-4) << what << " input " << g;
    }
    if (dropout) continue;
    // The fresh instance against the executor's gradient, which runs the
    // kernel's own forward first (a training one when step.training).
    Options run = o;
    run.masked = true;
    run.training = step.training;
    const Tensor dy = RandomTensor(want->y.shape(), 77 + in.n, -1.0f, 1.0f);
    auto executor_grads =
        ComputeGradients(BuiltinRegistry(), MakeCase(in, run), {dy});
    ASSERT_TRUE(executor_grads.ok()) << executor_grads.status();
    for (size_t g = 0; g < want->grads.size(); ++g) {
      if (!want->grads[g].is_initialized()) continue;
      ASSERT_TRUE((*executor_grads)[g].is_initialized()) << g;
      const Tensor& a = want->grads[g];
      const Tensor& b = (*executor_grads)[g];
      ASSERT_EQ(a.shape(), b.shape());
      for (int64_t e = 0; e < a.num_elements(); ++e) {
        ASSERT_TRUE(std::abs(a.f32()[e] - b.f32()[e]) <= 1e-6)
            << what << ": input " << g << " element " << e << ": " << a.f32()[e]
            << " vs the executor's " << b.f32()[e];
      }
    }
  }
}

// Small, larger (the buffers grow), an inference forward alone, an
// inference forward followed by Backward (which re-runs a training forward
// at that shape), then the earlier shapes again.
const std::vector<DriverStep> kInterleaved = {
    {3, true, true},  {8, true, true},   {5, false, false}, {5, false, true},
    {3, true, true},  {8, false, false}, {8, true, true},   {2, false, false},
    {3, false, true}, {8, true, true},
};

using InterleavedConfig = std::tuple<std::string, std::string, bool>;
class LstmInterleavedTest : public ::testing::TestWithParam<InterleavedConfig> {
};

TEST_P(LstmInterleavedTest, MatchesFreshKernelAtEveryStep) {
  Options o;
  o.kernel = std::get<0>(GetParam());
  o.direction = std::get<1>(GetParam());
  o.return_sequences = std::get<2>(GetParam());
  o.masked = true;
  ExpectInterleavedMatchesFresh(o, kInterleaved);
}

INSTANTIATE_TEST_SUITE_P(
    All, LstmInterleavedTest,
    ::testing::Combine(::testing::Values("fused", "stepwise"),
                       ::testing::Values("bidirectional_concat",
                                         "bidirectional_sum"),
                       ::testing::Bool()),
    [](const ::testing::TestParamInfo<InterleavedConfig>& info) {
      return std::get<0>(info.param) + "_" + std::get<1>(info.param) +
             (std::get<2>(info.param) ? "_Sequences" : "_Last");
    });

// With dropout: input dropout keeps the fused kernel on oneDNN's LSTM;
// recurrent dropout sends its training runs to the stepwise engine (with
// its extra buffers) while inference stays fused.
TEST(LstmSharedBuffersTest, DropoutMatchesFreshKernelAtEveryStep) {
  for (const char* kernel : {"fused", "stepwise"}) {
    for (float recurrent : {0.0f, 0.3f}) {
      SCOPED_TRACE(std::string(kernel) + " recurrent_dropout " +
                   std::to_string(recurrent));
      Options o;
      o.kernel = kernel;
      o.direction = "bidirectional_concat";
      o.return_sequences = true;
      o.masked = true;
      o.dropout = 0.3f;
      o.recurrent_dropout = recurrent;
      ExpectInterleavedMatchesFresh(o, kInterleaved);
    }
  }
}

// Masks with holes: the fused kernel's aligned copies of gapped rows.
TEST(LstmSharedBuffersTest, NonContiguousMaskMatchesFreshKernel) {
  for (const char* kernel : {"fused", "stepwise"}) {
    Options o;
    o.kernel = kernel;
    o.direction = "bidirectional_concat";
    o.return_sequences = true;
    o.masked = true;
    ExpectInterleavedMatchesFresh(o, kInterleaved, /*gaps=*/true);
  }
}

// More distinct shapes than a kernel keeps plans for: the evicted ones are
// rebuilt, and every step is still right, including the one right after
// Backward's re-run training forward evicted something.
TEST(LstmSharedBuffersTest, ManyBatchSizes) {
  std::vector<DriverStep> steps;
  for (int64_t n : {1, 2, 3, 4, 5, 6, 7, 9}) {
    steps.push_back({n, true, true});
    steps.push_back({n, false, false});
  }
  for (int64_t n : {2, 9, 1, 7, 3, 6, 4, 5}) {
    steps.push_back({n, n % 2 == 0, true});
  }
  for (const char* kernel : {"fused", "stepwise"}) {
    Options o;
    o.kernel = kernel;
    o.direction = "bidirectional_concat";
    o.return_sequences = true;
    o.masked = true;
    ExpectInterleavedMatchesFresh(o, steps);
  }
}

// ---------------------------------------------------------------------------
// Dropout.

TEST(LstmDropoutTest, InferenceIgnoresDropout) {
  const LstmInputs in = MakeInputs(4, 5, 4, 3);
  for (const char* kernel : {"fused", "stepwise"}) {
    Options o;
    o.direction = "bidirectional_concat";
    o.return_sequences = true;
    o.masked = true;
    o.kernel = kernel;
    o.dropout = 0.5f;
    o.recurrent_dropout = 0.5f;
    auto out = RunOp(BuiltinRegistry(), MakeCase(in, o));
    ASSERT_TRUE(out.ok()) << out.status();
    ExpectNear((*out)[0], Reference(in, o), 2e-5, kernel);
  }
}

TEST(LstmDropoutTest, SameSeedSameMasks) {
  const LstmInputs in = MakeInputs(4, 5, 4, 3);
  for (const char* kernel : {"fused", "stepwise"}) {
    Options o;
    o.direction = "bidirectional_concat";
    o.return_sequences = true;
    o.kernel = kernel;
    o.dropout = 0.4f;
    o.recurrent_dropout = 0.4f;
    o.training = true;
    auto first = RunOp(BuiltinRegistry(), MakeCase(in, o));
    auto again = RunOp(BuiltinRegistry(), MakeCase(in, o));
    o.seed = 2;
    auto other = RunOp(BuiltinRegistry(), MakeCase(in, o));
    ASSERT_TRUE(first.ok() && again.ok() && other.ok());
    ExpectTensorsNear((*first)[0], (*again)[0], 0, "same seed");
    double diff = 0;
    for (int64_t i = 0; i < (*first)[0].num_elements(); ++i) {
      diff += std::abs((*first)[0].f32()[i] - (*other)[0].f32()[i]);
    }
    EXPECT_GT(diff, 1e-3) << kernel << ": another seed gave the same output";
    // Dropout does change the output in training.
    std::vector<double> plain = Reference(in, o);
    double changed = 0;
    for (int64_t i = 0; i < (*first)[0].num_elements(); ++i) {
      changed += std::abs((*first)[0].f32()[i] - plain[i]);
    }
    EXPECT_GT(changed, 1e-3) << kernel;
  }
}

// With input dropout only, both kernels draw the same mask and so agree.
TEST(LstmDropoutTest, KernelsAgreeUnderInputDropout) {
  const LstmInputs in = MakeInputs(4, 5, 4, 3);
  Options o;
  o.direction = "bidirectional_sum";
  o.return_sequences = true;
  o.masked = true;
  o.dropout = 0.3f;
  o.training = true;
  auto fused = RunOp(BuiltinRegistry(), MakeCase(in, o));
  o.kernel = "stepwise";
  auto stepwise = RunOp(BuiltinRegistry(), MakeCase(in, o));
  ASSERT_TRUE(fused.ok() && stepwise.ok());
  ExpectTensorsNear((*fused)[0], (*stepwise)[0], 2e-5, "fused vs stepwise");
}

// Recovers, row by row and direction by direction, the dropout masks that
// make the reference reproduce the op's output, by trying every mask: the
// op must match exactly one of them, which shows that it applies one
// [N, C] input mask and one [N, H] recurrent mask per sequence, constant
// over time and shared by the four gates, with inverted scaling. Returns the
// fraction of dropped entries of each kind.
struct Recovered {
  double input_dropped = 0, recurrent_dropped = 0;
  // Whether the two directions' input masks differ somewhere.
  bool directions_differ = false;
};

Recovered RecoverMasks(const LstmInputs& in, const Options& o,
                       const Tensor& y) {
  const int64_t N = in.n, T = in.t, C = in.c, H = in.h;
  const bool concat = o.direction == "bidirectional_concat";
  const int directions = concat ? 2 : 1;
  const int64_t width = concat ? 2 * H : H;
  const int input_bits = o.dropout > 0 ? C : 0;
  const int recurrent_bits = o.recurrent_dropout > 0 ? H : 0;
  const double in_scale = 1.0 / (1.0 - o.dropout);
  const double rec_scale = 1.0 / (1.0 - o.recurrent_dropout);
  Recovered r;
  int64_t input_dropped = 0, recurrent_dropped = 0;
  std::vector<int> input_choice(directions);
  for (int64_t n = 0; n < N; ++n) {
    for (int k = 0; k < directions; ++k) {
      int matches = 0;
      for (int bits = 0; bits < (1 << (input_bits + recurrent_bits)); ++bits) {
        std::vector<double> im(N * C, 1.0), rm(N * H, 1.0);
        for (int b = 0; b < input_bits; ++b) {
          im[n * C + b] = (bits >> b) & 1 ? in_scale : 0.0;
        }
        for (int b = 0; b < recurrent_bits; ++b) {
          rm[n * H + b] = (bits >> (input_bits + b)) & 1 ? rec_scale : 0.0;
        }
        std::vector<double> outputs, last;
        ReferenceRow(in, o.masked, k, n, input_bits ? &im : nullptr,
                     recurrent_bits ? &rm : nullptr, &outputs, &last);
        double err = 0;
        for (int64_t t = 0; t < T; ++t) {
          for (int64_t j = 0; j < H; ++j) {
            err = std::max(err,
                           std::abs(outputs[t * H + j] -
                                    y.f32()[(n * T + t) * width + k * H + j]));
          }
        }
        if (err > 2e-5) continue;
        ++matches;
        for (int b = 0; b < input_bits; ++b) {
          input_dropped += !((bits >> b) & 1);
        }
        for (int b = 0; b < recurrent_bits; ++b) {
          recurrent_dropped += !((bits >> (input_bits + b)) & 1);
        }
        if (k == 0) input_choice[0] = bits & ((1 << input_bits) - 1);
        if (k == 1 && input_choice[0] != (bits & ((1 << input_bits) - 1))) {
          r.directions_differ = true;
        }
      }
      EXPECT_EQ(matches, 1) << "row " << n << " direction " << k;
    }
  }
  if (input_bits) {
    r.input_dropped = double(input_dropped) / (N * directions * C);
  }
  if (recurrent_bits) {
    r.recurrent_dropped = double(recurrent_dropped) / (N * directions * H);
  }
  return r;
}

TEST(LstmDropoutTest, RecurrentDropoutMatchesReferenceWithSameMasks) {
  // Unmasked, so every row carries information about its masks; 48 rows
  // give the dropped fractions a standard deviation of about 0.03.
  const LstmInputs in = MakeInputs(48, 5, 4, 3, 9);
  for (const char* direction : {"forward", "bidirectional_concat"}) {
    Options o;
    o.direction = direction;
    o.return_sequences = true;
    o.dropout = 0.3f;
    o.recurrent_dropout = 0.4f;
    o.training = true;  // The default kernel switches to stepwise.
    auto out = RunOp(BuiltinRegistry(), MakeCase(in, o));
    ASSERT_TRUE(out.ok()) << out.status();
    const Recovered r = RecoverMasks(in, o, (*out)[0]);
    EXPECT_NEAR(r.input_dropped, 0.3, 0.12) << direction;
    EXPECT_NEAR(r.recurrent_dropped, 0.4, 0.12) << direction;
    if (Bidirectional(direction)) {
      EXPECT_TRUE(r.directions_differ);
    }
    // And the gradient with these (fixed) masks is right.
    const LstmInputs small = MakeInputs(3, 5, 4, 3, 9);
    auto report = CheckGradients(BuiltinRegistry(), MakeCase(small, o));
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_TRUE(report->ok) << direction << ": " << report->worst;
  }
}

TEST(LstmDropoutTest, FusedInputDropoutMatchesReferenceWithSameMasks) {
  const LstmInputs in = MakeInputs(48, 5, 4, 3, 4);
  Options o;
  o.direction = "bidirectional_concat";
  o.return_sequences = true;
  o.dropout = 0.5f;
  o.training = true;
  auto out = RunOp(BuiltinRegistry(), MakeCase(in, o));
  ASSERT_TRUE(out.ok()) << out.status();
  const Recovered r = RecoverMasks(in, o, (*out)[0]);
  EXPECT_NEAR(r.input_dropped, 0.5, 0.12);
  EXPECT_TRUE(r.directions_differ);
  const LstmInputs small = MakeInputs(3, 5, 4, 3, 4);
  o.masked = true;
  auto report = CheckGradients(BuiltinRegistry(), MakeCase(small, o));
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok) << report->worst;
}

// ---------------------------------------------------------------------------
// Errors.

void ExpectError(OpTestCase test, const std::string& fragment) {
  auto out = RunOp(BuiltinRegistry(), test);
  ASSERT_FALSE(out.ok()) << "expected an error mentioning " << fragment;
  EXPECT_NE(std::string(out.status().message()).find(fragment),
            std::string::npos)
      << out.status();
}

TEST(LstmErrorTest, AttributesAndShapes) {
  const LstmInputs in = MakeInputs(2, 3, 4, 3);
  Options o;
  o.direction = "bidirectional_concat";
  OpTestCase test = MakeCase(in, o);

  OpTestCase units = test;
  units.attrs["units"] = IntValue(4);
  ExpectError(units, "kernel has shape [4, 12], expected [4, 16]");

  OpTestCase direction = test;
  direction.attrs["direction"] = StringValue("sideways");
  ExpectError(direction, "attribute 'direction' must be");

  for (float rate : {-0.1f, 1.0f, 1.5f}) {
    OpTestCase dropout = test;
    dropout.attrs["dropout"] = FloatValue(rate);
    ExpectError(dropout, "attribute 'dropout' must be in [0, 1)");
    OpTestCase recurrent = test;
    recurrent.attrs["recurrent_dropout"] = FloatValue(rate);
    ExpectError(recurrent, "attribute 'recurrent_dropout' must be in [0, 1)");
  }

  OpTestCase missing = test;
  missing.inputs.resize(5);
  ExpectError(missing, "needs backward_kernel");

  Options forward;
  OpTestCase extra = MakeCase(in, forward);
  extra.inputs.push_back(in.kernel[1]);
  extra.inputs.push_back(in.recurrent[1]);
  extra.inputs.push_back(in.bias[1]);
  ExpectError(extra, "direction is \"forward\"");

  OpTestCase mask = test;
  mask.inputs[4] = Tensor(DType::kFloat32, {2, 4});
  ExpectError(mask, "mask has shape [2, 4], expected [2, 3]");

  OpTestCase recurrent_shape = test;
  recurrent_shape.inputs[2] = Tensor(DType::kFloat32, {4, 12});
  ExpectError(recurrent_shape, "recurrent_kernel has shape");

  OpTestCase kernel = test;
  kernel.attrs["_kernel"] = StringValue("cudnn");
  ExpectError(kernel, "no kernel named 'cudnn'");
}

// ---------------------------------------------------------------------------
// precision "bf16": the fused kernel on bf16 data, against the f32 op.

// max |a - b| <= tol * max |b|, elementwise over tensors of one shape.
void ExpectRelativelyNear(const Tensor& a, const Tensor& b, double tol,
                          const std::string& what) {
  ASSERT_EQ(a.shape(), b.shape()) << what;
  double scale = 0, worst = 0;
  for (int64_t i = 0; i < b.num_elements(); ++i) {
    scale = std::max(scale, std::fabs(double{b.f32()[i]}));
    worst = std::max(worst, std::fabs(double{a.f32()[i]} - b.f32()[i]));
  }
  EXPECT_GT(scale, 0) << what;
  EXPECT_LE(worst, tol * scale)
      << what << ": max |diff| " << worst << ", max |f32| " << scale;
}

OpTestCase WithPrecision(OpTestCase test, const std::string& precision) {
  test.attrs["precision"] = StringValue(precision);
  return test;
}

// The bf16 op's output and gradients against the f32 op's.
void CheckBf16AgainstF32(const LstmInputs& in, const std::string& direction,
                         bool return_sequences, bool training) {
  Options o;
  o.direction = direction;
  o.return_sequences = return_sequences;
  o.masked = true;
  o.training = training;
  const OpTestCase f32 = MakeCase(in, o);
  const OpTestCase bf16 = WithPrecision(f32, "bf16");

  auto out = RunOp(BuiltinRegistry(), f32);
  ASSERT_TRUE(out.ok()) << out.status();
  auto out_bf16 = RunOp(BuiltinRegistry(), bf16);
  ASSERT_TRUE(out_bf16.ok()) << out_bf16.status();
  ExpectRelativelyNear((*out_bf16)[0], (*out)[0], 2e-2, "bf16 forward");
  // Not the f32 result: the primitives really ran in bf16.
  EXPECT_FALSE(std::equal((*out)[0].f32(),
                          (*out)[0].f32() + (*out)[0].num_elements(),
                          (*out_bf16)[0].f32()));
  // Masked steps output exact zeros, as in f32.
  for (int64_t i = 0; i < (*out)[0].num_elements(); ++i) {
    if ((*out)[0].f32()[i] == 0.0f) {
      ASSERT_EQ((*out_bf16)[0].f32()[i], 0.0f) << "element " << i;
    }
  }

  const std::vector<Tensor> weights = {
      RandomTensor((*out)[0].shape(), 99, -1.0f, 1.0f)};
  auto a = ComputeGradients(BuiltinRegistry(), bf16, weights);
  ASSERT_TRUE(a.ok()) << a.status();
  auto b = ComputeGradients(BuiltinRegistry(), f32, weights);
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_EQ(a->size(), b->size());
  int checked = 0;
  for (size_t i = 0; i < a->size(); ++i) {
    if (!(*b)[i].is_initialized()) continue;
    ExpectRelativelyNear((*a)[i], (*b)[i], 3e-2,
                         "bf16 gradient of input " + std::to_string(i));
    ++checked;
  }
  EXPECT_EQ(checked, Bidirectional(o.direction) ? 7 : 4);
}

using Bf16Config = std::tuple<std::string, bool, bool>;
class LstmBf16Test : public ::testing::TestWithParam<Bf16Config> {};

// oneDNN 2.6 has bf16 LSTM primitives only on CPUs with AVX512 BF16 or
// AMX; elsewhere the op refuses bf16 with an error that says so, and the
// bf16 tests skip (any other error still fails them).
bool CpuHasBf16Lstm() {
  auto r = RunOp(
      BuiltinRegistry(),
      WithPrecision(MakeCase(MakeInputs(2, 3, 4, 3, 1), Options{}), "bf16"));
  return r.ok() ||
         r.status().message().find("need a CPU with AVX512 BF16 or AMX") ==
             std::string::npos;
}

TEST_P(LstmBf16Test, ForwardAndGradientsNearF32) {
  if (!CpuHasBf16Lstm()) GTEST_SKIP() << "no bf16 LSTM on this CPU";
  // Rows with no valid step, pre- and post-padding, all steps valid (which
  // reads the last aligned step) and, with gaps, holes; odd sizes too.
  for (const LstmInputs& in : {MakeInputs(8, 9, 16, 12, 7, /*gaps=*/true),
                               MakeInputs(6, 7, 8, 5, 11, /*gaps=*/false)}) {
    SCOPED_TRACE(::testing::Message() << "N " << in.n << ", H " << in.h);
    CheckBf16AgainstF32(in, std::get<0>(GetParam()), std::get<1>(GetParam()),
                        std::get<2>(GetParam()));
  }
}

INSTANTIATE_TEST_SUITE_P(
    All, LstmBf16Test,
    ::testing::Combine(::testing::Values("forward", "bidirectional_concat",
                                         "bidirectional_sum"),
                       ::testing::Bool(), ::testing::Bool()),
    [](const ::testing::TestParamInfo<Bf16Config>& info) {
      return std::get<0>(info.param) +
             (std::get<1>(info.param) ? "_Sequences" : "_Last") +
             (std::get<2>(info.param) ? "_Training" : "_Inference");
    });

// Input dropout draws the same masks in bf16; recurrent dropout in training
// runs the stepwise kernel, which stays f32 (bit-identical results).
TEST(LstmBf16DropoutTest, SameMasksAndStepwiseStaysF32) {
  if (!CpuHasBf16Lstm()) GTEST_SKIP() << "no bf16 LSTM on this CPU";
  const LstmInputs in = MakeInputs(6, 7, 8, 5, 11);
  Options o;
  o.direction = "bidirectional_concat";
  o.return_sequences = true;
  o.masked = true;
  o.training = true;
  o.dropout = 0.3f;
  o.seed = 5;
  auto a = RunOp(BuiltinRegistry(), MakeCase(in, o));
  auto b = RunOp(BuiltinRegistry(), WithPrecision(MakeCase(in, o), "bf16"));
  ASSERT_TRUE(a.ok() && b.ok());
  ExpectRelativelyNear((*b)[0], (*a)[0], 2e-2, "bf16 with input dropout");

  o.recurrent_dropout = 0.2f;
  a = RunOp(BuiltinRegistry(), MakeCase(in, o));
  b = RunOp(BuiltinRegistry(), WithPrecision(MakeCase(in, o), "bf16"));
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ((*a)[0].shape(), (*b)[0].shape());
  EXPECT_TRUE(std::equal((*a)[0].f32(), (*a)[0].f32() + (*a)[0].num_elements(),
                         (*b)[0].f32()));
}

// The default is f32: the same bits as precision "f32" given explicitly.
TEST(LstmBf16AttrTest, DefaultIsF32) {
  const LstmInputs in = MakeInputs(4, 5, 6, 7, 13);
  Options o;
  o.direction = "bidirectional_sum";
  o.masked = true;
  const OpTestCase test = MakeCase(in, o);
  auto a = RunOp(BuiltinRegistry(), test);
  auto b = RunOp(BuiltinRegistry(), WithPrecision(test, "f32"));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(std::equal((*a)[0].f32(), (*a)[0].f32() + (*a)[0].num_elements(),
                         (*b)[0].f32()));
}

TEST(LstmBf16AttrTest, UnknownPrecisionIsAnError) {
  const LstmInputs in = MakeInputs(2, 3, 4, 3);
  ExpectError(
      WithPrecision(MakeCase(in, Options()), "fp16"),
      "attribute 'precision' must be \"f32\" or \"bf16\", got \"fp16\"");
}

}  // namespace
}  // namespace loom::testing
