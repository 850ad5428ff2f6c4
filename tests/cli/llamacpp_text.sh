#!/usr/bin/env bash
# llama.cpp's TEXT path (node-llama-cpp@3.22.1's prebuilt CPU binary, offline: model.tokenize,
# greedy evaluate, LlamaCompletion, detokenize; what llama-cli, llama-server and Ollama users
# get) on the GGUF that qat_train's export list writes with the byte tokenizer:
#   1. bytes: for a stress set (every printable ASCII character, control characters, runs of
#      spaces/newlines/tabs, the suites' prompts, punctuation that llama.cpp's detokenizer would
#      clean up, special-token look-alikes, all of Latin-1, CJK, emoji, every valid UTF-8 lead
#      and continuation byte) llama.cpp's tokenizer gives exactly the UTF-8 bytes and its
#      detokenizer exactly the text; no BOS; '\n' is the only end-of-generation token
#      (tests/oracles/llamacpp_text.mjs).
#   2. suites: a small model trained here on text + 1..2-digit sums, Q4_0 GGUF. For each of the
#      500 arith and 500 recall eval items, the ids llama.cpp makes from the prompt TEXT equal qatc's;
#      greedy completions through llama.cpp (token ids, and text in / text out through
#      LlamaCompletion) are scored against the answers and compared with qatc:
#      - item by item with qat_eval --faithful (llama.cpp's activation rounding, whose NLL
#        equals llama.cpp's within 1e-4: cli_llamacpp): every item agrees unless its decision
#        margin is below 1e-3 logits;
#      - the count with qat_train's own score (report.json; float activations): equal within
#        max(1, items whose outcome the activation rounding alone changes in qatc).
# The numbers are printed; README "GGUF in real llama.cpp" quotes them.
set -euo pipefail
. "${QATC_SRC:?}/tests/cli/llamacpp_env.bash" qatc_llamacpp_text

"$py" "$orc/word_text.py" 1 2500 > "$tmp/train.txt"
# dim 64, 2 layers, ctx 32; sums of 1..2-digit numbers (about two thirds right after 3000 steps);
# one thread: on a busy 2-core machine two threads made the run about 20 times slower
cat > "$tmp/c.json" <<JSON
{"seed": 5, "threads": 1, "out_dir": "$tmp/run",
 "model": {"arch": "llama", "dim": 64, "layers": 2, "heads": 4, "kv_heads": 2, "ffn": 128, "ctx": 32},
 "data": {"train": ["$tmp/train.txt", {"suite": "arith", "weight": 4}], "val_fraction": 0.1},
 "suites": {"arith": {"min_digits": 1, "max_digits": 2}},
 "base": {"steps": 3000, "batch": 16, "lr": 6e-3, "warmup": 20},
 "quant": {"weights": {"bits": 4, "group": 32, "grid": "sym", "fp16_scales": true},
           "skip": ["tok_embeddings.weight", "output.weight"]},
 "ptq": [],
 "train": {"steps": 60, "batch": 16, "lr": 1e-4, "scale_lr": 1e-3, "warmup": 5, "ckpt_every": 0, "eval_every": 0},
 "eval": {"suites": ["text", "arith", "recall"], "samples": 500, "val_tokens": 2048, "max_regression": 1.0},
 "export": [{"format": "gguf", "type": "Q4_0", "path": "q4_0.gguf"}]}
JSON
"$bin/qat_train" "$tmp/c.json" > "$tmp/train.log" 2>&1 || fail "qat_train: $(tail -3 "$tmp/train.log")"
gguf=$tmp/run/q4_0.gguf
[ -s "$gguf" ] || fail "the export list wrote no $gguf"
# qat_export writes the same file as the run's export list
"$bin/qat_export" "$tmp/run/qat.h5" --format gguf --type Q4_0 -o "$tmp/q4_0.gguf" 2> "$tmp/err" ||
  fail "qat_export: $(cat "$tmp/err")"
cmp -s "$gguf" "$tmp/q4_0.gguf" || fail "qat_export and the run's export list wrote different files"
(cd "$orc" && node gguf_meta.mjs "$gguf" Q4_0 64 2 4 2 128 32 256 Q4_0 F32) > "$tmp/meta.out" 2>&1 ||
  fail "gguf_meta: $(cat "$tmp/meta.out")"
cat "$tmp/meta.out"

# 1. the byte vocabulary through llama.cpp's tokenizer and detokenizer
(cd "$orc" && node llamacpp_text.mjs bytes "$gguf") > "$tmp/bytes.out" 2> "$tmp/node.err" ||
  fail "llama.cpp text bytes: $(cat "$tmp/bytes.out"; grep -v '^\[node-llama-cpp\]' "$tmp/node.err" | head -20)"
echo "llamacpp_text: bytes $(cat "$tmp/bytes.out")"

# 2. the suites: qatc's items and scores, then llama.cpp's text path on the same items
status=0
for suite in arith recall; do
  "$bin/qat_eval" "$tmp/run/qat.h5" --suite "$suite" --items "$tmp/$suite.items" > "$tmp/$suite.qatc" 2> "$tmp/err" ||
    fail "qat_eval --suite $suite: $(cat "$tmp/err")"
  "$bin/qat_eval" "$tmp/run/qat.h5" --suite "$suite" --faithful --items "$tmp/$suite.faithful" > /dev/null 2> "$tmp/err" ||
    fail "qat_eval --suite $suite --faithful: $(cat "$tmp/err")"
  (cd "$orc" && node llamacpp_text.mjs suite "$gguf" "$tmp/$suite.items" 32) > "$tmp/$suite.llama" 2> "$tmp/node.err" ||
    fail "llama.cpp text $suite: $(grep -v '^\[node-llama-cpp\]' "$tmp/node.err" | tail -5)"
  "$py" - "$suite" "$tmp/run/report.json" "$tmp/$suite.qatc" "$tmp/$suite.items" "$tmp/$suite.faithful" \
      "$tmp/$suite.llama" <<'PY' || status=1
import json, sys
suite, report, qatc_json, items_path, faithful_path, llama_json = sys.argv[1:]
rep = json.load(open(report))["methods"]["qat"]["suites"][suite]
q = json.loads(open(qatc_json).read())
items = [json.loads(l) for l in open(items_path)]
faith = [json.loads(l) for l in open(faithful_path)]
L = json.loads(open(llama_json).read())
n = q["n"]
bad = []
if abs(q["exact_match"] - rep) > 1e-12:
    bad.append(f"qat_eval --suite {q['exact_match']} differs from qat_train's report {rep}")
if L["n"] != n or len(items) != n or len(faith) != n:
    bad.append(f"item counts differ: qatc {n}, llama.cpp {L['n']}")
if L["ids_equal"] != n:
    bad.append(f"llama.cpp's ids from the prompt text differ from qatc's on {n - L['ids_equal']} of {n} items")
if L["ok_eval"] != L["ok_completion"]:
    bad.append("llama.cpp: greedy ids and LlamaCompletion text disagree")
# item by item against qatc's llama.cpp-faithful form
tiny = 1e-3
flips = [i for i in range(n) if L["ok_eval"][i] != faith[i]["ok"]]
unexplained = [i for i in flips if faith[i]["margin"] >= tiny]
if unexplained:
    i = unexplained[0]
    bad.append(f"{len(unexplained)} item(s) differ from qat_eval --faithful with margin >= {tiny}, e.g. "
               f"{items[i]['prompt']!r}: llama.cpp {L['ok_eval'][i]}, qatc {faith[i]['ok']} (margin {faith[i]['margin']:.3g})")
# the count against qat_train's own score (float activations)
c_llama, c_qatc = L["correct_eval"], q["correct"]
rounding = sum(items[i]["ok"] != faith[i]["ok"] for i in range(n))
allow = max(1, rounding)
if abs(c_llama - c_qatc) > allow:
    bad.append(f"llama.cpp {c_llama}/{n} vs qatc {c_qatc}/{n}: more than {allow} item(s) apart")
print(f"llamacpp_text: {suite:6s} {n} items: ids equal {L['ids_equal']}/{n}; exact match qatc (qat_train) "
      f"{c_qatc}/{n} = {c_qatc / n:.3f}, llama.cpp text path {c_llama}/{n} = {c_llama / n:.3f} "
      f"(LlamaCompletion {L['correct_completion']}/{n}), qatc --faithful {sum(f['ok'] for f in faith)}/{n}; "
      f"items llama.cpp vs --faithful differ {len(flips)}, outcome changed by activation rounding {rounding}, "
      f"margins < {tiny}: {sum(f['margin'] < tiny for f in faith)}")
for b in bad: print("FAIL: " + b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
done
[ $status -eq 0 ] || fail "llama.cpp's text path and qatc disagree (see above)"
echo "llamacpp_text: ok"
