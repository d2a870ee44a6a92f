#include "framework/json_text.h"

#include <cmath>
#include <string>

#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"

namespace loom {

std::string JsonQuote(absl::string_view text) {
  return nlohmann::json(std::string(text.data(), text.size()))
      .dump(-1, ' ', /*ensure_ascii=*/false,
            nlohmann::json::error_handler_t::replace);
}

std::string JsonNumber(double value, int significant_digits) {
  if (!std::isfinite(value)) return "null";
  return absl::StrFormat("%.*g", significant_digits, value);
}

}  // namespace loom
