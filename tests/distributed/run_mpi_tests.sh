#!/usr/bin/env bash
# Runs the distributed tests' binaries under mpirun on this one machine:
#   run_mpi_tests.sh communicator TEST_BINARY   gtest binary alone, -np 2, 3
#   run_mpi_tests.sh scenarios SCENARIO_BINARY  failures end the job
#   run_mpi_tests.sh ranks "1 2 3" BINARY [ARGS] a binary at each -np
# Ranks share the cores (--oversubscribe); CI runs as root
# (--allow-run-as-root); see mpi_env.sh.
set -euo pipefail

source "$(dirname "$0")/mpi_env.sh"

mode="$1"; shift
case "$mode" in
  communicator)
    bin="$1"
    "$bin"  # Alone: a group of one, no MPI.
    for np in 2 3; do
      echo "=== $bin with $np ranks"
      mpirun_ -np "$np" "$bin" || fail "$bin with $np ranks"
    done
    ;;
  scenarios)
    bin="$1"
    out="$TMPDIR/out.txt"
    echo "=== ok (3 ranks)"
    mpirun_ -np 3 "$bin" ok >"$out" 2>&1 || { cat "$out"; fail "ok"; }
    grep -q "ok: done" "$out" || { cat "$out"; fail "ok did not finish"; }

    echo "=== disagree (3 ranks)"
    if mpirun_ -np 3 "$bin" disagree >"$out" 2>&1; then
      cat "$out"; fail "disagree: the job succeeded"
    fi
    cat "$out"
    grep -q "disagree on the model file (m.pbtxt): rank 2 (hash" "$out" ||
      fail "disagree: no message naming rank 2"

    echo "=== die (2 ranks)"
    start=$SECONDS
    if mpirun_ -np 2 "$bin" die >"$out" 2>&1; then
      cat "$out"; fail "die: the job succeeded"
    fi
    cat "$out"
    (( SECONDS - start < 60 )) || fail "die: took $((SECONDS - start)) s"
    grep -qi "rank 1" "$out" || fail "die: no message naming rank 1"

    echo "=== stall (2 ranks, 3 s timeout)"
    start=$SECONDS
    if LOOM_MPI_TIMEOUT_SECONDS=3 mpirun_ -x LOOM_MPI_TIMEOUT_SECONDS \
        -np 2 "$bin" stall >"$out" 2>&1; then
      cat "$out"; fail "stall: the job succeeded"
    fi
    cat "$out"
    (( SECONDS - start < 30 )) || fail "stall: took $((SECONDS - start)) s"
    grep -q "rank 0 of 2: the other ranks did not take part within 3 s" \
      "$out" || fail "stall: no timeout message"

    echo "=== stall_async (2 ranks, 3 s timeout, non-blocking allreduce)"
    start=$SECONDS
    if LOOM_MPI_TIMEOUT_SECONDS=3 mpirun_ -x LOOM_MPI_TIMEOUT_SECONDS \
        -np 2 "$bin" stall_async >"$out" 2>&1; then
      cat "$out"; fail "stall_async: the job succeeded"
    fi
    cat "$out"
    (( SECONDS - start < 30 )) ||
      fail "stall_async: took $((SECONDS - start)) s"
    grep -q "MPI_Iallreduce of gradient bucket 0 on rank 0 of 2: the other ranks did not take part within 3 s" \
      "$out" || fail "stall_async: no timeout message"
    ;;
  ranks)
    nps="$1"; shift
    for np in $nps; do
      echo "=== $* with $np ranks"
      mpirun_ -np "$np" "$@" || fail "$* with $np ranks"
    done
    ;;
  *) fail "unknown mode $mode" ;;
esac
echo "PASS"
