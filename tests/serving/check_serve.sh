#!/usr/bin/env bash
# The service check .ci/run runs: starts tools/serve on MODEL_DIR on a free
# loopback port, checks each endpoint (:explain's completeness too) and
# errors with curl, runs the load
# test (bounded), then stops the service with SIGTERM and checks it exits 0.
#
#   tests/serving/check_serve.sh MODEL_DIR [LOAD_TEST_SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
model="$(cd "${1:?usage: check_serve.sh MODEL_DIR}" && pwd)"
seconds="${2:-10}"
work="$(mktemp -d)"
bazel build //tools:serve //tools:load_test >/dev/null 2>&1
bin="$(bazel info bazel-bin 2>/dev/null)"
"$bin/tools/serve" --model="$model" --port=0 --log_requests=false \
  > "$work/serve.out" 2> "$work/serve.err" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do
  grep -q "^Serving" "$work/serve.out" 2>/dev/null && break
  sleep 0.1
done
line="$(head -1 "$work/serve.out")"
url="$(echo "$line" | sed -n 's|.* on \(http://[^ ]*\)$|\1|p')"
name="${url##*/}"
base="${url%/v1/models/*}"
echo "service check: $line"
fail() { echo "service check: $*" >&2; cat "$work/serve.err" >&2; exit 1; }
body="$(curl -sf -d '{"instances": ["A wonderful film.", {"text": "Dreadful."}]}' \
  "$url:predict")" || fail "predict failed"
echo "$body" | grep -q '"predictions"' || fail "predict answered $body"
body="$(curl -sf -d '{"instances": ["A wonderful film.", {"text": "Dreadful, not good."}], "steps": 50}' \
  "$url:explain")" || fail "explain failed"
echo "$body" | python3 -c '
import json, sys
e = json.load(sys.stdin)["explanations"]
assert len(e) == 2, len(e)
for x in e:
    words = [t["word"] for t in x["tokens"] if t["is_word"]]
    assert words, x
    total = sum(t["attribution"] for t in x["tokens"])
    gap = x["target_probability"] - x["baseline_probability"]
    assert abs(total - gap) < 0.05, (total, gap)
print("service check: explain:", " ".join(
    "%s(%+.3f)" % (t["word"], t["attribution"]) for t in e[1]["tokens"]
    if t["is_word"]), "completeness error %.2g" % e[1]["completeness_error"])
' || fail "explain answered $body"
code="$(curl -s -o "$work/err.json" -w '%{http_code}' \
  -d '{"instances": ["good"], "steps": 100000}' "$url:explain")"
[[ "$code" == 400 ]] && grep -q 'max_explain_steps' "$work/err.json" \
  || fail "explain with too many steps gave $code"
curl -sf "$url" | grep -q '"AVAILABLE"' || fail "status"
curl -sf "$url/metadata" | grep -q '"classes"' || fail "metadata"
curl -sf "$base/healthz" >/dev/null || fail "healthz"
curl -sf "$base/readyz" >/dev/null || fail "readyz"
code="$(curl -s -o "$work/err.json" -w '%{http_code}' -d '{"instances": 1}' "$url:predict")"
[[ "$code" == 400 ]] && grep -q '"error"' "$work/err.json" || fail "bad request gave $code"
port="$(echo "$base" | sed 's|.*:||')"
"$bin/tools/load_test" --port="$port" --model="$name" --concurrency=1,8,64 \
  --requests=20000 --seconds="$seconds" || fail "the load test saw failed requests"
curl -sf "$base/metrics" | grep -q 'loom_requests_total{code="200"}' || fail "metrics"
kill -TERM "$pid"
wait "$pid" || fail "serve exited $? after SIGTERM"
trap 'rm -rf "$work"' EXIT
echo "service check: passed (SIGTERM: exit 0)"
