// JSON Lines: one JSON object per line, e.g. {"text": "...", "label": 4},
// parsed with nlohmann-json. The label may be a string or an integer.
// Blank lines are skipped.
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "framework/data/readers/reader.h"
#include "framework/status_macros.h"
#include "nlohmann/json.hpp"

namespace loom::data {
namespace {

using nlohmann::json;

// The label as text: strings as they are, integers in decimal.
bool LabelText(const json& value, std::string* out) {
  if (value.is_string()) {
    *out = std::string(absl::StripAsciiWhitespace(value.get<std::string>()));
    return true;
  }
  if (value.is_number_unsigned()) {
    *out = std::to_string(value.get<uint64_t>());
    return true;
  }
  if (value.is_number_integer()) {
    *out = std::to_string(value.get<int64_t>());
    return true;
  }
  if (value.is_number_float()) {
    const double d = value.get<double>();
    // Only doubles in int64's range may be cast (anything else, 1e300 or
    // NaN, is undefined behavior).
    if (d >= -0x1p63 && d < 0x1p63 &&
        d == static_cast<double>(static_cast<int64_t>(d))) {
      *out = std::to_string(static_cast<int64_t>(d));
      return true;
    }
  }
  if (value.is_boolean()) {
    *out = value.get<bool>() ? "true" : "false";
    return true;
  }
  return false;
}

class JsonLinesFormat : public TextFormat {
 public:
  std::string_view name() const override { return "jsonl"; }

  int Detect(const PathInfo& info) const override {
    if (info.is_directory) return 0;
    if (info.extension == ".jsonl" || info.extension == ".ndjson") return 2;
    const size_t first = info.head.find_first_not_of(" \t\r\n\xEF\xBB\xBF");
    if (first != std::string::npos && info.head[first] == '{') {
      return info.extension == ".json" ? 2 : 1;
    }
    return 0;
  }

  absl::Status Read(const std::string& path, const ReadOptions& options,
                    const RecordSink& sink, ReadStats* stats) const override {
    return ForEachLine(
        path, kMaxRecordBytes,
        [&](std::string_view view, int64_t number) -> absl::Status {
          if (number == 1 && view.substr(0, 3) == "\xEF\xBB\xBF") {
            view.remove_prefix(3);
          }
          if (absl::StripAsciiWhitespace(
                  absl::string_view(view.data(), view.size()))
                  .empty()) {
            return absl::OkStatus();
          }
          const std::string where = absl::StrCat(path, ":", number);
          Record record;
          record.where = where;
          record.line = number;
          record.json.assign(view.data(), view.size());
          bool replaced = false;
          // nlohmann refuses bad UTF-8 inside strings, so check it first.
          LOOM_RETURN_IF_ERROR(CheckUtf8(&record.json, options.replace_bad_text,
                                         where, &replaced));
          stats->replaced_text += replaced ? 1 : 0;
          json object;
          try {
            object = json::parse(record.json);
          } catch (const json::exception& e) {
            // parse_error, and out_of_range for a number beyond double's
            // range (1e999).
            return BadRow(options, where,
                          absl::StrCat("not valid JSON (", e.what(), ")"),
                          stats);
          }
          if (!object.is_object()) {
            return BadRow(options, where, "not a JSON object", stats);
          }
          const auto text = object.find(options.text_column);
          if (text == object.end() || !text->is_string()) {
            return BadRow(
                options, where,
                absl::StrCat(text == object.end() ? "no key '" : "key '",
                             options.text_column,
                             text == object.end() ? "'" : "' is not a string",
                             " for the text (choose one with --text_column)"),
                stats);
          }
          record.text = text->get<std::string>();
          const auto label = object.find(options.label_column);
          if (label != object.end() && !label->is_null()) {
            if (!LabelText(*label, &record.label)) {
              return BadRow(options, where,
                            absl::StrCat("key '", options.label_column,
                                         "' is neither a string nor an "
                                         "integer"),
                            stats);
            }
            record.has_label = !record.label.empty();
          }
          if (!record.has_label && options.require_label) {
            return BadRow(options, where,
                          absl::StrCat("no label (key '", options.label_column,
                                       "'; choose one with --label_column)"),
                          stats);
          }
          if (!options.group_column.empty()) {
            const auto group = object.find(options.group_column);
            if (group != object.end() && !group->is_null() &&
                !LabelText(*group, &record.group)) {
              return BadRow(options, where,
                            absl::StrCat("key '", options.group_column,
                                         "' (the group) is neither a string "
                                         "nor an integer"),
                            stats);
            }
          }
          ++stats->records;
          return sink(record);
        });
  }
};

LOOM_REGISTER_TEXT_FORMAT(JsonLinesFormat);

}  // namespace
}  // namespace loom::data
