# Sourced by the distributed tests' scripts: the environment their mpirun
# runs ranks in, and mpirun_ (a bounded mpirun on this one machine).
# MPI's session files go to a short /tmp folder (Bazel's TEST_TMPDIR is too
# long for a Unix socket path); the ranks talk over shared memory; under
# --config=asan, Open MPI's own leaks at exit are suppressed
# (mpi_lsan.supp, each explained) and stacks unwound without frame
# pointers, which Debian's Open MPI lacks.
export TMPDIR="$(mktemp -d /tmp/loom_mpi.XXXXXX)"
trap 'rm -rf "$TMPDIR"' EXIT
export OMPI_MCA_btl=self,vader
export OMPI_MCA_mca_base_component_disable_dlclose=1
export LSAN_OPTIONS="suppressions=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/mpi_lsan.supp:print_suppressions=0"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"
mpirun_() {
  timeout --signal=KILL 300 mpirun --oversubscribe --allow-run-as-root \
    --bind-to none -x ASAN_OPTIONS -x LSAN_OPTIONS "$@"
}
fail() { echo "FAIL: $*" >&2; exit 1; }
# A CSV of ROWS generated reviews (id,review,stars; stars 5 when the
# words lean positive, else 1), the same for the same SEED.
make_csv() {  # make_csv SEED ROWS > file
  awk -v seed="$1" -v rows="$2" 'BEGIN {
    srand(seed); print "id,review,stars"
    split("good great fine bad awful terrible nice poor lovely boring", w, " ")
    for (i = 1; i <= rows; i++) {
      n = 3 + int(rand() * 30); t = ""; s = 0
      for (j = 0; j < n; j++) {
        k = 1 + int(rand() * 10); t = t (j ? " " : "") w[k]
        s += (k == 1 || k == 2 || k == 3 || k == 7 || k == 9) ? 1 : -1
      }
      printf "%d,\"%s\",%d\n", i, t, (s > 0 ? 5 : 1)
    }
  }'
}
