#!/usr/bin/env bash
# Fuzzes the CSV reader with libFuzzer (clang-14) for N seconds (default 60), starting from the seed
# corpus in tests/fuzz/corpus. A crash stops it with a non-zero exit and leaves the input in
# build/fuzz/artifacts/: fix it, then keep the input in tests/fuzz/regressions/.
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then  # the comment above is the help
  sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0"
  exit 0
fi
root="$(cd "$(dirname "$0")/.." && pwd)"
seconds=${1:-60}
if [[ ! "$seconds" =~ ^[1-9][0-9]{0,5}$ ]]; then
  echo "fuzz.sh: '$seconds' is not a number of seconds from 1 to 999999 (see --help)" >&2
  exit 2
fi
"$root/scripts/setup.sh" --fuzz
"$root/scripts/build.sh" fuzz csv_fuzzer
cd "$root"
mkdir -p build/fuzz/corpus build/fuzz/artifacts
build/fuzz/tests/fuzz/csv_fuzzer -max_total_time="$seconds" -print_final_stats=1 -max_len=4096 \
  -artifact_prefix=build/fuzz/artifacts/ build/fuzz/corpus tests/fuzz/corpus
