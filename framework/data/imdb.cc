#include "framework/data/imdb.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "framework/data/readers/reader.h"
#include "framework/status_macros.h"

namespace loom::data {
namespace {

constexpr std::array<absl::string_view, 2> kSplits = {"train", "test"};
// Index = label: neg (0) first, which is also the canonical order.
constexpr std::array<absl::string_view, 2> kLabels = {"neg", "pos"};

// Reviews of one split and label, e.g. train/neg.
struct Bucket {
  std::vector<Review> reviews;
  // The lines of <split>/urls_<label>.txt, if the data has it: line k is
  // the movie page of review <k>_*.txt.
  std::vector<std::string> urls;
};
using Buckets = std::array<std::array<Bucket, 2>, 2>;  // [split][label]

int SplitIndex(absl::string_view name) {
  for (int i = 0; i < 2; ++i) {
    if (name == kSplits[i]) return i;
  }
  return -1;
}

int LabelIndex(absl::string_view name) {
  for (int i = 0; i < 2; ++i) {
    if (name == kLabels[i]) return i;
  }
  return -1;
}

bool AllDigits(absl::string_view s) {
  if (s.empty() || s.size() > 9) return false;  // Fits in an int.
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return c >= '0' && c <= '9'; });
}

// Parses "<id>_<rating>.txt" with rating in 1..10.
bool ParseReviewFileName(absl::string_view name, int* id, int* rating) {
  if (!absl::ConsumeSuffix(&name, ".txt")) return false;
  const size_t underscore = name.find('_');
  if (underscore == absl::string_view::npos) return false;
  const absl::string_view id_text = name.substr(0, underscore);
  const absl::string_view rating_text = name.substr(underscore + 1);
  if (!AllDigits(id_text) || !AllDigits(rating_text)) return false;
  if (!absl::SimpleAtoi(id_text, id) || !absl::SimpleAtoi(rating_text, rating))
    return false;
  return *rating >= 1 && *rating <= 10;
}

// "urls_pos.txt" -> 1, "urls_neg.txt" -> 0, else -1.
int UrlsFileLabel(absl::string_view name) {
  for (int i = 0; i < 2; ++i) {
    if (name == absl::StrCat("urls_", kLabels[i], ".txt")) return i;
  }
  return -1;
}

// Keeps the lines of a urls_*.txt file (a trailing '\r' dropped).
void SetUrls(absl::string_view text, Bucket* bucket) {
  bucket->urls.clear();
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    absl::ConsumeSuffix(&line, "\r");
    bucket->urls.emplace_back(absl::StripAsciiWhitespace(line));
  }
  if (!bucket->urls.empty() && bucket->urls.back().empty()) {
    bucket->urls.pop_back();  // After the last newline.
  }
}

absl::Status BadFileName(absl::string_view where) {
  return absl::InvalidArgumentError(
      absl::StrCat("IMDb review file ", where,
                   ": name is not <id>_<rating>.txt with rating 1..10"));
}

// Sorts every bucket by id, checks none is empty or repeats an id, and
// concatenates them into the corpus (neg before pos). `describe(split,
// label)` names a bucket's location for error messages.
template <typename Describe>
absl::StatusOr<ImdbCorpus> Assemble(Buckets buckets, const Describe& describe,
                                    absl::string_view empty_problem) {
  ImdbCorpus corpus;
  corpus.class_names = {"negative", "positive"};
  for (int split = 0; split < 2; ++split) {
    std::vector<Review>& out = split == 0 ? corpus.train : corpus.test;
    size_t total = 0;
    for (const Bucket& bucket : buckets[split]) total += bucket.reviews.size();
    out.reserve(total);
    for (int label = 0; label < 2; ++label) {
      std::vector<Review>& reviews = buckets[split][label].reviews;
      if (reviews.empty()) {
        return absl::NotFoundError(
            absl::StrCat(describe(split, label), " ", empty_problem));
      }
      std::sort(reviews.begin(), reviews.end(),
                [](const Review& a, const Review& b) { return a.id < b.id; });
      // Movies from urls_<label>.txt where it has the review's line; a
      // reader that needs them all checks (ImdbFormat with group_by).
      const Bucket& bucket = buckets[split][label];
      for (Review& review : reviews) {
        if (review.id < static_cast<int>(bucket.urls.size())) {
          review.group = bucket.urls[review.id];
        }
      }
      for (size_t i = 1; i < reviews.size(); ++i) {
        if (reviews[i].id == reviews[i - 1].id) {
          return absl::InvalidArgumentError(
              absl::StrCat(describe(split, label), " has two reviews with id ",
                           reviews[i].id));
        }
      }
      for (Review& review : reviews) out.push_back(std::move(review));
    }
  }
  return corpus;
}

// ---------------------------------------------------------------------------
// Archive.

std::string ArchiveError(struct archive* a) {
  const char* message = archive_error_string(a);
  return message != nullptr ? message : "unknown libarchive error";
}

// Splits an entry path into its components, dropping "." and empty ones.
std::vector<absl::string_view> PathComponents(absl::string_view path) {
  std::vector<absl::string_view> parts;
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part.empty() || part == ".") continue;
    parts.push_back(part);
  }
  return parts;
}

}  // namespace

absl::StatusOr<ImdbCorpus> ReadImdbArchive(const std::string& archive_path) {
  struct archive* a = archive_read_new();
  if (a == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot read IMDb archive ", archive_path,
                     ": archive_read_new failed"));
  }
  // Frees the reader on every return.
  struct Closer {
    struct archive* a;
    ~Closer() { archive_read_free(a); }
  } closer{a};
  archive_read_support_filter_all(a);
  archive_read_support_format_all(a);
  const auto fail = [&](absl::string_view while_doing) {
    return absl::DataLossError(
        absl::StrCat("IMDb archive ", archive_path,
                     " is not a readable archive or is corrupt or truncated (",
                     while_doing, "): ", ArchiveError(a)));
  };
  // Opening already reads and decompresses the start to detect the format.
  if (archive_read_open_filename(a, archive_path.c_str(), 1 << 20) !=
      ARCHIVE_OK) {
    return fail("opening it");
  }

  // Appends the current entry's data to *out; more than kMaxRecordBytes is
  // too_large(bytes so far).
  const auto read_entry =
      [&](const char* name, std::string* out,
          const std::function<absl::Status(int64_t)>& too_large)
      -> absl::Status {
    char chunk[1 << 14];
    while (true) {
      const la_ssize_t got = archive_read_data(a, chunk, sizeof(chunk));
      if (got < 0) return fail(absl::StrCat("reading ", name));
      if (got == 0) return absl::OkStatus();
      if (static_cast<int64_t>(out->size() + got) > kMaxRecordBytes) {
        return too_large(static_cast<int64_t>(out->size() + got));
      }
      out->append(chunk, static_cast<size_t>(got));
    }
  };

  Buckets buckets;
  struct archive_entry* entry = nullptr;
  int64_t files = 0;  // Of any name.
  while (true) {
    const int r = archive_read_next_header(a, &entry);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) return fail("reading an entry header");
    const char* name = archive_entry_pathname(entry);
    if (name == nullptr || archive_entry_filetype(entry) != AE_IFREG) continue;
    ++files;
    std::vector<absl::string_view> parts = PathComponents(name);
    if (!parts.empty() && parts[0] == "aclImdb") parts.erase(parts.begin());
    if (parts.size() == 2 && SplitIndex(parts[0]) >= 0 &&
        UrlsFileLabel(parts[1]) >= 0) {
      // <split>/urls_<label>.txt: the reviews' movies (a few MB at most).
      std::string text;
      LOOM_RETURN_IF_ERROR(read_entry(name, &text, [&](int64_t) {
        return absl::InvalidArgumentError(
            absl::StrCat(name, " in IMDb archive ", archive_path,
                         " is larger than ", kMaxRecordBytes >> 20, " MiB"));
      }));
      SetUrls(text, &buckets[SplitIndex(parts[0])][UrlsFileLabel(parts[1])]);
      continue;
    }
    if (parts.size() != 3) continue;
    const int split = SplitIndex(parts[0]);
    const int label = LabelIndex(parts[1]);
    if (split < 0 || label < 0 || absl::StartsWith(parts[2], ".")) continue;
    Review review;
    review.label = label;
    if (!ParseReviewFileName(parts[2], &review.id, &review.rating)) {
      return BadFileName(absl::StrCat(name, " in archive ", archive_path));
    }
    // The size in the header is only a claim (a 109-byte archive may say
    // 64 GiB): check it, and what is read, against the largest review.
    const auto too_large = [&](int64_t bytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "IMDb review file ", name, " in archive ", archive_path,
          " is too large: ", bytes, " bytes (a review may have at most ",
          kMaxRecordBytes >> 20, " MiB; corrupt archive?)"));
    };
    if (archive_entry_size_is_set(entry)) {
      const int64_t size = archive_entry_size(entry);
      if (size > kMaxRecordBytes) return too_large(size);
      if (size > 0) review.text.reserve(static_cast<size_t>(size));
    }
    LOOM_RETURN_IF_ERROR(read_entry(name, &review.text, too_large));
    buckets[split][label].reviews.push_back(std::move(review));
  }
  if (files == 0) {
    return absl::NotFoundError(
        absl::StrCat("IMDb archive ", archive_path,
                     " is empty: it holds no files at all (expected "
                     "aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt)"));
  }
  return Assemble(
      std::move(buckets),
      [&archive_path](int split, int label) {
        return absl::StrCat("IMDb archive ", archive_path, ": aclImdb/",
                            kSplits[split], "/", kLabels[label]);
      },
      "holds no review files (<id>_<rating>.txt); is it the IMDb archive?");
}

// ---------------------------------------------------------------------------
// Folder.

namespace {

bool IsDirectory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

absl::Status ReviewTooLarge(const std::string& path, int64_t bytes) {
  return absl::InvalidArgumentError(absl::StrCat(
      "IMDb review ", path, " is too large: ", bytes,
      " bytes (a review may have at most ", kMaxRecordBytes >> 20, " MiB)"));
}

absl::Status ReadFileInto(const std::string& path, std::string* out) {
  // O_NONBLOCK: a FIFO put there since the folder was listed must not
  // block the open (it is refused below).
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    return absl::NotFoundError(
        absl::StrCat("cannot open IMDb review ", path, ": ", strerror(err)));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat("IMDb review ", path, " is not a regular file"));
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  if (st.st_size > kMaxRecordBytes) {
    ::close(fd);
    return ReviewTooLarge(path, st.st_size);
  }
  // One spare byte so that end of file is seen without growing the string.
  out->resize(static_cast<size_t>(st.st_size) + 1);
  size_t done = 0;
  while (true) {
    if (done == out->size()) {  // The file grew.
      if (static_cast<int64_t>(done) > kMaxRecordBytes) {
        ::close(fd);
        return ReviewTooLarge(path, static_cast<int64_t>(done));
      }
      out->resize(2 * done);
    }
    const ssize_t got = ::read(fd, out->data() + done, out->size() - done);
    if (got < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return absl::DataLossError(
          absl::StrCat("cannot read IMDb review ", path, ": ", strerror(err)));
    }
    if (got == 0) break;
    done += static_cast<size_t>(got);
  }
  out->resize(done);
  ::close(fd);
  return absl::OkStatus();
}

// Lists the review files of root/<split>/<label>/ into `bucket` (file name
// parsed, text not read yet); `paths` receives their paths in the same order.
absl::Status ListLabelFolder(const std::string& root,
                             const std::string& real_root, int split, int label,
                             Bucket* bucket, std::vector<std::string>* paths) {
  const std::string split_dir = absl::StrCat(root, "/", kSplits[split]);
  if (!IsDirectory(split_dir)) {
    return absl::NotFoundError(
        absl::StrCat("IMDb folder ", split_dir, " is missing"));
  }
  const std::string dir = absl::StrCat(split_dir, "/", kLabels[label]);
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    const int err = errno;
    return absl::NotFoundError(absl::StrCat(
        "IMDb folder ", dir, " is missing or unreadable: ", strerror(err)));
  }
  absl::Status status;
  while (struct dirent* e = ::readdir(d)) {
    const absl::string_view name = e->d_name;
    if (absl::StartsWith(name, ".")) continue;  // ".", "..", hidden files.
    const std::string path = absl::StrCat(dir, "/", name);
    // What the entry is, without following a symlink or opening anything:
    // a FIFO would block open(), a device never end, and a symlink may
    // lead anywhere (/etc/passwd).
    struct stat st;
    if (::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      const int err = errno;
      status = absl::NotFoundError(
          absl::StrCat("cannot stat IMDb review ", path, ": ", strerror(err)));
      break;
    }
    if (S_ISLNK(st.st_mode)) {
      char* target = ::realpath(path.c_str(), nullptr);
      const std::string resolved = target != nullptr ? target : "";
      std::free(target);
      if (resolved.empty()) {
        status = absl::NotFoundError(absl::StrCat(
            "IMDb review ", path, " is a symlink that leads nowhere"));
        break;
      }
      if (!absl::StartsWith(resolved, real_root + "/")) {
        status = absl::InvalidArgumentError(
            absl::StrCat("IMDb review ", path,
                         " is a symlink that leads out of the data "
                         "folder ",
                         real_root, " (to ", resolved,
                         "); copy the file into the folder instead"));
        break;
      }
      if (::stat(path.c_str(), &st) != 0) {
        status =
            absl::NotFoundError(absl::StrCat("cannot stat IMDb review ", path));
        break;
      }
    }
    if (!S_ISREG(st.st_mode)) {
      status = absl::InvalidArgumentError(
          absl::StrCat("IMDb folder ", dir, " holds ",
                       S_ISDIR(st.st_mode)    ? "a folder"
                       : S_ISFIFO(st.st_mode) ? "a FIFO"
                       : S_ISSOCK(st.st_mode) ? "a socket"
                                              : "a device",
                       " named '", name,
                       "' where only review files (<id>_<rating>.txt) belong"));
      break;
    }
    Review review;
    review.label = label;
    if (!ParseReviewFileName(name, &review.id, &review.rating)) {
      status = BadFileName(path);
      break;
    }
    bucket->reviews.push_back(std::move(review));
    paths->push_back(path);
  }
  ::closedir(d);
  return status;
}

}  // namespace

absl::StatusOr<ImdbCorpus> ReadImdbFolder(const std::string& folder) {
  std::string root = folder;
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  if (!IsDirectory(absl::StrCat(root, "/train")) &&
      !IsDirectory(absl::StrCat(root, "/test"))) {
    const std::string nested = absl::StrCat(root, "/aclImdb");
    if (!IsDirectory(nested)) {
      return absl::NotFoundError(absl::StrCat(
          "IMDb folder ", folder,
          " holds neither train/ and test/ nor aclImdb/ (expected the "
          "aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt layout)"));
    }
    root = nested;
  }

  // Symlinks may point into the folder, never out of it.
  char* resolved = ::realpath(root.c_str(), nullptr);
  if (resolved == nullptr) {
    const int err = errno;
    return absl::NotFoundError(absl::StrCat(
        "IMDb folder ", root, " cannot be resolved: ", strerror(err)));
  }
  const std::string real_root = resolved;
  std::free(resolved);
  Buckets buckets;
  std::array<std::array<std::vector<std::string>, 2>, 2> paths;
  for (int split = 0; split < 2; ++split) {
    for (int label = 0; label < 2; ++label) {
      LOOM_RETURN_IF_ERROR(ListLabelFolder(root, real_root, split, label,
                                           &buckets[split][label],
                                           &paths[split][label]));
    }
  }
  // Bucket vectors no longer grow, so pointers into them stay valid.
  std::vector<std::pair<const std::string*, Review*>> jobs;
  for (int split = 0; split < 2; ++split) {
    for (int label = 0; label < 2; ++label) {
      for (size_t i = 0; i < paths[split][label].size(); ++i) {
        jobs.emplace_back(&paths[split][label][i],
                          &buckets[split][label].reviews[i]);
      }
    }
  }
  // Two readers at most (the machines have 2 cores); each takes every other
  // file so both finish together.
  const int num_threads = jobs.size() >= 256 ? 2 : 1;
  std::vector<absl::Status> statuses(num_threads);
  const auto work = [&jobs, &statuses, num_threads](int t) {
    for (size_t i = t; i < jobs.size(); i += num_threads) {
      absl::Status status = ReadFileInto(*jobs[i].first, &jobs[i].second->text);
      if (!status.ok()) {
        statuses[t] = std::move(status);
        return;
      }
    }
  };
  std::vector<std::thread> threads;
  for (int t = 1; t < num_threads; ++t) threads.emplace_back(work, t);
  work(0);
  for (std::thread& thread : threads) thread.join();
  for (absl::Status& status : statuses) {
    LOOM_RETURN_IF_ERROR(status);
  }
  for (int split = 0; split < 2; ++split) {
    for (int label = 0; label < 2; ++label) {
      const std::string urls = absl::StrCat(root, "/", kSplits[split], "/urls_",
                                            kLabels[label], ".txt");
      struct stat st;
      if (::stat(urls.c_str(), &st) != 0) continue;  // Not in every copy.
      std::string text;
      LOOM_RETURN_IF_ERROR(ReadFileInto(urls, &text));
      SetUrls(text, &buckets[split][label]);
    }
  }
  return Assemble(
      std::move(buckets),
      [&root](int split, int label) {
        return absl::StrCat("IMDb folder ", root, "/", kSplits[split], "/",
                            kLabels[label]);
      },
      "holds no review files (<id>_<rating>.txt)");
}

absl::StatusOr<ImdbCorpus> ReadImdb(const std::string& path) {
  if (path.empty()) {
    return absl::InvalidArgumentError(
        "ReadImdb: empty IMDb data path (no archive or folder given)");
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    const int err = errno;
    return absl::NotFoundError(absl::StrCat("IMDb data path ", path,
                                            " does not exist or is "
                                            "unreachable: ",
                                            strerror(err)));
  }
  if (S_ISDIR(st.st_mode)) return ReadImdbFolder(path);
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "IMDb data path ", path,
        " is neither an archive file nor a folder (a device or FIFO?)"));
  }
  if (st.st_size == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("IMDb archive ", path,
                     " is empty (0 bytes); expected IMDb's "
                     "aclImdb_v1.tar.gz or its aclImdb/ folder"));
  }
  return ReadImdbArchive(path);
}

}  // namespace loom::data
