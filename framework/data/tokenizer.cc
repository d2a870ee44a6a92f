// The tokenizers of framework/data/text.h: the legacy ASCII one and the
// Unicode one (NFKC, case folding and categories from Debian's utf8proc).
// The vocabulary and padding are in vocabulary.cc.
#include <utf8proc.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "framework/data/text.h"

namespace loom::data {
namespace {

enum CharClass : uint8_t {
  kSpace,
  kWordChar,
  kPunct,
  kOwnToken,  // Unicode tokenizer: a CJK character, a token by itself.
};

// Byte classes of the legacy tokenizer, computed once; the Unicode tokenizer
// uses them for ASCII.
struct CharTables {
  std::array<uint8_t, 256> cls;
  CharTables() {
    for (int c = 0; c < 256; ++c) {
      if (c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
          (c >= 'A' && c <= 'Z')) {
        cls[c] = kWordChar;
      } else if (c <= 0x20 || c == 0x7f) {
        cls[c] = kSpace;  // ASCII whitespace and control characters.
      } else {
        cls[c] = kPunct;
      }
    }
  }
};

const CharTables& Tables() {
  static const CharTables* const tables = new CharTables();
  return *tables;
}

// If lowercased `p[i..n)` starts with "<br>", "<br/>" or "<br />", returns
// its length, else 0.
size_t LineBreakLength(const char* p, size_t n, size_t i) {
  if (n - i < 4 || p[i + 1] != 'b' || p[i + 2] != 'r') return 0;
  if (p[i + 3] == '>') return 4;
  if (n - i >= 5 && p[i + 3] == '/' && p[i + 4] == '>') return 5;
  if (n - i >= 6 && p[i + 3] == ' ' && p[i + 4] == '/' && p[i + 5] == '>') {
    return 6;
  }
  return 0;
}

// The legacy ASCII-only tokenizer (see Tokenize in text.h), unchanged: v1
// and v2 vocabularies use it, and the Unicode tokenizer for ASCII text.
void AsciiTokenize(std::string_view text, std::string* buffer,
                   std::vector<std::string_view>* tokens,
                   bool keep_punctuation) {
  const CharTables& t = Tables();
  buffer->resize(text.size());
  char* p = buffer->data();
  const size_t n = text.size();
  // Branch-free ASCII lowercasing, which the compiler vectorizes.
  const unsigned char* src =
      reinterpret_cast<const unsigned char*>(text.data());
  for (size_t i = 0; i < n; ++i) {
    const unsigned char c = src[i];
    p[i] = static_cast<char>(
        c | (static_cast<unsigned char>(c - 'A') < 26 ? 0x20 : 0));
  }
  tokens->clear();
  size_t i = 0;
  while (i < n) {
    const uint8_t cls = t.cls[static_cast<unsigned char>(p[i])];
    if (cls == kWordChar) {
      const size_t start = i++;
      while (i < n) {
        const uint8_t next = t.cls[static_cast<unsigned char>(p[i])];
        if (next == kWordChar) {
          ++i;
        } else if (p[i] == '\'' && i + 1 < n &&
                   t.cls[static_cast<unsigned char>(p[i + 1])] == kWordChar) {
          i += 2;
        } else {
          break;
        }
      }
      tokens->emplace_back(p + start, i - start);
    } else if (cls == kSpace) {
      ++i;
    } else {  // Punctuation, or the start of a line break tag.
      const size_t skip = p[i] == '<' ? LineBreakLength(p, n, i) : 0;
      if (skip > 0) {
        i += skip;
      } else {
        if (keep_punctuation) tokens->emplace_back(p + i, 1);
        ++i;
      }
    }
  }
}

// ------------------------------------------------------ Unicode tokenizer

// Whether every byte of `text` is ASCII.
bool IsAscii(std::string_view text) {
  const char* p = text.data();
  const size_t n = text.size();
  uint64_t any = 0;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t word;
    std::memcpy(&word, p + i, 8);
    any |= word;
  }
  for (; i < n; ++i) any |= static_cast<unsigned char>(p[i]);
  return (any & 0x8080808080808080ull) == 0;
}

char AsciiLower(unsigned char c) {
  return static_cast<char>(
      c | (static_cast<unsigned char>(c - 'A') < 26 ? 0x20 : 0));
}

// utf8proc's NFKC_Casefold (utf8proc_NFKC_Casefold), plus UTF8PROC_STRIPMARK
// for strip_accents (it needs UTF8PROC_COMPOSE or UTF8PROC_DECOMPOSE: the
// marks of the decomposed text are removed before it is recomposed).
utf8proc_option_t NormalizationFlags(const TokenizerOptions& options) {
  int flags =
      UTF8PROC_COMPOSE | UTF8PROC_COMPAT | UTF8PROC_CASEFOLD | UTF8PROC_IGNORE;
  if (options.strip_accents) flags |= UTF8PROC_STRIPMARK;
  return static_cast<utf8proc_option_t>(flags);
}

constexpr utf8proc_int32_t kReplacementCharacter = 0xFFFD;
constexpr utf8proc_int32_t kRightSingleQuotationMark = 0x2019;

// A normalized island (see Normalize) of up to 7 bytes, so that frequent
// ones ("é" after a letter, " ¡") are normalized by utf8proc once.
struct IslandCacheEntry {
  static constexpr uint8_t kEmpty = 0xFF;
  uint64_t key = 0;  // IslandKey().
  uint8_t length = kEmpty;
  char bytes[15];
};
constexpr size_t kMaxCachedIsland = 7;
constexpr int kIslandCacheBits = 10;  // 1024 entries, 24 KiB.

// The island's bytes, its length and the options: distinct for distinct
// islands of up to kMaxCachedIsland bytes.
uint64_t IslandKey(const unsigned char* island, size_t size, bool strip) {
  uint64_t key = static_cast<uint64_t>(size) << 56;
  for (size_t j = 0; j < size; ++j) {
    key |= static_cast<uint64_t>(island[j]) << (8 * j);
  }
  return strip ? key | (uint64_t{1} << 63) : key;
}

// Per-thread scratch space of the Unicode tokenizer, kept between calls so
// that tokenizing allocates nothing once it has seen a text as long.
struct UnicodeScratch {
  std::vector<utf8proc_int32_t> code_points;
  std::string sanitized;  // An island with its invalid bytes replaced.
  std::vector<IslandCacheEntry> cache;
};

UnicodeScratch& Scratch() {
  thread_local UnicodeScratch scratch;
  return scratch;
}

// Larger code point buffers (16 MiB) are released after use.
constexpr size_t kMaxRetainedCodePoints = size_t{1} << 22;

// Copies `s[0, size)` to `*out` with every byte that does not start a valid
// UTF-8 sequence replaced by U+FFFD.
void Sanitize(const unsigned char* s, size_t size, std::string* out) {
  out->clear();
  size_t i = 0;
  while (i < size) {
    utf8proc_int32_t c;
    const utf8proc_ssize_t length =
        utf8proc_iterate(s + i, static_cast<utf8proc_ssize_t>(size - i), &c);
    if (length > 0) {
      out->append(reinterpret_cast<const char*>(s + i),
                  static_cast<size_t>(length));
      i += static_cast<size_t>(length);
    } else {
      out->append("\xEF\xBF\xBD");  // U+FFFD.
      ++i;
    }
  }
}

// Normalizes the UTF-8 `island` into scratch->code_points (grown if
// needed) and returns the number of code points.
size_t NormalizeToCodePoints(const unsigned char* island, size_t size,
                             utf8proc_option_t flags, UnicodeScratch* scratch) {
  std::vector<utf8proc_int32_t>& cps = scratch->code_points;
  const auto decompose = [&](const unsigned char* s, size_t n) {
    if (cps.size() < n + 16) cps.resize(n + 16);
    const utf8proc_ssize_t room = static_cast<utf8proc_ssize_t>(cps.size());
    utf8proc_ssize_t count = utf8proc_decompose(
        s, static_cast<utf8proc_ssize_t>(n), cps.data(), room, flags);
    if (count > room) {  // Too small: `count` is the size needed.
      cps.resize(static_cast<size_t>(count));
      count = utf8proc_decompose(s, static_cast<utf8proc_ssize_t>(n),
                                 cps.data(), count, flags);
    }
    return count;
  };
  utf8proc_ssize_t count = decompose(island, size);
  if (count == UTF8PROC_ERROR_INVALIDUTF8) {
    Sanitize(island, size, &scratch->sanitized);
    count = decompose(
        reinterpret_cast<const unsigned char*>(scratch->sanitized.data()),
        scratch->sanitized.size());
  }
  if (count < 0) {  // Not expected (valid input, no allocation): one U+FFFD.
    cps[0] = kReplacementCharacter;
    return 1;
  }
  count = utf8proc_normalize_utf32(cps.data(), count, flags);
  return static_cast<size_t>(std::max<utf8proc_ssize_t>(count, 0));
}

// Length in bytes of code point `c` (<= U+10FFFF) in UTF-8.
size_t Utf8Length(utf8proc_int32_t c) {
  return c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
}

// Writes code point `c` (<= U+10FFFF) as UTF-8 at `out`; returns its length.
size_t EncodeUtf8(utf8proc_int32_t c, char* out) {
  const uint32_t u = static_cast<uint32_t>(c);
  if (u < 0x80) {
    out[0] = static_cast<char>(u);
    return 1;
  }
  if (u < 0x800) {
    out[0] = static_cast<char>(0xC0 | (u >> 6));
    out[1] = static_cast<char>(0x80 | (u & 0x3F));
    return 2;
  }
  if (u < 0x10000) {
    out[0] = static_cast<char>(0xE0 | (u >> 12));
    out[1] = static_cast<char>(0x80 | ((u >> 6) & 0x3F));
    out[2] = static_cast<char>(0x80 | (u & 0x3F));
    return 3;
  }
  out[0] = static_cast<char>(0xF0 | (u >> 18));
  out[1] = static_cast<char>(0x80 | ((u >> 12) & 0x3F));
  out[2] = static_cast<char>(0x80 | ((u >> 6) & 0x3F));
  out[3] = static_cast<char>(0x80 | (u & 0x3F));
  return 4;
}

// The code point starting at p[0] in valid UTF-8 (as EncodeUtf8 writes it)
// whose first byte is >= 0x80; sets *length to its length in bytes.
utf8proc_int32_t DecodeUtf8(const char* s, size_t* length) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(s);
  const uint32_t c = p[0];
  if (c < 0xE0) {
    *length = 2;
    return static_cast<utf8proc_int32_t>(((c & 0x1F) << 6) | (p[1] & 0x3F));
  }
  if (c < 0xF0) {
    *length = 3;
    return static_cast<utf8proc_int32_t>(((c & 0x0F) << 12) |
                                         ((p[1] & 0x3F) << 6) | (p[2] & 0x3F));
  }
  *length = 4;
  return static_cast<utf8proc_int32_t>(((c & 0x07) << 18) |
                                       ((p[1] & 0x3F) << 12) |
                                       ((p[2] & 0x3F) << 6) | (p[3] & 0x3F));
}

// Makes `*buffer` at least `size` bytes, growing it geometrically.
void EnsureSize(size_t size, std::string* buffer) {
  if (buffer->size() < size) buffer->resize(std::max(size, 2 * buffer->size()));
}

// Writes the normalized `island` to `*buffer` from `*w` on and advances
// `*w`, leaving room for `rest` more bytes after it.
void AppendIsland(const unsigned char* island, size_t size, bool strip,
                  utf8proc_option_t flags, size_t rest, UnicodeScratch* scratch,
                  std::string* buffer, size_t* w) {
  IslandCacheEntry* entry = nullptr;
  uint64_t key = 0;
  if (size <= kMaxCachedIsland) {
    if (scratch->cache.empty()) scratch->cache.resize(1 << kIslandCacheBits);
    key = IslandKey(island, size, strip);
    entry =
        &scratch
             ->cache[(key * 0x9E3779B97F4A7C15ull) >> (64 - kIslandCacheBits)];
    if (entry->length != IslandCacheEntry::kEmpty && entry->key == key) {
      EnsureSize(*w + entry->length + rest, buffer);
      std::memcpy(buffer->data() + *w, entry->bytes, entry->length);
      *w += entry->length;
      return;
    }
  }
  const size_t count = NormalizeToCodePoints(island, size, flags, scratch);
  const utf8proc_int32_t* cps = scratch->code_points.data();
  size_t bytes = 0;
  for (size_t k = 0; k < count; ++k) bytes += Utf8Length(cps[k]);
  EnsureSize(*w + bytes + rest, buffer);
  char* out = buffer->data() + *w;
  for (size_t k = 0, o = 0; k < count; ++k) o += EncodeUtf8(cps[k], out + o);
  if (entry != nullptr && bytes <= sizeof(entry->bytes)) {
    entry->key = key;
    entry->length = static_cast<uint8_t>(bytes);
    std::memcpy(entry->bytes, out, bytes);
  }
  *w += bytes;
}

// CJK ideographs (unified, extensions A to H, compatibility), CJK symbols
// and punctuation, Hiragana, Katakana: their letters and numbers are tokens
// of their own. These are Unicode block ranges, which utf8proc does not
// expose; the characters' categories still come from utf8proc.
bool IsCjkBlock(utf8proc_int32_t c) {
  return (c >= 0x3000 && c <= 0x30FF) ||    // Symbols, Hiragana, Katakana.
         (c >= 0x31F0 && c <= 0x31FF) ||    // Katakana phonetic extensions.
         (c >= 0x3400 && c <= 0x4DBF) ||    // Extension A.
         (c >= 0x4E00 && c <= 0x9FFF) ||    // Unified ideographs.
         (c >= 0xF900 && c <= 0xFAFF) ||    // Compatibility ideographs.
         (c >= 0x1B000 && c <= 0x1B16F) ||  // Kana supplement, extended-A.
         (c >= 0x20000 && c <= 0x3FFFF);    // Extensions B to H, supplement.
}

// Class of a non-ASCII code point, from its general category.
uint8_t ClassifyNonAscii(utf8proc_int32_t c) {
  switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
      return IsCjkBlock(c) ? kOwnToken : kWordChar;
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
      return kWordChar;
    case UTF8PROC_CATEGORY_ZS:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
    case UTF8PROC_CATEGORY_CC:
      return kSpace;
    default:
      return kPunct;
  }
}

struct ClassAndLength {
  uint8_t cls;
  uint8_t length;  // In bytes.
};

// Class and length of the non-ASCII character at `p` in normalized text.
ClassAndLength NonAsciiClassAt(const char* p) {
  size_t length;
  const uint8_t cls = ClassifyNonAscii(DecodeUtf8(p, &length));
  return {cls, static_cast<uint8_t>(length)};
}

// Class and length of the character at p[i] of normalized text.
inline ClassAndLength ClassAt(const CharTables& t, const char* p, size_t i) {
  const unsigned char c = static_cast<unsigned char>(p[i]);
  if (c < 0x80) return {t.cls[c], 1};
  return NonAsciiClassAt(p + i);
}

// If the character at p[i] is a combining mark (M*), its length, else 0.
size_t MarkLengthAt(const char* p, size_t i) {
  if (static_cast<unsigned char>(p[i]) < 0x80) return 0;
  size_t length;
  const utf8proc_category_t category =
      utf8proc_category(DecodeUtf8(p + i, &length));
  return category == UTF8PROC_CATEGORY_MN || category == UTF8PROC_CATEGORY_MC ||
                 category == UTF8PROC_CATEGORY_ME
             ? length
             : 0;
}

// Rewrites each U+2019 of out[begin, *end) that is between two word
// characters as U+0027 (the character before `begin` is not one of them,
// the character after `*end` has class `next`), moving the rest left.
void JoinApostrophes(const CharTables& t, char* out, size_t begin, uint8_t next,
                     size_t* end) {
  for (size_t q = begin; q + 3 <= *end; ++q) {
    if (out[q] != '\xE2' || out[q + 1] != '\x80' || out[q + 2] != '\x99') {
      continue;
    }
    size_t prev = q;  // The start of the character before.
    while (prev > begin &&
           (static_cast<unsigned char>(out[prev - 1]) & 0xC0) == 0x80) {
      --prev;
    }
    if (prev > begin) --prev;
    const bool after_word = prev < q && ClassAt(t, out, prev).cls == kWordChar;
    const bool before_word = q + 3 < *end
                                 ? ClassAt(t, out, q + 3).cls == kWordChar
                                 : next == kWordChar;
    if (after_word && before_word) {
      out[q] = '\'';
      std::memmove(out + q + 1, out + q + 3, *end - q - 3);
      *end -= 2;
    }
  }
}

// Writes the normalized form of `text` (see Tokenize in text.h) to
// `*buffer`, with U+2019 between two word characters written as U+0027.
void Normalize(std::string_view text, const TokenizerOptions& options,
               std::string* buffer) {
  const CharTables& t = Tables();
  const utf8proc_option_t flags = NormalizationFlags(options);
  UnicodeScratch& scratch = Scratch();
  const unsigned char* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t len = text.size();
  // Invariant: `*buffer` has room for what is written so far (w bytes) plus
  // the rest of the text as ASCII.
  buffer->resize(len);
  size_t w = 0;
  size_t i = 0;
  while (i < len) {
    // ASCII is normalized here (lowercased). An "island" of non-ASCII bytes
    // goes to utf8proc with the ASCII character before it, which may
    // compose with the marks it starts with ("e" + U+0301 -> "é").
    // Normalization cannot reach across two ASCII characters: they are
    // starters that compose with nothing before them, and case folding and
    // compatibility mappings map one character at a time.
    size_t ascii_end = i;
    while (ascii_end < len && s[ascii_end] < 0x80) ++ascii_end;
    const size_t copy_end =
        ascii_end < len && ascii_end > i ? ascii_end - 1 : ascii_end;
    char* out = buffer->data();
    for (; i < copy_end; ++i) out[w++] = AsciiLower(s[i]);
    if (i == len) break;
    size_t island_end = ascii_end;
    while (island_end < len && s[island_end] >= 0x80) ++island_end;
    const size_t island_begin = w;
    AppendIsland(s + i, island_end - i, options.strip_accents, flags,
                 len - island_end, &scratch, buffer, &w);
    i = island_end;
    // The character after the island is ASCII, if any.
    JoinApostrophes(t, buffer->data(), island_begin,
                    i < len ? t.cls[s[i]] : uint8_t{kSpace}, &w);
  }
  buffer->resize(w);
  if (scratch.code_points.size() > kMaxRetainedCodePoints) {
    std::vector<utf8proc_int32_t>().swap(scratch.code_points);
  }
}

// The Unicode tokenizer for text with non-ASCII bytes (see Tokenize in
// text.h): the legacy tokenizer's loop on the normalized text, with the
// classes of non-ASCII characters from their Unicode categories.
void UnicodeTokenize(std::string_view text, std::string* buffer,
                     std::vector<std::string_view>* tokens,
                     const TokenizerOptions& options) {
  const CharTables& t = Tables();
  Normalize(text, options, buffer);
  const char* p = buffer->data();
  const size_t n = buffer->size();
  tokens->clear();
  size_t i = 0;
  while (i < n) {
    const ClassAndLength c = ClassAt(t, p, i);
    if (c.cls == kWordChar) {
      const size_t start = i;
      i += c.length;
      while (i < n) {
        const ClassAndLength next = ClassAt(t, p, i);
        if (next.cls == kWordChar) {
          i += next.length;
        } else if (p[i] == '\'' && i + 1 < n) {
          const ClassAndLength after = ClassAt(t, p, i + 1);
          if (after.cls != kWordChar) break;
          i += 1 + after.length;
        } else {
          break;
        }
      }
      tokens->emplace_back(p + start, i - start);
    } else if (c.cls == kOwnToken) {
      const size_t start = i;
      i += c.length;
      while (i < n) {
        const size_t mark = MarkLengthAt(p, i);
        if (mark == 0) break;
        i += mark;
      }
      tokens->emplace_back(p + start, i - start);
    } else if (c.cls == kSpace) {
      i += c.length;
    } else {  // Punctuation, or the start of a line break tag.
      const size_t skip = p[i] == '<' ? LineBreakLength(p, n, i) : 0;
      if (skip > 0) {
        i += skip;
      } else {
        if (options.keep_punctuation) tokens->emplace_back(p + i, c.length);
        i += c.length;
      }
    }
  }
}

}  // namespace

void Tokenize(std::string_view text, std::string* buffer,
              std::vector<std::string_view>* tokens,
              const TokenizerOptions& options) {
  if (!options.unicode || IsAscii(text)) {
    AsciiTokenize(text, buffer, tokens, options.keep_punctuation);
  } else {
    UnicodeTokenize(text, buffer, tokens, options);
  }
}

void Tokenize(std::string_view text, std::string* buffer,
              std::vector<std::string_view>* tokens, bool keep_punctuation) {
  TokenizerOptions options;  // Unicode.
  options.keep_punctuation = keep_punctuation;
  Tokenize(text, buffer, tokens, options);
}

std::vector<std::string> Tokenize(std::string_view text,
                                  const TokenizerOptions& options) {
  std::string buffer;
  std::vector<std::string_view> views;
  Tokenize(text, &buffer, &views, options);
  return std::vector<std::string>(views.begin(), views.end());
}

std::vector<std::string> Tokenize(std::string_view text,
                                  bool keep_punctuation) {
  TokenizerOptions options;  // Unicode.
  options.keep_punctuation = keep_punctuation;
  return Tokenize(text, options);
}

}  // namespace loom::data
