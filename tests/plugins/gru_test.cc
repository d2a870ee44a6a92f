// The GRU plugin (plugins/gru): loaded from its shared object, checked
// against a plain-loop Keras GRU (reset_after=True) and finite differences.
#include <array>
#include <cmath>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "framework/plugin.h"
#include "framework/registry.h"
#include "framework/status_macros.h"
#include "framework/testing/op_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loom::testing {
namespace {

using ::testing::HasSubstr;

const char kPluginPath[] = "plugins/gru/libloom_gru.so";

float Sigmoid(float v) { return 1.0f / (1.0f + std::exp(-v)); }

// One direction's parameters, in Keras' layouts.
struct GruParams {
  Tensor kernel;     // [C, 3H], gates z, r, h
  Tensor recurrent;  // [H, 3H]
  Tensor bias;       // [2, 3H]: input bias, recurrent bias
};

GruParams RandomParams(int64_t c, int64_t h, uint64_t seed) {
  return {RandomTensor({c, 3 * h}, seed, -0.8f, 0.8f),
          RandomTensor({h, 3 * h}, seed + 1, -0.8f, 0.8f),
          RandomTensor({2, 3 * h}, seed + 2, -0.5f, 0.5f)};
}

// Keras' GRU (reset_after=True) over x [N, T, C], in time order or
// reversed. seq [N, T, H] receives each valid step's state (zeros at masked
// steps) and last [N, H] the state after the last processed valid step.
void ReferenceDirection(const Tensor& x, const Tensor* mask, const GruParams& p,
                        int64_t h, bool reverse, std::vector<float>* seq,
                        std::vector<float>* last) {
  const int64_t n_rows = x.dim(0), steps = x.dim(1), c = x.dim(2);
  seq->assign(n_rows * steps * h, 0.0f);
  last->assign(n_rows * h, 0.0f);
  const float* w = p.kernel.f32();
  const float* u = p.recurrent.f32();
  const float* b_in = p.bias.f32();
  const float* b_rec = p.bias.f32() + 3 * h;
  for (int64_t n = 0; n < n_rows; ++n) {
    std::vector<float> state(h, 0.0f);
    for (int64_t s = 0; s < steps; ++s) {
      const int64_t t = reverse ? steps - 1 - s : s;
      if (mask != nullptr && mask->f32()[n * steps + t] == 0.0f) continue;
      const float* xt = x.f32() + (n * steps + t) * c;
      std::vector<float> xw(3 * h), hu(3 * h);
      for (int64_t g = 0; g < 3 * h; ++g) {
        xw[g] = b_in[g];
        for (int64_t i = 0; i < c; ++i) xw[g] += xt[i] * w[i * 3 * h + g];
        hu[g] = b_rec[g];
        for (int64_t i = 0; i < h; ++i) hu[g] += state[i] * u[i * 3 * h + g];
      }
      std::vector<float> next(h);
      for (int64_t j = 0; j < h; ++j) {
        const float z = Sigmoid(xw[j] + hu[j]);
        const float r = Sigmoid(xw[h + j] + hu[h + j]);
        const float hh = std::tanh(xw[2 * h + j] + r * hu[2 * h + j]);
        next[j] = z * state[j] + (1.0f - z) * hh;
      }
      state = next;
      for (int64_t j = 0; j < h; ++j) {
        (*seq)[(n * steps + t) * h + j] = state[j];
      }
    }
    for (int64_t j = 0; j < h; ++j) (*last)[n * h + j] = state[j];
  }
}

// The whole layer: [N, T, D*H] or [N, D*H].
Tensor ReferenceGru(const Tensor& x, const Tensor* mask,
                    const std::vector<GruParams>& params, int64_t h,
                    const std::string& direction, bool return_sequences) {
  const int64_t n_rows = x.dim(0), steps = x.dim(1);
  const bool concat = direction == "bidirectional_concat";
  const int64_t width = concat ? 2 * h : h;
  Tensor y(DType::kFloat32, return_sequences ? Shape{n_rows, steps, width}
                                             : Shape{n_rows, width});
  for (size_t k = 0; k < params.size(); ++k) {
    std::vector<float> seq, last;
    ReferenceDirection(x, mask, params[k], h, k == 1, &seq, &last);
    const std::vector<float>& src = return_sequences ? seq : last;
    const int64_t rows = return_sequences ? n_rows * steps : n_rows;
    const int64_t off = concat ? k * h : 0;
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t j = 0; j < h; ++j) {
        y.f32()[r * width + off + j] += src[r * h + j];
      }
    }
  }
  return y;
}

enum class MaskKind { kNone, kPadded, kHoles };

const char* MaskName(MaskKind kind) {
  switch (kind) {
    case MaskKind::kNone:
      return "none";
    case MaskKind::kPadded:
      return "padded";
    case MaskKind::kHoles:
      return "holes";
  }
  return "?";
}

// kPadded: rows alternate post- and pre-padding with different lengths,
// including an empty row when there are three or more. kHoles: valid steps
// that are not contiguous.
Tensor MakeMask(MaskKind kind, int64_t n_rows, int64_t steps) {
  Tensor mask(DType::kFloat32, {n_rows, steps});
  for (int64_t n = 0; n < n_rows; ++n) {
    for (int64_t t = 0; t < steps; ++t) {
      bool valid = true;
      if (kind == MaskKind::kPadded) {
        const int64_t len = n == 2 ? 0 : steps - (n % steps);
        valid = n % 2 == 0 ? t < len : t >= steps - len;
      } else if (kind == MaskKind::kHoles) {
        valid = (t + n) % 3 != 1;
      }
      mask.f32()[n * steps + t] = valid ? 1.0f : 0.0f;
    }
  }
  return mask;
}

struct GruCase {
  int64_t n, t, c, h;
  std::string direction;
  bool return_sequences;
  MaskKind mask;
};

std::string CaseName(const GruCase& g) {
  return absl::StrCat("N=", g.n, " T=", g.t, " C=", g.c, " H=", g.h, " ",
                      g.direction, g.return_sequences ? " sequences" : " last",
                      " mask=", MaskName(g.mask));
}

// The op's test case, and the parameters it uses.
OpTestCase MakeCase(const GruCase& g, uint64_t seed,
                    std::vector<GruParams>* params, Tensor* x,
                    std::optional<Tensor>* mask) {
  *x = RandomTensor({g.n, g.t, g.c}, seed);
  params->clear();
  params->push_back(RandomParams(g.c, g.h, seed + 10));
  const bool bidirectional = g.direction != "forward";
  if (bidirectional) params->push_back(RandomParams(g.c, g.h, seed + 20));
  mask->reset();
  if (g.mask != MaskKind::kNone) *mask = MakeMask(g.mask, g.n, g.t);
  OpTestCase test;
  test.op = "GRU";
  test.attrs = {{"units", IntValue(g.h)},
                {"direction", StringValue(g.direction)},
                {"return_sequences", BoolValue(g.return_sequences)}};
  test.inputs = {*x, (*params)[0].kernel, (*params)[0].recurrent,
                 (*params)[0].bias, *mask};
  if (bidirectional) {
    test.inputs.push_back((*params)[1].kernel);
    test.inputs.push_back((*params)[1].recurrent);
    test.inputs.push_back((*params)[1].bias);
  }
  // Everything but the mask.
  test.differentiable = {true, true, true, true, false, true, true, true};
  return test;
}

class GruTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    registry_ = new OpRegistry();
    load_status_ = new absl::Status(LoadPlugin(kPluginPath, registry_));
  }
  void SetUp() override { ASSERT_TRUE(load_status_->ok()) << *load_status_; }

  const OpRegistry& registry() const { return *registry_; }

  static OpRegistry* registry_;
  static absl::Status* load_status_;
};

OpRegistry* GruTest::registry_ = nullptr;
absl::Status* GruTest::load_status_ = nullptr;

void ExpectNear(const Tensor& got, const Tensor& want, float tol) {
  ASSERT_EQ(got.shape(), want.shape());
  for (int64_t i = 0; i < want.num_elements(); ++i) {
    ASSERT_NEAR(got.f32()[i], want.f32()[i], tol) << "element " << i;
  }
}

TEST_F(GruTest, RegistersFromThePlugin) {
  const OpDef* gru = registry().Find("GRU");
  ASSERT_NE(gru, nullptr);
  EXPECT_EQ(gru->source, kPluginPath);
  EXPECT_EQ(gru->signature.inputs.size(), 8u);
}

// A hand-computed case, independent of the reference above: C = H = 1, two
// steps. It pins the gate order (z, r, h), that z multiplies h_{t-1}, and
// where the recurrent candidate bias b'_h goes (inside r * (...)).
TEST_F(GruTest, HandComputedSteps) {
  // kernel [1, 3]: z gets 1*x, r gets 0, h gets 1*x.
  // bias row 0 zeros; row 1 (recurrent): b'_z = 0, b'_r = 0, b'_h = 1.
  OpTestCase test;
  test.op = "GRU";
  test.attrs = {{"units", IntValue(1)}, {"return_sequences", BoolValue(true)}};
  test.inputs = {
      Tensor::FromVector({1, 2, 1}, std::vector<float>{1, 0}),
      Tensor::FromVector({1, 3}, std::vector<float>{1, 0, 1}),
      Tensor::FromVector({1, 3}, std::vector<float>{0, 0, 0}),
      Tensor::FromVector({2, 3}, std::vector<float>{0, 0, 0, 0, 0, 1})};
  auto out = RunOp(registry(), test);
  ASSERT_TRUE(out.ok()) << out.status();
  // Step 1 (h0 = 0, x = 1): z = sigmoid(1), r = sigmoid(0) = 0.5,
  // hh = tanh(1 + 0.5 * (0 + 1)), h1 = (1 - z) * hh.
  const double z1 = 1 / (1 + std::exp(-1.0));
  const double h1 = (1 - z1) * std::tanh(1.5);
  // Step 2 (x = 0): z = r = 0.5, hh = tanh(0.5 * (0 * h1 + 1)),
  // h2 = 0.5 * h1 + 0.5 * hh.
  const double h2 = 0.5 * h1 + 0.5 * std::tanh(0.5);
  const Tensor& y = (*out)[0];
  ASSERT_EQ(y.shape(), (Shape{1, 2, 1}));
  EXPECT_NEAR(y.f32()[0], h1, 1e-5);
  EXPECT_NEAR(y.f32()[1], h2, 1e-5);
}

TEST_F(GruTest, ForwardMatchesKerasReference) {
  const std::vector<std::array<int64_t, 4>> shapes = {
      {2, 5, 3, 4}, {4, 7, 5, 9}, {1, 1, 2, 3}, {3, 6, 16, 8}};
  uint64_t seed = 100;
  int cases = 0;
  for (const auto& [n, t, c, h] : shapes) {
    for (const char* direction :
         {"forward", "bidirectional_concat", "bidirectional_sum"}) {
      for (bool return_sequences : {false, true}) {
        for (MaskKind mask :
             {MaskKind::kNone, MaskKind::kPadded, MaskKind::kHoles}) {
          const GruCase g{n, t, c, h, direction, return_sequences, mask};
          SCOPED_TRACE(CaseName(g));
          std::vector<GruParams> params;
          Tensor x;
          std::optional<Tensor> m;
          OpTestCase test = MakeCase(g, seed += 7, &params, &x, &m);
          auto out = RunOp(registry(), test);
          ASSERT_TRUE(out.ok()) << out.status();
          const Tensor want =
              ReferenceGru(x, m.has_value() ? &*m : nullptr, params, h,
                           direction, return_sequences);
          ExpectNear((*out)[0], want, 2e-5f);
          ++cases;
        }
      }
    }
  }
  EXPECT_EQ(cases, 4 * 3 * 2 * 3);
}

// Masked steps output zeros and leave the state alone; a row without valid
// steps outputs zeros everywhere.
TEST_F(GruTest, MaskedStepsOutputZerosAndKeepState) {
  const GruCase g{3, 5, 2, 3, "forward", true, MaskKind::kPadded};
  std::vector<GruParams> params;
  Tensor x;
  std::optional<Tensor> m;
  OpTestCase test = MakeCase(g, 5, &params, &x, &m);
  auto out = RunOp(registry(), test);
  ASSERT_TRUE(out.ok()) << out.status();
  const Tensor& y = (*out)[0];
  for (int64_t n = 0; n < g.n; ++n) {
    for (int64_t t = 0; t < g.t; ++t) {
      const bool valid = m->f32()[n * g.t + t] != 0;
      for (int64_t j = 0; j < g.h; ++j) {
        const float v = y.f32()[(n * g.t + t) * g.h + j];
        EXPECT_EQ(v != 0.0f, valid) << n << "," << t << ": " << v;
      }
    }
  }
  // Changing x at a masked step changes nothing.
  Tensor x2 = x.Clone();
  for (int64_t t = 0; t < g.t; ++t) {
    if (m->f32()[1 * g.t + t] == 0) {
      for (int64_t i = 0; i < g.c; ++i) x2.f32()[(g.t + t) * g.c + i] += 5;
    }
  }
  test.inputs[0] = x2;
  auto out2 = RunOp(registry(), test);
  ASSERT_TRUE(out2.ok()) << out2.status();
  ExpectNear((*out2)[0], y, 0.0f);
}

TEST_F(GruTest, GradientsMatchFiniteDifferences) {
  uint64_t seed = 500;
  for (const char* direction :
       {"forward", "bidirectional_concat", "bidirectional_sum"}) {
    for (bool return_sequences : {false, true}) {
      for (MaskKind mask :
           {MaskKind::kNone, MaskKind::kPadded, MaskKind::kHoles}) {
        const GruCase g{3, 4, 3, 3, direction, return_sequences, mask};
        SCOPED_TRACE(CaseName(g));
        std::vector<GruParams> params;
        Tensor x;
        std::optional<Tensor> m;
        OpTestCase test = MakeCase(g, seed += 13, &params, &x, &m);
        auto report = CheckGradients(registry(), test);
        ASSERT_TRUE(report.ok()) << report.status();
        EXPECT_TRUE(report->ok) << report->worst;
        // x, three parameters per direction.
        const int inputs = direction == std::string("forward") ? 4 : 7;
        EXPECT_GT(report->checked, inputs * 9);
      }
    }
  }
}

// Backward right after a training forward uses that forward's workspace
// (an inference forward makes the kernel run a training one first).
TEST_F(GruTest, GradientsAfterTrainingForward) {
  const GruCase g{2, 5, 4, 5, "bidirectional_concat", true, MaskKind::kPadded};
  std::vector<GruParams> params;
  Tensor x;
  std::optional<Tensor> m;
  OpTestCase test = MakeCase(g, 77, &params, &x, &m);
  test.training = true;
  auto report = CheckGradients(registry(), test);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok) << report->worst;
}

// Gradients of single inputs, the others fed as constants: the kernel
// skips the gradients it is not asked for.
TEST_F(GruTest, GradientOfOneInputAtATime) {
  const GruCase g{2, 4, 3, 3, "bidirectional_concat", false, MaskKind::kHoles};
  for (int wanted : {0, 1, 2, 3, 5, 6, 7}) {
    SCOPED_TRACE(absl::StrCat("input ", wanted));
    std::vector<GruParams> params;
    Tensor x;
    std::optional<Tensor> m;
    OpTestCase test = MakeCase(g, 61, &params, &x, &m);
    test.differentiable.assign(8, false);
    test.differentiable[wanted] = true;
    auto report = CheckGradients(registry(), test);
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_TRUE(report->ok) << report->worst;
    EXPECT_GT(report->checked, 0);
  }
}

// Gradients are exact zeros where no output depends on the value: x at
// masked steps.
TEST_F(GruTest, NoGradientAtMaskedSteps) {
  const GruCase g{3, 5, 2, 3, "bidirectional_sum", true, MaskKind::kHoles};
  std::vector<GruParams> params;
  Tensor x;
  std::optional<Tensor> m;
  OpTestCase test = MakeCase(g, 9, &params, &x, &m);
  auto out = RunOp(registry(), test);
  ASSERT_TRUE(out.ok()) << out.status();
  std::vector<Tensor> weights = {RandomTensor((*out)[0].shape(), 3)};
  auto grads = ComputeGradients(registry(), test, weights);
  ASSERT_TRUE(grads.ok()) << grads.status();
  const Tensor& dx = (*grads)[0];
  ASSERT_EQ(dx.shape(), x.shape());
  for (int64_t n = 0; n < g.n; ++n) {
    for (int64_t t = 0; t < g.t; ++t) {
      const bool valid = m->f32()[n * g.t + t] != 0;
      for (int64_t i = 0; i < g.c; ++i) {
        const float v = dx.f32()[(n * g.t + t) * g.c + i];
        EXPECT_EQ(v != 0.0f, valid) << n << "," << t << ": " << v;
      }
    }
  }
}

// Changing the batch size between runs of one kernel builds new primitives.
TEST_F(GruTest, ShapeChangesBetweenRuns) {
  for (const GruCase& g :
       {GruCase{2, 3, 2, 4, "forward", false, MaskKind::kNone},
        GruCase{5, 6, 2, 4, "forward", false, MaskKind::kHoles}}) {
    SCOPED_TRACE(CaseName(g));
    std::vector<GruParams> params;
    Tensor x;
    std::optional<Tensor> m;
    OpTestCase test = MakeCase(g, 31, &params, &x, &m);
    auto out = RunOp(registry(), test);
    ASSERT_TRUE(out.ok()) << out.status();
    ExpectNear((*out)[0],
               ReferenceGru(x, m.has_value() ? &*m : nullptr, params, g.h,
                            g.direction, g.return_sequences),
               2e-5f);
  }
}

absl::Status RunStatus(const OpRegistry& registry, const OpTestCase& test) {
  return RunOp(registry, test).status();
}

TEST_F(GruTest, AttributeAndShapeErrorsAreClear) {
  const GruCase g{2, 3, 2, 4, "forward", false, MaskKind::kNone};
  std::vector<GruParams> params;
  Tensor x;
  std::optional<Tensor> m;
  const OpTestCase base = MakeCase(g, 1, &params, &x, &m);

  OpTestCase test = base;
  test.attrs["units"] = IntValue(0);
  EXPECT_THAT(std::string(RunStatus(registry(), test).message()),
              HasSubstr("attribute 'units' must be positive, got 0"));

  test = base;
  test.attrs["direction"] = StringValue("sideways");
  EXPECT_THAT(std::string(RunStatus(registry(), test).message()),
              HasSubstr("attribute 'direction' must be \"forward\", "
                        "\"bidirectional_concat\" or \"bidirectional_sum\", "
                        "got \"sideways\""));

  test = base;
  test.attrs["direction"] = StringValue("bidirectional_concat");
  EXPECT_THAT(std::string(RunStatus(registry(), test).message()),
              HasSubstr("a bidirectional GRU needs backward_kernel"));

  test = base;
  test.inputs.push_back(params[0].kernel);
  test.inputs.push_back(params[0].recurrent);
  test.inputs.push_back(params[0].bias);
  EXPECT_THAT(std::string(RunStatus(registry(), test).message()),
              HasSubstr("backward_* parameters are given but direction is "
                        "\"forward\""));

  // Keras' reset_after=False bias is [3H]; this op wants [2, 3H].
  test = base;
  test.inputs[3] = RandomTensor({12}, 3);
  EXPECT_THAT(std::string(RunStatus(registry(), test).message()),
              HasSubstr("bias has shape [12], expected [2, 12]"));

  test = base;
  test.inputs[1] = RandomTensor({3, 12}, 3);
  EXPECT_THAT(std::string(RunStatus(registry(), test).message()),
              HasSubstr("kernel has shape [3, 12], expected [2, 12]"));

  test = base;
  test.inputs[4] = Tensor(DType::kFloat32, {2, 4});
  EXPECT_THAT(std::string(RunStatus(registry(), test).message()),
              HasSubstr("mask has shape [2, 4], expected [2, 3]"));
}

// One kernel instance, as the executor keeps it, through more shapes than it
// keeps primitive sets for and back, training and inference, with and
// without Backward (after an inference forward Backward re-runs a training
// one): its primitive sets share one arena, and every output and gradient
// must equal, exactly, those of a fresh instance at that step.
struct KernelRun {
  Tensor y;
  std::vector<Tensor> grads;
};

// Runs `kernel` (whose engine and stream are `dnnl`, as an executor keeps
// them for all its runs) forward on `test` and, with `backward`, backward.
absl::StatusOr<KernelRun> RunKernel(OpKernel& kernel, DnnlContext& dnnl,
                                    const AttrMap& attrs,
                                    const OpTestCase& test, bool backward) {
  std::mt19937_64 rng(1);
  std::vector<const Tensor*> inputs;
  for (const std::optional<Tensor>& in : test.inputs) {
    inputs.push_back(in.has_value() ? &*in : nullptr);
  }
  KernelRun run;
  Tensor y;
  KernelContext ctx(attrs, &dnnl, inputs, {&y}, test.training, &rng);
  LOOM_RETURN_IF_ERROR(kernel.Forward(ctx));
  run.y = y.Clone();
  if (!backward) return run;
  const Tensor dy = RandomTensor(y.shape(), 5 + y.dim(0), -1.0f, 1.0f);
  std::vector<Tensor> grads(inputs.size());
  std::vector<Tensor*> wanted(inputs.size(), nullptr);
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i] != nullptr && i != 4) wanted[i] = &grads[i];
  }
  GradContext grad_ctx(&ctx, {&dy}, wanted,
                       std::vector<SparseRows*>(inputs.size(), nullptr));
  LOOM_RETURN_IF_ERROR(kernel.Backward(grad_ctx));
  for (Tensor& g : grads) {
    if (g.is_initialized()) run.grads.push_back(g.Clone());
  }
  return run;
}

TEST_F(GruTest, OneKernelThroughManyShapesMatchesFreshKernels) {
  const OpDef* def = registry().Find("GRU");
  ASSERT_NE(def, nullptr);
  struct Step {
    int64_t n;
    bool training, backward;
  };
  // First a small shape, a larger one (the arena grows) and the small one
  // again (its set must point into the new block), then more shapes than
  // the cache holds.
  std::vector<Step> steps = {{3, true, true},  {8, true, true},
                             {3, true, true},  {8, false, false},
                             {3, false, true}, {8, true, true}};
  for (int64_t n : {1, 2, 3, 4, 5, 6, 7, 9}) {
    steps.push_back({n, true, true});
    steps.push_back({n, false, false});
  }
  for (int64_t n : {2, 9, 1, 7, 3, 6, 4, 5}) {
    steps.push_back({n, n % 2 == 0, true});
  }
  for (const char* direction : {"bidirectional_concat", "bidirectional_sum"}) {
    SCOPED_TRACE(direction);
    NodeDef node;
    auto& given = *node.mutable_attr();
    given["units"] = IntValue(4);
    given["direction"] = StringValue(direction);
    given["return_sequences"] = BoolValue(true);
    auto attrs = AttrMap::Resolve(def->signature.attrs, given);
    ASSERT_TRUE(attrs.ok()) << attrs.status();
    auto make = [&]() -> std::unique_ptr<OpKernel> {
      auto kernel =
          def->kernels[0].create(KernelInitContext{"gru", *attrs, {}});
      return kernel.ok() ? *std::move(kernel) : nullptr;
    };
    std::unique_ptr<OpKernel> shared = make();
    ASSERT_NE(shared, nullptr);
    DnnlContext shared_dnnl;
    for (const Step& step : steps) {
      SCOPED_TRACE(absl::StrCat("batch ", step.n,
                                step.training ? " training" : " inference"));
      const GruCase g{step.n, 6, 3, 4, direction, true, MaskKind::kPadded};
      std::vector<GruParams> params;
      Tensor x;
      std::optional<Tensor> m;
      OpTestCase test = MakeCase(g, 40 + step.n, &params, &x, &m);
      test.training = step.training;
      auto got = RunKernel(*shared, shared_dnnl, *attrs, test, step.backward);
      ASSERT_TRUE(got.ok()) << got.status();
      std::unique_ptr<OpKernel> fresh = make();
      ASSERT_NE(fresh, nullptr);
      DnnlContext fresh_dnnl;
      auto want = RunKernel(*fresh, fresh_dnnl, *attrs, test, step.backward);
      ASSERT_TRUE(want.ok()) << want.status();
      ExpectNear(got->y, want->y, 0.0f);
      ExpectNear(got->y, ReferenceGru(x, &*m, params, g.h, g.direction, true),
                 2e-5f);
      ASSERT_EQ(got->grads.size(), want->grads.size());
      for (size_t i = 0; i < got->grads.size(); ++i) {
        ExpectNear(got->grads[i], want->grads[i], 0.0f);
      }
    }
  }
}

}  // namespace
}  // namespace loom::testing
