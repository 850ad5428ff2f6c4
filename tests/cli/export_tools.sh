#!/usr/bin/env bash
# qat_export / qat_inspect / qat_eval on a model trained here (asym 4-bit g32):
# AWQ, GPTQ (v1, v2), compressed-tensors and HDF5 exports (the quantized
# directories accepted as model.init), qat_inspect on GGUF, safetensors, AWQ dir and HDF5
# (types, shapes, bits per weight), qat_eval on the exported HDF5 equals the
# original, the llama.cpp chunking rule (n_scored), and clear one-line errors
# (exit 1) for a corrupt GGUF, a bad token file, bad arguments.
set -euo pipefail
bin=${QATC_BIN:?}; py=${QATC_PYTHON:-/usr/bin/python3}
fail() { echo "FAIL: $*" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qatc_export_XXXXXX")
trap 'rm -rf "$tmp"' EXIT
"$py" -c "
import random
r = random.Random(5)
w = 'alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu'.split()
open('$tmp/t.txt', 'w').write('\n'.join(' '.join(r.choice(w) for _ in range(8)) for _ in range(800)))
open('$tmp/ids.txt', 'w').write(' '.join(str(b) for b in b'alpha beta gamma delta, theta iota kappa mu'*3))
"
cat > "$tmp/c.json" <<JSON
{"seed": 2, "threads": 2, "out_dir": "$tmp/run",
 "model": {"arch": "llama", "dim": 64, "layers": 1, "heads": 2, "ffn": 128, "ctx": 32},
 "data": {"train": ["$tmp/t.txt"], "val_fraction": 0.1},
 "base": {"steps": 20, "batch": 4, "lr": 3e-3, "warmup": 2},
 "quant": {"weights": {"bits": 4, "group": 32, "grid": "asym", "fp16_scales": true}},
 "ptq": [],
 "train": {"steps": 5, "batch": 4, "warmup": 1, "ckpt_every": 0, "eval_every": 0},
 "eval": {"suites": ["text"], "samples": 4, "val_tokens": 512, "max_regression": 1.0}}
JSON
"$bin/qat_train" "$tmp/c.json" > "$tmp/train.log" 2>&1 || fail "qat_train: $(tail -3 "$tmp/train.log")"
ck=$tmp/run/qat.h5

"$bin/qat_export" "$ck" --format awq -o "$tmp/awq" 2> "$tmp/err" || fail "awq export: $(cat "$tmp/err")"
[ -f "$tmp/awq/model.safetensors" ] && [ -f "$tmp/awq/config.json" ] || fail "awq export wrote no files"
"$bin/qat_export" "$ck" --format hdf5 -o "$tmp/copy.h5" 2> "$tmp/err" || fail "hdf5 export: $(cat "$tmp/err")"
# GPTQ v1 / v2 and compressed-tensors directories; each is a model.init qat_train accepts
"$bin/qat_export" "$ck" --format gptq -o "$tmp/gptq" 2> "$tmp/err" || fail "gptq export: $(cat "$tmp/err")"
"$bin/qat_export" "$ck" --format gptq --checkpoint-format gptq_v2 -o "$tmp/gptq2" 2> "$tmp/err" ||
  fail "gptq_v2 export: $(cat "$tmp/err")"
"$bin/qat_export" "$ck" --format compressed-tensors -o "$tmp/ct" 2> "$tmp/err" || fail "ct export: $(cat "$tmp/err")"
grep -q '"checkpoint_format":[[:space:]]*"gptq"' "$tmp/gptq/quantize_config.json" &&
  grep -q '"checkpoint_format":[[:space:]]*"gptq_v2"' "$tmp/gptq2/config.json" || fail "gptq checkpoint_format"
"$bin/qat_inspect" "$tmp/gptq" > "$tmp/ig" || fail "inspect gptq"
grep -q 'mlp.down_proj.qweight *I32 *\[16, 64\]' "$tmp/ig" && grep -q 'mlp.down_proj.qzeros *I32 *\[4, 8\]' "$tmp/ig" &&
  grep -q 'mlp.down_proj.g_idx *I32 *\[128\]' "$tmp/ig" || fail "inspect gptq output: $(cat "$tmp/ig")"
"$bin/qat_inspect" "$tmp/ct" > "$tmp/ic" || fail "inspect ct"
grep -q 'mlp.down_proj.weight_packed *I32 *\[64, 16\]' "$tmp/ic" && grep -q 'mlp.down_proj.weight_zero_point *I32 *\[8, 4\]' "$tmp/ic" &&
  grep -q 'mlp.down_proj.weight_shape *I64 *\[2\]' "$tmp/ic" || fail "inspect ct output: $(cat "$tmp/ic")"
for d in gptq gptq2 ct; do
  printf '{"out_dir": "%s/run_%s", "model": {"init": "%s/%s"}, "data": {"train": ["%s/t.txt"]}}\n' \
    "$tmp" "$d" "$tmp" "$d" "$tmp" > "$tmp/init_$d.json"
  "$bin/qat_train" "$tmp/init_$d.json" --check > /dev/null 2> "$tmp/err" || fail "model.init $d: $(cat "$tmp/err")"
done
"$bin/qat_export" "$ck" --format gguf --type F32 -o "$tmp/f32.gguf" 2> "$tmp/err" || fail "gguf F32: $(cat "$tmp/err")"
# asym 4-bit cannot be Q4_0 (sym levels): refused, naming the tensor
set +e; "$bin/qat_export" "$ck" --format gguf --type Q4_0 -o "$tmp/x.gguf" 2> "$tmp/err"; rc=$?; set -e
[ $rc -eq 1 ] && grep -q "blk.0.attn_q.weight" "$tmp/err" && grep -q asym "$tmp/err" ||
  fail "asym as Q4_0: rc $rc, $(cat "$tmp/err")"

"$bin/qat_inspect" "$tmp/f32.gguf" > "$tmp/i1" || fail "inspect gguf"
grep -q 'general.architecture .*"llama"' "$tmp/i1" && grep -q 'blk.0.ffn_down.weight *F32 *\[128, 64\]' "$tmp/i1" ||
  fail "inspect gguf output: $(head -40 "$tmp/i1")"
"$bin/qat_inspect" "$tmp/awq" > "$tmp/i2" || fail "inspect awq"
grep -q '"quant_method":[[:space:]]*"awq"' "$tmp/i2" && grep -q 'mlp.down_proj.qweight *I32 *\[128, 8\]' "$tmp/i2" &&
  grep -q 'mlp.down_proj.scales *F16 *\[4, 64\]' "$tmp/i2" || fail "inspect awq output: $(cat "$tmp/i2")"
"$bin/qat_inspect" "$ck" > "$tmp/i3" || fail "inspect h5"
grep -q 'param/layers.0.attention.wq.weight.scale *float32 array *\[64, 2\]' "$tmp/i3" ||
  fail "inspect h5 output: $(cat "$tmp/i3")"

n=$(wc -w < "$tmp/ids.txt")
a=$("$bin/qat_eval" "$ck" --tokens "$tmp/ids.txt" --ctx 16) || fail "qat_eval"
b=$("$bin/qat_eval" "$tmp/copy.h5" --tokens "$tmp/ids.txt" --ctx 16) || fail "qat_eval copy"
[ "$a" = "$b" ] || fail "hdf5 export scores differently: $a vs $b"
"$py" - "$a" "$n" <<'PY' || fail "n_scored"
import json, sys
r, n = json.loads(sys.argv[1]), int(sys.argv[2])
full, rest = divmod(n, 16)
want = full * 15 + (rest - 1 if rest >= 2 else 0)
assert r["n_scored"] == want, (r, want)
assert abs(r["ppl"] - __import__("math").exp(r["nll_mean"])) < 1e-9 * r["ppl"]
PY

err1() { # err1 WANT cmd...: exit 1 and one line containing WANT
  local want=$1; shift
  set +e; "$@" > /dev/null 2> "$tmp/err"; local rc=$?; set -e
  [ $rc -eq 1 ] || fail "$*: exit $rc, expected 1"
  [ "$(wc -l < "$tmp/err")" -eq 1 ] || fail "$*: not one line: $(cat "$tmp/err")"
  grep -qF -- "$want" "$tmp/err" || fail "$*: message lacks '$want': $(cat "$tmp/err")"
}
head -c 500 "$tmp/f32.gguf" > "$tmp/cut.gguf"
err1 "truncated" "$bin/qat_eval" "$tmp/cut.gguf" --tokens "$tmp/ids.txt" --ctx 16
err1 "truncated" "$bin/qat_inspect" "$tmp/cut.gguf"
printf 'GGUF\003\000\000\000\377\377\377\377\377\377\377\377\377\377\377\377\377\377\377\377' > "$tmp/huge.gguf"
err1 "more than" "$bin/qat_eval" "$tmp/huge.gguf" --tokens "$tmp/ids.txt" --ctx 16
echo "1 2 x 4" > "$tmp/bad.txt"
err1 "bad.txt: token 2" "$bin/qat_eval" "$ck" --tokens "$tmp/bad.txt" --ctx 16
echo "1 2 300 4" > "$tmp/oov.txt"
err1 "outside the vocabulary" "$bin/qat_eval" "$ck" --tokens "$tmp/oov.txt" --ctx 16
err1 "missing --ctx" "$bin/qat_eval" "$ck" --tokens "$tmp/ids.txt"
err1 "--format" "$bin/qat_export" "$ck" --format onnx -o "$tmp/x"
err1 "nope.h5" "$bin/qat_export" "$tmp/nope.h5" --format gguf -o "$tmp/x.gguf"
echo "export tools: ok"
