// Where a job's examples come from: the data flags the tools share
// (--data, --test_data, ...) applied to the model's dataset settings, and
// the encoded splits the data readers give, as the examples a Model takes.
#ifndef LOOM_FRAMEWORK_TRAINING_DATA_SOURCE_H_
#define LOOM_FRAMEWORK_TRAINING_DATA_SOURCE_H_

#include <string>

#include "absl/status/status.h"
#include "framework/data/dataset.h"
#include "framework/proto/model.pb.h"
#include "framework/training/model.h"

namespace loom {

// Where the examples come from, as the tools' flags say; each one set
// overrides the model file's dataset field.
struct DataFlags {
  std::string data;          // --data: dataset.source.
  std::string test_data;     // --test_data: dataset.test_source.
  std::string data_format;   // --data_format: dataset.format.
  std::string text_column;   // --text_column: dataset.text_column.
  std::string label_column;  // --label_column: dataset.label_column.
  std::string on_bad_rows;   // --on_bad_rows: dataset.on_bad_rows.
  std::string on_bad_text;   // --on_bad_text: dataset.on_bad_text.
  std::string group_by;      // --group_by: dataset.group_by.
};

// Applies `flags` to `dataset` and makes its paths absolute (relative ones
// are taken as UserPath does); with neither --data nor a source in the
// model file, the source is the data cache's IMDb (DefaultDataPath), and
// an error says how to give data if there is none.
absl::Status ResolveDataSource(const DataFlags& flags, TextDatasetDef* dataset);

// An encoded split as the labeled examples Model::Fit and Evaluate take:
// features [n, max_len] int32 token ids, labels [n, 1].
LabeledExamples ToLabeledExamples(const data::EncodedSplit& split);

}  // namespace loom

#endif  // LOOM_FRAMEWORK_TRAINING_DATA_SOURCE_H_
