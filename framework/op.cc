#include "framework/op.h"

#include "absl/strings/str_cat.h"

namespace loom {

const char* AttrTypeName(AttrType type) {
  switch (type) {
    case AttrType::kInt:
      return "int";
    case AttrType::kFloat:
      return "float";
    case AttrType::kString:
      return "string";
    case AttrType::kBool:
      return "bool";
    case AttrType::kIntList:
      return "list(int)";
    case AttrType::kFloatList:
      return "list(float)";
    case AttrType::kStringList:
      return "list(string)";
    case AttrType::kShape:
      return "shape";
    case AttrType::kTensor:
      return "tensor";
  }
  return "unknown";
}

bool HasVariadicInput(const OpSignature& sig) {
  return !sig.inputs.empty() && sig.inputs.back().variadic;
}

int MinNodeInputs(const OpSignature& sig) {
  int count = 0;
  for (const ArgSpec& a : sig.inputs) {
    if (a.variadic) {
      count += a.min_count;
    } else if (!a.optional) {
      ++count;
    }
  }
  return count;
}

int MaxNodeInputs(const OpSignature& sig) {
  return HasVariadicInput(sig) ? -1 : static_cast<int>(sig.inputs.size());
}

int SignatureInputIndex(const OpSignature& sig, int i) {
  const int fixed =
      static_cast<int>(sig.inputs.size()) - (HasVariadicInput(sig) ? 1 : 0);
  return i < fixed ? i : fixed;
}

std::string NodeInputName(const OpSignature& sig, int i) {
  const int k = SignatureInputIndex(sig, i);
  if (k >= static_cast<int>(sig.inputs.size())) return absl::StrCat("#", i);
  const ArgSpec& a = sig.inputs[k];
  return a.variadic ? absl::StrCat(a.name, "_", i - k) : a.name;
}

std::string ArgListText(const std::vector<ArgSpec>& args) {
  std::string out;
  for (const ArgSpec& a : args) {
    absl::StrAppend(&out, out.empty() ? "" : ", ", a.name,
                    a.variadic ? "..." : (a.optional ? "?" : ""));
  }
  return out;
}

AttrSpec IntAttr(std::string name, std::optional<int64_t> def,
                 std::string doc) {
  AttrSpec spec{std::move(name), AttrType::kInt, std::nullopt, std::move(doc)};
  if (def) {
    spec.default_value.emplace();
    spec.default_value->set_i(*def);
  }
  return spec;
}

AttrSpec FloatAttr(std::string name, std::optional<float> def,
                   std::string doc) {
  AttrSpec spec{std::move(name), AttrType::kFloat, std::nullopt,
                std::move(doc)};
  if (def) {
    spec.default_value.emplace();
    spec.default_value->set_f(*def);
  }
  return spec;
}

AttrSpec StringAttr(std::string name, std::optional<std::string> def,
                    std::string doc) {
  AttrSpec spec{std::move(name), AttrType::kString, std::nullopt,
                std::move(doc)};
  if (def) {
    spec.default_value.emplace();
    spec.default_value->set_s(*def);
  }
  return spec;
}

AttrSpec BoolAttr(std::string name, std::optional<bool> def, std::string doc) {
  AttrSpec spec{std::move(name), AttrType::kBool, std::nullopt, std::move(doc)};
  if (def) {
    spec.default_value.emplace();
    spec.default_value->set_b(*def);
  }
  return spec;
}

AttrSpec IntListAttr(std::string name, std::optional<std::vector<int64_t>> def,
                     std::string doc) {
  AttrSpec spec{std::move(name), AttrType::kIntList, std::nullopt,
                std::move(doc)};
  if (def) {
    spec.default_value.emplace();
    auto* list = spec.default_value->mutable_list();
    for (int64_t v : *def) list->add_i(v);
  }
  return spec;
}

namespace {

// Whether `value` can serve as an attribute of `type`. An empty list fits
// any list type, and an int fits a float attribute, since model authors
// write `i: 1` where they mean 1.0.
bool Matches(const AttrValue& value, AttrType type) {
  switch (type) {
    case AttrType::kInt:
      return value.value_case() == AttrValue::kI;
    case AttrType::kFloat:
      return value.value_case() == AttrValue::kF ||
             value.value_case() == AttrValue::kI;
    case AttrType::kString:
      return value.value_case() == AttrValue::kS;
    case AttrType::kBool:
      return value.value_case() == AttrValue::kB;
    case AttrType::kIntList:
    case AttrType::kFloatList:
    case AttrType::kStringList: {
      if (value.value_case() != AttrValue::kList) return false;
      const auto& l = value.list();
      if (type == AttrType::kIntList) {
        return l.f_size() == 0 && l.s_size() == 0 && l.b_size() == 0;
      }
      if (type == AttrType::kFloatList) {
        return l.s_size() == 0 && l.b_size() == 0;
      }
      return l.i_size() == 0 && l.f_size() == 0 && l.b_size() == 0;
    }
    case AttrType::kShape:
      return value.value_case() == AttrValue::kShape;
    case AttrType::kTensor:
      return value.value_case() == AttrValue::kTensor;
  }
  return false;
}

const char* ValueKindName(const AttrValue& value) {
  switch (value.value_case()) {
    case AttrValue::kI:
      return "int";
    case AttrValue::kF:
      return "float";
    case AttrValue::kS:
      return "string";
    case AttrValue::kB:
      return "bool";
    case AttrValue::kList:
      return "list";
    case AttrValue::kShape:
      return "shape";
    case AttrValue::kTensor:
      return "tensor";
    case AttrValue::VALUE_NOT_SET:
      return "nothing";
  }
  return "unknown";
}

}  // namespace

absl::StatusOr<AttrMap> AttrMap::Resolve(
    absl::Span<const AttrSpec> specs,
    const google::protobuf::Map<std::string, AttrValue>& given) {
  AttrMap map;
  for (const auto& [name, value] : given) {
    // Attributes starting with '_' are for the runtime (e.g. "_kernel").
    if (!name.empty() && name[0] == '_') {
      map.values_[name] = value;
      continue;
    }
    const AttrSpec* spec = nullptr;
    for (const AttrSpec& s : specs) {
      if (s.name == name) spec = &s;
    }
    if (spec == nullptr) {
      std::string known;
      for (const AttrSpec& s : specs) {
        absl::StrAppend(&known, known.empty() ? "" : ", ", s.name);
      }
      return absl::InvalidArgumentError(
          absl::StrCat("unknown attribute '", name,
                       "' (the op has: ", known.empty() ? "none" : known, ")"));
    }
    if (!Matches(value, spec->type)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "attribute '", name, "' must be ", AttrTypeName(spec->type), ", got ",
          ValueKindName(value)));
    }
    map.values_[name] = value;
  }
  for (const AttrSpec& spec : specs) {
    if (map.values_.contains(spec.name)) continue;
    if (!spec.default_value.has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat("missing required attribute '", spec.name, "' (",
                       AttrTypeName(spec.type), ")"));
    }
    map.values_[spec.name] = *spec.default_value;
  }
  return map;
}

const AttrValue& AttrMap::Get(const std::string& name) const {
  static const AttrValue* const kEmpty = new AttrValue();
  auto it = values_.find(name);
  return it == values_.end() ? *kEmpty : it->second;
}

int64_t AttrMap::GetInt(const std::string& name) const { return Get(name).i(); }

float AttrMap::GetFloat(const std::string& name) const {
  const AttrValue& v = Get(name);
  return v.value_case() == AttrValue::kI ? static_cast<float>(v.i()) : v.f();
}

const std::string& AttrMap::GetString(const std::string& name) const {
  return Get(name).s();
}

bool AttrMap::GetBool(const std::string& name) const { return Get(name).b(); }

std::vector<int64_t> AttrMap::GetIntList(const std::string& name) const {
  const auto& l = Get(name).list().i();
  return {l.begin(), l.end()};
}

std::vector<float> AttrMap::GetFloatList(const std::string& name) const {
  const auto& l = Get(name).list();
  std::vector<float> out(l.f().begin(), l.f().end());
  for (int64_t v : l.i()) out.push_back(static_cast<float>(v));
  return out;
}

std::vector<std::string> AttrMap::GetStringList(const std::string& name) const {
  const auto& l = Get(name).list().s();
  return {l.begin(), l.end()};
}

absl::Status ShapeContext::ExpectRank(int input, int rank) const {
  const ValueInfo* info = inputs_[input];
  if (info != nullptr && static_cast<int>(info->shape.size()) != rank) {
    return absl::InvalidArgumentError(
        absl::StrCat("input ", input, " must have rank ", rank, ", got shape ",
                     ShapeToString(info->shape)));
  }
  return absl::OkStatus();
}

absl::Status ShapeContext::ExpectDType(int input, DType dtype) const {
  const ValueInfo* info = inputs_[input];
  if (info != nullptr && info->dtype != dtype) {
    return absl::InvalidArgumentError(absl::StrCat("input ", input, " must be ",
                                                   DTypeName(dtype), ", got ",
                                                   DTypeName(info->dtype)));
  }
  return absl::OkStatus();
}

namespace {

// The index of dimension `dim` (negative: from the end) in a shape of
// `rank` dimensions, or -1 if it has no such dimension.
int DimIndex(int dim, size_t rank) {
  const int r = static_cast<int>(rank);
  const int i = dim < 0 ? dim + r : dim;
  return i >= 0 && i < r ? i : -1;
}

absl::Status NoSuchDim(int input, int dim, const Shape& shape) {
  return absl::InvalidArgumentError(
      absl::StrCat("input ", input, " has no dimension ", dim, ", got shape ",
                   ShapeToString(shape)));
}

}  // namespace

absl::Status ShapeContext::ExpectRankAtLeast(int input, int min_rank) const {
  const ValueInfo* info = this->input(input);
  if (info != nullptr && static_cast<int>(info->shape.size()) < min_rank) {
    return absl::InvalidArgumentError(
        absl::StrCat("input ", input, " must have rank ", min_rank,
                     " or more, got shape ", ShapeToString(info->shape)));
  }
  return absl::OkStatus();
}

absl::Status ShapeContext::ExpectDim(int input, int dim, int64_t size) const {
  const ValueInfo* info = this->input(input);
  if (info == nullptr) return absl::OkStatus();
  const int i = DimIndex(dim, info->shape.size());
  if (i < 0) return NoSuchDim(input, dim, info->shape);
  if (!DimsCompatible(info->shape[i], size)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "input ", input, " must have size ", size, " in dimension ", dim,
        ", got shape ", ShapeToString(info->shape)));
  }
  return absl::OkStatus();
}

absl::Status ShapeContext::ExpectSameDim(int a, int dim_a, int b,
                                         int dim_b) const {
  const ValueInfo* info_a = input(a);
  const ValueInfo* info_b = input(b);
  if (info_a == nullptr || info_b == nullptr) return absl::OkStatus();
  const int i = DimIndex(dim_a, info_a->shape.size());
  if (i < 0) return NoSuchDim(a, dim_a, info_a->shape);
  const int j = DimIndex(dim_b, info_b->shape.size());
  if (j < 0) return NoSuchDim(b, dim_b, info_b->shape);
  if (!DimsCompatible(info_a->shape[i], info_b->shape[j])) {
    return absl::InvalidArgumentError(absl::StrCat(
        "dimension ", dim_a, " of input ", a, " (shape ",
        ShapeToString(info_a->shape), ") must equal dimension ", dim_b,
        " of input ", b, " (shape ", ShapeToString(info_b->shape), ")"));
  }
  return absl::OkStatus();
}

bool DimsCompatible(int64_t a, int64_t b) { return a < 0 || b < 0 || a == b; }

bool ShapesCompatible(const Shape& a, const Shape& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!DimsCompatible(a[i], b[i])) return false;
  }
  return true;
}

DnnlContext::DnnlContext()
    : engine(dnnl::engine::kind::cpu, 0), stream(engine) {}

Tensor* GradContext::input_grad_or_scratch(int i, const Shape& shape,
                                           Tensor* scratch) {
  Tensor* grad = input_grads_[i] != nullptr ? input_grads_[i] : scratch;
  grad->Resize(DType::kFloat32, shape);
  return grad;
}

}  // namespace loom
