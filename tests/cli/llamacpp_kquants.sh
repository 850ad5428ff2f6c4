#!/usr/bin/env bash
# QAT for every grid llama.cpp ships beyond Q4_0/Q4_1/Q8_0, scored by real llama.cpp
# (node-llama-cpp@3.22.1's prebuilt CPU binary): a small byte-level Llama (dim 256 so that
# every Linear input is a multiple of 256, GQA) trained by qat_train, then QAT with
#   quant.weights.type  Q5_0 Q5_1 Q2_K Q3_K Q4_K Q5_K Q6_K   (every Linear of the blocks)
#                       IQ4_NL MXFP4                         (the level grids)
#   quant.preset        all eight: Q2_K Q3_K_M Q4_K_S Q4_K_M     (llama.cpp's per-tensor mixture,
#                       Q5_K_M Q6_K Q8_0 Q4_0                  output quantized too)
# exported by qat_export without a type (each tensor at the type holding its grid).
# For each file:
#   - @huggingface/gguf reads every tensor at the type qatc's plan gives it (qat_train --check)
#     and general.file_type;
#   - llama.cpp's mean NLL over a held-out token file, with its best CPU backend for this machine
#     and with haswell's (AVX2) kernels, equals qat_eval --faithful's (inputs
#     rounded as llama.cpp's CPU backend rounds them: Q8_K for K types, Q8_0 for Q5_0, IQ4_NL
#     and MXFP4, Q8_1 for Q5_1) within 1e-4 relative, for the qat.h5 checkpoint and for the GGUF read back;
#     the remaining difference is float summation order (llama.cpp sums integer dot products
#     per sub-block and scales them; qatc multiplies the decoded floats), ~1e-6 relative.
set -euo pipefail
. "${QATC_SRC:?}/tests/cli/llamacpp_env.bash" qatc_kquants

word_data

conf() { # conf NAME QUANT_JSON [INIT]
  local init=""; [ -n "${3:-}" ] && init=", \"init\": \"$3\""
  cat > "$tmp/$1.json" <<JSON
{"seed": 5, "threads": 2, "out_dir": "$tmp/$1",
 "model": {"arch": "llama", "dim": 256, "layers": 2, "heads": 4, "kv_heads": 2, "ffn": 512, "ctx": 64$init},
 "data": {"train": ["$tmp/train.txt"], "val_fraction": 0.1},
 "base": {"steps": 80, "batch": 8, "lr": 2e-3, "warmup": 10},
 "quant": $2,
 "ptq": [],
 "train": {"steps": 4, "batch": 4, "lr": 1e-4, "scale_lr": 1e-3, "warmup": 2, "ckpt_every": 0, "eval_every": 0},
 "eval": {"suites": ["text"], "samples": 8, "val_tokens": 512, "max_regression": 1.0}}
JSON
}
conf base '{"weights": {"type": "Q4_K"}}'
train base
base="$tmp/base/base.h5"

rel() { "$py" -c '
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
assert a["n_scored"] == b["n_scored"], (a, b)
print("%.3e" % (abs(a["nll_mean"] - b["nll_mean"]) / abs(a["nll_mean"])))' "$1" "$2"; }

status=0
runs="Q5_0 Q5_1 Q2_K Q3_K Q4_K Q5_K Q6_K IQ4_NL MXFP4"
for p in Q2_K Q3_K_M Q4_K_S Q4_K_M Q5_K_M Q6_K Q8_0 Q4_0; do runs="$runs preset:$p"; done
for r in $runs; do
  if [ "${r#preset:}" != "$r" ]; then
    name=p_${r#preset:}; conf "$name" "{\"preset\": \"${r#preset:}\"}" "$base"
  else
    name=t_$r; conf "$name" "{\"weights\": {\"type\": \"$r\"}}" "$base"
  fi
  "$bin/qat_train" "$tmp/$name.json" --check > "$tmp/$name.plan" || fail "$name: --check"
  train "$name"
  f="$tmp/$name.gguf"
  "$bin/qat_export" "$tmp/$name/qat.h5" --format gguf -o "$f" 2> "$tmp/export.err" ||
    fail "qat_export $name: $(cat "$tmp/export.err")"
  # the file's tensor types are the plan's (qatc names -> GGUF names)
  (cd "$orc" && node gguf_types.mjs "$f") > "$tmp/$name.types" || fail "gguf_types $name"
  "$py" - "$tmp/$name.plan" "$tmp/$name.types" <<'PY' || status=1
import re, sys
plan = {}
for line in open(sys.argv[1]):
    m = re.match(r"\s+(\S+)\s+(Q\w+|IQ4_NL|MXFP4|float)\s", line)
    if m: plan[m.group(1)] = m.group(2)
names = {"attention.wq": "attn_q", "attention.wk": "attn_k", "attention.wv": "attn_v", "attention.wo": "attn_output",
         "feed_forward.w1": "ffn_gate", "feed_forward.w2": "ffn_down", "feed_forward.w3": "ffn_up"}
def gguf_name(n):
    m = re.match(r"layers\.(\d+)\.(.+)\.weight$", n)
    if m: return f"blk.{m.group(1)}.{names[m.group(2)]}.weight"
    return {"output.weight": "output.weight", "tok_embeddings.weight": "token_embd.weight"}[n]
got = dict(l.split() for l in open(sys.argv[2]) if l.strip() and not l.startswith("general."))
bad = [(n, t, got.get(gguf_name(n))) for n, t in plan.items() if (t if t != "float" else "F32") != got.get(gguf_name(n))]
print(f"types: {len(plan)} Linears, {len(set(plan.values()))} types ({' '.join(sorted(set(plan.values())))}), "
      f"{len(bad)} differ{(': ' + str(bad[:3])) if bad else ''}")
sys.exit(1 if bad or len(plan) != 15 else 0)
PY
  L=$(score_llama "$f")
  H=$(cpu_variant haswell && score_llama "$f") # the AVX2 kernels beside the best ones for this CPU
  Q=$(score_qatc "$tmp/$name/qat.h5" --faithful)
  G=$(score_qatc "$f" --faithful)
  U=$(score_qatc "$tmp/$name/qat.h5")
  r1=$(rel "$L" "$Q"); r2=$(rel "$L" "$G"); r3=$(rel "$H" "$Q"); r0=$(rel "$L" "$U")
  echo "kquants: $name  llama.cpp vs qat.h5 --faithful $r1, vs gguf --faithful $r2, haswell kernels $r3 (tol 1e-4);" \
    "unrounded inputs $r0"
  "$py" -c "import sys; sys.exit(0 if max($r1, $r2, $r3) <= 1e-4 else 1)" || { echo "FAIL: $name"; status=1; }
done
[ $status -eq 0 ] || fail "llama.cpp and qatc disagree (see above)"
echo "llamacpp_kquants: ok"
