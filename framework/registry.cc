#include "framework/registry.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "framework/plugin.h"
#include "framework/status_macros.h"
#include "google/protobuf/text_format.h"

namespace loom {
namespace {

bool DefaultMatches(const AttrSpec& spec) {
  const AttrValue& v = *spec.default_value;
  switch (spec.type) {
    case AttrType::kInt:
      return v.value_case() == AttrValue::kI;
    case AttrType::kFloat:
      return v.value_case() == AttrValue::kF || v.value_case() == AttrValue::kI;
    case AttrType::kString:
      return v.value_case() == AttrValue::kS;
    case AttrType::kBool:
      return v.value_case() == AttrValue::kB;
    case AttrType::kIntList:
    case AttrType::kFloatList:
    case AttrType::kStringList:
      return v.value_case() == AttrValue::kList;
    case AttrType::kShape:
      return v.value_case() == AttrValue::kShape;
    case AttrType::kTensor:
      return v.value_case() == AttrValue::kTensor;
  }
  return false;
}

}  // namespace

absl::Status OpRegistry::Register(OpDef def) {
  const std::string name = def.signature.name;
  auto error = [&](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot register op '", name, "' from ", current_source_, ": ", what));
  };
  if (name.empty()) return error("the op has no name");
  if (!def.shape_fn) return error("no shape function");
  if (def.kernels.empty()) return error("no kernel");
  for (const KernelDef& k : def.kernels) {
    if (!k.create) return error(absl::StrCat("kernel '", k.name, "' is empty"));
  }
  if (def.signature.outputs.empty()) return error("no outputs");
  const std::vector<ArgSpec>& inputs = def.signature.inputs;
  const ArgSpec* first_optional = nullptr;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const ArgSpec& in = inputs[i];
    if (!in.variadic && in.min_count != 0) {
      return error(absl::StrCat("input '", in.name, "' has min_count ",
                                in.min_count, " but is not variadic"));
    }
    if (in.variadic) {
      if (i + 1 != inputs.size()) {
        return error(absl::StrCat("variadic input '", in.name,
                                  "' is not the last input; only the last "
                                  "input may be variadic"));
      }
      if (in.optional) {
        return error(
            absl::StrCat("variadic input '", in.name,
                         "' is also optional; give it min_count = 0 instead"));
      }
      if (in.min_count < 0) {
        return error(absl::StrCat("variadic input '", in.name,
                                  "' has min_count ", in.min_count,
                                  "; it must be >= 0"));
      }
      if (first_optional != nullptr) {
        // (a, b?, values...): a node with two inputs could be giving b or
        // values_0. Inputs are positional, so this is refused outright.
        return error(absl::StrCat(
            "variadic input '", in.name, "' follows optional input '",
            first_optional->name,
            "'; a signature with a variadic input may have no optional "
            "inputs, since the input count would not say which were given"));
      }
      continue;
    }
    if (first_optional != nullptr && !in.optional) {
      return error(absl::StrCat("required input '", in.name,
                                "' follows an optional one"));
    }
    if (in.optional && first_optional == nullptr) first_optional = &in;
  }
  for (const ArgSpec& out : def.signature.outputs) {
    if (out.variadic || out.optional) {
      return error(absl::StrCat("output '", out.name, "' is ",
                                out.variadic ? "variadic" : "optional",
                                "; only inputs can be"));
    }
  }
  for (size_t i = 0; i < def.signature.attrs.size(); ++i) {
    const AttrSpec& a = def.signature.attrs[i];
    if (a.default_value.has_value() && !DefaultMatches(a)) {
      return error(absl::StrCat("default of attribute '", a.name, "' is not a ",
                                AttrTypeName(a.type)));
    }
    for (size_t j = 0; j < i; ++j) {
      if (def.signature.attrs[j].name == a.name) {
        return error(absl::StrCat("attribute '", a.name, "' declared twice"));
      }
    }
  }
  for (int i : def.sparse_grad_inputs) {
    if (i < 0 || i >= static_cast<int>(def.signature.inputs.size())) {
      return error(absl::StrCat("sparse gradient input ", i, " out of range"));
    }
    if (def.signature.inputs[i].variadic) {
      return error(absl::StrCat("sparse gradient input ", i, " ('",
                                def.signature.inputs[i].name,
                                "') is variadic; sparse gradients are "
                                "supported for fixed inputs only"));
    }
  }
  if (auto it = ops_.find(name); it != ops_.end()) {
    return absl::AlreadyExistsError(
        absl::StrCat("op '", name, "' from ", current_source_,
                     " is already registered by ", it->second->source));
  }
  def.source = current_source_;
  ops_[name] = std::make_unique<OpDef>(std::move(def));
  return absl::OkStatus();
}

const OpDef* OpRegistry::Find(const std::string& name) const {
  auto it = ops_.find(name);
  return it == ops_.end() ? nullptr : it->second.get();
}

std::vector<const OpDef*> OpRegistry::List() const {
  std::vector<const OpDef*> out;
  for (const auto& [name, def] : ops_) out.push_back(def.get());
  std::sort(out.begin(), out.end(), [](const OpDef* a, const OpDef* b) {
    return a->signature.name < b->signature.name;
  });
  return out;
}

std::string DescribeOp(const OpDef& def) {
  const OpSignature& sig = def.signature;
  std::string out = absl::StrCat(sig.name, "(", ArgListText(sig.inputs),
                                 ") -> (", ArgListText(sig.outputs), ")");
  std::vector<std::string> kernels;
  for (const KernelDef& k : def.kernels) kernels.push_back(k.name);
  absl::StrAppend(&out, "    [", def.source,
                  "; kernels: ", absl::StrJoin(kernels, ", "),
                  def.differentiable ? "" : "; no gradient", "]\n");
  if (!sig.doc.empty()) absl::StrAppend(&out, "  ", sig.doc, "\n");
  for (const ArgSpec& a : sig.inputs) {
    std::string kind;
    if (a.variadic) {
      kind =
          absl::StrCat(" (variadic: ", a.min_count, " or more tensors, named ",
                       a.name, "_0, ", a.name, "_1, ...)");
    } else if (a.optional) {
      kind = " (optional)";
    }
    absl::StrAppend(&out, "  input  ", a.name, kind, a.doc.empty() ? "" : ": ",
                    a.doc, "\n");
  }
  for (const ArgSpec& a : sig.outputs) {
    absl::StrAppend(&out, "  output ", a.name, a.doc.empty() ? "" : ": ", a.doc,
                    "\n");
  }
  for (const AttrSpec& a : sig.attrs) {
    std::string def_text = "required";
    if (a.default_value.has_value()) {
      google::protobuf::TextFormat::Printer printer;
      printer.SetSingleLineMode(true);
      std::string v;
      printer.PrintToString(*a.default_value, &v);
      def_text = absl::StrCat("default ", v);
      while (!def_text.empty() && def_text.back() == ' ') def_text.pop_back();
    }
    absl::StrAppend(&out, "  attr   ", a.name, ": ", AttrTypeName(a.type), " (",
                    def_text, ")", a.doc.empty() ? "" : " ", a.doc, "\n");
  }
  return out;
}

namespace {

std::vector<OpDefFactory>& BuiltinFactories() {
  static auto* factories = new std::vector<OpDefFactory>();
  return *factories;
}

absl::Status RegisterBuiltins(OpRegistry* registry) {
  for (OpDefFactory factory : BuiltinFactories()) {
    LOOM_RETURN_IF_ERROR(RegisterAll(factory(), registry));
  }
  return absl::OkStatus();
}

}  // namespace

bool AddBuiltinOps(OpDefFactory factory) {
  BuiltinFactories().push_back(factory);
  return true;
}

absl::Status RegisterAll(std::vector<OpDef> defs, OpRegistry* registry) {
  for (OpDef& def : defs) {
    LOOM_RETURN_IF_ERROR(registry->Register(std::move(def)));
  }
  return absl::OkStatus();
}

absl::Status RegisterBuiltinOps(OpRegistry* registry) {
  if (BuiltinFactories().empty()) {
    return absl::FailedPreconditionError(
        "no built-in ops are linked into this program: link //ops (its "
        "files register the ops at start-up)");
  }
  static const LoomPluginInfo kBuiltin = {kLoomPluginAbiVersion, "builtin",
                                          &RegisterBuiltins};
  return RegisterPlugin(kBuiltin, "builtin", registry);
}

}  // namespace loom
