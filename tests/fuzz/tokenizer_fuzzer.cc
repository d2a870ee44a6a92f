// Fuzz target: Tokenize (framework/data/text.h) on any bytes, valid UTF-8 or
// not, with every TokenizerOptions combination the first byte picks (bit 0
// keep_punctuation, bit 1 strip_accents, bit 2 the legacy tokenizer); the
// rest of the input is the text. Checks what text.h promises: tokens are
// non-empty views into the buffer, the owned-string form gives the same
// tokens, and a vocabulary built from the text encodes it with ids below
// num_words().
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "framework/data/text.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  loom::data::TokenizerOptions options;
  options.keep_punctuation = (data[0] & 1) != 0;
  options.unicode = (data[0] & 4) == 0;
  // strip_accents needs the Unicode tokenizer (Build refuses it otherwise).
  options.strip_accents = options.unicode && (data[0] & 2) != 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1,
                              size - 1);

  std::string buffer;
  std::vector<std::string_view> tokens;
  loom::data::Tokenize(text, &buffer, &tokens, options);
  for (const std::string_view token : tokens) {
    if (token.empty()) loom::fuzz::Fail("Tokenize gave an empty token");
    if (token.data() < buffer.data() ||
        token.data() + token.size() > buffer.data() + buffer.size()) {
      loom::fuzz::Fail("a token is not a view into the buffer");
    }
  }
  const std::vector<std::string> owned = loom::data::Tokenize(text, options);
  if (owned.size() != tokens.size()) {
    loom::fuzz::Fail("the two forms of Tokenize disagree");
  }
  for (size_t i = 0; i < owned.size(); ++i) {
    if (owned[i] != tokens[i]) {
      loom::fuzz::Fail("the two forms of Tokenize disagree");
    }
  }

  auto vocab = loom::data::Vocabulary::Build({text}, 64, options);
  if (!vocab.ok()) loom::fuzz::Fail("Vocabulary::Build refused valid options");
  for (const int32_t id : vocab->Encode(text)) {
    if (id < 0 || id >= vocab->num_words()) {
      loom::fuzz::Fail("Encode gave an id outside the vocabulary");
    }
  }
  return 0;
}
