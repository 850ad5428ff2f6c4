// Real llama.cpp's TEXT path (node-llama-cpp's prebuilt CPU binary, offline) on a GGUF that
// qat_export wrote with the byte tokenizer: text goes through llama.cpp's own tokenizer
// (model.tokenize(text, false), as llama-cli, llama-server and Ollama do), ids come back through
// its detokenizer.
//
// usage: node llamacpp_text.mjs bytes MODEL.gguf
//   The stress set below: model.tokenize(text) must be exactly the UTF-8 bytes of the text (with
//   and without special-token parsing), model.detokenize(ids) exactly the text; every byte value
//   0..255 as a token id decodes to itself wherever a JS string can carry it (bytes 0x80..0xFF
//   inside valid UTF-8 sequences; 0xC0, 0xC1, 0xF5..0xFF never occur in valid UTF-8, and a JS
//   string cannot hold invalid UTF-8: a lone surrogate reaches llama.cpp as U+FFFD = EF BF BD,
//   which is checked too). No BOS is prepended, '\n' (10) is the only end-of-generation token.
//   Prints {"strings": N, "bytes": N, ...} on one line; exits 1 naming the first mismatches.
// usage: node llamacpp_text.mjs suite MODEL.gguf ITEMS.jsonl CTX
//   ITEMS.jsonl from `qat_eval --suite NAME --items`: per item, the ids llama.cpp makes from the
//   prompt TEXT must equal qatc's ids; then greedy decoding (temperature 0) two ways:
//   (a) LlamaContextSequence.evaluate(ids, {temperature: 0}) token by token until '\n' or the
//       answer's length, detokenized;
//   (b) LlamaCompletion.generateCompletion(prompt text, {temperature: 0}) (text in, text out;
//       stops at the EOS token '\n', which it does not return).
//   An item counts when the text equals the answer. Prints one JSON line:
//   {"n", "ids_equal", "correct_eval", "correct_completion", "ok_eval": [0/1...], "ok_completion": [...]}.
import fs from "node:fs";
process.env.NODE_LLAMA_CPP_SKIP_DOWNLOAD = "true";
process.env.NODE_LLAMA_CPP_GPU = "false";
const { getLlama, LlamaCompletion } = await import("node-llama-cpp");

const [mode, modelPath, itemsPath, ctxArg] = process.argv.slice(2);
if (!(mode === "bytes" && modelPath) && !(mode === "suite" && modelPath && itemsPath && ctxArg)) {
  console.error("usage: node llamacpp_text.mjs bytes MODEL.gguf | suite MODEL.gguf ITEMS.jsonl CTX");
  process.exit(2);
}
const llama = await getLlama({ gpu: false, build: "never", skipDownload: true, usePrebuiltBinaries: true,
                               logLevel: "error" });
const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
const same = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);
const show = (s) => JSON.stringify(s).slice(0, 80);

if (mode === "bytes") {
  const bad = [];
  const strings = [];
  // every printable ASCII character, alone and together
  let ascii = "";
  for (let c = 0x20; c < 0x7f; c++) {
    strings.push(String.fromCharCode(c));
    ascii += String.fromCharCode(c);
  }
  strings.push(ascii, ascii.split("").reverse().join(""));
  // control characters (NUL included), spaces, newlines, tabs and their runs
  for (let c = 0; c < 0x20; c++) strings.push(String.fromCharCode(c), "a" + String.fromCharCode(c) + "b");
  strings.push("\x7f", " ", "  ", "   ", "    x", "x    ", "\n", "\n\n", "\n\n\n\n", "\t", "\t\t\t", "\r\n",
               " \t \n ", "a  b\n\nc\t\td", "  leading", "trailing  ", " \n \n", "\n ", "\t\n\t");
  // the suites' prompts and answers, and text that looks like punctuation clean-up or special tokens
  strings.push("47+38=", "47+38=85\n", "1234+5678=6912\n", "47 + 38 = 85", "k15=v56;k12=v92;?k12=",
               "k15=v56;k12=v92;?k12=v92\n", "k0=v0;k99=v999;k7=v7;?k7=",
               "a .b ,c 's ? ! x'y ' z", "Hello , world ! How are you ? I 'm fine .", "don't won't it's",
               "<s>", "</s>", "<unk>", "<|endoftext|>", "<|im_start|>", "<0x41>", "<extra_0>", "[INST]",
               "\u2581", "\u2581hello", "▁▁ two");
  // Latin-1 (every character U+0080..U+00FF), Latin Extended, combining marks (no normalization)
  let latin1 = "";
  for (let c = 0x80; c < 0x100; c++) {
    strings.push(String.fromCharCode(c));
    latin1 += String.fromCharCode(c);
  }
  strings.push(latin1, "café naïve Ünïcödé straße ÿ ¡¿ «» £¥ ©®", "e\u0301 vs \u00e9", "A\u030a\u0323",
               "Ġ Ċ ĉ Ā ġ ł Ń", "\u0100\u0120\u0143");
  // CJK, other scripts, emoji (surrogate pairs, ZWJ sequences, modifiers, flags, keycaps)
  strings.push("日本語のテキスト", "中文，标点。", "한국어 텍스트", "Ελληνικά Русский עברית العربية हिन्दी ไทย",
               "😀", "👍🏽", "👨‍👩‍👧‍👦", "🇺🇸🇫🇷", "1️⃣", "🏳️‍🌈", "a😀b 😀 😀😀", "\u{10FFFF}", "\u{1D11E}",
               "\uFEFF", "\u200B\u200C\u200D", "\uFFFD");
  // every valid UTF-8 lead byte (C2..F4) with continuation bytes covering 80..BF
  for (let cp = 0x80; cp < 0x800; cp += 0x3f) strings.push(String.fromCodePoint(cp));
  for (let cp = 0x800; cp < 0x10000; cp += 0x3ff)
    if (cp < 0xd800 || cp > 0xdfff) strings.push(String.fromCodePoint(cp));
  for (let cp = 0x10000; cp < 0x110000; cp += 0xfff) strings.push(String.fromCodePoint(cp));
  // a long pseudo-random mix
  let seed = 12345, mix = "";
  const pool = ascii + "\n\t" + "éü日本😀ß€";
  const chars = Array.from(pool);
  for (let i = 0; i < 3000; i++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    mix += chars[seed % chars.length];
  }
  strings.push(mix);

  const seen = new Set();
  for (const s of strings) {
    const want = [...Buffer.from(s, "utf8")];
    for (const b of want) seen.add(b);
    for (const special of [false, true]) {
      const ids = Array.from(model.tokenize(s, special));
      if (!same(ids, want)) bad.push(`tokenize(${show(s)}, ${special}) = ${show(ids)}, expected the bytes ${show(want)}`);
    }
    const back = model.detokenize(want);
    if (back !== s) bad.push(`detokenize(bytes of ${show(s)}) = ${show(back)}`);
    const backSpecial = model.detokenize(want, true);
    if (backSpecial !== s) bad.push(`detokenize(bytes of ${show(s)}, special) = ${show(backSpecial)}`);
  }
  // every byte 0..127 as one id; every byte value 128..255 either seen above inside valid UTF-8
  // or one of the bytes valid UTF-8 never holds
  for (let b = 0; b < 128; b++) {
    const t = model.detokenize([b]);
    if (t !== String.fromCharCode(b)) bad.push(`detokenize([${b}]) = ${show(t)}`);
  }
  const never = [0xc0, 0xc1, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff];
  for (let b = 0; b < 256; b++)
    if (!seen.has(b) && !never.includes(b)) bad.push(`byte ${b} not covered by the stress set`);
  // a byte that cannot stand alone decodes to U+FFFD in a JS string; a lone surrogate arrives as U+FFFD
  for (const b of never) {
    const t = model.detokenize([b]);
    if (t !== "\uFFFD") bad.push(`detokenize([${b}]) = ${show(t)}, expected U+FFFD (invalid UTF-8 in a JS string)`);
  }
  const lone = Array.from(model.tokenize("a\uD800b", false));
  if (!same(lone, [97, 0xef, 0xbf, 0xbd, 98])) bad.push(`tokenize("a\\uD800b") = ${show(lone)}`);
  // llama.cpp's special tokens: no BOS prepended, '\n' is the end of generation
  if (model.tokens.shouldPrependBosToken) bad.push("llama.cpp prepends a BOS token");
  if (model.tokens.nl !== 10) bad.push(`newline token ${model.tokens.nl}, expected 10`);
  for (let b = 0; b < 256; b++)
    if (model.isEogToken(b) !== (b === 10)) bad.push(`isEogToken(${b}) = ${model.isEogToken(b)}`);
  const summary = { strings: strings.length, bytes_seen: seen.size, mismatches: bad.length };
  console.log(JSON.stringify(summary));
  if (bad.length) {
    for (const m of bad.slice(0, 20)) console.error("mismatch: " + m);
    process.exitCode = 1;
  }
} else {
  const N = parseInt(ctxArg, 10);
  const items = fs.readFileSync(itemsPath, "utf8").split("\n").filter((l) => l.length).map((l) => JSON.parse(l));
  const context = await model.createContext({
    contextSize: N, batchSize: N, sequences: 2, flashAttention: false, threads: 1, // 2 busy shared cores: one
    // thread avoids ggml's spin-waiting barriers (about 1 s per token with 2 threads there)
    experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32",
  });
  const seq = context.getSequence();
  const completion = new LlamaCompletion({ contextSequence: context.getSequence() });
  let idsEqual = 0, correctEval = 0, correctCompletion = 0;
  const okEval = [], okCompletion = [], idsBad = [];
  for (const it of items) {
    const ids = Array.from(model.tokenize(it.prompt, false));
    if (same(ids, it.ids)) idsEqual++;
    else if (idsBad.length < 5) idsBad.push(`${show(it.prompt)}: llama.cpp ${show(ids)}, qatc ${show(it.ids)}`);
    const want = Buffer.byteLength(it.answer, "utf8");
    // (a) greedy tokens from the prompt's ids
    await seq.clearHistory();
    const out = [];
    for await (const t of seq.evaluate(ids, { temperature: 0, yieldEogToken: true })) {
      out.push(t);
      if (t === 10 || out.length >= want) break;
    }
    const a = model.detokenize(out) === it.answer ? 1 : 0;
    okEval.push(a);
    correctEval += a;
    // (b) text in, text out
    const text = await completion.generateCompletion(it.prompt, {
      temperature: 0, maxTokens: want, repeatPenalty: false, trimWhitespaceSuffix: false,
    });
    const b = text + "\n" === it.answer ? 1 : 0;
    okCompletion.push(b);
    correctCompletion += b;
  }
  for (const m of idsBad) console.error("ids differ: " + m);
  console.log(JSON.stringify({ n: items.length, ids_equal: idsEqual, correct_eval: correctEval,
                               correct_completion: correctCompletion, ok_eval: okEval, ok_completion: okCompletion }));
  await context.dispose();
}
await model.dispose();
await llama.dispose();
