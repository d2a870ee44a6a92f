#!/usr/bin/env bash
# Builds Loom's libFuzzer targets (--config=fuzz: clang-14 with
# -fsanitize=fuzzer,address,undefined) and fuzzes each for a bounded time,
# starting from its checked-in seed corpus (tests/fuzz/corpus/<target>/).
#
#   tests/fuzz/run_fuzzers.sh [SECONDS_PER_TARGET] [TARGET...]
#
# SECONDS_PER_TARGET defaults to 30; TARGETs (e.g. model_fuzzer) default to
# every fuzz target in tests/fuzz/BUILD. Fails (exit 1) on any crash, leak,
# timeout (one input over 10 s), out-of-memory (2 GiB) or sanitizer report,
# and keeps the input that caused it: the summary names the file, which is
# to be fixed and then copied into the target's corpus as a regression seed.
# Prints each target's executions and coverage (libFuzzer's last "#N DONE
# cov: ..." line). New inputs libFuzzer finds go to a scratch copy of the
# corpus, never into the checked-in one.
#
# Targets run in parallel, one per core (LOOM_FUZZ_JOBS=N to change it), so
# the whole run takes about SECONDS * targets / cores plus the build. Set
# LOOM_FUZZ_OUT=DIR to keep logs and findings in DIR (default: a new
# temporary folder, printed at the end).
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds="${1:-30}"
shift || true
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [[ "$seconds" -eq 0 ]]; then
  echo "run_fuzzers: SECONDS_PER_TARGET must be a positive integer, got '$seconds'" >&2
  exit 2
fi
for tool in clang-14 bazel; do
  if ! command -v "$tool" >/dev/null; then
    echo "run_fuzzers: $tool is missing (tools/setup.sh installs clang-14 and libfuzzer-14-dev)" >&2
    exit 2
  fi
done

if [[ $# -gt 0 ]]; then
  targets=("$@")
else
  mapfile -t targets < <(bazel query --noshow_progress \
    'attr(tags, "fuzz_target", tests(//tests/fuzz:all))' 2>/dev/null |
    sed 's|^//tests/fuzz:||')
fi
if [[ ${#targets[@]} -eq 0 ]]; then
  echo "run_fuzzers: no fuzz targets found in //tests/fuzz" >&2
  exit 2
fi

out="${LOOM_FUZZ_OUT:-$(mktemp -d -t loom_fuzz.XXXXXX)}"
mkdir -p "$out"
echo "run_fuzzers: building ${#targets[@]} targets with --config=fuzz"
bazel build --config=fuzz --noshow_progress "${targets[@]/#/\/\/tests\/fuzz:}"
bin="$(bazel info --config=fuzz bazel-bin 2>/dev/null)/tests/fuzz"

# Leaks, UB and ASan reports all abort the input; libFuzzer's own -timeout,
# -rss_limit_mb and -malloc_limit_mb (= rss limit) catch hangs and memory
# blow-ups.
export ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=0:handle_abort=1:symbolize=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
symbolizer="$(command -v llvm-symbolizer-14 || command -v llvm-symbolizer || true)"
[[ -n "$symbolizer" ]] && export ASAN_SYMBOLIZER_PATH="$symbolizer"

# Fuzzes target $1 into $out/$1/ (log, scratch corpus, findings, rc).
fuzz_one() {
  local t="$1" work="$out/$1" rc=0
  rm -rf "$work"
  mkdir -p "$work/corpus" "$work/findings"
  cp "tests/fuzz/corpus/$t"/* "$work/corpus/"
  local dict=()
  [[ -f "tests/fuzz/$t.dict" ]] && dict=("-dict=tests/fuzz/$t.dict")
  # The outer timeout only guards against libFuzzer itself hanging.
  timeout --kill-after=30 $((seconds + 120)) "$bin/$t" \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 -artifact_prefix="$work/findings/" "${dict[@]}" \
    "$work/corpus" >"$work/log" 2>&1 || rc=$?
  echo "$rc" >"$work/rc"
}

# One libFuzzer process per core (each is single-threaded), at most
# LOOM_FUZZ_JOBS at a time.
jobs_max="${LOOM_FUZZ_JOBS:-$(nproc)}"
failed=()
for t in "${targets[@]}"; do
  if [[ ! -x "$bin/$t" || ! -d "tests/fuzz/corpus/$t" ]]; then
    echo "run_fuzzers: $t: no binary or no corpus folder tests/fuzz/corpus/$t" >&2
    failed+=("$t")
    continue
  fi
  while [[ $(jobs -rp | wc -l) -ge $jobs_max ]]; do wait -n || true; done
  echo "run_fuzzers: $t: fuzzing for ${seconds} s"
  fuzz_one "$t" &
done
wait

summary=()
for t in "${targets[@]}"; do
  work="$out/$t"
  [[ -f "$work/rc" ]] || continue
  rc="$(cat "$work/rc")"
  done_line="$(grep -E '^#[0-9]+[[:space:]]+DONE' "$work/log" | tail -1 |
    tr -s ' \t' ' ' || true)"
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)"
  findings=("$work"/findings/*)
  [[ -e "${findings[0]}" ]] || findings=()
  if [[ $rc -ne 0 || ${#findings[@]} -gt 0 || -z "$done_line" ]]; then
    failed+=("$t")
    summary+=("FAIL $t (exit $rc): ${findings[*]:-no input saved}; log $work/log")
    echo "run_fuzzers: $t FAILED (exit $rc); the report:" >&2
    grep -E -A25 '==[0-9]+==ERROR|runtime error|ERROR: libFuzzer|invariant broken|Test unit written' \
      "$work/log" | head -60 >&2 || tail -30 "$work/log" >&2
  else
    summary+=("ok   $t: ${execs:-?} executions; $done_line")
  fi
done

echo
echo "run_fuzzers: ${seconds} s per target; logs in $out"
printf '  %s\n' "${summary[@]}"
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "run_fuzzers: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "run_fuzzers: all ${#targets[@]} targets ran without a crash, leak or timeout"
