#!/usr/bin/env bash
# Resume checkpoints under mpirun (issue 16), end to end with tools/train on
# 2 ranks and a model with dropout (so each rank's own random generators
# must be restored):
#   - 2 epochs straight against 1 epoch, then --resume to 2: the same
#     history.csv metrics, to the last digit;
#   - a stop request (SIGTERM) sent to rank 1 alone mid-training (with
#     --checkpoint_every=4, so mid-epoch checkpoints are written too): it is
#     reduced over the ranks, so both stop after the same step and rank 0
#     writes the checkpoint; resuming ends as the uninterrupted run. The
#     signal goes to the rank, not to mpirun (mpirun forwards a SIGTERM to
#     every rank and kills them about 1 s later, too soon for a slow step);
#   - a checkpoint of 2 ranks resumed with 3 is refused, saying both.
#   resume_test.sh TRAIN MODEL_FILE
set -euo pipefail
train="$1"; model_file="$2"

source "$(dirname "$0")/mpi_env.sh"
work="$TMPDIR/work"
mkdir -p "$work"
make_csv 3 900 > "$work/a.csv"
flags=(--graph="$model_file" --text_column=review --label_column=stars
  --data="$work/a.csv" --batch_size=64 --threads=1 --progress=lines)
# Columns 4-7 of history.csv (loss, accuracy, val_loss, val_accuracy).
metrics() { cut -d, -f1,4- "$1/history.csv"; }

echo "=== 2 epochs straight against 1 epoch + --resume"
mpirun_ -np 2 "$train" "${flags[@]}" --epochs=2 --output_dir="$work/straight" \
  > "$work/straight.log" 2>&1 || { cat "$work/straight.log"; fail "straight"; }
mpirun_ -np 2 "$train" "${flags[@]}" --epochs=1 --output_dir="$work/part" \
  > "$work/part.log" 2>&1 || { cat "$work/part.log"; fail "first epoch"; }
mpirun_ -np 2 "$train" --resume="$work/part" --epochs=2 --threads=1 \
  --progress=lines > "$work/resumed.log" 2>&1 ||
  { cat "$work/resumed.log"; fail "resume"; }
metrics "$work/straight"
diff <(metrics "$work/straight") <(metrics "$work/part") ||
  fail "the resumed run's metrics differ from the straight run's"

echo "=== a stop request on rank 1 alone, mid-training"
mpirun_ -np 2 "$train" "${flags[@]}" --epochs=5 --output_dir="$work/s5" \
  > "$work/s5.log" 2>&1 || { cat "$work/s5.log"; fail "5 epochs straight"; }
( mpirun_ -np 2 sh -c 'echo $$ > "'"$work"'/pid.$OMPI_COMM_WORLD_RANK"
    exec "$0" "$@"' "$train" "${flags[@]}" --epochs=5 --checkpoint_every=4 \
    --output_dir="$work/stop" > "$work/stop.log" 2>&1 || true ) &
job=$!
for ((i = 0; i < 3000; i++)); do
  grep -q "^Epoch 3/" "$work/stop.log" 2>/dev/null && break
  sleep 0.02
done
kill -TERM "$(cat "$work/pid.1")"
wait "$job"
cat "$work/stop.log" | grep -v '^\[' | grep -i "stop" || true
grep -q "stopped after .* and wrote a resume checkpoint" "$work/stop.log" ||
  { cat "$work/stop.log"; fail "no stop with a checkpoint"; }
[[ $(grep -c "wrote a resume checkpoint to" "$work/stop.log") -eq 1 ]] ||
  { cat "$work/stop.log"; fail "not one rank (0) reporting the checkpoint"; }
mpirun_ -np 2 "$train" --resume="$work/stop" --threads=1 --progress=lines \
  > "$work/stop_resumed.log" 2>&1 ||
  { cat "$work/stop_resumed.log"; fail "resume after the stop"; }
grep "^Resuming" "$work/stop_resumed.log"
diff <(metrics "$work/s5") <(metrics "$work/stop") ||
  fail "the run stopped and resumed differs from the straight run"

echo "=== another number of ranks"
if mpirun_ -np 3 "$train" --resume="$work/part" --epochs=3 --threads=1 \
    --progress=lines > "$work/mismatch.log" 2>&1; then
  cat "$work/mismatch.log"; fail "resumed with 3 ranks"
fi
grep -m1 "written by 2 ranks (mpirun -np 2), this run has 3 ranks" \
  "$work/mismatch.log" || { cat "$work/mismatch.log"; fail "no message"; }
echo PASS
