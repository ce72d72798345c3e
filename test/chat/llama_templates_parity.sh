#!/bin/sh
# Chat templates from llama.cpp's sources (node-llama-cpp's git bundle),
# rendered with gemmac-jinja-render and with python3-jinja2, bytes compared.
#   gemma4: both upstream Gemma 4 templates x test/chat/conversations.json
#   all:    every template in models/templates x a few conversations
# usage: llama_templates_parity.sh gemma4|all RENDER_BIN BUILD_DIR SOURCE_DIR
set -e
MODE=$1
RENDER=$2
WORK=$3
SRC=$4
BUNDLE=$SRC/node_modules/node-llama-cpp/llama/gitRelease.bundle
if [ ! -f "$BUNDLE" ]; then
  echo "SKIP: $BUNDLE is missing (run npm install in $SRC)"
  exit 77
fi
TEMPLATES=$WORK/llama-templates
if [ ! -f "$TEMPLATES/.complete" ]; then
  # Clone once, bare, and take models/templates from HEAD.
  rm -rf "$WORK/llama-src.git" "$TEMPLATES"
  git clone -q --bare "$BUNDLE" "$WORK/llama-src.git"
  mkdir -p "$TEMPLATES"
  git --git-dir="$WORK/llama-src.git" archive HEAD models/templates |
    tar -x -C "$TEMPLATES" --strip-components=2
  rm -rf "$WORK/llama-src.git"
  touch "$TEMPLATES/.complete"
fi
CORPUS=$SRC/test/chat/conversations.json
if [ "$MODE" = gemma4 ]; then
  exec /usr/bin/python3 "$SRC/test/chat/parity.py" "$RENDER" --corpus "$CORPUS" \
    "$TEMPLATES/google-gemma-4-31B-it.jinja" \
    "$TEMPLATES/google-gemma-4-31B-it-interleaved.jinja"
fi
# ByteDance-Seed-OSS builds a dict with integer keys (unsupported).
exec /usr/bin/python3 "$SRC/test/chat/parity.py" "$RENDER" --corpus "$CORPUS" \
  --ids user-gen,system-user-gen,multi-turn,tools-simple,toolcall-dict-args,toolcall-several,thinking-true,unicode,quotes-newlines,content-parts,args-numbers-ok,reasoning-after-user \
  --allow-unsupported ByteDance-Seed-OSS.jinja \
  "$TEMPLATES"/*.jinja
