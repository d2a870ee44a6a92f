// ScoreFile under mpirun: rank 0 plans byte ranges on row boundaries, each
// rank scores its range, rank 0 writes every row in input order.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ostream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "framework/data/readers/writer.h"
#include "framework/status_macros.h"
#include "framework/training/classification.h"
#include "framework/training/saved_model.h"
#include "framework/training/score_file_internal.h"

namespace loom::score_file_internal {
namespace {

// How the input is split: rank r reads bytes [begin[r], begin[r+1]) (after
// the header bytes [0, header_end), which every rank's reader needs too),
// whose first line is first_line[r].
struct ShardPlan {
  bool shardable = false;
  int64_t header_end = 0;
  int64_t header_lines = 0;
  std::vector<int64_t> begin;       // size + 1 entries.
  std::vector<int64_t> first_line;  // size + 1 entries.
};

// One pass over the file: finds where rows start (outside quotes for CSV and
// TSV, libcsv strict mode's rows; every line for JSON Lines; blank lines
// between rows belong to no row, as the readers skip them) and splits the
// rows after the header into `ranks` ranges of about equal row counts,
// each starting at a multiple of `unit` rows.
absl::StatusOr<ShardPlan> PlanShards(const std::string& path, bool delimited,
                                     int ranks, int64_t unit) {
  LOOM_ASSIGN_OR_RETURN(const int fd, data::OpenRegularFile(path));
  ShardPlan plan;
  plan.shardable = true;
  // Row starts (offset, line) of rows 0, unit, 2 unit, ... after the header.
  std::vector<std::pair<int64_t, int64_t>> marks;
  int64_t rows = 0;
  bool header_done = !delimited;
  bool in_row = false;
  bool in_quotes = false;
  int64_t line = 1;
  int64_t cr_start = -1;  // A '\r' seen where a row may start.
  int64_t offset = 0;
  std::vector<char> buffer(size_t{1} << 20);
  while (true) {
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return absl::DataLossError(
          absl::StrCat("cannot read ", path, ": ", std::strerror(err)));
    }
    if (n == 0) break;
    for (ssize_t i = 0; i < n; ++i, ++offset) {
      const char c = buffer[i];
      if (!in_row) {
        if (c == '\n') {  // A blank line (or "\r\n"): no row.
          ++line;
          cr_start = -1;
          continue;
        }
        if (c == '\r' && cr_start < 0) {
          cr_start = offset;
          continue;
        }
        in_row = true;
        const int64_t start = cr_start >= 0 ? cr_start : offset;
        cr_start = -1;
        if (header_done) {
          if (rows % unit == 0) marks.emplace_back(start, line);
          ++rows;
        }
      }
      if (delimited && c == '"') in_quotes = !in_quotes;
      if (c == '\n') {
        ++line;
        if (!in_quotes) {
          in_row = false;
          if (!header_done) {
            header_done = true;
            plan.header_end = offset + 1;
            plan.header_lines = line - 1;
          }
        }
      }
    }
  }
  ::close(fd);
  if (!header_done) {  // Only a header without its newline: nothing to split.
    plan.header_end = offset;
    plan.header_lines = line;
  }
  const int64_t data_start = plan.header_end;
  const int64_t data_line = plan.header_lines + 1;
  plan.begin.assign(ranks + 1, offset);
  plan.first_line.assign(ranks + 1, line + 1);
  plan.begin[0] = data_start;
  plan.first_line[0] = data_line;
  for (int r = 1; r < ranks; ++r) {
    const int64_t mark = rows * r / ranks / unit;
    if (mark == 0) {
      plan.begin[r] = data_start;
      plan.first_line[r] = data_line;
    } else if (mark < static_cast<int64_t>(marks.size())) {
      plan.begin[r] = marks[mark].first;
      plan.first_line[r] = marks[mark].second;
    }
  }
  return plan;
}

// Copies bytes [begin, end) of `from` after its first `header` bytes into a
// new file `to`.
absl::Status CopyRange(const std::string& from, int64_t header, int64_t begin,
                       int64_t end, const std::string& to) {
  std::FILE* in = std::fopen(from.c_str(), "rb");
  if (in == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("cannot open ", from, ": ", std::strerror(errno)));
  }
  std::FILE* out = std::fopen(to.c_str(), "wb");
  if (out == nullptr) {
    const int err = errno;
    std::fclose(in);
    return absl::PermissionDeniedError(
        absl::StrCat("cannot write ", to, ": ", std::strerror(err)));
  }
  std::vector<char> buffer(size_t{1} << 20);
  bool ok = true;
  auto copy = [&](int64_t at, int64_t bytes) {
    if (std::fseek(in, at, SEEK_SET) != 0) ok = false;
    while (ok && bytes > 0) {
      const size_t want =
          static_cast<size_t>(std::min<int64_t>(bytes, buffer.size()));
      const size_t got = std::fread(buffer.data(), 1, want, in);
      if (got == 0 || std::fwrite(buffer.data(), 1, got, out) != got) {
        ok = false;
      }
      bytes -= static_cast<int64_t>(got);
    }
  };
  copy(0, header);
  copy(begin, end - begin);
  std::fclose(in);
  if (std::fclose(out) != 0) ok = false;
  if (!ok) {
    ::unlink(to.c_str());
    return absl::DataLossError(
        absl::StrCat("cannot copy part of ", from, " to ", to));
  }
  return absl::OkStatus();
}

// An error about the temporary part file, told about the input: its path
// and line numbers ("part:12" becomes "input:<12 + line_delta>").
absl::Status MapPartError(const absl::Status& s, const std::string& part,
                          const std::string& input, int64_t line_delta) {
  std::string message(s.message());
  std::string mapped;
  const std::string prefix = part + ":";
  size_t at = 0;
  while (true) {
    const size_t hit = message.find(prefix, at);
    if (hit == std::string::npos) break;
    mapped.append(message, at, hit - at);
    size_t digits = hit + prefix.size();
    int64_t number = 0;
    while (digits < message.size() && message[digits] >= '0' &&
           message[digits] <= '9') {
      number = number * 10 + (message[digits] - '0');
      ++digits;
    }
    if (digits > hit + prefix.size()) {
      absl::StrAppend(&mapped, input, ":", number + line_delta);
    } else {
      absl::StrAppend(&mapped, input, ":");
    }
    at = digits;
  }
  mapped.append(message, at, std::string::npos);
  mapped = absl::StrReplaceAll(mapped, {{part, input}});
  return absl::Status(s.code(), mapped);
}

// Predicts labels and probabilities for the records of `chunk`, appending
// (label, p_0 .. p_C-1) per record to `results`.
absl::Status ScoreChunk(Model& model, const data::Vocabulary& vocabulary,
                        int batch_size, const std::vector<data::Record>& chunk,
                        std::vector<float>* results) {
  if (chunk.empty()) return absl::OkStatus();
  std::vector<std::string_view> texts;
  texts.reserve(chunk.size());
  for (const data::Record& r : chunk) texts.push_back(r.text);
  const Tensor ids = EncodeTextViews(texts, vocabulary, model.def().dataset());
  LOOM_ASSIGN_OR_RETURN(auto prediction, model.Predict(ids, batch_size));
  std::vector<float> probabilities;
  for (size_t i = 0; i < chunk.size(); ++i) {
    ClassProbabilities(prediction, static_cast<int64_t>(i), &probabilities);
    results->push_back(static_cast<float>(ArgMax(probabilities)));
    results->insert(results->end(), probabilities.begin(), probabilities.end());
  }
  return absl::OkStatus();
}

constexpr int kResultsTag = 16;

}  // namespace

absl::StatusOr<ScoreFileSummary> ScoreSharded(
    distributed::Communicator& comm, Model& model,
    const data::Vocabulary& vocabulary, const ScoreFileOptions& options,
    const data::TextFormat& format, const std::vector<std::string>& class_names,
    std::ostream& out) {
  const auto start = Clock::now();
  const int ranks = comm.size();
  const std::string format_name(format.name());
  const bool delimited = format_name == "csv" || format_name == "tsv";
  // Rows are split at whole batches of one process's chunks, so every
  // batch holds the same rows as in one process. A model that trims
  // lengths orders each chunk's rows by length before cutting batches, so
  // there the split is at whole chunks.
  const int64_t unit =
      options.chunk_rows % options.batch_size == 0 && !model.trims_lengths()
          ? options.batch_size
          : options.chunk_rows;
  // Rank 0 plans; everyone gets the plan, or rank 0's error.
  std::vector<int64_t> wire(4 + 2 * (ranks + 1), 0);
  absl::Status plan_status;
  if (comm.is_root()) {
    auto plan = PlanShards(options.input, delimited, ranks, unit);
    if (!plan.ok()) {
      plan_status = plan.status();
    } else {
      wire[0] = 1;
      wire[1] = plan->header_end;
      wire[2] = plan->header_lines;
      for (int r = 0; r <= ranks; ++r) {
        wire[4 + r] = plan->begin[r];
        wire[4 + ranks + 1 + r] = plan->first_line[r];
      }
    }
    if (!plan_status.ok()) wire[3] = 1;
  }
  LOOM_RETURN_IF_ERROR(
      comm.Broadcast(absl::MakeSpan(wire), 0, "the scoring plan"));
  if (!plan_status.ok()) return plan_status;
  if (wire[3] != 0) {
    return absl::AbortedError(
        absl::StrCat("rank 0 could not plan the split of ", options.input));
  }
  ShardPlan plan;
  plan.shardable = wire[0] != 0;
  plan.header_end = wire[1];
  plan.header_lines = wire[2];
  for (int r = 0; r <= ranks; ++r) {
    plan.begin.push_back(wire[4 + r]);
    plan.first_line.push_back(wire[4 + ranks + 1 + r]);
  }
  const int me = comm.rank();
  data::ReadOptions read = options.read;
  read.require_label = false;
  const size_t stride = class_names.size() + 1;

  // 1. Every rank scores its own range.
  std::vector<float> results;
  if (plan.begin[me + 1] > plan.begin[me]) {
    const char* tmp = std::getenv("TMPDIR");
    const std::string part =
        absl::StrCat(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp",
                     "/loom_score.", ::getpid(), ".rank", me, ".", format_name);
    LOOM_RETURN_IF_ERROR(CopyRange(options.input, plan.header_end,
                                   plan.begin[me], plan.begin[me + 1], part));
    std::vector<data::Record> chunk;
    const auto sink = [&](data::Record& record) -> absl::Status {
      chunk.push_back(std::move(record));
      if (static_cast<int64_t>(chunk.size()) >= options.chunk_rows) {
        absl::Status s =
            ScoreChunk(model, vocabulary, options.batch_size, chunk, &results);
        chunk.clear();
        return s;
      }
      return absl::OkStatus();
    };
    data::ReadStats stats;
    absl::Status s = format.Read(part, read, sink, &stats);
    if (s.ok()) {
      s = ScoreChunk(model, vocabulary, options.batch_size, chunk, &results);
    }
    ::unlink(part.c_str());
    if (!s.ok()) {
      return MapPartError(s, part, options.input,
                          plan.first_line[me] - plan.header_lines - 1);
    }
  }

  // 2. Rank 0 takes the others' results as it writes; they wait for it as
  // long as it needs (one day at most).
  const absl::Duration timeout = comm.timeout();
  comm.set_timeout(std::max(timeout, absl::Hours(24)));
  ScoreFileSummary summary;
  summary.label_counts.assign(class_names.size(), 0);
  if (!comm.is_root()) {
    const size_t per_message = static_cast<size_t>(options.chunk_rows) * stride;
    for (size_t at = 0;; at += per_message) {
      const size_t n =
          std::min(per_message, results.size() - std::min(at, results.size()));
      const absl::string_view bytes(
          reinterpret_cast<const char*>(results.data() + at),
          n * sizeof(float));
      LOOM_RETURN_IF_ERROR(comm.Send(bytes, 0, kResultsTag, "the scored rows"));
      if (n == 0) break;  // The empty message ends the stream.
    }
  } else {
    LOOM_ASSIGN_OR_RETURN(
        auto writer,
        data::ScoredWriter::Create(options.output, options.output_format,
                                   format_name, class_names));
    int source = 0;  // Whose results the next record takes.
    std::vector<float> incoming;
    size_t next = 0;     // Into the current source's results.
    bool ended = false;  // The current source sent its end.
    const std::vector<float>* current = &results;
    auto pull = [&]() -> absl::Status {
      // The next message of `source` (> 0).
      LOOM_ASSIGN_OR_RETURN(
          auto got, comm.Receive(source, kResultsTag, "the scored rows"));
      incoming.resize(got.size() / sizeof(float));
      std::memcpy(incoming.data(), got.data(), got.size());
      next = 0;
      ended = incoming.empty();
      return absl::OkStatus();
    };
    auto finish_source = [&]() -> absl::Status {
      // Every result of `source` must have been written.
      if (source > 0 && !ended) {
        if (next < incoming.size()) {
          return absl::InternalError(absl::StrCat(
              "rank ", source, " scored more rows than rank 0 read"));
        }
        LOOM_RETURN_IF_ERROR(pull());
        if (!ended) {
          return absl::InternalError(absl::StrCat(
              "rank ", source, " scored more rows than rank 0 read"));
        }
      } else if (source == 0 && next != results.size()) {
        return absl::InternalError("rank 0 scored more rows than it wrote");
      }
      return absl::OkStatus();
    };
    auto advance_to = [&](int r) -> absl::Status {
      while (source < r) {
        LOOM_RETURN_IF_ERROR(finish_source());
        ++source;
        incoming.clear();
        next = 0;
        ended = false;
        current = &incoming;
      }
      return absl::OkStatus();
    };
    const auto sink = [&](data::Record& record) -> absl::Status {
      int owner = source;
      while (owner + 1 < ranks && record.line >= plan.first_line[owner + 1]) {
        ++owner;
      }
      LOOM_RETURN_IF_ERROR(advance_to(owner));
      if (source > 0 && next == incoming.size()) {
        if (ended) {
          return absl::InternalError(absl::StrCat(
              record.where, ": rank ", source, " sent fewer scored rows"));
        }
        LOOM_RETURN_IF_ERROR(pull());
        if (ended) {
          return absl::InternalError(absl::StrCat(
              record.where, ": rank ", source, " sent fewer scored rows"));
        }
      } else if (source == 0 && next == results.size()) {
        return absl::InternalError(
            absl::StrCat(record.where, ": rank 0 has no score for this row"));
      }
      const float* row = current->data() + next;
      next += stride;
      const int label = static_cast<int>(row[0]);
      std::vector<float> probabilities(row + 1, row + stride);
      ++summary.label_counts[label];
      ++summary.rows;
      if (IsEmptyText(record.text)) ++summary.empty_texts;
      return writer->Write(record, summary.read.header, label, probabilities);
    };
    LOOM_RETURN_IF_ERROR(format.Read(options.input, read, sink, &summary.read));
    LOOM_RETURN_IF_ERROR(advance_to(ranks - 1));
    LOOM_RETURN_IF_ERROR(finish_source());
    if (summary.rows == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(options.input, ": no rows to score"));
    }
    LOOM_RETURN_IF_ERROR(writer->Finish());
    summary.seconds = SecondsSince(start);
    PrintSummary(summary, options, writer->format(), class_names, out);
  }
  // 3. Everyone returns rank 0's summary.
  std::vector<int64_t> totals(2 + class_names.size(), 0);
  if (comm.is_root()) {
    totals[0] = summary.rows;
    totals[1] = summary.empty_texts;
    for (size_t c = 0; c < class_names.size(); ++c) {
      totals[2 + c] = summary.label_counts[c];
    }
  }
  absl::Status s = comm.Broadcast(absl::MakeSpan(totals), 0, "the summary");
  comm.set_timeout(timeout);
  if (!s.ok()) return s;
  summary.rows = totals[0];
  summary.empty_texts = totals[1];
  for (size_t c = 0; c < class_names.size(); ++c) {
    summary.label_counts[c] = totals[2 + c];
  }
  summary.seconds = SecondsSince(start);
  return summary;
}

}  // namespace loom::score_file_internal
