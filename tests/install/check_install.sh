#!/usr/bin/env bash
# The install check .ci/run runs: installs Loom into a fresh prefix with
# tools/install.sh, builds the C and C++ examples outside Bazel with
# pkg-config (cc / c++) and with CMake, runs them and the Python ctypes
# example on MODEL_DIR, and checks that all four give the probabilities
# tools/predict writes for the same texts (to the 6 decimals of its CSV).
#
#   tests/install/check_install.sh MODEL_DIR
set -euo pipefail
cd "$(dirname "$0")/../.."
model="${1:?usage: check_install.sh MODEL_DIR}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

tools/install.sh --prefix="$work/prefix"
export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig"
cc examples/c/classify.c $(pkg-config --cflags --libs loom) -o "$work/classify_c"
c++ -std=c++17 examples/cpp/classify.cc $(pkg-config --cflags --libs loom) \
  -o "$work/classify_cpp"
cmake -S examples/cmake -B "$work/cmake" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$work/cmake" >/dev/null

texts=("A wonderful film, I loved every minute of it."
  "Dreadful acting and a plot that makes no sense."
  "Not bad, but the ending ruined it.")
printf 'text\n' > "$work/texts.csv"
for t in "${texts[@]}"; do printf '"%s"\n' "$t" >> "$work/texts.csv"; done
bazel run //tools:predict -- --model="$(cd "$model" && pwd)" \
  --input="$work/texts.csv" --output="$work/scored.csv" >/dev/null

# The reference: the p_* columns of the scored CSV, one line per text.
python3 - "$work/scored.csv" > "$work/expected.tsv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
for r in rows:
    probs = [r[k] for k in r if k.startswith("p_")]
    print("\t".join([r["predicted_label"]] + probs))
PY
run() { "$@" "$model" "${texts[@]}"; }
run "$work/classify_c" > "$work/c.tsv"
run "$work/classify_cpp" > "$work/cpp.tsv"
run "$work/cmake/classify_c" > "$work/cmake_c.tsv"
LOOM_LIBRARY="$work/prefix/lib/libloom.so" run python3 examples/python/classify.py \
  > "$work/py.tsv"
for out in c cpp cmake_c py; do
  python3 - "$work/expected.tsv" "$work/$out.tsv" "$out" <<'PY'
import sys
expected = [l.split("\t") for l in open(sys.argv[1]).read().splitlines()]
got = [l.split("\t") for l in open(sys.argv[2]).read().splitlines()]
name = sys.argv[3]
assert len(got) == len(expected), f"{name}: {len(got)} lines, expected {len(expected)}"
for e, g in zip(expected, got):
    assert e[0] == g[0], f"{name}: label {g[0]} != {e[0]}"
    for a, b in zip(e[1:], g[1:]):
        assert abs(float(a) - float(b)) <= 5.1e-7, f"{name}: {b} != {a}"
print(f"install check: {name} example agrees with tools/predict on {len(got)} texts")
PY
done
echo "install check: passed (prefix $work/prefix)"
