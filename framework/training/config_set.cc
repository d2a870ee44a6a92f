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
#include "framework/status_macros.h"
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

// The index of "name[*]": every element.
constexpr int kEveryElement = -2;

// "callback[2]" -> ("callback", 2); "callback[*]" -> ("callback",
// kEveryElement); "epochs" -> ("epochs", -1).
absl::Status SplitIndex(absl::string_view part, std::string* name, int* index) {
  *index = -1;
  const size_t open = part.find('[');
  if (open == absl::string_view::npos) {
    *name = std::string(part);
    return absl::OkStatus();
  }
  *name = std::string(part.substr(0, open));
  absl::string_view rest = part.substr(open + 1);
  if (rest == "*]") {
    *index = kEveryElement;
    return absl::OkStatus();
  }
  if (rest.empty() || rest.back() != ']' ||
      !absl::SimpleAtoi(rest.substr(0, rest.size() - 1), index) || *index < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", part, "' is not field[index] or field[*]"));
  }
  return absl::OkStatus();
}

// The field `name` of `msg`; a oneof's name gives its selected case, its
// first if none is selected. Null if there is neither.
const FieldDescriptor* FindField(const Message& msg, const std::string& name) {
  const Descriptor* d = msg.GetDescriptor();
  if (const FieldDescriptor* f = d->FindFieldByName(name)) return f;
  const google::protobuf::OneofDescriptor* oneof = d->FindOneofByName(name);
  if (oneof == nullptr || oneof->field_count() == 0) return nullptr;
  const FieldDescriptor* selected =
      msg.GetReflection()->GetOneofFieldDescriptor(msg, oneof);
  return selected != nullptr ? selected : oneof->field(0);
}

// Whether the list element `msg` holds the path part `part`: not when it
// names a member of a oneof that selects another case (or none).
bool Holds(const Message& msg, absl::string_view part) {
  const std::string name(part.substr(0, part.find('[')));
  const FieldDescriptor* f = msg.GetDescriptor()->FindFieldByName(name);
  if (f == nullptr || f->real_containing_oneof() == nullptr) return true;
  return msg.GetReflection()->HasField(msg, f);
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

// Sets `value` at the path parts[i...] below `msg`, which the path so far
// (`at`: "training.callback[0]") names; appends the plain paths of the
// fields set to `set`. With `grow`, a list that "[*]" walks through gets an
// element if it has none, and every element is taken as holding the path.
absl::Status SetAt(Message* msg, const std::vector<std::string>& parts,
                   size_t i, const std::string& at, const std::string& value,
                   bool grow, std::vector<std::string>* set) {
  std::string name;
  int index;
  LOOM_RETURN_IF_ERROR(SplitIndex(parts[i], &name, &index));
  const Descriptor* d = msg->GetDescriptor();
  const FieldDescriptor* f = FindField(*msg, name);
  if (f == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        d->name(), " has no field '", name, "'; its fields: ", FieldNames(*d)));
  }
  const std::string here = absl::StrCat(at, ".", f->name());
  const Reflection* r = msg->GetReflection();
  const bool last = i + 1 == parts.size();
  if (f->is_repeated()) {
    if (index == -1) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", name, "' is a list: name an element, as ", name,
                       "[0], or ", name, "[*] for every one"));
    }
    const bool ints = f->cpp_type() == FieldDescriptor::CPPTYPE_INT32;
    const bool strings = f->cpp_type() == FieldDescriptor::CPPTYPE_STRING;
    if (last && (ints || strings) && index >= 0) {
      // A list of integers (training.bucket_by_length.boundary) or strings
      // (training.warm_start.parameters): an element, or the one past the
      // end appended.
      const int size = r->FieldSize(*msg, f);
      int32_t v = 0;
      if (ints && !absl::SimpleAtoi(value, &v)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "'", here, "[", index, "]' takes an integer, got '", value, "'"));
      }
      if (index > size) {
        return absl::InvalidArgumentError(
            absl::StrCat("'", name, "' has ", size, " element(s); no [", index,
                         "] to set (", name, "[", size, "] adds one)"));
      }
      if (index == size && ints) {
        r->AddInt32(msg, f, v);
      } else if (index == size) {
        r->AddString(msg, f, value);
      } else if (ints) {
        r->SetRepeatedInt32(msg, f, index, v);
      } else {
        r->SetRepeatedString(msg, f, index, value);
      }
      set->push_back(here);
      return absl::OkStatus();
    }
    if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE || last) {
      return absl::InvalidArgumentError(absl::StrCat(
          "setting an element of the list '", name, "' is not supported"));
    }
    if (index == kEveryElement && grow && r->FieldSize(*msg, f) == 0) {
      r->AddMessage(msg, f);
    }
    const int size = r->FieldSize(*msg, f);
    if (index == kEveryElement) {
      for (int k = 0; k < size; ++k) {
        Message* element = r->MutableRepeatedMessage(msg, f, k);
        if (!grow && !Holds(*element, parts[i + 1])) continue;
        LOOM_RETURN_IF_ERROR(SetAt(element, parts, i + 1,
                                   absl::StrCat(here, "[", k, "]"), value, grow,
                                   set));
      }
      return absl::OkStatus();
    }
    // The index one past the end appends an element (a callback the model
    // file does not have); further ones are refused.
    if (index == size) r->AddMessage(msg, f);
    if (index >= r->FieldSize(*msg, f)) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", name, "' has ", size, " element(s); no [", index,
                       "] to set (", name, "[", size, "] adds one)"));
    }
    return SetAt(r->MutableRepeatedMessage(msg, f, index), parts, i + 1,
                 absl::StrCat(here, "[", index, "]"), value, grow, set);
  }
  if (index != -1) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", name, "' is not a list; drop the ",
                     parts[i].substr(parts[i].find('['))));
  }
  if (last) {
    LOOM_RETURN_IF_ERROR(SetScalar(msg, f, value));
    set->push_back(here);
    return absl::OkStatus();
  }
  if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", name, "' is a value, not a message: the path ", "must end there"));
  }
  return SetAt(r->MutableMessage(msg, f), parts, i + 1, here, value, grow, set);
}

absl::Status Set(const std::string& path, const std::string& value, bool grow,
                 ModelDef* def, std::vector<std::string>* set) {
  std::vector<std::string> parts = absl::StrSplit(path, '.');
  if (parts[0] != "dataset" && parts[0] != "training") {
    return absl::InvalidArgumentError(
        parts[0] == "graph"
            ? "the graph is the model, not a setting: edit the .pbtxt"
            : "a path starts with 'dataset.' or 'training.'");
  }
  const FieldDescriptor* top = def->GetDescriptor()->FindFieldByName(parts[0]);
  if (parts.size() == 1) {
    return SetScalar(def, top, value);  // "is a message; name one of ...".
  }
  return SetAt(def->GetReflection()->MutableMessage(def, top), parts, 1,
               parts[0], value, grow, set);
}

// The longest sequence a review can give: a review has at most 64 MiB
// (kMaxRecordBytes of the readers), a token and a separator at least two
// bytes.
constexpr int64_t kMaxSequenceLength = (int64_t{64} << 20) / 2;

// The checks of CheckModelSettings, naming each field as the command line
// gave it (GivenSettings), else by its path.
class SettingsChecker {
 public:
  explicit SettingsChecker(const GivenSettings& given) : given_(given) {}

  // Whether the command line gave the field.
  bool Given(absl::string_view path) const { return given_.contains(path); }

  absl::Status Bad(absl::string_view path, absl::string_view value,
                   absl::string_view rule) const {
    auto it = given_.find(path);
    const absl::string_view name = it != given_.end() ? it->second : path;
    return absl::InvalidArgumentError(
        absl::StrCat(name, " is ", value, ": ", rule));
  }

  // A count: >= 0, 0 meaning `zero` ("the default", "all").
  absl::Status Count(absl::string_view path, int64_t value,
                     absl::string_view zero) const {
    if (value >= 0) return absl::OkStatus();
    return Bad(path, absl::StrCat(value),
               absl::StrCat("it must be >= 0 (0 or unset: ", zero, ")"));
  }

  // A size given on the command line: > 0 (the model file's 0 means a
  // default, which an explicit 0 would silently ask for).
  absl::Status Positive(absl::string_view path, int64_t value) const {
    if (value > 0) return absl::OkStatus();
    return Bad(path, absl::StrCat(value), "it must be positive");
  }

  absl::Status Finite(absl::string_view path, double value) const {
    if (std::isfinite(value)) return absl::OkStatus();
    return Bad(path, absl::StrCat(value), "it must be a finite number");
  }

  // A float in [low, high) (or [low, high] with `closed`); NaN never is.
  absl::Status Range(absl::string_view path, double value, double low,
                     double high, bool closed, absl::string_view what) const {
    if (value >= low && (value < high || (closed && value == high))) {
      return absl::OkStatus();
    }
    return Bad(path, absl::StrCat(value), what);
  }

  // In (0, kMaxLearningRate]; 0 in the model file is the optimizer's
  // `default_rate`.
  absl::Status LearningRate(absl::string_view path, float value,
                            absl::string_view default_rate) const {
    const std::string rule =
        absl::StrCat("a learning rate must be a finite number in (0, ",
                     kMaxLearningRate, "]");
    if (Given(path)) {
      if (value > 0 && value <= kMaxLearningRate) return absl::OkStatus();
      return Bad(path, absl::StrCat(value), rule);
    }
    return Range(path, value, 0, kMaxLearningRate, true,
                 absl::StrCat(rule, " (0 or unset: ", default_rate, ")"));
  }

 private:
  const GivenSettings& given_;
};

// Clipping and the schedule, shared by the optimizers.
absl::Status CheckOptimizerShared(const SettingsChecker& c,
                                  const OptimizerDef& o) {
  for (const auto& [field, value] :
       {std::pair<const char*, float>{"clipnorm", o.clipnorm()},
        {"global_clipnorm", o.global_clipnorm()}}) {
    LOOM_RETURN_IF_ERROR(c.Range(absl::StrCat("training.optimizer.", field),
                                 value, 0, HUGE_VAL, false,
                                 "it must be a finite number >= 0 (0 or "
                                 "unset: no clipping)"));
  }
  const OptimizerDef::Schedule& s = o.schedule();
  LOOM_RETURN_IF_ERROR(c.Count("training.optimizer.schedule.warmup_steps",
                               s.warmup_steps(), "no warmup"));
  if (s.has_cosine()) {
    if (s.cosine().decay_steps() <= 0) {
      return c.Bad("training.optimizer.schedule.cosine.decay_steps",
                   absl::StrCat(s.cosine().decay_steps()), "it must be > 0");
    }
    LOOM_RETURN_IF_ERROR(c.Range("training.optimizer.schedule.cosine.alpha",
                                 s.cosine().alpha(), 0, 1, true,
                                 "it must be in [0, 1]"));
  }
  if (s.has_exponential()) {
    if (s.exponential().decay_steps() <= 0) {
      return c.Bad("training.optimizer.schedule.exponential.decay_steps",
                   absl::StrCat(s.exponential().decay_steps()),
                   "it must be > 0");
    }
    const float rate = s.exponential().decay_rate();
    if (!(rate > 0 && rate <= 1)) {
      return c.Bad("training.optimizer.schedule.exponential.decay_rate",
                   absl::StrCat(rate), "it must be in (0, 1]");
    }
  }
  return absl::OkStatus();
}

absl::Status CheckOptimizer(const SettingsChecker& c, const OptimizerDef& o) {
  LOOM_RETURN_IF_ERROR(CheckOptimizerShared(c, o));
  if (o.has_sgd()) {
    const auto& s = o.sgd();
    LOOM_RETURN_IF_ERROR(c.LearningRate("training.optimizer.sgd.learning_rate",
                                        s.learning_rate(), "0.01"));
    return c.Range("training.optimizer.sgd.momentum", s.momentum(), 0, 1, false,
                   "it must be in [0, 1)");
  }
  const auto& a = o.adam();
  LOOM_RETURN_IF_ERROR(c.LearningRate("training.optimizer.adam.learning_rate",
                                      a.learning_rate(), "0.001"));
  for (const auto& [field, value] :
       {std::pair<const char*, float>{"beta_1", a.beta_1()},
        {"beta_2", a.beta_2()}}) {
    LOOM_RETURN_IF_ERROR(c.Range(
        absl::StrCat("training.optimizer.adam.", field), value, 0, 1, false,
        "it must be in [0, 1) (0 or unset: Keras' "
        "default)"));
  }
  LOOM_RETURN_IF_ERROR(
      c.Range("training.optimizer.adam.weight_decay", a.weight_decay(), 0, 1,
              false, "it must be in [0, 1) (0 or unset: plain Adam)"));
  return c.Range("training.optimizer.adam.epsilon", a.epsilon(), 0, 1, true,
                 "it must be in [0, 1] (0 or unset: 1e-7)");
}

absl::Status CheckCallback(const SettingsChecker& c, const CallbackDef& cb,
                           int i) {
  const std::string at = absl::StrCat("training.callback[", i, "].");
  switch (cb.kind_case()) {
    case CallbackDef::kEarlyStopping: {
      const auto& e = cb.early_stopping();
      const std::string path = at + "early_stopping.";
      LOOM_RETURN_IF_ERROR(
          c.Count(path + "patience", e.patience(), "0 epochs"));
      return c.Finite(path + "min_delta", e.min_delta());
    }
    case CallbackDef::kReduceLrOnPlateau: {
      const auto& r = cb.reduce_lr_on_plateau();
      const std::string path = at + "reduce_lr_on_plateau.";
      LOOM_RETURN_IF_ERROR(c.Range(path + "factor", r.factor(), 0, 1, false,
                                   "it must be in [0, 1) (0 or unset: 0.1)"));
      LOOM_RETURN_IF_ERROR(
          c.Count(path + "patience", r.patience(), "10 epochs"));
      LOOM_RETURN_IF_ERROR(
          c.Range(path + "min_lr", r.min_lr(), 0, kMaxLearningRate, true,
                  absl::StrCat("it must be in [0, ", kMaxLearningRate, "]")));
      return c.Range(path + "min_delta", r.min_delta(), 0, HUGE_VAL, false,
                     "it must be a finite number >= 0 (0 or unset: 1e-4)");
    }
    case CallbackDef::kAverageWeights:
      LOOM_RETURN_IF_ERROR(c.Count(at + "average_weights.start_epoch",
                                   cb.average_weights().start_epoch(),
                                   "epoch 1"));
      return c.Count(at + "average_weights.every_steps",
                     cb.average_weights().every_steps(), "once per epoch");
    case CallbackDef::KIND_NOT_SET:
      return absl::InvalidArgumentError(
          absl::StrCat("training.callback[", i,
                       "] is empty: give early_stopping, "
                       "reduce_lr_on_plateau or average_weights"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckModelSettings(const ModelDef& def,
                                const GivenSettings& given) {
  const SettingsChecker c(given);
  const TrainingDef& t = def.training();
  // Given on the command line, 0 epochs train none (evaluating the
  // initial weights).
  if (c.Given("training.epochs")) {
    if (t.epochs() < 0) {
      return c.Bad("training.epochs", absl::StrCat(t.epochs()),
                   "it must be >= 0");
    }
  } else {
    LOOM_RETURN_IF_ERROR(c.Count("training.epochs", t.epochs(), "1"));
  }
  LOOM_RETURN_IF_ERROR(
      c.Given("training.batch_size")
          ? c.Positive("training.batch_size", t.batch_size())
          : c.Count("training.batch_size", t.batch_size(), "32"));
  LOOM_RETURN_IF_ERROR(c.Range("training.validation_split",
                               t.validation_split(), 0, 1, false,
                               "it must be in [0, 1)"));
  LOOM_RETURN_IF_ERROR(CheckOptimizer(c, t.optimizer()));
  for (int i = 0; i < t.callback_size(); ++i) {
    LOOM_RETURN_IF_ERROR(CheckCallback(c, t.callback(i), i));
  }
  if (t.has_bucket_by_length()) {
    const BucketByLengthDef& b = t.bucket_by_length();
    if ((b.buckets() != 0) == (b.boundary_size() > 0)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "training.bucket_by_length needs exactly one of buckets (a count) "
          "and boundary (lengths), ",
          b.buckets() != 0 ? "both are set" : "neither is set"));
    }
    if (b.boundary_size() == 0 && (b.buckets() < 1 || b.buckets() > 1000)) {
      return c.Bad("training.bucket_by_length.buckets",
                   absl::StrCat(b.buckets()), "it must be in [1, 1000]");
    }
    for (int i = 0; i < b.boundary_size(); ++i) {
      if (b.boundary(i) <= 0 || (i > 0 && b.boundary(i) <= b.boundary(i - 1))) {
        return c.Bad(
            absl::StrCat("training.bucket_by_length.boundary[", i, "]"),
            absl::StrCat(b.boundary(i)),
            "the boundaries must be positive and increasing");
      }
    }
    if (def.no_length_trimming()) {
      return absl::InvalidArgumentError(
          "training.bucket_by_length cuts batches to their longest row, "
          "which no_length_trimming: true turns off; drop one of them");
    }
  }
  // Weight averaging chooses the final weights, as restore_best_weights
  // does: one of them.
  for (int i = 0; i < t.callback_size(); ++i) {
    if (!t.callback(i).has_average_weights()) continue;
    for (int j = 0; j < t.callback_size(); ++j) {
      if (t.callback(j).early_stopping().restore_best_weights()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "training.callback[", i, "].average_weights and training.callback[",
            j,
            "].early_stopping.restore_best_weights both choose the final "
            "weights; keep one"));
      }
    }
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
  if ((d.num_words() != 0 || c.Given("dataset.num_words")) &&
      d.num_words() <= 3) {
    return c.Bad("dataset.num_words", absl::StrCat(d.num_words()),
                 "it must be > 3 (ids 0-2 are padding, start and "
                 "out-of-vocabulary)");
  }
  if (d.max_len() < 0 || (d.max_len() == 0 && c.Given("dataset.max_len"))) {
    return c.Bad("dataset.max_len", absl::StrCat(d.max_len()),
                 "it must be positive");
  }
  if (d.max_len() > kMaxSequenceLength) {
    return c.Bad("dataset.max_len", absl::StrCat(d.max_len()),
                 absl::StrCat("no review is that long (a review has at most 64 "
                              "MiB, so at most ",
                              kMaxSequenceLength, " tokens)"));
  }
  LOOM_RETURN_IF_ERROR(c.Count("dataset.train_limit", d.train_limit(), "all"));
  LOOM_RETURN_IF_ERROR(c.Count("dataset.test_limit", d.test_limit(), "all"));
  return c.Range("dataset.test_split", d.test_split(), 0, 1, false,
                 "it must be in [0, 1) (0 or unset: 0.2)");
}

absl::Status SetConfigValue(const std::string& assignment, ModelDef* def,
                            std::vector<std::string>* paths) {
  const size_t eq = assignment.find('=');
  // Works on a copy, so that a failed assignment changes nothing (walking
  // a path can select a oneof case before a later part fails).
  ModelDef copy = *def;
  std::vector<std::string> set;
  absl::Status s =
      eq == std::string::npos || eq == 0
          ? absl::InvalidArgumentError("expected path=value")
          : Set(assignment.substr(0, eq), assignment.substr(eq + 1),
                /*grow=*/false, &copy, &set);
  if (s.ok()) {
    *def = std::move(copy);
    if (paths != nullptr) paths->insert(paths->end(), set.begin(), set.end());
    return s;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("--set '", assignment, "': ", s.message()));
}

absl::Status CheckSettingValue(const std::string& path,
                               const std::string& value,
                               const std::string& name) {
  ModelDef scratch;
  std::vector<std::string> set;
  absl::Status s = Set(path, value, /*grow=*/true, &scratch, &set);
  if (!s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, "=", value, ": ", s.message()));
  }
  GivenSettings given;
  for (const std::string& p : set) given[p] = name;
  return CheckModelSettings(scratch, given);
}

}  // namespace loom
