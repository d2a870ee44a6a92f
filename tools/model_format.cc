// Writes the model-format reference, docs/MODEL_FORMAT.md, to standard
// output: every message, field, enum and oneof that loom.ModelDef reaches,
// with the comments of the .proto files (read from a descriptor set protoc
// wrote with --include_source_info), and every registered op (built-in and
// the plugins shipped in plugins/) with its signature, inputs, outputs,
// attributes and kernels. Nothing in it is written by hand, so it cannot go
// stale: //tests/docs:model_format_test fails when the checked-in file
// differs from this tool's output, and this tool fails when a message,
// field, enum or enum value has no comment.
//   bazel run //tools:model_format > docs/MODEL_FORMAT.md
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "framework/plugin.h"
#include "framework/proto/model.pb.h"
#include "framework/registry.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "ops/op_library.h"

ABSL_FLAG(std::string, descriptor_set, "",
          "A FileDescriptorSet written by protoc with --include_imports and "
          "--include_source_info. Default: the one built with this tool from "
          "framework/proto/*.proto (tools/model_format_descriptors.pb in its "
          "runfiles).");
ABSL_FLAG(std::string, root, "loom.ModelDef",
          "The message the reference starts from; everything it reaches is "
          "described.");
ABSL_FLAG(std::vector<std::string>, plugin, {},
          "Op plugin shared objects to describe besides the built-in ops, "
          "comma-separated. Default: the plugins shipped in plugins/ (from "
          "this tool's runfiles).");
ABSL_FLAG(bool, ops, true, "Describe the registered ops.");

namespace loom::tools {
namespace {

namespace pb = ::google::protobuf;

constexpr char kWorkspace[] = "loom";
constexpr char kDescriptorSet[] = "tools/model_format_descriptors.pb";
constexpr char kShippedPlugins[] = "plugins";
constexpr char kRegenerate[] =
    "bazel run //tools:model_format > "
    "docs/MODEL_FORMAT.md";

// ---------------------------------------------------------------------------
// Files of the runfiles tree.

// `relative` (a path from the top of Loom's tree) in the runfiles of this
// tool, or of the test that runs it: $RUNFILES_DIR/loom/, then
// <argv[0]>.runfiles/loom/, then the current folder (bazel run and tests
// run in the runfiles' top folder). "" if it is in none of them.
std::string RunfilesPath(const std::string& program,
                         const std::string& relative) {
  std::vector<std::string> roots;
  if (const char* dir = std::getenv("RUNFILES_DIR"); dir && dir[0] != '\0') {
    roots.push_back(absl::StrCat(dir, "/", kWorkspace));
  }
  if (!program.empty()) {
    roots.push_back(absl::StrCat(program, ".runfiles/", kWorkspace));
  }
  roots.push_back(".");
  for (const std::string& root : roots) {
    const std::string path = absl::StrCat(root, "/", relative);
    std::error_code error;
    if (std::filesystem::exists(path, error)) return path;
  }
  return "";
}

// The plugins shipped in plugins/: every lib*.so below it, sorted by path.
std::vector<std::string> ShippedPlugins(const std::string& program) {
  std::vector<std::string> found;
  const std::string dir = RunfilesPath(program, kShippedPlugins);
  if (dir.empty()) return found;
  std::error_code error;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, error);
       !error && it != std::filesystem::recursive_directory_iterator();
       it.increment(error)) {
    const std::string name = it->path().filename().string();
    if (absl::StartsWith(name, "lib") && absl::EndsWith(name, ".so")) {
      found.push_back(it->path().string());
    }
  }
  std::sort(found.begin(), found.end());
  return found;
}

// ---------------------------------------------------------------------------
// Markdown.

// `text` for a Markdown paragraph or table cell. Outside code spans, '<'
// is escaped (so "map<...>" is not taken for HTML), and so are '_' and '*'
// where they could start or end emphasis: '_' unless between two letters
// or digits, '*' unless between two spaces. '|' is escaped everywhere when
// `in_table`.
std::string Escape(const std::string& text, bool in_table) {
  std::string out;
  bool in_code = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const char before = i > 0 ? text[i - 1] : ' ';
    const char after = i + 1 < text.size() ? text[i + 1] : ' ';
    if (c == '`') in_code = !in_code;
    if (c == '|' && in_table) {
      out += "\\|";
    } else if (in_code) {
      out += c;
    } else if (c == '<') {
      out += "&lt;";
    } else if (c == '_' &&
               !(absl::ascii_isalnum(before) && absl::ascii_isalnum(after))) {
      out += "\\_";
    } else if (c == '*' && !(before == ' ' && after == ' ')) {
      out += "\\*";
    } else {
      out += c;
    }
  }
  return out;
}

// A comment's lines as paragraphs: lines are joined with spaces, blank
// lines separate paragraphs.
std::vector<std::string> Paragraphs(const std::string& comment) {
  std::vector<std::string> paragraphs;
  std::string current;
  for (absl::string_view line : absl::StrSplit(comment, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) {
      if (!current.empty()) paragraphs.push_back(current);
      current.clear();
      continue;
    }
    absl::StrAppend(&current, current.empty() ? "" : " ", line);
  }
  if (!current.empty()) paragraphs.push_back(current);
  return paragraphs;
}

std::string OneLine(const std::string& comment) {
  return absl::StrJoin(Paragraphs(comment), " ");
}

// An anchor for a message or enum: its full name without the package,
// lowercased, '.' as '-'.
std::string Anchor(const std::string& full_name, const std::string& package) {
  std::string name(absl::StripPrefix(full_name, absl::StrCat(package, ".")));
  return absl::AsciiStrToLower(absl::StrReplaceAll(name, {{".", "-"}}));
}

// ---------------------------------------------------------------------------
// The schema.

// The comment of a declaration: its leading comment, then its trailing one.
template <typename D>
std::string CommentOf(const D* d) {
  pb::SourceLocation loc;
  if (!d->GetSourceLocation(&loc)) return "";
  std::string out = loc.leading_comments;
  if (!loc.trailing_comments.empty()) {
    if (!out.empty() && out.back() != '\n') out += '\n';
    out += loc.trailing_comments;
  }
  return std::string(absl::StripAsciiWhitespace(out));
}

// The comment at the top of a .proto file: the one before `syntax`.
std::string FileComment(const pb::FileDescriptorProto& file) {
  constexpr int kSyntaxField = 12;  // FileDescriptorProto.syntax
  for (const auto& loc : file.source_code_info().location()) {
    if (loc.path_size() == 1 && loc.path(0) == kSyntaxField) {
      std::string out;
      for (const std::string& detached : loc.leading_detached_comments()) {
        absl::StrAppend(&out, detached, "\n");
      }
      absl::StrAppend(&out, loc.leading_comments());
      return std::string(absl::StripAsciiWhitespace(out));
    }
  }
  return "";
}

class SchemaWriter {
 public:
  explicit SchemaWriter(const pb::Descriptor* root) {
    package_ = root->file()->package();
    Visit(root);
  }

  // What has no comment: "loom.ModelDef.name (field)", ...
  const std::vector<std::string>& undocumented() const { return undocumented_; }
  std::vector<const pb::FileDescriptor*> files() const {
    std::vector<const pb::FileDescriptor*> out;
    for (const auto& entry : order_) {
      const pb::FileDescriptor* f =
          entry.message ? entry.message->file() : entry.enumeration->file();
      if (std::find(out.begin(), out.end(), f) == out.end()) out.push_back(f);
    }
    return out;
  }

  void WriteContents(std::ostream& out) const {
    for (const auto& entry : order_) {
      const std::string& name = entry.message ? entry.message->full_name()
                                              : entry.enumeration->full_name();
      absl::string_view kind = entry.message ? "" : " (enum)";
      out << "  - [" << ShortName(name) << "](#" << Anchor(name, package_)
          << ")" << kind << "\n";
    }
  }

  void WriteTypes(std::ostream& out) const {
    for (const auto& entry : order_) {
      if (entry.message != nullptr) {
        WriteMessage(entry.message, out);
      } else {
        WriteEnum(entry.enumeration, out);
      }
    }
  }

 private:
  struct Entry {
    const pb::Descriptor* message = nullptr;
    const pb::EnumDescriptor* enumeration = nullptr;
  };

  std::string ShortName(const std::string& full_name) const {
    return std::string(
        absl::StripPrefix(full_name, absl::StrCat(package_, ".")));
  }

  void Require(const std::string& comment, const std::string& what) {
    if (comment.empty()) undocumented_.push_back(what);
  }

  // Depth first, in field order: a message, then the types its fields
  // name, each the first time it is reached.
  void Visit(const pb::Descriptor* m) {
    if (!seen_.insert(m->full_name()).second) return;
    order_.push_back({m, nullptr});
    Require(CommentOf(m), absl::StrCat(m->full_name(), " (message)"));
    for (int i = 0; i < m->field_count(); ++i) {
      const pb::FieldDescriptor* f = m->field(i);
      Require(CommentOf(f), absl::StrCat(f->full_name(), " (field)"));
      const pb::FieldDescriptor* named = f;
      if (f->is_map()) named = f->message_type()->map_value();
      if (named->message_type() != nullptr) Visit(named->message_type());
      if (named->enum_type() != nullptr) Visit(named->enum_type());
    }
  }

  void Visit(const pb::EnumDescriptor* e) {
    if (!seen_.insert(e->full_name()).second) return;
    order_.push_back({nullptr, e});
    Require(CommentOf(e), absl::StrCat(e->full_name(), " (enum)"));
    for (int i = 0; i < e->value_count(); ++i) {
      Require(CommentOf(e->value(i)),
              absl::StrCat(e->value(i)->full_name(), " (enum value)"));
    }
  }

  std::string Link(const std::string& full_name) const {
    return absl::StrCat("[", ShortName(full_name), "](#",
                        Anchor(full_name, package_), ")");
  }

  std::string TypeText(const pb::FieldDescriptor* f) const {
    if (f->is_map()) {
      return absl::StrCat("map&lt;", TypeText(f->message_type()->map_key()),
                          ", ", TypeText(f->message_type()->map_value()),
                          "&gt;");
    }
    if (f->message_type() != nullptr) {
      return Link(f->message_type()->full_name());
    }
    if (f->enum_type() != nullptr) return Link(f->enum_type()->full_name());
    return f->type_name();
  }

  void WriteMessage(const pb::Descriptor* m, std::ostream& out) const {
    out << "<a id=\"" << Anchor(m->full_name(), package_) << "\"></a>\n"
        << "### " << ShortName(m->full_name()) << "\n\n"
        << "`" << m->full_name() << "` in `" << m->file()->name() << "`";
    if (m->containing_type() != nullptr) {
      out << ", inside " << Link(m->containing_type()->full_name());
    }
    out << ".\n\n";
    for (const std::string& p : Paragraphs(CommentOf(m))) {
      out << Escape(p, false) << "\n\n";
    }
    if (m->field_count() == 0) {
      out << "No fields: write it empty, as `{}` or `{ }`.\n\n";
      return;
    }
    out << "| Field | Number | Type | Label | Description |\n"
        << "|---|---|---|---|---|\n";
    for (int i = 0; i < m->field_count(); ++i) {
      const pb::FieldDescriptor* f = m->field(i);
      std::string label;
      if (f->is_map()) {
        label = "map";
      } else if (f->is_repeated()) {
        label = "repeated";
      } else if (const pb::OneofDescriptor* o = f->real_containing_oneof()) {
        label = absl::StrCat("oneof `", o->name(), "`");
      }
      out << "| `" << f->name() << "` | " << f->number() << " | " << TypeText(f)
          << " | " << label << " | " << Escape(OneLine(CommentOf(f)), true)
          << " |\n";
    }
    out << "\n";
    for (int i = 0; i < m->real_oneof_decl_count(); ++i) {
      const pb::OneofDescriptor* o = m->oneof_decl(i);
      std::vector<std::string> names;
      for (int j = 0; j < o->field_count(); ++j) {
        names.push_back(absl::StrCat("`", o->field(j)->name(), "`"));
      }
      out << "oneof `" << o->name() << "` (a model file sets one field "
          << "at most): " << absl::StrJoin(names, ", ") << ".";
      const std::string comment = OneLine(CommentOf(o));
      if (!comment.empty()) out << " " << Escape(comment, false);
      out << "\n\n";
    }
  }

  void WriteEnum(const pb::EnumDescriptor* e, std::ostream& out) const {
    out << "<a id=\"" << Anchor(e->full_name(), package_) << "\"></a>\n"
        << "### " << ShortName(e->full_name()) << " (enum)\n\n"
        << "`" << e->full_name() << "` in `" << e->file()->name() << "`";
    if (e->containing_type() != nullptr) {
      out << ", inside " << Link(e->containing_type()->full_name());
    }
    out << ". Written by value name; unset is `" << e->value(0)->name()
        << "`.\n\n";
    for (const std::string& p : Paragraphs(CommentOf(e))) {
      out << Escape(p, false) << "\n\n";
    }
    out << "| Value | Number | Description |\n|---|---|---|\n";
    for (int i = 0; i < e->value_count(); ++i) {
      const pb::EnumValueDescriptor* v = e->value(i);
      out << "| `" << v->name() << "` | " << v->number() << " | "
          << Escape(OneLine(CommentOf(v)), true) << " |\n";
    }
    out << "\n";
  }

  std::string package_;
  std::set<std::string> seen_;
  std::vector<Entry> order_;
  std::vector<std::string> undocumented_;
};

// ---------------------------------------------------------------------------
// Ops.

// How a node writes an attribute of each type in its `attr` map.
std::string AttrSyntax(AttrType type) {
  switch (type) {
    case AttrType::kInt:
      return "`i: 3`";
    case AttrType::kFloat:
      return "`f: 0.5` (or `i: 1`)";
    case AttrType::kString:
      return "`s: \"text\"`";
    case AttrType::kBool:
      return "`b: true`";
    case AttrType::kIntList:
      return "`list { i: 1 i: 2 }`";
    case AttrType::kFloatList:
      return "`list { f: 0.5 f: 1 }` (ints allowed)";
    case AttrType::kStringList:
      return "`list { s: \"a\" s: \"b\" }`";
    case AttrType::kShape:
      return "`shape { dim: -1 dim: 4 }`";
    case AttrType::kTensor:
      return "`tensor { dtype: DT_FLOAT shape { dim: 2 } float_val: 1 "
             "float_val: 2 }`";
  }
  return "";
}

constexpr AttrType kAttrTypes[] = {
    AttrType::kInt,        AttrType::kFloat,   AttrType::kString,
    AttrType::kBool,       AttrType::kIntList, AttrType::kFloatList,
    AttrType::kStringList, AttrType::kShape,   AttrType::kTensor,
};

std::string FloatText(float f) { return absl::StrCat(f); }

// An attribute's default as a model file writes it.
std::string DefaultText(const AttrSpec& spec) {
  if (!spec.default_value.has_value()) return "required";
  const AttrValue& v = *spec.default_value;
  std::string text;
  switch (v.value_case()) {
    case AttrValue::kI:
      text = absl::StrCat(v.i());
      break;
    case AttrValue::kF:
      text = FloatText(v.f());
      break;
    case AttrValue::kS:
      text = absl::StrCat("\"", v.s(), "\"");
      break;
    case AttrValue::kB:
      text = v.b() ? "true" : "false";
      break;
    case AttrValue::kList: {
      std::vector<std::string> items;
      for (int64_t i : v.list().i()) items.push_back(absl::StrCat(i));
      for (float f : v.list().f()) items.push_back(FloatText(f));
      for (const std::string& s : v.list().s()) {
        items.push_back(absl::StrCat("\"", s, "\""));
      }
      for (bool b : v.list().b()) items.push_back(b ? "true" : "false");
      text = absl::StrCat("[", absl::StrJoin(items, ", "), "]");
      break;
    }
    case AttrValue::kShape: {
      std::vector<std::string> dims;
      for (int64_t d : v.shape().dim()) dims.push_back(absl::StrCat(d));
      text = absl::StrCat("[", absl::StrJoin(dims, ", "), "]");
      break;
    }
    case AttrValue::kTensor:
      text = "a tensor";
      break;
    case AttrValue::VALUE_NOT_SET:
      text = "unset";
      break;
  }
  return absl::StrCat("`", text, "`");
}

constexpr char kNoDoc[] = "*(no doc)*";

std::string DocText(const std::string& doc) {
  return doc.empty() ? kNoDoc : Escape(OneLine(doc), true);
}

std::string SourceText(const OpDef& def) {
  if (def.source == "builtin") return "built-in";
  return absl::StrCat(
      "plugin `", std::filesystem::path(def.source).filename().string(), "`");
}

void WriteOp(const OpDef& def, std::ostream& out) {
  const OpSignature& sig = def.signature;
  out << "<a id=\"op-" << absl::AsciiStrToLower(sig.name) << "\"></a>\n"
      << "### " << sig.name << "\n\n"
      << "`" << sig.name << "(" << ArgListText(sig.inputs) << ") -> ("
      << ArgListText(sig.outputs) << ")`\n\n"
      << (sig.doc.empty() ? kNoDoc : Escape(OneLine(sig.doc), false)) << "\n\n";
  std::vector<std::string> kernels;
  for (size_t i = 0; i < def.kernels.size(); ++i) {
    kernels.push_back(absl::StrCat("`", def.kernels[i].name, "`",
                                   i == 0 ? " (default)" : ""));
  }
  out << "From: " << SourceText(def)
      << ". Kernels: " << absl::StrJoin(kernels, ", ") << ". Gradient: "
      << (def.differentiable ? "yes" : "none (not differentiable)") << ".\n\n";
  out << "| Input | Kind | Description |\n|---|---|---|\n";
  if (sig.inputs.empty()) out << "| (none) | | |\n";
  for (const ArgSpec& a : sig.inputs) {
    std::string kind = "required";
    if (a.variadic) {
      kind = absl::StrCat("variadic: ", a.min_count, " or more, `", a.name,
                          "_0`, `", a.name, "_1`, ...");
    } else if (a.optional) {
      kind = "optional";
    }
    out << "| `" << a.name << "` | " << kind << " | " << DocText(a.doc)
        << " |\n";
  }
  if (!def.params.empty()) {
    out << "\nParameters the op creates for a node that leaves them out "
           "(named `<node>/<suffix>`; a parameter of that name declared in "
           "the graph overrides one):\n\n"
        << "| Input | Shape and initializer |\n|---|---|\n";
    for (const ParamSpec& p : def.params) {
      out << "| `" << sig.inputs[p.input].name << "` | " << DocText(p.doc)
          << " |\n";
    }
  }
  out << "\n| Output | Description |\n|---|---|\n";
  for (size_t i = 0; i < sig.outputs.size(); ++i) {
    const ArgSpec& a = sig.outputs[i];
    out << "| `" << a.name << "`";
    if (i > 0) out << " (`node:" << i << "`)";
    out << " | " << DocText(a.doc) << " |\n";
  }
  out << "\n";
  if (sig.attrs.empty()) {
    out << "No attributes.\n\n";
    return;
  }
  out << "| Attribute | Type | Default | Description |\n|---|---|---|---|\n";
  for (const AttrSpec& a : sig.attrs) {
    out << "| `" << a.name << "` | " << AttrTypeName(a.type) << " | "
        << DefaultText(a) << " | " << DocText(a.doc) << " |\n";
  }
  out << "\n";
}

void WriteOps(const OpRegistry& registry, std::ostream& out) {
  out << "## Ops\n\n"
      << "The ops a `NodeDef` can name in `op`: the built-in ones and those "
         "of the plugins shipped in `plugins/` (a model that uses a "
         "plugin's op lists the plugin in `required_plugin`). A node lists "
         "its inputs by position; an optional input may be left out at the "
         "end or given as `\"\"` to name a later one. Output 0 of a node is "
         "the value `node`, output k is `node:k`. Attributes are written "
         "`attr { key: \"name\" value { ... } }`; one left out takes its "
         "default, and one marked required must be given. The string "
         "attribute `_kernel` picks a kernel other than the default. An op "
         "with a *Parameters the op creates* table may be given fewer inputs "
         "than its signature requires: the node then lists only its other "
         "inputs, in order, and the graph gets `<node>/<suffix>` parameters "
         "shaped from the attributes and input shapes. `tools/ops` lists "
         "the same ops, with those of any `--plugin`; `tools/graph` prints "
         "a model's graph with its parameters.\n\n"
      << "| Attribute type | Written as (`value { ... }`) |\n|---|---|\n";
  for (AttrType type : kAttrTypes) {
    out << "| " << AttrTypeName(type) << " | " << Escape(AttrSyntax(type), true)
        << " |\n";
  }
  out << "\n";
  const std::vector<const OpDef*> ops = registry.List();
  std::vector<std::string> links;
  for (const OpDef* def : ops) {
    links.push_back(absl::StrCat("[", def->signature.name, "](#op-",
                                 absl::AsciiStrToLower(def->signature.name),
                                 ")"));
  }
  out << absl::StrJoin(links, ", ") << ".\n\n";
  for (const OpDef* def : ops) WriteOp(*def, out);
}

// ---------------------------------------------------------------------------

absl::StatusOr<pb::FileDescriptorSet> ReadDescriptorSet(
    const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  pb::FileDescriptorSet set;
  if (!set.ParseFromIstream(&in)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is not a FileDescriptorSet"));
  }
  return set;
}

// The descriptor set must describe the schema this tool was built with:
// compared file by file, without the source info, with the compiled-in
// descriptors of the files both have.
absl::Status CheckAgainstCompiledSchema(const pb::FileDescriptorSet& set,
                                        const std::string& path) {
  for (pb::FileDescriptorProto file : set.file()) {
    const pb::FileDescriptor* compiled =
        pb::DescriptorPool::generated_pool()->FindFileByName(file.name());
    if (compiled == nullptr) continue;
    pb::FileDescriptorProto expected;
    compiled->CopyTo(&expected);
    compiled->CopyJsonNameTo(&expected);
    file.clear_source_code_info();
    if (file.SerializeAsString() != expected.SerializeAsString()) {
      return absl::FailedPreconditionError(absl::StrCat(
          path, " describes ", file.name(),
          " differently from the schema this tool was built with; rebuild "
          "it"));
    }
  }
  return absl::OkStatus();
}

int Run(const std::string& program) {
  std::string set_path = absl::GetFlag(FLAGS_descriptor_set);
  if (set_path.empty()) set_path = RunfilesPath(program, kDescriptorSet);
  if (set_path.empty()) {
    std::cerr << "model_format: " << kDescriptorSet
              << " is not in this tool's runfiles; run it with bazel run or "
                 "pass --descriptor_set\n";
    return 1;
  }
  auto set = ReadDescriptorSet(set_path);
  if (!set.ok()) {
    std::cerr << "model_format: " << set.status().message() << "\n";
    return 1;
  }
  if (auto s = CheckAgainstCompiledSchema(*set, set_path); !s.ok()) {
    std::cerr << "model_format: " << s.message() << "\n";
    return 1;
  }
  pb::DescriptorPool pool;
  for (const pb::FileDescriptorProto& file : set->file()) {
    if (pool.BuildFile(file) == nullptr) {
      std::cerr << "model_format: cannot build " << file.name() << " of "
                << set_path << "\n";
      return 1;
    }
  }
  const std::string root_name = absl::GetFlag(FLAGS_root);
  const pb::Descriptor* root = pool.FindMessageTypeByName(root_name);
  if (root == nullptr) {
    std::cerr << "model_format: no message " << root_name << " in " << set_path
              << "\n";
    return 1;
  }
  SchemaWriter schema(root);
  if (!schema.undocumented().empty()) {
    std::cerr << "model_format: " << schema.undocumented().size()
              << " declarations of the schema have no comment; say in a "
                 "comment in their .proto file what each means:\n";
    for (const std::string& what : schema.undocumented()) {
      std::cerr << "  " << what << "\n";
    }
    return 1;
  }

  OpRegistry registry;
  if (absl::GetFlag(FLAGS_ops)) {
    if (auto s = RegisterBuiltinOps(&registry); !s.ok()) {
      std::cerr << "model_format: " << s.message() << "\n";
      return 1;
    }
    std::vector<std::string> plugins = absl::GetFlag(FLAGS_plugin);
    if (plugins.empty()) plugins = ShippedPlugins(program);
    for (const std::string& p : plugins) {
      if (auto s = LoadPlugin(p, &registry); !s.ok()) {
        std::cerr << "model_format: " << s.message() << "\n";
        return 1;
      }
    }
  }

  std::ostringstream out;
  out << "# Loom model format reference\n\n"
      << "<!-- Generated by `" << kRegenerate << "` from the .proto files "
      << "and the op registry; do not edit. //tests/docs:model_format_test "
         "fails when this file is not what the generator writes. -->\n\n"
      << "A model file (`.pbtxt`) is a `" << root->full_name()
      << "` in protobuf text format. Fields are written `name: value`, "
         "messages `name { ... }`; a repeated field is written once per "
         "element; an unknown field is an error naming its line. A field "
         "left out has proto3's default: 0, `\"\"`, `false`, the enum's "
         "first value, an empty list; the descriptions say what that "
         "default means where Loom gives it another.\n\n"
      << "This reference is generated from the schema's comments (";
  std::vector<std::string> file_names;
  for (const pb::FileDescriptor* f : schema.files()) {
    file_names.push_back(absl::StrCat("`", f->name(), "`"));
  }
  out << absl::StrJoin(file_names, ", ")
      << ") and from the op registry. To regenerate it:\n\n"
      << "    " << kRegenerate << "\n\n"
      << "## Contents\n\n"
      << "- [Files](#files)\n"
      << "- [Messages and enums](#messages-and-enums)\n";
  schema.WriteContents(out);
  if (absl::GetFlag(FLAGS_ops)) out << "- [Ops](#ops)\n";
  out << "\n## Files\n\n";
  for (const pb::FileDescriptor* f : schema.files()) {
    pb::FileDescriptorProto proto;
    for (const pb::FileDescriptorProto& p : set->file()) {
      if (p.name() == f->name()) proto = p;
    }
    out << "`" << f->name() << "`";
    const std::string comment = FileComment(proto);
    out << (comment.empty() ? "" : ": ");
    std::vector<std::string> paragraphs = Paragraphs(comment);
    out << (paragraphs.empty() ? "" : Escape(paragraphs[0], false)) << "\n\n";
    for (size_t i = 1; i < paragraphs.size(); ++i) {
      out << Escape(paragraphs[i], false) << "\n\n";
    }
  }
  out << "## Messages and enums\n\n"
      << "In the order `" << root->name()
      << "` reaches them, each the first time.\n\n";
  schema.WriteTypes(out);
  if (absl::GetFlag(FLAGS_ops)) WriteOps(registry, out);
  std::string text = out.str();
  while (absl::EndsWith(text, "\n\n")) text.pop_back();
  std::cout << text;
  return std::cout.good() ? 0 : 1;
}

}  // namespace
}  // namespace loom::tools

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      absl::StrCat("Writes Loom's model-format reference (Markdown) to "
                   "standard output:\n  ",
                   loom::tools::kRegenerate));
  absl::ParseCommandLine(argc, argv);
  return loom::tools::Run(argv[0]);
}
