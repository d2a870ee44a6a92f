// Resume checkpoints: what Model::Fit needs to continue a run that was
// killed, so that it ends exactly as the run that was never interrupted
// (same thread count): the weights, the optimizer's slots and step, each
// node's random generator, the callbacks' state, the position in the epoch
// (the data order follows from the seed and the epoch) with its running
// sums, and the history so far (framework/proto/train_state.proto).
//
// A run folder's checkpoints/ holds resume.ckpt, the newest, and
// resume.prev.ckpt, the one before it. A write puts the new state into
// resume.next.ckpt (atomically: temp file, fsync, rename), then moves
// resume.ckpt to resume.prev.ckpt and resume.next.ckpt to resume.ckpt, so a
// kill at any moment leaves at least one complete checkpoint, and reading
// takes the newest intact one of the three.
//
// File layout: "LOOMRSUM", u32 version, u64 length, the serialized
// TrainingState, then a u64 FNV-1a checksum of everything before it.
#ifndef LOOM_FRAMEWORK_TRAINING_RESUME_H_
#define LOOM_FRAMEWORK_TRAINING_RESUME_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "framework/proto/train_state.pb.h"
#include "framework/training/history.h"
#include "framework/training/model.h"

namespace loom {

inline constexpr char kResumeFile[] = "resume.ckpt";
inline constexpr char kResumePreviousFile[] = "resume.prev.ckpt";
inline constexpr char kResumeNextFile[] = "resume.next.ckpt";

// The bytes of a resume checkpoint file, and back. Decoding checks the
// magic, version, length and checksum; errors name `path`.
absl::StatusOr<std::string> EncodeTrainingState(const TrainingState& state);
absl::StatusOr<TrainingState> DecodeTrainingState(const std::string& data,
                                                  const std::string& path);

// Writes the resume checkpoints of one run into `dir` (created if
// missing).
class ResumeWriter {
 public:
  explicit ResumeWriter(std::string dir);
  absl::Status Write(const TrainingState& state);
  const std::string& dir() const { return dir_; }
  int64_t writes() const { return writes_; }
  // For tests that kill the process mid-write: called with "written" (the
  // new state is complete in resume.next.ckpt), "rotated" (resume.ckpt has
  // become resume.prev.ckpt) and "done".
  void set_stage_hook(std::function<void(absl::string_view stage)> hook) {
    stage_hook_ = std::move(hook);
  }

 private:
  void Stage(absl::string_view stage) {
    if (stage_hook_) stage_hook_(stage);
  }
  std::string dir_;
  int64_t writes_ = 0;
  std::function<void(absl::string_view)> stage_hook_;
};

// The newest intact resume checkpoint in `dir` (by epoch and step) among
// resume.ckpt, resume.next.ckpt and resume.prev.ckpt. Damaged ones are
// skipped, each with a line in *notes naming the file and what is wrong;
// temporary files a killed write left behind are removed. *path gets the
// file used. NotFound when there is none, naming the folder; DataLoss when
// every one there is damaged.
absl::StatusOr<TrainingState> LoadResumeState(const std::string& dir,
                                              std::vector<std::string>* notes,
                                              std::string* path);

// Data-parallel resume checkpoints: every rank calls AddRankStates with
// its own running sums (null at an epoch's end) and random generators;
// they are gathered into `state` (ranks and rank, in rank order) on every
// rank, and rank 0 writes it.
absl::Status AddRankStates(distributed::Communicator& comm,
                           const Executor& executor,
                           const std::vector<double>* sums,
                           TrainingState* state);
// On resume: refuses a checkpoint written by another number of ranks
// (naming both), else restores this rank's random generators and, when
// `sums` is not null, its running sums. `ranks` 1 for one process.
absl::Status RestoreRankState(const TrainingState& state, int rank, int ranks,
                              Executor& executor, std::vector<double>* sums);

// FNV-1a over the examples' features and labels: a resumed run must train
// on the same data.
uint64_t HashExamples(const LabeledExamples& train,
                      const LabeledExamples& validation);

// The model's own part of a TrainingState: parameters, optimizer, random
// generators and callbacks (in order).
void CaptureModelState(const Model& model,
                       const std::vector<Callback*>& callbacks,
                       TrainingState* state);
// Restores what CaptureModelState wrote. Errors name `where` (the
// checkpoint file); after one the model is partly restored: do not train
// it further.
absl::Status RestoreModelState(const TrainingState& state,
                               const std::string& where,
                               const std::vector<Callback*>& callbacks,
                               Model* model);

void ToEpochLogState(const EpochLog& log, EpochLogState* out);
EpochLog FromEpochLogState(const EpochLogState& state);

}  // namespace loom

#endif  // LOOM_FRAMEWORK_TRAINING_RESUME_H_
