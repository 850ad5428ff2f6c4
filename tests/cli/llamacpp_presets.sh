#!/usr/bin/env bash
# qatc's llama.cpp presets and its `llamacpp` PTQ against llama.cpp's own quantizer: the
# llama_model_quantize of node-llama-cpp's prebuilt libllama (tests/oracles/llama_quantize.py,
# llama-quantize itself) run on F32 GGUF files that qat_export wrote from two models:
#   A  dim 256, 8 layers, 8 heads / 2 kv heads (n_gqa 4: Q2_K's attn_v rule), ffn 512, untied:
#      every Linear input a multiple of 256
#   B  dim 288, 16 layers, 6 heads / 2 kv heads, ffn 512, tied embeddings: inputs 288 (K types
#      fall back: Q2_K/Q3_K → Q4_0, Q4_K → Q5_0, Q5_K → Q5_1, Q6_K → Q8_0; the output rule's
#      Q8_0) and 512 (ffn_down keeps its K type); n/16 = 1 for Q3_K_M's ffn_down rule
# (weights: qt_model_init with uneven columns, tests/llamacpp_ptq.c). For every quant.preset:
#   1. the plan `qat_train --check` prints (the types QAT trains on) names, tensor by tensor, the
#      ggml type llama.cpp writes (qatc → GGUF names; an untied token_embd, which qatc keeps in
#      float and llama.cpp quantizes at the base type, is the one tensor left out, qat/preset.h);
#   2. qatc's `llamacpp` PTQ (qt_ptq_llamacpp_blocks / qt_ptq_llamacpp) writes the same blocks,
#      byte for byte, and its weights equal llama.cpp's dequantize_row_<type> of llama.cpp's
#      blocks bit for bit; with an importance matrix (the same per-column values given to both)
#      for Q4_K_M, Q3_K_M, Q6_K, Q4_0 (its imatrix rule: the first n/8 ffn_down at Q4_1), Q2_K.
set -euo pipefail
. "${QATC_SRC:?}/tests/cli/llamacpp_env.bash" qatc_llamacpp_presets
[ -x "$bin/tests/llamacpp_ptq" ] || fail "missing $bin/tests/llamacpp_ptq (build the tests)"
presets="Q2_K Q3_K_M Q4_K_S Q4_K_M Q5_K_M Q6_K Q8_0 Q4_0"
imatrix_presets="Q4_K_M Q3_K_M Q6_K Q4_0 Q2_K"
"$py" "$orc/word_text.py" 1 20 > "$tmp/train.txt"

cat > "$tmp/cmp.py" <<'PY'
"""cmp.py plan PLAN LLAMA.gguf TIED | ptq QDIR LLAMA.gguf | imatrix F32.gguf DIR SEED"""
import os, re, sys
import numpy as np
sys.path.insert(0, os.environ["ORC"])
import llama_quantize as lq

SUB = {"attention.wq": "attn_q", "attention.wk": "attn_k", "attention.wv": "attn_v", "attention.wo": "attn_output",
       "feed_forward.w1": "ffn_gate", "feed_forward.w2": "ffn_down", "feed_forward.w3": "ffn_up"}

def gguf_name(q):
    if q in ("output.weight",): return q
    if q == "tok_embeddings.weight": return "token_embd.weight"
    m = re.fullmatch(r"layers\.(\d+)\.(\w+\.\w+)\.weight", q)
    return f"blk.{m.group(1)}.{SUB[m.group(2)]}.weight"

def qatc_name(g):
    if g == "token_embd.weight": return "tok_embeddings.weight"
    m = re.fullmatch(r"blk\.(\d+)\.(\w+)\.weight", g)
    if not m: return g
    return f"layers.{m.group(1)}.{next(k for k, v in SUB.items() if v == m.group(2))}.weight"

def quantized(f):  # the 2-D tensors of llama.cpp's file: {name: (type, dims, bytes)}
    return {n: v for n, v in lq.read_gguf(f).items() if len(v[1]) == 2}

def main(cmd):
    if cmd == "plan":
        plan, ref, tied = sys.argv[2], quantized(sys.argv[3]), sys.argv[4] == "1"
        got = {}
        for line in open(plan):
            m = re.match(r"  (\S+)\s+(\S+)", line)
            if m and m.group(1).endswith(".weight"):
                got[gguf_name(m.group(1))] = m.group(2)
        if not tied:  # qatc keeps an untied token embedding in float (not a Linear); llama.cpp quantizes it
            assert "token_embd.weight" not in got, "an untied token_embd in qatc's plan"
            del ref["token_embd.weight"]
        bad = [f"{n}: qatc {got.get(n)}, llama.cpp {lq.type_name(t).upper()}" for n, (t, _, _) in ref.items()
               if got.get(n) != lq.type_name(t).upper()]
        bad += [f"{n}: qatc {got[n]}, not in llama.cpp's file" for n in got if n not in ref]
        if bad: sys.exit("plan != llama.cpp: " + "; ".join(bad))
        kinds = sorted({t for t in got.values()})
        print(f"{len(got)} tensors, types {' '.join(kinds)}")
    elif cmd == "ptq":
        qdir, ref = sys.argv[2], quantized(sys.argv[3])
        n = nb = 0
        kinds = set()
        for line in open(os.path.join(qdir, "manifest.txt")):
            name, ty, rows, cols = line.split()
            g = gguf_name(name)
            t, dims, data = ref[g]
            assert lq.type_name(t).upper() == ty, f"{g}: qatc {ty}, llama.cpp {lq.type_name(t)}"
            assert dims == (int(cols), int(rows)), f"{g}: shape {dims}"
            mine = open(os.path.join(qdir, name + ".blk"), "rb").read()
            if mine != data:
                a, b = np.frombuffer(mine, np.uint8), np.frombuffer(data, np.uint8)
                k = int(np.argmax(a != b)) if a.size == b.size else -1
                sys.exit(f"{g} ({ty}): qatc's blocks differ from llama.cpp's ({a.size} vs {b.size} bytes, first at {k})")
            w = np.fromfile(os.path.join(qdir, name + ".f32"), dtype=np.float32)
            d = lq.dequantize(t, data, w.size)
            if not np.array_equal(w.view(np.uint32), d.view(np.uint32)):
                sys.exit(f"{g} ({ty}): qt_ptq_llamacpp's weights != dequantize_row of llama.cpp's blocks "
                         f"({int(np.sum(w != d))} of {w.size})")
            n += 1
            nb += len(data)
            kinds.add(ty)
        if len(sys.argv) > 4:  # with an importance matrix: it changed every block of a type that uses one
            plain = quantized(sys.argv[4])
            same = [g for g, (t, _, data) in ref.items() if g in plain and plain[g][2] == data and lq.type_name(t) != "q8_0"]
            assert not same, f"the importance matrix changed nothing in {same}"
        left = set(ref) - {gguf_name(l.split()[0]) for l in open(os.path.join(qdir, "manifest.txt"))}
        assert left <= {"token_embd.weight"}, f"llama.cpp quantized {sorted(left)}, qatc's PTQ not"
        print(f"{n} tensors, {nb} bytes of blocks equal, types {' '.join(sorted(kinds))}")
    elif cmd == "imatrix":  # per-column importances (mean x², so positive, with a wide range), by both names
        f, out, seed = sys.argv[2], sys.argv[3], int(sys.argv[4])
        rng = np.random.default_rng(seed)
        for g, (t, dims, _) in quantized(f).items():
            v = np.exp(rng.normal(0, 1.5, dims[0])).astype(np.float32)
            v[rng.integers(0, dims[0], 3)] = 0  # dead columns occur in real imatrices
            v.tofile(os.path.join(out, "llama", g + ".imx"))
            v.tofile(os.path.join(out, "qatc", qatc_name(g) + ".imx"))

try:
    main(sys.argv[1])
except AssertionError as e:
    sys.exit(str(e))
PY
export ORC=$orc
cmp() { "$py" "$tmp/cmp.py" "$@"; }

shape() { # shape NAME SEED DIM LAYERS HEADS KV FFN TIED
  local n=$1
  mkdir -p "$tmp/$n"
  for p in $presets; do
    cat > "$tmp/$n/$p.json" <<JSON
{"seed": 1, "threads": 2, "out_dir": "$tmp/$n/run",
 "model": {"arch": "llama", "dim": $3, "layers": $4, "heads": $5, "kv_heads": $6, "ffn": $7, "ctx": 64,
           "tie_embeddings": $8},
 "data": {"train": ["$tmp/train.txt"], "val_fraction": 0.1},
 "quant": {"preset": "$p"},
 "ptq": [{"method": "llamacpp"}]}
JSON
  done
  "$bin/tests/llamacpp_ptq" init "$tmp/$n/Q4_0.json" "$tmp/$n/base.h5" "$2" || fail "init $n"
  "$bin/qat_export" "$tmp/$n/base.h5" --format gguf --type F32 -o "$tmp/$n/f32.gguf" 2> "$tmp/err" ||
    fail "qat_export $n: $(cat "$tmp/err")"
  mkdir -p "$tmp/$n/imx/llama" "$tmp/$n/imx/qatc"
  cmp imatrix "$tmp/$n/f32.gguf" "$tmp/$n/imx" "$2" || fail "imatrix $n"
}

check() { # check SHAPE PRESET TIED [imatrix]
  local n=$1 p=$2 tied=$3 im=${4:-} d="$tmp/$1/$2${4:+_imx}" out
  mkdir -p "$d"
  "$py" "$orc/llama_quantize.py" quantize "$tmp/$n/f32.gguf" "$d/llama.gguf" "$p" ${im:+"$tmp/$n/imx/llama"} \
    > /dev/null 2> "$d/llama.log" || fail "llama.cpp $n $p $im: $(tail -3 "$d/llama.log")"
  if [ -z "$im" ]; then
    "$bin/qat_train" "$tmp/$n/$p.json" --check > "$d/plan.txt" 2>&1 || fail "qat_train --check $n $p: $(cat "$d/plan.txt")"
    out=$(cmp plan "$d/plan.txt" "$d/llama.gguf" "$tied" 2>&1) || fail "$n $p plan: $out"
    echo "llamacpp_presets: $n $p plan == llama.cpp's types: $out"
  fi
  "$bin/tests/llamacpp_ptq" dump "$tmp/$n/$p.json" "$tmp/$n/base.h5" "$d" ${im:+"$tmp/$n/imx/qatc"} 2> "$d/err" ||
    fail "llamacpp_ptq dump $n $p $im: $(cat "$d/err")"
  if [ -n "$im" ]; then
    grep -q "have importance matrix data with" "$d/llama.log" || fail "llama.cpp $n $p did not take the importance matrix"
  fi
  out=$(cmp ptq "$d" "$d/llama.gguf" ${im:+"$tmp/$n/$p/llama.gguf"} 2>&1) || fail "$n $p ${im:+imatrix }PTQ: $out"
  echo "llamacpp_presets: $n $p ${im:+imatrix }PTQ blocks == llama.cpp's: $out"
}

shape A 1 256 8 8 2 512 false
shape B 2 288 16 6 2 512 true
for n in A B; do
  tied=0; [ $n = B ] && tied=1
  for p in $presets; do check $n "$p" $tied; done
  for p in $imatrix_presets; do check $n "$p" $tied imatrix; done
done
echo "llamacpp_presets: ok"
