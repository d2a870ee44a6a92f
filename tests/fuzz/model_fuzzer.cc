// Fuzz target: a model file (ModelDef in protobuf text format, the graph or
// the layer form) as the tools load it: ParseModelText (which expands
// layers), Graph::Build against the built-in ops (which creates the
// parameters ops declare),
// ValidateModelBindings and CreateOptimizer, then every parameter's
// initializer on a tensor of its shape (only for models small enough that
// this is quick: the real sizes are tested elsewhere).
//
// Every error must come back as a status; none may crash, hang, leak or
// allocate without bound.
#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>

#include "framework/graph.h"
#include "framework/initializers.h"
#include "framework/model_io.h"
#include "framework/optimizer.h"
#include "framework/registry.h"
#include "framework/tensor.h"
#include "ops/op_library.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

const loom::OpRegistry& Registry() {
  static const loom::OpRegistry* registry = [] {
    auto* r = new loom::OpRegistry();
    if (!loom::RegisterBuiltinOps(r).ok()) {
      loom::fuzz::Fail("cannot register the built-in ops");
    }
    return r;
  }();
  return *registry;
}

// Parameters initialized per input, at most (elements of all of them).
constexpr int64_t kMaxInitElements = 4096;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto file = loom::ParseModelText(text, "fuzz.pbtxt");
  if (!file.ok()) return 0;
  auto graph =
      loom::Graph::Build(file->model.graph(), Registry(), file->source);
  if (!graph.ok()) return 0;
  (void)loom::ValidateModelBindings(file->model, **graph, "fuzz.pbtxt");
  (void)loom::CreateOptimizer(file->model.training().optimizer());

  // Graph::Build accepted every parameter shape: fully defined, non-empty.
  int64_t total = 0;
  for (const int v : (*graph)->parameter_values()) {
    const loom::Shape& shape = (*graph)->values()[v].info.shape;
    int64_t n = 1;
    for (const int64_t d : shape) {
      if (d <= 0) loom::fuzz::Fail("Graph::Build accepted a shape <= 0");
      if (n > kMaxInitElements / d) return 0;
      n *= d;
    }
    total += n;
    if (total > kMaxInitElements) return 0;
  }
  std::mt19937_64 rng(1);
  const auto& params = (*graph)->parameter_values();
  for (size_t i = 0; i < params.size(); ++i) {
    loom::Tensor t(loom::DType::kFloat32,
                   (*graph)->values()[params[i]].info.shape);
    // def(), not the file's graph: it holds the parameters ops created.
    (void)loom::InitializeTensor((*graph)->def().parameter(i).initializer(),
                                 rng, &t);
  }
  return 0;
}
