#!/usr/bin/env bash
# Set up what is missing, build Release, run every test (ctest prints its summary last).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/setup.sh" --test
"$root/scripts/build.sh" release
cd "$root"
ctest --preset release -j2
