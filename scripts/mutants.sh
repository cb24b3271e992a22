#!/usr/bin/env bash
# Applies named mutants to labrun's kernels one at a time, rebuilds the library's tests, and checks
# that they fail for each: a fast path that drifts from the exercise's arithmetic must not pass.
#   scripts/mutants.sh [BUILD_DIR]   default build/release (configured by scripts/build.sh)
# Each mutant is a file and a sed expression that must change it; the file is restored afterwards,
# also on error or interruption. Exit 0 when every mutant is killed, 1 naming the survivors.
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then  # the comment above is the help
  sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0"
  exit 0
fi
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build/release}"
cd "$root"
[[ -f "$build/CMakeCache.txt" ]] || { echo "mutants.sh: $build is not configured; run scripts/build.sh first" >&2; exit 2; }

# name | file | sed expression
mutants=(
  "mlp-step-0.05%-too-large|src/mlp_pack.cpp|s/for (float\& r : rate.lane) r = lr;/for (float\& r : rate.lane) r = lr * 1.0005f;/"
  "factorise-step-0.05%-too-large|src/factorise_pack.cpp|s/lr = splat<T>(lr_divisor\[0\])/lr = splat<T>(lr_divisor[0] * T(1.0005))/"
  "mlp-db1-drops-a-hidden-unit|src/mlp_pack.cpp|s/for (int64_t j = 0; j < H; ++j) db1 = db1 + dh\[r \* H + j\];/for (int64_t j = 1; j < H; ++j) db1 = db1 + dh[r * H + j];/"
  "shuffle-off-by-one|src/mlp.cpp|s/for (int64_t i = n - 1; i >= 1; --i) {/for (int64_t i = n - 2; i >= 1; --i) {/"
  "streamed-dV-wrong-sign|src/factorise_stream.cpp|s/dV.neg_().addmm_(V, UtU);/dV.addmm_(V, UtU);/"
)

saved=""
restore() {
  if [[ -n "$saved" ]]; then
    cp -p "$saved.orig" "$saved"
    touch "$saved"
    rm -f "$saved.orig"
    saved=""
  fi
}
trap restore EXIT
trap 'restore; exit 130' INT
trap 'restore; exit 143' TERM

# The unmutated tests first: a mutant only counts as killed if they pass without it.
cmake --build "$build" --target labrun_tests >/tmp/labrun_mutant_build.log 2>&1 ||
  { cat /tmp/labrun_mutant_build.log >&2; echo "mutants.sh: the tests do not build" >&2; exit 1; }
if ! "$build/tests/labrun_tests" --gtest_brief=1 >/tmp/labrun_mutant_tests.log 2>&1; then
  cat /tmp/labrun_mutant_tests.log >&2
  echo "mutants.sh: the unit tests fail without any mutant: fix them first" >&2
  exit 1
fi

survivors=()
for entry in "${mutants[@]}"; do
  IFS='|' read -r name file expression <<<"$entry"
  cp -p "$file" "$file.orig"
  saved=$file
  sed -i "$expression" "$file"
  if cmp -s "$file" "$file.orig"; then
    echo "mutants.sh: mutant $name no longer applies to $file: update its expression" >&2
    exit 1
  fi
  echo "mutants.sh: $name ($file)" >&2
  if ! cmake --build "$build" --target labrun_tests >/tmp/labrun_mutant_build.log 2>&1; then
    cat /tmp/labrun_mutant_build.log >&2
    echo "mutants.sh: mutant $name does not compile: fix its expression" >&2
    exit 1
  fi
  if "$build/tests/labrun_tests" --gtest_brief=1 >/tmp/labrun_mutant_tests.log 2>&1; then
    survivors+=("$name")
    echo "mutants.sh:   SURVIVED: every unit test passed" >&2
  else
    echo "mutants.sh:   killed by $(grep -c '^\[  FAILED  \] [A-Za-z]' /tmp/labrun_mutant_tests.log) failing tests:" \
         "$(grep '^\[  FAILED  \] [A-Za-z]' /tmp/labrun_mutant_tests.log | sed 's/^\[  FAILED  \] //; s/ (.*//' | sort -u | head -5 | tr '\n' ' ')" >&2
  fi
  restore
done
# The library as it was, for whatever runs next.
cmake --build "$build" --target labrun_tests >/dev/null 2>&1
if [[ ${#survivors[@]} -gt 0 ]]; then
  echo "mutants.sh: ${#survivors[@]} of ${#mutants[@]} mutants survived: ${survivors[*]}" >&2
  exit 1
fi
echo "${#mutants[@]} passed, 0 failed"
echo "mutants.sh: all ${#mutants[@]} mutants killed" >&2
