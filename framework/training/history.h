// Training history: what each epoch reported, and the files that show it
// (a CSV table, a JSON document mirroring Keras' history.history, and a
// learning-curve plot as a standalone SVG). Every file is written atomically.
#ifndef LOOM_FRAMEWORK_TRAINING_HISTORY_H_
#define LOOM_FRAMEWORK_TRAINING_HISTORY_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace loom {

// One epoch's report.
struct EpochLog {
  int epoch = 0;               // 1-based.
  double seconds = 0.0;        // Wall time of the epoch.
  double train_seconds = 0.0;  // Of which training steps (no validation).
  double learning_rate = 0.0;  // At the end of the epoch.
  // In report order, e.g. {"loss", ..}, {"accuracy", ..}, {"val_loss", ..},
  // {"val_accuracy", ..}.
  std::vector<std::pair<std::string, double>> metrics;
};

struct History {
  std::string model_name;
  std::vector<EpochLog> epochs;

  // Every metric name of every epoch, once each, in first-seen order.
  std::vector<std::string> MetricNames() const;

  // The value of `metric` in epochs[epoch_index] (0-based index into
  // `epochs`, not the epoch number); nullopt when the index is out of range
  // or that epoch did not report the metric.
  std::optional<double> Get(int epoch_index, const std::string& metric) const;
};

// A CSV table: header "epoch,seconds,learning_rate,<metric names...>", then
// one row per epoch. Numbers are printed with %.9g (exact for float32
// values; non-finite ones as nan, inf, -inf); a metric an epoch did not
// report is an empty cell. Names holding a comma, quote or line break are
// quoted (RFC 4180). A metric named like a fixed column (epoch, seconds,
// learning_rate) is left out of the table.
absl::Status WriteHistoryCsv(const History& history, const std::string& path);

// A JSON document:
//   {"model": "...",
//    "epochs": [{"epoch": 1, "seconds": .., "learning_rate": .., "loss": ..,
//                ...}, ...],
//    "history": {"loss": [..per epoch..], "accuracy": [...], ...}}
// "history" mirrors Keras' history.history: one array per metric, one entry
// per epoch (null where an epoch did not report it). Non-finite numbers are
// written as null. In "epochs", a metric named like a fixed key (epoch,
// seconds, learning_rate) is left out.
absl::Status WriteHistoryJson(const History& history, const std::string& path);

// A learning-curve plot as a standalone SVG, two panels side by side:
// "Accuracy" (train "accuracy" or "acc", and its "val_" twin) and "Loss"
// ("loss" and "val_loss"), per epoch, with axis labels, ticks, grid lines,
// markers joined by a line for each series, and a legend. `title` heads the
// figure. Series an epoch lacks, or with non-finite values, skip those
// points; series no epoch reports are left out.
absl::Status WriteLearningCurveSvg(const History& history,
                                   const std::string& title,
                                   const std::string& path);

// Text for XML character data and attribute values (SVG files). Control
// characters XML 1.0 does not allow are dropped.
std::string XmlEscape(absl::string_view text);

}  // namespace loom

#endif  // LOOM_FRAMEWORK_TRAINING_HISTORY_H_
