#!/bin/sh
# The python.* tests' tiny model: one random checkpoint with the upstream
# Gemma 4 chat template, compiled twice: as a program (`run`, `serve`: the
# references) and as a library (what gemmac.Model opens).
# Usage: make_model.sh GEN_MODEL COMPILE_MODEL TEMPLATE WORK
set -eu
gen=$1 compile=$2 template=$3 work=$4
mkdir -p "$work/lib"
"$gen" --variant e2b --type q8_0 --chat-template "$template" -o "$work/tiny.gguf"
# --draft-max 4: rings keep 4 rows beyond the window, for speculative decoding;
# the library also holds an MTP drafter (--draft).
"$gen" --variant assistant --for e2b --type q8_0 -o "$work/tiny-assistant.gguf"
"$compile" "$work/tiny.gguf" -o "$work/tiny" --quiet --draft-max 4
"$compile" "$work/tiny.gguf" --emit lib -o "$work/lib/tiny" --quiet --draft-max 4 \
  --draft "$work/tiny-assistant.gguf"
