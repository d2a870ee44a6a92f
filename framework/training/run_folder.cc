#include "framework/training/run_folder.h"

#include <sys/resource.h>

#include <ctime>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "framework/file_util.h"
#include "framework/status_macros.h"

namespace loom {
namespace {

std::string Timestamp() {
  std::time_t now = std::time(nullptr);
  std::tm tm;
  localtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%d-%H%M%S", &tm);
  return buf;
}

}  // namespace

std::string DefaultRunFolder(const std::string& model_name) {
  return UserPath(absl::StrCat("runs/", model_name, "-", Timestamp()));
}

std::string TestLine(const Metrics& metrics) {
  std::string line;
  for (const auto& [name, value] : metrics) {
    const std::string shown = name == "accuracy" ? "acc" : name;
    absl::StrAppendFormat(&line, "%sTest %s: %.4f", line.empty() ? "" : " | ",
                          shown, value);
  }
  return line;
}

double PeakMemoryMb() {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024.0;
}

absl::Status WriteRunReports(const std::string& dir, const std::string& title,
                             const History& history, const Metrics& metrics,
                             const ClassificationReport& report) {
  LOOM_RETURN_IF_ERROR(WriteHistoryCsv(history, dir + "/history.csv"));
  LOOM_RETURN_IF_ERROR(WriteHistoryJson(history, dir + "/history.json"));
  LOOM_RETURN_IF_ERROR(
      WriteLearningCurveSvg(history, title, dir + "/learning_curve.svg"));
  LOOM_RETURN_IF_ERROR(
      WriteConfusionMatrixSvg(report, title, dir + "/confusion_matrix.svg"));
  std::string results =
      absl::StrCat(TestLine(metrics), "\n", FormatClassificationReport(report));
  for (const EpochLog& e : history.epochs) {
    absl::StrAppendFormat(&results,
                          "epoch %d: %.2f s (training steps %.2f s)\n", e.epoch,
                          e.seconds, e.train_seconds);
  }
  absl::StrAppendFormat(&results, "peak memory: %.0f MB\n", PeakMemoryMb());
  return WriteFileAtomically(dir + "/results.txt", results);
}

}  // namespace loom
