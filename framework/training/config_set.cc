#include "framework/training/config_set.h"

#include <cmath>
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

// The longest sequence a review can give: a review has at most 64 MiB
// (kMaxRecordBytes of the readers), a token and a separator at least two
// bytes.
constexpr int64_t kMaxSequenceLength = (int64_t{64} << 20) / 2;

absl::Status Bad(absl::string_view path, absl::string_view value,
                 absl::string_view rule) {
  return absl::InvalidArgumentError(
      absl::StrCat(path, " is ", value, ": ", rule));
}

// A count: >= 0, 0 meaning `zero` ("the default", "all").
absl::Status CheckCount(absl::string_view path, int64_t value,
                        absl::string_view zero) {
  if (value >= 0) return absl::OkStatus();
  return Bad(path, absl::StrCat(value),
             absl::StrCat("it must be >= 0 (0 or unset: ", zero, ")"));
}

absl::Status CheckFinite(absl::string_view path, double value) {
  if (std::isfinite(value)) return absl::OkStatus();
  return Bad(path, absl::StrCat(value), "it must be a finite number");
}

// A float in [low, high) (or [low, high] with `closed`); NaN never is.
absl::Status CheckRange(absl::string_view path, double value, double low,
                        double high, bool closed, absl::string_view what) {
  if (value >= low && (value < high || (closed && value == high))) {
    return absl::OkStatus();
  }
  return Bad(path, absl::StrCat(value), what);
}

absl::Status CheckLearningRate(absl::string_view path, float value,
                               absl::string_view default_text) {
  return CheckRange(
      path, value, 0, kMaxLearningRate, true,
      absl::StrCat("a learning rate must be a finite number in (0, ",
                   kMaxLearningRate, "] (0 or unset: ", default_text, ")"));
}

// Clipping and the schedule, shared by the optimizers.
absl::Status CheckOptimizerShared(const OptimizerDef& o) {
  for (const auto& [field, value] :
       {std::pair<const char*, float>{"clipnorm", o.clipnorm()},
        {"global_clipnorm", o.global_clipnorm()}}) {
    if (auto st = CheckRange(absl::StrCat("training.optimizer.", field), value,
                             0, HUGE_VAL, false,
                             "it must be a finite number >= 0 (0 or unset: "
                             "no clipping)");
        !st.ok()) {
      return st;
    }
  }
  const OptimizerDef::Schedule& s = o.schedule();
  if (auto st = CheckCount("training.optimizer.schedule.warmup_steps",
                           s.warmup_steps(), "no warmup");
      !st.ok()) {
    return st;
  }
  if (s.has_cosine()) {
    if (s.cosine().decay_steps() <= 0) {
      return Bad("training.optimizer.schedule.cosine.decay_steps",
                 absl::StrCat(s.cosine().decay_steps()), "it must be > 0");
    }
    if (auto st =
            CheckRange("training.optimizer.schedule.cosine.alpha",
                       s.cosine().alpha(), 0, 1, true, "it must be in [0, 1]");
        !st.ok()) {
      return st;
    }
  }
  if (s.has_exponential()) {
    if (s.exponential().decay_steps() <= 0) {
      return Bad("training.optimizer.schedule.exponential.decay_steps",
                 absl::StrCat(s.exponential().decay_steps()), "it must be > 0");
    }
    const float rate = s.exponential().decay_rate();
    if (!(rate > 0 && rate <= 1)) {
      return Bad("training.optimizer.schedule.exponential.decay_rate",
                 absl::StrCat(rate), "it must be in (0, 1]");
    }
  }
  return absl::OkStatus();
}

absl::Status CheckOptimizer(const OptimizerDef& o) {
  if (auto st = CheckOptimizerShared(o); !st.ok()) return st;
  if (o.has_sgd()) {
    const auto& s = o.sgd();
    if (auto st = CheckLearningRate("training.optimizer.sgd.learning_rate",
                                    s.learning_rate(), "0.01");
        !st.ok()) {
      return st;
    }
    return CheckRange("training.optimizer.sgd.momentum", s.momentum(), 0, 1,
                      false, "it must be in [0, 1)");
  }
  const auto& a = o.adam();
  if (auto st = CheckLearningRate("training.optimizer.adam.learning_rate",
                                  a.learning_rate(), "0.001");
      !st.ok()) {
    return st;
  }
  for (const auto& [field, value] :
       {std::pair<const char*, float>{"beta_1", a.beta_1()},
        {"beta_2", a.beta_2()}}) {
    if (auto st = CheckRange(absl::StrCat("training.optimizer.adam.", field),
                             value, 0, 1, false,
                             "it must be in [0, 1) (0 or unset: Keras' "
                             "default)");
        !st.ok()) {
      return st;
    }
  }
  if (auto st = CheckRange("training.optimizer.adam.weight_decay",
                           a.weight_decay(), 0, 1, false,
                           "it must be in [0, 1) (0 or unset: plain Adam)");
      !st.ok()) {
    return st;
  }
  return CheckRange("training.optimizer.adam.epsilon", a.epsilon(), 0, 1, true,
                    "it must be in [0, 1] (0 or unset: 1e-7)");
}

absl::Status CheckCallback(const CallbackDef& c, int i) {
  const std::string at = absl::StrCat("training.callback[", i, "].");
  switch (c.kind_case()) {
    case CallbackDef::kEarlyStopping: {
      const auto& e = c.early_stopping();
      const std::string path = at + "early_stopping.";
      if (auto s = CheckCount(path + "patience", e.patience(), "0 epochs");
          !s.ok()) {
        return s;
      }
      return CheckFinite(path + "min_delta", e.min_delta());
    }
    case CallbackDef::kReduceLrOnPlateau: {
      const auto& r = c.reduce_lr_on_plateau();
      const std::string path = at + "reduce_lr_on_plateau.";
      if (auto s = CheckRange(path + "factor", r.factor(), 0, 1, false,
                              "it must be in [0, 1) (0 or unset: 0.1)");
          !s.ok()) {
        return s;
      }
      if (auto s = CheckCount(path + "patience", r.patience(), "10 epochs");
          !s.ok()) {
        return s;
      }
      if (auto s = CheckRange(
              path + "min_lr", r.min_lr(), 0, kMaxLearningRate, true,
              absl::StrCat("it must be in [0, ", kMaxLearningRate, "]"));
          !s.ok()) {
        return s;
      }
      return CheckRange(path + "min_delta", r.min_delta(), 0, HUGE_VAL, false,
                        "it must be a finite number >= 0 (0 or unset: 1e-4)");
    }
    case CallbackDef::KIND_NOT_SET:
      return absl::InvalidArgumentError(
          absl::StrCat("training.callback[", i,
                       "] is empty: give early_stopping or "
                       "reduce_lr_on_plateau"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckModelSettings(const ModelDef& def) {
  const TrainingDef& t = def.training();
  if (auto s = CheckCount("training.epochs", t.epochs(), "1"); !s.ok()) {
    return s;
  }
  if (auto s = CheckCount("training.batch_size", t.batch_size(), "32");
      !s.ok()) {
    return s;
  }
  if (auto s = CheckRange("training.validation_split", t.validation_split(), 0,
                          1, false, "it must be in [0, 1)");
      !s.ok()) {
    return s;
  }
  if (auto s = CheckOptimizer(t.optimizer()); !s.ok()) return s;
  for (int i = 0; i < t.callback_size(); ++i) {
    if (auto s = CheckCallback(t.callback(i), i); !s.ok()) return s;
  }
  // As in Keras: ReduceLROnPlateau sets the rate, a schedule computes it.
  const OptimizerDef::Schedule& schedule = t.optimizer().schedule();
  if (schedule.warmup_steps() > 0 || schedule.has_cosine() ||
      schedule.has_exponential()) {
    for (int i = 0; i < t.callback_size(); ++i) {
      if (t.callback(i).has_reduce_lr_on_plateau()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "training.callback[", i,
            "].reduce_lr_on_plateau cannot be combined with "
            "training.optimizer.schedule (the schedule sets the learning "
            "rate); drop one of them"));
      }
    }
  }
  // The data sets feed token ids.
  for (const InputDef& in : def.graph().input()) {
    if (in.name() == def.features_input() && in.dtype() != DT_INT32) {
      return absl::InvalidArgumentError(absl::StrCat(
          "features_input '", in.name(), "' is a graph input of dtype ",
          DataType_Name(in.dtype()),
          ", but it is fed token ids: make its dtype DT_INT32"));
    }
  }
  const TextDatasetDef& d = def.dataset();
  if (d.num_words() != 0 && d.num_words() <= 3) {
    return Bad("dataset.num_words", absl::StrCat(d.num_words()),
               "it must be > 3 (ids 0-2 are padding, start and "
               "out-of-vocabulary)");
  }
  if (d.max_len() < 0) {
    return Bad("dataset.max_len", absl::StrCat(d.max_len()),
               "it must be positive");
  }
  if (d.max_len() > kMaxSequenceLength) {
    return Bad("dataset.max_len", absl::StrCat(d.max_len()),
               absl::StrCat("no review is that long (a review has at most 64 "
                            "MiB, so at most ",
                            kMaxSequenceLength, " tokens)"));
  }
  if (auto s = CheckCount("dataset.train_limit", d.train_limit(), "all");
      !s.ok()) {
    return s;
  }
  if (auto s = CheckCount("dataset.test_limit", d.test_limit(), "all");
      !s.ok()) {
    return s;
  }
  return CheckRange("dataset.test_split", d.test_split(), 0, 1, false,
                    "it must be in [0, 1) (0 or unset: 0.2)");
}

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
