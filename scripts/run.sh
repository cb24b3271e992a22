#!/usr/bin/env bash
# The main job: set up what is missing, build labrun (Release, the tool alone), run it with the given arguments.
#   scripts/run.sh factorise --rank 2        JSON on stdout; build progress on stderr
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/setup.sh"
"$root/scripts/build.sh" release labrun
exec "$root/build/release/labrun" "$@"
