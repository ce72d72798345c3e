#!/bin/sh
# Chat templates from llama.cpp's sources (node-llama-cpp's git bundle),
# rendered with gemmac-jinja-render and with python3-jinja2, bytes compared.
#   gemma4: both upstream Gemma 4 templates x test/chat/conversations.json
#   all:    every template in models/templates x a few conversations
# usage: llama_templates_parity.sh gemma4|all RENDER_BIN TEMPLATES_DIR SOURCE_DIR
# (TEMPLATES_DIR: what tools/llama-templates.sh extracted)
set -e
MODE=$1
RENDER=$2
TEMPLATES=$3
SRC=$4
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
