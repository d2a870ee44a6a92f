#include "framework/file_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace loom {

namespace {

// "64 MiB", or the byte count when it is no whole number of MiB.
std::string FormatLimit(int64_t bytes) {
  if (bytes > 0 && bytes % (int64_t{1} << 20) == 0) {
    return absl::StrCat(bytes >> 20, " MiB");
  }
  return absl::StrCat(bytes, " bytes");
}

}  // namespace

absl::StatusOr<std::string> ReadFile(const std::string& path, int64_t max_bytes,
                                     absl::string_view what) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer.
  const int fd = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    return absl::NotFoundError(
        absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
  }
  struct stat st = {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return absl::InvalidArgumentError(absl::StrCat(
        path, " is not a regular file (",
        S_ISDIR(st.st_mode)                          ? "a folder"
        : S_ISFIFO(st.st_mode)                       ? "a FIFO"
        : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device"
                                                     : "not a file",
        ")"));
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  const auto too_large = [&](int64_t bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " has ", bytes > st.st_size ? "at least " : "",
                     bytes, " bytes, more than ", what, " may have (",
                     FormatLimit(max_bytes), ")"));
  };
  if (st.st_size > max_bytes) {
    close(fd);
    return too_large(st.st_size);
  }
  std::string out;
  // One spare byte, so that the end of the file is seen without growing.
  out.resize(static_cast<size_t>(st.st_size) + 1);
  size_t done = 0;
  while (true) {
    if (done == out.size()) {  // The file grew (or is in /proc).
      if (static_cast<int64_t>(done) > max_bytes) {
        close(fd);
        return too_large(static_cast<int64_t>(done));
      }
      out.resize(std::max<size_t>(4096, 2 * done));
    }
    const ssize_t got = read(fd, out.data() + done, out.size() - done);
    if (got < 0) {
      if (errno == EINTR) continue;
      const std::string why = std::strerror(errno);
      close(fd);
      return absl::DataLossError(
          absl::StrCat("error reading ", path, ": ", why));
    }
    if (got == 0) break;
    done += static_cast<size_t>(got);
  }
  close(fd);
  if (static_cast<int64_t>(done) > max_bytes) {
    return too_large(static_cast<int64_t>(done));
  }
  out.resize(done);
  return out;
}

absl::Status WriteFileAtomically(const std::string& path,
                                 absl::string_view contents) {
  const std::string tmp = absl::StrCat(path, ".tmp.", getpid());
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create ", tmp, ": ", std::strerror(errno)));
  }
  size_t written = 0;
  while (written < contents.size()) {
    ssize_t n = write(fd, contents.data() + written, contents.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string why = std::strerror(errno);
      close(fd);
      unlink(tmp.c_str());
      return absl::DataLossError(absl::StrCat("cannot write ", tmp, ": ", why));
    }
    written += n;
  }
  if (fsync(fd) != 0 || close(fd) != 0) {
    const std::string why = std::strerror(errno);
    unlink(tmp.c_str());
    return absl::DataLossError(absl::StrCat("cannot flush ", tmp, ": ", why));
  }
  absl::Status renamed = RenameDurably(tmp, path);
  if (!renamed.ok()) unlink(tmp.c_str());
  return renamed;
}

absl::Status RenameDurably(const std::string& from, const std::string& to) {
  if (std::rename(from.c_str(), to.c_str()) != 0) {
    return absl::DataLossError(absl::StrCat("cannot rename ", from, " to ", to,
                                            ": ", std::strerror(errno)));
  }
  // Make the rename itself durable (best effort: some file systems refuse
  // to sync directories).
  const size_t slash = to.rfind('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                                     : to.substr(0, slash);
  const int dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    fsync(dir_fd);
    close(dir_fd);
  }
  return absl::OkStatus();
}

absl::Status MakeDirectories(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create directory ", dir, ": ", ec.message()));
  }
  return absl::OkStatus();
}

}  // namespace loom
