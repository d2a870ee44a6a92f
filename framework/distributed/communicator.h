// A process group over Open MPI, for data-parallel training and sharded
// scoring (issue 16). MPI is initialized only when the process was started
// by mpirun (LaunchedUnderMpi()); otherwise the communicator is a group of
// one that never calls into MPI, so the tools start as fast as before and
// work without mpirun.
//
// Every MPI call runs with the MPI_ERRORS_RETURN error handler, and an
// error comes back as an absl::Status naming the operation, what it was
// for, and this rank. Collectives wait at most `timeout` (a rank that
// stopped taking part, say after an error of its own, must not hang the
// others): they are started non-blocking and polled until done or the
// deadline passes (DEADLINE_EXCEEDED). A rank that gets an error should end
// the whole job with Abort() (from the tool's main, not from library code):
// MPI_Finalize would wait for ranks still inside a collective.
#ifndef LOOM_FRAMEWORK_DISTRIBUTED_COMMUNICATOR_H_
#define LOOM_FRAMEWORK_DISTRIBUTED_COMMUNICATOR_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace loom::distributed {

// Whether mpirun (or another MPI launcher) started this process: Open MPI's
// OMPI_COMM_WORLD_SIZE, or PMI_SIZE / PMIX_RANK of other launchers.
bool LaunchedUnderMpi();

// Time spent in and bytes handed to collectives, for measurements.
struct CommStats {
  int64_t calls = 0;
  int64_t bytes = 0;   // Payload this rank contributed (not wire bytes).
  double seconds = 0;  // Wall time inside collectives.
};

class Communicator {
 public:
  // The process group: MPI_COMM_WORLD when LaunchedUnderMpi(), else a group
  // of one (rank 0 of 1) without MPI. Only one may exist in a process at a
  // time, and MPI can be initialized once per process: a Create() after
  // an MPI communicator was destroyed is an error.
  static absl::StatusOr<std::unique_ptr<Communicator>> Create();
  // A group of one that never uses MPI, even under mpirun (a rank's own
  // single-process reference run, tests).
  static std::unique_ptr<Communicator> Single();
  // Finalizes MPI (a clean end: every rank must get here).
  ~Communicator();
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool is_root() const { return rank_ == 0; }
  bool uses_mpi() const { return uses_mpi_; }
  // "rank 1 of 3", for messages.
  std::string Where() const;

  // How long a collective may wait for the other ranks (default 300 s, or
  // LOOM_MPI_TIMEOUT_SECONDS).
  void set_timeout(absl::Duration timeout) { timeout_ = timeout; }
  absl::Duration timeout() const { return timeout_; }

  // In place, summed over ranks. `what` names the data in errors.
  absl::Status AllreduceSum(absl::Span<float> data, absl::string_view what);
  absl::Status AllreduceSum(absl::Span<double> data, absl::string_view what);
  absl::Status AllreduceSum(absl::Span<int64_t> data, absl::string_view what);
  // Logical or / max over ranks of int64 values.
  absl::Status AllreduceMax(absl::Span<int64_t> data, absl::string_view what);

  // A non-blocking allreduce (MPI_Iallreduce) in flight, for overlapping
  // communication with computation: StartAllreduceSum() starts it,
  // TestAllreduce() lets MPI make progress and says whether it is done,
  // WaitAllreduce() polls it until done or the timeout
  // (DEADLINE_EXCEEDED, never hangs). The data must stay alive and
  // untouched until it is done; every rank must start the same
  // allreduces in the same order. Destroying one still in flight abandons
  // it (only after an error: the job then ends with Abort()). It is the
  // same reduction as AllreduceSum() (bit-identical results for the same
  // data on every rank).
  class PendingAllreduce {
   public:
    PendingAllreduce();
    ~PendingAllreduce();
    PendingAllreduce(PendingAllreduce&& other) noexcept;
    PendingAllreduce& operator=(PendingAllreduce&& other) noexcept;
    bool active() const { return active_; }

   private:
    friend class Communicator;
    struct Request;
    std::unique_ptr<Request> request_;  // Holds the MPI_Request.
    bool active_ = false;               // Started and not yet completed.
    std::string what_;
    double start_seconds_ = 0;
    int64_t bytes_ = 0;
  };
  // Starts the in-place sum of `data` over ranks into `pending` (which must
  // not be active). Without MPI or with one rank it completes at once.
  absl::Status StartAllreduceSum(absl::Span<float> data, absl::string_view what,
                                 PendingAllreduce* pending);
  // True when done (then `pending` is no longer active); false while in
  // flight. An error (MPI's, or the timeout passed since the start) names
  // what it was for and this rank.
  absl::StatusOr<bool> TestAllreduce(PendingAllreduce* pending);
  absl::Status WaitAllreduce(PendingAllreduce* pending);

  // Root's bytes (or values) to every rank; other ranks' contents are
  // replaced (strings resized).
  absl::Status Broadcast(std::string* bytes, int root, absl::string_view what);
  absl::Status Broadcast(absl::Span<float> data, int root,
                         absl::string_view what);
  absl::Status Broadcast(absl::Span<int64_t> data, int root,
                         absl::string_view what);

  // Every rank's `mine`, in rank order, on every rank.
  absl::StatusOr<std::vector<std::string>> AllgatherBytes(
      absl::string_view mine, absl::string_view what);
  // Every rank's values concatenated in rank order; counts[r] says how
  // many came from rank r.
  absl::Status Allgatherv(absl::Span<const float> mine, std::vector<float>* all,
                          std::vector<int>* counts, absl::string_view what);
  absl::Status Allgatherv(absl::Span<const int32_t> mine,
                          std::vector<int32_t>* all, std::vector<int>* counts,
                          absl::string_view what);

  // Point to point, for streaming results to rank 0 (sharded scoring).
  absl::Status Send(absl::string_view bytes, int to, int tag,
                    absl::string_view what);
  absl::StatusOr<std::string> Receive(int from, int tag,
                                      absl::string_view what);

  absl::Status Barrier(absl::string_view what);

  // Checks that every rank has the same `bytes` (a model file, encoded
  // data): compares a 64-bit hash of them with rank 0's. The error, on
  // every rank, names each rank that differs from rank 0 and `what`.
  absl::Status CheckSameOnAllRanks(absl::string_view bytes,
                                   absl::string_view what);

  // Ends every rank of the job now (MPI_Abort), after the caller printed
  // why. For the tools' main() only. Does nothing without MPI.
  void Abort(int exit_code);

  const CommStats& stats() const { return stats_; }
  void ResetStats() { stats_ = CommStats(); }

 private:
  Communicator() = default;
  // Waits for a non-blocking request until done or the timeout.
  absl::Status Wait(void* request, absl::string_view op, absl::string_view what,
                    double start_seconds, int64_t bytes);
  absl::Status Error(int code, absl::string_view op,
                     absl::string_view what) const;
  template <typename T>
  absl::Status AllgathervTyped(absl::Span<const T> mine, std::vector<T>* all,
                               std::vector<int>* counts,
                               absl::string_view what);

  int rank_ = 0;
  int size_ = 1;
  bool uses_mpi_ = false;
  absl::Duration timeout_ = absl::Seconds(300);
  CommStats stats_;
};

// A 64-bit FNV-1a hash of `bytes`, the same on every machine and process
// (absl::Hash is seeded per process).
uint64_t StableHash(absl::string_view bytes);
uint64_t StableHash(absl::Span<const float> values);
uint64_t StableHash(absl::Span<const int32_t> values);

}  // namespace loom::distributed

#endif  // LOOM_FRAMEWORK_DISTRIBUTED_COMMUNICATOR_H_
