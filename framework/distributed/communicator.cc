#include "framework/distributed/communicator.h"

#include <mpi.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "framework/status_macros.h"

namespace loom::distributed {
namespace {

std::atomic<bool> g_live{false};  // A Communicator exists.

double NowSeconds() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Between two polls of a request: spin briefly, yielding the core (ranks
// may share cores), then sleep a little.
void PauseBetweenPolls(int64_t polls) {
  if (polls < 2000) {
    sched_yield();
  } else {
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
}

bool EnvSet(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0';
}

// MPI counts are int: larger buffers are refused rather than truncated.
absl::Status CheckCount(size_t n, absl::string_view op,
                        absl::string_view what) {
  if (n > static_cast<size_t>(INT32_MAX)) {
    return absl::InvalidArgumentError(absl::StrCat(
        op, " of ", what, ": ", n, " elements, more than MPI's int count"));
  }
  return absl::OkStatus();
}

}  // namespace

bool LaunchedUnderMpi() {
  return EnvSet("OMPI_COMM_WORLD_SIZE") || EnvSet("PMI_SIZE") ||
         EnvSet("PMIX_RANK");
}

absl::StatusOr<std::unique_ptr<Communicator>> Communicator::Create() {
  std::unique_ptr<Communicator> comm(new Communicator());
  if (const char* t = std::getenv("LOOM_MPI_TIMEOUT_SECONDS")) {
    double seconds = 0;
    if (!absl::SimpleAtod(t, &seconds) || !(seconds > 0)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "LOOM_MPI_TIMEOUT_SECONDS must be a number of seconds > 0, got \"", t,
          "\""));
    }
    comm->timeout_ = absl::Seconds(seconds);
  }
  if (!LaunchedUnderMpi()) return comm;
  if (g_live.exchange(true)) {
    return absl::FailedPreconditionError(
        "an MPI Communicator already exists in this process (only one may)");
  }
  int initialized = 0;
  int finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (finalized) {
    return absl::FailedPreconditionError(
        "MPI was already finalized in this process: it cannot be started "
        "again");
  }
  if (!initialized) {
    int provided = 0;
    // Only the calling thread uses MPI (oneDNN's and OpenMP's threads
    // never do).
    const int rc =
        MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS) {
      return absl::UnavailableError(absl::StrCat(
          "MPI_Init_thread failed (code ", rc,
          "): this process was started by an MPI launcher "
          "(OMPI_COMM_WORLD_SIZE is set) but MPI could not start"));
    }
  }
  comm->uses_mpi_ = true;  // From here on the destructor finalizes.
  if (int rc = MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
      rc != MPI_SUCCESS) {
    return comm->Error(rc, "MPI_Comm_set_errhandler", "MPI_COMM_WORLD");
  }
  MPI_Comm_rank(MPI_COMM_WORLD, &comm->rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &comm->size_);
  return comm;
}

std::unique_ptr<Communicator> Communicator::Single() {
  return std::unique_ptr<Communicator>(new Communicator());
}

Communicator::~Communicator() {
  if (uses_mpi_) {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Finalize();
    g_live = false;
  }
}

std::string Communicator::Where() const {
  return absl::StrCat("rank ", rank_, " of ", size_);
}

absl::Status Communicator::Error(int code, absl::string_view op,
                                 absl::string_view what) const {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(code, text, &len) != MPI_SUCCESS) len = 0;
  return absl::UnavailableError(absl::StrCat(
      op, " of ", what, " failed on ", Where(), ": ",
      len > 0 ? std::string(text, len) : absl::StrCat("MPI error ", code),
      " (another rank may have died)"));
}

absl::Status Communicator::Wait(void* request_ptr, absl::string_view op,
                                absl::string_view what, double start,
                                int64_t bytes) {
  auto* request = static_cast<MPI_Request*>(request_ptr);
  const double deadline = start + absl::ToDoubleSeconds(timeout_);
  int64_t polls = 0;
  while (true) {
    int done = 0;
    if (int rc = MPI_Test(request, &done, MPI_STATUS_IGNORE);
        rc != MPI_SUCCESS) {
      return Error(rc, op, what);
    }
    if (done) break;
    ++polls;
    PauseBetweenPolls(polls);  // And check the deadline now and then.
    if ((polls & 63) == 0 && NowSeconds() > deadline) {
      // The request is abandoned: the caller ends the job (Abort()).
      return absl::DeadlineExceededError(absl::StrFormat(
          "%s of %s on %s: the other ranks did not take part within %.0f s "
          "(one stopped or hangs); ending the job",
          op, what, Where(), absl::ToDoubleSeconds(timeout_)));
    }
  }
  stats_.calls += 1;
  stats_.bytes += bytes;
  stats_.seconds += NowSeconds() - start;
  return absl::OkStatus();
}

namespace {

template <typename T>
MPI_Datatype TypeOf();
template <>
MPI_Datatype TypeOf<float>() {
  return MPI_FLOAT;
}
template <>
MPI_Datatype TypeOf<double>() {
  return MPI_DOUBLE;
}
template <>
MPI_Datatype TypeOf<int64_t>() {
  return MPI_INT64_T;
}
template <>
MPI_Datatype TypeOf<int32_t>() {
  return MPI_INT32_T;
}

}  // namespace

#define LOOM_MPI_ALLREDUCE(T, OP, NAME)                                     \
  absl::Status Communicator::NAME(absl::Span<T> data,                       \
                                  absl::string_view what) {                 \
    if (!uses_mpi_ || size_ == 1 || data.empty()) return absl::OkStatus();  \
    LOOM_RETURN_IF_ERROR(CheckCount(data.size(), "MPI_Allreduce", what));   \
    const double start = NowSeconds();                                      \
    MPI_Request request;                                                    \
    if (int rc = MPI_Iallreduce(MPI_IN_PLACE, data.data(),                  \
                                static_cast<int>(data.size()), TypeOf<T>(), \
                                OP, MPI_COMM_WORLD, &request);              \
        rc != MPI_SUCCESS) {                                                \
      return Error(rc, "MPI_Allreduce", what);                              \
    }                                                                       \
    return Wait(&request, "MPI_Allreduce", what, start,                     \
                static_cast<int64_t>(data.size() * sizeof(T)));             \
  }

LOOM_MPI_ALLREDUCE(float, MPI_SUM, AllreduceSum)
LOOM_MPI_ALLREDUCE(double, MPI_SUM, AllreduceSum)
LOOM_MPI_ALLREDUCE(int64_t, MPI_SUM, AllreduceSum)
LOOM_MPI_ALLREDUCE(int64_t, MPI_MAX, AllreduceMax)
#undef LOOM_MPI_ALLREDUCE

struct Communicator::PendingAllreduce::Request {
  MPI_Request request = MPI_REQUEST_NULL;
};

Communicator::PendingAllreduce::PendingAllreduce()
    : request_(std::make_unique<Request>()) {}
Communicator::PendingAllreduce::~PendingAllreduce() = default;
Communicator::PendingAllreduce::PendingAllreduce(
    PendingAllreduce&& other) noexcept = default;
Communicator::PendingAllreduce& Communicator::PendingAllreduce::operator=(
    PendingAllreduce&& other) noexcept = default;

absl::Status Communicator::StartAllreduceSum(absl::Span<float> data,
                                             absl::string_view what,
                                             PendingAllreduce* pending) {
  if (pending->active_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "MPI_Iallreduce of ", what, " on ", Where(),
        ": the request still holds the allreduce of ", pending->what_));
  }
  if (pending->request_ == nullptr) {
    pending->request_ = std::make_unique<PendingAllreduce::Request>();
  }
  pending->what_ = std::string(what);
  pending->bytes_ = static_cast<int64_t>(data.size() * sizeof(float));
  pending->start_seconds_ = NowSeconds();
  if (!uses_mpi_ || size_ == 1 || data.empty()) return absl::OkStatus();
  LOOM_RETURN_IF_ERROR(CheckCount(data.size(), "MPI_Iallreduce", what));
  if (int rc = MPI_Iallreduce(MPI_IN_PLACE, data.data(),
                              static_cast<int>(data.size()), MPI_FLOAT, MPI_SUM,
                              MPI_COMM_WORLD, &pending->request_->request);
      rc != MPI_SUCCESS) {
    return Error(rc, "MPI_Iallreduce", what);
  }
  pending->active_ = true;
  return absl::OkStatus();
}

absl::StatusOr<bool> Communicator::TestAllreduce(PendingAllreduce* pending) {
  if (!pending->active_) return true;
  int done = 0;
  if (int rc = MPI_Test(&pending->request_->request, &done, MPI_STATUS_IGNORE);
      rc != MPI_SUCCESS) {
    pending->active_ = false;
    return Error(rc, "MPI_Iallreduce", pending->what_);
  }
  const double now = NowSeconds();
  if (done) {
    pending->active_ = false;
    stats_.calls += 1;
    stats_.bytes += pending->bytes_;
    stats_.seconds += now - pending->start_seconds_;
    return true;
  }
  if (now > pending->start_seconds_ + absl::ToDoubleSeconds(timeout_)) {
    // The request is abandoned: the caller ends the job (Abort()).
    pending->active_ = false;
    return absl::DeadlineExceededError(absl::StrFormat(
        "MPI_Iallreduce of %s on %s: the other ranks did not take part "
        "within %.0f s (one stopped or hangs); ending the job",
        pending->what_, Where(), absl::ToDoubleSeconds(timeout_)));
  }
  return false;
}

absl::Status Communicator::WaitAllreduce(PendingAllreduce* pending) {
  for (int64_t polls = 1;; ++polls) {
    LOOM_ASSIGN_OR_RETURN(const bool done, TestAllreduce(pending));
    if (done) return absl::OkStatus();
    PauseBetweenPolls(polls);
  }
}

absl::Status Communicator::Broadcast(std::string* bytes, int root,
                                     absl::string_view what) {
  if (!uses_mpi_ || size_ == 1) return absl::OkStatus();
  if (root < 0 || root >= size_) {
    return absl::InvalidArgumentError(
        absl::StrCat("broadcast of ", what, " from rank ", root,
                     ", but there are ", size_, " ranks"));
  }
  int64_t size = static_cast<int64_t>(bytes->size());
  LOOM_RETURN_IF_ERROR(Broadcast(absl::MakeSpan(&size, 1), root,
                                 absl::StrCat("the size of ", what)));
  LOOM_RETURN_IF_ERROR(
      CheckCount(static_cast<size_t>(size), "MPI_Bcast", what));
  bytes->resize(static_cast<size_t>(size));
  if (size == 0) return absl::OkStatus();
  const double start = NowSeconds();
  MPI_Request request;
  if (int rc = MPI_Ibcast(bytes->data(), static_cast<int>(size), MPI_BYTE, root,
                          MPI_COMM_WORLD, &request);
      rc != MPI_SUCCESS) {
    return Error(rc, "MPI_Bcast", what);
  }
  return Wait(&request, "MPI_Bcast", what, start, size);
}

#define LOOM_MPI_BCAST(T)                                                  \
  absl::Status Communicator::Broadcast(absl::Span<T> data, int root,       \
                                       absl::string_view what) {           \
    if (!uses_mpi_ || size_ == 1 || data.empty()) return absl::OkStatus(); \
    if (root < 0 || root >= size_) {                                       \
      return absl::InvalidArgumentError(                                   \
          absl::StrCat("broadcast of ", what, " from rank ", root,         \
                       ", but there are ", size_, " ranks"));              \
    }                                                                      \
    LOOM_RETURN_IF_ERROR(CheckCount(data.size(), "MPI_Bcast", what));      \
    const double start = NowSeconds();                                     \
    MPI_Request request;                                                   \
    if (int rc = MPI_Ibcast(data.data(), static_cast<int>(data.size()),    \
                            TypeOf<T>(), root, MPI_COMM_WORLD, &request);  \
        rc != MPI_SUCCESS) {                                               \
      return Error(rc, "MPI_Bcast", what);                                 \
    }                                                                      \
    return Wait(&request, "MPI_Bcast", what, start,                        \
                static_cast<int64_t>(data.size() * sizeof(T)));            \
  }

LOOM_MPI_BCAST(float)
LOOM_MPI_BCAST(int64_t)
#undef LOOM_MPI_BCAST

template <typename T>
absl::Status Communicator::AllgathervTyped(absl::Span<const T> mine,
                                           std::vector<T>* all,
                                           std::vector<int>* counts,
                                           absl::string_view what) {
  counts->assign(size_, 0);
  if (!uses_mpi_ || size_ == 1) {
    all->assign(mine.begin(), mine.end());
    (*counts)[0] = static_cast<int>(mine.size());
    return absl::OkStatus();
  }
  LOOM_RETURN_IF_ERROR(CheckCount(mine.size(), "MPI_Allgatherv", what));
  int mine_count = static_cast<int>(mine.size());
  const double start = NowSeconds();
  MPI_Request request;
  if (int rc = MPI_Iallgather(&mine_count, 1, MPI_INT, counts->data(), 1,
                              MPI_INT, MPI_COMM_WORLD, &request);
      rc != MPI_SUCCESS) {
    return Error(rc, "MPI_Allgather", absl::StrCat("the sizes of ", what));
  }
  LOOM_RETURN_IF_ERROR(Wait(&request, "MPI_Allgather",
                            absl::StrCat("the sizes of ", what), start,
                            sizeof(int)));
  std::vector<int> displs(size_, 0);
  int64_t total = 0;
  for (int r = 0; r < size_; ++r) {
    displs[r] = static_cast<int>(total);
    total += (*counts)[r];
  }
  LOOM_RETURN_IF_ERROR(
      CheckCount(static_cast<size_t>(total), "MPI_Allgatherv", what));
  all->resize(static_cast<size_t>(total));
  const double start2 = NowSeconds();
  if (int rc = MPI_Iallgatherv(mine.data(), mine_count, TypeOf<T>(),
                               all->data(), counts->data(), displs.data(),
                               TypeOf<T>(), MPI_COMM_WORLD, &request);
      rc != MPI_SUCCESS) {
    return Error(rc, "MPI_Allgatherv", what);
  }
  return Wait(&request, "MPI_Allgatherv", what, start2,
              static_cast<int64_t>(mine.size() * sizeof(T)));
}

absl::Status Communicator::Allgatherv(absl::Span<const float> mine,
                                      std::vector<float>* all,
                                      std::vector<int>* counts,
                                      absl::string_view what) {
  return AllgathervTyped(mine, all, counts, what);
}

absl::Status Communicator::Allgatherv(absl::Span<const int32_t> mine,
                                      std::vector<int32_t>* all,
                                      std::vector<int>* counts,
                                      absl::string_view what) {
  return AllgathervTyped(mine, all, counts, what);
}

absl::StatusOr<std::vector<std::string>> Communicator::AllgatherBytes(
    absl::string_view mine, absl::string_view what) {
  if (!uses_mpi_ || size_ == 1)
    return std::vector<std::string>{std::string(mine)};
  std::vector<int32_t> lengths;
  std::vector<int> counts;
  // Bytes travel as int32 words: pad to a multiple of 4, send the length.
  std::string padded(mine);
  padded.resize((mine.size() + 3) / 4 * 4, '\0');
  std::vector<int32_t> words(padded.size() / 4 + 1);
  words[0] = static_cast<int32_t>(mine.size());
  if (mine.size() > static_cast<size_t>(INT32_MAX)) {
    return absl::InvalidArgumentError(
        absl::StrCat("allgather of ", what, ": over 2 GiB"));
  }
  std::memcpy(words.data() + 1, padded.data(), padded.size());
  std::vector<int32_t> all;
  LOOM_RETURN_IF_ERROR(
      Allgatherv(absl::MakeConstSpan(words), &all, &counts, what));
  std::vector<std::string> out(size_);
  int64_t offset = 0;
  for (int r = 0; r < size_; ++r) {
    const int32_t len = all[offset];
    out[r].assign(reinterpret_cast<const char*>(all.data() + offset + 1),
                  static_cast<size_t>(len));
    offset += counts[r];
  }
  return out;
}

absl::Status Communicator::Send(absl::string_view bytes, int to, int tag,
                                absl::string_view what) {
  if (!uses_mpi_) {
    return absl::FailedPreconditionError(
        absl::StrCat("send of ", what, ": not running under mpirun"));
  }
  LOOM_RETURN_IF_ERROR(CheckCount(bytes.size(), "MPI_Send", what));
  const double start = NowSeconds();
  MPI_Request request;
  if (int rc = MPI_Isend(bytes.data(), static_cast<int>(bytes.size()), MPI_BYTE,
                         to, tag, MPI_COMM_WORLD, &request);
      rc != MPI_SUCCESS) {
    return Error(rc, "MPI_Send", what);
  }
  return Wait(&request, "MPI_Send", what, start,
              static_cast<int64_t>(bytes.size()));
}

absl::StatusOr<std::string> Communicator::Receive(int from, int tag,
                                                  absl::string_view what) {
  if (!uses_mpi_) {
    return absl::FailedPreconditionError(
        absl::StrCat("receive of ", what, ": not running under mpirun"));
  }
  const double start = NowSeconds();
  const double deadline = start + absl::ToDoubleSeconds(timeout_);
  MPI_Status status;
  int64_t polls = 0;
  while (true) {
    int flag = 0;
    if (int rc = MPI_Iprobe(from, tag, MPI_COMM_WORLD, &flag, &status);
        rc != MPI_SUCCESS) {
      return Error(rc, "MPI_Iprobe", what);
    }
    if (flag) break;
    ++polls;
    PauseBetweenPolls(polls);
    if ((polls & 63) == 0 && NowSeconds() > deadline) {
      return absl::DeadlineExceededError(absl::StrFormat(
          "receive of %s from rank %d on %s: nothing came within %.0f s (that "
          "rank stopped or hangs); ending the job",
          what, from, Where(), absl::ToDoubleSeconds(timeout_)));
    }
  }
  int count = 0;
  MPI_Get_count(&status, MPI_BYTE, &count);
  std::string bytes(static_cast<size_t>(count), '\0');
  if (int rc = MPI_Recv(bytes.data(), count, MPI_BYTE, from, tag,
                        MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      rc != MPI_SUCCESS) {
    return Error(rc, "MPI_Recv", what);
  }
  stats_.calls += 1;
  stats_.bytes += count;
  stats_.seconds += NowSeconds() - start;
  return bytes;
}

absl::Status Communicator::Barrier(absl::string_view what) {
  if (!uses_mpi_ || size_ == 1) return absl::OkStatus();
  const double start = NowSeconds();
  MPI_Request request;
  if (int rc = MPI_Ibarrier(MPI_COMM_WORLD, &request); rc != MPI_SUCCESS) {
    return Error(rc, "MPI_Barrier", what);
  }
  return Wait(&request, "MPI_Barrier", what, start, 0);
}

absl::Status Communicator::CheckSameOnAllRanks(absl::string_view bytes,
                                               absl::string_view what) {
  if (!uses_mpi_ || size_ == 1) return absl::OkStatus();
  std::vector<int64_t> hashes(size_, 0);
  hashes[rank_] = static_cast<int64_t>(StableHash(bytes));
  // Each rank fills its own slot; the sum is every rank's hash.
  LOOM_RETURN_IF_ERROR(AllreduceSum(absl::MakeSpan(hashes),
                                    absl::StrCat("the hashes of ", what)));
  std::vector<std::string> differ;
  for (int r = 1; r < size_; ++r) {
    if (hashes[r] != hashes[0]) {
      differ.push_back(absl::StrFormat("rank %d (hash %016x)", r,
                                       static_cast<uint64_t>(hashes[r])));
    }
  }
  if (differ.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrFormat(
      "the ranks disagree on %s: %s differ%s from rank 0 (hash %016x); every "
      "rank must read the same files",
      what, absl::StrJoin(differ, ", "), differ.size() == 1 ? "s" : "",
      static_cast<uint64_t>(hashes[0])));
}

void Communicator::Abort(int exit_code) {
  if (uses_mpi_) MPI_Abort(MPI_COMM_WORLD, exit_code);
}

uint64_t StableHash(absl::string_view bytes) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

uint64_t StableHash(absl::Span<const float> values) {
  return StableHash(
      absl::string_view(reinterpret_cast<const char*>(values.data()),
                        values.size() * sizeof(float)));
}

uint64_t StableHash(absl::Span<const int32_t> values) {
  return StableHash(
      absl::string_view(reinterpret_cast<const char*>(values.data()),
                        values.size() * sizeof(int32_t)));
}

}  // namespace loom::distributed
