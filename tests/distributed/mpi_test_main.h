// The main of a GoogleTest binary that run_mpi_tests.sh starts under mpirun
// (or alone: a group of one without MPI). Every rank runs every test.
#ifndef LOOM_TESTS_DISTRIBUTED_MPI_TEST_MAIN_H_
#define LOOM_TESTS_DISTRIBUTED_MPI_TEST_MAIN_H_

#include "framework/distributed/communicator.h"

namespace loom::distributed {

// Initializes GoogleTest (rank 0 prints the whole log, the others only
// their failures), creates the communicator and points `*comm` at it while
// the tests run. Returns 0 when every rank's tests passed, else 1 (also
// when the communicator cannot be made; `name` starts that message).
int RunTestsOnEveryRank(const char* name, int argc, char** argv,
                        Communicator** comm);

}  // namespace loom::distributed

#endif  // LOOM_TESTS_DISTRIBUTED_MPI_TEST_MAIN_H_
