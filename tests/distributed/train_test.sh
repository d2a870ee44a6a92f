#!/usr/bin/env bash
# Data-parallel tools/train under mpirun (issue 16), end to end: with
# dropout off, 2 and 3 ranks give the per-epoch losses of one process
# (history.csv) within 1e-6 relative; only rank 0 prints and writes the run
# folder; ranks that read different data stop with a message naming the
# rank; a rank killed mid-training ends the job, never a hang.
#   train_test.sh TRAIN MODEL_FILE
set -euo pipefail
train="$1"; model_file="$2"

source "$(dirname "$0")/mpi_env.sh"
work="$TMPDIR/work"
mkdir -p "$work"
make_csv 3 900 > "$work/a.csv"
make_csv 4 900 > "$work/b.csv"
flags=(--graph="$model_file" --text_column=review --label_column=stars
  --epochs=3 --batch_size=64 --threads=1 --progress=lines)

"$train" "${flags[@]}" --data="$work/a.csv" --output_dir="$work/r1" \
  > "$work/r1.log" 2>&1 || { cat "$work/r1.log"; fail "one process"; }
for np in 2 3; do
  mpirun_ -np "$np" "$train" "${flags[@]}" --data="$work/a.csv" \
    --output_dir="$work/r$np" > "$work/r$np.log" 2>&1 ||
    { cat "$work/r$np.log"; fail "$np ranks"; }
  [[ $(grep -c '^Test loss' "$work/r$np.log") -eq 1 ]] ||
    { cat "$work/r$np.log"; fail "$np ranks: not one 'Test loss' line"; }
  # Columns 4 and 6: loss and val_loss of each epoch.
  paste -d, "$work/r1/history.csv" "$work/r$np/history.csv" | tail -n +2 |
    awk -F, -v np="$np" '{
      n = NF / 2
      for (c = 4; c <= 7; c++) {
        a = $c; b = $(c + n); d = a - b; if (d < 0) d = -d
        r = d / (a < 0 ? -a : a); if (r > worst) worst = r
      }
    } END {
      printf "%d ranks: largest relative difference of loss, accuracy, val_loss, val_accuracy per epoch: %.2e\n", np, worst
      exit !(worst <= 1e-6)
    }' || fail "$np ranks: the epoch metrics differ from one process"
  [[ -f $work/r$np/model/weights.ckpt ]] || fail "$np ranks: no model written"
done

echo "=== ranks that read different data"
if mpirun_ -np 2 sh -c 'f=a; [ "$OMPI_COMM_WORLD_RANK" = 1 ] && f=b
    exec "$0" "$@" --data="'"$work"'/$f.csv"' "$train" "${flags[@]}" \
    --output_dir="$work/rd" > "$work/rd.log" 2>&1; then
  cat "$work/rd.log"; fail "ranks with different data trained"
fi
grep -q "the ranks disagree on .*: rank 1 (hash" "$work/rd.log" ||
  { cat "$work/rd.log"; fail "no message naming rank 1"; }
grep -m1 "disagree" "$work/rd.log"

echo "=== a rank killed while training"
start=$SECONDS
if mpirun_ -np 2 sh -c 'if [ "$OMPI_COMM_WORLD_RANK" = 1 ]; then
      (sleep 2; kill -9 $$) & fi
    exec "$0" "$@"' "$train" "${flags[@]}" --epochs=50 \
    --data="$work/a.csv" --output_dir="$work/rk" > "$work/rk.log" 2>&1; then
  cat "$work/rk.log"; fail "the job succeeded"
fi
(( SECONDS - start < 60 )) || fail "took $((SECONDS - start)) s"
grep -q "process rank 1 .* exited on signal 9" "$work/rk.log" ||
  { cat "$work/rk.log"; fail "no message naming rank 1"; }
grep -m1 "exited on signal" "$work/rk.log"
echo PASS
