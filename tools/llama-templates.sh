#!/bin/sh
# Extracts llama.cpp's chat templates (models/templates/, among them the
# upstream Gemma 4 ones) from the git bundle node-llama-cpp ships into DIR,
# once. Tests render them; they are read from there, never copied into this
# repository.
# usage: tools/llama-templates.sh DIR   (exit 77: node_modules is missing)
set -e
DIR=$1
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUNDLE=$SRC/node_modules/node-llama-cpp/llama/gitRelease.bundle
if [ -f "$DIR/.complete" ]; then exit 0; fi
if [ ! -f "$BUNDLE" ]; then
  echo "SKIP: $BUNDLE is missing (run npm install in $SRC)"
  exit 77
fi
rm -rf "$DIR.git" "$DIR"
git clone -q --bare "$BUNDLE" "$DIR.git"
mkdir -p "$DIR"
git --git-dir="$DIR.git" archive HEAD models/templates | tar -x -C "$DIR" --strip-components=2
rm -rf "$DIR.git"
touch "$DIR/.complete"
