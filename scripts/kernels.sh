#!/usr/bin/env bash
# Checks the lane kernels' builds against each other, as docs/development.md states them: builds
# labrun with the AVX2 build alone (kernels-v3) and with the SSE2 build alone (kernels-baseline),
# and compares each with the full build (build/release, whose kernel the CPU picks):
#   - the factorisation's kernel (no FMA contraction): the same bytes in every build, run for run;
#   - the MLP's kernel (FMA contraction): the AVX2 build the same bytes as the full build (AVX-512 on
#     an AVX-512 CPU, AVX2 otherwise); the SSE2 build rounds each product apart: every count of
#     correct rows the same and final losses within 1e-4 relative (measured on 2000 models, seed 0:
#     5.5e-5, 2026-11-30). The kernels call no BLAS, so these hold on every x86-64 machine.
#   scripts/kernels.sh     exit 0 when every relation holds, 1 naming the one that does not
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then  # the comment above is the help
  sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0"
  exit 0
fi
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
for preset in release kernels-v3 kernels-baseline; do
  scripts/build.sh "$preset" labrun >/tmp/labrun_kernels_build.log 2>&1 ||
    { cat /tmp/labrun_kernels_build.log >&2; echo "kernels.sh: build/$preset does not build" >&2; exit 1; }
done
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for build in release kernels-v3 kernels-baseline; do
  # No environment that would pick another BLAS kernel: the lane kernels use none, and the sweep's
  # run lines hold no timing.
  "build/$build/labrun" sweep factorise --repeats 8 --seed 0 --epochs 100,1000 --rank 1,2 --progress never \
    -o "$work/$build.factorise.jsonl"
  "build/$build/labrun" mlp --seed 0 --repeats 2000 --threads 1 -o "$work/$build.mlp.json"
done
/usr/bin/python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
failed = []

def runs(build):
    with open(f"{work}/{build}.factorise.jsonl") as f:
        return [line for line in f if line.startswith('{"type":"run"')]

def models(build):
    with open(f"{work}/{build}.mlp.json") as f:
        return json.load(f)["results"]["runs"]

def check(what, ok, detail=""):
    print(f"kernels.sh: {'ok  ' if ok else 'FAIL'} {what} {detail}")
    if not ok:
        failed.append(what)

full = runs("release")
for build in ("kernels-v3", "kernels-baseline"):
    check(f"factorisation, {build} against the full build: the same run lines ({len(full)})", runs(build) == full)
reference = models("release")
v3 = models("kernels-v3")
check("MLP, AVX2 build against the full build: the same bits in 2000 models",
      [(m["train_correct"], m["val_correct"], m["final_loss"]) for m in v3] ==
      [(m["train_correct"], m["val_correct"], m["final_loss"]) for m in reference])
sse2 = models("kernels-baseline")
counts = sum((a["train_correct"], a["val_correct"]) != (b["train_correct"], b["val_correct"])
             for a, b in zip(sse2, reference))
worst = max(abs(a["final_loss"] - b["final_loss"]) / abs(b["final_loss"]) for a, b in zip(sse2, reference))
check("MLP, SSE2 build against the full build: every count of correct rows the same", counts == 0,
      f"({counts} models differ)")
check("MLP, SSE2 build: final losses within 1e-4 relative", worst <= 1e-4, f"(largest {worst:.2g})")
sys.exit(1 if failed else 0)
PY
