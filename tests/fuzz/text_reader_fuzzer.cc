// Fuzz target: one data reader of framework/data/readers/ (CSV, TSV or JSON
// Lines: LOOM_FUZZ_FORMAT, set by the BUILD rule) through ReadRecords on a
// file holding the input, with an explicit format. Each input is read twice:
// strictly (the first bad row is an error) and leniently (bad rows skipped,
// bad UTF-8 replaced, labels optional). Every record delivered must have
// valid UTF-8 text and label, as reader.h promises.
#include <cstdint>
#include <string>

#include "framework/data/readers/reader.h"
#include "tests/fuzz/fuzz_util.h"

#ifndef LOOM_FUZZ_FORMAT
#error "LOOM_FUZZ_FORMAT must name the format (\"csv\", \"tsv\", \"jsonl\")"
#endif

namespace {

absl::Status CheckRecord(loom::data::Record& record) {
  bool replaced = false;
  std::string text = record.text;
  std::string label = record.label;
  if (!loom::data::CheckUtf8(&text, false, record.where, &replaced).ok() ||
      !loom::data::CheckUtf8(&label, false, record.where, &replaced).ok()) {
    loom::fuzz::Fail("a reader delivered text that is not UTF-8");
  }
  if (record.has_label == record.label.empty()) {
    loom::fuzz::Fail("has_label disagrees with the label");
  }
  return absl::OkStatus();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path =
      loom::fuzz::WriteInputFile(data, size, "." LOOM_FUZZ_FORMAT);
  for (const bool lenient : {false, true}) {
    loom::data::ReadOptions options;
    options.skip_bad_rows = lenient;
    options.replace_bad_text = lenient;
    options.require_label = !lenient;
    loom::data::ReadStats stats;
    (void)loom::data::ReadRecords(path, LOOM_FUZZ_FORMAT, options, CheckRecord,
                                  &stats);
    (void)stats.Summary();
  }
  return 0;
}
