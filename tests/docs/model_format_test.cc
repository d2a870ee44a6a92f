// docs/MODEL_FORMAT.md cannot go stale: it must be exactly what
// tools/model_format writes now (so a proto field or an op added without
// regenerating fails here), it must describe every message and field
// loom.ModelDef reaches (checked against the compiled-in descriptors, not
// the generator's own walk), and the generator must refuse a schema
// declaration that has no comment.
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "framework/proto/model.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "gtest/gtest.h"

namespace loom {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

namespace pb = ::google::protobuf;

// Paths in the test's runfiles, the top of the tree.
const char kTool[] = "tools/model_format";
const char kDoc[] = "docs/MODEL_FORMAT.md";
const char kUndocumented[] = "tests/docs/undocumented_descriptors.pb";
const char kRegenerate[] =
    "bazel run //tools:model_format > docs/MODEL_FORMAT.md";

struct Result {
  int exit_code = -1;
  std::string out;  // Standard output.
  std::string err;  // Standard error.
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// Runs the generator with `args` (a shell command line's tail).
Result RunTool(const std::string& args) {
  Result r;
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string err_path =
      absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/model_format.err");
  const std::string command = absl::StrCat(kTool, " ", args, " 2>", err_path);
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) r.out.append(buf, n);
  const int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.err = ReadFile(err_path);
  return r;
}

// Where two texts first differ, line by line, for the failure message.
std::string FirstDifference(const std::string& want, const std::string& got) {
  std::vector<std::string> a = absl::StrSplit(want, '\n');
  std::vector<std::string> b = absl::StrSplit(got, '\n');
  for (size_t i = 0; i < a.size() || i < b.size(); ++i) {
    const std::string x = i < a.size() ? a[i] : "(end of file)";
    const std::string y = i < b.size() ? b[i] : "(end of output)";
    if (x != y) {
      return absl::StrCat("line ", i + 1, ":\n  generator:   ", x,
                          "\n  checked in:  ", y);
    }
  }
  return "no difference";
}

TEST(ModelFormatTest, CheckedInFileIsWhatTheGeneratorWrites) {
  const Result r = RunTool("");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string checked_in = ReadFile(kDoc);
  ASSERT_FALSE(checked_in.empty()) << kDoc << " is missing or empty";
  EXPECT_TRUE(r.out == checked_in)
      << kDoc << " is not what tools/model_format writes now (a field, "
      << "comment or op changed?). Regenerate it:\n  " << kRegenerate
      << "\nFirst difference, " << FirstDifference(r.out, checked_in);
}

// The anchor the generator gives a message: its name in the package,
// lowercased, '.' as '-'.
std::string Anchor(const pb::Descriptor* m) {
  std::string name = m->full_name().substr(m->file()->package().size() + 1);
  return absl::AsciiStrToLower(absl::StrReplaceAll(name, {{".", "-"}}));
}

void Reach(const pb::Descriptor* m,
           std::vector<const pb::Descriptor*>* messages) {
  for (const pb::Descriptor* seen : *messages) {
    if (seen == m) return;
  }
  messages->push_back(m);
  for (int i = 0; i < m->field_count(); ++i) {
    const pb::FieldDescriptor* f = m->field(i);
    const pb::FieldDescriptor* named =
        f->is_map() ? f->message_type()->map_value() : f;
    if (named->message_type() != nullptr) {
      Reach(named->message_type(), messages);
    }
  }
}

// Independent of the generator's walk: every message ModelDef reaches in
// the compiled-in schema has a section with a row per field.
TEST(ModelFormatTest, EveryFieldModelDefReachesIsDescribed) {
  const std::string doc = ReadFile(kDoc);
  std::vector<const pb::Descriptor*> messages;
  Reach(ModelDef::descriptor(), &messages);
  for (const pb::Descriptor* m : messages) {
    const std::string anchor = absl::StrCat("<a id=\"", Anchor(m), "\"></a>");
    const size_t begin = doc.find(anchor);
    ASSERT_NE(begin, std::string::npos)
        << m->full_name() << " has no section in " << kDoc << "; "
        << kRegenerate;
    size_t end = doc.find("<a id=", begin + anchor.size());
    if (end == std::string::npos) end = doc.size();
    const std::string section = doc.substr(begin, end - begin);
    for (int i = 0; i < m->field_count(); ++i) {
      const pb::FieldDescriptor* f = m->field(i);
      EXPECT_TRUE(absl::StrContains(
          section, absl::StrCat("| `", f->name(), "` | ", f->number(), " | ")))
          << f->full_name() << " is not described in " << kDoc << "; "
          << kRegenerate;
    }
  }
}

// What the issue asked for by name: initializers, data set and training
// fields, callbacks, optimizers, and the ops (built-in and plugins').
TEST(ModelFormatTest, NamesWhatModelWritersLookFor) {
  const std::string doc = ReadFile(kDoc);
  for (const char* heading :
       {"### InitializerDef.Ones", "### InitializerDef.Constant",
        "### InitializerDef.Segments", "### InitializerDef.Orthogonal",
        "### TextDatasetDef", "### TrainingDef", "### CallbackDef",
        "### EarlyStoppingDef", "### ReduceLrOnPlateauDef",
        "### OptimizerDef.Adam", "### OptimizerDef.Sgd",
        "### TextDatasetDef.Padding (enum)", "### Dense", "### LSTM",
        "### Embedding", "### GRU", "### Conv1D", "### MaxPooling1D"}) {
    EXPECT_THAT(doc, HasSubstr(absl::StrCat("\n", heading, "\n"))) << heading;
  }
  EXPECT_THAT(doc, HasSubstr("From: plugin `libloom_gru.so`."));
  EXPECT_THAT(doc, HasSubstr("| `units` | int | required | "));
  EXPECT_THAT(doc, HasSubstr("| `direction` | string | `\"forward\"` | "));
  // Every op, input, output and attribute of the registry has a doc.
  EXPECT_THAT(doc, Not(HasSubstr("*(no doc)*")));
}

TEST(ModelFormatTest, RefusesUndocumentedDeclarations) {
  const Result r = RunTool(absl::StrCat("--descriptor_set=", kUndocumented,
                                        " --root=loomtest.Model --ops=false"));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(r.err, HasSubstr("4 declarations of the schema have no "
                               "comment"));
  EXPECT_THAT(r.err, HasSubstr("  loomtest.Model.no_comment (field)\n"));
  EXPECT_THAT(r.err, HasSubstr("  loomtest.Inner (message)\n"));
  EXPECT_THAT(r.err, HasSubstr("  loomtest.Inner.x (field)\n"));
  EXPECT_THAT(r.err, HasSubstr("  loomtest.B (enum value)\n"));
  EXPECT_THAT(r.err, Not(HasSubstr("documented (field)")));
  EXPECT_THAT(r.err, Not(HasSubstr("Unreached")));
}

TEST(ModelFormatTest, UnknownRootIsAnError) {
  const Result r = RunTool(absl::StrCat("--descriptor_set=", kUndocumented,
                                        " --root=loomtest.Nothing"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("no message loomtest.Nothing"));
}

}  // namespace
}  // namespace loom
