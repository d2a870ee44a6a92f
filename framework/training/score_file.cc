#include "framework/training/score_file.h"

#include <sys/stat.h>

#include <chrono>
#include <ostream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "framework/data/readers/writer.h"
#include "framework/training/classification.h"
#include "framework/training/saved_model.h"

namespace loom {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

int64_t FileSize(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) ? st.st_size : 0;
}

}  // namespace

absl::StatusOr<ScoreFileSummary> ScoreFile(Model& model,
                                           const data::Vocabulary& vocabulary,
                                           const ScoreFileOptions& options,
                                           std::ostream& out) {
  const std::vector<std::string> class_names(
      model.def().dataset().class_name().begin(),
      model.def().dataset().class_name().end());
  if (class_names.empty()) {
    return absl::FailedPreconditionError(
        "the model folder names no classes (dataset.class_name); train it "
        "again with this version of Loom");
  }
  if (auto s = CheckClassesMatchModel(model, class_names); !s.ok()) return s;
  if (options.batch_size <= 0 || options.chunk_rows <= 0) {
    return absl::InvalidArgumentError("batch_size and chunk_rows must be > 0");
  }
  auto format = data::FindTextFormat(options.input, options.input_format);
  if (!format.ok()) return format.status();
  auto writer =
      data::ScoredWriter::Create(options.output, options.output_format,
                                 std::string((*format)->name()), class_names);
  if (!writer.ok()) return writer.status();

  ScoreFileSummary summary;
  summary.label_counts.assign(class_names.size(), 0);
  data::ReadOptions read = options.read;
  read.require_label = false;
  const auto start = Clock::now();
  const int64_t input_bytes = FileSize(options.input);
  int64_t bytes_seen = 0;
  double last_draw = -1;

  std::vector<data::Record> chunk;
  std::vector<std::string> texts;
  std::vector<float> probabilities;
  const auto flush = [&]() -> absl::Status {
    if (chunk.empty()) return absl::OkStatus();
    texts.clear();
    for (const data::Record& r : chunk) texts.push_back(r.text);
    const Tensor ids = EncodeTexts(texts, vocabulary, model.def().dataset());
    auto prediction = model.Predict(ids, options.batch_size);
    if (!prediction.ok()) return prediction.status();
    for (size_t i = 0; i < chunk.size(); ++i) {
      ClassProbabilities(*prediction, static_cast<int64_t>(i), &probabilities);
      const int label = ArgMax(probabilities);
      ++summary.label_counts[label];
      if (auto s = (*writer)->Write(chunk[i], summary.read.header, label,
                                    probabilities);
          !s.ok()) {
        return s;
      }
    }
    summary.rows += static_cast<int64_t>(chunk.size());
    chunk.clear();
    if (options.interactive) {
      const double elapsed = SecondsSince(start);
      if (elapsed - last_draw >= 0.2) {
        last_draw = elapsed;
        const double rate = summary.rows / std::max(elapsed, 1e-9);
        std::string eta;
        if (input_bytes > 0 && bytes_seen > 0 && bytes_seen < input_bytes) {
          const double rows_left =
              summary.rows *
              (static_cast<double>(input_bytes) / bytes_seen - 1);
          eta = absl::StrFormat(" - ETA: %.0fs", rows_left / rate);
        }
        out << absl::StrFormat("\r%d rows - %.0f rows/s%s\x1b[K", summary.rows,
                               rate, eta)
            << std::flush;
      }
    }
    return absl::OkStatus();
  };
  const auto sink = [&](data::Record& record) -> absl::Status {
    if (record.fields.empty()) {
      bytes_seen +=
          static_cast<int64_t>(record.text.size() + record.json.size()) + 1;
    }
    for (const std::string& f : record.fields) {
      bytes_seen += static_cast<int64_t>(f.size()) + 1;
    }
    if (record.text.find_first_not_of(" \t\r\n") == std::string::npos) {
      ++summary.empty_texts;
    }
    chunk.push_back(std::move(record));
    if (static_cast<int64_t>(chunk.size()) >= options.chunk_rows) {
      return flush();
    }
    return absl::OkStatus();
  };
  if (auto s = (*format)->Read(options.input, read, sink, &summary.read);
      !s.ok()) {
    return s;
  }
  if (auto s = flush(); !s.ok()) return s;
  if (summary.rows == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.input, ": no rows to score"));
  }
  if (auto s = (*writer)->Finish(); !s.ok()) return s;
  summary.seconds = SecondsSince(start);
  if (options.interactive) out << "\r\x1b[K";
  std::vector<std::string> counts;
  for (size_t c = 0; c < class_names.size(); ++c) {
    counts.push_back(
        absl::StrCat(class_names[c], " ", summary.label_counts[c]));
  }
  out << absl::StrFormat(
      "Scored %d rows of %s in %.2f s (%.0f rows/s) into %s (%s)\n"
      "Predicted: %s\n",
      summary.rows, options.input, summary.seconds,
      summary.rows / std::max(summary.seconds, 1e-9), options.output,
      (*writer)->format(), absl::StrJoin(counts, ", "));
  if (summary.read.skipped > 0) out << summary.read.Summary() << "\n";
  if (summary.read.replaced_text > 0) {
    out << "Replaced bad UTF-8 in " << summary.read.replaced_text << " rows\n";
  }
  if (summary.empty_texts > 0) {
    out << "Warning: " << summary.empty_texts
        << " rows have no text; their scores say nothing about them\n";
  }
  return summary;
}

}  // namespace loom
