// Fuzz target: ReadImdbArchive (framework/data/imdb.h) on an archive in any
// format and compression libarchive reads (the corpus has tar, tar.gz and
// cpio), then the "imdb" reader's records from the same file.
#include <cstdint>
#include <string>

#include "framework/data/imdb.h"
#include "framework/data/readers/reader.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = loom::fuzz::WriteInputFile(data, size, ".tar.gz");
  auto corpus = loom::data::ReadImdbArchive(path);
  if (!corpus.ok()) return 0;
  if (corpus->train.empty() || corpus->test.empty()) {
    loom::fuzz::Fail("ReadImdbArchive accepted an archive with an empty split");
  }
  for (const auto* split : {&corpus->train, &corpus->test}) {
    for (const loom::data::Review& review : *split) {
      if (review.label < 0 || review.label > 1 || review.rating < 1 ||
          review.rating > 10) {
        loom::fuzz::Fail("a review has a label or rating out of range");
      }
    }
  }
  loom::data::ReadOptions options;
  options.replace_bad_text = true;
  loom::data::ReadStats stats;
  (void)loom::data::ReadRecords(
      path, "imdb", options,
      [](loom::data::Record&) { return absl::OkStatus(); }, &stats);
  return 0;
}
