#include "framework/training/ensemble.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "framework/graph.h"
#include "framework/status_macros.h"
#include "framework/tensor.h"
#include "framework/training/user_path.h"

namespace loom {
namespace {

constexpr char kMembers[] = "ensemble/members";
constexpr char kMean[] = "ensemble/mean";

const InputDef* FindInput(const GraphDef& graph, const std::string& name) {
  for (const InputDef& in : graph.input()) {
    if (in.name() == name) return &in;
  }
  return nullptr;
}

// The width of `model`'s prediction, from a run on one row of padding.
absl::StatusOr<int64_t> PredictionWidth(Model& model) {
  const int64_t max_len = model.def().dataset().max_len();
  LOOM_ASSIGN_OR_RETURN(
      Tensor out,
      model.Predict(
          Tensor::FromVector({1, max_len}, std::vector<int32_t>(max_len, 0)),
          1));
  if (out.rank() != 2 || out.dim(0) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("its prediction '", model.def().prediction(), "' is ",
                     ShapeToString(out.shape()), ", not [N, classes]"));
  }
  return out.dim(1);
}

// What a member must share with the first one to read texts alike.
absl::Status CheckAlike(const LoadedModel& first, const LoadedModel& member,
                        const std::string& name,
                        const std::string& first_name) {
  const ModelDef& a = first.model->def();
  const ModelDef& b = member.model->def();
  const auto differs = [&](const std::string& what, const std::string& x,
                           const std::string& y) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": its ", what, " is ", y, ", ", first_name, "'s ",
                     x, "; an ensemble's models must read their texts alike"));
  };
  const TextDatasetDef& da = a.dataset();
  const TextDatasetDef& db = b.dataset();
  if (da.padding() != db.padding() || da.truncating() != db.truncating()) {
    return differs("padding/truncating",
                   absl::StrCat(TextDatasetDef::Padding_Name(da.padding()), "/",
                                TextDatasetDef::Padding_Name(da.truncating())),
                   absl::StrCat(TextDatasetDef::Padding_Name(db.padding()), "/",
                                TextDatasetDef::Padding_Name(db.truncating())));
  }
  // Rows encoded at the longer max_len are cut to the shorter one in the
  // graph (TruncateSequences), which gives the shorter encoding only when
  // the padding is on the side the truncation cuts.
  if (da.max_len() != db.max_len() && da.padding() != da.truncating()) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, ": its dataset.max_len is ", db.max_len(), ", ", first_name,
        "'s ", da.max_len(), ", and with padding ",
        TextDatasetDef::Padding_Name(da.padding()), " and truncating ",
        TextDatasetDef::Padding_Name(da.truncating()),
        " the rows of one length are not the rows of the other cut; an "
        "ensemble of different max_len needs padding and truncating on the "
        "same side (both PRE or both POST)"));
  }
  const std::vector<std::string> classes_a(da.class_name().begin(),
                                           da.class_name().end());
  const std::vector<std::string> classes_b(db.class_name().begin(),
                                           db.class_name().end());
  if (classes_a != classes_b) {
    return differs("classes", absl::StrJoin(classes_a, ", "),
                   absl::StrJoin(classes_b, ", "));
  }
  const data::TokenizerOptions& ta = first.vocabulary.tokenizer_options();
  const data::TokenizerOptions& tb = member.vocabulary.tokenizer_options();
  if (ta.keep_punctuation != tb.keep_punctuation ||
      ta.strip_accents != tb.strip_accents || ta.unicode != tb.unicode) {
    return differs("tokenizer (keep_punctuation, strip_accents, unicode)",
                   absl::StrCat(ta.keep_punctuation, ", ", ta.strip_accents,
                                ", ", ta.unicode),
                   absl::StrCat(tb.keep_punctuation, ", ", tb.strip_accents,
                                ", ", tb.unicode));
  }
  const std::vector<std::string>& wa = first.vocabulary.words();
  const std::vector<std::string>& wb = member.vocabulary.words();
  if (wa != wb ||
      first.vocabulary.num_words() != member.vocabulary.num_words()) {
    size_t i = 0;
    while (i < wa.size() && i < wb.size() && wa[i] == wb[i]) ++i;
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": its vocabulary differs from ", first_name, "'s (",
                     wb.size(), " against ", wa.size(),
                     " words, the first difference at "
                     "word ",
                     i + 1,
                     "); an ensemble's models must be trained on the same "
                     "data with the same num_words"));
  }
  if (a.features_input() != b.features_input() ||
      a.labels_input() != b.labels_input()) {
    return differs("features and labels inputs",
                   absl::StrCat(a.features_input(), ", ", a.labels_input()),
                   absl::StrCat(b.features_input(), ", ", b.labels_input()));
  }
  for (const InputDef& in : b.graph().input()) {
    if (in.name() != b.features_input() && in.name() != b.labels_input()) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, ": its graph input '", in.name(),
          "' is neither the features nor the labels; an ensemble feeds its "
          "models the token ids only"));
    }
  }
  return absl::OkStatus();
}

// `value` ("node", "node:1", a parameter or an input) in member `prefix`'s
// namespace; the graph inputs and "" (a left-out input) stay, except the
// features input `features`, which becomes `features_as` when that is set
// (the member's own cut of the ids).
std::string Rename(const std::string& value, const std::string& prefix,
                   const GraphDef& graph, const std::string& features,
                   const std::string& features_as) {
  if (value.empty()) return value;
  const std::string base = value.substr(0, value.find(':'));
  if (!features_as.empty() && value == features) return features_as;
  if (FindInput(graph, base) != nullptr) return value;
  return prefix + value;
}

}  // namespace

absl::StatusOr<ModelDef> EnsembleDef(const std::vector<LoadedModel>& members,
                                     const std::vector<std::string>& names) {
  if (members.size() < 2 || names.size() != members.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "an ensemble needs at least two models, got ", members.size()));
  }
  int64_t width = 0;
  for (size_t k = 0; k < members.size(); ++k) {
    const ModelDef& m = members[k].model->def();
    const InputDef* features = FindInput(m.graph(), m.features_input());
    if (features == nullptr || features->dtype() != DT_INT32 ||
        features->shape().dim_size() != 2) {
      std::string what = "missing";
      if (features != nullptr) {
        what = absl::StrCat(DTypeName(FromProto(features->dtype())),
                            ShapeToString(FromProto(features->shape())));
      }
      return absl::InvalidArgumentError(absl::StrCat(
          names[k], ": its features input '", m.features_input(), "' is ", what,
          ", not token ids int32[N, T]; an ensemble joins models that "
          "read texts"));
    }
    if (k > 0) {
      LOOM_RETURN_IF_ERROR(
          CheckAlike(members[0], members[k], names[k], names[0]));
    }
    auto w = PredictionWidth(*members[k].model);
    if (!w.ok()) {
      return absl::Status(w.status().code(),
                          absl::StrCat(names[k], ": ", w.status().message()));
    }
    if (k > 0 && *w != width) {
      return absl::InvalidArgumentError(absl::StrCat(
          names[k], ": it predicts ", *w, " values per text, ", names[0], " ",
          width, "; an ensemble's models must predict the same classes"));
    }
    width = *w;
  }

  const ModelDef& first = members[0].model->def();
  ModelDef def;
  def.set_name(absl::StrCat(first.name(), "_ensemble"));
  def.set_description(absl::StrCat("The mean probability of ", members.size(),
                                   " models: ", absl::StrJoin(names, ", ")));
  // The texts are encoded at the members' longest max_len; a member
  // trained at a shorter one reads its own cut of the ids.
  int64_t max_len = 0;
  bool no_length_trimming = false;
  for (const LoadedModel& m : members) {
    max_len = std::max<int64_t>(max_len, m.model->def().dataset().max_len());
    no_length_trimming |= m.model->def().no_length_trimming();
  }
  *def.mutable_dataset() = first.dataset();
  def.mutable_dataset()->set_max_len(static_cast<int32_t>(max_len));
  def.set_no_length_trimming(no_length_trimming);
  *def.mutable_training() = first.training();
  def.set_features_input(first.features_input());
  def.set_labels_input(first.labels_input());
  GraphDef* graph = def.mutable_graph();
  *graph->mutable_input() = first.graph().input();
  for (InputDef& in : *graph->mutable_input()) {
    if (in.name() == first.features_input() && in.shape().dim_size() == 2 &&
        in.shape().dim(1) > 0) {
      in.mutable_shape()->set_dim(1, max_len);
    }
  }
  NodeDef joined;
  joined.set_name(kMembers);
  joined.set_op("Concatenate");
  for (size_t k = 0; k < members.size(); ++k) {
    const ModelDef& m = members[k].model->def();
    const std::string prefix = absl::StrCat("m", k, "/");
    for (const std::string& plugin : m.required_plugin()) {
      bool listed = false;
      for (const std::string& p : def.required_plugin()) listed |= p == plugin;
      if (!listed) def.add_required_plugin(plugin);
    }
    for (const ParameterDef& p : m.graph().parameter()) {
      ParameterDef* copy = graph->add_parameter();
      *copy = p;
      copy->set_name(prefix + p.name());
    }
    std::string features_as;
    if (const int64_t own = m.dataset().max_len(); own < max_len) {
      // A name none of the member's nodes has.
      std::string name = "truncated_features";
      const auto taken = [&](const std::string& candidate) {
        for (const NodeDef& n : m.graph().node()) {
          if (n.name() == candidate) return true;
        }
        return false;
      };
      while (taken(name)) name += "_";
      features_as = prefix + name;
      NodeDef* cut = graph->add_node();
      cut->set_name(features_as);
      cut->set_op("TruncateSequences");
      cut->add_input(first.features_input());
      (*cut->mutable_attr())["max_len"].set_i(own);
      (*cut->mutable_attr())["truncating"].set_s(
          m.dataset().truncating() == TextDatasetDef::PRE ? "pre" : "post");
    }
    const auto rename = [&](const std::string& value) {
      return Rename(value, prefix, m.graph(), m.features_input(), features_as);
    };
    for (const NodeDef& n : m.graph().node()) {
      NodeDef* copy = graph->add_node();
      *copy = n;
      copy->set_name(prefix + n.name());
      for (int i = 0; i < copy->input_size(); ++i) {
        copy->set_input(i, rename(n.input(i)));
      }
    }
    joined.add_input(rename(m.prediction()));
  }
  *graph->add_node() = joined;
  // [N, members * width] x [members * width, width]: the mean.
  ParameterDef* mean = graph->add_parameter();
  mean->set_name(kMean);
  mean->mutable_shape()->add_dim(static_cast<int64_t>(members.size()) * width);
  mean->mutable_shape()->add_dim(width);
  mean->mutable_initializer()->mutable_zeros();
  mean->set_frozen(true);
  NodeDef* prediction = graph->add_node();
  prediction->set_name("probability");
  prediction->set_op("MatMul");
  prediction->add_input(kMembers);
  prediction->add_input(kMean);
  def.set_prediction("probability");
  // The loss and accuracy of the mean, for tools/evaluate.
  NodeDef* loss = graph->add_node();
  loss->set_name("loss");
  loss->set_op(width == 1 ? "BinaryCrossentropy"
                          : "SparseCategoricalCrossentropy");
  // The sparse categorical ops take the labels first (Keras' order).
  const bool binary = width == 1;
  loss->add_input(binary ? "probability" : first.labels_input());
  loss->add_input(binary ? first.labels_input() : "probability");
  def.set_loss("loss");
  NodeDef* accuracy = graph->add_node();
  accuracy->set_name("accuracy");
  accuracy->set_op(width == 1 ? "BinaryAccuracy" : "SparseCategoricalAccuracy");
  accuracy->add_input(binary ? "probability" : first.labels_input());
  accuracy->add_input(binary ? first.labels_input() : "probability");
  def.add_metric("accuracy");
  return def;
}

absl::Status SetEnsembleWeights(const std::vector<LoadedModel>& members,
                                Model& ensemble) {
  Executor& ex = ensemble.executor();
  size_t copied = 0;
  for (size_t k = 0; k < members.size(); ++k) {
    const std::string prefix = absl::StrCat("m", k, "/");
    for (const Parameter& q : members[k].model->executor().parameters()) {
      Parameter* p = ex.FindParameter(prefix + q.name);
      if (p == nullptr || p->value.shape() != q.value.shape()) {
        return absl::InternalError(
            absl::StrCat("the ensemble has no parameter '", prefix, q.name,
                         "' of shape ", ShapeToString(q.value.shape())));
      }
      std::memcpy(p->value.f32(), q.value.f32(), p->value.num_bytes());
      ++copied;
    }
  }
  Parameter* mean = ex.FindParameter(kMean);
  if (mean == nullptr || copied + 1 != ex.parameters().size()) {
    return absl::InternalError(
        "the ensemble's parameters are not its members' and the mean");
  }
  // Row k * width + c, column c: 1 / members.
  const int64_t n = static_cast<int64_t>(members.size());
  const int64_t width = mean->value.dim(1);
  float* w = mean->value.f32();
  std::memset(w, 0, mean->value.num_bytes());
  for (int64_t k = 0; k < n; ++k) {
    for (int64_t c = 0; c < width; ++c) {
      w[(k * width + c) * width + c] = 1.0f / static_cast<float>(n);
    }
  }
  return absl::OkStatus();
}

absl::Status RunEnsembleJob(const EnsembleJobOptions& options,
                            std::ostream& out) {
  if (options.member_dirs.size() < 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--members: an ensemble needs at least two model folders, got ",
        options.member_dirs.size()));
  }
  if (options.output_dir.empty()) {
    return absl::InvalidArgumentError("--output_dir is required");
  }
  std::vector<std::string> dirs;
  for (const std::string& d : options.member_dirs) dirs.push_back(UserPath(d));
  OpRegistry registry;
  // The first member's plugins (and --plugin) serve them all.
  LOOM_ASSIGN_OR_RETURN(ModelFile first, ReadSavedModelFile(dirs[0]));
  LOOM_RETURN_IF_ERROR(PrepareRegistryForModelDir(
      dirs[0], first, options.plugins, options.plugin_search, &registry));
  std::vector<LoadedModel> members;
  for (const std::string& dir : dirs) {
    LOOM_ASSIGN_OR_RETURN(ModelFile file, ReadSavedModelFile(dir));
    LOOM_ASSIGN_OR_RETURN(LoadedModel member, LoadModel(dir, file, registry));
    members.push_back(std::move(member));
  }
  LOOM_ASSIGN_OR_RETURN(ModelDef def, EnsembleDef(members, dirs));
  ModelFile file;
  file.model = std::move(def);
  LOOM_ASSIGN_OR_RETURN(std::unique_ptr<Model> ensemble,
                        Model::Create(file, registry, 1));
  LOOM_RETURN_IF_ERROR(SetEnsembleWeights(members, *ensemble));
  const std::string dir = UserPath(options.output_dir);
  LOOM_RETURN_IF_ERROR(SaveModel(*ensemble, members[0].vocabulary, dir));
  int64_t weights = 0;
  for (const Parameter& p : ensemble->executor().parameters()) {
    weights += p.value.num_elements();
  }
  out << "Ensemble of " << members.size() << " models (the mean of their "
      << "probabilities), " << weights << " weights, written to " << dir
      << "\nScore with: tools/predict --model=" << dir << "\n";
  return absl::OkStatus();
}

}  // namespace loom
