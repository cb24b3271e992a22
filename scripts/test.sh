#!/usr/bin/env bash
# Set up what is missing, build, run every test (ctest prints its summary last).
#   scripts/test.sh              Release build
#   scripts/test.sh --sanitize   the same suite built with AddressSanitizer + UndefinedBehaviorSanitizer
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then  # the comment above is the help
  sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0"
  exit 0
fi
root="$(cd "$(dirname "$0")/.." && pwd)"
preset=release
case "${1:-}" in
  "") ;;
  --sanitize) preset=asan ;;
  *) echo "test.sh: unknown option '$1' (known: --sanitize)" >&2; exit 2 ;;
esac
"$root/scripts/setup.sh" --test
"$root/scripts/build.sh" "$preset"
cd "$root"
ctest --preset "$preset" -j2
