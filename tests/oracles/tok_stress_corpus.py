# A tokenizer stress corpus of valid UTF-8 texts (llama.cpp's tokenizer is reached
# through JS strings, so no invalid UTF-8 here; tests/test_tokenizer.c covers that
# against Hugging Face), written one item per line as its bytes in hex.
# Adapted from tests/test_tokenizer.c's corpus: fixed stress strings (whitespace runs,
# contractions, combining marks, CJK, emoji ZWJ sequences, code, long digit strings,
# scripts, special-token strings inside text), long words, every 8th group of 1-4
# lines of the Brown corpus (data/brown.txt, if present), seeded random mixtures.
# usage: python3 tok_stress_corpus.py SRC_DIR [--nfc] > corpus.hex
#   --nfc: every item NFC-normalized (duplicates kept, so item i is item i's NFC form).
import os
import random
import sys
import unicodedata

src = sys.argv[1]
nfc = "--nfc" in sys.argv[2:]

fixed = [
    " ", "  ", "\n", "\n\n\n", "\t", " \t \n ", "Hello world", " Hello world", "Hello  world  ", "hello\r\nworld\r\n",
    "I'm sure you'll see they've said it's John's and we'd", "I'M SURE YOU'LL SEE THEY'VE SAID IT'S", "'s 's 'S 'ſ 'K x'll",
    "Café cafe\u0301 e\u0301\u0301 A\u030a \ufb01 \u1100\u1161\u11a8 Ame\u0301lie",
    "你好，世界。 日本語のテキスト 한국어",
    "👨‍👩‍👧‍👦 family 🏳️‍🌈 👍🏽😀😀",
    "def f(x):\n\tif x:\n\t\treturn [i ** 2 for i in range(10)]  # comment\n    else:\n        pass\n",
    'int main(void) {\n    printf("%d\\n", 42);\n    return 0;\n}\n',
    " " * 60 + "spaces", "a\n\n\n\n\n\n\nb \n \n \n c\r\r\r\n",
    "12345678901234567890123456789012345678901234567890 3.14159 1,000,000 0x7fff 2024-01-01",
    "١٢٣ १२ ⅠⅡ ²³ ①",
    "<|begin_of_text|>Hello<|end_of_text|>", "text <|begin_of_text|> text<|eot_id|>x", "<|reserved_special_token_5|>",
    "<s>Hello</s>", " <s> x </s> ", "<s><s></s>", "a<s>b", "<unk>", "<|im_start|>user\nhi there<|im_end|>\n<|im_start|>",
    "<tool_call>{\"a\": 1}</tool_call>", "<|endoftext|><|endoftext|>", "<|fim_prefix|>x<|fim_suffix|>",
    "<0x41> <0x0A> \u2581 \u2581\u2581x", "<|im_start", "<|begin_of_text", "<<s>>", "[INST] hi [/INST]",
    "nel\u0085nbsp\u00a0ideo\u3000 em\u2003 lsep\u2028 thin\u2009x \u1680",
    "zero\u200bwidth \ufeff bom soft\u00adhyphen \u200c\u200d",
    "\U0001d400\U0001d401 \U00010348 \U000e0001 \ufffd \U0010ffff",
    "Ελληνικά Русский עברית العربية ไทย हिन्दी",
    "!!!??? ... --- *** ((( ))) [[[ ]]] {{{ }}} @@@ ### $$$ %%% ^^^ &&& ~~~ `` ''' \"\"\"",
    "ok.\n\n\n  \tnext", "x  \n  y", "   \n", "trailing   ", "\u00c5ngstr\u00f6m \u212b \u2126 \u1e9b\u0323",
    "fullwidth ＡＢＣ１２３ ｶﾀｶﾅ", "emoji 1️⃣ 🇺🇸🇫🇷 ☺️ ❤️‍🔥",
]
items = list(fixed)
items.append("a" * 3000)
items.append("\u2581" * 2000)
r = random.Random(12345)
items.append("".join(r.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(2000)))
items.append("".join(r.choice("0123456789") for _ in range(1500)))
for n in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 16, 33):
    items.append("".join(r.choice("0123456789") for _ in range(n)) + " x" + "9" * n)

brown_path = os.path.join(src, "data", "brown.txt")
if os.path.exists(brown_path):
    lines = open(brown_path, encoding="utf-8", errors="replace").read().splitlines(keepends=True)
    k = 0
    pos = 0
    while pos < len(lines) and k < 4000:
        n = 1 + k % 4
        if k % 8 == 0 and len(items) < 900:
            items.append("".join(lines[pos:pos + n]))
        pos += n
        k += 1
        if k == 4000 and pos < len(lines):
            k, pos = 0, pos + len(lines) // 3
else:
    items.append("The Fulton County Grand Jury said Friday an investigation of Atlanta's recent primary election "
                 "produced \"no evidence\" that any irregularities took place.\n")

alpha = ["a", "b", "Z", " ", "  ", "\n", "\t", "'", "'s", "0", "7", "123", ".", ",", "!", "-", "é", "e\u0301", "\u0301",
         "中", "文", "😀", "\u200d", "🏽", "Ж", "\u2581", "<s>", "</s>", "<|im_end|>", "<|begin_of_text|>", "<tool_call>",
         "\r\n", "\u00a0", "_", "\u3000", "ß", "İ", "<|endoftext|>", "[INST]"]
for _ in range(400):
    items.append("".join(r.choice(alpha) for _ in range(r.randint(1, 60))))

out = sys.stdout
for s in items:
    if nfc:
        s = unicodedata.normalize("NFC", s)
    out.write(s.encode("utf-8").hex() + "\n")
