#include "framework/training/data_source.h"

#include "framework/data/corpus.h"
#include "framework/training/user_path.h"

namespace loom {

absl::Status ResolveDataSource(const DataFlags& flags, TextDatasetDef* d) {
  if (!flags.data.empty()) {
    d->set_source(UserPath(flags.data));
  } else if (!d->source().empty()) {
    d->set_source(UserPath(d->source()));
  } else {
    d->set_source(data::DefaultDataPath());
    if (d->source().empty()) {
      return absl::NotFoundError(
          "no data: pass --data=PATH (a CSV, TSV or JSON Lines file, a "
          "folder of class subfolders, or IMDb's archive or folder), or run "
          "tools/setup.sh --imdb PATH to put IMDb in the data cache");
    }
  }
  if (!flags.test_data.empty()) {
    d->set_test_source(UserPath(flags.test_data));
  } else if (!d->test_source().empty()) {
    d->set_test_source(UserPath(d->test_source()));
  }
  if (!flags.data_format.empty()) d->set_format(flags.data_format);
  if (!flags.text_column.empty()) d->set_text_column(flags.text_column);
  if (!flags.label_column.empty()) d->set_label_column(flags.label_column);
  if (!flags.on_bad_rows.empty()) d->set_on_bad_rows(flags.on_bad_rows);
  if (!flags.on_bad_text.empty()) d->set_on_bad_text(flags.on_bad_text);
  if (!flags.group_by.empty()) d->set_group_by(flags.group_by);
  return data::ValidateSourceSettings(*d);
}

LabeledExamples ToLabeledExamples(const data::EncodedSplit& split) {
  LabeledExamples examples;
  examples.features = Tensor::FromVector({split.n, split.max_len}, split.ids);
  examples.labels = Tensor::FromVector({split.n, 1}, split.labels);
  examples.groups = split.groups;
  return examples;
}

}  // namespace loom
