#!/bin/sh
# Order dependence: sentences that need word order ("not good" vs "good",
# "bad, but in the end great" vs "great, but in the end bad"), scored by
# model folders. Half the set are pairs of the same words in another order,
# which a bag-of-words model must score alike: at most one of each pair is
# right for it.
#   examples/order_dependence/run.sh bazel-bin/tools/predict MODEL_DIR...
set -eu
predict=$1; shift
here=$(dirname "$0")
for model in "$@"; do
  cut -f2 "$here/sentences.tsv" > /tmp/order_texts.$$
  "$predict" --model="$model" --file=/tmp/order_texts.$$ |
    paste "$here/sentences.tsv" - |
    awk -F'\t' -v model="$model" '
      { p = $3; predicted = (p >= 0.5) ? 1 : 0; right += (predicted == $1);
        printf "%s  %.3f  %s\n", (predicted == $1 ? "ok " : "BAD"), p, $2 }
      END { printf "%s: %d/%d right (%.0f%%)\n\n", model, right, NR,
            100 * right / NR }'
  rm -f /tmp/order_texts.$$
done
