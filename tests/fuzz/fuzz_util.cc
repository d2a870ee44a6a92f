#include "tests/fuzz/fuzz_util.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>

namespace loom::fuzz {
namespace {

// Scratch files by suffix, unlinked at normal exit.
class ScratchFiles {
 public:
  ~ScratchFiles() {
    for (const auto& [suffix, path] : paths_) ::unlink(path.c_str());
  }
  const std::string& PathFor(std::string_view suffix) {
    auto it = paths_.find(std::string(suffix));
    if (it != paths_.end()) return it->second;
    const char* dir = std::getenv("TEST_TMPDIR");
    if (dir == nullptr || *dir == '\0') dir = std::getenv("TMPDIR");
    if (dir == nullptr || *dir == '\0') dir = "/tmp";
    std::string path = std::string(dir) + "/loom_fuzz_input." +
                       std::to_string(::getpid()) + std::string(suffix);
    return paths_.emplace(std::string(suffix), std::move(path)).first->second;
  }

 private:
  std::map<std::string, std::string> paths_;
};

}  // namespace

void Fail(std::string_view what) {
  std::fprintf(stderr, "fuzz target invariant broken: %.*s\n",
               static_cast<int>(what.size()), what.data());
  std::abort();
}

const std::string& WriteInputFile(const uint8_t* data, size_t size,
                                  std::string_view suffix) {
  static ScratchFiles files;
  const std::string& path = files.PathFor(suffix);
  const int fd =
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) Fail(path + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::write(fd, data + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) Fail(path + ": " + std::strerror(errno));
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  return path;
}

}  // namespace loom::fuzz
