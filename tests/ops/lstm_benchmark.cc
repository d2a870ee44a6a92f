// LSTM training-step benchmarks: the Loom op (forward + backward through
// the executor) against the bare oneDNN primitives it builds on.
//
//   BM_LoomBiLstm:      pipeline 2's layer (T=100, N=128, C=64, H=32,
//                       bidirectional_concat, return_sequences, dropout 0.2,
//                       pre-padded mask), fused kernel.
//   BM_LoomBiLstmBf16:  the same with precision "bf16".
//   BM_OneDnnBiLstm:    the same shape on one bidirectional_concat
//                       lstm_forward (training) + lstm_backward, with the
//                       weight reorders a training step needs; no masking,
//                       no dropout, no copies in or out.
//   BM_LoomLstmStepwise: pipeline 1's layer (T=200, N=64, C=128, H=64,
//                       forward, last state, dropout 0.2,
//                       recurrent_dropout 0.2): the stepwise kernel.
//   BM_LoomLstmFused:   the same without recurrent dropout: the fused kernel.
//   BM_OneDnnLstmForward: the bare forward primitive, f32 and bf16,
//                       inference and training, at pipeline 2 and
//                       bilstm_full shapes, labeled with the implementation.
//
// Run: bazel run -c opt //tests/ops:lstm_benchmark --
//        --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//
// Denormals are flushed to zero, as in the jobs. With KEEP_DENORMALS=1 in
// the environment they are not: the random inputs here make the gradient
// shrink into the denormal range over pipeline 1's 200 steps, and its
// cases run about 10x slower (the 431-449 ms per step issue 14 saw,
// against about 40 ms flushed).
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "framework/denormals.h"
#include "framework/executor.h"
#include "framework/graph.h"
#include "framework/registry.h"
#include "framework/status_macros.h"
#include "oneapi/dnnl/dnnl.hpp"
#include "ops/op_library.h"

namespace loom {
namespace {

struct LayerSetup {
  int64_t n, t, c, h;
  std::string direction;
  bool return_sequences;
  bool masked;
  float dropout;
  float recurrent_dropout;
  bool bf16 = false;  // precision "bf16"
};

void FillUniform(Tensor* t, std::mt19937_64& rng, float bound) {
  std::uniform_real_distribution<float> dist(-bound, bound);
  for (float& v : t->flat()) v = dist(rng);
}

// Pre-padded masks with IMDb-like lengths at max_len 100: most reviews are
// longer than the cut, about 15% are shorter (10 to 99 tokens).
Tensor PrePaddedMask(int64_t n, int64_t t, std::mt19937_64& rng) {
  Tensor mask(DType::kFloat32, {n, t});
  std::uniform_real_distribution<double> u(0, 1);
  for (int64_t r = 0; r < n; ++r) {
    const int64_t len =
        u(rng) < 0.15 ? 10 + static_cast<int64_t>(u(rng) * (t - 10)) : t;
    for (int64_t s = 0; s < t; ++s) {
      mask.f32()[r * t + s] = s >= t - len ? 1.0f : 0.0f;
    }
  }
  return mask;
}

// A one-node graph: x and the weights are parameters (so dx is computed,
// as it is when x comes from an Embedding), the mask a graph input. Built
// once; Step() is one training step's forward and backward.
class LoomLayer {
 public:
  static absl::StatusOr<std::unique_ptr<LoomLayer>> Create(
      const LayerSetup& s) {
    static const OpRegistry* registry = [] {
      auto* r = new OpRegistry();
      if (!RegisterBuiltinOps(r).ok()) return static_cast<OpRegistry*>(nullptr);
      return r;
    }();
    if (registry == nullptr) {
      return absl::InternalError("built-in ops failed to register");
    }
    const bool bidirectional = s.direction != "forward";
    GraphDef def;
    auto add_parameter = [&](const std::string& name, const Shape& shape) {
      ParameterDef* p = def.add_parameter();
      p->set_name(name);
      for (int64_t d : shape) p->mutable_shape()->add_dim(d);
    };
    add_parameter("x", {s.n, s.t, s.c});
    std::vector<std::string> inputs = {"x"};
    for (int k = 0; k < (bidirectional ? 2 : 1); ++k) {
      const std::string prefix = k == 0 ? "" : "backward_";
      add_parameter(prefix + "kernel", {s.c, 4 * s.h});
      add_parameter(prefix + "recurrent_kernel", {s.h, 4 * s.h});
      add_parameter(prefix + "bias", {4 * s.h});
      if (k == 0) {
        inputs.insert(inputs.end(), {"kernel", "recurrent_kernel", "bias",
                                     s.masked ? "mask" : ""});
      } else {
        inputs.insert(
            inputs.end(),
            {"backward_kernel", "backward_recurrent_kernel", "backward_bias"});
      }
    }
    if (!bidirectional && !s.masked) inputs.pop_back();
    if (s.masked) {
      InputDef* in = def.add_input();
      in->set_name("mask");
      in->set_dtype(DT_FLOAT);
      in->mutable_shape()->add_dim(s.n);
      in->mutable_shape()->add_dim(s.t);
    }
    NodeDef* node = def.add_node();
    node->set_name("lstm");
    node->set_op("LSTM");
    for (const std::string& in : inputs) node->add_input(in);
    auto& attrs = *node->mutable_attr();
    attrs["units"].set_i(s.h);
    attrs["direction"].set_s(s.direction);
    attrs["return_sequences"].set_b(s.return_sequences);
    attrs["dropout"].set_f(s.dropout);
    attrs["recurrent_dropout"].set_f(s.recurrent_dropout);
    if (s.bf16) attrs["precision"].set_s("bf16");

    LOOM_ASSIGN_OR_RETURN(std::unique_ptr<Graph> graph,
                          Graph::Build(def, *registry));
    auto layer = std::unique_ptr<LoomLayer>(new LoomLayer());
    LOOM_ASSIGN_OR_RETURN(
        layer->executor_,
        Executor::Create(std::shared_ptr<const Graph>(std::move(graph)),
                         /*seed=*/1));
    std::mt19937_64 rng(42);
    for (Parameter& p : layer->executor_->parameters()) {
      FillUniform(&p.value, rng, p.name == "x" ? 1.0f : 0.2f);
    }
    if (s.masked) layer->feeds_["mask"] = PrePaddedMask(s.n, s.t, rng);
    const int64_t width = s.direction == "bidirectional_concat" ? 2 * s.h : s.h;
    layer->dy_ =
        Tensor(DType::kFloat32,
               s.return_sequences ? Shape{s.n, s.t, width} : Shape{s.n, width});
    FillUniform(&layer->dy_, rng, 1.0f);
    return layer;
  }

  absl::Status Step() {
    LOOM_RETURN_IF_ERROR(executor_->Run(feeds_, fetches_, /*training=*/true));
    return executor_->Backward("lstm", &dy_);
  }

 private:
  LoomLayer() = default;

  std::unique_ptr<Executor> executor_;
  FeedMap feeds_;
  std::vector<std::string> fetches_ = {"lstm"};
  Tensor dy_;
};

void RunLoom(benchmark::State& state, const LayerSetup& setup) {
  auto layer = LoomLayer::Create(setup);
  if (!layer.ok()) {
    state.SkipWithError(std::string(layer.status().message()).c_str());
    return;
  }
  for (auto _ : state) {
    if (absl::Status s = (*layer)->Step(); !s.ok()) {
      state.SkipWithError(std::string(s.message()).c_str());
      return;
    }
  }
}

const LayerSetup kPipeline2 = {128,
                               100,
                               64,
                               32,
                               "bidirectional_concat",
                               /*return_sequences=*/true,
                               /*masked=*/true,
                               /*dropout=*/0.2f,
                               /*recurrent_dropout=*/0.0f};

void BM_LoomBiLstm(benchmark::State& state) { RunLoom(state, kPipeline2); }

void BM_LoomBiLstmBf16(benchmark::State& state) {
  LayerSetup setup = kPipeline2;
  setup.bf16 = true;
  RunLoom(state, setup);
}

void BM_LoomLstmStepwise(benchmark::State& state) {
  RunLoom(state, {64, 200, 128, 64, "forward", false, false, 0.2f, 0.2f});
}

void BM_LoomLstmFused(benchmark::State& state) {
  RunLoom(state, {64, 200, 128, 64, "forward", false, false, 0.2f, 0.0f});
}

// The bare primitives: what a hand-written oneDNN training step costs.
void BM_OneDnnBiLstm(benchmark::State& state) {
  using dnnl::memory;
  using Tag = memory::format_tag;
  const auto f32 = memory::data_type::f32;
  const LayerSetup& s = kPipeline2;
  const int64_t t = s.t, n = s.n, c = s.c, h = s.h;
  try {
    dnnl::engine engine(dnnl::engine::kind::cpu, 0);
    dnnl::stream stream(engine);
    const auto dir = dnnl::rnn_direction::bidirectional_concat;
    const memory::desc src({t, n, c}, f32, Tag::tnc);
    const memory::desc dst({t, n, 2 * h}, f32, Tag::tnc);
    const memory::desc any_layer({1, 2, c, 4, h}, f32, Tag::any);
    const memory::desc any_iter({1, 2, h, 4, h}, f32, Tag::any);
    const memory::desc user_layer({1, 2, c, 4, h}, f32, Tag::ldigo);
    const memory::desc user_iter({1, 2, h, 4, h}, f32, Tag::ldigo);
    const memory::desc bias({1, 2, 4, h}, f32, Tag::ldgo);
    // Explicit zero initial states, as the op passes them.
    const memory::desc state_md({1, 2, n, h}, f32, Tag::ldnc);
    const memory::desc none;
    dnnl::lstm_forward::primitive_desc fwd_pd(
        dnnl::lstm_forward::desc(dnnl::prop_kind::forward_training, dir, src,
                                 state_md, state_md, any_layer, any_iter, bias,
                                 dst, none, none),
        engine);
    dnnl::lstm_backward::primitive_desc bwd_pd(
        dnnl::lstm_backward::desc(dnnl::prop_kind::backward, dir, src, state_md,
                                  state_md, any_layer, any_iter, bias, dst,
                                  none, none, src, state_md, state_md,
                                  any_layer, any_iter, bias, dst, none, none),
        engine, fwd_pd);
    dnnl::lstm_forward forward(fwd_pd);
    dnnl::lstm_backward backward(bwd_pd);
    auto reorder = [&](const memory::desc& a, const memory::desc& b) {
      return dnnl::reorder(dnnl::reorder::primitive_desc(engine, a, engine, b));
    };
    auto to_fwd_layer = reorder(user_layer, fwd_pd.weights_layer_desc());
    auto to_fwd_iter = reorder(user_iter, fwd_pd.weights_iter_desc());
    auto to_bwd_layer = reorder(user_layer, bwd_pd.weights_layer_desc());
    auto to_bwd_iter = reorder(user_iter, bwd_pd.weights_iter_desc());
    auto from_diff_layer =
        reorder(bwd_pd.diff_weights_layer_desc(), user_layer);
    auto from_diff_iter = reorder(bwd_pd.diff_weights_iter_desc(), user_iter);

    auto make = [&](const memory::desc& md, float bound) {
      memory m(md, engine);
      std::mt19937_64 rng(7);
      std::uniform_real_distribution<float> dist(-bound, bound);
      float* p = static_cast<float*>(m.get_data_handle());
      for (size_t i = 0; i < md.get_size() / sizeof(float); ++i) {
        p[i] = bound == 0 ? 0.0f : dist(rng);
      }
      return m;
    };
    memory x = make(src, 1.0f), y = make(dst, 0), dy = make(dst, 1.0f);
    memory dx = make(src, 0), zero_state = make(state_md, 0);
    memory diff_state_h = make(state_md, 0), diff_state_c = make(state_md, 0);
    memory w = make(user_layer, 0.2f), u = make(user_iter, 0.2f);
    memory b = make(bias, 0.2f);
    memory dw = make(user_layer, 0), du = make(user_iter, 0),
           db = make(bias, 0);
    memory fw = make(fwd_pd.weights_layer_desc(), 0);
    memory fu = make(fwd_pd.weights_iter_desc(), 0);
    memory bw = make(bwd_pd.weights_layer_desc(), 0);
    memory bu = make(bwd_pd.weights_iter_desc(), 0);
    memory pdw = make(bwd_pd.diff_weights_layer_desc(), 0);
    memory pdu = make(bwd_pd.diff_weights_iter_desc(), 0);
    memory workspace = make(fwd_pd.workspace_desc(), 0);
    for (auto _ : state) {
      to_fwd_layer.execute(stream, {{DNNL_ARG_FROM, w}, {DNNL_ARG_TO, fw}});
      to_fwd_iter.execute(stream, {{DNNL_ARG_FROM, u}, {DNNL_ARG_TO, fu}});
      forward.execute(stream, {{DNNL_ARG_SRC_LAYER, x},
                               {DNNL_ARG_SRC_ITER, zero_state},
                               {DNNL_ARG_SRC_ITER_C, zero_state},
                               {DNNL_ARG_WEIGHTS_LAYER, fw},
                               {DNNL_ARG_WEIGHTS_ITER, fu},
                               {DNNL_ARG_BIAS, b},
                               {DNNL_ARG_DST_LAYER, y},
                               {DNNL_ARG_WORKSPACE, workspace}});
      to_bwd_layer.execute(stream, {{DNNL_ARG_FROM, w}, {DNNL_ARG_TO, bw}});
      to_bwd_iter.execute(stream, {{DNNL_ARG_FROM, u}, {DNNL_ARG_TO, bu}});
      for (memory* m : {&pdw, &pdu, &db}) {
        std::memset(m->get_data_handle(), 0, m->get_desc().get_size());
      }
      backward.execute(stream, {{DNNL_ARG_SRC_LAYER, x},
                                {DNNL_ARG_SRC_ITER, zero_state},
                                {DNNL_ARG_SRC_ITER_C, zero_state},
                                {DNNL_ARG_WEIGHTS_LAYER, bw},
                                {DNNL_ARG_WEIGHTS_ITER, bu},
                                {DNNL_ARG_BIAS, b},
                                {DNNL_ARG_DST_LAYER, y},
                                {DNNL_ARG_WORKSPACE, workspace},
                                {DNNL_ARG_DIFF_SRC_LAYER, dx},
                                {DNNL_ARG_DIFF_SRC_ITER, diff_state_h},
                                {DNNL_ARG_DIFF_SRC_ITER_C, diff_state_c},
                                {DNNL_ARG_DIFF_DST_LAYER, dy},
                                {DNNL_ARG_DIFF_WEIGHTS_LAYER, pdw},
                                {DNNL_ARG_DIFF_WEIGHTS_ITER, pdu},
                                {DNNL_ARG_DIFF_BIAS, db}});
      from_diff_layer.execute(stream,
                              {{DNNL_ARG_FROM, pdw}, {DNNL_ARG_TO, dw}});
      from_diff_iter.execute(stream, {{DNNL_ARG_FROM, pdu}, {DNNL_ARG_TO, du}});
      stream.wait();
    }
  } catch (const dnnl::error& e) {
    state.SkipWithError(e.what());
  }
}

// The bare forward primitive alone, at pipeline 2's shape (arg 0) or
// bilstm_full's (T 500, N 128, C 128, H 64; arg 1), bidirectional_concat,
// in f32 (arg 0) or bf16 (arg 1), for inference (arg 0) or training (arg
// 1). The label is the implementation oneDNN picked: in oneDNN 2.6 f32
// gets "brgemm" for inference but the gemm-based "ref" driver for
// training, which no layout or fpmath attribute changes; bf16 gets
// "brgemm" for both where the CPU has AVX512_BF16.
void BM_OneDnnLstmForward(benchmark::State& state) {
  using dnnl::memory;
  using Tag = memory::format_tag;
  const bool full = state.range(0) == 1;
  const int64_t t = full ? 500 : 100, n = 128, c = full ? 128 : 64,
                h = full ? 64 : 32;
  const auto dt =
      state.range(1) == 1 ? memory::data_type::bf16 : memory::data_type::f32;
  const auto kind = state.range(2) == 1 ? dnnl::prop_kind::forward_training
                                        : dnnl::prop_kind::forward_inference;
  try {
    dnnl::engine engine(dnnl::engine::kind::cpu, 0);
    dnnl::stream stream(engine);
    const memory::desc src({t, n, c}, dt, Tag::tnc);
    const memory::desc dst({t, n, 2 * h}, dt, Tag::tnc);
    const memory::desc layer({1, 2, c, 4, h}, dt, Tag::any);
    const memory::desc iter({1, 2, h, 4, h}, dt, Tag::any);
    const memory::desc bias({1, 2, 4, h}, memory::data_type::f32, Tag::ldgo);
    const memory::desc none;
    dnnl::lstm_forward::primitive_desc pd(
        dnnl::lstm_forward::desc(
            kind, dnnl::rnn_direction::bidirectional_concat, src, none, none,
            layer, iter, bias, dst, none, none),
        engine);
    auto make = [&](const memory::desc& md) {
      memory m(md, engine);
      std::memset(m.get_data_handle(), 0, md.get_size());
      return m;
    };
    std::unordered_map<int, memory> args = {
        {DNNL_ARG_SRC_LAYER, make(src)},
        {DNNL_ARG_WEIGHTS_LAYER, make(pd.weights_layer_desc())},
        {DNNL_ARG_WEIGHTS_ITER, make(pd.weights_iter_desc())},
        {DNNL_ARG_BIAS, make(bias)},
        {DNNL_ARG_DST_LAYER, make(dst)}};
    if (kind == dnnl::prop_kind::forward_training) {
      args[DNNL_ARG_WORKSPACE] = make(pd.workspace_desc());
    }
    dnnl::lstm_forward forward(pd);
    state.SetLabel(pd.impl_info_str());
    for (auto _ : state) {
      forward.execute(stream, args);
      stream.wait();
    }
  } catch (const dnnl::error& e) {
    state.SkipWithError(e.what());
  }
}

BENCHMARK(BM_LoomBiLstm)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_LoomBiLstmBf16)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_OneDnnBiLstm)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_LoomLstmStepwise)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_LoomLstmFused)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_OneDnnLstmForward)
    ->ArgsProduct({{0, 1}, {0, 1}, {0, 1}})
    ->ArgNames({"full", "bf16", "training"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace loom

int main(int argc, char** argv) {
  // As the jobs run kernels (framework/denormals.h); KEEP_DENORMALS=1
  // measures without it.
  if (std::getenv("KEEP_DENORMALS") == nullptr) {
    loom::FlushDenormalsInKernelThreads();
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
