// Failure scenarios for run_mpi_tests.sh, one per argument, each run under
// mpirun with 2 or 3 ranks; the script checks that the job ends (never
// hangs) with a message naming the rank:
//   disagree  rank 2 reads another model file: every rank stops, naming it.
//   die       rank 1 is killed (SIGKILL) while rank 0 waits in an allreduce.
//   stall     rank 1 stays alive but stops taking part: rank 0's collective
//             times out (LOOM_MPI_TIMEOUT_SECONDS) and ends the job.
//   stall_async  the same for a non-blocking allreduce (as the overlapped
//             gradient sum uses): rank 0's WaitAllreduce times out.
//   ok        every rank agrees and finishes cleanly.
// As the tools do, a rank with an error prints it and calls Abort().
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "framework/distributed/communicator.h"

namespace {

int Fail(loom::distributed::Communicator& comm, const absl::Status& s) {
  std::fprintf(stderr, "mpi_scenarios: %s: %s\n", comm.Where().c_str(),
               std::string(s.message()).c_str());
  std::fflush(stderr);
  comm.Abort(1);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr,
                 "usage: mpi_scenarios disagree|die|stall|stall_async|ok\n");
    return 2;
  }
  const std::string scenario = argv[1];
  auto created = loom::distributed::Communicator::Create();
  if (!created.ok()) {
    std::fprintf(stderr, "mpi_scenarios: %s\n",
                 std::string(created.status().message()).c_str());
    return 1;
  }
  loom::distributed::Communicator& comm = **created;
  if (scenario == "disagree" || scenario == "ok") {
    const std::string model =
        scenario == "disagree" && comm.rank() == 2 ? "model B" : "model A";
    if (auto s = comm.CheckSameOnAllRanks(model, "the model file (m.pbtxt)");
        !s.ok()) {
      return Fail(comm, s);
    }
  } else if (scenario == "die") {
    if (comm.rank() == 1) {
      ::usleep(200 * 1000);
      ::raise(SIGKILL);
    }
  } else if (scenario == "stall") {
    if (comm.rank() == 1) ::sleep(60);  // Alive, but not taking part.
  } else if (scenario == "stall_async") {
    if (comm.rank() == 1) ::sleep(60);
    std::vector<float> bucket(1000, 1.0f);
    loom::distributed::Communicator::PendingAllreduce pending;
    absl::Status s = comm.StartAllreduceSum(absl::MakeSpan(bucket),
                                            "gradient bucket 0", &pending);
    if (s.ok()) s = comm.WaitAllreduce(&pending);
    if (!s.ok()) return Fail(comm, s);
  } else {
    std::fprintf(stderr, "mpi_scenarios: unknown scenario '%s'\n",
                 scenario.c_str());
    return 2;
  }
  std::vector<float> grad(1000, 1.0f);
  if (auto s = comm.AllreduceSum(absl::MakeSpan(grad), "the gradients");
      !s.ok()) {
    return Fail(comm, s);
  }
  if (comm.is_root()) std::printf("mpi_scenarios: %s: done\n", argv[1]);
  return 0;
}
