#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/fuzz_*.c) with clang
# -fsanitize=fuzzer,address,undefined and runs each for SECONDS.
#
#   tests/fuzz/run.sh SECONDS [TARGET...]    fuzz (default: every target)
#   tests/fuzz/run.sh --replay [TARGET...]   run the committed corpus once (regressions)
#
# Env: QATC_FUZZ_BUILD (build dir, default <repo>/build-fuzz), QATC_FUZZ_JOBS
# (compile jobs, default 2), QATC_FUZZ_RAW_HDF5=1 (fuzz_h5store and
# fuzz_tokens_h5 seal each input with a valid integrity header, so that the
# mutated bytes reach libhdf5's own parser and find bugs inside libhdf5:
# see tests/fuzz/h5_raw.h; also fuzzes targets marked replay-only),
# QATC_FUZZ_ALLOW_MULTILINE=1 (do not fail on
# multi-line error messages, to hunt deeper bugs behind a known one).
#
# Seeds and regression inputs live in tests/fuzz/corpus/<target>/ (read-only
# here); inputs the fuzzer finds go to $QATC_FUZZ_BUILD/work/<target>/ and
# crashes to $QATC_FUZZ_BUILD/artifacts/<target>/. A crash, leak, hang (>10 s
# per input), allocation over 512 MB, RSS over 2 GB, empty or multi-line
# error message or HDF5 object left open fails the run: copy the reproducer
# into tests/fuzz/corpus/<target>/ (tests/cli/fuzz_short.sh then replays it
# forever) and fix the bug; a bug in a file you do not own goes to
# tests/fuzz/pending/<target>/ with a line in pending/README.md.
#
# Per-target settings: tests/fuzz/<target>.options holds extra libFuzzer
# flags (lines starting with # are comments) and may carry the markers
# "# replay-only" (not fuzzed unless QATC_FUZZ_RAW_HDF5=1; no target has it
# today) and
# "# allow-multiline" (QATC_FUZZ_ALLOW_MULTILINE=1 for that target);
# tests/fuzz/<target>.dict is a libFuzzer dictionary.
#
# Adding a target: drop tests/fuzz/fuzz_<name>.c defining
# LLVMFuzzerTestOneInput and seeds in tests/fuzz/corpus/fuzz_<name>/; it is
# built against every library source and picked up here and by
# tests/cli/fuzz_short.sh with no other change.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "$here/../.." && pwd)
bld=${QATC_FUZZ_BUILD:-$src/build-fuzz}
jobs=${QATC_FUZZ_JOBS:-2}

usage() { echo "usage: $0 SECONDS [TARGET...] | $0 --replay [TARGET...]" >&2; exit 2; }
[ $# -ge 1 ] || usage
mode=fuzz; secs=0
if [ "$1" = --replay ]; then mode=replay; else secs=$1; [[ $secs =~ ^[0-9]+$ ]] || usage; fi
shift
command -v clang >/dev/null || { echo "clang not found (scripts/install_deps.sh installs it)" >&2; exit 1; }

mkdir -p "$bld/obj" "$bld/bin"
hdf5_cflags=$(pkg-config --cflags hdf5 2>/dev/null || echo -I/usr/include/hdf5/serial)
hdf5_libs=$(pkg-config --libs hdf5 2>/dev/null || echo "-L/usr/lib/x86_64-linux-gnu/hdf5/serial -lhdf5")
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
# library code: warnings shown, not fatal (clang's set differs from gcc's, and
# the gcc builds hold the -Werror line); fuzz targets: -Werror
BASE="-std=c11 -g -O1 -D_POSIX_C_SOURCE=200809L -fopenmp -I$src $hdf5_cflags"
LIBS="$(pkg-config --libs openblas libcjson libpcre2-8 libutf8proc) $hdf5_libs -lz -fopenmp -lm"

# 1. the library, instrumented for coverage (fuzzer-no-link) and sanitizers,
#    through a generated Makefile (incremental, header dependencies by -MMD)
libsrc=()
for d in base autograd ops optim quant store data nn qat qat/ptq eval io train run; do
  for f in "$src/$d"/*.c; do [ -e "$f" ] && libsrc+=("$f"); done
done
{
  echo "CFLAGS := $BASE -DQATC_VERSION=\\\"fuzz\\\" $SAN -fsanitize=fuzzer-no-link -Wall -Wextra -Wno-format-truncation -Wno-unknown-warning-option"
  objs=""
  for f in "${libsrc[@]}"; do
    o="obj/$(echo "${f#$src/}" | tr / _).o"; objs="$objs $o"
    printf '%s: %s\n\tclang $(CFLAGS) -MMD -MP -c $< -o $@ 2> $@.warn || { cat $@.warn; exit 1; }\n' "$o" "$f"
  done
  echo "libqatc_fuzz.a:$objs"
  printf '\trm -f $@ && ar rcs $@ $^\n'
  echo "-include \$(wildcard obj/*.d)"
} > "$bld/Makefile"
make -s -C "$bld" -j"$jobs" libqatc_fuzz.a
CC=clang
CFLAGS="$BASE -Wall -Wextra -Werror"

# 2. the targets
targets=()
if [ $# -gt 0 ]; then targets=("$@"); else
  for f in "$here"/fuzz_*.c; do targets+=("$(basename "$f" .c)"); done
fi
for t in "${targets[@]}"; do
  [ -f "$here/$t.c" ] || { echo "no target $here/$t.c" >&2; exit 2; }
  if [ ! -e "$bld/bin/$t" ] || [ "$here/$t.c" -nt "$bld/bin/$t" ] || [ "$here/fuzz_util.h" -nt "$bld/bin/$t" ] || [ "$here/h5_checks.h" -nt "$bld/bin/$t" ] || [ "$here/h5_raw.h" -nt "$bld/bin/$t" ] || [ "$here/fuzz_tok_check.h" -nt "$bld/bin/$t" ] ||
     [ "$bld/libqatc_fuzz.a" -nt "$bld/bin/$t" ]; then
    $CC $CFLAGS $SAN -fsanitize=fuzzer "$here/$t.c" "$bld/libqatc_fuzz.a" $LIBS -o "$bld/bin/$t"
  fi
done
# seed generator (binary seeds of the HDF5 targets), run when a corpus is missing
if [ ! -d "$here/corpus/fuzz_h5store" ] || [ ! -d "$here/corpus/fuzz_tokens_h5" ]; then
  $CC $CFLAGS $SAN "$here/make_seeds.c" "$bld/libqatc_fuzz.a" $LIBS -o "$bld/bin/make_seeds"
  "$bld/bin/make_seeds" "$here/corpus"
fi

# 3. run
# allocator_may_return_null=1: a malloc beyond ASan's 1 TiB maximum returns NULL
# (libhdf5 asks for such sizes from corrupt metadata and handles NULL); any
# allocation over -malloc_limit_mb is still reported with its stack.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$here/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
tmpd=$(mktemp -d "${TMPDIR:-/dev/shm}/qatc_fuzz_XXXXXX" 2>/dev/null || mktemp -d)
trap 'rm -rf "$tmpd"' EXIT
fails=0
for t in "${targets[@]}"; do
  corpus="$here/corpus/$t"; mkdir -p "$corpus"
  dict=(); [ -f "$here/$t.dict" ] && dict=(-dict="$here/$t.dict")
  log="$bld/$t.log"
  extra=(); [ -f "$here/$t.options" ] && read -r -a extra < <(grep -v "^#" "$here/$t.options" | tr "\n" " ") || true
  allow_ml=${QATC_FUZZ_ALLOW_MULTILINE:-0}
  grep -q '^# allow-multiline' "$here/$t.options" 2>/dev/null && allow_ml=1
  opts=(-timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=512 -max_len=65536 "${dict[@]}" "${extra[@]}")
  if [ $mode = replay ]; then
    echo "fuzz: replay $t ($(ls "$corpus" | wc -l) inputs)"
    if ! QATC_FUZZ_ALLOW_MULTILINE=$allow_ml TMPDIR=$tmpd "$bld/bin/$t" "${opts[@]}" -runs=0 "$corpus" > "$log" 2>&1; then
      echo "FAIL: $t on its committed corpus:"; grep -E "ERROR|SUMMARY|runtime error|Test unit written|abort" "$log" | head -5
      fails=$((fails + 1))
    fi
    continue
  fi
  if grep -q '^# replay-only' "$here/$t.options" 2>/dev/null && [ "${QATC_FUZZ_RAW_HDF5:-0}" != 1 ]; then
    echo "fuzz: $t replay only (QATC_FUZZ_RAW_HDF5=1 fuzzes it)"
    if ! QATC_FUZZ_ALLOW_MULTILINE=$allow_ml TMPDIR=$tmpd "$bld/bin/$t" "${opts[@]}" -runs=0 "$corpus" > "$log" 2>&1; then
      echo "  FAIL: $t on its committed corpus (log: $log)"; fails=$((fails + 1))
    fi
    continue
  fi
  work="$bld/work/$t"; art="$bld/artifacts/$t"; mkdir -p "$work" "$art"
  echo "fuzz: $t for ${secs}s"
  if QATC_FUZZ_ALLOW_MULTILINE=$allow_ml TMPDIR=$tmpd "$bld/bin/$t" "${opts[@]}" -max_total_time="$secs" -print_final_stats=1 \
       -artifact_prefix="$art/" "$work" "$corpus" > "$log" 2>&1; then
    echo "  ok: $(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}') runs, $(grep -cE 'NEW' "$log" || true) new inputs, corpus $(ls "$work" | wc -l)"
  else
    echo "  FAIL: $t (log: $log)"; grep -E "ERROR|SUMMARY|runtime error|Test unit written" "$log" | head -5
    fails=$((fails + 1))
  fi
done
[ $fails -eq 0 ] || { echo "fuzz: $fails target(s) failed"; exit 1; }
echo "fuzz: all ${#targets[@]} targets clean"
