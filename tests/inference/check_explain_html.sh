#!/usr/bin/env bash
# The HTML report check .ci/run runs (issue 12): tools/predict --input
# --explain_html on a CSV of reviews, then the page in headless Chromium:
#   - the DOM Chromium parsed (--dump-dom) holds one section per row, one
#     highlighted span per word with the attribution tools/predict --explain
#     --format=json gives, and the prefix curve as an SVG where the model
#     reads forward (a small pipeline 1 model trained here), none for
#     pipeline 2 (BiLSTM: MODEL_DIR);
#   - laid out (a script added to a copy of the page, run by Chromium): every
#     span has a box and a background color, every SVG a size and a point
#     per token;
#   - a screenshot is made (kept in SCREENSHOT_DIR if set, to look at).
# Every Chromium run and the training are bounded by `timeout`.
#
#   tests/inference/check_explain_html.sh MODEL_DIR
set -euo pipefail
cd "$(dirname "$0")/../.."
model="$(cd "${1:?usage: check_explain_html.sh MODEL_DIR}" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
chrome="$(command -v chromium || command -v chromium-browser || true)"
[[ -n "$chrome" ]] || { echo "html check: chromium is not installed (tools/setup.sh)" >&2; exit 1; }
fail() { echo "html check: $*" >&2; exit 1; }
bazel build //tools:predict //tools:train >/dev/null 2>&1
bin="$(bazel info bazel-bin 2>/dev/null)"

# A pipeline 1 model (forward LSTM), small and quick: its curve is drawn.
timeout 600 "$bin/tools/train" --graph=models/lstm.pbtxt --output_dir="$work/p1" \
  --train_limit=512 --test_limit=128 --epochs=1 --progress=lines \
  > "$work/train.log" 2>&1 || { cat "$work/train.log" >&2; fail "training pipeline 1 failed"; }

cat > "$work/reviews.csv" <<'CSV'
id,review
1,"A wonderful film, the acting was great and the story moving."
2,"Dreadful. Not good at all, a waste of two hours."
3,"zyzzyva quux"
4,"The plot was good but the ending ruined it."
5,"I expected a bad film, but in the end it was great."
6,"Not shown: beyond --explain_rows."
CSV

run_chrome() {  # run_chrome OUT ARGS...: bounded, its noise kept apart.
  local out="$1"; shift
  timeout 90 "$chrome" --headless --no-sandbox --disable-gpu \
    --disable-dev-shm-usage --user-data-dir="$work/chrome" "$@" \
    > "$out" 2> "$work/chrome.err" || { tail -5 "$work/chrome.err" >&2; fail "chromium failed: $*"; }
}

check_model() {  # check_model NAME DIR CURVES(yes|no)
  local name="$1" dir="$2" curves="$3"
  local html="$work/$name.html"
  "$bin/tools/predict" --model="$dir" --input="$work/reviews.csv" \
    --text_column=review --explain_html="$html" --explain_rows=5 \
    > "$work/$name.out" || fail "$name: predict --explain_html failed"
  grep -q "5 rows of .*, 4 explained" "$work/$name.out" \
    || fail "$name: predict said $(cat "$work/$name.out")"
  # What tools/predict --explain --format=json says of each explained row.
  : > "$work/$name.jsonl"
  for text in "A wonderful film, the acting was great and the story moving." \
      "Dreadful. Not good at all, a waste of two hours." \
      "The plot was good but the ending ruined it." \
      "I expected a bad film, but in the end it was great."; do
    "$bin/tools/predict" --model="$dir" --explain="$text" --format=json \
      >> "$work/$name.jsonl" || fail "$name: predict --explain failed"
  done
  run_chrome "$work/$name.dom" --dump-dom "file://$html"
  # The same page with a script that measures the layout Chromium made.
  python3 - "$html" "$work/$name.layout.html" <<'PY'
import sys
script = """<script>
const r = {};
const spans = [...document.querySelectorAll("span.w")];
r.spans = spans.length;
r.boxed = spans.filter(s => { const b = s.getBoundingClientRect();
                              return b.width > 0 && b.height > 0; }).length;
r.colored = spans.filter(s => getComputedStyle(s).backgroundColor
                              !== "rgba(0, 0, 0, 0)").length;
r.svgs = [...document.querySelectorAll("svg.prefix-curve")].map(s => {
  const b = s.getBoundingClientRect();
  return {width: b.width, height: b.height,
          points: s.querySelector("polyline").points.numberOfItems};
});
document.body.insertAdjacentHTML("beforeend",
  "<pre id='layout'>" + JSON.stringify(r) + "</pre>");
</script>"""
page = open(sys.argv[1]).read()
assert page.count("</body>") == 1
open(sys.argv[2], "w").write(page.replace("</body>", script + "</body>"))
PY
  run_chrome "$work/$name.layout.dom" --dump-dom "file://$work/$name.layout.html"
  run_chrome /dev/null --window-size=1000,1600 \
    --screenshot="$work/$name.png" "file://$html"
  [[ -s "$work/$name.png" ]] || fail "$name: no screenshot"
  if [[ -n "${SCREENSHOT_DIR:-}" ]]; then
    mkdir -p "$SCREENSHOT_DIR" && cp "$work/$name.png" "$work/$name.html" "$SCREENSHOT_DIR/"
  fi
  python3 - "$work/$name.dom" "$work/$name.layout.dom" "$work/$name.jsonl" \
    "$curves" "$name" <<'PY' || fail "$name: the report in Chromium is not as expected"
import html.parser, json, re, sys

dom_path, layout_path, jsonl_path, curves, name = sys.argv[1:]
expected = [json.loads(line) for line in open(jsonl_path)]

class Report(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.sections, self.spans, self.svgs = 0, [], []
        self.unexplained, self.in_span, self.in_unexplained = [], False, False
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section" and a.get("class") == "row":
            self.sections += 1
            self.spans.append([])
        elif tag == "span" and a.get("class") == "w":
            self.spans[-1].append([float(a["data-attribution"]), ""])
            self.in_span = True
        elif tag == "svg" and "prefix-curve" in a.get("class", ""):
            self.svgs.append(a.get("id"))
        elif tag == "p" and a.get("class") == "unexplained":
            self.in_unexplained = True
            self.unexplained.append("")
    def handle_endtag(self, tag):
        if tag == "span":
            self.in_span = False
        if tag == "p":
            self.in_unexplained = False
    def handle_data(self, data):
        if self.in_span:
            self.spans[-1][-1][1] += data
        if self.in_unexplained:
            self.unexplained[-1] += data

r = Report()
r.feed(open(dom_path).read())
assert r.sections == 5, r.sections
explained = [s for s in r.spans if s]
assert len(explained) == 4, [len(s) for s in r.spans]
for got, want in zip(explained, expected):
    words = [t for t in want["tokens"] if t["is_word"]]
    assert [w for _, w in got] == [t["word"] for t in words], (got, words)
    for (a, _), t in zip(got, words):
        assert abs(a - t["attribution"]) <= 1e-6 + 1e-5 * abs(a), (a, t)
assert len(r.unexplained) == 1 and "none of the text's 2 words" in r.unexplained[0], r.unexplained
want_svgs = ["prefix-curve-%d" % i for i in (1, 2, 4, 5)] if curves == "yes" else []
assert r.svgs == want_svgs, r.svgs

layout = json.loads(re.search(r'<pre id="layout">(.*?)</pre>',
                              open(layout_path).read(), re.S).group(1))
n_words = sum(len(s) for s in explained)
assert layout["spans"] == layout["boxed"] == layout["colored"] == n_words, layout
assert len(layout["svgs"]) == len(want_svgs), layout
for svg, want in zip(layout["svgs"], expected):
    assert svg["width"] > 100 and svg["height"] > 50, svg
    assert svg["points"] == len(want["tokens"]) == len(want["prefix_curve"]), (svg, want)
print("html check: %s: 5 sections, %d highlighted words with the attributions "
      "of predict --explain, %d prefix curves laid out, 1 row not explained "
      "(only unknown words)" % (name, n_words, len(layout["svgs"])))
PY
}

check_model lstm "$work/p1/model" yes
check_model bilstm "$model" no
echo "html check: passed"
