// Tests of framework/inference/explain: integrated gradients against a
// closed form, completeness on the shipped LSTM graphs, occlusion against a
// brute-force loop, the prefix curve against separate runs, bad input.
#include "framework/inference/explain.h"

#include <cmath>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "framework/model_io.h"
#include "framework/training/saved_model.h"
#include "framework/training/train_job.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/inference/test_models.h"

namespace loom {
namespace {

using ::testing::HasSubstr;

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

// Float features straight into a Dense layer: nothing to attribute to words.
constexpr char kNoEmbedding[] = R"pb(
  name: "no_embedding"
  features_input: "x"
  labels_input: "label"
  prediction: "probability"
  loss: "loss"
  dataset { name: "imdb" num_words: 50 max_len: 4 }
  graph {
    input {
      name: "x"
      dtype: DT_FLOAT
      shape { dim: -1 dim: 4 }
    }
    input {
      name: "label"
      dtype: DT_FLOAT
      shape { dim: -1 dim: 1 }
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
      name: "probability"
      op: "Dense"
      input: "x"
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

  Loaded plain = FromText(kNoEmbedding);
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

}  // namespace
}  // namespace loom
