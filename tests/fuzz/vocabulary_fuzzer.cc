// Fuzz target: Vocabulary::Load (framework/data/text.h) on a vocabulary file,
// then, if it loads, Encode with it: every id is below num_words() and
// Word(Id(w)) == w for each word.
#include <cstdint>
#include <string>
#include <string_view>

#include "framework/data/text.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = loom::fuzz::WriteInputFile(data, size, ".vocab");
  auto vocab = loom::data::Vocabulary::Load(path);
  if (!vocab.ok()) return 0;
  for (size_t i = 0; i < vocab->words().size(); ++i) {
    const std::string& word = vocab->words()[i];
    const int32_t id = vocab->Id(word);
    if (id != static_cast<int32_t>(i) + loom::data::Vocabulary::kFirstWordId ||
        vocab->Word(id) != word) {
      loom::fuzz::Fail("a loaded word does not map to its own id");
    }
  }
  // Encode the file itself: every id must be a valid one.
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const int32_t id : vocab->Encode(text)) {
    if (id < 0 || id >= vocab->num_words() || id >= vocab->size()) {
      loom::fuzz::Fail("Encode gave an id outside the vocabulary");
    }
  }
  return 0;
}
