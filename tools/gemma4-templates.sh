#!/bin/sh
# Extracts the upstream Gemma 4 chat templates from llama.cpp's sources (the
# git bundle node-llama-cpp ships) into DIR, once. Tests render them; they
# are read from there, never copied into this repository.
# usage: tools/gemma4-templates.sh DIR   (exit 77: node_modules is missing)
set -e
DIR=$1
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUNDLE=$SRC/node_modules/node-llama-cpp/llama/gitRelease.bundle
NAMES="google-gemma-4-31B-it.jinja google-gemma-4-31B-it-interleaved.jinja"
if [ -f "$DIR/google-gemma-4-31B-it-interleaved.jinja" ]; then exit 0; fi
if [ ! -f "$BUNDLE" ]; then
  echo "SKIP: $BUNDLE is missing (run npm install in $SRC)"
  exit 77
fi
rm -rf "$DIR.git" "$DIR.tmp"
git clone -q --bare "$BUNDLE" "$DIR.git"
mkdir -p "$DIR.tmp"
for n in $NAMES; do
  git --git-dir="$DIR.git" show "HEAD:models/templates/$n" > "$DIR.tmp/$n"
done
rm -rf "$DIR.git" "$DIR"
mv "$DIR.tmp" "$DIR"
