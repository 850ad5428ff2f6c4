#!/usr/bin/env bash
# Installs the test-only npm oracles (real llama.cpp through node-llama-cpp's
# prebuilt CPU binary, and the @huggingface/gguf parser) into
# tests/oracles/node_modules (git-ignored). Idempotent; nothing is downloaded at
# test time. --omit=optional skips the GPU binaries, --ignore-scripts skips a
# postinstall that may try to download.
set -euo pipefail
cd "$(dirname "$0")/../tests/oracles"
if [ -f node_modules/node-llama-cpp/package.json ] && [ -d node_modules/@node-llama-cpp/linux-x64 ] &&
   [ -f node_modules/@huggingface/gguf/package.json ]; then
  exit 0
fi
echo "installing npm oracles into tests/oracles/node_modules"
npm install --omit=optional --ignore-scripts --no-audit --no-fund --no-save --loglevel=error \
  node-llama-cpp@3.22.1 @node-llama-cpp/linux-x64@3.22.1 @huggingface/gguf@0.4.6 >/dev/null
