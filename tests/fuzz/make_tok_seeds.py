#!/usr/bin/env python3
"""Writes the seed corpora of fuzz_tokenizer_json and fuzz_tokenizer_gguf
(tests/fuzz/corpus/<target>/<sha1>): small byte-level and SentencePiece-style
tokenizers exercising every pipeline piece qatc implements. Run once; the
output is committed. usage: make_tok_seeds.py [CORPUS_DIR]"""
import hashlib, json, os, struct, sys

here = os.path.dirname(os.path.abspath(__file__))
out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "corpus")

def byte_chars():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b); cs.append(256 + n); n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}

BC = byte_chars()
LLAMA3 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"

def bl_vocab(words):
    vocab = {BC[b]: b for b in range(256)}
    merges = []
    for w in words:
        cur = w[0]
        for ch in w[1:]:
            merges.append([cur, ch]); cur += ch
            vocab.setdefault(cur, len(vocab))
    return vocab, merges

def added(i, content, special=True, **kw):
    d = {"id": i, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": not special, "special": special}
    d.update(kw)
    return d

seeds_json = []
# byte-level, Llama-3 style split + ByteLevel, ignore_merges, string merges
v, m = bl_vocab(["\u0120the", "\u0120and", "ing", "he", "\u0120\u0120"])
n = len(v)
seeds_json.append({"version": "1.0", "added_tokens": [added(n, "<|begin|>"), added(n + 1, "<x>", False, lstrip=True, rstrip=True),
                   added(n + 2, "word", False, single_word=True)], "normalizer": {"type": "NFC"},
                   "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                       {"type": "Split", "pattern": {"Regex": LLAMA3}, "behavior": "Isolated", "invert": False},
                       {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
                   "decoder": {"type": "ByteLevel"},
                   "model": {"type": "BPE", "ignore_merges": True, "byte_fallback": False, "vocab": v,
                             "merges": [" ".join(x) for x in m]}})
# GPT-2 style ByteLevel with its regex and a prefix space, pair merges, other split behaviours
seeds_json.append({"added_tokens": [added(n, "<|endoftext|>")],
                   "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                       {"type": "Split", "pattern": {"String": ","}, "behavior": "MergedWithPrevious", "invert": False},
                       {"type": "Split", "pattern": {"Regex": "\\d+"}, "behavior": "Contiguous", "invert": True},
                       {"type": "ByteLevel", "add_prefix_space": True, "use_regex": True}]},
                   "model": {"type": "BPE", "vocab": v, "merges": m}})
# SentencePiece-style: Prepend/Replace normalizer, byte fallback, Strip decoder
sv = {"<unk>": 0, "<s>": 1, "</s>": 2}
for b in range(256):
    sv["<0x%02X>" % b] = len(sv)
sm = []
for w in ["\u2581the", "\u2581a", "er", "in"]:
    for ch in w:
        sv.setdefault(ch, len(sv))
    cur = w[0]
    for ch in w[1:]:
        sm.append(cur + " " + ch); cur += ch; sv.setdefault(cur, len(sv))
for ch in "abcdefghijklmnopqrstuvwxyz":
    sv.setdefault(ch, len(sv))
spm_added = [added(0, "<unk>"), added(1, "<s>"), added(2, "</s>")]
seeds_json.append({"added_tokens": spm_added,
                   "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"},
                                                                       {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
                   "pre_tokenizer": None,
                   "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                                                               {"Sequence": {"id": "A", "type_id": 0}}]},
                   "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
                                                                {"type": "ByteFallback"}, {"type": "Fuse"},
                                                                {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
                   "model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": True, "byte_fallback": True, "vocab": sv, "merges": sm}})
# Metaspace pre-tokenizer, with a config beside it
meta = {"added_tokens": spm_added, "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": True},
        "decoder": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first"},
        "model": {"type": "BPE", "unk_token": "<unk>", "byte_fallback": True, "vocab": sv, "merges": sm}}
cfg = {"bos_token": {"content": "<s>"}, "eos_token": "</s>", "add_bos_token": True, "add_eos_token": False}

def put(target, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)

for s in seeds_json:
    put("fuzz_tokenizer_json", json.dumps(s, ensure_ascii=False).encode())
put("fuzz_tokenizer_json", json.dumps(meta, ensure_ascii=False).encode() + b"\n#CONFIG#\n" + json.dumps(cfg).encode())
put("fuzz_tokenizer_json", b'{"model": {"type": "Unigram", "vocab": [["a", 0.0]]}}')

# GGUF vocab-only files
def gstr(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b

def kv(key, t, payload):
    return gstr(key) + struct.pack("<I", t) + payload

def arr(t, items):
    return struct.pack("<IQ", t, len(items)) + b"".join(items)

def gguf(kvs):
    return b"GGUF" + struct.pack("<IQQ", 3, 0, len(kvs)) + b"".join(kvs)

def vocab_list(vocab):
    toks = [None] * len(vocab)
    for k, i in vocab.items():
        toks[i] = k
    return toks

toks = vocab_list(v) + ["<|begin|>", "<x>"]
types = [1] * len(v) + [3, 4]
put("fuzz_tokenizer_gguf", gguf([
    kv("tokenizer.ggml.model", 8, gstr("gpt2")), kv("tokenizer.ggml.pre", 8, gstr("llama-bpe")),
    kv("tokenizer.ggml.tokens", 9, arr(8, [gstr(t) for t in toks])),
    kv("tokenizer.ggml.token_type", 9, arr(5, [struct.pack("<i", t) for t in types])),
    kv("tokenizer.ggml.merges", 9, arr(8, [gstr(" ".join(x)) for x in m])),
    kv("tokenizer.ggml.bos_token_id", 4, struct.pack("<I", len(v))),
    kv("tokenizer.ggml.add_bos_token", 7, b"\x01")]))
put("fuzz_tokenizer_gguf", gguf([
    kv("tokenizer.ggml.model", 8, gstr("gpt2")), kv("tokenizer.ggml.pre", 8, gstr("qwen2")),
    kv("tokenizer.ggml.tokens", 9, arr(8, [gstr(t) for t in toks])),
    kv("tokenizer.ggml.merges", 9, arr(8, [gstr(" ".join(x)) for x in m]))]))
stoks = vocab_list(sv)
stypes = [3, 3, 3] + [6] * 256 + [1] * (len(sv) - 259)
scores = [0.0] * 259 + [-float(i) for i in range(len(sv) - 259)]
for with_merges in (True, False):
    kvs = [kv("tokenizer.ggml.model", 8, gstr("llama")),
           kv("tokenizer.ggml.tokens", 9, arr(8, [gstr(t) for t in stoks])),
           kv("tokenizer.ggml.token_type", 9, arr(5, [struct.pack("<i", t) for t in stypes])),
           kv("tokenizer.ggml.scores", 9, arr(6, [struct.pack("<f", s) for s in scores])),
           kv("tokenizer.ggml.unknown_token_id", 4, struct.pack("<I", 0)),
           kv("tokenizer.ggml.bos_token_id", 4, struct.pack("<I", 1)),
           kv("tokenizer.ggml.eos_token_id", 4, struct.pack("<I", 2))]
    if with_merges:
        kvs.append(kv("tokenizer.ggml.merges", 9, arr(8, [gstr(x) for x in sm])))
    put("fuzz_tokenizer_gguf", gguf(kvs))
print("seeds written to", out)
