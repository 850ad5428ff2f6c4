#!/usr/bin/env bash
# qat_train under valgrind (memcheck): a tiny end-to-end run (base, RTN, QAT,
# report; a checkpoint, a resume) and the config-error paths (unknown key,
# wrong type, missing file, malformed JSON, NUL byte, no argument, a used
# out_dir) must show no invalid reads/writes, no use of uninitialised values
# and no definite or indirect leaks (valgrind --error-exitcode=1
# --leak-check=full). Skipped (exit 0 with a message) when valgrind is not
# installed or QATC_BIN is a sanitizer build (valgrind cannot run ASan
# binaries; the Release build's ctest runs it).
set -euo pipefail
bin=${QATC_BIN:?}/qat_train
if ! command -v valgrind > /dev/null; then
  echo "SKIP: valgrind not installed (scripts/install_deps.sh installs it)"; exit 0
fi
if grep -q '^QATC_SANITIZE:BOOL=ON' "${QATC_BIN}/CMakeCache.txt" 2>/dev/null; then
  echo "SKIP: $QATC_BIN is an ASan build; valgrind runs against the Release build"; exit 0
fi
# The Release build uses -march=native (AVX-512 on some machines), which
# valgrind cannot decode: build qat_train once more without it (-O2 -g), in
# a subdirectory of the build dir (incremental on later runs).
vbuild="$QATC_BIN/valgrind-build"
cmake -S "${QATC_SRC:?}" -B "$vbuild" -DCMAKE_BUILD_TYPE=RelWithDebInfo > "$QATC_BIN/valgrind-build.log" 2>&1 &&
  cmake --build "$vbuild" -j2 --target qat_train >> "$QATC_BIN/valgrind-build.log" 2>&1 ||
  { tail -20 "$QATC_BIN/valgrind-build.log"; echo "FAIL: cannot build qat_train for valgrind" >&2; exit 1; }
bin="$vbuild/qat_train"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qatc_valgrind_XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
supp="${QATC_SRC:?}/tests/cli/valgrind.supp"
vg=(valgrind -q --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect
    --errors-for-leak-kinds=definite,indirect --suppressions="$supp" --num-callers=30)
export OMP_NUM_THREADS=1
# set, so qat_train does not re-exec itself to set its wait policy (a re-exec would leave valgrind)
export OMP_WAIT_POLICY=passive

awk 'BEGIN { srand(5); w="the of and to a in is was he for it with as his on be at by had"; n=split(w, a, " ");
  for (i = 0; i < 400; i++) { s = ""; k = 5 + int(rand() * 8); for (j = 0; j < k; j++) s = s a[1 + int(rand() * n)] " ";
  print s "." } }' > "$tmp/text.txt"
printf '{"prompt": "1+1=", "answer": "2"}\n{"prompt": "2+3=", "answer": "5"}\n' > "$tmp/qa.jsonl"
cat > "$tmp/ok.json" <<JSON
{ "seed": 2, "threads": 1, "out_dir": "$tmp/run",
  "model": {"dim": 16, "layers": 1, "heads": 2, "kv_heads": 1, "ffn": 32, "ctx": 16},
  "data": {"train": ["$tmp/text.txt", {"suite": "arith", "weight": 0.3}, {"jsonl": "$tmp/qa.jsonl"}]},
  "base": {"steps": 4, "batch": 2, "lr": 3e-3, "warmup": 1},
  "quant": {"weights": {"bits": 4, "group": 8}, "activations": {"bits": 8, "mode": "per_token_dynamic"}},
  "train": {"steps": 4, "batch": 2, "lr": 5e-4, "ckpt_every": 2, "eval_every": 2, "log_every": 1,
            "distill": {"weight": 0.5}},
  "eval": {"suites": ["text", "arith", "kl", "$tmp/qa.jsonl"], "samples": 3, "val_tokens": 64} }
JSON

vgrun() { # vgrun NAME EXPECTED_EXIT ARGS...
  local name=$1 want=$2; shift 2
  set +e
  "${vg[@]}" --log-file="$tmp/$name.vg" "$bin" "$@" > /dev/null 2> "$tmp/$name.err"
  local rc=$?
  set -e
  if [ $rc -eq 99 ] || [ -s "$tmp/$name.vg" ]; then
    head -40 "$tmp/$name.vg" >&2
    fail "$name: valgrind reported errors"
  fi
  [ $rc -eq "$want" ] || fail "$name: exit code $rc, expected $want: $(tail -2 "$tmp/$name.err")"
  echo "valgrind: $name clean (exit $rc)"
}

vgrun run 0 "$tmp/ok.json"
vgrun used_out_dir 1 "$tmp/ok.json"
rm "$tmp/run/report.json" "$tmp/run/qat.h5"
vgrun resume 0 "$tmp/ok.json" --resume

printf '{"out_dir": "%s/e", "data": {"train": ["%s/text.txt"]}, "modle": {}}' "$tmp" "$tmp" > "$tmp/unknown.json"
vgrun unknown_key 1 "$tmp/unknown.json"
printf '{"out_dir": "%s/e", "data": {"train": ["%s/text.txt"]}, "model": {"dim": "big"}}' "$tmp" "$tmp" > "$tmp/type.json"
vgrun wrong_type 1 "$tmp/type.json"
printf '{"out_dir": "%s/e", "data": {"train": ["%s/none.txt"]}}' "$tmp" "$tmp" > "$tmp/missing.json"
vgrun missing_file 1 "$tmp/missing.json"
printf '{"out_dir": "%s/e", "data": {"train": [' "$tmp" > "$tmp/trunc.json"
vgrun malformed_json 1 "$tmp/trunc.json"
printf '{"out_dir": "a\0b"}' > "$tmp/nul.json"
vgrun nul_byte 1 "$tmp/nul.json"
printf '{"out_dir": "%s/e", "data": {"train": ["%s/text.txt"]}, "model": {"dim": 30, "heads": 4}}' "$tmp" "$tmp" > "$tmp/rule.json"
vgrun cross_field_rule 1 "$tmp/rule.json"
vgrun no_config_file 1 "$tmp/does_not_exist.json"
vgrun no_args 1
vgrun help 0 --help
echo "valgrind: ok"
