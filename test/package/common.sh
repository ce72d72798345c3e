# Shared by the package tests: fail with a message; compare two files.
set -eu
fail() { echo "FAIL: $*" >&2; exit 1; }
same() { # FILE_A FILE_B WHAT
  cmp -s "$1" "$2" || { echo "--- $1"; cat "$1"; echo "--- $2"; cat "$2"; fail "$3 differ"; }
  echo "ok: $3 ($(wc -c < "$1") bytes identical)"
}
PROMPT="The quick brown fox jumps over"
