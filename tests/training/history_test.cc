#include "framework/training/history.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "framework/file_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loom {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::Optional;
using ::testing::StartsWith;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

std::string TempDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

// A fresh folder per test.
std::string TestDir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string dir =
      TempDir() + "/" + info->test_suite_name() + "." + info->name();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

std::string ReadOrDie(const std::string& path) {
  absl::StatusOr<std::string> contents = ReadFile(path);
  EXPECT_TRUE(contents.ok()) << contents.status();
  return contents.ok() ? *contents : "";
}

// Names of the files in `dir` that look like WriteFileAtomically leftovers.
std::vector<std::string> TempLeftovers(const std::string& dir) {
  std::vector<std::string> leftovers;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (absl::StrContains(name, ".tmp.")) leftovers.push_back(name);
  }
  return leftovers;
}

EpochLog Epoch(int epoch, double seconds, double lr,
               std::vector<std::pair<std::string, double>> metrics) {
  EpochLog log;
  log.epoch = epoch;
  log.seconds = seconds;
  log.learning_rate = lr;
  log.metrics = std::move(metrics);
  return log;
}

History TwoEpochs() {
  History history;
  history.model_name = "lstm";
  history.epochs.push_back(Epoch(1, 81.5, 0.001,
                                 {{"loss", 0.4833},
                                  {"accuracy", 0.7608},
                                  {"val_loss", 0.3703},
                                  {"val_accuracy", 0.848}}));
  history.epochs.push_back(Epoch(2, 77.25, 0.0005,
                                 {{"loss", 0.3555},
                                  {"accuracy", 0.849},
                                  {"val_loss", 0.36},
                                  {"val_accuracy", 0.836}}));
  return history;
}

History Epochs(int n, bool validation) {
  History history;
  history.model_name = "bilstm";
  for (int e = 1; e <= n; ++e) {
    std::vector<std::pair<std::string, double>> metrics = {
        {"loss", 0.7 - 0.1 * e}, {"accuracy", 0.5 + 0.1 * e}};
    if (validation) {
      metrics.emplace_back("val_loss", 0.65 - 0.05 * e);
      metrics.emplace_back("val_accuracy", 0.55 + 0.08 * e);
    }
    history.epochs.push_back(Epoch(e, 9.0, 0.001, metrics));
  }
  return history;
}

int Count(const std::string& text, const std::string& needle) {
  int count = 0;
  for (size_t at = text.find(needle); at != std::string::npos;
       at = text.find(needle, at + needle.size())) {
    ++count;
  }
  return count;
}

// A small well-formedness check: tags nest and close, attribute values are
// quoted, and every '&' starts one of the five predefined entities.
void ExpectWellFormedXml(const std::string& xml) {
  std::vector<std::string> open;
  size_t i = 0;
  while (i < xml.size()) {
    if (xml[i] == '&') {
      bool entity = false;
      for (const char* e : {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"}) {
        if (xml.compare(i, std::string(e).size(), e) == 0) entity = true;
      }
      EXPECT_TRUE(entity) << "bare '&' at " << i;
      ++i;
      continue;
    }
    if (xml[i] != '<') {
      ++i;
      continue;
    }
    size_t end = i + 1;
    char quote = 0;
    while (end < xml.size() && (quote != 0 || xml[end] != '>')) {
      if (quote == 0 && (xml[end] == '"' || xml[end] == '\'')) {
        quote = xml[end];
      } else if (quote != 0 && xml[end] == quote) {
        quote = 0;
      } else if (quote == 0 && xml[end] == '<') {
        ADD_FAILURE() << "'<' inside a tag at " << end;
        return;
      }
      ++end;
    }
    ASSERT_LT(end, xml.size()) << "unterminated tag at " << i;
    const std::string tag = xml.substr(i + 1, end - i - 1);
    if (tag[0] == '/') {
      ASSERT_FALSE(open.empty()) << "stray </" << tag;
      EXPECT_EQ(open.back(), tag.substr(1));
      open.pop_back();
    } else if (tag.back() != '/') {
      open.push_back(tag.substr(0, tag.find_first_of(" \n\t")));
    }
    i = end + 1;
  }
  EXPECT_THAT(open, IsEmpty()) << "unclosed tags";
}

TEST(HistoryTest, MetricNamesInFirstSeenOrder) {
  History history;
  history.epochs.push_back(Epoch(1, 1, 1, {{"loss", 1}, {"accuracy", 2}}));
  history.epochs.push_back(
      Epoch(2, 1, 1, {{"val_loss", 3}, {"loss", 4}, {"auc", 5}}));
  EXPECT_THAT(history.MetricNames(),
              ElementsAre("loss", "accuracy", "val_loss", "auc"));
  EXPECT_THAT(History().MetricNames(), IsEmpty());
}

TEST(HistoryTest, GetByEpochIndex) {
  const History history = TwoEpochs();
  EXPECT_THAT(history.Get(0, "loss"), Optional(0.4833));
  EXPECT_THAT(history.Get(1, "val_accuracy"), Optional(0.836));
  EXPECT_EQ(history.Get(1, "auc"), std::nullopt);
  EXPECT_EQ(history.Get(2, "loss"), std::nullopt);
  EXPECT_EQ(history.Get(-1, "loss"), std::nullopt);
}

TEST(HistoryCsvTest, TwoEpochsExactly) {
  const std::string dir = TestDir();
  const std::string path = dir + "/history.csv";
  ASSERT_TRUE(WriteHistoryCsv(TwoEpochs(), path).ok());
  EXPECT_EQ(ReadOrDie(path),
            "epoch,seconds,learning_rate,loss,accuracy,val_loss,val_accuracy\n"
            "1,81.5,0.001,0.4833,0.7608,0.3703,0.848\n"
            "2,77.25,0.0005,0.3555,0.849,0.36,0.836\n");
  EXPECT_THAT(TempLeftovers(dir), IsEmpty());
}

TEST(HistoryCsvTest, MissingValuesNonFiniteFloatsAndQuotedNames) {
  History history;
  history.epochs.push_back(Epoch(
      1, 2, 0.001, {{"loss", static_cast<double>(0.1f)}, {"a,\"b\"", kNaN}}));
  history.epochs.push_back(Epoch(2, 3, 0.001, {{"loss", -kInf}}));
  const std::string path = TestDir() + "/h.csv";
  ASSERT_TRUE(WriteHistoryCsv(history, path).ok());
  EXPECT_EQ(ReadOrDie(path),
            "epoch,seconds,learning_rate,loss,\"a,\"\"b\"\"\"\n"
            "1,2,0.001,0.100000001,nan\n"
            "2,3,0.001,-inf,\n");
}

TEST(HistoryCsvTest, EmptyHistoryHasHeaderOnly) {
  const std::string path = TestDir() + "/h.csv";
  ASSERT_TRUE(WriteHistoryCsv(History(), path).ok());
  EXPECT_EQ(ReadOrDie(path), "epoch,seconds,learning_rate\n");
}

TEST(HistoryJsonTest, TwoEpochsExactly) {
  const std::string dir = TestDir();
  const std::string path = dir + "/history.json";
  ASSERT_TRUE(WriteHistoryJson(TwoEpochs(), path).ok());
  EXPECT_EQ(ReadOrDie(path),
            "{\n"
            "  \"model\": \"lstm\",\n"
            "  \"epochs\": [\n"
            "    {\"epoch\": 1, \"seconds\": 81.5, \"learning_rate\": 0.001, "
            "\"loss\": 0.4833, \"accuracy\": 0.7608, \"val_loss\": 0.3703, "
            "\"val_accuracy\": 0.848},\n"
            "    {\"epoch\": 2, \"seconds\": 77.25, \"learning_rate\": 0.0005, "
            "\"loss\": 0.3555, \"accuracy\": 0.849, \"val_loss\": 0.36, "
            "\"val_accuracy\": 0.836}\n"
            "  ],\n"
            "  \"history\": {\n"
            "    \"loss\": [0.4833, 0.3555],\n"
            "    \"accuracy\": [0.7608, 0.849],\n"
            "    \"val_loss\": [0.3703, 0.36],\n"
            "    \"val_accuracy\": [0.848, 0.836]\n"
            "  }\n"
            "}\n");
  EXPECT_THAT(TempLeftovers(dir), IsEmpty());
}

TEST(HistoryJsonTest, NonFiniteAsNullAndEscapedStrings) {
  History history;
  history.model_name = "say \"hi\"\\ \n\t\x01 é";
  history.epochs.push_back(
      Epoch(1, kInf, 0.001, {{"loss", kNaN}, {"acc\"", 0.5}}));
  history.epochs.push_back(Epoch(2, 1.5, 0.001, {{"loss", -kInf}}));
  const std::string path = TestDir() + "/h.json";
  ASSERT_TRUE(WriteHistoryJson(history, path).ok());
  EXPECT_EQ(ReadOrDie(path),
            "{\n"
            "  \"model\": \"say \\\"hi\\\"\\\\ \\n\\t\\u0001 é\",\n"
            "  \"epochs\": [\n"
            "    {\"epoch\": 1, \"seconds\": null, \"learning_rate\": 0.001, "
            "\"loss\": null, \"acc\\\"\": 0.5},\n"
            "    {\"epoch\": 2, \"seconds\": 1.5, \"learning_rate\": 0.001, "
            "\"loss\": null}\n"
            "  ],\n"
            "  \"history\": {\n"
            "    \"loss\": [null, null],\n"
            "    \"acc\\\"\": [0.5, null]\n"
            "  }\n"
            "}\n");
}

TEST(HistoryJsonTest, EmptyHistory) {
  const std::string path = TestDir() + "/h.json";
  ASSERT_TRUE(WriteHistoryJson(History(), path).ok());
  EXPECT_EQ(ReadOrDie(path),
            "{\n"
            "  \"model\": \"\",\n"
            "  \"epochs\": [],\n"
            "  \"history\": {}\n"
            "}\n");
}

TEST(HistoryFilesTest, CreatesMissingFoldersAndRejectsEmptyPath) {
  const std::string dir = TestDir() + "/a/b";
  ASSERT_TRUE(WriteHistoryCsv(TwoEpochs(), dir + "/h.csv").ok());
  ASSERT_TRUE(WriteHistoryJson(TwoEpochs(), dir + "/h.json").ok());
  ASSERT_TRUE(WriteLearningCurveSvg(TwoEpochs(), "t", dir + "/h.svg").ok());
  EXPECT_TRUE(std::filesystem::exists(dir + "/h.csv"));
  EXPECT_TRUE(std::filesystem::exists(dir + "/h.json"));
  EXPECT_TRUE(std::filesystem::exists(dir + "/h.svg"));
  EXPECT_THAT(TempLeftovers(dir), IsEmpty());
  EXPECT_EQ(WriteHistoryCsv(TwoEpochs(), "").code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(HistoryFilesTest, OverwritesAnExistingFile) {
  const std::string path = TestDir() + "/h.csv";
  ASSERT_TRUE(WriteFileAtomically(path, "old contents, much longer\n").ok());
  ASSERT_TRUE(WriteHistoryCsv(History(), path).ok());
  EXPECT_EQ(ReadOrDie(path), "epoch,seconds,learning_rate\n");
}

std::string WriteSvg(const History& history, const std::string& title) {
  const std::string dir = TestDir();
  const std::string path = dir + "/curve.svg";
  const absl::Status status = WriteLearningCurveSvg(history, title, path);
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_THAT(TempLeftovers(dir), IsEmpty());
  return ReadOrDie(path);
}

void ExpectFigure(const std::string& svg) {
  EXPECT_THAT(svg, StartsWith("<svg xmlns=\"http://www.w3.org/2000/svg\""));
  EXPECT_THAT(svg, HasSubstr("width=\"1000\" height=\"450\""));
  EXPECT_THAT(svg, HasSubstr("viewBox=\"0 0 1000 450\""));
  EXPECT_TRUE(absl::EndsWith(svg, "</svg>\n"));
  EXPECT_EQ(Count(svg, ">Epochs</text>"), 2);
  EXPECT_EQ(Count(svg, ">Accuracy</text>"), 2);  // Panel title, y label.
  EXPECT_EQ(Count(svg, ">Loss</text>"), 2);
  EXPECT_THAT(svg, Not(HasSubstr("nan")));
  EXPECT_THAT(svg, Not(HasSubstr("inf")));
  ExpectWellFormedXml(svg);
}

TEST(LearningCurveSvgTest, ThreeEpochsWithValidation) {
  const std::string svg =
      WriteSvg(Epochs(3, /*validation=*/true), "IMDb & LSTM <light>");
  ExpectFigure(svg);
  EXPECT_THAT(svg, HasSubstr(">IMDb &amp; LSTM &lt;light&gt;</text>"));
  EXPECT_THAT(svg, HasSubstr("<title>IMDb &amp; LSTM &lt;light&gt;</title>"));
  EXPECT_THAT(svg, Not(HasSubstr("IMDb & LSTM")));
  for (const char* label : {"Train acc", "Val acc", "Train loss", "Val loss"}) {
    EXPECT_EQ(Count(svg, std::string(">") + label + "</text>"), 1) << label;
  }
  EXPECT_EQ(Count(svg, "<polyline"), 4);
  // One marker per point plus one per legend entry.
  EXPECT_EQ(Count(svg, "<circle"), 4 * 3 + 4);
  // Epoch ticks 1, 2 and 3 under each panel.
  for (const char* tick : {">1</text>", ">2</text>", ">3</text>"}) {
    EXPECT_EQ(Count(svg, tick), 2) << tick;
  }
}

TEST(LearningCurveSvgTest, OneEpoch) {
  const std::string svg = WriteSvg(Epochs(1, /*validation=*/true), "One");
  ExpectFigure(svg);
  EXPECT_THAT(svg, HasSubstr(">One</text>"));
  EXPECT_EQ(Count(svg, "<polyline"), 4);
  EXPECT_EQ(Count(svg, "<circle"), 4 + 4);
  EXPECT_EQ(Count(svg, ">1</text>"), 2);
}

TEST(LearningCurveSvgTest, WithoutValidation) {
  const std::string svg = WriteSvg(Epochs(3, /*validation=*/false), "Train");
  ExpectFigure(svg);
  EXPECT_THAT(svg, HasSubstr(">Train acc</text>"));
  EXPECT_THAT(svg, HasSubstr(">Train loss</text>"));
  EXPECT_THAT(svg, Not(HasSubstr("Val acc")));
  EXPECT_THAT(svg, Not(HasSubstr("Val loss")));
  EXPECT_EQ(Count(svg, "<polyline"), 2);
}

TEST(LearningCurveSvgTest, LossOnlyAndNonFiniteValues) {
  History history;
  history.epochs.push_back(Epoch(1, 1, 1, {{"loss", 0.7}}));
  history.epochs.push_back(Epoch(2, 1, 1, {{"loss", kNaN}}));
  history.epochs.push_back(Epoch(3, 1, 1, {{"loss", 0.5}, {"val_loss", kInf}}));
  const std::string svg = WriteSvg(history, "Loss only");
  ExpectFigure(svg);
  EXPECT_EQ(Count(svg, "<polyline"), 1);
  EXPECT_EQ(Count(svg, "<circle"), 2 + 1);
  EXPECT_THAT(svg, Not(HasSubstr("Train acc")));
  EXPECT_THAT(svg, Not(HasSubstr("Val loss")));
}

TEST(LearningCurveSvgTest, KerasOldAccNamesAndEmptyHistory) {
  History old;
  old.epochs.push_back(Epoch(1, 1, 1, {{"acc", 0.6}, {"val_acc", 0.55}}));
  old.epochs.push_back(Epoch(2, 1, 1, {{"acc", 0.7}, {"val_acc", 0.65}}));
  std::string svg = WriteSvg(old, "old");
  ExpectFigure(svg);
  EXPECT_EQ(Count(svg, "<polyline"), 2);
  EXPECT_THAT(svg, HasSubstr(">Val acc</text>"));

  svg = WriteSvg(History(), "empty");
  ExpectFigure(svg);
  EXPECT_EQ(Count(svg, "<polyline"), 0);
}

}  // namespace
}  // namespace loom
