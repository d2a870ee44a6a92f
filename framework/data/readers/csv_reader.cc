// CSV (RFC 4180) and TSV files with a header row, parsed by Debian's libcsv
// in strict mode: quoted fields may hold the delimiter, quotes ("") and
// newlines; a quote left open is an error naming the line it opened on.
// UTF-8 with or without a byte order mark; CRLF or LF line ends. The text
// and label columns are found by name in the header (exactly, else ignoring
// case).
#include <csv.h>

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "framework/data/readers/reader.h"
#include "framework/status_macros.h"

namespace loom::data {
namespace {

// libcsv's callbacks collect fields and finished rows here.
struct ParseState {
  std::vector<std::string> fields;
  std::vector<std::vector<std::string>> rows;
  std::vector<int64_t> row_lines;  // First line of each finished row.
  int64_t row_start = 0;
};

void OnField(void* data, size_t len, void* user) {
  auto* state = static_cast<ParseState*>(user);
  state->fields.emplace_back(data == nullptr ? "" : static_cast<char*>(data),
                             len);
}

void OnRow(int /*terminator*/, void* user) {
  auto* state = static_cast<ParseState*>(user);
  state->rows.push_back(std::move(state->fields));
  state->row_lines.push_back(state->row_start);
  state->fields.clear();
}

// RFC 4180: spaces belong to the field, so nothing is trimmed.
int NoSpace(unsigned char) { return 0; }

int FindColumn(const std::vector<std::string>& header,
               const std::string& name) {
  for (size_t i = 0; i < header.size(); ++i) {
    if (header[i] == name) return static_cast<int>(i);
  }
  for (size_t i = 0; i < header.size(); ++i) {
    if (absl::EqualsIgnoreCase(header[i], name)) return static_cast<int>(i);
  }
  return -1;
}

class DelimitedFormat : public TextFormat {
 public:
  DelimitedFormat(const char* name, unsigned char delimiter,
                  const char* extension)
      : name_(name), delimiter_(delimiter), extension_(extension) {}

  std::string_view name() const override { return name_; }

  int Detect(const PathInfo& info) const override {
    if (info.is_directory) return 0;
    if (info.extension == extension_) return 2;
    // By content: the first line holds the delimiter (and, for CSV, no
    // tab, which would make it TSV) and does not start like JSON.
    const std::string_view head(info.head);
    const std::string_view first = head.substr(0, head.find('\n'));
    if (first.empty() || first.front() == '{') return 0;
    if (first.find(static_cast<char>(delimiter_)) == std::string_view::npos)
      return 0;
    if (delimiter_ == ',' && first.find('\t') != std::string_view::npos)
      return 0;
    if (info.head.find('\0') != std::string::npos) return 0;  // Binary.
    return 1;
  }

  absl::Status Read(const std::string& path, const ReadOptions& options,
                    const RecordSink& sink, ReadStats* stats) const override {
    struct csv_parser parser;
    if (csv_init(&parser, CSV_STRICT | CSV_STRICT_FINI) != 0) {
      return absl::ResourceExhaustedError("cannot initialize the CSV parser");
    }
    csv_set_delim(&parser, delimiter_);
    csv_set_space_func(&parser, NoSpace);
    ParseState state;
    int text_col = -1;
    int label_col = -1;
    int group_col = -1;
    bool have_header = false;
    int64_t record_bytes = 0;  // Fed since the last finished row.
    int64_t last_line = 0;

    // Turns the finished rows into records.
    auto drain = [&]() -> absl::Status {
      for (size_t r = 0; r < state.rows.size(); ++r) {
        std::vector<std::string>& row = state.rows[r];
        const int64_t line = state.row_lines[r];
        const std::string where = absl::StrCat(path, ":", line);
        if (!have_header) {
          have_header = true;
          if (!row.empty() && absl::StartsWith(row[0], "\xEF\xBB\xBF")) {
            row[0].erase(0, 3);  // The byte order mark.
          }
          stats->header = row;
          text_col = FindColumn(row, options.text_column);
          label_col = FindColumn(row, options.label_column);
          const std::string columns = absl::StrCat(
              " (the header row has: ", absl::StrJoin(row, ", "), ")");
          if (text_col < 0) {
            return absl::InvalidArgumentError(absl::StrCat(
                path, ":", line, ": no text column '", options.text_column, "'",
                columns, "; choose one with --text_column"));
          }
          if (label_col < 0 && options.require_label) {
            return absl::InvalidArgumentError(absl::StrCat(
                path, ":", line, ": no label column '", options.label_column,
                "'", columns, "; choose one with --label_column"));
          }
          if (!options.group_column.empty()) {
            group_col = FindColumn(row, options.group_column);
            if (group_col < 0) {
              return absl::InvalidArgumentError(absl::StrCat(
                  path, ":", line, ": no group column '", options.group_column,
                  "'", columns, "; choose one with --group_by"));
            }
          }
          continue;
        }
        if (row.size() != stats->header.size()) {
          LOOM_RETURN_IF_ERROR(
              BadRow(options, where,
                     absl::StrCat("row has ", row.size(),
                                  " fields, the header ", stats->header.size()),
                     stats));
          continue;
        }
        Record record;
        record.where = where;
        record.line = line;
        record.text = row[text_col];
        bool replaced = false;
        LOOM_RETURN_IF_ERROR(CheckUtf8(
            &record.text, options.replace_bad_text,
            absl::StrCat(where, ", column '", stats->header[text_col], "'"),
            &replaced));
        stats->replaced_text += replaced ? 1 : 0;
        if (label_col >= 0) {
          record.label =
              std::string(absl::StripAsciiWhitespace(row[label_col]));
          record.has_label = !record.label.empty();
          if (!record.has_label && options.require_label) {
            LOOM_RETURN_IF_ERROR(
                BadRow(options, where,
                       absl::StrCat("empty label in column '",
                                    stats->header[label_col], "'"),
                       stats));
            continue;
          }
          LOOM_RETURN_IF_ERROR(CheckUtf8(
              &record.label, options.replace_bad_text, where, &replaced));
        }
        if (group_col >= 0) {
          record.group =
              std::string(absl::StripAsciiWhitespace(row[group_col]));
          LOOM_RETURN_IF_ERROR(CheckUtf8(
              &record.group, options.replace_bad_text,
              absl::StrCat(where, ", column '", stats->header[group_col], "'"),
              &replaced));
        }
        record.fields = std::move(row);
        ++stats->records;
        LOOM_RETURN_IF_ERROR(sink(record));
      }
      state.rows.clear();
      state.row_lines.clear();
      return absl::OkStatus();
    };

    auto feed = [&](const char* data, size_t size) -> absl::Status {
      if (csv_parse(&parser, data, size, OnField, OnRow, &state) != size) {
        return absl::InvalidArgumentError(absl::StrCat(
            path, ":", last_line, ": ",
            csv_error(&parser) == CSV_EPARSE
                ? absl::StrCat("malformed quoting in the row that starts on "
                               "line ",
                               state.row_start,
                               " (a quote inside an unquoted field, or text "
                               "after a closing quote; write quotes in a "
                               "quoted field as \"\")")
                : std::string(csv_strerror(csv_error(&parser)))));
      }
      return absl::OkStatus();
    };

    absl::Status status = ForEachLine(
        path, kMaxRecordBytes, [&](std::string_view line, int64_t number) {
          last_line = number;
          if (record_bytes == 0) {
            if (line.empty() || line == "\r") return absl::OkStatus();
            state.row_start = number;
          }
          record_bytes += static_cast<int64_t>(line.size()) + 1;
          if (record_bytes > kMaxRecordBytes) {
            return absl::InvalidArgumentError(
                absl::StrCat(path, ":", state.row_start,
                             ": the row that starts here is "
                             "over 64 MiB: a quote that is never closed?"));
          }
          LOOM_RETURN_IF_ERROR(feed(line.data(), line.size()));
          LOOM_RETURN_IF_ERROR(feed("\n", 1));
          if (!state.rows.empty()) record_bytes = 0;
          return drain();
        });
    if (status.ok()) {
      if (csv_fini(&parser, OnField, OnRow, &state) != 0) {
        status = absl::InvalidArgumentError(absl::StrCat(
            path, ":", state.row_start,
            ": a quoted field opened in the row that starts here is never "
            "closed"));
      } else {
        status = drain();
      }
    }
    csv_free(&parser);
    LOOM_RETURN_IF_ERROR(status);
    if (!have_header) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": no header row (the file has no rows)"));
    }
    return absl::OkStatus();
  }

 private:
  const char* name_;
  unsigned char delimiter_;
  std::string extension_;
};

class CsvFormat : public DelimitedFormat {
 public:
  CsvFormat() : DelimitedFormat("csv", ',', ".csv") {}
};

class TsvFormat : public DelimitedFormat {
 public:
  TsvFormat() : DelimitedFormat("tsv", '\t', ".tsv") {}
};

LOOM_REGISTER_TEXT_FORMAT(CsvFormat);
LOOM_REGISTER_TEXT_FORMAT(TsvFormat);

}  // namespace
}  // namespace loom::data
