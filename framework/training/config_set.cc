#include "framework/training/config_set.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"

namespace loom {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::EnumValueDescriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

std::string FieldNames(const Descriptor& d) {
  std::vector<std::string> names;
  for (int i = 0; i < d.field_count(); ++i) {
    names.push_back(std::string(d.field(i)->name()));
  }
  return absl::StrJoin(names, ", ");
}

// "callback[2]" -> ("callback", 2); "epochs" -> ("epochs", -1).
absl::Status SplitIndex(absl::string_view part, std::string* name, int* index) {
  *index = -1;
  const size_t open = part.find('[');
  if (open == absl::string_view::npos) {
    *name = std::string(part);
    return absl::OkStatus();
  }
  *name = std::string(part.substr(0, open));
  absl::string_view rest = part.substr(open + 1);
  if (rest.empty() || rest.back() != ']' ||
      !absl::SimpleAtoi(rest.substr(0, rest.size() - 1), index) || *index < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", part, "' is not field[index]"));
  }
  return absl::OkStatus();
}

absl::Status SetScalar(Message* msg, const FieldDescriptor* f,
                       const std::string& value) {
  const Reflection* r = msg->GetReflection();
  auto bad = [&](absl::string_view type) {
    return absl::InvalidArgumentError(absl::StrCat(
        "field '", f->name(), "' takes ", type, ", got '", value, "'"));
  };
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_BOOL: {
      bool v;
      if (!absl::SimpleAtob(value, &v)) return bad("true or false");
      r->SetBool(msg, f, v);
      break;
    }
    case FieldDescriptor::CPPTYPE_INT32: {
      int32_t v;
      if (!absl::SimpleAtoi(value, &v)) return bad("an integer");
      r->SetInt32(msg, f, v);
      break;
    }
    case FieldDescriptor::CPPTYPE_INT64: {
      int64_t v;
      if (!absl::SimpleAtoi(value, &v)) return bad("an integer");
      r->SetInt64(msg, f, v);
      break;
    }
    case FieldDescriptor::CPPTYPE_UINT32: {
      uint32_t v;
      if (!absl::SimpleAtoi(value, &v)) return bad("an unsigned integer");
      r->SetUInt32(msg, f, v);
      break;
    }
    case FieldDescriptor::CPPTYPE_UINT64: {
      uint64_t v;
      if (!absl::SimpleAtoi(value, &v)) return bad("an unsigned integer");
      r->SetUInt64(msg, f, v);
      break;
    }
    case FieldDescriptor::CPPTYPE_FLOAT: {
      float v;
      if (!absl::SimpleAtof(value, &v)) return bad("a number");
      r->SetFloat(msg, f, v);
      break;
    }
    case FieldDescriptor::CPPTYPE_DOUBLE: {
      double v;
      if (!absl::SimpleAtod(value, &v)) return bad("a number");
      r->SetDouble(msg, f, v);
      break;
    }
    case FieldDescriptor::CPPTYPE_STRING:
      r->SetString(msg, f, value);
      break;
    case FieldDescriptor::CPPTYPE_ENUM: {
      const EnumValueDescriptor* v = f->enum_type()->FindValueByName(value);
      if (v == nullptr) {
        std::vector<std::string> names;
        for (int i = 0; i < f->enum_type()->value_count(); ++i) {
          names.push_back(std::string(f->enum_type()->value(i)->name()));
        }
        return bad(absl::StrCat("one of ", absl::StrJoin(names, ", ")));
      }
      r->SetEnum(msg, f, v);
      break;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return absl::InvalidArgumentError(absl::StrCat(
          "field '", f->name(), "' is a message; name one of its fields: ",
          FieldNames(*f->message_type())));
  }
  return absl::OkStatus();
}

absl::Status Set(const std::string& path, const std::string& value,
                 ModelDef* def) {
  std::vector<std::string> parts = absl::StrSplit(path, '.');
  if (parts[0] != "dataset" && parts[0] != "training") {
    return absl::InvalidArgumentError(
        parts[0] == "graph"
            ? "the graph is the model, not a setting: edit the .pbtxt"
            : "a path starts with 'dataset.' or 'training.'");
  }
  Message* msg = def;
  for (size_t i = 0; i < parts.size(); ++i) {
    std::string name;
    int index;
    if (auto s = SplitIndex(parts[i], &name, &index); !s.ok()) return s;
    const Descriptor* d = msg->GetDescriptor();
    const FieldDescriptor* f = d->FindFieldByName(name);
    if (f == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(d->name(), " has no field '", name,
                       "'; its fields: ", FieldNames(*d)));
    }
    const Reflection* r = msg->GetReflection();
    const bool last = i + 1 == parts.size();
    if (f->is_repeated()) {
      if (index < 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "'", name, "' is a list: name an element, as ", name, "[0]"));
      }
      const int size = r->FieldSize(*msg, f);
      if (index >= size) {
        return absl::InvalidArgumentError(absl::StrCat(
            "'", name, "' has ", size, " element(s); no [", index, "] to set"));
      }
      if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE || last) {
        return absl::InvalidArgumentError(absl::StrCat(
            "setting an element of the list '", name, "' is not supported"));
      }
      msg = r->MutableRepeatedMessage(msg, f, index);
      continue;
    }
    if (index >= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", name, "' is not a list; drop the [", index, "]"));
    }
    if (last) return SetScalar(msg, f, value);
    if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", name, "' is a value, not a message: the path ",
                       "must end there"));
    }
    msg = r->MutableMessage(msg, f);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status SetConfigValue(const std::string& assignment, ModelDef* def) {
  const size_t eq = assignment.find('=');
  // Works on a copy, so that a failed assignment changes nothing (walking
  // a path can select a oneof case before a later part fails).
  ModelDef copy = *def;
  absl::Status s =
      eq == std::string::npos || eq == 0
          ? absl::InvalidArgumentError("expected path=value")
          : Set(assignment.substr(0, eq), assignment.substr(eq + 1), &copy);
  if (s.ok()) {
    *def = std::move(copy);
    return s;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("--set '", assignment, "': ", s.message()));
}

}  // namespace loom
