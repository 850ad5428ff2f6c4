#!/usr/bin/env bash
# export[].format "imatrix" from qat_train: a qwen2 model trained here on text
# + arithmetic with calib.source "train" writes imatrix.gguf beside its GGUF
# export; npm @huggingface/gguf reads both (tests/oracles/imatrix_meta.mjs):
# llama-imatrix's keys and value types, one in_sum2/counts pair per weight of
# the model file under its exact name and input width, counts = windows ·
# ctx. The config rule refuses, before any work, an imatrix entry on the mlp
# arch and one with a weight key, naming the key (exit 1, one line).
set -euo pipefail
bin=${QATC_BIN:?}; py=${QATC_PYTHON:-/usr/bin/python3}; src=${QATC_SRC:?}
fail() { echo "FAIL: $*" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qatc_imatrix_XXXXXX")
trap 'rm -rf "$tmp"' EXIT
"$py" -c "
import random
r = random.Random(3)
w = 'alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu'.split()
open('$tmp/t.txt', 'w').write('\n'.join(' '.join(r.choice(w) for _ in range(8)) for _ in range(600)))
"
cat > "$tmp/c.json" <<JSON
{"seed": 4, "threads": 2, "out_dir": "$tmp/run",
 "model": {"arch": "qwen2", "dim": 64, "layers": 2, "heads": 2, "ffn": 128, "ctx": 32},
 "data": {"train": ["$tmp/t.txt", {"suite": "arith", "weight": 0.3}], "val_fraction": 0.1},
 "base": {"steps": 10, "batch": 4, "lr": 3e-3, "warmup": 2},
 "quant": {"weights": {"bits": 4, "group": 32, "grid": "sym", "fp16_scales": true}},
 "ptq": [], "calib": {"source": "train"},
 "train": {"steps": 3, "batch": 4, "warmup": 1, "ckpt_every": 0, "eval_every": 0},
 "eval": {"suites": ["text"], "samples": 4, "val_tokens": 256, "max_regression": 1.0},
 "export": [{"format": "gguf", "type": "F32", "path": "model-f32.gguf"},
            {"format": "imatrix", "path": "imatrix.gguf", "calib_tokens": 200}]}
JSON
"$bin/qat_train" "$tmp/c.json" > "$tmp/train.log" 2>&1 || fail "qat_train: $(tail -3 "$tmp/train.log")"
# 200 tokens in windows of 32: 7 windows, 224 tokens per Linear
(cd "$src/tests/oracles" && node imatrix_meta.mjs "$tmp/run/imatrix.gguf" "$tmp/run/model-f32.gguf" 7 32) ||
  fail "imatrix_meta"

# refused before any work, naming the key
check_refused() { # $1 config patch (python dict update), $2 expected text
  "$py" -c "
import json, sys
c = json.load(open('$tmp/c.json')); c['out_dir'] = '$tmp/never'
$1
json.dump(c, open('$tmp/bad.json', 'w'))"
  set +e; "$bin/qat_train" "$tmp/bad.json" > /dev/null 2> "$tmp/err"; rc=$?; set -e
  [ $rc -eq 1 ] && [ "$(wc -l < "$tmp/err")" -eq 1 ] && grep -qF "$2" "$tmp/err" && [ ! -e "$tmp/never/base.h5" ] ||
    fail "expected exit 1 and one line with '$2', got rc $rc: $(cat "$tmp/err")"
}
check_refused "c['model']['arch'] = 'mlp'" 'key "export[1].format": "imatrix" needs a decoder model.arch'
check_refused "c['export'][1]['type'] = 'Q4_0'" 'key "export[1].type": format "imatrix" writes F32 sums'
echo "imatrix: ok"
