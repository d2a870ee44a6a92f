#!/usr/bin/env bash
# Sharded scoring (issue 16): tools/predict under mpirun with 2 and 3 ranks
# writes the same file, byte for byte, as one process, for CSV (quoted
# fields with embedded newlines, commas, doubled quotes, CRLF, blank lines),
# TSV and JSON Lines; a bad row in another rank's part stops the job with
# the input's own file name and line.
#   sharded_scoring_test.sh TRAIN PREDICT MODEL_FILE
set -euo pipefail
train="$1"; predict="$2"; model_file="$3"

source "$(dirname "$0")/mpi_env.sh"
work="$TMPDIR/work"
mkdir -p "$work"

# 1,000 reviews of ten words; every 7th has a second line, every 11th a
# doubled quote, every 13th leading newlines and a CRLF, and a blank line
# after every 50th row.
awk 'BEGIN {
  srand(3); print "id,review,stars"
  split("good great fine bad awful terrible nice poor lovely boring", w, " ")
  for (i = 1; i <= 1000; i++) {
    n = 3 + int(rand() * 30); t = ""; s = 0
    for (j = 0; j < n; j++) {
      k = 1 + int(rand() * 10); t = t (j ? " " : "") w[k]
      s += (k == 1 || k == 2 || k == 3 || k == 7 || k == 9) ? 1 : -1
    }
    if (i % 7 == 0) t = t "\nsecond line, with a comma"
    if (i % 11 == 0) t = t " said \"\"quoted\"\""
    if (i % 13 == 0) t = "\n\n" t "\r\n"
    printf "%d,\"%s\",%d\n", i, t, (s > 0 ? 5 : 1)
    if (i % 50 == 0) print ""
  }
}' > "$work/reviews.csv"
# TSV and JSON Lines of the same reviews (newlines as spaces / \n escapes).
awk 'BEGIN {
  srand(5); print "review\tstars"
  split("good great fine bad awful terrible nice poor lovely boring", w, " ")
  for (i = 1; i <= 600; i++) {
    t = ""; for (j = 0; j < 12; j++) t = t (j ? " " : "") w[1 + int(rand() * 10)]
    if (i % 9 == 0) t = "\"" t "\nwith a newline\""
    printf "%s\t%d\n", t, i % 2 ? 5 : 1
  }
}' > "$work/reviews.tsv"
awk 'BEGIN {
  srand(7)
  split("good great fine bad awful terrible nice poor lovely boring", w, " ")
  for (i = 1; i <= 600; i++) {
    t = ""; for (j = 0; j < 12; j++) t = t (j ? " " : "") w[1 + int(rand() * 10)]
    if (i % 9 == 0) t = t "\\nwith \\\"escapes\\\""
    printf "{\"id\": %d, \"text\": \"%s\", \"stars\": %d}\n", i, t, i % 2 ? 5 : 1
    if (i % 40 == 0) print ""
  }
}' > "$work/reviews.jsonl"

"$train" --graph="$model_file" --data="$work/reviews.csv" \
  --text_column=review --label_column=stars --output_dir="$work/run" \
  --epochs=1 --threads=1 > "$work/train.log" 2>&1 || {
  cat "$work/train.log"; fail "training the model"; }
model="$work/run/model"

for input in reviews.csv reviews.tsv reviews.jsonl; do
  ext="${input##*.}"
  # Batches of 16 (and chunks of 8,192): the parts hold whole batches.
  flags=(--model="$model" --input="$work/$input" --batch_size=16 --threads=1)
  [[ $ext == jsonl ]] && flags+=(--text_column=text)
  "$predict" "${flags[@]}" --output="$work/one.$ext" > "$work/one.log"
  for np in 2 3; do
    mpirun_ -np "$np" "$predict" "${flags[@]}" --output="$work/n$np.$ext" \
      > "$work/n$np.log" 2> "$work/n$np.err" ||
      { cat "$work/n$np.log" "$work/n$np.err"; fail "$input, $np ranks"; }
    cmp "$work/one.$ext" "$work/n$np.$ext" ||
      fail "$input: $np ranks wrote another file than one process"
    # The same summary but for the timing.
    norm() { sed -e 's/in [0-9.]* s ([0-9]* rows\/s)//' -e 's/into [^ ]*//' "$1"; }
    diff <(norm "$work/one.log") <(norm "$work/n$np.log") ||
      fail "$input: the summaries differ"
    echo "ok: $input, $np ranks: $(wc -c < "$work/n$np.$ext") bytes identical"
  done
done
# No part files are left behind.
if compgen -G "$TMPDIR/loom_score.*" > /dev/null; then
  fail "part files left in TMPDIR"
fi

# A row with a missing field near the end: rank 2's part. The error names
# the input file and the line, as with one process.
{ cat "$work/reviews.csv"; printf '1001,"only two fields"\n'; } > "$work/bad.csv"
if "$predict" --model="$model" --input="$work/bad.csv" --output="$work/x.csv" \
    --batch_size=16 > "$work/one.err" 2>&1; then
  fail "one process accepted the bad row"
fi
if mpirun_ -np 3 "$predict" --model="$model" --input="$work/bad.csv" \
    --output="$work/y.csv" --batch_size=16 > "$work/n3.err" 2>&1; then
  fail "3 ranks accepted the bad row"
fi
want="$(grep -o 'bad.csv:[0-9]*: row has 2 fields, the header 3' "$work/one.err")"
[[ -n $want ]] || { cat "$work/one.err"; fail "no error from one process"; }
grep -q "rank 2 of 3: .*$want" "$work/n3.err" ||
  { cat "$work/n3.err"; fail "3 ranks: no error '$want' from rank 2"; }
[[ ! -e $work/y.csv ]] || fail "an output file after an error"
echo "ok: bad row reported as '$want' by rank 2"
echo PASS
