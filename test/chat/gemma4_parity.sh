#!/bin/sh
# chat.jinja-gemma4: renders both upstream Gemma 4 chat templates (from
# llama.cpp's sources in node-llama-cpp's git bundle) for every conversation
# in test/chat/conversations.json with gemmac-jinja-render and with
# python3-jinja2, and compares the bytes.
# usage: gemma4_parity.sh RENDER_BIN BUILD_DIR SOURCE_DIR
set -e
RENDER=$1
WORK=$2
SRC=$3
BUNDLE=$SRC/node_modules/node-llama-cpp/llama/gitRelease.bundle
if [ ! -f "$BUNDLE" ]; then
  echo "SKIP: $BUNDLE is missing (run npm install in $SRC)"
  exit 77
fi
TEMPLATES=$WORK/gemma4-templates
NAMES="google-gemma-4-31B-it.jinja google-gemma-4-31B-it-interleaved.jinja"
if [ ! -f "$TEMPLATES/google-gemma-4-31B-it-interleaved.jinja" ]; then
  # Clone once, without a checkout, and take the two files from HEAD.
  rm -rf "$WORK/llama-src.git" "$TEMPLATES"
  git clone -q --bare "$BUNDLE" "$WORK/llama-src.git"
  mkdir -p "$TEMPLATES.tmp"
  for n in $NAMES; do
    git --git-dir="$WORK/llama-src.git" show "HEAD:models/templates/$n" > "$TEMPLATES.tmp/$n"
  done
  mv "$TEMPLATES.tmp" "$TEMPLATES"
  rm -rf "$WORK/llama-src.git"
fi
exec /usr/bin/python3 "$SRC/test/chat/parity.py" "$RENDER" \
  --corpus "$SRC/test/chat/conversations.json" \
  "$TEMPLATES/google-gemma-4-31B-it.jinja" \
  "$TEMPLATES/google-gemma-4-31B-it-interleaved.jinja"
