#!/usr/bin/env bash
# The service check .ci/run runs: starts tools/serve on MODEL_DIR on a free
# loopback port, checks each endpoint and an error with curl, runs the load
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
