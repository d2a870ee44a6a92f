#include "tests/data/synthetic_corpus.h"

#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "framework/data/text.h"
#include "framework/status_macros.h"

namespace loom::data {
namespace {

namespace fs = std::filesystem;

// Seeded choices that do not depend on the standard library's
// distributions.
class Chooser {
 public:
  explicit Chooser(uint64_t seed) : rng_(seed) {}
  // Uniform in [0, n), n >= 1.
  uint64_t Below(uint64_t n) {
    const uint64_t threshold = (0 - n) % n;
    while (true) {
      const uint64_t r = rng_();
      if (r >= threshold) return r % n;
    }
  }
  int Between(int lo, int hi) {  // Inclusive.
    return lo + static_cast<int>(Below(static_cast<uint64_t>(hi - lo) + 1));
  }
  bool OneIn(uint64_t n) { return Below(n) == 0; }
  template <size_t N>
  const char* Pick(const std::array<const char*, N>& items) {
    return items[Below(N)];
  }

 private:
  std::mt19937_64 rng_;
};

constexpr std::array<const char*, 8> kSubjects = {
    "the movie", "this film",  "the acting", "the story",
    "the cast",  "the ending", "it",         "the soundtrack"};
constexpr std::array<const char*, 4> kVerbs = {"was", "is", "felt", "seemed"};
constexpr std::array<const char*, 4> kIntensifiers = {"really", "very", "truly",
                                                      "quite"};
constexpr std::array<const char*, 3> kPositive = {"good", "great", "not bad"};
constexpr std::array<const char*, 3> kNegative = {"bad", "not good",
                                                  "not great"};
constexpr std::array<const char*, 4> kEndings = {".", "!", "...", "."};

constexpr std::array<const char*, 4> kPeople = {"friend", "brother", "sister",
                                                "parents"};
constexpr std::array<const char*, 4> kDays = {
    "monday", "friday", "a rainy sunday", "new year's eve"};
constexpr std::array<const char*, 3> kWorks = {"film", "movie", "show"};
constexpr std::array<const char*, 4> kYears = {"1987", "1999", "2004", "2011"};
constexpr std::array<const char*, 4> kCounts = {"two", "three", "several",
                                                "many"};
constexpr std::array<const char*, 4> kPlaces = {"kitchen", "desert", "city",
                                                "train station"};
constexpr std::array<const char*, 4> kCharacters = {"family", "detective",
                                                    "teacher", "robot"};
constexpr std::array<const char*, 4> kActions = {"travels", "moves", "waits",
                                                 "returns"};
constexpr std::array<const char*, 4> kDestinations = {"paris", "the coast",
                                                      "the moon", "her town"};
constexpr std::array<const char*, 3> kMinutes = {"90", "120", "135"};

std::string Capitalized(std::string s) {
  if (!s.empty() && s[0] >= 'a' && s[0] <= 'z') s[0] = s[0] - 'a' + 'A';
  return s;
}

std::string SentimentSentence(Chooser& c, bool positive) {
  std::string s = absl::StrCat(c.Pick(kSubjects), " ", c.Pick(kVerbs), " ");
  if (c.OneIn(3)) absl::StrAppend(&s, c.Pick(kIntensifiers), " ");
  absl::StrAppend(&s, positive ? c.Pick(kPositive) : c.Pick(kNegative),
                  c.Pick(kEndings));
  return Capitalized(s);
}

std::string FillerSentence(Chooser& c) {
  switch (c.Below(5)) {
    case 0:
      return absl::StrCat("I watched it with my ", c.Pick(kPeople), " on ",
                          c.Pick(kDays), ".");
    case 1:
      return absl::StrCat("The director's previous ", c.Pick(kWorks),
                          " came out in ", c.Pick(kYears), ".");
    case 2:
      return absl::StrCat("There are ", c.Pick(kCounts), " scenes in the ",
                          c.Pick(kPlaces), ", and they're long.");
    case 3:
      return absl::StrCat("It's about a ", c.Pick(kCharacters), " who ",
                          c.Pick(kActions), " to ", c.Pick(kDestinations), ".");
    default:
      return absl::StrCat("(The runtime is ", c.Pick(kMinutes),
                          " minutes; \"director's cut\" is longer.)");
  }
}

// Tokens including punctuation, as the corpus has always been sized (so the
// generated reviews do not depend on Tokenize's default).
size_t CountTokens(const std::string& text, std::string* buffer,
                   std::vector<std::string_view>* tokens) {
  Tokenize(text, buffer, tokens, /*keep_punctuation=*/true);
  return tokens->size();
}

std::string MakeReview(Chooser& c, bool positive, int min_words,
                       int max_words) {
  const size_t target = static_cast<size_t>(c.Between(min_words, max_words));
  std::string buffer;
  std::vector<std::string_view> tokens;
  std::string text;
  size_t words = 0;
  bool has_sentiment = false;
  while (words < target || !has_sentiment) {
    const bool last_chance = words + 12 >= target;
    std::string sentence;
    if ((!has_sentiment && (last_chance || c.OneIn(2))) || c.OneIn(4)) {
      sentence = SentimentSentence(c, positive);
      has_sentiment = true;
    } else {
      sentence = FillerSentence(c);
    }
    if (!text.empty()) text += c.OneIn(4) ? "<br /><br />" : " ";
    text += sentence;
    words = CountTokens(text, &buffer, &tokens);
  }
  return text;
}

absl::Status MakeDirs(const fs::path& dir) {
  std::error_code error;
  fs::create_directories(dir, error);
  if (error) {
    return absl::InternalError(absl::StrCat(
        "cannot create folder ", dir.string(), ": ", error.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat("cannot read ", path));
  return content.str();
}

std::string ArchiveError(struct archive* a) {
  const char* message = archive_error_string(a);
  return message != nullptr ? message : "unknown libarchive error";
}

}  // namespace

absl::Status WriteTextFile(const std::string& path,
                           const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return absl::InternalError(absl::StrCat("cannot create ", path));
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

std::string CorpusDifference(const ImdbCorpus& a, const ImdbCorpus& b) {
  for (int split = 0; split < 2; ++split) {
    const char* name = split == 0 ? "train" : "test";
    const std::vector<Review>& x = split == 0 ? a.train : a.test;
    const std::vector<Review>& y = split == 0 ? b.train : b.test;
    if (x.size() != y.size()) {
      return absl::StrCat(name, " has ", x.size(), " vs ", y.size(),
                          " reviews");
    }
    for (size_t i = 0; i < x.size(); ++i) {
      if (!x[i].group.empty() && !y[i].group.empty() &&
          x[i].group != y[i].group) {
        return absl::StrCat(name, "[", i, "]: movie ", x[i].group, " vs ",
                            y[i].group);
      }
      if (x[i].label != y[i].label || x[i].id != y[i].id ||
          x[i].rating != y[i].rating || x[i].text != y[i].text) {
        return absl::StrCat(name, "[", i, "]: label/id/rating ", x[i].label,
                            "/", x[i].id, "/", x[i].rating, " vs ", y[i].label,
                            "/", y[i].id, "/", y[i].rating, "; text \"",
                            x[i].text.substr(0, 60), "\" vs \"",
                            y[i].text.substr(0, 60), "\"");
      }
    }
  }
  return "";
}

namespace {

// urls_<label>.txt for the reviews of `label`: line k the movie of review
// k; one made-up line when they have no movies.
std::string Urls(const std::vector<Review>& reviews, int label,
                 const char* fallback) {
  std::vector<std::string> lines;
  for (const Review& r : reviews) {
    if (r.label != label || r.group.empty()) continue;
    if (r.id >= static_cast<int>(lines.size())) lines.resize(r.id + 1);
    lines[r.id] = r.group;
  }
  if (lines.empty())
    return absl::StrCat("http://www.imdb.com/title/", fallback, "/\n");
  return absl::StrCat(absl::StrJoin(lines, "\n"), "\n");
}

}  // namespace

ImdbCorpus MakeSyntheticCorpus(const SyntheticCorpusOptions& options) {
  const int min_words = std::max(1, options.min_words);
  const int max_words = std::max(min_words, options.max_words);
  ImdbCorpus corpus;
  for (int split = 0; split < 2; ++split) {
    std::vector<Review>& out = split == 0 ? corpus.train : corpus.test;
    const int per_label = std::max(
        0, split == 0 ? options.train_per_label : options.test_per_label);
    for (int label = 0; label < 2; ++label) {
      // One stream per folder, so changing one count leaves others alone.
      Chooser c(options.seed * 4 + static_cast<uint64_t>(split * 2 + label));
      for (int id = 0; id < per_label; ++id) {
        Review review;
        review.label = label;
        review.id = id;
        review.rating = label == 1 ? c.Between(7, 10) : c.Between(1, 4);
        review.text = MakeReview(c, label == 1, min_words, max_words);
        if (options.reviews_per_movie > 0) {
          review.group = absl::StrCat(
              "http://www.imdb.com/title/tt",
              1000000 + split * 500000 + id / options.reviews_per_movie,
              "/usercomments");
        }
        out.push_back(std::move(review));
      }
    }
  }
  return corpus;
}

absl::Status WriteImdbFolder(const ImdbCorpus& corpus, const std::string& dir,
                             bool write_extras) {
  const fs::path root = fs::path(dir) / "aclImdb";
  constexpr std::array<const char*, 2> kSplitNames = {"train", "test"};
  constexpr std::array<const char*, 2> kLabelNames = {"neg", "pos"};
  for (int split = 0; split < 2; ++split) {
    for (const char* label : kLabelNames) {
      LOOM_RETURN_IF_ERROR(MakeDirs(root / kSplitNames[split] / label));
    }
    for (const Review& review : split == 0 ? corpus.train : corpus.test) {
      const fs::path path = root / kSplitNames[split] /
                            kLabelNames[review.label == 1 ? 1 : 0] /
                            absl::StrCat(review.id, "_", review.rating, ".txt");
      LOOM_RETURN_IF_ERROR(WriteTextFile(path.string(), review.text));
    }
  }
  if (!write_extras) return absl::OkStatus();
  // What the official archive has besides the labeled reviews.
  LOOM_RETURN_IF_ERROR(MakeDirs(root / "train" / "unsup"));
  const std::vector<std::pair<fs::path, std::string>> extras = {
      {root / "README", "Large Movie Review Dataset v1.0 (synthetic)\n"},
      {root / "imdb.vocab", "the\nand\na\nof\n"},
      {root / "imdbEr.txt", "0.0490972013402\n0.201363575849\n"},
      {root / "train" / "labeledBow.feat", "9 0:9 1:1 2:4\n"},
      {root / "train" / "unsupBow.feat", "0 0:8 1:6\n"},
      {root / "train" / "urls_pos.txt", Urls(corpus.train, 1, "x")},
      {root / "train" / "urls_neg.txt", Urls(corpus.train, 0, "y")},
      {root / "train" / "urls_unsup.txt", "http://www.imdb.com/title/z/\n"},
      {root / "train" / "unsup" / "0_0.txt", "An unlabeled review.\n"},
      {root / "train" / "unsup" / "1_0.txt", "Another one, no label.\n"},
      {root / "test" / "labeledBow.feat", "10 0:7 1:2\n"},
      {root / "test" / "urls_pos.txt", Urls(corpus.test, 1, "u")},
      {root / "test" / "urls_neg.txt", Urls(corpus.test, 0, "v")},
  };
  for (const auto& [path, content] : extras) {
    LOOM_RETURN_IF_ERROR(WriteTextFile(path.string(), content));
  }
  return absl::OkStatus();
}

absl::Status WriteSyntheticImdb(const std::string& dir,
                                const SyntheticCorpusOptions& options) {
  if (options.train_per_label < 0 || options.test_per_label < 0) {
    return absl::InvalidArgumentError(
        "SyntheticCorpusOptions: review counts must be >= 0");
  }
  if (options.min_words < 1 || options.max_words < options.min_words) {
    return absl::InvalidArgumentError(absl::StrCat(
        "SyntheticCorpusOptions: need 1 <= min_words <= max_words, got ",
        options.min_words, " and ", options.max_words));
  }
  return WriteImdbFolder(MakeSyntheticCorpus(options), dir,
                         options.write_extras);
}

absl::Status WriteArchive(const std::string& folder,
                          const std::string& archive_path) {
  const fs::path base(folder);
  std::error_code error;
  std::vector<fs::path> entries;
  for (fs::recursive_directory_iterator it(base, error), end;
       !error && it != end; it.increment(error)) {
    entries.push_back(it->path());
  }
  if (error) {
    return absl::NotFoundError(
        absl::StrCat("cannot list folder ", folder, ": ", error.message()));
  }
  std::sort(entries.begin(), entries.end());

  struct archive* a = archive_write_new();
  if (a == nullptr) {
    return absl::InternalError(
        absl::StrCat("archive_write_new failed for ", archive_path));
  }
  struct Closer {
    struct archive* a;
    ~Closer() { archive_write_free(a); }
  } closer{a};
  if (archive_write_add_filter_gzip(a) != ARCHIVE_OK ||
      archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
      archive_write_open_filename(a, archive_path.c_str()) != ARCHIVE_OK) {
    return absl::InternalError(absl::StrCat(
        "cannot create archive ", archive_path, ": ", ArchiveError(a)));
  }
  for (const fs::path& path : entries) {
    const std::string name = path.lexically_relative(base).generic_string();
    const bool is_dir = fs::is_directory(path, error);
    std::string content;
    if (!is_dir) {
      LOOM_ASSIGN_OR_RETURN(content, ReadFile(path.string()));
    }
    struct archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, name.c_str());
    archive_entry_set_filetype(entry, is_dir ? AE_IFDIR : AE_IFREG);
    archive_entry_set_perm(entry, is_dir ? 0755 : 0644);
    archive_entry_set_size(entry, is_dir ? 0 : content.size());
    archive_entry_set_mtime(entry, 1300000000, 0);  // Fixed: reproducible.
    int r = archive_write_header(a, entry);
    archive_entry_free(entry);
    if (r == ARCHIVE_OK && !content.empty() &&
        archive_write_data(a, content.data(), content.size()) !=
            static_cast<la_ssize_t>(content.size())) {
      r = ARCHIVE_FATAL;
    }
    if (r != ARCHIVE_OK) {
      return absl::InternalError(absl::StrCat("cannot add ", name,
                                              " to archive ", archive_path,
                                              ": ", ArchiveError(a)));
    }
  }
  if (archive_write_close(a) != ARCHIVE_OK) {
    return absl::InternalError(absl::StrCat(
        "cannot finish archive ", archive_path, ": ", ArchiveError(a)));
  }
  return absl::OkStatus();
}

}  // namespace loom::data
