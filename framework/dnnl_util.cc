#include "framework/dnnl_util.h"

#include <cstdlib>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "oneapi/dnnl/dnnl_debug.h"

namespace loom {
namespace {

struct NamedArg {
  int arg;
  const char* name;
};

// The execution arguments DnnlArgsProblems looks for, with their names (the
// RNN aliases where RNNs use them). DNNL_ARG_MULTIPLE_SRC + i (concat, sum)
// is handled apart.
constexpr NamedArg kNamedArgs[] = {
    {DNNL_ARG_SRC, "DNNL_ARG_SRC"},
    {DNNL_ARG_SRC_1, "DNNL_ARG_SRC_ITER (DNNL_ARG_SRC_1)"},
    {DNNL_ARG_SRC_2, "DNNL_ARG_SRC_ITER_C (DNNL_ARG_SRC_2)"},
    {DNNL_ARG_SRC_3, "DNNL_ARG_SRC_3"},
    {DNNL_ARG_DST, "DNNL_ARG_DST"},
    {DNNL_ARG_DST_1, "DNNL_ARG_DST_ITER (DNNL_ARG_DST_1)"},
    {DNNL_ARG_DST_2, "DNNL_ARG_DST_ITER_C (DNNL_ARG_DST_2)"},
    {DNNL_ARG_WEIGHTS, "DNNL_ARG_WEIGHTS"},
    {DNNL_ARG_WEIGHTS_1, "DNNL_ARG_WEIGHTS_ITER (DNNL_ARG_WEIGHTS_1)"},
    {DNNL_ARG_WEIGHTS_2, "DNNL_ARG_WEIGHTS_PEEPHOLE (DNNL_ARG_WEIGHTS_2)"},
    {DNNL_ARG_WEIGHTS_3, "DNNL_ARG_WEIGHTS_PROJECTION (DNNL_ARG_WEIGHTS_3)"},
    {DNNL_ARG_BIAS, "DNNL_ARG_BIAS"},
    {DNNL_ARG_MEAN, "DNNL_ARG_MEAN"},
    {DNNL_ARG_VARIANCE, "DNNL_ARG_VARIANCE"},
    {DNNL_ARG_SCALE, "DNNL_ARG_SCALE"},
    {DNNL_ARG_SHIFT, "DNNL_ARG_SHIFT"},
    {DNNL_ARG_WORKSPACE, "DNNL_ARG_WORKSPACE"},
    {DNNL_ARG_SCRATCHPAD, "DNNL_ARG_SCRATCHPAD"},
    {DNNL_ARG_DIFF_SRC, "DNNL_ARG_DIFF_SRC"},
    {DNNL_ARG_DIFF_SRC_1, "DNNL_ARG_DIFF_SRC_ITER (DNNL_ARG_DIFF_SRC_1)"},
    {DNNL_ARG_DIFF_SRC_2, "DNNL_ARG_DIFF_SRC_ITER_C (DNNL_ARG_DIFF_SRC_2)"},
    {DNNL_ARG_DIFF_SRC_3, "DNNL_ARG_DIFF_SRC_3"},
    {DNNL_ARG_DIFF_DST, "DNNL_ARG_DIFF_DST"},
    {DNNL_ARG_DIFF_DST_1, "DNNL_ARG_DIFF_DST_ITER (DNNL_ARG_DIFF_DST_1)"},
    {DNNL_ARG_DIFF_DST_2, "DNNL_ARG_DIFF_DST_ITER_C (DNNL_ARG_DIFF_DST_2)"},
    {DNNL_ARG_DIFF_WEIGHTS, "DNNL_ARG_DIFF_WEIGHTS"},
    {DNNL_ARG_DIFF_WEIGHTS_1,
     "DNNL_ARG_DIFF_WEIGHTS_ITER (DNNL_ARG_DIFF_WEIGHTS_1)"},
    {DNNL_ARG_DIFF_WEIGHTS_2,
     "DNNL_ARG_DIFF_WEIGHTS_PEEPHOLE (DNNL_ARG_DIFF_WEIGHTS_2)"},
    {DNNL_ARG_DIFF_WEIGHTS_3,
     "DNNL_ARG_DIFF_WEIGHTS_PROJECTION (DNNL_ARG_DIFF_WEIGHTS_3)"},
    {DNNL_ARG_DIFF_BIAS, "DNNL_ARG_DIFF_BIAS"},
    {DNNL_ARG_DIFF_SCALE, "DNNL_ARG_DIFF_SCALE"},
    {DNNL_ARG_DIFF_SHIFT, "DNNL_ARG_DIFF_SHIFT"},
};

// At most this many DNNL_ARG_MULTIPLE_SRC + i are looked at.
constexpr int kMaxMultipleSrc = 64;

bool IsZeroDesc(const dnnl_memory_desc_t* md) {
  return md == nullptr || md->ndims == 0;
}

// Batch and layer normalization describe DNNL_ARG_SCALE_SHIFT, _SCALE and
// _SHIFT (and their diffs) alike, whichever of them their flags ask for;
// whether `arg` is one the primitive really counts on.
bool NormalizationWants(const_dnnl_primitive_desc_t pd,
                        dnnl_primitive_kind_t kind, int arg) {
  unsigned flags = 0;
  dnnl_prop_kind_t prop = dnnl_prop_kind_undef;
  const void* desc = nullptr;
  if (kind == dnnl_batch_normalization) {
    if (dnnl_primitive_desc_query(pd, dnnl_query_batch_normalization_d, 0,
                                  &desc) != dnnl_success ||
        desc == nullptr) {
      return true;
    }
    const auto* d = static_cast<const dnnl_batch_normalization_desc_t*>(desc);
    flags = d->flags;
    prop = d->prop_kind;
  } else if (kind == dnnl_layer_normalization) {
    if (dnnl_primitive_desc_query(pd, dnnl_query_layer_normalization_d, 0,
                                  &desc) != dnnl_success ||
        desc == nullptr) {
      return true;
    }
    const auto* d = static_cast<const dnnl_layer_normalization_desc_t*>(desc);
    flags = d->flags;
    prop = d->prop_kind;
  } else {
    return true;
  }
  // Only backward (not backward_data) writes the diffs of scale and shift.
  const bool diffs = prop == dnnl_backward;
  switch (arg) {
    case DNNL_ARG_SCALE_SHIFT:
      return (flags & dnnl_use_scaleshift) != 0;
    case DNNL_ARG_SCALE:
      return (flags & dnnl_use_scale) != 0;
    case DNNL_ARG_SHIFT:
      return (flags & dnnl_use_shift) != 0;
    case DNNL_ARG_DIFF_SCALE_SHIFT:
      return diffs && (flags & dnnl_use_scaleshift) != 0;
    case DNNL_ARG_DIFF_SCALE:
      return diffs && (flags & dnnl_use_scale) != 0;
    case DNNL_ARG_DIFF_SHIFT:
      return diffs && (flags & dnnl_use_shift) != 0;
    default:
      return true;
  }
}

bool VerboseIsOn() {
  for (const char* name : {"ONEDNN_VERBOSE", "DNNL_VERBOSE"}) {
    const char* v = std::getenv(name);
    if (v != nullptr && *v != '\0' && std::atoi(v) > 0) return true;
  }
  return false;
}

}  // namespace

dnnl::memory::dims ToDims(const Shape& shape) {
  return dnnl::memory::dims(shape.begin(), shape.end());
}

dnnl::memory::desc PlainDesc(const Shape& shape, DType dtype) {
  dnnl::memory::dims dims = ToDims(shape);
  if (dims.empty()) dims = {1};
  dnnl::memory::dims strides(dims.size(), 1);
  for (int i = static_cast<int>(dims.size()) - 2; i >= 0; --i) {
    strides[i] = strides[i + 1] * dims[i + 1];
  }
  return dnnl::memory::desc(dims,
                            dtype == DType::kInt32
                                ? dnnl::memory::data_type::s32
                                : dnnl::memory::data_type::f32,
                            strides);
}

dnnl::memory WrapTensor(const dnnl::engine& engine, const Tensor& tensor) {
  return WrapTensor(engine, tensor, PlainDesc(tensor.shape(), tensor.dtype()));
}

dnnl::memory WrapTensor(const dnnl::engine& engine, const Tensor& tensor,
                        const dnnl::memory::desc& desc) {
  return dnnl::memory(desc, engine, const_cast<void*>(tensor.raw()));
}

absl::Status DnnlErrorStatus(absl::string_view what, const dnnl::error& error,
                             absl::string_view details) {
  std::string message =
      absl::StrCat("oneDNN ", what, " failed: ", error.what(), " (dnnl_",
                   dnnl_status2str(error.status), ")");
  if (!details.empty()) absl::StrAppend(&message, "; ", details);
  absl::StrAppend(
      &message, ". To see more, ",
      VerboseIsOn()
          ? "read oneDNN's log on standard output (ONEDNN_VERBOSE is set)"
          : "run with ONEDNN_VERBOSE=1 (oneDNN then logs on standard output "
            "every primitive it runs, with its memory descriptors; with =2 "
            "also every one it creates, one refused by execute() included)",
      "; the arguments a primitive's execute() needs are those for which "
      "its primitive descriptor's query_md(dnnl::query::exec_arg_md, "
      "DNNL_ARG_...) is not empty (plugins/README.md, \"oneDNN errors\")");
  return absl::InternalError(message);
}

std::string DnnlArgName(int arg) {
  for (const NamedArg& a : kNamedArgs) {
    if (a.arg == arg) return a.name;
  }
  if (arg >= DNNL_ARG_MULTIPLE_SRC && arg < DNNL_ARG_MULTIPLE_DST) {
    return absl::StrCat("DNNL_ARG_MULTIPLE_SRC + ",
                        arg - DNNL_ARG_MULTIPLE_SRC);
  }
  return absl::StrCat("argument ", arg);
}

std::string DnnlArgsProblems(
    const dnnl::primitive& primitive,
    const std::unordered_map<int, dnnl::memory>& args) {
  const_dnnl_primitive_desc_t pd = nullptr;
  if (primitive.get(/*allow_empty=*/true) == nullptr ||
      dnnl_primitive_get_primitive_desc(primitive.get(), &pd) != dnnl_success ||
      pd == nullptr) {
    return "";
  }
  std::vector<int> wanted;
  for (const NamedArg& a : kNamedArgs) wanted.push_back(a.arg);
  for (int i = 0; i < kMaxMultipleSrc; ++i) {
    const int arg = DNNL_ARG_MULTIPLE_SRC + i;
    if (IsZeroDesc(
            dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, arg))) {
      break;
    }
    wanted.push_back(arg);
  }
  dnnl_primitive_kind_t prim_kind = dnnl_undefined_primitive;
  std::string kind;
  if (dnnl_primitive_desc_query(pd, dnnl_query_primitive_kind, 0, &prim_kind) ==
      dnnl_success) {
    kind = absl::StrCat(dnnl_prim_kind2str(prim_kind), " ");
  }
  std::vector<std::string> missing;
  std::vector<std::string> other_desc;
  for (int arg : wanted) {
    const dnnl_memory_desc_t* md =
        dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, arg);
    if (IsZeroDesc(md) || !NormalizationWants(pd, prim_kind, arg)) continue;
    auto it = args.find(arg);
    if (it == args.end() || it->second.get(/*allow_empty=*/true) == nullptr) {
      missing.push_back(DnnlArgName(arg));
      continue;
    }
    const dnnl_memory_desc_t* given = nullptr;
    if (dnnl_memory_get_memory_desc(it->second.get(), &given) == dnnl_success &&
        given != nullptr && !dnnl_memory_desc_equal(given, md)) {
      other_desc.push_back(DnnlArgName(arg));
    }
  }
  std::string out;
  if (!missing.empty()) {
    absl::StrAppend(&out, "the ", kind,
                    "primitive describes arguments that execute() was not "
                    "given: ",
                    absl::StrJoin(missing, ", "));
  }
  if (!other_desc.empty()) {
    absl::StrAppend(&out, out.empty() ? "" : "; ",
                    "execute() was given memories whose descriptor differs "
                    "from the ",
                    kind, "primitive's: ", absl::StrJoin(other_desc, ", "));
  }
  return out;
}

absl::Status DnnlExecute(const char* what, const dnnl::primitive& primitive,
                         dnnl::stream& stream,
                         const std::unordered_map<int, dnnl::memory>& args) {
  try {
    primitive.execute(stream, args);
    stream.wait();
  } catch (const dnnl::error& e) {
    return DnnlErrorStatus(what, e, DnnlArgsProblems(primitive, args));
  }
  return absl::OkStatus();
}

}  // namespace loom
