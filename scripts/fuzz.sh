#!/usr/bin/env bash
# Fuzzes the data readers (CSV text, and .npy files through read_data) with libFuzzer (clang-14).
#   scripts/fuzz.sh [SECONDS]   a random-seed run of SECONDS (default 60), from the kept corpus in
#                               tests/fuzz/corpus plus what earlier runs found (build/fuzz/corpus)
#   scripts/fuzz.sh --ci        what CI runs: seed 1, 500,000 inputs, from the kept corpus alone, so
#                               that the same tree always fuzzes the same inputs (about 40 s)
# A crash stops it with a non-zero exit and leaves the input in build/fuzz/artifacts/: fix it, then
# keep the input in tests/fuzz/regressions/.
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then  # the comment above is the help
  sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0"
  exit 0
fi
root="$(cd "$(dirname "$0")/.." && pwd)"
mode=random
seconds=60
case "${1:-}" in
  --ci) mode=ci ;;
  "") ;;
  *)
    seconds=$1
    if [[ ! "$seconds" =~ ^[1-9][0-9]{0,5}$ ]]; then
      echo "fuzz.sh: '$seconds' is neither --ci nor a number of seconds from 1 to 999999 (see --help)" >&2
      exit 2
    fi ;;
esac
"$root/scripts/setup.sh" --fuzz
"$root/scripts/build.sh" fuzz csv_fuzzer
cd "$root"
mkdir -p build/fuzz/artifacts
fuzzer=(build/fuzz/tests/fuzz/csv_fuzzer -print_final_stats=1 -max_len=4096 -artifact_prefix=build/fuzz/artifacts/)
if [[ $mode == ci ]]; then
  # A fresh, empty output corpus: what was found before must not change what this run tries.
  rm -rf build/fuzz/ci-corpus
  mkdir -p build/fuzz/ci-corpus
  "${fuzzer[@]}" -seed=1 -runs=500000 build/fuzz/ci-corpus tests/fuzz/corpus
else
  mkdir -p build/fuzz/corpus
  "${fuzzer[@]}" -max_total_time="$seconds" build/fuzz/corpus tests/fuzz/corpus
fi
