// A run killed with SIGKILL at many points (after a mid-epoch checkpoint,
// at each stage of a checkpoint write, at an epoch's end, twice in a row)
// and resumed with --resume ends with the same history and the same
// weights, to the last bit, as the run that was never interrupted. Damaged
// checkpoints are refused and the previous one is used; SIGTERM stops
// tools/train with a checkpoint and a message saying how to resume.
//
// Every training run happens in a child process (fork), as a kill must not
// take the test with it; the test process itself never trains, so no
// OpenMP thread pool is forked.
#include "framework/training/resume.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "framework/file_util.h"
#include "framework/training/train_job.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/data/synthetic_corpus.h"
#include "tests/training/small_runs.h"

namespace loom {
namespace {

using ::testing::HasSubstr;

using testing::TmpDir;

const std::string& CorpusDir() {
  data::SyntheticCorpusOptions options;
  options.train_per_label = 160;
  options.test_per_label = 40;
  options.seed = 5;
  options.min_words = 10;
  options.max_words = 30;
  return testing::WriteCorpusOnce("corpus", options);
}

// Pipeline 2's model (dropout, EarlyStopping restoring the best weights,
// Adam) on the small corpus: 256 training examples, 8 steps per epoch,
// a checkpoint every 3 steps and at each epoch's end.
TrainJobOptions SmallRun(const std::string& out) {
  TrainJobOptions options = testing::SmallRun(
      {"models/bilstm.pbtxt", CorpusDir(), out, /*max_len=*/30,
       /*num_words=*/300, /*epochs=*/4});
  options.checkpoint_every = 3;
  options.overrides.learning_rate = 3e-3f;
  options.overrides.patience = 2;
  return options;
}

// What a resumed run is given: the folder and the thread count only.
TrainJobOptions ResumeOf(const TrainJobOptions& run) {
  TrainJobOptions options;
  options.resume_dir = run.output_dir;
  options.threads = run.threads;
  options.checkpoint_every = run.checkpoint_every;
  return options;
}

// Runs the job in a child process; returns its wait status. The job's
// output goes to <output_dir>.log (appended).
int RunInChild(TrainJobOptions options, const std::string& log) {
  const pid_t pid = fork();
  if (pid == 0) {
    std::ofstream out(log, std::ios::app);
    absl::Status s = RunTrainJob(options, out);
    out << "status: " << s << "\n";
    out.flush();
    _exit(s.ok() ? 0 : absl::IsCancelled(s) ? 3 : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

std::string Log(const std::string& log) {
  auto text = ReadFile(log);
  return text.ok() ? *text : "(no log)";
}

// A run killed by SIGKILL at the `occurrence`-th time a checkpoint write
// reaches `stage` (1-based); returns whether it died that way.
bool RunKilledAt(TrainJobOptions options, const std::string& stage,
                 int occurrence, const std::string& log) {
  auto count = std::make_shared<int>(0);
  options.checkpoint_stage_hook = [=](absl::string_view s) {
    if (s == stage && ++*count == occurrence) raise(SIGKILL);
  };
  const int status = RunInChild(options, log);
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

// history.csv without its seconds column, which no two runs share.
std::string HistoryMetrics(const std::string& dir) {
  auto csv = ReadFile(dir + "/history.csv");
  if (!csv.ok()) return "(no history.csv)";
  std::string out;
  std::istringstream in(*csv);
  for (std::string line; std::getline(in, line);) {
    const size_t first = line.find(',');
    const size_t second = line.find(',', first + 1);
    out += line.substr(0, first) + line.substr(second) + "\n";
  }
  return out;
}

// The files that hold weights, which must match the reference byte for
// byte.
const char* const kWeightFiles[] = {
    "model/weights.ckpt", "checkpoints/best.ckpt", "checkpoints/last.ckpt"};

class ResumeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    reference_ = new TrainJobOptions(SmallRun("reference"));
    const std::string log = reference_->output_dir + ".log";
    const int status = RunInChild(*reference_, log);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << Log(log);
  }
  static void TearDownTestSuite() { delete reference_; }

  // Resumes `run` and checks it against the reference.
  void ExpectResumesToReference(const TrainJobOptions& run,
                                const std::string& log) {
    const int status = RunInChild(ResumeOf(run), log);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << Log(log);
    ExpectSameAsReference(run.output_dir, log);
  }

  void ExpectSameAsReference(const std::string& dir, const std::string& log) {
    const std::string history = HistoryMetrics(reference_->output_dir);
    ASSERT_THAT(history, HasSubstr("\n4,"));  // Four epochs ran.
    EXPECT_EQ(HistoryMetrics(dir), history) << Log(log);
    for (const char* file : kWeightFiles) {
      auto want = ReadFile(reference_->output_dir + "/" + file);
      auto got = ReadFile(dir + "/" + file);
      ASSERT_TRUE(want.ok() && got.ok()) << file << "\n" << Log(log);
      EXPECT_TRUE(*want == *got) << file << " differs\n" << Log(log);
    }
    auto want = ReadFile(reference_->output_dir + "/results.txt");
    auto got = ReadFile(dir + "/results.txt");
    ASSERT_TRUE(want.ok() && got.ok());
    // The test line and the classification report (not the timings).
    EXPECT_EQ(want->substr(0, want->find("epoch 1:")),
              got->substr(0, got->find("epoch 1:")));
  }

  static TrainJobOptions* reference_;
};

TrainJobOptions* ResumeTest::reference_ = nullptr;

struct KillPoint {
  const char* stage;  // Of a checkpoint write (ResumeWriter).
  int occurrence;
  const char* what;
};

// 8 steps per epoch, checkpoints after steps 3 and 6 and at the end: 3 per
// epoch, so write 3 is epoch 1's end and write 4 is in epoch 2.
const KillPoint kKillPoints[] = {
    {"done", 1, "after the first checkpoint (epoch 1, step 3)"},
    {"written", 2,
     "new checkpoint complete, not yet renamed (epoch 1, "
     "step 6)"},
    {"rotated", 3, "between the two renames of epoch 1's end"},
    {"done", 3, "right after epoch 1's end"},
    {"written", 5, "mid-write in epoch 2"},
    {"done", 8, "in epoch 3, step 6"},
};

TEST_F(ResumeTest, KilledAtAnyPointResumesToTheSameBits) {
  int i = 0;
  for (const KillPoint& kill : kKillPoints) {
    SCOPED_TRACE(kill.what);
    TrainJobOptions run = SmallRun(absl::StrCat("kill_", i++));
    const std::string log = run.output_dir + ".log";
    ASSERT_TRUE(RunKilledAt(run, kill.stage, kill.occurrence, log)) << Log(log);
    ExpectResumesToReference(run, log);
  }
}

TEST_F(ResumeTest, KilledTwiceAndDuringTheWriteOfTheBytes) {
  TrainJobOptions run = SmallRun("kill_twice");
  const std::string log = run.output_dir + ".log";
  const std::string checkpoints = run.output_dir + "/checkpoints";
  // Killed while the bytes of the second checkpoint are being written: what
  // that leaves is a partial temporary file beside the complete first one.
  {
    TrainJobOptions killed = run;
    auto count = std::make_shared<int>(0);
    killed.checkpoint_stage_hook = [=](absl::string_view s) {
      if (s != "done" || ++*count != 1) return;
      auto data = ReadFile(checkpoints + "/" + kResumeFile);
      if (!data.ok()) std::abort();
      std::ofstream partial(checkpoints + "/resume.next.ckpt.tmp.4242");
      partial << data->substr(0, data->size() / 2);
      partial.close();
      raise(SIGKILL);
    };
    ASSERT_EQ(WTERMSIG(RunInChild(killed, log)), SIGKILL);
  }
  // Resumed, and killed again in epoch 3.
  TrainJobOptions resumed = ResumeOf(run);
  auto count = std::make_shared<int>(0);
  resumed.checkpoint_stage_hook = [=](absl::string_view s) {
    if (s == "done" && ++*count == 6) raise(SIGKILL);
  };
  ASSERT_EQ(WTERMSIG(RunInChild(resumed, log)), SIGKILL) << Log(log);
  EXPECT_THAT(Log(log), HasSubstr("a partial checkpoint a killed write left"));
  ExpectResumesToReference(run, log);
}

TEST_F(ResumeTest, DamagedCheckpointFallsBackToThePreviousOne) {
  TrainJobOptions run = SmallRun("damaged");
  const std::string log = run.output_dir + ".log";
  ASSERT_TRUE(RunKilledAt(run, "done", 4, log)) << Log(log);
  const std::string current = run.output_dir + "/checkpoints/" + kResumeFile;
  auto data = ReadFile(current);
  ASSERT_TRUE(data.ok());
  std::string flipped = *data;
  flipped[flipped.size() / 2] ^= 0x10;
  ASSERT_TRUE(WriteFileAtomically(current, flipped).ok());
  ExpectResumesToReference(run, log);
  EXPECT_THAT(Log(log),
              HasSubstr("resume.ckpt is damaged (checksum mismatch)"));
  EXPECT_THAT(Log(log), HasSubstr("from " + run.output_dir +
                                  "/checkpoints/resume.prev.ckpt"));
}

TEST_F(ResumeTest, EveryCheckpointDamagedIsAnErrorNamingThem) {
  TrainJobOptions run = SmallRun("all_damaged");
  const std::string log = run.output_dir + ".log";
  ASSERT_TRUE(RunKilledAt(run, "done", 2, log)) << Log(log);
  for (const char* name : {kResumeFile, kResumePreviousFile}) {
    const std::string path = run.output_dir + "/checkpoints/" + name;
    auto data = ReadFile(path);
    ASSERT_TRUE(data.ok()) << path;
    ASSERT_TRUE(WriteFileAtomically(path, data->substr(0, 100)).ok());
  }
  std::vector<std::string> notes;
  std::string used;
  auto state = LoadResumeState(run.output_dir + "/checkpoints", &notes, &used);
  EXPECT_EQ(state.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(state.status().message()),
              HasSubstr("every resume checkpoint in"));
  ASSERT_EQ(notes.size(), 2u);
  EXPECT_THAT(notes[0], HasSubstr("resume.ckpt is truncated or damaged"));
  EXPECT_THAT(notes[1], HasSubstr("resume.prev.ckpt is truncated"));
}

TEST_F(ResumeTest, ResumeRefusesChangedSettingsAndMissingRuns) {
  TrainJobOptions resume = ResumeOf(*reference_);
  resume.overrides.batch_size = 16;
  resume.data_flags.data = CorpusDir();
  std::ostringstream out;
  absl::Status s = RunTrainJob(resume, out);
  EXPECT_THAT(std::string(s.message()), HasSubstr("leave out --data, "
                                                  "--batch_size"));
  resume = ResumeOf(*reference_);
  resume.resume_dir = TmpDir() + "/no_such_run";
  s = RunTrainJob(resume, out);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("--resume takes the output folder"));
}

TEST_F(ResumeTest, ResumeRefusesOtherData) {
  TrainJobOptions run = SmallRun("other_data");
  const std::string log = run.output_dir + ".log";
  ASSERT_TRUE(RunKilledAt(run, "done", 1, log)) << Log(log);
  // The same number of reviews, other words: the config names the corpus
  // folder, whose files change under the run.
  const std::string other = TmpDir() + "/other_corpus";
  data::SyntheticCorpusOptions options;
  options.train_per_label = 160;
  options.test_per_label = 40;
  options.seed = 6;
  options.min_words = 10;
  options.max_words = 30;
  ASSERT_TRUE(data::WriteSyntheticImdb(other, options).ok());
  auto config = ReadFile(run.output_dir + "/config.pbtxt");
  ASSERT_TRUE(config.ok());
  std::string changed = *config;
  const size_t at = changed.find(CorpusDir());
  ASSERT_NE(at, std::string::npos) << changed;
  changed.replace(at, CorpusDir().size(), other);
  ASSERT_TRUE(
      WriteFileAtomically(run.output_dir + "/config.pbtxt", changed).ok());
  const int status = RunInChild(ResumeOf(run), log);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1);
  EXPECT_THAT(Log(log), HasSubstr("but they differ: resume with the data the "
                                  "run was started on"));
}

TEST_F(ResumeTest, StopRequestWritesACheckpointAndSaysHowToResume) {
  TrainJobOptions run = SmallRun("stopped");
  const std::string log = run.output_dir + ".log";
  // The request arrives during the second checkpoint (epoch 1, step 6):
  // training stops after step 7.
  auto stop = std::make_shared<std::atomic<bool>>(false);
  run.stop_requested = stop.get();
  auto count = std::make_shared<int>(0);
  run.checkpoint_stage_hook = [=](absl::string_view s) {
    if (s == "done" && ++*count == 2) stop->store(true);
  };
  const int status = RunInChild(run, log);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 3) << Log(log);
  EXPECT_THAT(Log(log), HasSubstr("stopped after step 7 of 8 of epoch 1 and "
                                  "wrote a resume checkpoint"));
  EXPECT_THAT(Log(log), HasSubstr("tools/train --resume=" + run.output_dir));
  run.stop_requested = nullptr;
  run.checkpoint_stage_hook = nullptr;
  ExpectResumesToReference(run, log);
}

// The tool itself: SIGTERM mid-run exits 143 with the resume command, and
// --resume finishes it to the reference's bits.
TEST_F(ResumeTest, ToolStopsOnSigtermAndResumes) {
  const std::string tool = "tools/train";
  const std::string dir = TmpDir() + "/tool_run";
  const std::string log = dir + ".log";
  std::vector<std::string> args = {tool,
                                   "--graph=models/bilstm.pbtxt",
                                   "--data=" + CorpusDir(),
                                   "--output_dir=" + dir,
                                   "--threads=1",
                                   "--checkpoint_every=1",
                                   "--max_len=30",
                                   "--num_words=300",
                                   "--train_limit=0",
                                   "--test_limit=0",
                                   "--batch_size=32",
                                   "--epochs=4",
                                   "--learning_rate=0.003",
                                   "--patience=2",
                                   "--progress=lines"};
  const auto run_tool = [&](const std::vector<std::string>& argv,
                            bool sigterm) {
    const pid_t pid = fork();
    if (pid == 0) {
      const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      dup2(fd, 1);
      dup2(fd, 2);
      std::vector<char*> c;
      for (const std::string& a : argv)
        c.push_back(const_cast<char*>(a.c_str()));
      c.push_back(nullptr);
      execv(c[0], c.data());
      _exit(127);
    }
    if (sigterm) {  // Once the first checkpoint (after step 1) exists.
      const std::string first = dir + "/checkpoints/" + kResumeFile;
      for (int i = 0; i < 6000 && access(first.c_str(), F_OK) != 0; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      kill(pid, SIGTERM);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return status;
  };
  int status = run_tool(args, true);
  ASSERT_TRUE(WIFEXITED(status)) << Log(log);
  EXPECT_EQ(WEXITSTATUS(status), 143) << Log(log);
  EXPECT_THAT(Log(log), HasSubstr("continue the run with: tools/train "
                                  "--resume=" +
                                  dir));
  status = run_tool(
      {tool, "--resume=" + dir, "--threads=1", "--progress=lines"}, false);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << Log(log);
  ExpectSameAsReference(dir, log);
}

}  // namespace
}  // namespace loom
