#!/usr/bin/env bash
# Determinism of qat_train:
#  - threads = 1: two runs of the same config and seed write bit-identical
#    checkpoints (base.h5, base.ckpt.h5, qat.ckpt.h5, qat.h5: every entry,
#    float bits included, compared by tools/qat_ckpt_diff) and identical
#    metrics (losses, validation) and report numbers;
#  - threads = 2: two runs log the same losses to within 1e-6.
# Both runs use the same out_dir path (the effective config, stored in every
# checkpoint, names it), one after the other.
set -euo pipefail
bin=${QATC_BIN:?}/qat_train
diff_tool=${QATC_BIN:?}/qat_ckpt_diff
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qatc_determinism_XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

awk 'BEGIN { srand(3); w="the of and to a in is was he for it with as his on be at by had"; n=split(w, a, " ");
  for (i = 0; i < 2000; i++) { s = ""; k = 5 + int(rand() * 8); for (j = 0; j < k; j++) s = s a[1 + int(rand() * n)] " ";
  print s "." } }' > "$tmp/text.txt"
printf '{"prompt": "1+1=", "answer": "2"}\n{"prompt": "2+3=", "answer": "5"}\n{"prompt": "k1=v7;?k1=", "answer": "v7"}\n' > "$tmp/qa.jsonl"

cfg() { # cfg THREADS
cat <<JSON
{ "seed": 9, "threads": $1, "out_dir": "$tmp/run",
  "model": {"dim": 32, "layers": 2, "heads": 4, "kv_heads": 2, "ffn": 64, "ctx": 32},
  "data": {"train": ["$tmp/text.txt", {"suite": "arith", "weight": 0.3}, {"jsonl": "$tmp/qa.jsonl", "weight": 0.1}]},
  "base": {"steps": 40, "batch": 8, "lr": 3e-3, "warmup": 5},
  "quant": {"weights": {"bits": 3, "group": 16}, "activations": {"bits": 8, "mode": "per_token_dynamic"}},
  "train": {"steps": 40, "batch": 8, "lr": 5e-4, "ckpt_every": 10, "eval_every": 20, "log_every": 1,
            "distill": {"weight": 0.5, "temperature": 2.0}},
  "eval": {"suites": ["text", "arith", "kl", "$tmp/qa.jsonl"], "samples": 10, "val_tokens": 1024} }
JSON
}
run() { # run THREADS DEST
  rm -rf "$tmp/run"
  cfg "$1" > "$tmp/c.json"
  OMP_NUM_THREADS=$1 "$bin" "$tmp/c.json" > /dev/null 2> "$tmp/$2.log" || fail "run $2 failed: $(tail -3 "$tmp/$2.log")"
  mv "$tmp/run" "$tmp/$2"
}
# metrics without timing fields
metrics() { sed -E 's/, "tokens_per_s": [0-9.e+-]+//' "$1/metrics.jsonl"; }
# every number of report.json except timings
report() { grep -vE '"seconds"|"qatc_version"' "$1/report.json"; }

run 1 a1
run 1 a2
for f in base.h5 base.ckpt.h5 qat.ckpt.h5 qat.h5; do
  [ -f "$tmp/a1/$f" ] || fail "threads=1: $f was not written"
  "$diff_tool" "$tmp/a1/$f" "$tmp/a2/$f" > "$tmp/d.txt" || { head -5 "$tmp/d.txt"; fail "threads=1: $f differs between two runs"; }
  echo "threads=1 $f: $(cat "$tmp/d.txt")"
done
diff <(metrics "$tmp/a1") <(metrics "$tmp/a2") > "$tmp/m.diff" || { head -5 "$tmp/m.diff"; fail "threads=1: metrics differ"; }
diff <(report "$tmp/a1") <(report "$tmp/a2") > "$tmp/r.diff" || { head -5 "$tmp/r.diff"; fail "threads=1: report numbers differ"; }

# threads = 2: losses to 1e-6
losses() { grep '"loss"' "$1/metrics.jsonl" | sed -E 's/.*"stage": "([a-z]+)", "step": ([0-9]+), "loss": ([-0-9.e]+).*/\1 \2 \3/'; }
run 2 b1
run 2 b2
losses "$tmp/b1" > "$tmp/l1"
losses "$tmp/b2" > "$tmp/l2"
[ "$(wc -l < "$tmp/l1")" -eq 80 ] || fail "threads=2: $(wc -l < "$tmp/l1") losses logged, expected 80"
paste "$tmp/l1" "$tmp/l2" | awk '
  { if ($1 != $4 || $2 != $5) { print "step mismatch: " $0; bad = 1; exit }
    d = $3 - $6; if (d < 0) d = -d; if (d > max) max = d; if (d > 1e-6) { print "loss differs at " $1 " step " $2 ": " $3 " vs " $6; bad = 1 } }
  END { printf "threads=2: max |loss difference| between two runs %.3g\n", max; exit bad }' || fail "threads=2: losses differ by more than 1e-6"
# for information: 1 thread vs 2 threads (not asserted: sums are ordered differently)
paste <(losses "$tmp/a1") "$tmp/l1" | awk '{ d = $3 - $6; if (d < 0) d = -d; if (d > m) m = d } END { printf "info: threads=1 vs threads=2: max |loss difference| %.3g\n", m }'
echo "determinism: ok"
