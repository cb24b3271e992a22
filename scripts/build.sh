#!/usr/bin/env bash
# Configures (once) and builds labrun with a CMake preset (release by default; debug, asan, fuzz,
# kernels-v3, kernels-baseline),
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
  release|debug|asan|fuzz|kernels-v3|kernels-baseline) ;;
  *) echo "build.sh: unknown preset '$preset' (known: release, debug, asan, fuzz, kernels-v3, kernels-baseline; see --help)" >&2; exit 2 ;;
esac
targets=()
[[ $# -gt 0 ]] && targets=(--target "$@")

# ccache, when installed, keyed so that it hits across clones and folders (paths made relative to
# the source folder, the working directory left out of the key) and with the precompiled headers
# (their macros and timestamps do not reach the objects).
options=()
if command -v ccache >/dev/null 2>&1; then
  options+=("-DCMAKE_CXX_COMPILER_LAUNCHER=env;CCACHE_BASEDIR=$PWD;CCACHE_NOHASHDIR=1;CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime;ccache")
fi
# Ninja, when installed (setup.sh installs it), for a new build folder: it compiles one target's
# files while another's still compile, where Make finishes each target first (a clean build of the
# labrun target: 67 s against 81 s on a 2-core machine, docs/development.md). A folder keeps the
# generator it was made with.
command -v ninja >/dev/null 2>&1 && options+=(-G Ninja)
# LABRUN_WERROR=ON in the environment (CI sets it): warnings in labrun's own code fail the build.
[[ -n "${LABRUN_WERROR:-}" ]] && options+=("-DLABRUN_WERROR=$LABRUN_WERROR")
if [[ ! -f "build/$preset/CMakeCache.txt" ]]; then
  echo "build.sh: configuring build/$preset" >&2
  cmake --preset "$preset" "${options[@]}" >&2
fi
echo "build.sh: building build/$preset (first build: several minutes, libtorch is large)" >&2
cmake --build --preset "$preset" "${targets[@]}" >&2
