#!/usr/bin/env bash
# qat_tokenizer: trains a byte-level BPE tokenizer.json on a small UTF-8 text
# (twice: byte-identical), Hugging Face's native tokenizers (npm
# @anush008/tokenizers, scripts/install_oracles.sh) load it and round-trip a
# text; encode | decode round-trips UTF-8 text with multibyte characters
# (the byte tokenizer, and the trained file once data/tokenizer.h loads
# tokenizer.json files, then with ids equal to HF's); info output; bad input
# (missing file, --vocab below 256, unknown subcommand, ids out of range, a
# non-integer id, a missing tokenizer file) exits 1 with one line naming it.
set -euo pipefail
src=${QATC_SRC:?}; bin=${QATC_BIN:?}; py=${QATC_PYTHON:-/usr/bin/python3}
orc=$src/tests/oracles
tok=$bin/qat_tokenizer
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v node >/dev/null && [ -d "$orc/node_modules/@anush008/tokenizers" ] &&
  [ -d "$orc/node_modules/@anush008/tokenizers-linux-x64-gnu" ] ||
  fail "node or the npm oracle @anush008/tokenizers is missing: run scripts/install_oracles.sh"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qatc_tokcli_XXXXXX")
trap 'rm -rf "$tmp"' EXIT

"$py" - "$tmp" <<'PY'
import random, sys
d = sys.argv[1]
r = random.Random(3)
words = "the of and to in is was naïve café façade 日本語 Ελληνικά über straße 🙂 fox dog".split()
lines = []
for _ in range(400):
    a, b = r.randint(10, 99), r.randint(10, 99)
    lines.append(" ".join(r.choice(words) for _ in range(r.randint(3, 10))) + f". {a}+{b}={a+b}")
open(f"{d}/train.txt", "w", encoding="utf-8").write("\n".join(lines) + "\n<|endoftext|>\n")
open(f"{d}/probe.txt", "w", encoding="utf-8").write("Über naïve 47+38=85 — “日本語” 🙂\n\tthe  end\n")
PY

# one error line, exit 1, naming $want
expect_error() {
  local want=$1; shift
  set +e; "$@" > "$tmp/out" 2> "$tmp/err"; local rc=$?; set -e
  [ $rc -eq 1 ] || fail "$*: exit $rc (expected 1), stderr: $(cat "$tmp/err")"
  [ "$(wc -l < "$tmp/err")" -eq 1 ] || fail "$*: expected one line on stderr, got: $(cat "$tmp/err")"
  grep -qF -- "$want" "$tmp/err" || fail "$*: the message does not name '$want': $(cat "$tmp/err")"
}

# train twice: same bytes
"$tok" train --vocab 320 --special "<|endoftext|>" "$tmp/train.txt" -o "$tmp/tok.json" > "$tmp/train.log" ||
  fail "train: $(cat "$tmp/train.log")"
grep -q "320 tokens" "$tmp/train.log" || fail "train summary: $(cat "$tmp/train.log")"
"$tok" train --vocab 320 --special "<|endoftext|>" "$tmp/train.txt" -o "$tmp/tok2.json" > /dev/null
cmp -s "$tmp/tok.json" "$tmp/tok2.json" || fail "two trainings wrote different files"
"$py" - "$tmp/tok.json" <<'PY' || fail "tokenizer.json content"
import json, sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
m = d["model"]
assert m["type"] == "BPE" and len(m["vocab"]) == 319, (m["type"], len(m["vocab"]))
assert d["added_tokens"][0]["content"] == "<|endoftext|>" and d["added_tokens"][0]["id"] == 319
assert d["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"].count(r"\p{N}") == 3  # qwen2: single digits
assert not any(any(c.isdigit() for c in t) and sum(c.isdigit() for c in t) > 1 for t in m["vocab"]), "a token holds 2 digits"
PY

# Hugging Face loads the file and round-trips the probe
node "$orc/hf_roundtrip.mjs" "$tmp/tok.json" "$tmp/probe.txt" "$tmp/hf_dec.txt" > "$tmp/hf_ids" 2> "$tmp/err" ||
  fail "HF tokenizers: $(cat "$tmp/err")"
cmp -s "$tmp/hf_dec.txt" "$tmp/probe.txt" || fail "HF decode(encode(probe)) differs from the probe"

# the byte tokenizer: info and a round trip
"$tok" info byte > "$tmp/info" || fail "info byte"
grep -qx "kind: byte" "$tmp/info" && grep -qx "vocab: 256" "$tmp/info" && grep -qx "bos: none" "$tmp/info" &&
  grep -qx "add_bos: 0" "$tmp/info" || fail "info byte: $(cat "$tmp/info")"
"$tok" encode byte < "$tmp/probe.txt" > "$tmp/ids" || fail "encode byte"
[ "$(wc -w < "$tmp/ids")" -eq "$(wc -c < "$tmp/probe.txt")" ] || fail "encode byte: one id per byte expected"
"$tok" decode byte < "$tmp/ids" > "$tmp/dec" || fail "decode byte"
cmp -s "$tmp/dec" "$tmp/probe.txt" || fail "byte: decode(encode(probe)) differs"

# the trained file through data/tokenizer.h (once it reads tokenizer.json files)
set +e; "$tok" info "$tmp/tok.json" > "$tmp/info" 2> "$tmp/err"; rc=$?; set -e
if [ $rc -eq 0 ]; then
  grep -qx "kind: bpe" "$tmp/info" && grep -qx "vocab: 320" "$tmp/info" || fail "info tok.json: $(cat "$tmp/info")"
  "$tok" encode "$tmp/tok.json" --special < "$tmp/probe.txt" > "$tmp/ids" || fail "encode tok.json"
  cmp -s "$tmp/ids" "$tmp/hf_ids" || fail "qatc ids differ from HF's: $(head -c 300 "$tmp/ids") vs $(head -c 300 "$tmp/hf_ids")"
  "$tok" decode "$tmp/tok.json" < "$tmp/ids" > "$tmp/dec" || fail "decode tok.json"
  cmp -s "$tmp/dec" "$tmp/probe.txt" || fail "tok.json: decode(encode(probe)) differs"
  expect_error 320 "$tok" decode "$tmp/tok.json" <<< "5 320 7"
  echo "tokenizer.json: info, encode (== HF), decode checked"
else
  grep -q "not supported by this build" "$tmp/err" || fail "info tok.json: $(cat "$tmp/err")"
  echo "note: data/tokenizer.h does not read tokenizer.json in this build; trained file checked with HF only"
fi

# bad input: one line, exit 1, naming what was wrong
expect_error "$tmp/missing.txt" "$tok" train --vocab 300 "$tmp/missing.txt" -o "$tmp/x.json"
expect_error "--vocab" "$tok" train --vocab 100 "$tmp/train.txt" -o "$tmp/x.json"
expect_error "--vocab" "$tok" train --vocab 12x "$tmp/train.txt" -o "$tmp/x.json"
expect_error "below 256" "$tok" train --vocab 256 --special "<s>" "$tmp/train.txt" -o "$tmp/x.json"
expect_error "-o" "$tok" train --vocab 300 "$tmp/train.txt"
expect_error "--pretok" "$tok" train --vocab 300 --pretok bert "$tmp/train.txt" -o "$tmp/x.json"
[ ! -e "$tmp/x.json" ] || fail "a failed training left $tmp/x.json"
expect_error "frobnicate" "$tok" frobnicate byte
expect_error "subcommand" "$tok"
expect_error "300" "$tok" decode byte <<< "72 105 300"
expect_error "x7" "$tok" decode byte <<< "72 x7"
expect_error "$tmp/nope.json" "$tok" encode "$tmp/nope.json" < "$tmp/probe.txt"
expect_error "--bogus" "$tok" info byte --bogus
"$tok" -h | grep -q "usage: qat_tokenizer train" || fail "-h prints no usage"
echo "tokenizer_cli ok"
