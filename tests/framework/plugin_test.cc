#include "framework/plugin.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "absl/strings/str_cat.h"
#include "framework/testing/op_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loom::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const char kDir[] = "tests/framework/";

TEST(PluginTest, LoadsAndRunsAnOp) {
  OpRegistry registry;
  const std::string path = std::string(kDir) + "libtest_plugin.so";
  ASSERT_TRUE(LoadPlugin(path, &registry).ok());
  const OpDef* square = registry.Find("Square");
  ASSERT_NE(square, nullptr);
  EXPECT_EQ(square->source, path);
  auto out = RunOp(
      registry,
      {"Square", {}, {Tensor::FromVector({3}, std::vector<float>{1, -2, 3})}});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)[0].f32()[0], 1);
  EXPECT_EQ((*out)[0].f32()[1], 4);
  EXPECT_EQ((*out)[0].f32()[2], 9);
  auto report =
      CheckGradients(registry, {"Square", {}, {RandomTensor({5}, 3)}});
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok) << report->worst;
}

TEST(PluginTest, LoadingTwiceIsADuplicate) {
  OpRegistry registry;
  const std::string path = std::string(kDir) + "libtest_plugin.so";
  ASSERT_TRUE(LoadPlugin(path, &registry).ok());
  absl::Status s = LoadPlugin(path, &registry);
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(s.message()), HasSubstr("'Square'"));
}

TEST(PluginTest, WrongAbiVersionIsRefusedNamingBothVersions) {
  OpRegistry registry;
  absl::Status s =
      LoadPlugin(std::string(kDir) + "libwrong_abi_plugin.so", &registry);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(
      std::string(s.message()),
      HasSubstr(absl::StrCat("ABI version ", kLoomPluginAbiVersion + 41)));
  EXPECT_THAT(std::string(s.message()),
              HasSubstr(absl::StrCat("this Loom has ABI version ",
                                     kLoomPluginAbiVersion)));
  EXPECT_EQ(registry.Find("Square"), nullptr);
}

TEST(PluginTest, PluginThatFailsHalfwayRegistersNothing) {
  OpRegistry registry;
  const std::string path = std::string(kDir) + "libfails_halfway_plugin.so";
  absl::Status s = LoadPlugin(path, &registry);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr(path));
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("cannot register op 'Broken'"));
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("none of its ops were registered"));
  // Square, registered before the failure, was taken back...
  EXPECT_EQ(registry.Find("Square"), nullptr);
  EXPECT_EQ(registry.Find("Broken"), nullptr);
  // ...so a working plugin with the same op still loads.
  EXPECT_TRUE(
      LoadPlugin(std::string(kDir) + "libtest_plugin.so", &registry).ok());
  EXPECT_NE(registry.Find("Square"), nullptr);
}

TEST(PluginTest, FailedLoadKeepsOpsRegisteredBefore) {
  OpRegistry registry;
  ASSERT_TRUE(
      LoadPlugin(std::string(kDir) + "libtest_plugin.so", &registry).ok());
  // The second plugin fails at its first op (Square again): the first
  // plugin's Square must survive.
  absl::Status s =
      LoadPlugin(std::string(kDir) + "libfails_halfway_plugin.so", &registry);
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists);
  const OpDef* square = registry.Find("Square");
  ASSERT_NE(square, nullptr);
  EXPECT_EQ(square->source, std::string(kDir) + "libtest_plugin.so");
}

TEST(PluginTest, SharedObjectWithoutEntryPointIsRefused) {
  OpRegistry registry;
  absl::Status s =
      LoadPlugin(std::string(kDir) + "libno_entry_plugin.so", &registry);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("is not a Loom plugin: it has no 'loom_plugin_entry'"));
}

TEST(PluginTest, FileThatIsNotASharedObjectIsRefused) {
  const std::string path =
      std::string(getenv("TEST_TMPDIR")) + "/not_a_library.so";
  std::ofstream(path) << "just text\n";
  OpRegistry registry;
  absl::Status s = LoadPlugin(path, &registry);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(s.message()), HasSubstr("cannot load plugin"));
  EXPECT_THAT(std::string(s.message()), HasSubstr(path));
}

// A truncated .so crashed the host with SIGBUS inside dlopen(), which maps
// segments past the end of the file: the ELF headers are checked against
// the file's size first (issue 13).
TEST(PluginTest, TruncatedSharedObjectIsRefusedBeforeDlopen) {
  std::ifstream in(std::string(kDir) + "libtest_plugin.so", std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)),
                          std::istreambuf_iterator<char>());
  ASSERT_GT(bytes.size(), 4096u);
  for (size_t size : {size_t{20}, size_t{100}, size_t{4096}, bytes.size() / 2,
                      bytes.size() - 1}) {
    const std::string path =
        absl::StrCat(getenv("TEST_TMPDIR"), "/libtruncated_", size, ".so");
    std::ofstream(path, std::ios::binary) << bytes.substr(0, size);
    OpRegistry registry;
    absl::Status s = LoadPlugin(path, &registry);
    EXPECT_THAT(std::string(s.message()),
                HasSubstr(absl::StrCat("cannot load plugin ", path,
                                       ": the file is truncated or damaged: ")))
        << size;
    EXPECT_THAT(std::string(s.message()),
                HasSubstr(absl::StrCat("but the file has ", size, " bytes")));
    EXPECT_EQ(registry.Find("Square"), nullptr);
  }
}

TEST(PluginTest, FifoIsRefusedWithoutBlocking) {
  const std::string path = std::string(getenv("TEST_TMPDIR")) + "/libfifo.so";
  ASSERT_EQ(mkfifo(path.c_str(), 0600), 0);
  OpRegistry registry;
  EXPECT_THAT(std::string(LoadPlugin(path, &registry).message()),
              HasSubstr("cannot load plugin " + path + ": not a regular file"));
}

TEST(PluginTest, MissingFileIsRefused) {
  OpRegistry registry;
  absl::Status s = LoadPlugin("/nonexistent/libnothing.so", &registry);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("cannot load plugin /nonexistent/libnothing.so"));
  // A path with a '/' gets no word about the current folder.
  EXPECT_THAT(std::string(s.message()), Not(HasSubstr("current folder")));
}

// Runs the test in `dir`, then goes back where it was.
class InFolder {
 public:
  explicit InFolder(const std::string& dir)
      : before_(std::filesystem::current_path()) {
    std::filesystem::current_path(dir);
  }
  ~InFolder() { std::filesystem::current_path(before_); }

 private:
  std::filesystem::path before_;
};

// --plugin=libx.so means the libx.so in the current folder, though
// dlopen() alone would look only on the system library path.
TEST(PluginTest, BareNameIsFoundInTheCurrentFolder) {
  OpRegistry registry;
  {
    InFolder in(kDir);
    absl::Status s = LoadPlugin("libtest_plugin.so", &registry);
    ASSERT_TRUE(s.ok()) << s;
  }
  const OpDef* square = registry.Find("Square");
  ASSERT_NE(square, nullptr);
  EXPECT_EQ(square->source, "./libtest_plugin.so");
}

TEST(PluginTest, BareNameErrorsNameTheFileLoaded) {
  InFolder in(kDir);
  OpRegistry registry;
  absl::Status s = LoadPlugin("libno_entry_plugin.so", &registry);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("./libno_entry_plugin.so is not a Loom plugin"));
}

TEST(PluginTest, BareNameFoundNowhereSaysWhereItLooked) {
  OpRegistry registry;
  absl::Status s = LoadPlugin("libloom_no_such_plugin.so", &registry);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  const std::string message(s.message());
  EXPECT_THAT(message,
              HasSubstr("cannot load plugin libloom_no_such_plugin.so"));
  EXPECT_THAT(message,
              HasSubstr(absl::StrCat("looked for in the current folder, ",
                                     std::filesystem::current_path().string(),
                                     ", then on the system library path")));
  EXPECT_THAT(message, HasSubstr("--plugin=path/to/libloom_no_such_plugin.so"));
}

// A bare name that is not in the current folder is still looked up on the
// system library path, as before: libm is found there (and refused, since
// it is no plugin).
TEST(PluginTest, BareNameNotInTheCurrentFolderUsesTheSystemPath) {
  OpRegistry registry;
  ASSERT_FALSE(std::filesystem::exists("libm.so.6"));
  absl::Status s = LoadPlugin("libm.so.6", &registry);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("libm.so.6 is not a Loom plugin"));
}

}  // namespace
}  // namespace loom::testing
