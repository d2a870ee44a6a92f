#include "framework/data/imdb.h"

#include <sys/stat.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/data/synthetic_corpus.h"

namespace loom::data {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/imdb_test/" + name;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// 12 reviews per folder, so ids 10 and 11 sort after 9 only numerically.
SyntheticCorpusOptions SmallOptions() {
  SyntheticCorpusOptions options;
  options.train_per_label = 12;
  options.test_per_label = 11;
  options.seed = 7;
  options.min_words = 5;
  options.max_words = 30;
  return options;
}

// A fresh folder `name` holding aclImdb/ with the small corpus.
std::string FreshCorpus(
    const std::string& name,
    const SyntheticCorpusOptions& options = SmallOptions()) {
  const std::string dir = TempPath(name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  const absl::Status status = WriteSyntheticImdb(dir, options);
  EXPECT_TRUE(status.ok()) << status;
  return dir;
}

void ExpectError(const absl::StatusOr<ImdbCorpus>& corpus,
                 const std::string& names, const std::string& problem) {
  ASSERT_FALSE(corpus.ok()) << "expected an error naming " << names;
  const std::string message(corpus.status().message());
  EXPECT_THAT(message, HasSubstr(names));
  EXPECT_THAT(message, HasSubstr(problem));
}

TEST(ReadImdbTest, FolderGivesTheGeneratedCorpusInCanonicalOrder) {
  const std::string dir = FreshCorpus("canonical");
  absl::StatusOr<ImdbCorpus> corpus = ReadImdb(dir);
  ASSERT_TRUE(corpus.ok()) << corpus.status();
  EXPECT_EQ(CorpusDifference(*corpus, MakeSyntheticCorpus(SmallOptions())), "");
  ASSERT_EQ(corpus->train.size(), 24u);
  ASSERT_EQ(corpus->test.size(), 22u);
  // neg 0..11 then pos 0..11, numeric id order.
  for (int i = 0; i < 24; ++i) {
    EXPECT_EQ(corpus->train[i].label, i < 12 ? 0 : 1) << i;
    EXPECT_EQ(corpus->train[i].id, i % 12) << i;
    const int rating = corpus->train[i].rating;
    if (i < 12) {
      EXPECT_TRUE(rating >= 1 && rating <= 4) << rating;
    } else {
      EXPECT_TRUE(rating >= 7 && rating <= 10) << rating;
    }
    // Texts come from the file named by id and rating.
    EXPECT_EQ(corpus->train[i].text,
              ReadAll(dir + "/aclImdb/train/" + (i < 12 ? "neg/" : "pos/") +
                      std::to_string(i % 12) + "_" + std::to_string(rating) +
                      ".txt"));
  }
  EXPECT_EQ(corpus->test[10].id, 10);
  EXPECT_EQ(corpus->test[11].label, 1);
  EXPECT_EQ(corpus->test[11].id, 0);
}

TEST(ReadImdbTest, AcceptsAclImdbItselfAndTrailingSlash) {
  const std::string dir = FreshCorpus("itself");
  const ImdbCorpus expected = MakeSyntheticCorpus(SmallOptions());
  for (const std::string& path :
       {dir + "/aclImdb", dir + "/aclImdb/", dir + "/"}) {
    absl::StatusOr<ImdbCorpus> corpus = ReadImdb(path);
    ASSERT_TRUE(corpus.ok()) << path << ": " << corpus.status();
    EXPECT_EQ(CorpusDifference(*corpus, expected), "") << path;
  }
}

TEST(ReadImdbTest, ArchiveGivesTheSameCorpusAsTheFolder) {
  const std::string dir = FreshCorpus("archive");
  const std::string archive = TempPath("archive.tar.gz");
  ASSERT_TRUE(WriteArchive(dir, archive).ok());
  absl::StatusOr<ImdbCorpus> from_folder = ReadImdb(dir);
  absl::StatusOr<ImdbCorpus> from_archive = ReadImdb(archive);
  ASSERT_TRUE(from_folder.ok()) << from_folder.status();
  ASSERT_TRUE(from_archive.ok()) << from_archive.status();
  EXPECT_EQ(CorpusDifference(*from_archive, *from_folder), "");
  EXPECT_EQ(
      CorpusDifference(*from_archive, MakeSyntheticCorpus(SmallOptions())), "");
  // Explicit forms agree too.
  absl::StatusOr<ImdbCorpus> explicit_archive = ReadImdbArchive(archive);
  ASSERT_TRUE(explicit_archive.ok());
  EXPECT_EQ(CorpusDifference(*explicit_archive, *from_folder), "");
}

TEST(ReadImdbTest, ArchiveRootedAtSplitFoldersIsAccepted) {
  const std::string dir = FreshCorpus("rooted");
  const std::string archive = TempPath("rooted.tar.gz");
  ASSERT_TRUE(WriteArchive(dir + "/aclImdb", archive).ok());
  absl::StatusOr<ImdbCorpus> corpus = ReadImdb(archive);
  ASSERT_TRUE(corpus.ok()) << corpus.status();
  EXPECT_EQ(CorpusDifference(*corpus, MakeSyntheticCorpus(SmallOptions())), "");
}

TEST(ReadImdbTest, IgnoresExtrasAndHiddenFiles) {
  SyntheticCorpusOptions options = SmallOptions();
  options.write_extras = true;
  const std::string dir = FreshCorpus("extras", options);
  ASSERT_TRUE(fs::exists(dir + "/aclImdb/train/unsup/0_0.txt"));
  ASSERT_TRUE(fs::exists(dir + "/aclImdb/imdb.vocab"));
  ASSERT_TRUE(WriteTextFile(dir + "/aclImdb/train/pos/.DS_Store", "x").ok());
  ASSERT_TRUE(WriteTextFile(dir + "/aclImdb/test/neg/._0_1.txt", "x").ok());
  const std::string archive = TempPath("extras.tar.gz");
  ASSERT_TRUE(WriteArchive(dir, archive).ok());
  const ImdbCorpus expected = MakeSyntheticCorpus(options);
  for (const std::string& path : {dir, archive}) {
    absl::StatusOr<ImdbCorpus> corpus = ReadImdb(path);
    ASSERT_TRUE(corpus.ok()) << path << ": " << corpus.status();
    EXPECT_EQ(CorpusDifference(*corpus, expected), "") << path;
  }
}

TEST(ReadImdbErrorsTest, MissingPath) {
  const std::string path = TempPath("does/not/exist.tar.gz");
  absl::StatusOr<ImdbCorpus> corpus = ReadImdb(path);
  ExpectError(corpus, path, "does not exist");
  EXPECT_EQ(corpus.status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(ReadImdb("").ok());
}

TEST(ReadImdbErrorsTest, EmptyFolder) {
  const std::string dir = TempPath("empty");
  fs::remove_all(dir);
  fs::create_directories(dir);
  ExpectError(ReadImdb(dir), dir, "neither train/ and test/ nor aclImdb/");
}

TEST(ReadImdbErrorsTest, TruncatedArchive) {
  const std::string dir = FreshCorpus("truncated");
  const std::string archive = TempPath("whole.tar.gz");
  ASSERT_TRUE(WriteArchive(dir, archive).ok());
  const std::string bytes = ReadAll(archive);
  ASSERT_GT(bytes.size(), 1000u);
  const std::string cut = TempPath("half.tar.gz");
  ASSERT_TRUE(WriteTextFile(cut, bytes.substr(0, bytes.size() / 2)).ok());
  absl::StatusOr<ImdbCorpus> corpus = ReadImdb(cut);
  ExpectError(corpus, cut, "corrupt or truncated");
  EXPECT_EQ(corpus.status().code(), absl::StatusCode::kDataLoss);
  // libarchive's own explanation is included.
  EXPECT_THAT(std::string(corpus.status().message()), HasSubstr("runcated"));
}

TEST(ReadImdbErrorsTest, FileThatIsNotAnArchive) {
  const std::string path = TempPath("notes.tar.gz");
  fs::create_directories(TempPath(""));
  ASSERT_TRUE(
      WriteTextFile(path, "These are my notes, not an archive.\n").ok());
  absl::StatusOr<ImdbCorpus> corpus = ReadImdb(path);
  ExpectError(corpus, path, "not a readable archive");
  EXPECT_THAT(std::string(corpus.status().message()),
              HasSubstr("Unrecognized archive"));
}

TEST(ReadImdbErrorsTest, ArchiveWithoutReviews) {
  const std::string dir = TempPath("other_data");
  fs::remove_all(dir);
  fs::create_directories(dir + "/stuff");
  ASSERT_TRUE(WriteTextFile(dir + "/stuff/a.txt", "hello").ok());
  const std::string archive = TempPath("other.tar.gz");
  ASSERT_TRUE(WriteArchive(dir, archive).ok());
  ExpectError(ReadImdb(archive), archive, "aclImdb/train/neg holds no review");
}

// Issue 13: an empty archive, /dev/null or an empty file said
// "aclImdb/train/neg holds no review files".
TEST(ReadImdbErrorsTest, EmptyArchiveOrFileIsCalledEmpty) {
  const std::string dir = TempPath("nothing");
  fs::remove_all(dir);
  fs::create_directories(dir + "/aclImdb/train");  // Folders, no files.
  const std::string archive = TempPath("nothing.tar.gz");
  ASSERT_TRUE(WriteArchive(dir, archive).ok());
  ExpectError(ReadImdb(archive), archive, "is empty: it holds no files at all");
  const std::string empty = TempPath("empty.tar.gz");
  ASSERT_TRUE(WriteTextFile(empty, "").ok());
  ExpectError(ReadImdb(empty), empty, "is empty (0 bytes)");
  ExpectError(ReadImdb("/dev/null"), "/dev/null",
              "is neither an archive file nor a folder");
}

// A FIFO named like a review blocked in open(); a symlink out of the data
// folder read /etc/passwd as a review; a stray folder was "a review file
// with a bad name".
TEST(ReadImdbErrorsTest, OnlyRegularFilesInsideTheFolderAreReviews) {
  const std::string fifo = FreshCorpus("fifo");
  const std::string fifo_path = fifo + "/aclImdb/train/neg/100_1.txt";
  ASSERT_EQ(mkfifo(fifo_path.c_str(), 0600), 0);
  ExpectError(ReadImdb(fifo), fifo + "/aclImdb/train/neg",
              "holds a FIFO named '100_1.txt' where only review files "
              "(<id>_<rating>.txt) belong");

  const std::string out = FreshCorpus("link_out");
  const std::string outside = TempPath("outside_review.txt");
  ASSERT_TRUE(WriteTextFile(outside, "a secret, not a review").ok());
  const std::string link = out + "/aclImdb/train/pos/100_9.txt";
  fs::create_symlink(outside, link);
  absl::StatusOr<ImdbCorpus> corpus = ReadImdb(out);
  ExpectError(corpus, link, "is a symlink that leads out of the data folder");
  EXPECT_THAT(std::string(corpus.status().message()), HasSubstr(outside));
  fs::remove(link);
  fs::create_symlink("/etc/passwd", link);
  ExpectError(ReadImdb(out), "/etc/passwd", "leads out of the data folder");
  fs::remove(link);
  fs::create_symlink(out + "/nowhere.txt", link);
  ExpectError(ReadImdb(out), link, "is a symlink that leads nowhere");

  // A symlink that stays inside the folder is a review like any other.
  const std::string in = FreshCorpus("link_in");
  std::string target;
  for (const auto& e : fs::directory_iterator(in + "/aclImdb/train/pos")) {
    target = e.path().string();
  }
  fs::create_symlink(target, in + "/aclImdb/train/pos/100_9.txt");
  corpus = ReadImdb(in);
  ASSERT_TRUE(corpus.ok()) << corpus.status();
  EXPECT_EQ(corpus->train.size(), 25u);

  const std::string stray = FreshCorpus("stray_folder");
  fs::create_directories(stray + "/aclImdb/test/pos/notes");
  ExpectError(ReadImdb(stray), stray + "/aclImdb/test/pos",
              "holds a folder named 'notes' where only review files");
}

TEST(ReadImdbErrorsTest, MissingSplitOrLabelFolder) {
  const std::string dir = FreshCorpus("no_test");
  fs::remove_all(dir + "/aclImdb/test");
  ExpectError(ReadImdb(dir), dir + "/aclImdb/test", "missing");

  const std::string dir2 = FreshCorpus("no_pos");
  fs::remove_all(dir2 + "/aclImdb/test/pos");
  ExpectError(ReadImdb(dir2), dir2 + "/aclImdb/test/pos", "missing");

  // The same data as an archive.
  const std::string archive = TempPath("no_pos.tar.gz");
  ASSERT_TRUE(WriteArchive(dir2, archive).ok());
  ExpectError(ReadImdb(archive), archive, "aclImdb/test/pos holds no review");
}

TEST(ReadImdbErrorsTest, EmptyLabelFolder) {
  const std::string dir = FreshCorpus("empty_neg");
  fs::remove_all(dir + "/aclImdb/train/neg");
  fs::create_directories(dir + "/aclImdb/train/neg");
  ExpectError(ReadImdb(dir), dir + "/aclImdb/train/neg", "holds no review");
}

TEST(ReadImdbErrorsTest, UnparsableFileNames) {
  for (const std::string name :
       {"review.txt", "3_11.txt", "3_0.txt", "x_4.txt", "3_4.text", "3-4.txt",
        "-3_4.txt", "3_4", "_4.txt"}) {
    const std::string dir = FreshCorpus("bad_name");
    const std::string file = dir + "/aclImdb/train/pos/" + name;
    ASSERT_TRUE(WriteTextFile(file, "Great.").ok());
    ExpectError(ReadImdb(dir), file, "<id>_<rating>.txt");

    const std::string archive = TempPath("bad_name.tar.gz");
    ASSERT_TRUE(WriteArchive(dir, archive).ok());
    absl::StatusOr<ImdbCorpus> corpus = ReadImdb(archive);
    ExpectError(corpus, archive, "<id>_<rating>.txt");
    EXPECT_THAT(std::string(corpus.status().message()),
                HasSubstr("aclImdb/train/pos/" + name));
  }
}

TEST(ReadImdbErrorsTest, RepeatedId) {
  const std::string dir = FreshCorpus("repeated");
  ASSERT_TRUE(WriteTextFile(dir + "/aclImdb/test/neg/3_1.txt", "Bad.").ok());
  ASSERT_TRUE(WriteTextFile(dir + "/aclImdb/test/neg/3_2.txt", "Bad.").ok());
  ExpectError(ReadImdb(dir), dir + "/aclImdb/test/neg",
              "two reviews with id 3");
}

// A one-entry tar archive whose header claims `size` bytes (GNU base-256
// size field) and that holds none of them.
std::string TarClaiming(const std::string& name, uint64_t size) {
  std::string header(512, '\0');
  header.replace(0, name.size(), name);
  header.replace(100, 7, "0000644");
  header[124] = static_cast<char>(0x80);  // Base-256: 8 bytes big-endian.
  for (int i = 0; i < 8; ++i) {
    header[135 - i] = static_cast<char>((size >> (8 * i)) & 0xff);
  }
  header.replace(136, 11, "00000000000");
  header[156] = '0';
  header.replace(257, 6, std::string("ustar", 6));  // With its NUL.
  header.replace(263, 2, "00");
  header.replace(148, 8, "        ");
  unsigned sum = 0;
  for (const char c : header) sum += static_cast<unsigned char>(c);
  char checksum[8];
  std::snprintf(checksum, sizeof(checksum), "%06o", sum);
  header.replace(148, 7, checksum, 7);
  return header + std::string(1024, '\0');
}

// Found by tests/fuzz/imdb_archive_fuzzer (issue 13): the size an entry's
// header claims was reserved before reading, so a tiny archive claiming
// 64 GiB crashed with std::bad_alloc.
TEST(ReadImdbErrorsTest, EntryClaimingAHugeSizeIsRefusedBeforeAllocating) {
  fs::create_directories(TempPath(""));
  const std::string path = TempPath("claims_64gib.tar");
  ASSERT_TRUE(WriteTextFile(path, TarClaiming("aclImdb/train/pos/1_9.txt",
                                              uint64_t{64} << 30))
                  .ok());
  absl::StatusOr<ImdbCorpus> corpus = ReadImdb(path);
  ExpectError(corpus, "aclImdb/train/pos/1_9.txt in archive " + path,
              "is too large: 68719476736 bytes");
  EXPECT_EQ(corpus.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace loom::data
