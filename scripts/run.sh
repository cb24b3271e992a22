#!/usr/bin/env bash
# The main job: set up what is missing, build Release, run labrun with the given arguments.
#   scripts/run.sh factorise --rank 2        JSON on stdout; build progress on stderr
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/setup.sh"
"$root/scripts/build.sh" release
exec "$root/build/release/labrun" "$@"
