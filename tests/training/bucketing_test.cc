// Length trimming and length bucketing (framework/training/bucketing.h,
// padding_invariance.h): row spans and batch columns; every row once in
// the bucketed batches, lengths within each bucket, seeded determinism;
// padding invariance of masked models and its refusal, naming the node;
// Predict and Evaluate the same with and without trimming (PRE and POST
// padding), in input order; Fit with buckets, resumed mid-epoch, ends as
// the uninterrupted run.
#include "framework/training/bucketing.h"

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "framework/model_io.h"
#include "framework/registry.h"
#include "framework/training/model.h"
#include "framework/training/padding_invariance.h"
#include "framework/training/resume.h"
#include "framework/training/train_job.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/data/synthetic_corpus.h"
#include "tests/training/small_runs.h"

namespace loom {
namespace {

using ::testing::HasSubstr;

// A BiLSTM with masked pooling (models/bilstm_tuned.pbtxt's architecture,
// small): padding-invariant. $PADDING, $POOL and $EXTRA are replaced.
constexpr char kModel[] = R"pb(
  name: "small"
  dataset { num_words: 50 max_len: 40 padding: $PADDING truncating: PRE }
  training {
    batch_size: 8
    seed: 3
    optimizer { adam { learning_rate: 0.01 } }
  } $EXTRA
  layers {
    layer {
      name: "embedding"
      embedding { output_dim: 8 mask_zero: true }
    }
    layer {
      name: "spatial_dropout"
      spatial_dropout1d { rate: 0.2 }
    }
    layer {
      name: "bilstm"
      lstm { units: 6 bidirectional: true return_sequences: true dropout: 0.1 }
    }
    layer { name: "max_pool" input: "bilstm" global_max_pooling1d { $POOL } }
    layer {
      name: "average_pool"
      input: "bilstm"
      global_average_pooling1d {}
    }
    layer {
      name: "pools"
      input: [ "max_pool", "average_pool" ]
      concatenate {}
    }
    layer {
      name: "hidden"
      dense { units: 5 activation: "relu" }
    }
    layer {
      name: "probability"
      dense { units: 1 activation: "sigmoid" }
    }
    loss: "binary_crossentropy"
    metric: "accuracy"
  }
)pb";

ModelFile MakeFile(const std::string& padding, bool masked_pool,
                   const std::string& extra = "") {
  const std::string text =
      absl::StrReplaceAll(kModel, {{"$PADDING", padding},
                                   {"$POOL", masked_pool ? "masked: true" : ""},
                                   {"$EXTRA", extra}});
  auto file = ParseModelText(text, "small.pbtxt");
  if (!file.ok()) {
    ADD_FAILURE() << file.status();
    return {};
  }
  return *file;
}

std::unique_ptr<Model> MakeModel(const ModelFile& file) {
  auto model = Model::Create(file, testing::BuiltinRegistry(), /*seed=*/11);
  if (!model.ok()) {
    ADD_FAILURE() << model.status();
    return nullptr;
  }
  return *std::move(model);
}

// `n` rows of 1 to 40 ids (start id 1, then words 3..49), padded to 40 at
// `pre` ? the start : the end; labels from the first word.
LabeledExamples Corpus(int n, bool pre, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int32_t> ids(static_cast<size_t>(n) * 40, 0);
  std::vector<float> labels(n);
  for (int i = 0; i < n; ++i) {
    // Mostly short rows, a few long ones.
    const int len = i % 7 == 0 ? 30 + static_cast<int>(rng() % 11)
                               : 1 + static_cast<int>(rng() % 15);
    const int offset = pre ? 40 - len : 0;
    ids[i * 40 + offset] = 1;
    for (int t = 1; t < len; ++t) {
      ids[i * 40 + offset + t] = 3 + static_cast<int32_t>(rng() % 47);
    }
    labels[i] = len > 1 && ids[i * 40 + offset + 1] < 25 ? 1.0f : 0.0f;
  }
  LabeledExamples out;
  out.features = Tensor::FromVector({n, 40}, ids);
  out.labels = Tensor::FromVector({n, 1}, labels);
  return out;
}

std::vector<RowSpan> Spans(const std::vector<std::pair<int, int>>& s) {
  std::vector<RowSpan> out;
  for (auto [b, e] : s) out.push_back({b, e});
  return out;
}

TEST(BucketingTest, RowSpansAndBatchColumns) {
  // Row 0 POST-padded (3 ids), row 1 PRE-padded (2 ids), row 2 empty.
  const Tensor ids = Tensor::FromVector(
      {3, 20}, std::vector<int32_t>{1, 5, 6, 0, 0, 0, 0, 0, 0, 0,  //
                                    0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  //
                                    0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  //
                                    0, 0, 0, 0, 0, 0, 0, 0, 1, 7,  //
                                    0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  //
                                    0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  const std::vector<RowSpan> spans = RowSpans(ids);
  ASSERT_EQ(spans.size(), 3u);
  EXPECT_EQ(spans[0].begin, 0);
  EXPECT_EQ(spans[0].end, 3);
  EXPECT_EQ(spans[1].begin, 18);
  EXPECT_EQ(spans[1].end, 20);
  EXPECT_EQ(spans[2].length(), 0);
  const std::vector<int64_t> order = {0, 1, 2};
  // POST row alone: [0, 8), a multiple of kLengthStep from the start.
  RowSpan c = BatchColumns(spans, order, 0, 1, 20);
  EXPECT_EQ(c.begin, 0);
  EXPECT_EQ(c.end, 8);
  // PRE row alone: the last 8 columns.
  c = BatchColumns(spans, order, 1, 2, 20);
  EXPECT_EQ(c.begin, 12);
  EXPECT_EQ(c.end, 20);
  // Both: their union [0, 20), 20 columns (capped at T).
  c = BatchColumns(spans, order, 0, 2, 20);
  EXPECT_EQ(c.begin, 0);
  EXPECT_EQ(c.end, 20);
  // Padding only: one step, rounded up to kLengthStep.
  c = BatchColumns(spans, order, 2, 3, 20);
  EXPECT_EQ(c.begin, 0);
  EXPECT_EQ(c.length(), kLengthStep);
  Tensor out;
  GatherColumns(ids, {1, 0}, 0, 2, {12, 20}, &out);
  ASSERT_EQ(out.shape(), (Shape{2, 8}));
  EXPECT_EQ(out.i32()[6], 1);
  EXPECT_EQ(out.i32()[7], 7);
  EXPECT_EQ(out.i32()[8], 0);  // Row 0's columns 12.. are padding.
}

TEST(BucketingTest, PlanByLengthSortsStably) {
  const auto spans = Spans({{0, 5}, {0, 2}, {0, 5}, {0, 1}, {0, 9}});
  const BatchPlan plan = PlanByLength(spans, 2);
  EXPECT_EQ(plan.order, (std::vector<int64_t>{4, 0, 2, 1, 3}));
  EXPECT_EQ(plan.start, (std::vector<int64_t>{0, 2, 4, 5}));
}

TEST(BucketingTest, BoundariesFromQuantilesAndGiven) {
  std::vector<std::pair<int, int>> s;
  for (int i = 1; i <= 100; ++i) s.push_back({0, i});
  const auto spans = Spans(s);
  BucketByLengthDef def;
  def.set_buckets(4);
  auto b = BucketBoundaries(def, spans);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(*b, (std::vector<int32_t>{26, 51, 76}));
  EXPECT_EQ(DescribeBoundaries(*b), "4 buckets: < 26, 26-50, 51-75, >= 76");
  // All rows of one length: one bucket.
  def.set_buckets(10);
  b = BucketBoundaries(def, Spans({{0, 7}, {0, 7}, {0, 7}}));
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(b->empty());

  BucketByLengthDef given;
  given.add_boundary(10);
  given.add_boundary(20);
  b = BucketBoundaries(given, spans);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*b, (std::vector<int32_t>{10, 20}));

  given.add_boundary(15);
  EXPECT_THAT(BucketBoundaries(given, spans).status().message(),
              HasSubstr("boundary[2] is 15"));
  BucketByLengthDef both = given;
  both.set_buckets(3);
  EXPECT_THAT(BucketBoundaries(both, spans).status().message(),
              HasSubstr("both are set"));
  EXPECT_THAT(BucketBoundaries(BucketByLengthDef(), spans).status().message(),
              HasSubstr("neither is set"));
  BucketByLengthDef many;
  many.set_buckets(5000);
  EXPECT_THAT(BucketBoundaries(many, spans).status().message(),
              HasSubstr("buckets is 5000"));
}

TEST(BucketingTest, EpochCoversEveryRowOnceWithinBuckets) {
  std::mt19937_64 rng(4);
  std::vector<std::pair<int, int>> s;
  for (int i = 0; i < 237; ++i)
    s.push_back({0, 1 + static_cast<int>(rng() % 60)});
  const auto spans = Spans(s);
  const std::vector<int32_t> boundaries = {10, 25, 40};
  const BatchPlan plan = PlanBucketedEpoch(spans, boundaries, 16, true, 9, 1);
  // Every row once.
  std::vector<int> seen(spans.size(), 0);
  for (int64_t r : plan.order) ++seen[r];
  for (size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], 1) << i;
  ASSERT_EQ(plan.start.front(), 0);
  ASSERT_EQ(plan.start.back(), 237);
  // Each batch within one bucket, at most 16 rows; batches per bucket are
  // ceil(size / 16).
  const auto bucket = [&](int64_t row) {
    const int len = spans[row].length();
    int b = 0;
    while (b < 3 && len >= boundaries[b]) ++b;
    return b;
  };
  std::vector<int> rows_in(4, 0), batches_in(4, 0);
  for (int64_t i = 0; i < 237; ++i) ++rows_in[bucket(i)];
  for (int64_t k = 0; k < plan.num_batches(); ++k) {
    const int64_t begin = plan.start[k], end = plan.start[k + 1];
    ASSERT_GT(end, begin);
    EXPECT_LE(end - begin, 16);
    const int b = bucket(plan.order[begin]);
    ++batches_in[b];
    for (int64_t i = begin; i < end; ++i) {
      EXPECT_EQ(bucket(plan.order[i]), b) << "batch " << k;
    }
  }
  for (int b = 0; b < 4; ++b) {
    EXPECT_EQ(batches_in[b], (rows_in[b] + 15) / 16) << "bucket " << b;
  }
  // Seeded: the same seed and epoch give the same batches; another epoch
  // or seed others, with the same count.
  const BatchPlan again = PlanBucketedEpoch(spans, boundaries, 16, true, 9, 1);
  EXPECT_EQ(again.order, plan.order);
  EXPECT_EQ(again.start, plan.start);
  const BatchPlan epoch2 = PlanBucketedEpoch(spans, boundaries, 16, true, 9, 2);
  EXPECT_NE(epoch2.order, plan.order);
  EXPECT_EQ(epoch2.num_batches(), plan.num_batches());
  const BatchPlan seed2 = PlanBucketedEpoch(spans, boundaries, 16, true, 10, 1);
  EXPECT_NE(seed2.order, plan.order);
  // No shuffle: buckets in order, rows in row order.
  const BatchPlan plain = PlanBucketedEpoch(spans, boundaries, 16, false, 9, 1);
  for (int64_t k = 1; k < plain.num_batches(); ++k) {
    EXPECT_LE(bucket(plain.order[plain.start[k - 1]]),
              bucket(plain.order[plain.start[k]]));
  }
}

TEST(PaddingInvarianceTest, MaskedModelIsInvariantUnmaskedNamesTheNode) {
  const ModelFile masked = MakeFile("POST", true);
  EXPECT_TRUE(
      CheckPaddingInvariant(masked.model, testing::BuiltinRegistry()).ok())
      << CheckPaddingInvariant(masked.model, testing::BuiltinRegistry());
  const ModelFile unmasked = MakeFile("POST", false);
  const absl::Status s =
      CheckPaddingInvariant(unmasked.model, testing::BuiltinRegistry());
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("node 'max_pool' (GlobalMaxPooling1D)"));
  EXPECT_THAT(s.message(), HasSubstr("reads no mask"));
  EXPECT_THAT(s.message(), HasSubstr("padded ones too"));

  // An LSTM without the mask (no mask_zero): the LSTM is named.
  std::string text = absl::StrReplaceAll(
      absl::StrReplaceAll(
          kModel, {{"$PADDING", "POST"}, {"$POOL", ""}, {"$EXTRA", ""}}),
      {{" mask_zero: true", ""}});
  auto file = ParseModelText(text, "small.pbtxt");
  ASSERT_TRUE(file.ok()) << file.status();
  const absl::Status l =
      CheckPaddingInvariant(file->model, testing::BuiltinRegistry());
  EXPECT_THAT(l.message(), HasSubstr("node 'bilstm' (LSTM)"));
  EXPECT_THAT(l.message(), HasSubstr("the padded steps change its state"));

  // The model knows, and still predicts untrimmed.
  auto model = MakeModel(unmasked);
  ASSERT_NE(model, nullptr);
  EXPECT_FALSE(model->trims_lengths());
  EXPECT_THAT(model->length_trimming_status().message(), HasSubstr("max_pool"));
  EXPECT_TRUE(MakeModel(masked)->trims_lengths());
  auto off = MakeModel(MakeFile("POST", true, "no_length_trimming: true"));
  EXPECT_FALSE(off->trims_lengths());
  EXPECT_THAT(off->length_trimming_status().message(),
              HasSubstr("no_length_trimming"));
}

// A TruncateSequences of the ids before the Embedding (an ensemble member
// of a shorter max_len): invariant when it cuts on the padding's side.
TEST(PaddingInvarianceTest, TruncationOnThePaddingsSideOnly) {
  for (const std::string padding : {"PRE", "POST"}) {
    for (const std::string truncating : {"pre", "post"}) {
      SCOPED_TRACE(padding + " padding, truncating " + truncating);
      ModelFile file = MakeFile(padding, true);
      GraphDef* graph = file.model.mutable_graph();
      NodeDef* cut = graph->add_node();
      cut->set_name("cut");
      cut->set_op("TruncateSequences");
      cut->add_input(file.model.features_input());
      (*cut->mutable_attr())["max_len"].set_i(12);
      (*cut->mutable_attr())["truncating"].set_s(truncating);
      int rewired = 0;
      for (NodeDef& node : *graph->mutable_node()) {
        if (node.name() == "cut") continue;
        for (int i = 0; i < node.input_size(); ++i) {
          if (node.input(i) == file.model.features_input()) {
            node.set_input(i, "cut");
            ++rewired;
          }
        }
      }
      ASSERT_EQ(rewired, 1);  // The Embedding.
      const absl::Status s =
          CheckPaddingInvariant(file.model, testing::BuiltinRegistry());
      if ((padding == "PRE") == (truncating == "pre")) {
        EXPECT_TRUE(s.ok()) << s;
      } else {
        EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
        EXPECT_THAT(s.message(), HasSubstr("node 'cut' (TruncateSequences)"));
        EXPECT_THAT(s.message(), HasSubstr("depends on the batch's length"));
      }
    }
  }
}

// Predict and Evaluate, trimmed against untrimmed (no_length_trimming),
// the same initial weights: the same predictions, in input order.
void ExpectTrimmingChangesNothing(const std::string& padding) {
  SCOPED_TRACE(padding);
  const bool pre = padding == "PRE";
  auto trimmed = MakeModel(MakeFile(padding, true));
  auto padded = MakeModel(MakeFile(padding, true, "no_length_trimming: true"));
  ASSERT_TRUE(trimmed != nullptr && padded != nullptr);
  ASSERT_TRUE(trimmed->trims_lengths());
  const LabeledExamples data = Corpus(101, pre, 5);
  auto a = trimmed->Predict(data.features, 8);
  auto b = padded->Predict(data.features, 8);
  ASSERT_TRUE(a.ok() && b.ok()) << a.status() << b.status();
  ASSERT_EQ(a->shape(), b->shape());
  double spread = 0;
  for (int64_t i = 0; i < a->num_elements(); ++i) {
    EXPECT_NEAR(a->f32()[i], b->f32()[i], 1e-6) << "row " << i;
    spread += std::abs(a->f32()[i] - a->f32()[0]);
  }
  EXPECT_GT(spread, 1e-3);  // The rows' predictions differ: order matters.
  // Row by row, alone: the same as in the batch (input order kept).
  for (int64_t i : {0, 1, 7, 50, 100}) {
    Tensor row = Tensor::FromVector(
        {1, 40}, std::vector<int32_t>(data.features.i32() + i * 40,
                                      data.features.i32() + (i + 1) * 40));
    auto one = padded->Predict(row, 1);
    ASSERT_TRUE(one.ok());
    EXPECT_NEAR(one->f32()[0], a->f32()[i], 1e-6) << "row " << i;
  }
  auto ma = trimmed->Evaluate(data, 8);
  auto mb = padded->Evaluate(data, 8);
  ASSERT_TRUE(ma.ok() && mb.ok());
  for (size_t k = 0; k < ma->size(); ++k) {
    EXPECT_EQ((*ma)[k].first, (*mb)[k].first);
    EXPECT_NEAR((*ma)[k].second, (*mb)[k].second, 1e-6);
  }
  // Features of another width are still refused.
  const Tensor narrow =
      Tensor::FromVector({1, 20}, std::vector<int32_t>(20, 1));
  EXPECT_THAT(trimmed->Predict(narrow, 8).status().message(),
              HasSubstr("is int32[?, 40], but the features are int32[1, 20]"));
}

TEST(TrimmingTest, PredictAndEvaluateUnchangedPostPadding) {
  ExpectTrimmingChangesNothing("POST");
}

TEST(TrimmingTest, PredictAndEvaluateUnchangedPrePadding) {
  ExpectTrimmingChangesNothing("PRE");
}

TEST(TrimmingTest, FitWithBucketsRefusedForAModelNotInvariant) {
  auto model = MakeModel(MakeFile("POST", false));
  const LabeledExamples data = Corpus(40, false, 6);
  BucketByLengthDef buckets;
  buckets.set_buckets(3);
  FitOptions options;
  options.batch_size = 8;
  options.bucket_by_length = &buckets;
  auto h = model->Fit(data, {}, options, {});
  EXPECT_EQ(h.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(h.status().message(), HasSubstr("training.bucket_by_length"));
  EXPECT_THAT(h.status().message(),
              HasSubstr("node 'max_pool' (GlobalMaxPooling1D)"));
}

// Three epochs with buckets; stopped in epoch 1 and resumed,
// the run ends with the same history and weights, to the bit.
TEST(TrimmingTest, FitWithBucketsLearnsAndResumesExactly) {
  const ModelFile file = MakeFile("PRE", true);
  const LabeledExamples train = Corpus(120, true, 7);
  const LabeledExamples validation = Corpus(30, true, 8);
  BucketByLengthDef buckets;
  buckets.set_buckets(4);
  FitOptions options;
  options.epochs = 3;
  options.batch_size = 8;
  options.seed = 5;
  options.bucket_by_length = &buckets;

  auto reference = MakeModel(file);
  auto want = reference->Fit(train, validation, options, {});
  ASSERT_TRUE(want.ok()) << want.status();
  ASSERT_EQ(want->epochs.size(), 3u);
  // It learns: the training loss falls.
  EXPECT_LT(want->epochs[2].metrics[0].second,
            want->epochs[0].metrics[0].second);

  const std::string dir = absl::StrCat(std::getenv("TEST_TMPDIR"), "/resume");
  ResumeWriter writer(dir);
  std::atomic<bool> stop{false};
  int writes = 0;
  writer.set_stage_hook([&](absl::string_view stage) {
    if (stage == "done" && ++writes == 2) stop = true;  // Epoch 1, step 6.
  });
  FitOptions first = options;
  first.resume_writer = &writer;
  first.checkpoint_every = 3;
  first.stop_requested = &stop;
  auto stopped = MakeModel(file);
  auto h = stopped->Fit(train, validation, first, {});
  ASSERT_TRUE(absl::IsCancelled(h.status())) << h.status();

  std::vector<std::string> notes;
  std::string used;
  auto state = LoadResumeState(dir, &notes, &used);
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_GT(state->step(), 0);
  EXPECT_EQ(state->bucketing(), "4 buckets: < 6, 6-8, 9-13, >= 14")
      << state->bucketing();
  FitOptions second = options;
  second.resume_from = &*state;
  auto resumed = MakeModel(file);
  auto got = resumed->Fit(train, validation, second, {});
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->epochs.size(), 3u);
  for (size_t e = 0; e < 3; ++e) {
    EXPECT_EQ(got->epochs[e].metrics, want->epochs[e].metrics) << e;
  }
  const auto& p = reference->executor().parameters();
  const auto& q = resumed->executor().parameters();
  ASSERT_EQ(p.size(), q.size());
  for (size_t i = 0; i < p.size(); ++i) {
    ASSERT_EQ(p[i].value.num_elements(), q[i].value.num_elements());
    EXPECT_EQ(0, std::memcmp(p[i].value.f32(), q[i].value.f32(),
                             p[i].value.num_elements() * sizeof(float)))
        << p[i].name;
  }

  // Other boundaries are refused on resume.
  BucketByLengthDef other;
  other.set_buckets(2);
  second.bucket_by_length = &other;
  auto refused = MakeModel(file)->Fit(train, validation, second, {});
  EXPECT_THAT(refused.status().message(),
              HasSubstr("written with length bucketing 4 buckets"));
}

// tools/train with --set=training.bucket_by_length.buckets=4: the tuned
// BiLSTM (masked pooling) trains and learns; pipeline 2's (max pooling over
// every step) is refused, naming its node.
TEST(TrimmingTest, TrainJobBucketsFromTheCommandLine) {
  data::SyntheticCorpusOptions corpus;
  corpus.train_per_label = 200;
  corpus.test_per_label = 60;
  corpus.seed = 3;
  corpus.min_words = 3;
  corpus.max_words = 35;
  const std::string& dir = testing::WriteCorpusOnce("corpus", corpus);
  TrainJobOptions run = testing::SmallRun({"models/bilstm_tuned.pbtxt", dir,
                                           "tuned", /*max_len=*/40,
                                           /*num_words=*/300, /*epochs=*/3});
  run.overrides.set = {"training.bucket_by_length.buckets=4"};
  run.overrides.learning_rate = 3e-3f;
  std::ostringstream out;
  absl::Status s = RunTrainJob(run, out);
  ASSERT_TRUE(s.ok()) << s << "\n" << out.str();
  EXPECT_THAT(out.str(), HasSubstr("Test acc: "));
  auto config = ReadModelFile(testing::TmpDir() + "/tuned/config.pbtxt");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->model.training().bucket_by_length().buckets(), 4);

  TrainJobOptions light =
      testing::SmallRun({"models/bilstm.pbtxt", dir, "light", /*max_len=*/40,
                         /*num_words=*/300, /*epochs=*/1});
  light.overrides.set = {"training.bucket_by_length.buckets=4"};
  std::ostringstream light_out;
  s = RunTrainJob(light, light_out);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_THAT(s.message(), HasSubstr("training.bucket_by_length"));
  EXPECT_THAT(s.message(), HasSubstr("node 'max_pool' (GlobalMaxPooling1D)"));
}

}  // namespace
}  // namespace loom
