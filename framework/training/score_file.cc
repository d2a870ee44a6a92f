#include "framework/training/score_file.h"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <ostream>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "framework/data/readers/writer.h"
#include "framework/status_macros.h"
#include "framework/training/classification.h"
#include "framework/training/saved_model.h"
#include "framework/training/score_file_internal.h"

namespace loom {
namespace score_file_internal {

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

void PrintSummary(const ScoreFileSummary& summary,
                  const ScoreFileOptions& options,
                  const std::string& output_format,
                  const std::vector<std::string>& class_names,
                  std::ostream& out) {
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
      output_format, absl::StrJoin(counts, ", "));
  if (summary.read.skipped > 0) out << summary.read.Summary() << "\n";
  if (summary.read.replaced_text > 0) {
    out << "Replaced bad UTF-8 in " << summary.read.replaced_text << " rows\n";
  }
  if (summary.empty_texts > 0) {
    out << "Warning: " << summary.empty_texts
        << " rows have no text; their scores say nothing about them\n";
  }
}

bool IsEmptyText(const std::string& text) {
  return text.find_first_not_of(" \t\r\n") == std::string::npos;
}

}  // namespace score_file_internal

namespace {

using score_file_internal::Clock;
using score_file_internal::IsEmptyText;
using score_file_internal::PrintSummary;
using score_file_internal::ScoreSharded;
using score_file_internal::SecondsSince;

int64_t FileSize(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) ? st.st_size : 0;
}

distributed::Communicator* g_scoring_comm = nullptr;

// Rows on their way through ScoreFile's stages.
struct ScoredChunk {
  std::vector<data::Record> records;
  std::vector<std::string> header;  // The input's header row, if any.
  Tensor ids;                       // Encoded texts, [rows, max_len].
  Tensor prediction;                // The model's output for them.
  int64_t bytes_seen = 0;           // Input bytes read up to its last row.
};

// A queue of at most `capacity` items between two of ScoreFile's stages.
// Close() ends it, from either side: Push then returns false (the consumer
// is gone), and Pop returns false once the queue is empty.
template <typename T>
class StageQueue {
 public:
  explicit StageQueue(size_t capacity) : capacity_(capacity) {}

  bool Push(T item) {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(this, &StageQueue::CanPush));
    if (closed_) return false;
    items_.push_back(std::move(item));
    return true;
  }
  bool Pop(T* item) {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(this, &StageQueue::CanPop));
    if (items_.empty()) return false;
    *item = std::move(items_.front());
    items_.pop_front();
    return true;
  }
  void Close() {
    absl::MutexLock lock(&mu_);
    closed_ = true;
  }

 private:
  bool CanPush() const { return closed_ || items_.size() < capacity_; }
  bool CanPop() const { return closed_ || !items_.empty(); }

  const size_t capacity_;
  absl::Mutex mu_;
  std::deque<T> items_;
  bool closed_ = false;
};

}  // namespace

void SetScoringCommunicator(distributed::Communicator* comm) {
  g_scoring_comm = comm;
}

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
  LOOM_RETURN_IF_ERROR(CheckClassesMatchModel(model, class_names));
  if (options.batch_size <= 0 || options.chunk_rows <= 0) {
    return absl::InvalidArgumentError("batch_size and chunk_rows must be > 0");
  }
  LOOM_ASSIGN_OR_RETURN(
      auto format, data::FindTextFormat(options.input, options.input_format));
  if (g_scoring_comm != nullptr && g_scoring_comm->size() > 1) {
    const std::string name(format->name());
    if (name == "csv" || name == "tsv" || name == "jsonl") {
      return ScoreSharded(*g_scoring_comm, model, vocabulary, options, *format,
                          class_names, out);
    }
    // Folders and IMDb are not split: rank 0 scores them alone, the
    // others wait for it.
    distributed::Communicator* comm = g_scoring_comm;
    const absl::Duration timeout = comm->timeout();
    comm->set_timeout(std::max(timeout, absl::Hours(24)));
    absl::StatusOr<ScoreFileSummary> summary = ScoreFileSummary();
    if (comm->is_root()) {
      g_scoring_comm = nullptr;
      summary = ScoreFile(model, vocabulary, options, out);
      g_scoring_comm = comm;
      if (!summary.ok()) return summary;
    }
    absl::Status s = comm->Barrier("scoring by rank 0");
    comm->set_timeout(timeout);
    if (!s.ok()) return s;
    return summary;
  }
  LOOM_ASSIGN_OR_RETURN(
      auto writer,
      data::ScoredWriter::Create(options.output, options.output_format,
                                 std::string(format->name()), class_names));

  // Three stages, one thread each, so reading and writing overlap the
  // model: the reader reads and encodes chunks of options.chunk_rows rows,
  // this thread runs the model on them, the writer writes them in order.
  // At most one chunk waits between two stages, so memory stays bounded
  // (five chunks at most: one in each stage, one in each queue). A stage
  // that fails closes its queues, which stops the others.
  ScoreFileSummary summary;
  summary.label_counts.assign(class_names.size(), 0);
  data::ReadOptions read = options.read;
  read.require_label = false;
  const auto start = Clock::now();
  const int64_t input_bytes = FileSize(options.input);
  const TextDatasetDef& dataset = model.def().dataset();
  StageQueue<ScoredChunk> encoded(1);
  StageQueue<ScoredChunk> scored(1);

  absl::Status read_status;
  std::thread reader([&] {
    ScoredChunk chunk;
    int64_t bytes_seen = 0;
    const auto send = [&]() -> absl::Status {
      if (chunk.records.empty()) return absl::OkStatus();
      std::vector<std::string_view> texts;
      texts.reserve(chunk.records.size());
      for (const data::Record& r : chunk.records) texts.push_back(r.text);
      chunk.ids = EncodeTextViews(texts, vocabulary, dataset);
      chunk.header = summary.read.header;
      chunk.bytes_seen = bytes_seen;
      if (!encoded.Push(std::move(chunk))) {
        return absl::CancelledError("scoring stopped");
      }
      chunk = ScoredChunk();
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
      if (IsEmptyText(record.text)) ++summary.empty_texts;
      chunk.records.push_back(std::move(record));
      if (static_cast<int64_t>(chunk.records.size()) >= options.chunk_rows) {
        return send();
      }
      return absl::OkStatus();
    };
    // summary.read and summary.empty_texts belong to this thread until it
    // is joined.
    read_status = format->Read(options.input, read, sink, &summary.read);
    if (read_status.ok()) read_status = send();
    encoded.Close();
  });

  absl::Status write_status;
  std::thread writer_thread([&] {
    ScoredChunk chunk;
    std::vector<float> probabilities;
    double last_draw = -1;
    // summary.rows and summary.label_counts belong to this thread until it
    // is joined; so does `out`.
    while (scored.Pop(&chunk)) {
      for (size_t i = 0; i < chunk.records.size(); ++i) {
        ClassProbabilities(chunk.prediction, static_cast<int64_t>(i),
                           &probabilities);
        const int label = ArgMax(probabilities);
        ++summary.label_counts[label];
        write_status =
            writer->Write(chunk.records[i], chunk.header, label, probabilities);
        if (!write_status.ok()) {
          scored.Close();
          return;
        }
      }
      summary.rows += static_cast<int64_t>(chunk.records.size());
      if (!options.interactive) continue;
      const double elapsed = SecondsSince(start);
      if (elapsed - last_draw < 0.2) continue;
      last_draw = elapsed;
      const double rate = summary.rows / std::max(elapsed, 1e-9);
      std::string eta;
      if (input_bytes > 0 && chunk.bytes_seen > 0 &&
          chunk.bytes_seen < input_bytes) {
        const double rows_left =
            summary.rows *
            (static_cast<double>(input_bytes) / chunk.bytes_seen - 1);
        eta = absl::StrFormat(" - ETA: %.0fs", rows_left / rate);
      }
      out << absl::StrFormat("\r%d rows - %.0f rows/s%s\x1b[K", summary.rows,
                             rate, eta)
          << std::flush;
    }
  });

  absl::Status model_status;
  ScoredChunk chunk;
  while (encoded.Pop(&chunk)) {
    absl::StatusOr<Tensor> prediction =
        model.Predict(chunk.ids, options.batch_size);
    if (!prediction.ok()) {
      model_status = prediction.status();
      break;
    }
    chunk.prediction = *std::move(prediction);
    chunk.ids = Tensor();
    if (!scored.Push(std::move(chunk))) break;
  }
  encoded.Close();  // Stops the reader if this stage stopped early.
  scored.Close();
  reader.join();
  writer_thread.join();
  // The first failure in the order of the rows' path: the reader's (unless
  // it only saw a later stage stop), the model's, the writer's.
  if (!read_status.ok() && !absl::IsCancelled(read_status)) {
    return read_status;
  }
  LOOM_RETURN_IF_ERROR(model_status);
  LOOM_RETURN_IF_ERROR(write_status);
  if (summary.rows == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.input, ": no rows to score"));
  }
  LOOM_RETURN_IF_ERROR(writer->Finish());
  summary.seconds = SecondsSince(start);
  if (options.interactive) out << "\r\x1b[K";
  PrintSummary(summary, options, writer->format(), class_names, out);
  return summary;
}

}  // namespace loom
