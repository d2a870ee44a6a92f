#include "framework/data/corpus.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "framework/data/dataset.h"
#include "framework/data/readers/reader.h"
#include "framework/status_macros.h"

namespace loom::data {
namespace {

// A record kept until the classes are known.
struct Pending {
  std::string text;
  std::string label;
  std::string where;
  std::string group;
};

ReadOptions ReadOptionsFor(const TextDatasetDef& def) {
  ReadOptions options;
  if (!def.text_column().empty()) options.text_column = def.text_column();
  if (!def.label_column().empty()) options.label_column = def.label_column();
  options.group_column = def.group_by();
  options.require_label = true;
  options.skip_bad_rows = def.on_bad_rows() == "skip";
  options.replace_bad_text = def.on_bad_text() == "replace";
  options.imdb_rating_labels = def.label_source() == "rating";
  return options;
}

// Reads `path`; records the source tags as test go to *test, the rest to
// *train.
absl::Status ReadInto(const std::string& path, const std::string& format,
                      const ReadOptions& options, std::vector<Pending>* train,
                      std::vector<Pending>* test, ReadStats* stats) {
  const auto sink = [&](Record& record) -> absl::Status {
    if (absl::StripAsciiWhitespace(record.text).empty()) {
      return BadRow(options, record.where, "empty text", stats);
    }
    std::vector<Pending>* out = record.split == SplitTag::kTest ? test : train;
    out->push_back({std::move(record.text), std::move(record.label),
                    std::move(record.where), std::move(record.group)});
    return absl::OkStatus();
  };
  return ReadRecords(path, format, options, sink, stats);
}

void AddNote(const std::string& path, const ReadStats& stats,
             std::vector<std::string>* notes) {
  if (stats.skipped > 0) {
    notes->push_back(absl::StrCat(path, ": ", stats.Summary()));
  }
  if (stats.replaced_text > 0) {
    notes->push_back(absl::StrCat(path, ": replaced bad UTF-8 in ",
                                  stats.replaced_text, " records"));
  }
}

// Whole groups, in a seeded random order, until they hold `fraction` of
// `reviews` (rounded; at least one group, never all): true for the rows
// held out. An empty group is a group of its own.
absl::StatusOr<std::vector<bool>> HoldOutGroups(
    const std::vector<Review>& reviews, double fraction, uint64_t seed,
    const std::string& source) {
  const std::vector<int64_t> group_of =
      GroupIds(reviews, {}, static_cast<int64_t>(reviews.size()));
  std::vector<int64_t> sizes;
  for (int64_t g : group_of) {
    if (g >= static_cast<int64_t>(sizes.size())) sizes.resize(g + 1, 0);
    ++sizes[g];
  }
  const int64_t groups = static_cast<int64_t>(sizes.size());
  if (groups < 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        source,
        ": every example is in one group, so no test split of whole "
        "groups can be held out; give a test source (--test_data)"));
  }
  const int64_t target = std::max<int64_t>(
      1, std::llround(static_cast<double>(reviews.size()) * fraction));
  const std::vector<int64_t> order = ShuffledOrder(groups, seed);
  std::vector<bool> chosen(static_cast<size_t>(groups), false);
  int64_t taken = 0;
  for (int64_t k = 0; k < groups - 1 && taken < target; ++k) {
    chosen[order[k]] = true;
    taken += sizes[order[k]];
  }
  std::vector<bool> held(reviews.size());
  for (size_t i = 0; i < reviews.size(); ++i) held[i] = chosen[group_of[i]];
  return held;
}

}  // namespace

std::vector<int64_t> GroupIds(const std::vector<Review>& reviews,
                              const std::vector<int64_t>& order, int64_t n) {
  absl::flat_hash_map<std::string, int64_t> ids;
  int64_t next = 0;
  std::vector<int64_t> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const std::string& group = reviews[order.empty() ? i : order[i]].group;
    if (group.empty()) {  // A group of its own.
      out[i] = next++;
      continue;
    }
    const auto [it, added] = ids.emplace(group, next);
    if (added) ++next;
    out[i] = it->second;
  }
  return out;
}

void SortClassNames(std::vector<std::string>* names) {
  std::vector<int64_t> values(names->size());
  bool numeric = true;
  for (size_t i = 0; i < names->size() && numeric; ++i) {
    numeric = absl::SimpleAtoi((*names)[i], &values[i]);
  }
  if (!numeric) {
    std::sort(names->begin(), names->end());
    return;
  }
  std::vector<size_t> order(names->size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return values[a] < values[b]; });
  std::vector<std::string> sorted;
  sorted.reserve(order.size());
  for (size_t i : order) sorted.push_back((*names)[i]);
  *names = std::move(sorted);
}

absl::Status ValidateSourceSettings(const TextDatasetDef& def) {
  const auto one_of = [](const char* field, const std::string& value,
                         std::vector<std::string> allowed) -> absl::Status {
    if (std::find(allowed.begin(), allowed.end(), value) != allowed.end()) {
      return absl::OkStatus();
    }
    return absl::InvalidArgumentError(
        absl::StrCat("dataset.", field, ": '", value, "' is not one of ",
                     absl::StrJoin(allowed.begin() + 1, allowed.end(), ", ")));
  };
  LOOM_RETURN_IF_ERROR(
      one_of("on_bad_rows", def.on_bad_rows(), {"", "stop", "skip"}));
  LOOM_RETURN_IF_ERROR(
      one_of("on_bad_text", def.on_bad_text(), {"", "error", "replace"}));
  LOOM_RETURN_IF_ERROR(
      one_of("label_source", def.label_source(), {"", "sentiment", "rating"}));
  if (!(def.test_split() >= 0 && def.test_split() < 1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "dataset.test_split must be in [0, 1), got ", def.test_split()));
  }
  for (int i = 0; i < def.class_name_size(); ++i) {
    for (int j = 0; j < i; ++j) {
      if (def.class_name(i) == def.class_name(j)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "dataset.class_name lists '", def.class_name(i), "' twice"));
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Corpus> LoadCorpus(const TextDatasetDef& def) {
  LOOM_RETURN_IF_ERROR(ValidateSourceSettings(def));
  if (def.source().empty()) {
    return absl::InvalidArgumentError("dataset.source: no data path given");
  }
  const ReadOptions options = ReadOptionsFor(def);
  Corpus corpus;
  std::vector<Pending> train;
  std::vector<Pending> test;
  ReadStats stats;
  LOOM_RETURN_IF_ERROR(
      ReadInto(def.source(), def.format(), options, &train, &test, &stats));
  AddNote(def.source(), stats, &corpus.notes);
  if (!def.test_source().empty()) {
    if (!test.empty()) {
      corpus.notes.push_back(
          absl::StrCat("test examples from ", def.test_source(), ", not the ",
                       test.size(), " of ", def.source(), "'s own test part"));
      test.clear();
    }
    std::vector<Pending> more_train;
    ReadStats test_stats;
    LOOM_RETURN_IF_ERROR(ReadInto(def.test_source(), def.format(), options,
                                  &test, &more_train, &test_stats));
    // A test source with its own train/test parts contributes its test part
    // only when it has one.
    if (!more_train.empty() && !test.empty()) {
      corpus.notes.push_back(absl::StrCat("ignored the ", more_train.size(),
                                          " training examples of ",
                                          def.test_source()));
    } else {
      test.insert(test.end(), std::make_move_iterator(more_train.begin()),
                  std::make_move_iterator(more_train.end()));
    }
    AddNote(def.test_source(), test_stats, &corpus.notes);
  }
  if (train.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(def.source(), ": no training examples"));
  }

  // Classes.
  absl::flat_hash_map<std::string, int> index;
  if (def.class_name_size() > 0) {
    for (const std::string& name : def.class_name()) {
      index.emplace(name, static_cast<int>(corpus.class_names.size()));
      corpus.class_names.push_back(name);
    }
  } else {
    for (const Pending& p : train) {
      if (index.emplace(p.label, 0).second) {
        corpus.class_names.push_back(p.label);
      }
    }
    SortClassNames(&corpus.class_names);
    for (size_t i = 0; i < corpus.class_names.size(); ++i) {
      index[corpus.class_names[i]] = static_cast<int>(i);
    }
  }
  const std::string listed = absl::StrJoin(corpus.class_names, ", ");
  ReadStats label_stats;  // Rows whose label is not a class.
  const auto to_reviews = [&](std::vector<Pending>& pending,
                              std::vector<Review>* out,
                              bool test_part) -> absl::Status {
    out->reserve(pending.size());
    for (size_t i = 0; i < pending.size(); ++i) {
      Pending& p = pending[i];
      const auto it = index.find(p.label);
      if (it == index.end()) {
        const std::string reason =
            test_part && def.class_name_size() == 0
                ? absl::StrCat("label '", p.label,
                               "' is in the test data but not in the "
                               "training data (classes: ",
                               listed, ")")
                : absl::StrCat("label '", p.label,
                               "' is not one of the classes (", listed, ")");
        LOOM_RETURN_IF_ERROR(BadRow(options, p.where, reason, &label_stats));
        continue;
      }
      Review review;
      review.text = std::move(p.text);
      review.label = it->second;
      review.id = static_cast<int>(i);
      review.group = std::move(p.group);
      out->push_back(std::move(review));
    }
    return absl::OkStatus();
  };
  LOOM_RETURN_IF_ERROR(to_reviews(train, &corpus.train, false));
  LOOM_RETURN_IF_ERROR(to_reviews(test, &corpus.test, true));
  if (label_stats.skipped > 0) {
    corpus.notes.push_back(label_stats.Summary());
  }
  if (corpus.class_names.size() < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat(def.source(), ": the training data has only one class ('",
                     listed, "'); a classifier needs at least two"));
  }
  std::vector<int64_t> per_class(corpus.class_names.size(), 0);
  for (const Review& r : corpus.train) ++per_class[r.label];
  for (size_t c = 0; c < per_class.size(); ++c) {
    if (per_class[c] == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          def.source(), ": class '", corpus.class_names[c],
          "' has no training examples (dataset.class_name lists it)"));
    }
  }

  // A test split of whole groups (group_by), or a stratified one, when the
  // sources gave no test examples.
  if (corpus.test.empty() && !def.group_by().empty()) {
    const double fraction = def.test_split() > 0 ? def.test_split() : 0.2;
    LOOM_ASSIGN_OR_RETURN(
        const std::vector<bool> is_test,
        HoldOutGroups(corpus.train, fraction,
                      TestShuffleSeed(def.shuffle_seed()), def.source()));
    std::vector<Review> kept;
    kept.reserve(corpus.train.size());
    for (size_t i = 0; i < corpus.train.size(); ++i) {
      (is_test[i] ? corpus.test : kept).push_back(std::move(corpus.train[i]));
    }
    corpus.train = std::move(kept);
    std::vector<int64_t> left(corpus.class_names.size(), 0);
    for (const Review& r : corpus.train) ++left[r.label];
    for (size_t c = 0; c < left.size(); ++c) {
      if (left[c] == 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            def.source(), ": holding out whole groups of '", def.group_by(),
            "' as test left class '", corpus.class_names[c],
            "' no training examples; give a test source (--test_data) or a "
            "smaller test_split"));
      }
    }
    corpus.notes.push_back(absl::StrFormat(
        "held out %d of %d examples as test (test_split %.2f, whole groups "
        "of '%s', shuffle_seed %d)",
        corpus.test.size(), corpus.test.size() + corpus.train.size(), fraction,
        def.group_by(), def.shuffle_seed()));
  }
  if (corpus.test.empty()) {
    const double fraction = def.test_split() > 0 ? def.test_split() : 0.2;
    std::vector<std::vector<size_t>> members(corpus.class_names.size());
    for (size_t i = 0; i < corpus.train.size(); ++i) {
      members[corpus.train[i].label].push_back(i);
    }
    std::vector<bool> is_test(corpus.train.size(), false);
    const uint64_t seed = TestShuffleSeed(def.shuffle_seed());
    for (size_t c = 0; c < members.size(); ++c) {
      const int64_t count = static_cast<int64_t>(members[c].size());
      int64_t take = std::llround(count * fraction);
      if (count >= 2)
        take = std::clamp<int64_t>(take, 1, count - 1);
      else
        take = 0;
      const std::vector<int64_t> order = ShuffledOrder(count, seed + c);
      for (int64_t k = 0; k < take; ++k) is_test[members[c][order[k]]] = true;
    }
    std::vector<Review> kept;
    kept.reserve(corpus.train.size());
    for (size_t i = 0; i < corpus.train.size(); ++i) {
      (is_test[i] ? corpus.test : kept).push_back(std::move(corpus.train[i]));
    }
    corpus.train = std::move(kept);
    corpus.notes.push_back(absl::StrFormat(
        "held out %d of %d examples as test (test_split %.2f, stratified by "
        "class, shuffle_seed %d)",
        corpus.test.size(), corpus.test.size() + corpus.train.size(), fraction,
        def.shuffle_seed()));
  }
  return corpus;
}

}  // namespace loom::data
