#include "framework/data/readers/writer.h"

#include <csv.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "framework/status_macros.h"
#include "nlohmann/json.hpp"

namespace loom::data {
namespace {

std::string FormatFromExtension(const std::string& path) {
  const std::string ext =
      absl::AsciiStrToLower(std::filesystem::path(path).extension().string());
  if (ext == ".csv") return "csv";
  if (ext == ".tsv") return "tsv";
  if (ext == ".jsonl" || ext == ".ndjson" || ext == ".json") return "jsonl";
  return "";
}

}  // namespace

absl::StatusOr<std::unique_ptr<ScoredWriter>> ScoredWriter::Create(
    const std::string& path, const std::string& format,
    const std::string& input_format,
    const std::vector<std::string>& class_names) {
  std::string chosen = format;
  if (chosen.empty()) chosen = FormatFromExtension(path);
  if (chosen.empty() && (input_format == "csv" || input_format == "tsv" ||
                         input_format == "jsonl")) {
    chosen = input_format;
  }
  if (chosen.empty()) chosen = "csv";
  if (chosen != "csv" && chosen != "tsv" && chosen != "jsonl") {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot write scores as '", chosen, "' (csv, tsv or jsonl)"));
  }
  auto writer = std::unique_ptr<ScoredWriter>(new ScoredWriter());
  writer->path_ = path;
  writer->temp_path_ = absl::StrCat(path, ".tmp.", ::getpid());
  writer->format_ = chosen;
  writer->class_names_ = class_names;
  writer->file_ = std::fopen(writer->temp_path_.c_str(), "wb");
  if (writer->file_ == nullptr) {
    return absl::PermissionDeniedError(absl::StrCat(
        "cannot write ", writer->temp_path_, ": ", std::strerror(errno)));
  }
  return writer;
}

ScoredWriter::~ScoredWriter() {
  if (file_ != nullptr) {
    std::fclose(file_);
    ::unlink(temp_path_.c_str());
  }
}

void ScoredWriter::Field(const std::string& value, bool first) {
  const char delimiter = format_ == "tsv" ? '\t' : ',';
  if (!first) line_ += delimiter;
  const bool needs_quotes = value.find_first_of(std::string("\"\r\n") +
                                                delimiter) != std::string::npos;
  if (!needs_quotes) {
    line_ += value;
    return;
  }
  // libcsv's csv_write quotes the field and doubles its quotes.
  const size_t size = csv_write(nullptr, 0, value.data(), value.size());
  const size_t at = line_.size();
  line_.resize(at + size);
  csv_write(line_.data() + at, size, value.data(), value.size());
}

absl::Status ScoredWriter::WriteDelimited(
    const Record& record, const std::vector<std::string>& header, int predicted,
    const std::vector<float>& probabilities) {
  line_.clear();
  if (!wrote_header_) {
    wrote_header_ = true;
    rows_have_fields_ = !record.fields.empty() && !header.empty();
    bool first = true;
    if (rows_have_fields_) {
      for (const std::string& name : header) {
        Field(name, first);
        first = false;
      }
    } else {
      Field("source", true);
      Field("text", false);
      first = false;
    }
    Field("predicted_label", first);
    for (const std::string& name : class_names_) {
      Field(absl::StrCat("p_", name), false);
    }
    line_ += '\n';
  }
  bool first = true;
  if (rows_have_fields_) {
    for (const std::string& value : record.fields) {
      Field(value, first);
      first = false;
    }
  } else {
    Field(record.where, true);
    Field(record.text, false);
    first = false;
  }
  Field(class_names_[predicted], first);
  for (float p : probabilities) Field(absl::StrFormat("%.6f", p), false);
  line_ += '\n';
  return absl::OkStatus();
}

absl::Status ScoredWriter::WriteJson(const Record& record, int predicted,
                                     const std::vector<float>& probabilities) {
  nlohmann::ordered_json object;
  if (!record.json.empty()) {
    object = nlohmann::ordered_json::parse(record.json, nullptr, false);
    if (object.is_discarded() || !object.is_object()) {
      return absl::InternalError(
          absl::StrCat(record.where, ": the record's JSON no longer parses"));
    }
  } else {
    object["source"] = record.where;
    object["text"] = record.text;
  }
  object["predicted_label"] = class_names_[predicted];
  nlohmann::ordered_json probs = nlohmann::ordered_json::object();
  for (size_t c = 0; c < class_names_.size(); ++c) {
    // Six decimals, as the CSV columns.
    probs[class_names_[c]] =
        std::round(static_cast<double>(probabilities[c]) * 1e6) / 1e6;
  }
  object["probabilities"] = std::move(probs);
  line_ = object.dump(-1, ' ', false,
                      nlohmann::ordered_json::error_handler_t::replace);
  line_ += '\n';
  return absl::OkStatus();
}

absl::Status ScoredWriter::Write(const Record& record,
                                 const std::vector<std::string>& header,
                                 int predicted,
                                 const std::vector<float>& probabilities) {
  if (file_ == nullptr) {
    return absl::FailedPreconditionError("ScoredWriter: already finished");
  }
  if (predicted < 0 || predicted >= static_cast<int>(class_names_.size()) ||
      probabilities.size() != class_names_.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(record.where, ": prediction ", predicted, " with ",
                     probabilities.size(), " probabilities for ",
                     class_names_.size(), " classes"));
  }
  LOOM_RETURN_IF_ERROR(
      format_ == "jsonl"
          ? WriteJson(record, predicted, probabilities)
          : WriteDelimited(record, header, predicted, probabilities));
  if (std::fwrite(line_.data(), 1, line_.size(), file_) != line_.size()) {
    return absl::DataLossError(
        absl::StrCat("cannot write ", temp_path_, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status ScoredWriter::Finish() {
  if (file_ == nullptr) {
    return absl::FailedPreconditionError("ScoredWriter: already finished");
  }
  const bool flushed = std::fflush(file_) == 0 && ::fsync(fileno(file_)) == 0;
  const int err = errno;
  const bool closed = std::fclose(file_) == 0;
  file_ = nullptr;
  if (!flushed || !closed) {
    ::unlink(temp_path_.c_str());
    return absl::DataLossError(
        absl::StrCat("cannot write ", temp_path_, ": ", std::strerror(err)));
  }
  if (std::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    const int rename_err = errno;
    ::unlink(temp_path_.c_str());
    return absl::DataLossError(absl::StrCat("cannot rename ", temp_path_,
                                            " to ", path_, ": ",
                                            std::strerror(rename_err)));
  }
  return absl::OkStatus();
}

}  // namespace loom::data
