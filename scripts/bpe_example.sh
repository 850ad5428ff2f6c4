#!/usr/bin/env bash
# The quickstart with a subword vocabulary: installs, builds, fetches the
# Brown corpus, trains a 2048-token byte-level BPE tokenizer on it with
# qat_tokenizer (runs/bpe-tokenizer/tokenizer.json), then runs
# `qat_train examples/bpe.json` (FP32 base, RTN and QAT W4 g32, report and a
# Q4_0 GGUF carrying the tokenizer in runs/bpe/). Extra arguments go to
# qat_train (e.g. --resume).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/prepare_run.sh
tok=runs/bpe-tokenizer/tokenizer.json
if [ ! -e "$tok" ]; then
  mkdir -p "$(dirname "$tok")"
  build/qat_tokenizer train --vocab 2048 data/brown.txt -o "$tok"
fi
resume=()
if [ -e runs/bpe/base.h5 ] || [ -e runs/bpe/base.ckpt.h5 ]; then
  [ "$#" -gt 0 ] || { echo "runs/bpe holds an earlier run: continuing it (--resume); delete it for a fresh one" >&2; resume=(--resume); }
fi
build/qat_train examples/bpe.json "${resume[@]+"${resume[@]}"}" "$@"
