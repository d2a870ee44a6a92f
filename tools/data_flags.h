// The data flags of train, evaluate and predict, written once. Each tool
// expands LOOM_DATA_FLAGS() in its own file, so that its --help lists them,
// and reads them with ReadDataFlags().
#ifndef LOOM_TOOLS_DATA_FLAGS_H_
#define LOOM_TOOLS_DATA_FLAGS_H_

#include <string>

#include "absl/flags/flag.h"
#include "framework/training/data_source.h"

#define LOOM_DATA_FLAGS()                                                     \
  ABSL_FLAG(std::string, data, "",                                            \
            "The examples: a CSV, TSV or JSON Lines file, a folder with one " \
            "subfolder of .txt files per class, or IMDb's archive or "        \
            "aclImdb folder (default: the model file's dataset.source, else " \
            "the IMDb data cache that tools/setup.sh fills).");               \
  ABSL_FLAG(std::string, test_data, "",                                       \
            "Test examples in a file or folder of their own (default: the "   \
            "source's test part, else a stratified dataset.test_split of "    \
            "--data).");                                                      \
  ABSL_FLAG(std::string, data_format, "",                                     \
            "csv, tsv, jsonl, folder or imdb (default: found from the "       \
            "path's extension and content).");                                \
  ABSL_FLAG(std::string, text_column, "",                                     \
            "CSV/TSV column or JSON key of the text (default \"text\").");    \
  ABSL_FLAG(std::string, label_column, "",                                    \
            "CSV/TSV column or JSON key of the label (default \"label\").");  \
  ABSL_FLAG(std::string, on_bad_rows, "",                                     \
            "stop (default: the first bad row is an error naming file and "   \
            "line) or skip (skip and count them).");                          \
  ABSL_FLAG(std::string, on_bad_text, "",                                     \
            "error (default: text that is not UTF-8 is an error) or replace " \
            "(bad bytes become U+FFFD).");                                    \
  ABSL_FLAG(std::string, group_by, "",                                        \
            "CSV/TSV column or JSON key naming each example's group (for "    \
            "IMDb: movie): validation and a held-out test split take whole "  \
            "groups (default: dataset.group_by; none).");                     \
  static loom::DataFlags ReadDataFlags() {                                    \
    loom::DataFlags f;                                                        \
    f.data = absl::GetFlag(FLAGS_data);                                       \
    f.test_data = absl::GetFlag(FLAGS_test_data);                             \
    f.data_format = absl::GetFlag(FLAGS_data_format);                         \
    f.text_column = absl::GetFlag(FLAGS_text_column);                         \
    f.label_column = absl::GetFlag(FLAGS_label_column);                       \
    f.on_bad_rows = absl::GetFlag(FLAGS_on_bad_rows);                         \
    f.on_bad_text = absl::GetFlag(FLAGS_on_bad_text);                         \
    f.group_by = absl::GetFlag(FLAGS_group_by);                               \
    return f;                                                                 \
  }

#endif  // LOOM_TOOLS_DATA_FLAGS_H_
