#include "framework/data/readers/reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utf8proc.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "framework/status_macros.h"

namespace loom::data {
namespace {

std::vector<std::unique_ptr<TextFormat>>& Formats() {
  static auto* formats = new std::vector<std::unique_ptr<TextFormat>>();
  return *formats;
}

absl::Status Errno(const std::string& what, const std::string& path) {
  return absl::NotFoundError(
      absl::StrCat("cannot ", what, " ", path, ": ", std::strerror(errno)));
}

absl::StatusOr<PathInfo> Inspect(const std::string& path) {
  PathInfo info;
  info.path = path;
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat(
        "data path ", path, " does not exist (", std::strerror(errno), ")"));
  }
  if (S_ISDIR(st.st_mode)) {
    info.is_directory = true;
    return info;
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "data path ", path,
        " is neither a regular file nor a folder (a FIFO or a device?)"));
  }
  if (st.st_size == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("data file ", path, " is empty"));
  }
  std::string ext = std::filesystem::path(path).extension().string();
  info.extension = absl::AsciiStrToLower(ext);
  LOOM_ASSIGN_OR_RETURN(int fd, OpenRegularFile(path));
  info.head.resize(4096);
  const ssize_t n = ::read(fd, info.head.data(), info.head.size());
  ::close(fd);
  if (n < 0) return Errno("read", path);
  info.head.resize(static_cast<size_t>(n));
  return info;
}

}  // namespace

std::string ReadStats::Summary() const {
  if (skipped == 0) return "";
  std::vector<std::string> parts;
  for (const auto& [reason, count] : skipped_by_reason) {
    parts.push_back(absl::StrCat(count, " ", reason, ", first at ",
                                 first_skipped_at.at(reason)));
  }
  return absl::StrCat("skipped ", skipped, " bad row", skipped == 1 ? "" : "s",
                      " (", absl::StrJoin(parts, "; "), ")");
}

bool RegisterTextFormat(std::unique_ptr<TextFormat> format) {
  Formats().push_back(std::move(format));
  return true;
}

std::vector<std::string> TextFormatNames() {
  std::vector<std::string> names;
  for (const auto& f : Formats()) names.emplace_back(f->name());
  std::sort(names.begin(), names.end());
  return names;
}

absl::StatusOr<const TextFormat*> FindTextFormat(const std::string& path,
                                                 const std::string& format) {
  if (!format.empty()) {
    for (const auto& f : Formats()) {
      if (f->name() == format) return f.get();
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown data format '", format,
        "' (known: ", absl::StrJoin(TextFormatNames(), ", "), ")"));
  }
  LOOM_ASSIGN_OR_RETURN(PathInfo info, Inspect(path));
  const TextFormat* best = nullptr;
  int best_score = 0;
  for (const auto& f : Formats()) {
    const int score = f->Detect(info);
    if (score > best_score) {
      best = f.get();
      best_score = score;
    }
  }
  if (best == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot tell the format of ", path,
        info.is_directory
            ? " (a folder needs one subfolder of .txt files per class, or "
              "IMDb's train/ and test/ layout)"
            : " from its name or content",
        "; pass --data_format (", absl::StrJoin(TextFormatNames(), ", "), ")"));
  }
  return best;
}

absl::Status ReadRecords(const std::string& path, const std::string& format,
                         const ReadOptions& options, const RecordSink& sink,
                         ReadStats* stats) {
  LOOM_ASSIGN_OR_RETURN(const TextFormat* f, FindTextFormat(path, format));
  stats->format = std::string(f->name());
  return f->Read(path, options, sink, stats);
}

absl::Status CheckUtf8(std::string* text, bool replace,
                       const std::string& where, bool* replaced) {
  *replaced = false;
  const auto* bytes = reinterpret_cast<const utf8proc_uint8_t*>(text->data());
  const utf8proc_ssize_t size = static_cast<utf8proc_ssize_t>(text->size());
  utf8proc_ssize_t pos = 0;
  // Fast path: ASCII and valid sequences, no copy.
  while (pos < size) {
    if (bytes[pos] < 0x80) {
      ++pos;
      continue;
    }
    utf8proc_int32_t cp;
    const utf8proc_ssize_t n = utf8proc_iterate(bytes + pos, size - pos, &cp);
    if (n < 0) break;
    pos += n;
  }
  if (pos == size) return absl::OkStatus();
  if (!replace) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": text is not valid UTF-8 (byte ", pos,
                     " of the text); convert the file to UTF-8, or pass "
                     "--on_bad_text=replace to replace bad bytes with U+FFFD"));
  }
  std::string out(text->data(), static_cast<size_t>(pos));
  out.reserve(text->size() + 8);
  while (pos < size) {
    utf8proc_int32_t cp;
    const utf8proc_ssize_t n = utf8proc_iterate(bytes + pos, size - pos, &cp);
    if (n < 0) {
      out.append("\xEF\xBF\xBD");  // U+FFFD
      ++pos;
    } else {
      out.append(text->data() + pos, static_cast<size_t>(n));
      pos += n;
    }
  }
  *text = std::move(out);
  *replaced = true;
  return absl::OkStatus();
}

absl::Status BadRow(const ReadOptions& options, const std::string& where,
                    const std::string& reason, ReadStats* stats) {
  if (!options.skip_bad_rows) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": ", reason, " (pass --on_bad_rows=skip to skip such rows)"));
  }
  ++stats->skipped;
  if (stats->skipped_by_reason[reason]++ == 0) {
    stats->first_skipped_at[reason] = where;
  }
  return absl::OkStatus();
}

absl::StatusOr<int> OpenRegularFile(const std::string& path) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return Errno("open", path);
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is not a regular file"));
  }
  const int flags = ::fcntl(fd, F_GETFL);
  ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  return fd;
}

absl::Status ForEachLine(
    const std::string& path, int64_t max_line_bytes,
    const std::function<absl::Status(std::string_view, int64_t)>& line_fn) {
  LOOM_ASSIGN_OR_RETURN(int fd, OpenRegularFile(path));
  std::vector<char> buffer(size_t{1} << 20);
  std::string pending;  // A line that continues into the next chunk.
  int64_t number = 0;
  absl::Status status;
  while (status.ok()) {
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      status = Errno("read", path);
      break;
    }
    if (n == 0) break;
    std::string_view chunk(buffer.data(), static_cast<size_t>(n));
    while (status.ok()) {
      const size_t nl = chunk.find('\n');
      const std::string_view part = chunk.substr(0, nl);
      if (static_cast<int64_t>(pending.size() + part.size()) > max_line_bytes) {
        status = absl::InvalidArgumentError(
            absl::StrCat(path, ":", number + 1, ": line is longer than ",
                         max_line_bytes >> 20, " MiB"));
        break;
      }
      if (nl == std::string_view::npos) {
        pending.append(part);
        break;
      }
      ++number;
      if (pending.empty()) {
        status = line_fn(part, number);
      } else {
        pending.append(part);
        status = line_fn(pending, number);
        pending.clear();
      }
      chunk.remove_prefix(nl + 1);
    }
  }
  ::close(fd);
  if (status.ok() && !pending.empty()) status = line_fn(pending, number + 1);
  return status;
}

}  // namespace loom::data
