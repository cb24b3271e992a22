#!/usr/bin/env bash
# Fuzzes the CSV reader with libFuzzer (clang-14) for N seconds (default 60), starting from the seed
# corpus in tests/fuzz/corpus. A crash stops it with a non-zero exit and leaves the input in
# build/fuzz/artifacts/: fix it, then keep the input in tests/fuzz/regressions/.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
seconds=${1:-60}
"$root/scripts/setup.sh" --fuzz
"$root/scripts/build.sh" fuzz csv_fuzzer
cd "$root"
mkdir -p build/fuzz/corpus build/fuzz/artifacts
build/fuzz/tests/fuzz/csv_fuzzer -max_total_time="$seconds" -print_final_stats=1 -max_len=4096 \
  -artifact_prefix=build/fuzz/artifacts/ build/fuzz/corpus tests/fuzz/corpus
