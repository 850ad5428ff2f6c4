#!/usr/bin/env bash
# Real llama.cpp (node-llama-cpp@3.22.1's prebuilt CPU binary, installed by
# scripts/install_oracles.sh, offline here) scores a fixed token file with GGUF
# files that qat_export wrote from small models trained here by qat_train:
#   F32  (the FP32 base)          llama.cpp NLL == qat_eval's within 1e-6 relative
#   F16  (the base, --requantize) == qat_eval --faithful (inputs rounded to fp16: ggml-cpu's
#        vec_dot_type for F16 weights) or == qat_eval without rounding (llamafile's tinyBLAS
#        kernels multiply F16 weights by F32 inputs on some CPU variants); which one held is
#        printed (the two differ by ~2e-6 here)
#   Q8_0 (QAT sym 8-bit g32)      == qat_eval --faithful (Q8_0 inputs)
#   Q4_0 (QAT sym 4-bit g32)      == qat_eval --faithful
#   Q4_1 (QAT float_min 4-bit g32) == qat_eval --faithful (Q8_1 inputs)
# the rounded types within half the effect of that input rounding (see the tolerances below),
# each with two of llama.cpp's CPU backends (the best one here, and haswell's AVX2 kernels).
# qat_eval scores both the qatc checkpoint and the GGUF file read back by
# qatc's reader; both must agree with llama.cpp. The npm @huggingface/gguf
# parser checks every file's metadata, tensor types and shapes. A spec the
# type cannot hold is refused (naming the tensor) unless --requantize.
set -euo pipefail
. "${QATC_SRC:?}/tests/cli/llamacpp_env.bash" qatc_llamacpp

word_data

# model: dim 64, 2 layers, 4 heads, 2 kv heads (GQA), ffn 128, ctx 64, byte vocab
conf() { # conf NAME BITS GRID INIT
  local init=""; [ -n "$4" ] && init=", \"init\": \"$4\""
  cat > "$tmp/$1.json" <<JSON
{"seed": 3, "threads": 2, "out_dir": "$tmp/$1",
 "model": {"arch": "llama", "dim": 64, "layers": 2, "heads": 4, "kv_heads": 2, "ffn": 128, "ctx": 64$init},
 "data": {"train": ["$tmp/train.txt"], "val_fraction": 0.1},
 "base": {"steps": 120, "batch": 8, "lr": 3e-3, "warmup": 10},
 "quant": {"weights": {"bits": $2, "group": 32, "grid": "$3", "fp16_scales": true},
           "skip": ["tok_embeddings.weight", "output.weight"]},
 "ptq": [],
 "train": {"steps": 20, "batch": 8, "lr": 1e-4, "scale_lr": 1e-3, "warmup": 2, "ckpt_every": 0, "eval_every": 0},
 "eval": {"suites": ["text"], "samples": 8, "val_tokens": 2048, "max_regression": 1.0}}
JSON
}
conf w4 4 sym "";                       train w4
conf w8 8 sym "$tmp/w4/base.h5";        train w8
conf w41 4 float_min "$tmp/w4/base.h5"; train w41

export_gguf() { # export_gguf CKPT TYPE OUT [extra args]
  local ck=$1 ty=$2 out=$3; shift 3
  "$bin/qat_export" "$ck" --format gguf --type "$ty" -o "$out" "$@" 2> "$tmp/export.err" ||
    fail "qat_export $ck $ty: $(cat "$tmp/export.err")"
}
export_gguf "$tmp/w4/base.h5" F32 "$tmp/f32.gguf"
export_gguf "$tmp/w4/base.h5" F16 "$tmp/f16.gguf" --requantize
export_gguf "$tmp/w8/qat.h5" Q8_0 "$tmp/q8_0.gguf"
export_gguf "$tmp/w4/qat.h5" Q4_0 "$tmp/q4_0.gguf"
export_gguf "$tmp/w41/qat.h5" Q4_1 "$tmp/q4_1.gguf"

# @huggingface/gguf sees the right metadata, types and shapes
for t in F32 F16 Q8_0 Q4_0 Q4_1; do
  f="$tmp/$(echo "$t" | tr 'A-Z' 'a-z').gguf"
  ft=F32; [ "$t" = F16 ] && ft=F16   # embedding and output: F32, or F16 in an F16 file
  (cd "$orc" && node gguf_meta.mjs "$f" "$t" 64 2 4 2 128 64 256 "$t" "$ft") > "$tmp/meta.out" 2>&1 ||
    fail "gguf_meta $t: $(cat "$tmp/meta.out")"
  cat "$tmp/meta.out"
done


# compare TYPE TOL LLAMA_JSON QATC_JSON... : every qatc NLL within TOL relative of llama.cpp's
# (with ANY=1: at least one of them)
compare() {
  ANY=${ANY:-0} "$py" - "$@" <<'PY'
import json, os, sys
ty, tol, ref = sys.argv[1], float(sys.argv[2]), json.loads(sys.argv[3])
bad = good = 0
for label, s in zip(sys.argv[4::2], sys.argv[5::2]):
    q = json.loads(s)
    rel = abs(q["nll_mean"] - ref["nll_mean"]) / abs(ref["nll_mean"])
    ok = rel <= tol and q["n_scored"] == ref["n_scored"]
    bad += not ok
    good += ok
    print(f"llamacpp: {ty:5s} llama.cpp {ref['nll_mean']:.9f}  qatc {label:22s} {q['nll_mean']:.9f}  rel {rel:.2e}"
          f"  (tol {tol:g}, n {q['n_scored']}) {'ok' if ok else 'FAIL' if os.environ['ANY'] == '0' else 'no'}")
sys.exit(0 if (good if os.environ['ANY'] == '1' else not bad) else 1)
PY
}
# Tolerances, from the arithmetic. F32: the same inputs on both sides, so only the fp32 summation
# order differs (and the exp/silu implementations, within a few ulp): per dot product of K <= 128
# terms ~sqrt(K)·2^-24 = 7e-7 relative, and the mean over 646 scored positions averages such
# errors, so 1e-6 (measured 7e-9 on zen4 and haswell). The rounded types: what must match is the
# input rounding llama.cpp applies (F16 or Q8_0 / Q8_1 blocks), so qatc's faithful NLL must be
# within half of that rounding's own effect (|NLL unrounded - NLL faithful| / 2: were llama.cpp
# not to round so, the other side would be closer) and within 1e-4; measured 2e-8..6e-6 against
# half-effects of 1e-6 (F16) and 2.5e-5..5.6e-5 (Q8_0, Q4_0, Q4_1), on both backends.
TOL_F32=1e-6
half_effect() { "$py" -c 'import json, sys
f, u = (json.loads(a)["nll_mean"] for a in sys.argv[1:3])
print("%.3g" % min(1e-4, abs(u - f) / abs(f) / 2))' "$1" "$2"; }
# qatc's side once; llama.cpp's with two of its CPU backends: the best one for this CPU (zen4,
# skylakex, icelake, ... on AVX-512 machines) and haswell (AVX2), whose F16, Q8_0 and Q4 kernels
# differ (vector widths, hence summation order, and F16 through tinyBLAS or ggml's vec_dot)
Qf32=$(score_qatc "$tmp/w4/base.h5"); Gf32=$(score_qatc "$tmp/f32.gguf")
Gf16f=$(score_qatc "$tmp/f16.gguf" --faithful); Gf16=$(score_qatc "$tmp/f16.gguf")
declare -A Qq Gq Qu
for t in Q8_0:w8 Q4_0:w4 Q4_1:w41; do
  ty=${t%%:*}; run=${t##*:}; f="$tmp/$(echo "$ty" | tr 'A-Z' 'a-z').gguf"
  Qq[$ty]=$(score_qatc "$tmp/$run/qat.h5" --faithful); Gq[$ty]=$(score_qatc "$f" --faithful)
  Qu[$ty]=$(score_qatc "$tmp/$run/qat.h5")
done
status=0
for v in "" haswell; do
  cpu_variant "$v"
  L=$(score_llama "$tmp/f32.gguf")
  echo "llamacpp: CPU backend $("$py" -c 'import json, sys; print(json.loads(sys.argv[1])["cpu"])' "$L")"
  compare F32 "$TOL_F32" "$L" "base.h5" "$Qf32" "f32.gguf" "$Gf32" || status=1
  L=$(score_llama "$tmp/f16.gguf")
  ANY=1 compare F16 "$(half_effect "$Gf16f" "$Gf16")" "$L" "f16.gguf --faithful" "$Gf16f" "f16.gguf (fp32 inputs)" \
    "$Gf16" || status=1
  for ty in Q8_0 Q4_0 Q4_1; do
    L=$(score_llama "$tmp/$(echo "$ty" | tr 'A-Z' 'a-z').gguf")
    compare "$ty" "$(half_effect "${Qq[$ty]}" "${Qu[$ty]}")" "$L" "qat.h5 --faithful" "${Qq[$ty]}" \
      "$ty.gguf --faithful" "${Gq[$ty]}" || status=1
    compare "$ty" 1 "$L" "qat.h5 (no act. round)" "${Qu[$ty]}"
  done
done
cpu_variant ""
[ $status -eq 0 ] || fail "llama.cpp and qatc disagree (see above)"

# refusal: sym 8-bit codes do not fit Q4_0; --requantize is explicit and warns
set +e; "$bin/qat_export" "$tmp/w8/qat.h5" --format gguf --type Q4_0 -o "$tmp/no.gguf" 2> "$tmp/err"; rc=$?; set -e
[ $rc -eq 1 ] || fail "sym 8-bit exported as Q4_0 without --requantize (rc $rc)"
[ "$(wc -l < "$tmp/err")" -eq 1 ] || fail "refusal is not one line: $(cat "$tmp/err")"
grep -q 'blk.0.attn_q.weight' "$tmp/err" && grep -q '8-bit' "$tmp/err" && grep -q requantize "$tmp/err" ||
  fail "refusal does not name the tensor and the mismatch: $(cat "$tmp/err")"
[ ! -e "$tmp/no.gguf" ] || fail "a refused export left a file"
"$bin/qat_export" "$tmp/w8/qat.h5" --format gguf --type Q4_0 -o "$tmp/rq.gguf" --requantize 2> "$tmp/err" ||
  fail "--requantize failed: $(cat "$tmp/err")"
grep -q "re-quantized" "$tmp/err" || fail "--requantize did not warn"
echo "llamacpp: ok"
