#!/usr/bin/env bash
# Installs what labrun needs from Debian's packages, and only what is missing.
# Idempotent: silent and quick when everything is there.
#
#   scripts/setup.sh           what building and running labrun needs
#   scripts/setup.sh --test    that, plus what the tests need (the exercise's Python reference
#                              code runs under Debian's python3-torch and python3-pandas; the
#                              scripts' tests need matplotlib, jsonschema and poppler's pdfinfo;
#                              scripts/format.sh needs clang-format; the cluster tests run a
#                              single-node Slurm and GNU parallel)
#   scripts/setup.sh --fuzz    that, plus clang-14 and its libFuzzer runtime
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then  # the comment above is the help
  sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0"
  exit 0
fi

packages=(
  g++ cmake make ninja-build ccache
  libtorch-dev libcli11-dev libfmt-dev nlohmann-json3-dev libgtest-dev libssl-dev
  # Without it Debian's libtorch runs its matmuls on the reference BLAS, 16x slower.
  libopenblas0-pthread
)
for arg in "$@"; do
  case "$arg" in
    --test) packages+=(python3 python3-torch python3-pandas python3-matplotlib python3-jsonschema python3-scipy poppler-utils clang-format git
                       slurm-wlm munge parallel) ;;
    --fuzz) packages+=(clang-14 libclang-rt-14-dev) ;;
    *) echo "setup.sh: unknown option '$arg' (known: --test, --fuzz)" >&2; exit 2 ;;
  esac
done

missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$package")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup.sh: missing ${missing[*]}, and there is no apt-get to install them; install them by hand" >&2
  exit 1
fi
sudo=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null 2>&1 || { echo "setup.sh: missing ${missing[*]}; run as root or install sudo" >&2; exit 1; }
  sudo=(sudo)
fi
echo "setup.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq >&2
"${sudo[@]}" apt-get install -y -qq "${missing[@]}" >&2
