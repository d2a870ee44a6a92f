#include "framework/testing/op_testing.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "framework/executor.h"
#include "framework/graph.h"
#include "framework/registry.h"
#include "framework/status_macros.h"
#include "framework/testing/tensor_text.h"

namespace loom::testing {
namespace {

std::string InputName(int i) { return absl::StrCat("in", i); }

bool IsDifferentiable(const OpTestCase& test, int i) {
  if (!test.inputs[i].has_value()) return false;
  if (test.inputs[i]->dtype() != DType::kFloat32) return false;
  if (test.differentiable.empty()) return true;
  return i < static_cast<int>(test.differentiable.size()) &&
         test.differentiable[i];
}

// A one-node graph: differentiable inputs are parameters, others inputs.
struct OpHarness {
  std::unique_ptr<Executor> executor;
  FeedMap feeds;
  std::vector<std::string> outputs;
  std::vector<int> parameter_of_input;  // -1 when fed.
};

absl::StatusOr<OpHarness> MakeHarness(const OpRegistry& registry,
                                      const OpTestCase& test) {
  const OpDef* op = registry.Find(test.op);
  if (op == nullptr) {
    return absl::NotFoundError(absl::StrCat("no op named ", test.op));
  }
  GraphDef def;
  NodeDef* node = def.add_node();
  node->set_name("op");
  node->set_op(test.op);
  for (const auto& [name, value] : test.attrs) {
    (*node->mutable_attr())[name] = value;
  }
  OpHarness h;
  int last_present = -1;
  for (int i = 0; i < static_cast<int>(test.inputs.size()); ++i) {
    if (test.inputs[i].has_value()) last_present = i;
  }
  for (int i = 0; i <= last_present; ++i) {
    h.parameter_of_input.push_back(-1);
    if (!test.inputs[i].has_value()) {
      node->add_input("");  // An optional input left out.
      continue;
    }
    const Tensor& t = *test.inputs[i];
    node->add_input(InputName(i));
    if (IsDifferentiable(test, i)) {
      ParameterDef* p = def.add_parameter();
      p->set_name(InputName(i));
      for (int64_t d : t.shape()) p->mutable_shape()->add_dim(d);
      h.parameter_of_input.back() = def.parameter_size() - 1;
    } else {
      InputDef* in = def.add_input();
      in->set_name(InputName(i));
      in->set_dtype(t.dtype() == DType::kInt32 ? DT_INT32 : DT_FLOAT);
      for (int64_t d : t.shape()) in->mutable_shape()->add_dim(d);
      h.feeds[InputName(i)] = t;
    }
  }
  LOOM_ASSIGN_OR_RETURN(auto graph, Graph::Build(def, registry));
  LOOM_ASSIGN_OR_RETURN(
      auto executor,
      Executor::Create(std::shared_ptr<const Graph>(std::move(graph)),
                       test.seed));
  h.executor = std::move(executor);
  for (int i = 0; i <= last_present; ++i) {
    if (h.parameter_of_input[i] >= 0) {
      h.executor->parameters()[h.parameter_of_input[i]].value.CopyFrom(
          *test.inputs[i]);
    }
  }
  for (size_t k = 0; k < op->signature.outputs.size(); ++k) {
    h.outputs.push_back(k == 0 ? "op" : absl::StrCat("op:", k));
  }
  return h;
}

absl::StatusOr<std::vector<Tensor>> Forward(OpHarness& h,
                                            const OpTestCase& test) {
  h.executor->Reseed(test.seed);
  LOOM_RETURN_IF_ERROR(h.executor->Run(h.feeds, h.outputs, test.training));
  std::vector<Tensor> out;
  for (const std::string& name : h.outputs) {
    LOOM_ASSIGN_OR_RETURN(auto t, h.executor->Fetch(name));
    out.push_back(t->Clone());
  }
  return out;
}

double WeightedSum(const std::vector<Tensor>& outputs,
                   const std::vector<Tensor>& weights) {
  double sum = 0;
  for (size_t k = 0; k < outputs.size() && k < weights.size(); ++k) {
    if (!weights[k].is_initialized()) continue;
    for (int64_t i = 0; i < outputs[k].num_elements(); ++i) {
      sum += double{outputs[k].f32()[i]} * weights[k].f32()[i];
    }
  }
  return sum;
}

}  // namespace

const OpRegistry& BuiltinRegistry() {
  static const OpRegistry* registry = [] {
    auto* r = new OpRegistry();
    absl::Status s = RegisterBuiltinOps(r);
    if (!s.ok()) std::abort();  // Built-in ops are known to register.
    return r;
  }();
  return *registry;
}

absl::StatusOr<std::vector<Tensor>> RunOp(const OpRegistry& registry,
                                          const OpTestCase& test) {
  LOOM_ASSIGN_OR_RETURN(auto h, MakeHarness(registry, test));
  return Forward(h, test);
}

absl::StatusOr<std::vector<Tensor>> ComputeGradients(
    const OpRegistry& registry, const OpTestCase& test,
    const std::vector<Tensor>& weights) {
  LOOM_ASSIGN_OR_RETURN(auto h, MakeHarness(registry, test));
  std::vector<Tensor> grads(test.inputs.size());
  // One backward pass per weighted output; gradients add up.
  for (size_t k = 0; k < h.outputs.size() && k < weights.size(); ++k) {
    if (!weights[k].is_initialized()) continue;
    LOOM_RETURN_IF_ERROR(Forward(h, test).status());
    LOOM_RETURN_IF_ERROR(h.executor->Backward(h.outputs[k], &weights[k]));
    for (size_t i = 0; i < h.parameter_of_input.size(); ++i) {
      const int p = h.parameter_of_input[i];
      if (p < 0) continue;
      const Tensor& g = h.executor->parameters()[p].grad;
      if (!grads[i].is_initialized()) {
        grads[i] = g.Clone();
      } else {
        for (int64_t e = 0; e < g.num_elements(); ++e) {
          grads[i].f32()[e] += g.f32()[e];
        }
      }
    }
  }
  return grads;
}

absl::StatusOr<GradientCheckReport> CheckGradients(
    const OpRegistry& registry, const OpTestCase& test,
    const GradientCheckOptions& options) {
  LOOM_ASSIGN_OR_RETURN(auto h, MakeHarness(registry, test));
  LOOM_ASSIGN_OR_RETURN(auto base, Forward(h, test));
  std::vector<Tensor> weights;
  for (size_t k = 0; k < base.size(); ++k) {
    if (base[k].dtype() != DType::kFloat32) {
      weights.emplace_back();
      continue;
    }
    weights.push_back(
        RandomTensor(base[k].shape(), options.weight_seed + k, -1.0f, 1.0f));
  }
  LOOM_ASSIGN_OR_RETURN(auto analytic,
                        ComputeGradients(registry, test, weights));

  GradientCheckReport report;
  for (size_t i = 0; i < h.parameter_of_input.size(); ++i) {
    const int p = h.parameter_of_input[i];
    if (p < 0) continue;
    Tensor& value = h.executor->parameters()[p].value;
    const int64_t n = value.num_elements();
    const int64_t stride =
        options.max_checks_per_input > 0 && n > options.max_checks_per_input
            ? (n + options.max_checks_per_input - 1) /
                  options.max_checks_per_input
            : 1;
    for (int64_t e = 0; e < n; e += stride) {
      const float saved = value.f32()[e];
      value.f32()[e] = saved + static_cast<float>(options.epsilon);
      LOOM_ASSIGN_OR_RETURN(auto plus, Forward(h, test));
      value.f32()[e] = saved - static_cast<float>(options.epsilon);
      LOOM_ASSIGN_OR_RETURN(auto minus, Forward(h, test));
      value.f32()[e] = saved;
      const double numeric =
          (WeightedSum(plus, weights) - WeightedSum(minus, weights)) /
          (2 * options.epsilon);
      const double got = analytic[i].f32()[e];
      const double err = std::abs(got - numeric);
      ++report.checked;
      if (err > report.max_abs_error) {
        report.max_abs_error = err;
        report.worst = absl::StrCat("input ", i, " element ", e, ": analytic ",
                                    got, ", numeric ", numeric);
      }
      if (err > options.atol + options.rtol * std::abs(numeric)) {
        report.ok = false;
      }
    }
  }
  return report;
}

namespace {

double ElementValue(const Tensor& t, int64_t e) {
  return t.dtype() == DType::kFloat32 ? double{t.f32()[e]} : double{t.i32()[e]};
}

std::string ElementText(const Tensor& t, int64_t e) {
  return t.dtype() == DType::kFloat32 ? FloatText(t.f32()[e])
                                      : absl::StrCat(t.i32()[e]);
}

// "element 5 [1, 2]": the flat index and the coordinates.
std::string ElementName(const Shape& shape, int64_t e) {
  Shape coords(shape.size());
  int64_t rest = e;
  for (int d = static_cast<int>(shape.size()) - 1; d >= 0; --d) {
    coords[d] = shape[d] > 0 ? rest % shape[d] : 0;
    rest = shape[d] > 0 ? rest / shape[d] : 0;
  }
  return absl::StrCat("element ", e, " ", ShapeToString(coords));
}

OutputComparison CompareOutput(int k, const Tensor& got, const Tensor& ref,
                               const KernelComparisonOptions& options) {
  OutputComparison c;
  c.output = k;
  if (got.dtype() != ref.dtype() || got.shape() != ref.shape()) {
    c.ok = false;
    c.max_abs_diff = c.max_rel_diff = std::numeric_limits<double>::infinity();
    c.worst =
        absl::StrCat(DTypeName(got.dtype()), " ", ShapeToString(got.shape()),
                     " vs the reference's ", DTypeName(ref.dtype()), " ",
                     ShapeToString(ref.shape()));
    return c;
  }
  const double inf = std::numeric_limits<double>::infinity();
  bool worst_fails = false;
  double worst_diff = 0;
  for (int64_t e = 0; e < got.num_elements(); ++e) {
    const double a = ElementValue(got, e);
    const double r = ElementValue(ref, e);
    double diff;
    bool agrees;
    if (std::isnan(a) || std::isnan(r)) {
      agrees = std::isnan(a) && std::isnan(r);
      diff = agrees ? 0 : inf;
    } else if (std::isinf(a) || std::isinf(r)) {
      agrees = a == r;
      diff = agrees ? 0 : inf;
    } else {
      diff = std::abs(a - r);
      agrees = diff <= options.atol + options.rtol * std::abs(r);
    }
    c.max_abs_diff = std::max(c.max_abs_diff, diff);
    if (r != 0 && !std::isnan(r)) {
      c.max_rel_diff = std::max(c.max_rel_diff, diff / std::abs(r));
    }
    if (!agrees) c.ok = false;
    // The worst element: one that fails, if any, with the largest
    // difference (none when all are equal).
    if ((!agrees && !worst_fails) ||
        (!agrees == worst_fails && diff > worst_diff)) {
      worst_fails = !agrees;
      worst_diff = diff;
      c.worst = absl::StrCat(ElementName(got.shape(), e), ": ",
                             ElementText(got, e), " vs ", ElementText(ref, e));
    }
  }
  return c;
}

}  // namespace

absl::StatusOr<KernelComparisonReport> CompareKernels(
    const OpRegistry& registry, const OpTestCase& test,
    const KernelComparisonOptions& options) {
  const OpDef* def = registry.Find(test.op);
  if (def == nullptr) {
    return absl::NotFoundError(absl::StrCat("no op named ", test.op));
  }
  std::vector<std::string> names;
  for (const KernelDef& k : def->kernels) names.push_back(k.name);
  KernelComparisonReport report;
  report.reference =
      options.reference.empty() ? names.front() : options.reference;
  if (std::find(names.begin(), names.end(), report.reference) == names.end()) {
    return absl::NotFoundError(
        absl::StrCat("op ", test.op, " has no kernel '", report.reference,
                     "' (it has: ", absl::StrJoin(names, ", "), ")"));
  }
  auto run = [&](const std::string& kernel) {
    OpTestCase with_kernel = test;
    with_kernel.attrs["_kernel"] = StringValue(kernel);
    return RunOp(registry, with_kernel);
  };
  auto reference = run(report.reference);
  if (!reference.ok()) {
    return absl::Status(reference.status().code(),
                        absl::StrCat("reference kernel '", report.reference,
                                     "': ", reference.status().message()));
  }
  for (const std::string& name : names) {
    if (name == report.reference) continue;
    KernelComparison kc;
    kc.kernel = name;
    auto outputs = run(name);
    if (!outputs.ok()) {
      kc.ok = false;
      kc.error = std::string(outputs.status().message());
    } else {
      for (size_t k = 0; k < outputs->size() && k < reference->size(); ++k) {
        kc.outputs.push_back(CompareOutput(static_cast<int>(k), (*outputs)[k],
                                           (*reference)[k], options));
        kc.ok = kc.ok && kc.outputs.back().ok;
      }
    }
    report.ok = report.ok && kc.ok;
    report.kernels.push_back(std::move(kc));
  }
  return report;
}

std::string KernelComparisonText(const KernelComparisonReport& report,
                                 const OpSignature& sig,
                                 const KernelComparisonOptions& options) {
  if (report.kernels.empty()) {
    return absl::StrCat("kernel comparison: op ", sig.name, " has one kernel (",
                        report.reference, "): nothing to compare\n");
  }
  std::string out =
      absl::StrCat("kernel comparison against '", report.reference, "' (atol ",
                   options.atol, ", rtol ", options.rtol, "):\n");
  for (const KernelComparison& kc : report.kernels) {
    if (!kc.error.empty()) {
      absl::StrAppend(&out, "  ", kc.kernel, ": FAILED to run: ", kc.error,
                      "\n");
      continue;
    }
    for (const OutputComparison& c : kc.outputs) {
      absl::StrAppend(
          &out, "  ", kc.kernel, ", output ", c.output, " (",
          c.output < static_cast<int>(sig.outputs.size())
              ? sig.outputs[c.output].name
              : "?",
          "): max abs diff ", c.max_abs_diff, ", max rel diff ", c.max_rel_diff,
          c.ok ? ": agrees" : ": DIFFERS",
          c.worst.empty() ? "" : absl::StrCat(" (worst: ", c.worst, ")"), "\n");
    }
  }
  return out;
}

AttrValue IntValue(int64_t v) {
  AttrValue a;
  a.set_i(v);
  return a;
}
AttrValue FloatValue(float v) {
  AttrValue a;
  a.set_f(v);
  return a;
}
AttrValue StringValue(const std::string& v) {
  AttrValue a;
  a.set_s(v);
  return a;
}
AttrValue BoolValue(bool v) {
  AttrValue a;
  a.set_b(v);
  return a;
}
AttrValue IntListValue(const std::vector<int64_t>& v) {
  AttrValue a;
  for (int64_t x : v) a.mutable_list()->add_i(x);
  return a;
}

Tensor RandomTensor(const Shape& shape, uint64_t seed, float lo, float hi) {
  Tensor t(DType::kFloat32, shape);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  for (float& v : t.flat()) v = dist(rng);
  return t;
}

}  // namespace loom::testing
