#!/bin/sh
# The long fuzzing campaign (docs/RELIABILITY.md): every harness of a
# sanitizer build in turn, SECONDS each, its corpus kept in WORKDIR/NAME so
# that campaigns add up. Prints one line per harness: CPU seconds, runs,
# edges (cov), features (ft), corpus size, and the findings kept.
#   campaign.sh SANITIZE_BUILD_DIR WORKDIR SECONDS [HARNESS...]
set -u
build=$1 work=$2 seconds=$3
shift 3
src=$(cd "$(dirname "$0")/../.." && pwd)
names=${*:-$(cd "$build/bin" && ls ./*-fuzzer | sed 's|^\./||; s|-fuzzer$||')}
printf '%-14s %8s %12s %6s %7s %7s %s\n' harness cpu_s runs cov ft corpus findings
for name in $names; do
  dict=$src/test/fuzz/$name.dict
  [ -f "$dict" ] || dict=
  log=$work/$name.log
  mkdir -p "$work/$name"
  /usr/bin/time -f '%U %S' -o "$work/$name.time" \
    sh "$src/tools/fuzz/run-fuzzer.sh" "$build/bin/$name-fuzzer" "$seconds" \
      "$work/$name" "$dict" "$src/test/fuzz/corpus/$name" \
      "$build/test/fuzz/seeds/$name" > "$log" 2>&1
  cpu=$(awk '{printf "%.0f", $1 + $2}' "$work/$name.time")
  runs=$(grep -o 'number_of_executed_units: [0-9]*' "$log" | awk '{print $2}')
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
  cov=$(echo "$last" | grep -o 'cov: [0-9]*' | awk '{print $2}')
  ft=$(echo "$last" | grep -o 'ft: [0-9]*' | awk '{print $2}')
  corpus=$(ls "$work/$name/corpus" | wc -l)
  findings=$(ls "$work/$name" | grep -cE '^(crash|leak|timeout|oom)-')
  printf '%-14s %8s %12s %6s %7s %7s %s\n' "$name" "$cpu" "${runs:-?}" \
    "${cov:-?}" "${ft:-?}" "$corpus" "$findings"
done
