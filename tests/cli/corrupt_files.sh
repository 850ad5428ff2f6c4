#!/usr/bin/env bash
# Corrupted qatc HDF5 files never reach libhdf5's parser (docs/reliability.md,
# "Hostile input files"). A tiny run writes real files (base.h5, qat.h5,
# base.ckpt.h5, qat.ckpt.h5, the token caches); then
#  - each good file verifies (qat_inspect says so) and opens in h5py (when
#    Debian's python3-h5py is installed): the integrity header is an HDF5
#    user block, other readers skip it;
#  - tests/corrupt_sweep.c loads some 300 mutations of each file in-process
#    (truncations at many points, byte flips in the integrity header, the
#    superblock, B-tree / heap / symbol-table nodes and the Fletcher-32-checked
#    data chunks, 8-byte field overwrites): every one refused by the
#    integrity check in one line naming the file;
#  - qat_eval, qat_inspect, qat_export, qat_ckpt_diff --check, model.init and
#    --resume get
#    a spread of those mutations: exit 1 (never >= 128, never a sanitizer
#    report), exactly one line on stderr naming the file and the reason.
set -euo pipefail
bin=${QATC_BIN:?}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qatc_corrupt_XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

awk 'BEGIN { srand(11); w="the of and to a in is was he for it with as his on be at by had"; n=split(w, a, " ");
  for (i = 0; i < 600; i++) { s = ""; k = 5 + int(rand() * 8); for (j = 0; j < k; j++) s = s a[1 + int(rand() * n)] " ";
  print s "." } }' > "$tmp/t.txt"
echo "116 104 101 32 111 102 32 97 110 100 32 116 111 32 97 32 105 110 32 105 115 32 119 97 115 32 104 101" > "$tmp/ids.txt"
cfg() { # cfg OUT_DIR [MODEL_INIT]
  local init=""; [ -n "${2:-}" ] && init="\"init\": \"$2\", "
  cat <<JSON
{"seed": 4, "threads": 2, "out_dir": "$1",
 "model": {${init}"dim": 32, "layers": 1, "heads": 2, "ffn": 64, "ctx": 16},
 "data": {"train": ["$tmp/t.txt"], "val_fraction": 0.1},
 "base": {"steps": 6, "batch": 4, "lr": 3e-3, "warmup": 1},
 "quant": {"weights": {"bits": 4, "group": 16}},
 "ptq": [],
 "train": {"steps": 4, "batch": 4, "warmup": 1, "ckpt_every": 2, "eval_every": 0},
 "eval": {"suites": ["text"], "samples": 4, "val_tokens": 256, "max_regression": 1.0}}
JSON
}
cfg "$tmp/run" > "$tmp/c.json"
"$bin/qat_train" "$tmp/c.json" > "$tmp/train.log" 2>&1 || fail "qat_train: $(tail -3 "$tmp/train.log")"
run=$tmp/run
cache=$(ls "$run"/cache/*.train.h5 | head -1)
for f in base.h5 qat.h5 base.ckpt.h5 qat.ckpt.h5; do [ -f "$run/$f" ] || fail "the run wrote no $f"; done

# 1. good files verify, and other HDF5 readers still open them
for f in "$run/base.h5" "$run/qat.h5" "$run/qat.ckpt.h5" "$cache"; do
  "$bin/qat_inspect" "$f" > "$tmp/inspect" 2> "$tmp/err" || fail "qat_inspect $f: $(cat "$tmp/err")"
  grep -q "^integrity: verified ($(stat -c %s "$f") bytes, CRC-32 0x" "$tmp/inspect" ||
    fail "qat_inspect does not say $f verifies: $(head -3 "$tmp/inspect")"
done
"$bin/qat_eval" "$run/qat.h5" --tokens "$tmp/ids.txt" --ctx 16 > "$tmp/eval" 2> "$tmp/err" ||
  fail "qat_eval on the good qat.h5: $(cat "$tmp/err")"
grep -q '"nll_mean"' "$tmp/eval" || fail "qat_eval printed no score: $(cat "$tmp/eval")"
py=/usr/bin/python3
if [ -x "$py" ] && "$py" -c "import h5py" 2> /dev/null; then
  "$py" - "$run/base.h5" "$run/qat.h5" "$run/qat.ckpt.h5" "$cache" <<'PY' || fail "h5py cannot read qatc's files"
import sys, h5py
for p in sys.argv[1:]:
    with h5py.File(p, "r") as f:
        assert f.userblock_size == 512, (p, f.userblock_size)
        names = list(f.keys())
        assert names, p
        if "tokens" not in names:
            assert f.attrs["format"] in (b"qatc-ckpt", "qatc-ckpt"), (p, f.attrs["format"])
            w = f["param%2Ftok_embeddings.weight"][()]
            assert w.shape == (256, 32), w.shape
        else:
            assert f["tokens"].shape[0] > 0
print("h5py: %d files open" % (len(sys.argv) - 1))
PY
else
  echo "note: python3-h5py not installed, h5py check skipped"
fi

# 2. in-process sweep of every file
mkdir -p "$tmp/w"
for f in "$run/base.h5" "$run/qat.h5" "$run/base.ckpt.h5" "$run/qat.ckpt.h5"; do
  "$bin/tests/corrupt_sweep" check ckpt "$f" "$tmp/w" || fail "corrupt_sweep on $(basename "$f")"
done
"$bin/tests/corrupt_sweep" check tokens "$cache" "$tmp/w" || fail "corrupt_sweep on the token cache"

# 3. the command-line readers on a spread of mutations
refused() { # refused WHAT FILE RC ERRFILE: exit 1, one stderr line naming FILE and why
  local rc=$3 lines
  [ "$rc" -lt 128 ] || fail "$1 crashed on $(basename "$2") (exit $rc): $(head -3 "$4")"
  ! grep -qE "AddressSanitizer|LeakSanitizer|runtime error" "$4" || fail "$1: sanitizer report on $2: $(head -5 "$4")"
  [ "$rc" -eq 1 ] || fail "$1 on $(basename "$2"): exit $rc, expected 1: $(head -3 "$4")"
  lines=$(wc -l < "$4")
  [ "$lines" -eq 1 ] || fail "$1 on $(basename "$2"): $lines lines on stderr: $(head -3 "$4")"
  grep -qF "$2" "$4" || fail "$1: message does not name $2: $(cat "$4")"
  grep -qE "truncated|checksum mismatch|integrity header" "$4" || fail "$1: not refused by the integrity check: $(cat "$4")"
}
# qat_train logs progress on stderr: the refusal is its last line, and the only one naming the file
last_line() { grep -cF "$1" "$2" | grep -qx 1 || fail "qat_train names $1 on several lines: $(cat "$2")"
  tail -1 "$2" > "$3"; }
n=0
for f in base.h5 qat.h5; do
  mkdir -p "$tmp/m_$f"
  "$bin/tests/corrupt_sweep" write "$run/$f" "$tmp/m_$f" 14 > "$tmp/list_$f"
  while read -r m; do
    set +e; "$bin/qat_eval" "$m" --tokens "$tmp/ids.txt" --ctx 16 > /dev/null 2> "$tmp/err"; rc=$?; set -e
    refused qat_eval "$m" $rc "$tmp/err"
    set +e; "$bin/qat_inspect" "$m" > /dev/null 2> "$tmp/err"; rc=$?; set -e
    refused qat_inspect "$m" $rc "$tmp/err"
    set +e; "$bin/qat_export" "$m" --format hdf5 -o "$tmp/export.h5" > /dev/null 2> "$tmp/err"; rc=$?; set -e
    refused qat_export "$m" $rc "$tmp/err"
    [ ! -e "$tmp/export.h5" ] || fail "qat_export wrote a file from $m"
    set +e; "$bin/qat_ckpt_diff" --check "$m" > /dev/null 2> "$tmp/err"; rc=$?; set -e
    # qat_ckpt_diff: exit 2 means unreadable
    [ $rc -eq 2 ] && rc=1
    refused "qat_ckpt_diff --check" "$m" $rc "$tmp/err"
    n=$((n + 1))
  done < "$tmp/list_$f"
done
[ $n -ge 20 ] || fail "only $n mutated files were fed to the tools"

# model.init from a corrupted base.h5: qat_train refuses it in one line
m=$(sed -n 5p "$tmp/list_base.h5")
cfg "$tmp/run_init" "$m" > "$tmp/init.json"
set +e; "$bin/qat_train" "$tmp/init.json" > /dev/null 2> "$tmp/err"; rc=$?; set -e
! grep -qE "AddressSanitizer|runtime error" "$tmp/err" || fail "qat_train model.init: sanitizer report: $(head -5 "$tmp/err")"
last_line "$m" "$tmp/err" "$tmp/err1"
refused "qat_train model.init" "$m" $rc "$tmp/err1"

# --resume from a corrupted qat.ckpt.h5 (a copy of the run, checkpoint flipped)
cp -r "$run" "$tmp/run_r"
cfg "$tmp/run_r" > "$tmp/r.json"
"$bin/tests/corrupt_sweep" write "$tmp/run_r/qat.ckpt.h5" "$tmp/w" 20 > "$tmp/list_r"
cp "$(sed -n 12p "$tmp/list_r")" "$tmp/run_r/qat.ckpt.h5"
set +e; "$bin/qat_train" "$tmp/r.json" --resume > /dev/null 2> "$tmp/err"; rc=$?; set -e
! grep -qE "AddressSanitizer|runtime error" "$tmp/err" || fail "qat_train --resume: sanitizer report: $(head -5 "$tmp/err")"
last_line "$tmp/run_r/qat.ckpt.h5" "$tmp/err" "$tmp/err1"
refused "qat_train --resume" "$tmp/run_r/qat.ckpt.h5" $rc "$tmp/err1"
echo "corrupt_files: ok ($n mutated files through qat_eval, qat_inspect, qat_export and qat_ckpt_diff; model.init; --resume)"
