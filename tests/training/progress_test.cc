#include "framework/training/progress.h"

#include <unistd.h>

#include <cmath>
#include <limits>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loom {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::Not;

const ProgressBar::Metrics kTrain = {{"loss", 0.4123}, {"accuracy", 0.8125}};
const ProgressBar::Metrics kFinal = {{"loss", 0.3038},
                                     {"accuracy", 0.9147},
                                     {"val_loss", 0.4477},
                                     {"val_accuracy", 0.8213}};
const char kFinalLine[] =
    "50/50 [==============================] - 3s 61ms/step - loss: 0.3038 - "
    "accuracy: 0.9147 - val_loss: 0.4477 - val_accuracy: 0.8213\n";

int Count(const std::string& text, char c) {
  int count = 0;
  for (char x : text) count += x == c;
  return count;
}

TEST(ProgressBarTest, NonInteractivePrintsOnlyTheFinalLine) {
  std::ostringstream out;
  ProgressBar bar(&out, /*interactive=*/false, 50);
  for (int step = 1; step <= 50; ++step) {
    bar.Update(step, step * 0.061, kTrain);
  }
  EXPECT_EQ(out.str(), "");
  bar.Finish(3.05, kFinal);
  EXPECT_EQ(out.str(), kFinalLine);
  bar.Finish(4.0, kFinal);  // Once only.
  bar.Update(50, 5.0, kTrain);
  EXPECT_EQ(out.str(), kFinalLine);
}

TEST(ProgressBarTest, InteractiveLineLooksLikeKeras) {
  std::ostringstream out;
  ProgressBar bar(&out, /*interactive=*/true, 50);
  bar.Update(37, 37 * 0.25, kTrain);
  EXPECT_EQ(out.str(),
            "37/50 [=====================>........] - ETA: 3s - 250ms/step - "
            "loss: 0.4123 - accuracy: 0.8125");
}

TEST(ProgressBarTest, InteractiveRedrawsAndEndsWithTheFinalLine) {
  std::ostringstream out;
  ProgressBar bar(&out, /*interactive=*/true, 50);
  for (int step = 1; step <= 50; ++step) {
    bar.Update(step, step * 0.061, kTrain);
  }
  bar.Finish(3.05, kFinal);
  const std::string text = out.str();
  EXPECT_GT(Count(text, '\r'), 10);
  EXPECT_EQ(Count(text, '\n'), 1);
  EXPECT_THAT(text, HasSubstr(" - ETA: "));
  EXPECT_THAT(text, HasSubstr("ms/step - loss: 0.4123 - accuracy: 0.8125"));
  EXPECT_THAT(text, HasSubstr(" 1/50 [..............................]"));
  EXPECT_THAT(text, HasSubstr("25/50 [==============>...............]"));
  EXPECT_THAT(text, EndsWith(std::string("\r") + kFinalLine));
}

TEST(ProgressBarTest, RedrawsAtMostEveryTenthOfASecondAndOnTheLastStep) {
  std::ostringstream out;
  ProgressBar bar(&out, /*interactive=*/true, 50);
  bar.Update(1, 0.01, kTrain);   // First: drawn.
  bar.Update(2, 0.05, kTrain);   // Too soon.
  bar.Update(3, 0.109, kTrain);  // Too soon.
  bar.Update(4, 0.12, kTrain);   // Drawn.
  bar.Update(5, 0.13, kTrain);   // Too soon.
  EXPECT_EQ(Count(out.str(), '\r'), 1);
  EXPECT_THAT(out.str(), Not(HasSubstr(" 2/50")));
  EXPECT_THAT(out.str(), HasSubstr(" 4/50"));
  bar.Update(50, 0.14, kTrain);  // Last step: always drawn, no ETA.
  EXPECT_EQ(Count(out.str(), '\r'), 2);
  EXPECT_THAT(out.str(),
              HasSubstr("\r50/50 [==============================] - 140ms "
                        "3ms/step - loss: 0.4123 - accuracy: 0.8125"));
}

TEST(ProgressBarTest, ShorterRedrawCoversTheLongerLine) {
  std::ostringstream out;
  ProgressBar bar(&out, /*interactive=*/true, 10, /*bar_width=*/10);
  bar.Update(1, 0.5, {{"loss", 0.5}, {"accuracy", 0.5}});
  const size_t first = out.str().size();
  bar.Update(2, 1.0, {{"loss", 0.5}});
  const std::string line =
      " 2/10 [=>........] - ETA: 4s - 500ms/step - loss: 0.5000";
  ASSERT_LT(line.size(), first);
  // Redrawn and padded with spaces to the old width.
  EXPECT_EQ(out.str().substr(first),
            "\r" + line + std::string(first - line.size(), ' '));
  bar.Finish(2.0, {});
  EXPECT_THAT(out.str(), EndsWith("\r" + std::string(first, ' ') +
                                  "\r10/10 [==========] - 2s 200ms/step\n"));
}

TEST(ProgressBarTest, UnknownTotalCountsTheStepsSeen) {
  std::ostringstream out;
  ProgressBar bar(&out, /*interactive=*/false, 0);
  for (int step = 1; step <= 7; ++step) bar.Update(step, step * 0.2, kTrain);
  bar.Finish(1.4, {{"loss", 0.25}});
  EXPECT_EQ(out.str(),
            "7/7 [==============================] - 1s 200ms/step - "
            "loss: 0.2500\n");

  std::ostringstream live;
  ProgressBar live_bar(&live, /*interactive=*/true, -1);
  live_bar.Update(3, 0.6, {});
  EXPECT_EQ(live.str(), "3/Unknown - 600ms 200ms/step");
}

TEST(ProgressBarTest, NullStreamPrintsNothing) {
  ProgressBar bar(nullptr, /*interactive=*/true, 5);
  bar.Update(1, 0.1, kTrain);
  bar.Finish(0.5, kFinal);
}

TEST(ProgressBarTest, StdoutIsTerminalMatchesIsatty) {
  EXPECT_EQ(ProgressBar::StdoutIsTerminal(), isatty(STDOUT_FILENO) == 1);
}

TEST(ProgressFormatTest, Durations) {
  EXPECT_EQ(ProgressBar::FormatDuration(3.2), "3s");
  EXPECT_EQ(ProgressBar::FormatDuration(93.4), "93s");
  EXPECT_EQ(ProgressBar::FormatDuration(1.0), "1s");
  EXPECT_EQ(ProgressBar::FormatDuration(0.9996), "1s");
  EXPECT_EQ(ProgressBar::FormatDuration(0.061), "61ms");
  EXPECT_EQ(ProgressBar::FormatDuration(0.001), "1ms");
  EXPECT_EQ(ProgressBar::FormatDuration(0.0009996), "1ms");
  EXPECT_EQ(ProgressBar::FormatDuration(0.00095), "950us");
  EXPECT_EQ(ProgressBar::FormatDuration(0.0), "0s");
  EXPECT_EQ(ProgressBar::FormatDuration(-1.0), "0s");
  EXPECT_EQ(ProgressBar::FormatDuration(std::nan("")), "0s");
}

TEST(ProgressFormatTest, PerStep) {
  EXPECT_EQ(ProgressBar::FormatPerStep(2.0), "2s/step");
  EXPECT_EQ(ProgressBar::FormatPerStep(0.061), "61ms/step");
  EXPECT_EQ(ProgressBar::FormatPerStep(0.281), "281ms/step");
  EXPECT_EQ(ProgressBar::FormatPerStep(0.00095), "950us/step");
  EXPECT_EQ(ProgressBar::FormatPerStep(0.0), "0s/step");
}

TEST(ProgressFormatTest, Eta) {
  EXPECT_EQ(ProgressBar::FormatEta(3.7), "3s");
  EXPECT_EQ(ProgressBar::FormatEta(0.4), "0s");
  EXPECT_EQ(ProgressBar::FormatEta(59.9), "59s");
  EXPECT_EQ(ProgressBar::FormatEta(65.0), "1:05");
  EXPECT_EQ(ProgressBar::FormatEta(3599.0), "59:59");
  EXPECT_EQ(ProgressBar::FormatEta(3723.0), "1:02:03");
  EXPECT_EQ(ProgressBar::FormatEta(std::numeric_limits<double>::infinity()),
            "0s");
}

TEST(ProgressFormatTest, Metrics) {
  EXPECT_EQ(ProgressBar::FormatMetric(0.41234), "0.4123");
  EXPECT_EQ(ProgressBar::FormatMetric(12.0), "12.0000");
  EXPECT_EQ(ProgressBar::FormatMetric(-2.5), "-2.5000");
  EXPECT_EQ(ProgressBar::FormatMetric(0.0), "0.0000");
  EXPECT_EQ(ProgressBar::FormatMetric(1.5e-5), "1.5000e-05");
  EXPECT_EQ(ProgressBar::FormatMetric(std::nan("")), "nan");
  EXPECT_EQ(ProgressBar::FormatMetric(-std::numeric_limits<double>::infinity()),
            "-inf");
}

}  // namespace
}  // namespace loom
