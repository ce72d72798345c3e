#!/bin/sh
# One bounded libFuzzer run, as the fuzz.* tests and the long campaign use it:
#   run-fuzzer.sh FUZZER SECONDS WORKDIR DICT SEEDDIR...   (DICT may be "")
# New inputs go to WORKDIR/corpus (the seed corpus is never written), a crash,
# leak, timeout or out-of-memory input to WORKDIR/crash-*; on a finding the
# reproducer's path and base64 are printed so that a CI log carries it.
set -u
fuzzer=$1 seconds=$2 work=$3 dict=$4
shift 4
seeds=
for d in "$@"; do [ -d "$d" ] && seeds="$seeds $d"; done
mkdir -p "$work/corpus"
# GEMMAC_FUZZ_TIMEOUT: seconds one input may take (wall clock; a campaign at
# nice 19 on a busy machine needs more than the default 10).
set -- -max_total_time="$seconds" -timeout="${GEMMAC_FUZZ_TIMEOUT:-10}" -rss_limit_mb=2560 \
  -print_final_stats=1 -artifact_prefix="$work/"
[ -n "$dict" ] && set -- "$@" -dict="$dict"
# shellcheck disable=SC2086 # the seed directories have no spaces (CMake's)
"$fuzzer" "$@" "$work/corpus" $seeds
rc=$?
if [ $rc -ne 0 ]; then
  for f in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*; do
    [ -f "$f" ] || continue
    echo "reproducer: $f (run: $fuzzer $f)"
    base64 "$f" | head -c 65536; echo
  done
fi
exit $rc
