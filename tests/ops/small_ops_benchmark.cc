// The ops Loom runs on its own loops, against the bare oneDNN primitives
// that could replace them, at the shapes the shipped models give them: a
// training step (forward + backward) each.
//
//   BM_Loom/OneDnnMaxPool:  GlobalMaxPooling1D over pipeline 2's BiLSTM
//                           output [128, 100, 64] (no mask) / pooling_max
//                           (nwc, kernel T) forward_training + backward with
//                           its workspace.
//   BM_Loom/OneDnnAvgPool:  GlobalAveragePooling1D at bilstm_full's
//                           [128, 500, 128] without a mask / pooling_avg.
//                           (bilstm_full pools with a mask, which no oneDNN
//                           primitive takes: BM_LoomAvgPoolMasked.)
//   BM_Loom/OneDnnAdd:      Add of two [128, 100, 64] tensors / binary_add
//                           (the backward of Add is a copy of dy per input,
//                           the same for both).
//   BM_Loom/OneDnnConcat:   Concatenate of two [128, 128] along the last
//                           axis (bilstm_full's pooled halves) / concat
//                           forward; backward: Loom's split against two
//                           reorders from sub-memories.
//
// Run: bazel run -c opt //tests/ops:small_ops_benchmark --
//        --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "benchmark/benchmark.h"
#include "framework/executor.h"
#include "framework/graph.h"
#include "framework/registry.h"
#include "framework/status_macros.h"
#include "oneapi/dnnl/dnnl.hpp"
#include "ops/op_library.h"

namespace loom {
namespace {

using dnnl::memory;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

void FillUniform(Tensor* t, std::mt19937_64& rng) {
  std::uniform_real_distribution<float> dist(-1, 1);
  for (float& v : t->flat()) v = dist(rng);
}

const OpRegistry& Registry() {
  static const OpRegistry* registry = [] {
    auto* r = new OpRegistry();
    if (!RegisterBuiltinOps(r).ok()) std::abort();
    return r;
  }();
  return *registry;
}

// One node of `op` whose inputs are parameters of `shapes` (so every input
// gradient is computed) plus an optional float graph input "mask".
class OneNode {
 public:
  static absl::StatusOr<std::unique_ptr<OneNode>> Create(
      const std::string& op, const std::string& kernel,
      const std::vector<Shape>& shapes, const Shape& out_shape,
      const Shape& mask_shape = {}) {
    GraphDef def;
    NodeDef* node = def.add_node();
    node->set_name("node");
    node->set_op(op);
    (*node->mutable_attr())["_kernel"].set_s(kernel);
    for (size_t i = 0; i < shapes.size(); ++i) {
      ParameterDef* p = def.add_parameter();
      p->set_name("in" + std::to_string(i));
      for (int64_t d : shapes[i]) p->mutable_shape()->add_dim(d);
      node->add_input(p->name());
    }
    if (!mask_shape.empty()) {
      InputDef* in = def.add_input();
      in->set_name("mask");
      in->set_dtype(DT_FLOAT);
      for (int64_t d : mask_shape) in->mutable_shape()->add_dim(d);
      node->add_input("mask");
    }
    LOOM_ASSIGN_OR_RETURN(auto graph, Graph::Build(def, Registry()));
    LOOM_ASSIGN_OR_RETURN(
        auto executor,
        Executor::Create(std::shared_ptr<const Graph>(std::move(graph)), 1));
    auto n = std::unique_ptr<OneNode>(new OneNode());
    n->executor_ = std::move(executor);
    std::mt19937_64 rng(7);
    for (Parameter& p : n->executor_->parameters()) FillUniform(&p.value, rng);
    if (!mask_shape.empty()) {
      // IMDb-like: 15% of the rows pre-padded to a third of their length.
      Tensor mask(DType::kFloat32, mask_shape);
      const int64_t rows = mask_shape[0], t = mask_shape[1];
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t valid = r % 7 == 0 ? t / 3 : t;
        for (int64_t s = 0; s < t; ++s) {
          mask.f32()[r * t + s] = s >= t - valid ? 1.0f : 0.0f;
        }
      }
      n->feeds_["mask"] = mask;
    }
    n->dy_ = Tensor(DType::kFloat32, out_shape);
    FillUniform(&n->dy_, rng);
    return n;
  }

  absl::Status Step() {
    LOOM_RETURN_IF_ERROR(executor_->Run(feeds_, {"node"}, /*training=*/true));
    return executor_->Backward("node", &dy_);
  }

 private:
  OneNode() = default;
  std::unique_ptr<Executor> executor_;
  FeedMap feeds_;
  Tensor dy_;
};

void RunLoom(benchmark::State& state, const std::string& op,
             const std::string& kernel, const std::vector<Shape>& shapes,
             const Shape& out, const Shape& mask = {}) {
  auto node = OneNode::Create(op, kernel, shapes, out, mask);
  if (!node.ok()) {
    state.SkipWithError(std::string(node.status().message()).c_str());
    return;
  }
  for (auto _ : state) {
    if (auto s = (*node)->Step(); !s.ok()) {
      state.SkipWithError(std::string(s.message()).c_str());
      return;
    }
  }
}

struct Dnnl {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
};

memory Filled(const memory::desc& md, const dnnl::engine& e,
              std::mt19937_64& rng) {
  memory m(md, e);
  auto* p = static_cast<float*>(m.get_data_handle());
  std::uniform_real_distribution<float> dist(-1, 1);
  for (size_t i = 0; i < md.get_size() / sizeof(float); ++i) p[i] = dist(rng);
  return m;
}

// Global pooling of [n, t, c] (oneDNN dims {n, c, t}, nwc layout: Loom's
// row-major [N, T, C]) to [n, c].
void RunOneDnnPool(benchmark::State& state, dnnl::algorithm alg, int64_t n,
                   int64_t t, int64_t c) {
  Dnnl d;
  std::mt19937_64 rng(7);
  const memory::desc src({n, c, t}, dt::f32, tag::nwc);
  const memory::desc dst({n, c, 1}, dt::f32, tag::nwc);
  const memory::dims strides = {1}, kernel = {t}, pad = {0};
  dnnl::pooling_forward::primitive_desc fwd(
      dnnl::pooling_forward::desc(dnnl::prop_kind::forward_training, alg, src,
                                  dst, strides, kernel, pad, pad),
      d.engine);
  dnnl::pooling_backward::primitive_desc bwd(
      dnnl::pooling_backward::desc(alg, src, dst, strides, kernel, pad, pad),
      d.engine, fwd);
  dnnl::pooling_forward forward(fwd);
  dnnl::pooling_backward backward(bwd);
  memory x = Filled(src, d.engine, rng), y(dst, d.engine);
  memory dy = Filled(dst, d.engine, rng), dx(src, d.engine);
  const bool max = alg == dnnl::algorithm::pooling_max;
  memory ws = max ? memory(fwd.workspace_desc(), d.engine) : memory();
  for (auto _ : state) {
    std::unordered_map<int, memory> f = {{DNNL_ARG_SRC, x}, {DNNL_ARG_DST, y}};
    std::unordered_map<int, memory> b = {{DNNL_ARG_DIFF_DST, dy},
                                         {DNNL_ARG_DIFF_SRC, dx}};
    if (max) {
      f[DNNL_ARG_WORKSPACE] = ws;
      b[DNNL_ARG_WORKSPACE] = ws;
    }
    forward.execute(d.stream, f);
    backward.execute(d.stream, b);
    d.stream.wait();
  }
}

void RunOneDnnAdd(benchmark::State& state, const memory::dims& dims) {
  Dnnl d;
  std::mt19937_64 rng(7);
  const memory::desc md(dims, dt::f32, tag::abc);
  dnnl::binary::primitive_desc pd(
      dnnl::binary::desc(dnnl::algorithm::binary_add, md, md, md), d.engine);
  dnnl::binary add(pd);
  memory a = Filled(md, d.engine, rng), b = Filled(md, d.engine, rng);
  memory c(md, d.engine), dy = Filled(md, d.engine, rng);
  memory da(md, d.engine), db(md, d.engine);
  dnnl::reorder copy_a(dy, da), copy_b(dy, db);
  for (auto _ : state) {
    add.execute(d.stream,
                {{DNNL_ARG_SRC_0, a}, {DNNL_ARG_SRC_1, b}, {DNNL_ARG_DST, c}});
    // dc/da = dc/db = identity: one copy each, as Loom's kernel does.
    copy_a.execute(d.stream, dy, da);
    copy_b.execute(d.stream, dy, db);
    d.stream.wait();
  }
}

void RunOneDnnConcat(benchmark::State& state, int64_t n, int64_t c) {
  Dnnl d;
  std::mt19937_64 rng(7);
  const memory::desc half({n, c}, dt::f32, tag::ab);
  const memory::desc whole({n, 2 * c}, dt::f32, tag::ab);
  dnnl::concat::primitive_desc pd(whole, 1, {half, half}, d.engine);
  dnnl::concat concat(pd);
  memory a = Filled(half, d.engine, rng), b = Filled(half, d.engine, rng);
  memory y(whole, d.engine), dy = Filled(whole, d.engine, rng);
  memory da(half, d.engine), db(half, d.engine);
  // Backward: each input's gradient is its slice of dy.
  const memory::desc left = whole.submemory_desc({n, c}, {0, 0});
  const memory::desc right = whole.submemory_desc({n, c}, {0, c});
  dnnl::reorder split_a(
      dnnl::reorder::primitive_desc(d.engine, left, d.engine, half)),
      split_b(dnnl::reorder::primitive_desc(d.engine, right, d.engine, half));
  memory dy_left(left, d.engine, dy.get_data_handle());
  memory dy_right(right, d.engine, dy.get_data_handle());
  for (auto _ : state) {
    concat.execute(d.stream, {{DNNL_ARG_MULTIPLE_SRC, a},
                              {DNNL_ARG_MULTIPLE_SRC + 1, b},
                              {DNNL_ARG_DST, y}});
    split_a.execute(d.stream, dy_left, da);
    split_b.execute(d.stream, dy_right, db);
    d.stream.wait();
  }
}

// Loom's op with each of its kernels ("reference" loops, "onednn"), and the
// bare primitives.
void BM_LoomMaxPool(benchmark::State& s) {
  RunLoom(s, "GlobalMaxPooling1D", "reference", {{128, 100, 64}}, {128, 64});
}
void BM_LoomMaxPoolOneDnn(benchmark::State& s) {
  RunLoom(s, "GlobalMaxPooling1D", "onednn", {{128, 100, 64}}, {128, 64});
}
void BM_OneDnnMaxPool(benchmark::State& s) {
  RunOneDnnPool(s, dnnl::algorithm::pooling_max, 128, 100, 64);
}
void BM_LoomAvgPool(benchmark::State& s) {
  RunLoom(s, "GlobalAveragePooling1D", "reference", {{128, 500, 128}},
          {128, 128});
}
void BM_LoomAvgPoolOneDnn(benchmark::State& s) {
  RunLoom(s, "GlobalAveragePooling1D", "onednn", {{128, 500, 128}}, {128, 128});
}
void BM_LoomAvgPoolMasked(benchmark::State& s) {
  RunLoom(s, "GlobalAveragePooling1D", "reference", {{128, 500, 128}},
          {128, 128}, {128, 500});
}
void BM_OneDnnAvgPool(benchmark::State& s) {
  RunOneDnnPool(s, dnnl::algorithm::pooling_avg_exclude_padding, 128, 500, 128);
}
void BM_LoomAdd(benchmark::State& s) {
  RunLoom(s, "Add", "reference", {{128, 100, 64}, {128, 100, 64}},
          {128, 100, 64});
}
void BM_LoomAddOneDnn(benchmark::State& s) {
  RunLoom(s, "Add", "onednn", {{128, 100, 64}, {128, 100, 64}}, {128, 100, 64});
}
void BM_OneDnnAdd(benchmark::State& s) { RunOneDnnAdd(s, {128, 100, 64}); }
void BM_LoomConcat(benchmark::State& s) {
  RunLoom(s, "Concatenate", "reference", {{128, 128}, {128, 128}}, {128, 256});
}
void BM_OneDnnConcat(benchmark::State& s) { RunOneDnnConcat(s, 128, 128); }

BENCHMARK(BM_LoomMaxPool)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_LoomMaxPoolOneDnn)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_OneDnnMaxPool)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_LoomAvgPool)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_LoomAvgPoolOneDnn)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_LoomAvgPoolMasked)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_OneDnnAvgPool)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_LoomAdd)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_LoomAddOneDnn)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_OneDnnAdd)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_LoomConcat)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_OneDnnConcat)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace loom

BENCHMARK_MAIN();
