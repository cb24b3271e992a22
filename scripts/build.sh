#!/usr/bin/env bash
# Configures (once) and builds labrun with a CMake preset (release by default; debug, asan, fuzz),
# all targets or the ones named after the preset:  scripts/build.sh [PRESET [TARGET...]]
# Progress goes to stderr, so that `scripts/run.sh ... > out.json` keeps stdout for labrun's JSON.
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then  # the comment above is the help
  sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0"
  exit 0
fi
cd "$(dirname "$0")/.."
preset=${1:-release}
shift || true
case "$preset" in
  release|debug|asan|fuzz) ;;
  *) echo "build.sh: unknown preset '$preset' (known: release, debug, asan, fuzz; see --help)" >&2; exit 2 ;;
esac
targets=()
[[ $# -gt 0 ]] && targets=(--target "$@")

launcher=()
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
if [[ ! -f "build/$preset/CMakeCache.txt" ]]; then
  echo "build.sh: configuring build/$preset" >&2
  cmake --preset "$preset" "${launcher[@]}" >&2
fi
echo "build.sh: building build/$preset (first build: several minutes, libtorch is large)" >&2
cmake --build --preset "$preset" "${targets[@]}" >&2
