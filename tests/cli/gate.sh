#!/usr/bin/env bash
# PTQ-vs-QAT run end to end on a tiny model: every configured method gets a
# row in report.json (fp32, rtn, gptq, awq, smoothquant, qat, qat_from_ptq),
# report.md and the SVG plots are written, and the gate: the base memorises a
# sentence (a .jsonl suite of its completions scores 1.0 in FP32), QAT with
# a learning rate of 0.3 destroys it in 3 steps, so qat_train exits 3, names
# the suite on stderr, and still writes the report with "passed": false. A
# second run from the same base with max_regression 1 passes and exits 0.
set -euo pipefail
bin=${QATC_BIN:?}/qat_train
py=${QATC_PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qatc_gate_XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# suite answers end in a newline, so the text is one sentence per line
for i in $(seq 1 400); do echo 'the quick brown fox jumps over the lazy dog.'; done > "$tmp/text.txt"
{
  echo '{"prompt": "the quick brown fox jumps over the la", "answer": "zy dog."}'
  echo '{"prompt": "the quick brown fox jumps over the lazy d", "answer": "og."}'
  echo '{"prompt": "dog.\\nthe quick brown fox jumps over", "answer": " the lazy dog."}'
  echo '{"prompt": "the quick brown fox ju", "answer": "mps over the lazy dog."}'
} > "$tmp/sent.jsonl"

cfg() { # cfg OUT_DIR MAX_REGRESSION MODEL_INIT_JSON PTQ INIT_FROM
cat <<JSON
{ "seed": 5, "threads": 2, "out_dir": "$1",
  "model": {"dim": 32, "layers": 2, "heads": 4, "ffn": 64, "ctx": 64 $3},
  "data": {"train": ["$tmp/text.txt"], "val_fraction": 0.1},
  "base": {"steps": 150, "batch": 8, "lr": 3e-3, "warmup": 5},
  "quant": {"weights": {"bits": 4, "group": 16}},
  "ptq": $4,
  "train": {"steps": 3, "batch": 4, "lr": 0.3, "scale_lr": 0.3, "warmup": 0, "ckpt_every": 0, "eval_every": 0,
            "log_every": 1, "init_from": "$5"},
  "eval": {"suites": ["text", "$tmp/sent.jsonl", "kl"], "samples": 4, "val_tokens": 2048, "max_regression": $2} }
JSON
}
all='[{"method": "rtn"}, {"method": "gptq", "calib_tokens": 1024}, {"method": "awq", "calib_tokens": 1024},
      {"method": "smoothquant", "calib_tokens": 1024}]'
cfg "$tmp/a" 0.1 "" "$all" awq > "$tmp/a.json"
set +e
"$bin" "$tmp/a.json" 2> "$tmp/a.log"
rc=$?
set -e
[ "$rc" -eq 3 ] || fail "expected exit 3 (regression), got $rc: $(tail -3 "$tmp/a.log")"
grep -q "qatc: gate: 1 suite(s) regressed by more than 0.100 vs fp32 in qat_from_ptq: sent 1.000 -> " "$tmp/a.log" ||
  fail "gate message missing: $(grep gate "$tmp/a.log")"
for f in report.json report.md plots/qat_loss.svg plots/val_bpb.svg plots/suite_sent.svg; do
  [ -s "$tmp/a/$f" ] || fail "$f not written"
done
"$py" - "$tmp/a" <<'PY' || fail "report content"
import json, sys, xml.dom.minidom
d = sys.argv[1]
r = json.load(open(d + "/report.json"))
want = ["fp32", "rtn", "gptq", "awq", "smoothquant", "qat", "qat_from_ptq"]
assert list(r["methods"]) == want, list(r["methods"])
for name, m in r["methods"].items():
    for k in ["val_bpb", "val_ppl", "suites", "kl_vs_fp32", "top1_vs_fp32", "bytes", "bits_per_weight", "seconds"]:
        assert k in m, (name, k)
    assert "sent" in m["suites"], name
assert r["methods"]["fp32"]["suites"]["sent"] == 1.0, r["methods"]["fp32"]
assert r["methods"]["qat_from_ptq"]["init_from"] == "awq"
assert r["methods"]["gptq"]["calibration"]["tokens"] == 1024
g = r["gate"]
assert g["model"] == "qat_from_ptq" and g["passed"] is False, g
assert [x["suite"] for x in g["regressions"]] == ["sent"], g
assert r["qatc_version"] and r["config"]["train"]["init_from"] == "awq"
md = open(d + "/report.md").read()
assert "FAILED" in md and "| qat_from_ptq (from awq) |" in md, md
for f in ["qat_loss", "val_bpb", "suite_sent"]:
    xml.dom.minidom.parse(d + "/plots/" + f + ".svg")   # well-formed
PY

cfg "$tmp/b" 1 ", \"init\": \"$tmp/a/base.h5\"" '[{"method": "rtn"}]' none > "$tmp/b.json"
"$bin" "$tmp/b.json" 2> "$tmp/b.log" || fail "max_regression 1 should pass: $(tail -3 "$tmp/b.log")"
grep -q "gate: passed" "$tmp/b.log" || fail "no pass message"
echo "gate.sh: ok"
