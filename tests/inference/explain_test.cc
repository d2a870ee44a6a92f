// Tests of framework/inference/explain: integrated gradients against a
// closed form, completeness on the shipped LSTM graphs, occlusion against a
// brute-force loop, the prefix curve against separate runs, bad input.
#include "framework/inference/explain.h"

#include <cmath>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "framework/file_util.h"
#include "framework/model_io.h"
#include "framework/training/saved_model.h"
#include "framework/training/train_job.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/inference/test_models.h"

namespace loom {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string TmpDir() { return std::string(std::getenv("TEST_TMPDIR")); }

// Embedding(50, 4) -> GlobalAveragePooling1D (no mask) -> Dense(1, sigmoid).
constexpr char kBagOfWords[] = R"pb(
  name: "tiny_bow"
  features_input: "tokens"
  labels_input: "label"
  prediction: "probability"
  loss: "loss"
  metric: "accuracy"
  dataset { name: "imdb" num_words: 50 max_len: 6 padding: PRE truncating: PRE }
  graph {
    input {
      name: "tokens"
      dtype: DT_INT32
      shape { dim: -1 dim: 6 }
    }
    input {
      name: "label"
      dtype: DT_FLOAT
      shape { dim: -1 dim: 1 }
    }
    parameter {
      name: "embedding/table"
      shape { dim: 50 dim: 4 }
      initializer { uniform { minval: -1 maxval: 1 } }
    }
    parameter {
      name: "output/kernel"
      shape { dim: 4 dim: 1 }
      initializer { glorot_uniform {} }
    }
    parameter {
      name: "output/bias"
      shape { dim: 1 }
      initializer { zeros {} }
    }
    node {
      name: "embedding"
      op: "Embedding"
      input: "tokens"
      input: "embedding/table"
    }
    node { name: "pool" op: "GlobalAveragePooling1D" input: "embedding" }
    node {
      name: "probability"
      op: "Dense"
      input: "pool"
      input: "output/kernel"
      input: "output/bias"
      attr {
        key: "units"
        value { i: 1 }
      }
      attr {
        key: "activation"
        value { s: "sigmoid" }
      }
    }
    node {
      name: "loss"
      op: "BinaryCrossentropy"
      input: "probability"
      input: "label"
    }
    node {
      name: "accuracy"
      op: "BinaryAccuracy"
      input: "probability"
      input: "label"
    }
  }
)pb";

struct Loaded {
  std::unique_ptr<OpRegistry> registry;
  std::unique_ptr<Model> model;
  data::Vocabulary vocabulary;
};

Loaded FromText(const char* text, int seed = 3) {
  Loaded l;
  l.registry = std::make_unique<OpRegistry>();
  EXPECT_TRUE(PrepareRegistry({}, l.registry.get()).ok());
  auto file = ParseModelText(text, "test.pbtxt");
  EXPECT_TRUE(file.ok()) << file.status();
  auto model = Model::Create(*file, *l.registry, seed);
  EXPECT_TRUE(model.ok()) << model.status();
  l.model = *std::move(model);
  l.vocabulary = *data::Vocabulary::FromWords(testing::TestWords(), 50);
  return l;
}

// A shipped model file with seeded weights (num_words 50, max_len 20).
Loaded FromShipped(const std::string& model_file,
                   const std::vector<std::string>& classes = {}, int seed = 7) {
  const std::string name = model_file.substr(model_file.rfind('/') + 1);
  const std::string dir = testing::WriteTestModel(
      model_file, absl::StrCat(TmpDir(), "/", name, "_", seed), classes, seed);
  Loaded l;
  l.registry = std::make_unique<OpRegistry>();
  EXPECT_TRUE(PrepareRegistry({}, l.registry.get()).ok());
  auto loaded = LoadModel(dir, *l.registry);
  EXPECT_TRUE(loaded.ok()) << loaded.status();
  l.model = std::move(loaded->model);
  l.vocabulary = std::move(loaded->vocabulary);
  return l;
}

double Sigmoid(double z) { return 1.0 / (1.0 + std::exp(-z)); }

TEST(ExplainTest, BagOfWordsMatchesClosedForm) {
  Loaded l = FromText(kBagOfWords);
  Executor& ex = l.model->executor();
  ex.FindParameter("output/bias")->value.f32()[0] = 0.3f;
  auto explainer = Explainer::Create(l.model.get(), &l.vocabulary);
  ASSERT_TRUE(explainer.ok()) << explainer.status();
  const std::string text = "good film but awful acting";  // "but" unknown.
  ExplainOptions options;
  options.steps = 200;
  options.target_class = 1;
  auto e = explainer->Explain(text, options);
  ASSERT_TRUE(e.ok()) << e.status();

  // f = sigmoid(b + w . mean_t e_t) over all 6 positions. On the straight
  // path z moves linearly, so IG_t = (w . (x_t - b_t) / T) *
  // (sigmoid(z_x) - sigmoid(z_b)) / (z_x - z_b).
  const float* table = ex.FindParameter("embedding/table")->value.f32();
  const float* w = ex.FindParameter("output/kernel")->value.f32();
  const double bias = 0.3;
  const std::vector<int32_t> row = explainer->PadRow(l.vocabulary.Encode(text));
  ASSERT_EQ(row.size(), 6u);
  std::vector<double> contrib(6);
  double zx = bias, zb = bias;
  for (int t = 0; t < 6; ++t) {
    double dx = 0, db = 0;
    for (int d = 0; d < 4; ++d) {
      dx += w[d] * table[row[t] * 4 + d] / 6.0;
      db += w[d] * table[0 * 4 + d] / 6.0;  // Baseline: padding, id 0.
    }
    contrib[t] = dx - db;
    zx += dx;
    zb += db;
  }
  const double ratio = (Sigmoid(zx) - Sigmoid(zb)) / (zx - zb);
  EXPECT_NEAR(e->target_probability, Sigmoid(zx), 1e-6);
  EXPECT_NEAR(e->baseline_probability, Sigmoid(zb), 1e-6);
  ASSERT_EQ(e->tokens.size(), 6u);  // <start> and 5 words fill the row.
  for (const ExplainedToken& tok : e->tokens) {
    EXPECT_NEAR(tok.attribution, contrib[tok.position] * ratio, 1e-5)
        << tok.word;
  }
  EXPECT_LT(e->completeness_error, 1e-5);

  // Class 0 of a sigmoid model is 1 - p: attributions change sign.
  options.target_class = 0;
  auto e0 = explainer->Explain(text, options);
  ASSERT_TRUE(e0.ok()) << e0.status();
  for (size_t i = 0; i < e0->tokens.size(); ++i) {
    EXPECT_NEAR(e0->tokens[i].attribution, -e->tokens[i].attribution, 1e-6);
  }
}

// sum(attributions) = f(x) - f(baseline), and the error falls with steps.
void CheckCompleteness(const std::string& model_file) {
  Loaded l = FromShipped(model_file);
  auto explainer = Explainer::Create(l.model.get(), &l.vocabulary);
  ASSERT_TRUE(explainer.ok()) << explainer.status();
  const std::vector<std::string> texts = {
      "good film great acting", "bad plot awful acting not good",
      "not bad film great plot good acting awful"};
  for (const std::string& text : texts) {
    std::vector<std::string> row;
    double last = 0;
    for (int steps : {10, 25, 50, 100, 200}) {
      ExplainOptions options;
      options.steps = steps;
      options.occlusion = false;
      options.prefix_curve = false;
      auto e = explainer->Explain(text, options);
      ASSERT_TRUE(e.ok()) << e.status();
      const double delta = e->target_probability - e->baseline_probability;
      row.push_back(absl::StrCat(steps, ": ", e->completeness_error));
      if (steps == 10) {
        row.insert(row.begin(), absl::StrCat("f(x)-f(b) ", delta));
      }
      EXPECT_LT(e->completeness_error, 5e-3 * std::max(1.0, std::fabs(delta)))
          << text << " steps " << steps;
      if (steps >= 50) {
        EXPECT_LT(e->completeness_error,
                  std::max(1e-4, 0.01 * std::fabs(delta)))
            << text << " steps " << steps;
      }
      last = e->completeness_error;
    }
    (void)last;
    std::cout << model_file << " \"" << text
              << "\": " << absl::StrJoin(row, ", ") << "\n";
  }
}

TEST(ExplainTest, CompletenessLstm) { CheckCompleteness("models/lstm.pbtxt"); }

TEST(ExplainTest, CompletenessBilstm) {
  CheckCompleteness("models/bilstm.pbtxt");
}

TEST(ExplainTest, OcclusionEqualsBruteForce) {
  Loaded l = FromShipped("models/bilstm.pbtxt");
  auto explainer = Explainer::Create(l.model.get(), &l.vocabulary);
  ASSERT_TRUE(explainer.ok()) << explainer.status();
  const std::string text = "the acting was good but the ending was awful";
  auto e = explainer->Explain(text);
  ASSERT_TRUE(e.ok()) << e.status();
  const std::vector<int32_t> row = explainer->PadRow(l.vocabulary.Encode(text));
  const int t_len = static_cast<int>(row.size());
  auto full =
      explainer->Score(Tensor::FromVector({1, t_len}, row), e->target_class);
  ASSERT_TRUE(full.ok());
  int words = 0;
  for (const ExplainedToken& tok : e->tokens) {
    if (!tok.is_word) continue;
    ++words;
    std::vector<int32_t> one = row;
    one[tok.position] = 0;
    auto p =
        explainer->Score(Tensor::FromVector({1, t_len}, one), e->target_class);
    ASSERT_TRUE(p.ok());
    EXPECT_NEAR(tok.occlusion, (*full)[0] - (*p)[0], 1e-5) << tok.word;
  }
  EXPECT_EQ(words, 9);
}

TEST(ExplainTest, PrefixCurveOfForwardLstmEqualsSeparateRuns) {
  Loaded l = FromShipped("models/lstm.pbtxt");
  auto explainer = Explainer::Create(l.model.get(), &l.vocabulary);
  ASSERT_TRUE(explainer.ok()) << explainer.status();
  const std::vector<std::string> words = {"good", "acting", "but",  "awful",
                                          "plot", "not",    "great"};
  const std::string text = absl::StrJoin(words, " ");
  ExplainOptions options;
  options.target_class = 1;
  auto e = explainer->Explain(text, options);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_TRUE(e->reads_forward);
  ASSERT_EQ(e->prefix_probabilities.size(), words.size() + 1);
  for (size_t i = 0; i <= words.size(); ++i) {
    // The prefix as a text of its own, through the data pipeline.
    const std::vector<std::string> prefix(words.begin(), words.begin() + i);
    const Tensor ids = EncodeTexts({absl::StrJoin(prefix, " ")}, l.vocabulary,
                                   l.model->def().dataset());
    auto p = l.model->Predict(ids, 1);
    ASSERT_TRUE(p.ok());
    EXPECT_NEAR(e->prefix_probabilities[i], p->f32()[0], 1e-5) << i;
  }
  EXPECT_NEAR(e->prefix_probabilities.back(), e->target_probability, 1e-5);

  auto bi = FromShipped("models/bilstm.pbtxt");
  auto bi_explainer = Explainer::Create(bi.model.get(), &bi.vocabulary);
  ASSERT_TRUE(bi_explainer.ok());
  auto be = bi_explainer->Explain(text);
  ASSERT_TRUE(be.ok());
  EXPECT_FALSE(be->reads_forward);
}

TEST(ExplainTest, MulticlassChosenClass) {
  Loaded l =
      FromShipped("models/reviews_stars.pbtxt", {"1", "2", "3", "4", "5"});
  auto explainer = Explainer::Create(l.model.get(), &l.vocabulary);
  ASSERT_TRUE(explainer.ok()) << explainer.status();
  for (int c = 0; c < explainer->num_classes(); ++c) {
    ExplainOptions options;
    options.target_class = c;
    options.steps = 100;
    auto e = explainer->Explain("good film awful plot", options);
    ASSERT_TRUE(e.ok()) << e.status();
    EXPECT_EQ(e->target_class, c);
    EXPECT_NEAR(e->target_probability, e->probabilities[c], 1e-5);
    EXPECT_LT(e->completeness_error, 1e-3);
  }
  ExplainOptions bad;
  bad.target_class = explainer->num_classes();
  auto e = explainer->Explain("good film", bad);
  ASSERT_FALSE(e.ok());
  EXPECT_THAT(e.status().message(), HasSubstr("is not one of the model's"));
}

TEST(ExplainTest, BadInput) {
  Loaded l = FromShipped("models/lstm.pbtxt");
  auto explainer = Explainer::Create(l.model.get(), &l.vocabulary);
  ASSERT_TRUE(explainer.ok()) << explainer.status();
  auto empty = explainer->Explain("  ... ");
  ASSERT_FALSE(empty.ok());
  EXPECT_THAT(empty.status().message(), HasSubstr("has no words"));
  auto unknown = explainer->Explain("zyzzyva quux");
  ASSERT_FALSE(unknown.ok());
  EXPECT_THAT(unknown.status().message(),
              HasSubstr("none of the text's 2 words is in the model's "
                        "vocabulary"));
  ExplainOptions one_step;
  one_step.steps = 1;
  auto steps = explainer->Explain("good", one_step);
  ASSERT_FALSE(steps.ok());
  EXPECT_THAT(steps.status().message(), HasSubstr("steps >= 2"));

  Loaded plain = FromText(testing::kNoEmbeddingModel);
  auto none = Explainer::Create(plain.model.get(), &plain.vocabulary);
  ASSERT_FALSE(none.ok());
  EXPECT_THAT(none.status().message(),
              HasSubstr("no Embedding node of its graph reads the features "
                        "input 'x'"));
}

TEST(ExplainTest, Formats) {
  Loaded l = FromShipped("models/lstm.pbtxt");
  auto explainer = Explainer::Create(l.model.get(), &l.vocabulary);
  ASSERT_TRUE(explainer.ok());
  const std::string text = "good <film> & \"bad\" plot";
  auto e = explainer->Explain(text);
  ASSERT_TRUE(e.ok()) << e.status();
  const std::string plain = FormatExplanationText(*e, false);
  EXPECT_THAT(plain, HasSubstr("prediction: "));
  EXPECT_THAT(plain, HasSubstr("good("));
  EXPECT_THAT(FormatExplanationText(*e, true), HasSubstr("\x1b[48;2;"));
  const std::string json = ExplanationToJson(*e, text);
  EXPECT_THAT(json, HasSubstr("\"text\":\"good <film> & \\\"bad\\\" plot\""));
  EXPECT_THAT(json, HasSubstr("\"occlusion\":"));
  EXPECT_THAT(json, HasSubstr("\"prefix_curve\":["));
  const std::string html = ExplanationToHtml(*e, text, "lstm");
  EXPECT_THAT(html, HasSubstr("<svg id=\"prefix-curve\""));
  EXPECT_THAT(html, HasSubstr("&lt;film&gt; &amp; &quot;bad&quot;"));
  EXPECT_THAT(html, HasSubstr("data-attribution="));
}

// ---------------------------------------------------------------------------
// Reports of a file's rows (tools/predict --input --explain_html).

std::string WriteReviewsCsv() {
  const std::string path = TmpDir() + "/reviews.csv";
  EXPECT_TRUE(WriteFileAtomically(path,
                                  "id,review\n"
                                  "1,good film great acting\n"
                                  "2,\"\"\n"
                                  "3,zyzzyva quux\n"
                                  "4,\"not good, bad plot\"\n"
                                  "5,awful\n")
                  .ok());
  return path;
}

TEST(ExplainReportTest, RowsOfAFileAsTheExplainerExplainsThem) {
  Loaded l = FromShipped("models/lstm.pbtxt");
  auto explainer = Explainer::Create(l.model.get(), &l.vocabulary);
  ASSERT_TRUE(explainer.ok()) << explainer.status();
  data::ReadOptions read;
  read.text_column = "review";
  ExplainOptions options;
  options.steps = 20;
  const std::string csv = WriteReviewsCsv();
  auto rows = ExplainRecords(*explainer, csv, "", read, 4, options);
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 4u);  // The first 4 of 5.
  EXPECT_EQ((*rows)[0].where, csv + ":2");
  EXPECT_EQ((*rows)[3].text, "not good, bad plot");
  for (int i : {0, 3}) {
    ASSERT_TRUE((*rows)[i].explanation.ok()) << (*rows)[i].explanation.status();
    auto direct = explainer->Explain((*rows)[i].text, options);
    ASSERT_TRUE(direct.ok());
    const Explanation& e = *(*rows)[i].explanation;
    ASSERT_EQ(e.tokens.size(), direct->tokens.size());
    for (size_t t = 0; t < e.tokens.size(); ++t) {
      EXPECT_EQ(e.tokens[t].word, direct->tokens[t].word);
      EXPECT_DOUBLE_EQ(e.tokens[t].attribution, direct->tokens[t].attribution);
    }
    EXPECT_EQ(e.steps, 20);
    EXPECT_LT(e.completeness_error, 0.01);
  }
  EXPECT_THAT(std::string((*rows)[1].explanation.status().message()),
              HasSubstr("has no words"));
  EXPECT_THAT(std::string((*rows)[2].explanation.status().message()),
              HasSubstr("none of the text's 2 words"));

  const std::string html = ExplanationReportToHtml(*rows, "lstm", "r.csv");
  auto count = [&](const std::string& what) {
    int n = 0;
    for (size_t at = html.find(what); at != std::string::npos;
         at = html.find(what, at + 1)) {
      ++n;
    }
    return n;
  };
  EXPECT_EQ(count("<section class=\"row\""), 4);
  // Words highlighted: 4 + 4 (the punctuation is not a word).
  EXPECT_EQ(count("<span class=\"w\" data-attribution="), 8);
  // The LSTM reads forward: a curve for each explained row, unique ids.
  EXPECT_EQ(count("class=\"prefix-curve\""), 2);
  EXPECT_EQ(count("<svg id=\"prefix-curve-1\""), 1);
  EXPECT_EQ(count("<svg id=\"prefix-curve-4\""), 1);
  EXPECT_EQ(count("Not explained: nothing to explain"), 2);
  EXPECT_THAT(html, HasSubstr("4 rows, 2 explained"));
}

TEST(ExplainReportTest, NoCurveForABidirectionalModel) {
  Loaded l = FromShipped("models/bilstm.pbtxt");
  auto explainer = Explainer::Create(l.model.get(), &l.vocabulary);
  ASSERT_TRUE(explainer.ok()) << explainer.status();
  data::ReadOptions read;
  read.text_column = "review";
  auto rows = ExplainRecords(*explainer, WriteReviewsCsv(), "csv", read, 20,
                             ExplainOptions{});
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(rows->size(), 5u);  // All of them: fewer than 20.
  const std::string html = ExplanationReportToHtml(*rows, "bilstm", "r.csv");
  EXPECT_THAT(html, Not(HasSubstr("<svg")));
  EXPECT_THAT(html, HasSubstr("No prefix curve: the model's recurrent layer "
                              "does not read forward only"));
}

TEST(ExplainReportTest, StopsAfterTheRowsAskedForInJsonLines) {
  Loaded l = FromShipped("models/lstm.pbtxt");
  auto explainer = Explainer::Create(l.model.get(), &l.vocabulary);
  ASSERT_TRUE(explainer.ok());
  const std::string path = TmpDir() + "/reviews.jsonl";
  ASSERT_TRUE(WriteFileAtomically(path,
                                  "{\"text\": \"good film\"}\n"
                                  "{\"text\": \"bad plot\"}\n"
                                  "{\"text\": \"great acting\"}\n")
                  .ok());
  auto rows = ExplainRecords(*explainer, path, "", data::ReadOptions{}, 2, {});
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[1].text, "bad plot");
  ASSERT_TRUE((*rows)[1].explanation.ok());
  EXPECT_EQ((*rows)[1].explanation->tokens.back().word, "plot");
}

TEST(ExplainReportTest, BadArguments) {
  Loaded l = FromShipped("models/lstm.pbtxt");
  auto explainer = Explainer::Create(l.model.get(), &l.vocabulary);
  ASSERT_TRUE(explainer.ok());
  data::ReadOptions read;
  read.text_column = "review";
  const std::string csv = WriteReviewsCsv();
  auto zero = ExplainRecords(*explainer, csv, "", read, 0, {});
  EXPECT_THAT(std::string(zero.status().message()),
              HasSubstr("at least 1 row to explain, got 0"));
  ExplainOptions one_step;
  one_step.steps = 1;
  auto steps = ExplainRecords(*explainer, csv, "", read, 3, one_step);
  EXPECT_THAT(std::string(steps.status().message()),
              HasSubstr("steps >= 2, got 1"));
  ExplainOptions bad_class;
  bad_class.target_class = 2;
  auto cls = ExplainRecords(*explainer, csv, "", read, 3, bad_class);
  EXPECT_THAT(std::string(cls.status().message()),
              HasSubstr("class 2 is not one of the model's 2 classes"));
  data::ReadOptions other = read;
  other.text_column = "body";
  auto column = ExplainRecords(*explainer, csv, "", other, 3, {});
  ASSERT_FALSE(column.ok());
  EXPECT_THAT(std::string(column.status().message()), HasSubstr("body"));
  auto missing =
      ExplainRecords(*explainer, TmpDir() + "/nope.csv", "", read, 3, {});
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("nope.csv"));
}

// ---------------------------------------------------------------------------
// ThreadedExplainer (the service's).

TEST(ThreadedExplainerTest, SameAsDirectFromManyThreads) {
  const std::string dir = testing::WriteTestModel(
      "models/lstm.pbtxt", TmpDir() + "/threaded_lstm", {}, 5);
  OpRegistry registry;
  ASSERT_TRUE(PrepareRegistry({}, &registry).ok());
  auto threaded = ThreadedExplainer::Load(dir, registry);
  ASSERT_TRUE(threaded.ok()) << threaded.status();
  EXPECT_EQ((*threaded)->name(), "lstm");
  EXPECT_EQ((*threaded)->max_len(), 20);
  EXPECT_EQ((*threaded)->class_names(),
            std::vector<std::string>({"negative", "positive"}));
  auto loaded = LoadModel(dir, registry);
  ASSERT_TRUE(loaded.ok());
  auto direct = Explainer::Create(loaded->model.get(), &loaded->vocabulary);
  ASSERT_TRUE(direct.ok());
  const std::vector<std::string> texts = {"good film", "not good at all", "...",
                                          "bad plot awful acting"};
  ExplainOptions options;
  options.steps = 16;
  std::vector<std::string> expected;
  for (const std::string& t : texts) {
    auto e = direct->Explain(t, options);
    expected.push_back(e.ok() ? ExplanationToJson(*e, t)
                              : std::string(e.status().message()));
  }
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int c = 0; c < 4; ++c) {
    threads.emplace_back([&, c] {
      for (int i = 0; i < 3; ++i) {
        auto results = (*threaded)->Explain(texts, options);
        if (!results.ok() || results->size() != texts.size()) {
          ++mismatches[c];
          continue;
        }
        for (size_t k = 0; k < texts.size(); ++k) {
          const auto& r = (*results)[k];
          const std::string got = r.ok() ? ExplanationToJson(*r, texts[k])
                                         : std::string(r.status().message());
          if (got != expected[k]) ++mismatches[c];
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
  EXPECT_THAT(expected[2], HasSubstr("has no words"));
  auto none = (*threaded)->Explain({}, options);
  EXPECT_THAT(std::string(none.status().message()),
              HasSubstr("no texts to explain"));
}

TEST(ThreadedExplainerTest, LoadErrorsSayWhy) {
  OpRegistry registry;
  ASSERT_TRUE(PrepareRegistry({}, &registry).ok());
  auto missing = ThreadedExplainer::Load(TmpDir() + "/no_such_model", registry);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()),
              HasSubstr("no_such_model"));
  const std::string dir = TmpDir() + "/no_embedding_model";
  const absl::Status written =
      testing::WriteTestModelText(testing::kNoEmbeddingModel, dir, 3);
  ASSERT_TRUE(written.ok()) << written;
  auto none = ThreadedExplainer::Load(dir, registry);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(none.status().message()),
              HasSubstr("no Embedding node of its graph reads the features "
                        "input 'x'"));
}

}  // namespace
}  // namespace loom
