// JSON text of one value, for reports whose layout Loom chooses (one epoch
// per line in history.json, say) but whose escaping nlohmann-json does.
#ifndef LOOM_FRAMEWORK_JSON_TEXT_H_
#define LOOM_FRAMEWORK_JSON_TEXT_H_

#include <string>

#include "absl/strings/string_view.h"

namespace loom {

// `text` as a JSON string, quoted and escaped; bytes that are not valid
// UTF-8 become U+FFFD, so the result is always valid JSON.
std::string JsonQuote(absl::string_view text);

// `value` with `significant_digits` significant digits; null when it is
// not finite (JSON has no NaN or infinity).
std::string JsonNumber(double value, int significant_digits = 9);

}  // namespace loom

#endif  // LOOM_FRAMEWORK_JSON_TEXT_H_
