#include "framework/training/resume.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <optional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "framework/checkpoint.h"
#include "framework/distributed/communicator.h"
#include "framework/file_util.h"
#include "framework/status_macros.h"

namespace loom {
namespace {

constexpr char kMagic[8] = {'L', 'O', 'O', 'M', 'R', 'S', 'U', 'M'};
constexpr uint32_t kVersion = 1;
// Protocol buffers serialize at most 2 GB.
constexpr int64_t kMaxStateBytes = INT_MAX;
constexpr size_t kHeaderBytes = sizeof(kMagic) + 4 + 8;

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// Continues the FNV-1a hash `h` over the bytes of `t` (none if unset).
uint64_t HashTensor(uint64_t h, const Tensor& t) {
  if (!t.is_initialized()) return h;
  return Fnv1a64(static_cast<const char*>(t.raw()), t.num_bytes(), h);
}

}  // namespace

absl::StatusOr<std::string> EncodeTrainingState(const TrainingState& state) {
  const size_t size = state.ByteSizeLong();
  if (size > static_cast<size_t>(kMaxStateBytes)) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the training state takes ", size,
        " bytes; a resume checkpoint holds at most ", kMaxStateBytes));
  }
  std::string out(kMagic, sizeof(kMagic));
  const uint32_t version = kVersion;
  const uint64_t length = size;
  out.append(reinterpret_cast<const char*>(&version), 4);
  out.append(reinterpret_cast<const char*>(&length), 8);
  if (!state.AppendToString(&out)) {
    return absl::InternalError("cannot serialize the training state");
  }
  const uint64_t sum = Fnv1a64(out.data(), out.size());
  out.append(reinterpret_cast<const char*>(&sum), 8);
  return out;
}

absl::StatusOr<TrainingState> DecodeTrainingState(const std::string& data,
                                                  const std::string& path) {
  if (data.size() < kHeaderBytes + 8 ||
      std::memcmp(data.data(), kMagic, sizeof(kMagic)) != 0) {
    return absl::DataLossError(
        absl::StrCat(path, " is not a Loom resume checkpoint",
                     data.size() < kHeaderBytes + 8 ? " (too short)" : ""));
  }
  uint32_t version;
  uint64_t length, stored;
  std::memcpy(&version, data.data() + sizeof(kMagic), 4);
  std::memcpy(&length, data.data() + sizeof(kMagic) + 4, 8);
  if (version != kVersion) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is a resume checkpoint of version ", version,
                     "; this Loom reads version ", kVersion));
  }
  if (length != data.size() - kHeaderBytes - 8) {
    return absl::DataLossError(
        absl::StrCat(path, " is truncated or damaged (it says ", length,
                     " bytes of state, the file holds ",
                     data.size() - kHeaderBytes - 8, ")"));
  }
  std::memcpy(&stored, data.data() + data.size() - 8, 8);
  if (stored != Fnv1a64(data.data(), data.size() - 8)) {
    return absl::DataLossError(
        absl::StrCat(path, " is damaged (checksum mismatch)"));
  }
  TrainingState state;
  if (!state.ParseFromArray(data.data() + kHeaderBytes,
                            static_cast<int>(length))) {
    return absl::DataLossError(
        absl::StrCat(path, " holds a training state that does not parse"));
  }
  return state;
}

ResumeWriter::ResumeWriter(std::string dir) : dir_(std::move(dir)) {}

absl::Status ResumeWriter::Write(const TrainingState& state) {
  LOOM_ASSIGN_OR_RETURN(auto data, EncodeTrainingState(state));
  LOOM_RETURN_IF_ERROR(MakeDirectories(dir_));
  const std::string current = absl::StrCat(dir_, "/", kResumeFile);
  const std::string previous = absl::StrCat(dir_, "/", kResumePreviousFile);
  const std::string next = absl::StrCat(dir_, "/", kResumeNextFile);
  LOOM_RETURN_IF_ERROR(WriteFileAtomically(next, data));
  Stage("written");
  if (Exists(current)) {
    LOOM_RETURN_IF_ERROR(RenameDurably(current, previous));
  }
  Stage("rotated");
  LOOM_RETURN_IF_ERROR(RenameDurably(next, current));
  ++writes_;
  Stage("done");
  return absl::OkStatus();
}

absl::StatusOr<TrainingState> LoadResumeState(const std::string& dir,
                                              std::vector<std::string>* notes,
                                              std::string* path) {
  // A write killed before its rename leaves "<file>.tmp.<pid>": never a
  // checkpoint, only litter.
  if (DIR* d = ::opendir(dir.c_str())) {
    while (const dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (absl::StartsWith(name, "resume.") &&
          absl::StrContains(name, ".ckpt.tmp.")) {
        const std::string litter = absl::StrCat(dir, "/", name);
        if (::unlink(litter.c_str()) == 0 && notes) {
          notes->push_back(absl::StrCat("removed ", litter,
                                        ", a partial checkpoint a killed "
                                        "write left behind"));
        }
      }
    }
    ::closedir(d);
  } else {
    return absl::NotFoundError(
        absl::StrCat(dir,
                     " does not exist or cannot be read: it should be the "
                     "checkpoints/ folder of a run that tools/train wrote"));
  }
  std::optional<TrainingState> best;
  std::string best_path;
  int damaged = 0;
  for (const char* name : {kResumeFile, kResumeNextFile, kResumePreviousFile}) {
    const std::string file = absl::StrCat(dir, "/", name);
    if (!Exists(file)) continue;
    auto data = ReadFile(file, kMaxStateBytes + kHeaderBytes + 8,
                         "a resume checkpoint");
    absl::StatusOr<TrainingState> state =
        data.ok() ? DecodeTrainingState(*data, file)
                  : absl::StatusOr<TrainingState>(data.status());
    if (!state.ok()) {
      ++damaged;
      if (notes) {
        notes->push_back(absl::StrCat("skipped ", state.status().message()));
      }
      continue;
    }
    const bool newer =
        !best || state->epoch() > best->epoch() ||
        (state->epoch() == best->epoch() && state->step() > best->step());
    if (newer) {
      best = *std::move(state);
      best_path = file;
    }
  }
  if (!best) {
    if (damaged > 0) {
      return absl::DataLossError(
          absl::StrCat("every resume checkpoint in ", dir, " is damaged (",
                       damaged, " files); the run cannot be resumed"));
    }
    return absl::NotFoundError(
        absl::StrCat(dir, " holds no resume checkpoint (", kResumeFile,
                     "): was the run killed before its first checkpoint?"));
  }
  if (path) *path = best_path;
  return *std::move(best);
}

uint64_t HashExamples(const LabeledExamples& train,
                      const LabeledExamples& validation) {
  uint64_t h = kFnv1a64Offset;
  for (const LabeledExamples* a : {&train, &validation}) {
    h = HashTensor(h, a->features);
    h = HashTensor(h, a->labels);
  }
  return h;
}

void CaptureModelState(const Model& model,
                       const std::vector<Callback*>& callbacks,
                       TrainingState* state) {
  const Executor& executor = model.executor();
  const std::vector<Parameter>& params = executor.parameters();
  state->clear_parameter();
  for (const Parameter& p : params) {
    ToTensorState(p.name, p.value, state->add_parameter());
  }
  model.optimizer().SaveState(params, state->mutable_optimizer());
  state->clear_node_name();
  state->clear_node_rng();
  const std::vector<std::string> rngs = executor.RngStates();
  for (size_t i = 0; i < rngs.size(); ++i) {
    state->add_node_name(executor.graph().nodes()[i].name);
    state->add_node_rng(rngs[i]);
  }
  state->clear_callback();
  for (const Callback* c : callbacks) {
    CallbackState* cs = state->add_callback();
    cs->set_kind(c->kind());
    c->SaveState(model, cs);
  }
}

absl::Status RestoreModelState(const TrainingState& state,
                               const std::string& where,
                               const std::vector<Callback*>& callbacks,
                               Model* model) {
  Executor& executor = model->executor();
  std::vector<Parameter>& params = executor.parameters();
  if (static_cast<size_t>(state.parameter_size()) != params.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, " holds ", state.parameter_size(),
                     " parameters, the model has ", params.size()));
  }
  std::vector<Tensor> values;
  for (size_t k = 0; k < params.size(); ++k) {
    const TensorState& t = state.parameter(k);
    if (t.name() != params[k].name) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": parameter ", k, " is '", t.name(),
                       "', the model expects '", params[k].name, "'"));
    }
    Tensor value(DType::kFloat32, params[k].value.shape());
    LOOM_RETURN_IF_ERROR(FromTensorState(t, where, &value));
    values.push_back(std::move(value));
  }
  const Graph& graph = executor.graph();
  if (static_cast<size_t>(state.node_name_size()) != graph.nodes().size() ||
      state.node_rng_size() != state.node_name_size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, " was written for a graph of ", state.node_name_size(),
        " nodes, the model has ", graph.nodes().size()));
  }
  for (size_t i = 0; i < graph.nodes().size(); ++i) {
    if (state.node_name(i) != graph.nodes()[i].name) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": node ", i, " is '", state.node_name(i),
                       "', the model's is '", graph.nodes()[i].name, "'"));
    }
  }
  if (static_cast<size_t>(state.callback_size()) != callbacks.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, " holds the state of ", state.callback_size(),
                     " callbacks, the run has ", callbacks.size()));
  }
  for (size_t i = 0; i < callbacks.size(); ++i) {
    if (state.callback(i).kind() != callbacks[i]->kind()) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": callback ", i, " is ", state.callback(i).kind(),
          ", the run's is ", callbacks[i]->kind()));
    }
  }
  LOOM_RETURN_IF_ERROR(
      model->optimizer().RestoreState(state.optimizer(), params, where));
  std::vector<std::string> rngs(state.node_rng().begin(),
                                state.node_rng().end());
  if (auto s = executor.SetRngStates(rngs); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat(where, ": ", s.message()));
  }
  RestoreParameters(values, &params);
  for (size_t i = 0; i < callbacks.size(); ++i) {
    LOOM_RETURN_IF_ERROR(
        callbacks[i]->RestoreState(state.callback(i), *model, where));
  }
  return absl::OkStatus();
}

void ToEpochLogState(const EpochLog& log, EpochLogState* out) {
  out->set_epoch(log.epoch);
  out->set_seconds(log.seconds);
  out->set_train_seconds(log.train_seconds);
  out->set_learning_rate(log.learning_rate);
  for (const auto& [name, value] : log.metrics) {
    out->add_metric_name(name);
    out->add_metric_value(value);
  }
}

EpochLog FromEpochLogState(const EpochLogState& state) {
  EpochLog log;
  log.epoch = state.epoch();
  log.seconds = state.seconds();
  log.train_seconds = state.train_seconds();
  log.learning_rate = state.learning_rate();
  for (int i = 0; i < state.metric_name_size() && i < state.metric_value_size();
       ++i) {
    log.metrics.emplace_back(state.metric_name(i), state.metric_value(i));
  }
  return log;
}

absl::Status AddRankStates(distributed::Communicator& comm,
                           const Executor& executor,
                           const std::vector<double>* sums,
                           TrainingState* state) {
  RankState mine;
  if (sums != nullptr) {
    for (double v : *sums) mine.add_metric_sum(v);
  }
  for (std::string& rng : executor.RngStates()) {
    mine.add_node_rng(std::move(rng));
  }
  LOOM_ASSIGN_OR_RETURN(
      std::vector<std::string> all,
      comm.AllgatherBytes(mine.SerializeAsString(),
                          "the ranks' parts of the resume checkpoint"));
  state->set_ranks(comm.size());
  state->clear_rank();
  for (size_t r = 0; r < all.size(); ++r) {
    if (!state->add_rank()->ParseFromString(all[r])) {
      return absl::DataLossError(absl::StrCat(
          "rank ", r, "'s part of the resume checkpoint does not parse"));
    }
  }
  return absl::OkStatus();
}

absl::Status RestoreRankState(const TrainingState& state, int rank, int ranks,
                              Executor& executor, std::vector<double>* sums) {
  const int written = std::max(1, state.ranks());
  const auto describe = [](int n) {
    return n == 1 ? std::string("one process")
                  : absl::StrCat(n, " ranks (mpirun -np ", n, ")");
  };
  if (written != ranks) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the resume checkpoint was written by ", describe(written),
        ", this run has ", describe(ranks),
        ": resume with the number of processes the run was started with "
        "(each rank's data slice, running sums and random generators are "
        "its own)"));
  }
  if (state.ranks() == 0) return absl::OkStatus();  // One process.
  if (state.rank_size() != state.ranks() || rank < 0 || rank >= ranks) {
    return absl::DataLossError(
        absl::StrCat("the resume checkpoint says ", state.ranks(),
                     " ranks but holds ", state.rank_size(), " ranks' parts"));
  }
  const RankState& mine = state.rank(rank);
  std::vector<std::string> rngs(mine.node_rng().begin(), mine.node_rng().end());
  if (auto s = executor.SetRngStates(rngs); !s.ok()) {
    return absl::Status(
        s.code(), absl::StrCat("the resume checkpoint's part of rank ", rank,
                               ": ", s.message()));
  }
  if (sums != nullptr) {
    if (mine.metric_sum_size() != static_cast<int>(sums->size())) {
      return absl::DataLossError(
          absl::StrCat("the resume checkpoint's part of rank ", rank, " holds ",
                       mine.metric_sum_size(), " running sums, the model has ",
                       sums->size(), " metrics"));
    }
    sums->assign(mine.metric_sum().begin(), mine.metric_sum().end());
  }
  return absl::OkStatus();
}

}  // namespace loom
