#!/usr/bin/env bash
# Trains a seed pipeline with Loom and with the PyTorch peer, one after the
# other on this machine, and prints seconds per epoch (median over epochs,
# training steps only, as the peer measures) and test accuracy side by side,
# with Loom's time as a fraction of the peer's. For pipeline 2 (bilstm) it
# then prints test inference rates: the peer's model, Loom's model alone and
# Loom's whole-process scoring (tests/inference:scoring_benchmark) with the
# model it just trained, and the bare oneDNN primitive.
#
#   tools/benchmark_peer.sh [--model bilstm|lstm] [--epochs N] [--threads N]
#                           [--data PATH] [--peer PATH]
#
# --data is the IMDb archive or folder (default: the cache setup.sh fills);
# --peer the peer script (default ../shared/bench/pytorch_peer.py). Needs
# PyTorch: tools/setup.sh --with-peer.
set -euo pipefail
cd "$(dirname "$0")/.."

model=bilstm epochs=0 threads=2 data="" peer="../shared/bench/pytorch_peer.py"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --model) model="$2"; shift 2 ;;
    --epochs) epochs="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --data) data="$2"; shift 2 ;;
    --peer) peer="$2"; shift 2 ;;
    *) echo "benchmark_peer: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[[ -f "$peer" ]] || { echo "benchmark_peer: no peer script at $peer" >&2; exit 1; }
# Debian's PyTorch lives in the system Python, which may not be first on PATH.
py=""
for candidate in python3 /usr/bin/python3; do
  if "$candidate" -c "import torch" 2>/dev/null; then py="$candidate"; break; fi
done
[[ -n "$py" ]] ||
  { echo "benchmark_peer: PyTorch missing: run tools/setup.sh --with-peer" >&2; exit 1; }

cache="${LOOM_CACHE_DIR:-$HOME/.cache/loom}"
if [[ -z "$data" ]]; then
  for c in "$cache/aclImdb" "$cache/aclImdb_v1.tar.gz" "$cache/aclImdb_v1_labeled.tar.gz"; do
    [[ -e "$c" ]] && { data="$c"; break; }
  done
fi
[[ -n "$data" ]] || { echo "benchmark_peer: no IMDb data; pass --data" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
if [[ -f "$data" ]]; then  # The peer reads folders only.
  tar -xzf "$data" -C "$work"
  folder="$work/aclImdb"
else
  folder="$(cd "$data" && pwd)"
  [[ -d "$folder/aclImdb" ]] && folder="$folder/aclImdb"
fi

bazel build -c opt //tools:train >/dev/null 2>&1
epoch_flag=()
[[ "$epochs" -gt 0 ]] && epoch_flag=(--epochs "$epochs")

echo "== PyTorch peer ($model, $threads threads)"
"$py" "$peer" --data "$folder" --model "$model" --threads "$threads" \
  "${epoch_flag[@]}" | tee "$work/peer.log"
echo "== Loom ($model, $threads threads)"
loom_epochs=()
[[ "$epochs" -gt 0 ]] && loom_epochs=(--epochs="$epochs")
bazel-bin/tools/train --graph="models/$model.pbtxt" --data="$folder" \
  --threads="$threads" --output_dir="$work/loom" --progress=lines \
  "${loom_epochs[@]}" | tee "$work/loom.log"

# Inference, pipeline 2 only (the scoring benchmark's bare primitive has its
# shape): Loom's model alone and whole-process scoring of IMDb's 25,000 test
# reviews with the model just trained, beside the bare primitive.
if [[ "$model" == bilstm ]]; then
  echo "== Loom scoring (tests/inference:scoring_benchmark)"
  bazel build -c opt //tests/inference:scoring_benchmark >/dev/null 2>&1
  OMP_NUM_THREADS="$threads" LOOM_IMDB="$data" \
    bazel-bin/tests/inference/scoring_benchmark --model="$work/loom/model" \
    --batch_sizes=128 --repeats=3 | tee "$work/scoring.log"
fi

"$py" - "$work" <<'PY'
import json, os, re, statistics, sys
work = sys.argv[1]
peer = json.loads(open(f"{work}/peer.log").read().strip().splitlines()[-1])
steps = [float(m) for m in re.findall(r"training steps ([0-9.]+) s",
                                      open(f"{work}/loom/results.txt").read())]
acc = re.findall(r"Test acc: ([0-9.]+)", open(f"{work}/loom.log").read())[-1]
loom_s = statistics.median(steps)
print(f"\n{'':24}{'PyTorch peer':>14}{'Loom':>10}")
print(f"{'s/epoch (median, train)':24}{peer['median_epoch_train_s']:>14.2f}{loom_s:>10.2f}")
print(f"{'test accuracy':24}{peer['test_acc']:>14.4f}{float(acc):>10.4f}")
print(f"Loom / peer time: {loom_s / peer['median_epoch_train_s']:.3f}")
if os.path.exists(f"{work}/scoring.log"):
    # batch primitive/s read/s encode/s model/s scoring/s model ratio
    row = open(f"{work}/scoring.log").read().strip().splitlines()[-1].split()
    primitive, model_rate, scoring = float(row[1]), float(row[4]), float(row[5])
    peer_rate = peer["test_samples"] / max(peer["test_infer_s"], 1e-9)
    print(f"\ntest inference, reviews/s (peer: {peer['test_samples']} encoded "
          f"reviews, batches of 512; Loom: 25,000, batches of 128)")
    print(f"{'  PyTorch peer, model':40}{peer_rate:>10.0f}")
    print(f"{'  Loom, model alone':40}{model_rate:>10.0f}")
    print(f"{'  Loom, whole process (read to write)':40}{scoring:>10.0f}")
    print(f"{'  bare oneDNN primitive':40}{primitive:>10.0f}")
    print(f"Loom model / peer model: {model_rate / peer_rate:.1f}x; "
          f"Loom whole process / bare primitive: {scoring / primitive:.3f}")
PY
