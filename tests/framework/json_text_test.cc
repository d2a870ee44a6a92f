#include "framework/json_text.h"

#include <cmath>
#include <limits>
#include <string>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace loom {
namespace {

TEST(JsonQuoteTest, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(JsonQuote("plain"), "\"plain\"");
  EXPECT_EQ(JsonQuote("say \"hi\"\\"), "\"say \\\"hi\\\"\\\\\"");
  EXPECT_EQ(JsonQuote("a\nb\tc\x01"), "\"a\\nb\\tc\\u0001\"");
  // UTF-8 stays as it is.
  EXPECT_EQ(JsonQuote("película ¡sí!"), "\"película ¡sí!\"");
}

TEST(JsonQuoteTest, InvalidUtf8BecomesReplacementCharacter) {
  const std::string quoted = JsonQuote("bad \xff byte");
  EXPECT_EQ(quoted, "\"bad \xef\xbf\xbd byte\"");
  EXPECT_EQ(nlohmann::json::parse(quoted).get<std::string>(),
            "bad \xef\xbf\xbd byte");
}

TEST(JsonNumberTest, SignificantDigitsAndNonFiniteAsNull) {
  EXPECT_EQ(JsonNumber(0.5), "0.5");
  EXPECT_EQ(JsonNumber(1.0 / 3.0), "0.333333333");
  EXPECT_EQ(JsonNumber(1.0 / 3.0, 4), "0.3333");
  EXPECT_EQ(JsonNumber(std::nan("")), "null");
  EXPECT_EQ(JsonNumber(std::numeric_limits<double>::infinity()), "null");
  EXPECT_EQ(JsonNumber(-std::numeric_limits<double>::infinity()), "null");
  EXPECT_DOUBLE_EQ(nlohmann::json::parse(JsonNumber(2.5e-7)).get<double>(),
                   2.5e-7);
}

}  // namespace
}  // namespace loom
