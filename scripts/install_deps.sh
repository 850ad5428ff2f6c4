#!/usr/bin/env bash
# Installs the Debian packages qatc builds and tests with (idempotent).
# usage: scripts/install_deps.sh          everything the tests need (oracles included)
#        scripts/install_deps.sh --run    only what building and running qat_train needs
set -euo pipefail
run_only=0
[ "${1:-}" = "--run" ] && run_only=1
pkgs=(build-essential cmake pkg-config libopenblas-openmp-dev libhdf5-dev zlib1g-dev libcjson-dev libpcre2-dev libutf8proc-dev nodejs npm)
if [ $run_only -eq 0 ]; then
  pkgs+=(python3-torch python3-numpy python3-h5py clang libclang-rt-14-dev libomp-dev valgrind)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# nodejs/npm may come from outside Debian on some machines: accept working binaries
if command -v node >/dev/null && command -v npm >/dev/null; then
  tmp=(); for p in "${missing[@]}"; do [[ $p == nodejs || $p == npm ]] || tmp+=("$p"); done
  missing=("${tmp[@]+"${tmp[@]}"}")
fi
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# test-only npm oracles (llama.cpp via node-llama-cpp, @huggingface/gguf) into tests/oracles/node_modules
[ $run_only -eq 1 ] || "$(dirname "$0")/install_oracles.sh"
