# Sourced by the tests that run real llama.cpp (cli_llamacpp, cli_llamacpp_kquants, cli_llamacpp_text, cli_llamacpp_tokenizers,
# cli_llamacpp_families): the paths, fail(), the npm oracles (a missing one fails the test, naming the
# installer), a temporary directory removed on exit ($tmp, prefix $1), node-llama-cpp kept offline and
# on the CPU; helpers word_data, train, score_llama, score_qatc (below).
set -euo pipefail
src=${QATC_SRC:?}; bin=${QATC_BIN:?}; py=${QATC_PYTHON:-/usr/bin/python3}
orc=$src/tests/oracles
fail() { echo "FAIL: $*" >&2; exit 1; }
[ -d "$orc/node_modules/node-llama-cpp" ] && [ -d "$orc/node_modules/@huggingface/gguf" ] ||
  fail "npm oracles missing: run scripts/install_oracles.sh (scripts/install_deps.sh does)"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/$1_XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export NODE_LLAMA_CPP_SKIP_DOWNLOAD=true NODE_LLAMA_CPP_GPU=false

# word_data: training text ($tmp/train.txt) and a held-out token file ($tmp/tokens.txt, another
# seed, byte tokens: 10 chunks of 64 and a partial chunk of 17)
word_data() {
  "$py" "$orc/word_text.py" 1 2500 > "$tmp/train.txt"
  "$py" "$orc/word_text.py" 2 60 | "$py" -c '
import sys
ids = list(sys.stdin.buffer.read())[:657]
print(" ".join(map(str, ids)))' > "$tmp/tokens.txt"
}
# train NAME: qat_train $tmp/NAME.json, its log in $tmp/NAME.log
train() { "$bin/qat_train" "$tmp/$1.json" > "$tmp/$1.log" 2>&1 || fail "qat_train $1: $(tail -3 "$tmp/$1.log")"; }
# cpu_variant V: from now on node_oracle runs llama.cpp with only its CPU backend V (the prebuilt
# package ships one per x86 level: x64, sse42, haswell (AVX2), skylakex, icelake, zen4, ...; ggml
# loads the best one the CPU runs), through a node_modules tree in $tmp whose bins hold that one
# library only; "" goes back to the best one.
cpu_variant=""
cpu_variant() {
  cpu_variant=$1
  [ -n "$1" ] || return 0
  local d="$tmp/cpu_$1" p="$orc/node_modules/@node-llama-cpp/linux-x64" e b
  [ -e "$p/bins/linux-x64/libggml-cpu-$1.so" ] || fail "no llama.cpp CPU backend $1 in $p/bins/linux-x64"
  [ -d "$d" ] && return 0
  mkdir -p "$d/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64"
  for e in "$orc"/node_modules/*; do
    b=$(basename "$e"); [ "$b" = "@node-llama-cpp" ] || ln -s "$e" "$d/node_modules/$b"; done
  for e in "$p"/*; do b=$(basename "$e"); [ "$b" = bins ] || ln -s "$e" "$d/node_modules/@node-llama-cpp/linux-x64/$b"; done
  for e in "$p"/bins/linux-x64/*; do
    b=$(basename "$e")
    case "$b" in libggml-cpu-*.so) [ "$b" = "libggml-cpu-$1.so" ] || continue ;; esac
    ln -s "$e" "$d/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/$b"
  done
  cp "$orc"/*.mjs "$d/"
}
# node_oracle SCRIPT ARGS...: runs an npm oracle script (with the CPU backend cpu_variant chose)
node_oracle() {
  if [ -n "$cpu_variant" ]; then (cd "$tmp/cpu_$cpu_variant" && node --preserve-symlinks --preserve-symlinks-main "$@")
  else (cd "$orc" && node "$@"); fi
}
# score_llama GGUF / score_qatc MODEL [args]: mean NLL JSON over $tmp/tokens.txt in chunks of 64
# (score_llama fails when llama.cpp ran another CPU backend than cpu_variant chose)
score_llama() {
  local out
  out=$(node_oracle llamacpp_nll.mjs "$1" "$tmp/tokens.txt" 64 2> "$tmp/node.err") ||
    fail "llama.cpp on $1: $(tail -5 "$tmp/node.err")"
  [ -z "$cpu_variant" ] || [[ "$out" == *"\"cpu\":\"$cpu_variant\""* ]] ||
    fail "llama.cpp ran another CPU backend than $cpu_variant: $out"
  echo "$out"
}
score_qatc() { "$bin/qat_eval" "$@" --tokens "$tmp/tokens.txt" --ctx 64 2> "$tmp/eval.err" ||
  fail "qat_eval $*: $(cat "$tmp/eval.err")"; }
