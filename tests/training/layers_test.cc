// The layer form of a model file (framework/layers.h) and the parameters
// ops create (OpDef::params): models/bilstm.pbtxt, lstm.pbtxt,
// bilstm_full.pbtxt and reviews_bilstm.pbtxt against copies of their
// full-graph forms (testdata/*_graph.pbtxt, the
// files as they were before the layer form): the same graph, the same
// initial weights to the bit and the same first epoch on a generated
// corpus; tools/graph's summary; the errors of bad layer files.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "framework/executor.h"
#include "framework/file_util.h"
#include "framework/graph.h"
#include "framework/model_io.h"
#include "framework/training/train_job.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ops/op_library.h"
#include "tests/data/synthetic_corpus.h"
#include "tests/training/small_runs.h"

namespace loom {
namespace {

using ::testing::HasSubstr;

using testing::TmpDir;

// The old files named the output layer's parameters "output/..."; the
// layer form names them after the layer, "probability/..." (or "logits/").
std::string OldName(const std::string& name) {
  return absl::StrReplaceAll(
      name, {{"probability/", "output/"}, {"logits/", "output/"}});
}

struct Built {
  ModelFile file;
  std::unique_ptr<Executor> executor;
};

// The file as the driver sees it (its data set settings and `overrides`),
// its graph built and its parameters initialized at the file's seed.
Built Build(const std::string& path, const ConfigOverrides& overrides = {}) {
  auto file = ReadModelFile(path);
  EXPECT_TRUE(file.ok()) << file.status();
  if (!file.ok()) return {};
  EXPECT_TRUE(ApplyOverrides(overrides, &file->model).ok());
  auto graph = Graph::Build(file->model.graph(), testing::BuiltinRegistry(),
                            file->source);
  EXPECT_TRUE(graph.ok()) << graph.status();
  if (!graph.ok()) return {};
  auto ex = Executor::Create(std::move(*graph), file->model.training().seed());
  EXPECT_TRUE(ex.ok()) << ex.status();
  if (!ex.ok()) return {};
  EXPECT_TRUE((*ex)->InitializeParameters().ok());
  return {*std::move(file), *std::move(ex)};
}

class ShippedModelTest : public ::testing::TestWithParam<const char*> {
 protected:
  std::string NewForm() const {
    return absl::StrCat("models/", GetParam(), ".pbtxt");
  }
  std::string OldForm() const {
    return absl::StrCat("tests/training/testdata/", GetParam(), "_graph.pbtxt");
  }
};

// Every parameter of `a` and `b`, in order: the same name (mapped), shape
// and bytes.
void ExpectSameParameters(const Executor& old_form, const Executor& layers) {
  const auto& a = old_form.parameters();
  const auto& b = layers.parameters();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].name, OldName(b[i].name));
    ASSERT_EQ(a[i].value.shape(), b[i].value.shape()) << a[i].name;
    EXPECT_EQ(std::memcmp(a[i].value.f32(), b[i].value.f32(),
                          a[i].value.num_elements() * sizeof(float)),
              0)
        << a[i].name << " differs";
  }
}

TEST_P(ShippedModelTest, LayerFormIsShortAndExpandsToTheOldGraph) {
  auto text = ReadFile(NewForm());
  ASSERT_TRUE(text.ok());
  // The two pipelines' files, comments included (bilstm_full keeps its
  // notes of experiments at the end).
  if (std::string(GetParam()) == "bilstm" ||
      std::string(GetParam()) == "lstm") {
    EXPECT_LT(std::count(text->begin(), text->end(), '\n'), 45);
  }
  Built old_form = Build(OldForm());
  Built layers = Build(NewForm());
  ASSERT_TRUE(old_form.executor && layers.executor);
  const Graph& a = old_form.executor->graph();
  const Graph& b = layers.executor->graph();
  // The same nodes in the same order (names seed dropout masks), reading
  // the same values.
  ASSERT_EQ(a.def().node_size(), b.def().node_size());
  for (int i = 0; i < a.def().node_size(); ++i) {
    const NodeDef& x = a.def().node(i);
    const NodeDef& y = b.def().node(i);
    EXPECT_EQ(x.name(), y.name());
    EXPECT_EQ(x.op(), y.op()) << x.name();
    std::vector<std::string> y_inputs;
    for (const std::string& in : y.input()) y_inputs.push_back(OldName(in));
    EXPECT_THAT(y_inputs, ::testing::ElementsAreArray(x.input())) << x.name();
    // Every attribute the old node set, the same (the new Embedding adds
    // input_dim and output_dim, the sizes of the table it creates).
    for (const auto& [key, value] : x.attr()) {
      auto it = y.attr().find(key);
      ASSERT_NE(it, y.attr().end()) << x.name() << " " << key;
      EXPECT_EQ(it->second.SerializeAsString(), value.SerializeAsString())
          << x.name() << " " << key;
    }
  }
  for (const char* field :
       {"features_input", "labels_input", "prediction", "loss"}) {
    const auto* f = ModelDef::descriptor()->FindFieldByName(field);
    EXPECT_EQ(
        old_form.file.model.GetReflection()->GetString(old_form.file.model, f),
        layers.file.model.GetReflection()->GetString(layers.file.model, f));
  }
  EXPECT_THAT(layers.file.model.metric(), ::testing::ElementsAre("accuracy"));
  EXPECT_FALSE(layers.file.model.has_layers());
}

TEST_P(ShippedModelTest, SameInitialParametersToTheBit) {
  Built old_form = Build(OldForm());
  Built layers = Build(NewForm());
  ASSERT_TRUE(old_form.executor && layers.executor);
  ExpectSameParameters(*old_form.executor, *layers.executor);
  // Through SyncGraphWithDataset: other max_len and num_words.
  ConfigOverrides o;
  o.max_len = 40;
  o.num_words = 400;
  o.seed = 7;
  Built old_small = Build(OldForm(), o);
  Built layers_small = Build(NewForm(), o);
  ASSERT_TRUE(old_small.executor && layers_small.executor);
  EXPECT_EQ(layers_small.executor->parameters()[0].value.shape(),
            (Shape{400, layers.executor->parameters()[0].value.dim(1)}));
  ExpectSameParameters(*old_small.executor, *layers_small.executor);
}

const std::string& CorpusDir() {
  data::SyntheticCorpusOptions options;
  options.train_per_label = 120;
  options.test_per_label = 40;
  options.seed = 5;
  options.min_words = 15;
  options.max_words = 35;
  return testing::WriteCorpusOnce("corpus", options);
}

// history.csv without its seconds column (the second).
std::string HistoryWithoutSeconds(const std::string& dir) {
  auto csv = ReadFile(dir + "/history.csv");
  EXPECT_TRUE(csv.ok()) << dir;
  std::string out;
  std::istringstream in(csv.ok() ? *csv : "");
  for (std::string line; std::getline(in, line);) {
    const size_t first = line.find(',');
    const size_t second = line.find(',', first + 1);
    out += line.substr(0, first) + line.substr(second) + "\n";
  }
  return out;
}

TEST_P(ShippedModelTest, SameFirstEpoch) {
  std::string histories[2];
  std::string outputs[2];
  for (int form = 0; form < 2; ++form) {
    const TrainJobOptions options = testing::SmallRun(
        {form == 0 ? OldForm() : NewForm(), CorpusDir(),
         absl::StrCat(GetParam(), form), /*max_len=*/30, /*num_words=*/300,
         /*epochs=*/1});
    std::ostringstream out;
    absl::Status s = RunTrainJob(options, out);
    ASSERT_TRUE(s.ok()) << s << "\n" << out.str();
    histories[form] = HistoryWithoutSeconds(options.output_dir);
    outputs[form] = out.str();
  }
  // A header and one epoch, with a real loss.
  EXPECT_THAT(histories[0], HasSubstr("\n1,"));
  EXPECT_THAT(histories[0], ::testing::Not(HasSubstr("nan")));
  EXPECT_EQ(histories[0], histories[1]);
  const auto test_line = [](const std::string& out) {
    return out.substr(out.rfind("Test loss: "));
  };
  EXPECT_EQ(test_line(outputs[0]).substr(0, 40),
            test_line(outputs[1]).substr(0, 40));
}

INSTANTIATE_TEST_SUITE_P(LayerFormModels, ShippedModelTest,
                         ::testing::Values("bilstm", "lstm", "bilstm_full",
                                           "reviews_bilstm", "imdb_ratings"));

// ---------------------------------------------------------------------------
// Summary (tools/graph).

TEST(GraphSummaryTest, BilstmCountsEveryParameter) {
  Built b = Build("models/bilstm.pbtxt");
  ASSERT_TRUE(b.executor);
  const std::string s = GraphSummary(b.executor->graph(), "bilstm");
  EXPECT_THAT(s, HasSubstr("Model: \"bilstm\""));
  EXPECT_THAT(s, HasSubstr("Total params: 666,945\n"));
  EXPECT_THAT(s, HasSubstr("Trainable params: 666,945\n"));
  EXPECT_THAT(s, HasSubstr("Non-trainable params: 0\n"));
  // 10000 * 64; two directions of (64 + 32 + 1) * 128; 64 * 32 + 32.
  EXPECT_THAT(s, ::testing::ContainsRegex(
                     "embedding \\(Embedding\\) +\\(None, 100, 64\\) +640,000 "
                     "+tokens"));
  EXPECT_THAT(s, ::testing::ContainsRegex(
                     "bilstm \\(LSTM\\) +\\(None, 100, 64\\) +24,832 +"
                     "spatial_dropout, embedding:1"));
  EXPECT_THAT(s, ::testing::ContainsRegex(
                     "bilstm/backward/recurrent_kernel +\\[32, 128\\] +4,096"));
  EXPECT_THAT(s, ::testing::ContainsRegex(
                     "hidden \\(Dense\\) +\\(None, 32\\) +2,080 +max_pool"));
  // The penalty reads the kernel; the Dense holds it.
  EXPECT_THAT(s,
              ::testing::ContainsRegex(
                  "hidden/l2 \\(L2Regularizer\\) +\\(\\) +0 +hidden/kernel"));
}

TEST(GraphSummaryTest, ToolPrintsTheExpandedGraphWithOverrides) {
  const std::string out_file = TmpDir() + "/graph.txt";
  const std::string command = absl::StrCat(
      "tools/graph --graph=models/lstm.pbtxt --max_len=50 --num_words=500 > ",
      out_file, " 2>&1");
  ASSERT_EQ(std::system(command.c_str()), 0) << *ReadFile(out_file);
  auto out = ReadFile(out_file);
  ASSERT_TRUE(out.ok());
  // 500 * 128 + (128 + 64 + 1) * 256 + 64 + 1.
  EXPECT_THAT(*out, HasSubstr("Total params: 113,473\n"));
  EXPECT_THAT(*out,
              ::testing::ContainsRegex(
                  "embedding \\(Embedding\\) +\\(None, 50, 128\\) +64,000"));
  EXPECT_THAT(*out,
              ::testing::ContainsRegex("lstm/kernel +\\[128, 256\\] +32,768"));
  const std::string bad = absl::StrCat(
      "tools/graph --graph=/nonexistent.pbtxt > ", out_file, " 2>&1");
  EXPECT_NE(std::system(bad.c_str()), 0);
  EXPECT_THAT(*ReadFile(out_file), HasSubstr("/nonexistent.pbtxt"));
}

// ---------------------------------------------------------------------------
// The layer form: functional branches, names, errors.

constexpr char kHeader[] = R"(
name: "m"
dataset { num_words: 50 max_len: 8 }
)";

absl::StatusOr<std::unique_ptr<Graph>> BuildText(
    const std::string& body, ModelFile* file_out = nullptr) {
  auto file = ParseModelText(absl::StrCat(kHeader, body), "m.pbtxt");
  if (!file.ok()) return file.status();
  auto graph = Graph::Build(file->model.graph(), testing::BuiltinRegistry(),
                            file->source);
  if (graph.ok()) {
    absl::Status s = ValidateModelBindings(file->model, **graph, "m.pbtxt");
    if (!s.ok()) return s;
  }
  if (file_out != nullptr) *file_out = *file;
  return graph;
}

std::string Error(const std::string& body) {
  auto graph = BuildText(body);
  EXPECT_FALSE(graph.ok()) << body;
  return graph.ok() ? "" : std::string(graph.status().message());
}

TEST(LayersTest, FunctionalBranchesJoinAndKerasNames) {
  ModelFile file;
  auto graph = BuildText(R"(
layers {
  layer { embedding { output_dim: 6 mask_zero: true } }
  layer { lstm { units: 4 return_sequences: true } }
  layer { name: "avg" input: "lstm" global_average_pooling1d {} }
  layer { name: "max" input: "lstm" global_max_pooling1d {} }
  layer { input: ["avg", "max"] concatenate {} }
  layer { dense { units: 3 activation: "relu" no_bias: true } }
  layer { dense { units: 1 activation: "sigmoid" } }
}
)",
                         &file);
  ASSERT_TRUE(graph.ok()) << graph.status();
  const GraphDef& def = (*graph)->def();
  std::vector<std::string> names;
  for (const NodeDef& n : def.node()) names.push_back(n.name());
  EXPECT_THAT(names, ::testing::ElementsAre("embedding", "lstm", "avg", "max",
                                            "concatenate", "dense", "dense_1",
                                            "loss", "accuracy"));
  EXPECT_EQ(file.model.prediction(), "dense_1");
  // The masked mean reads the mask; the maximum, as Keras', does not.
  EXPECT_THAT(def.node(2).input(),
              ::testing::ElementsAre("lstm", "embedding:1"));
  EXPECT_THAT(def.node(3).input(), ::testing::ElementsAre("lstm"));
  // lstm: x, its parameters, the mask.
  EXPECT_THAT(def.node(1).input(),
              ::testing::ElementsAre("embedding", "lstm/kernel",
                                     "lstm/recurrent_kernel", "lstm/bias",
                                     "embedding:1"));
  std::vector<std::string> params;
  for (const ParameterDef& p : def.parameter()) {
    params.push_back(absl::StrCat(
        p.name(),
        ShapeToString(Shape(p.shape().dim().begin(), p.shape().dim().end()))));
  }
  // no_bias: the hidden Dense has a kernel only; [4 + 4] inputs to it.
  EXPECT_THAT(params, ::testing::ElementsAre(
                          "embedding/table[50, 6]", "lstm/kernel[6, 16]",
                          "lstm/recurrent_kernel[4, 16]", "lstm/bias[16]",
                          "dense/kernel[8, 3]", "dense_1/kernel[3, 1]",
                          "dense_1/bias[1]"));
  // The forget-gate segment follows units.
  EXPECT_EQ(def.parameter(3).initializer().segments().segment(0).begin(), 4);
  EXPECT_EQ(def.parameter(3).initializer().segments().segment(0).end(), 8);
}

// LstmLayer.precision becomes the LSTM node's attribute; "f32" (or
// nothing) leaves it out, so default models expand as before.
TEST(LayersTest, LstmPrecisionReachesTheNode) {
  for (const auto& [field, want] :
       std::vector<std::pair<std::string, std::string>>{
           {"", ""},
           {"precision: \"f32\"", ""},
           {"precision: \"bf16\"", "bf16"}}) {
    auto graph = BuildText(absl::StrCat(
        "layers {\n  layer { embedding { output_dim: 6 mask_zero: true } }\n"
        "  layer { lstm { units: 4 bidirectional: true ",
        field,
        " } }\n  layer { dense { units: 1 activation: \"sigmoid\" } }\n}"));
    ASSERT_TRUE(graph.ok()) << graph.status();
    const NodeDef& lstm = (*graph)->def().node(1);
    ASSERT_EQ(lstm.op(), "LSTM");
    const auto it = lstm.attr().find("precision");
    if (want.empty()) {
      EXPECT_TRUE(it == lstm.attr().end()) << field;
    } else {
      ASSERT_TRUE(it != lstm.attr().end()) << field;
      EXPECT_EQ(it->second.s(), want);
    }
  }
  EXPECT_THAT(Error("layers {\n  layer { embedding { output_dim: 4 } }\n"
                    "  layer { lstm { units: 2 precision: \"fp16\" } }\n}"),
              HasSubstr("attribute 'precision' must be \"f32\" or \"bf16\""));
}

// TrainJobOptions::lstm_precision (tools/train --lstm_precision) sets every
// LSTM node's precision; the run trains and keeps it in config.pbtxt.
TEST(LayersTest, LstmPrecisionOptionSetsEveryLstmNode) {
  TrainJobOptions run = testing::SmallRun({"models/bilstm_tuned.pbtxt",
                                           CorpusDir(), "bf16", /*max_len=*/30,
                                           /*num_words=*/300, /*epochs=*/1});
  run.lstm_precision = "bf16";
  std::ostringstream out;
  absl::Status s = RunTrainJob(run, out);
  // oneDNN 2.6 has bf16 LSTM primitives only on CPUs with AVX512 BF16 or
  // AMX; elsewhere the run stops with this error, and the test skips.
  if (absl::StrContains(s.message(), "need a CPU with AVX512 BF16 or AMX")) {
    GTEST_SKIP() << "no bf16 LSTM on this CPU";
  }
  ASSERT_TRUE(s.ok()) << s << "\n" << out.str();
  EXPECT_THAT(out.str(), HasSubstr("Test acc: "));
  auto config = ReadModelFile(testing::TmpDir() + "/bf16/config.pbtxt");
  ASSERT_TRUE(config.ok()) << config.status();
  int lstm_nodes = 0;
  for (const NodeDef& node : config->model.graph().node()) {
    if (node.op() != "LSTM") continue;
    ++lstm_nodes;
    ASSERT_TRUE(node.attr().count("precision")) << node.name();
    EXPECT_EQ(node.attr().at("precision").s(), "bf16");
  }
  EXPECT_EQ(lstm_nodes, 1);

  TrainJobOptions bad = run;
  bad.output_dir = testing::TmpDir() + "/fp16";
  bad.lstm_precision = "fp16";
  s = RunTrainJob(bad, out);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("attribute 'precision' must be"));

  TrainJobOptions no_lstm =
      testing::SmallRun({"models/bow.pbtxt", CorpusDir(), "bow", /*max_len=*/30,
                         /*num_words=*/300, /*epochs=*/1});
  no_lstm.lstm_precision = "bf16";
  s = RunTrainJob(no_lstm, out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(s.message(),
              HasSubstr("--lstm_precision=bf16: the model has no LSTM node"));
}

TEST(LayersTest, ErrorsNameTheFileLineAndLayer) {
  EXPECT_THAT(
      Error("layers {\n  layer { dense { units: 1 } input: \"nope\" }\n}"),
      HasSubstr("m.pbtxt:5: layer 'dense' (dense): input 'nope' is no "
                "earlier layer"));
  EXPECT_THAT(
      Error("layers {\n  layer { embedding { output_dim: 4 } }\n"
            "  layer { lstm { units: 0 } }\n}"),
      HasSubstr("m.pbtxt:6: node 'lstm' (LSTM): parameter 'lstm/kernel': "
                "attribute 'units' must be in [1, 2^32], got 0"));
  EXPECT_THAT(Error("layers {\n  layer { dropout { rate: 1.5 } }\n}"),
              HasSubstr("m.pbtxt:5: layer 'dropout' (dropout): rate must be in "
                        "[0, 1), got 1.5"));
  EXPECT_THAT(
      Error("layers {\n  layer { name: \"a\" dropout {} }\n"
            "  layer { name: \"a\" dropout {} }\n}"),
      HasSubstr("m.pbtxt:6: layer 'a' (dropout): the name is used twice"));
  EXPECT_THAT(Error("layers {\n  layer { name: \"x\" }\n}"),
              HasSubstr("m.pbtxt:5: layer 0 has no kind"));
  EXPECT_THAT(Error("layers {}"), HasSubstr("`layers` has no layer"));
  EXPECT_THAT(Error("layers { layer { dense { units: 1 } } loss: \"hinge\" }"),
              HasSubstr("loss 'hinge' is not one the layer form knows"));
  EXPECT_THAT(Error("layers { layer { dense { units: 1 } } }\n"
                    "graph { input { name: \"t\" dtype: DT_INT32 } }"),
              HasSubstr("sets both `layers` and `graph`"));
  EXPECT_THAT(Error("layers { layer { lstm { units: 2 merge_mode: \"avg\" "
                    "bidirectional: true } } }"),
              HasSubstr("merge_mode must be \"concat\" or \"sum\""));
  EXPECT_THAT(Error("layers { layer { embedding { output_dim: 4 } }\n"
                    "layer { dense { units: 1 } input: [\"embedding\", "
                    "\"tokens\"] } }"),
              HasSubstr("takes one input, got 2"));
  EXPECT_THAT(Error("layers { layer { embedding { output_dim: 4 } }\n"
                    "layer { global_max_pooling1d { masked: true } } }"),
              HasSubstr("m.pbtxt:5: layer 'global_max_pooling1d' "
                        "(global_max_pooling1d): masked: true, but no mask "
                        "reaches it"));
  EXPECT_THAT(Error("layers { layer { op { op: \"NoSuchOp\" } } }"),
              HasSubstr("m.pbtxt:4: node 'nosuchop' (NoSuchOp): unknown op"));
  auto no_len = ParseModelText("layers { layer { dropout {} } }", "n.pbtxt");
  ASSERT_FALSE(no_len.ok());
  EXPECT_THAT(std::string(no_len.status().message()),
              HasSubstr("n.pbtxt:1: the layer form takes the length of the "
                        "features input from dataset.max_len"));
}

// ---------------------------------------------------------------------------
// Parameters ops create, in the graph form.

constexpr char kMlp[] = R"(
graph {
  input { name: "x" dtype: DT_FLOAT shape { dim: -1 dim: 5 } }
  %s
  node { name: "d" op: "Dense" input: "x" attr { key: "units" value { i: 3 } } }
  node { name: "e" op: "Dense" input: "d" input: "d/kernel2"
         attr { key: "units" value { i: 3 } } }
  %s
}
)";

TEST(OwnedParametersTest, CreatedShapedAndOverridable) {
  const std::string shared =
      "parameter { name: \"d/kernel2\" shape { dim: 3 dim: 3 } }";
  auto file = ParseModelText(absl::StrFormat(kMlp, shared, ""), "g.pbtxt");
  ASSERT_TRUE(file.ok()) << file.status();
  auto graph = Graph::Build(file->model.graph(), testing::BuiltinRegistry(),
                            file->source);
  ASSERT_TRUE(graph.ok()) << graph.status();
  const GraphDef& def = (*graph)->def();
  // The declared one first, then the created ones in node order.
  ASSERT_EQ(def.parameter_size(), 3);
  EXPECT_EQ(def.parameter(0).name(), "d/kernel2");
  EXPECT_EQ(def.parameter(1).name(), "d/kernel");
  EXPECT_THAT(def.parameter(1).shape().dim(), ::testing::ElementsAre(5, 3));
  EXPECT_TRUE(def.parameter(1).initializer().has_glorot_uniform());
  EXPECT_EQ(def.parameter(2).name(), "d/bias");
  EXPECT_TRUE(def.parameter(2).initializer().has_zeros());
  EXPECT_THAT(def.node(0).input(),
              ::testing::ElementsAre("x", "d/kernel", "d/bias"));
  // e gives its kernel and no bias: the full form, as before.
  EXPECT_THAT(def.node(1).input(), ::testing::ElementsAre("d", "d/kernel2"));
  EXPECT_EQ((*graph)->values()[(*graph)->FindValue("e")].info.shape,
            (Shape{-1, 3}));
  // The built def() builds again, to the same parameters.
  auto again = Graph::Build(def, testing::BuiltinRegistry());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)->def().parameter_size(), 3);

  // A declared "d/kernel" overrides the created one: its initializer wins.
  const std::string override_kernel =
      absl::StrCat(shared,
                   " parameter { name: \"d/kernel\" shape { dim: 5 dim: 3 } "
                   "initializer { constant { value: 0.5 } } }");
  file = ParseModelText(absl::StrFormat(kMlp, override_kernel, ""), "g.pbtxt");
  ASSERT_TRUE(file.ok());
  graph = Graph::Build(file->model.graph(), testing::BuiltinRegistry(),
                       file->source);
  ASSERT_TRUE(graph.ok()) << graph.status();
  ASSERT_EQ((*graph)->def().parameter_size(), 3);
  EXPECT_EQ((*graph)->def().parameter(1).name(), "d/kernel");
  EXPECT_EQ((*graph)->def().parameter(1).initializer().constant().value(),
            0.5f);
  auto ex = Executor::Create(std::move(*graph), 1);
  ASSERT_TRUE(ex.ok());
  ASSERT_TRUE((*ex)->InitializeParameters().ok());
  EXPECT_EQ((*ex)->FindParameter("d/kernel")->value.f32()[14], 0.5f);
}

TEST(OwnedParametersTest, ErrorsNameTheNodeAndLine) {
  const std::string shared =
      "parameter { name: \"d/kernel2\" shape { dim: 3 dim: 3 } }";
  // A declared override must still fit the shape function.
  const std::string wrong = absl::StrCat(
      shared, " parameter { name: \"d/kernel\" shape { dim: 4 dim: 3 } }");
  auto file = ParseModelText(absl::StrFormat(kMlp, wrong, ""), "g.pbtxt");
  ASSERT_TRUE(file.ok());
  auto graph = Graph::Build(file->model.graph(), testing::BuiltinRegistry(),
                            file->source);
  ASSERT_FALSE(graph.ok());
  EXPECT_THAT(std::string(graph.status().message()),
              HasSubstr("g.pbtxt:5: node 'd' (Dense): kernel must be [C, U] "
                        "with C = 5"));
  // A created name that a node already has.
  file = ParseModelText(
      absl::StrFormat(kMlp, shared,
                      "node { name: \"d/bias\" op: \"Relu\" input: \"x\" }"),
      "g.pbtxt");
  ASSERT_TRUE(file.ok());
  graph = Graph::Build(file->model.graph(), testing::BuiltinRegistry(),
                       file->source);
  ASSERT_FALSE(graph.ok());
  EXPECT_THAT(std::string(graph.status().message()),
              HasSubstr("node 'd' (Dense): the op creates parameter 'd/bias', "
                        "but that name is already used"));
  // Too many inputs for the short form, too few for the full one.
  file = ParseModelText(R"(graph {
  input { name: "x" dtype: DT_FLOAT shape { dim: -1 dim: 3 dim: 2 } }
  node { name: "l" op: "LSTM" input: "x" input: "x" input: "x"
         attr { key: "units" value { i: 2 } } }
})",
                        "l.pbtxt");
  ASSERT_TRUE(file.ok());
  graph = Graph::Build(file->model.graph(), testing::BuiltinRegistry(),
                       file->source);
  ASSERT_FALSE(graph.ok());
  EXPECT_THAT(std::string(graph.status().message()),
              HasSubstr("l.pbtxt:3: node 'l' (LSTM): takes inputs (x, kernel, "
                        "recurrent_kernel, bias, mask?, backward_kernel?, "
                        "backward_recurrent_kernel?, backward_bias?), or (x, "
                        "mask?) leaving its parameters to the op, but got 3"));
  // A size the op cannot create.
  file = ParseModelText(R"(graph {
  input { name: "x" dtype: DT_INT32 shape { dim: -1 dim: 3 } }
  node { name: "emb" op: "Embedding" input: "x"
         attr { key: "output_dim" value { i: 4 } } }
})",
                        "e.pbtxt");
  ASSERT_TRUE(file.ok());
  graph = Graph::Build(file->model.graph(), testing::BuiltinRegistry(),
                       file->source);
  ASSERT_FALSE(graph.ok());
  EXPECT_THAT(std::string(graph.status().message()),
              HasSubstr("e.pbtxt:3: node 'emb' (Embedding): parameter "
                        "'emb/table': attributes 'input_dim' and 'output_dim' "
                        "must be positive"));
}

}  // namespace
}  // namespace loom
