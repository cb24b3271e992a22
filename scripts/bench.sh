#!/usr/bin/env bash
# The Google Benchmark suite (tests/bench), then labrun's speed beside the exercise's Python code,
# measured in one run on this machine with the same libtorch and BLAS, printed as ratios.
#   scripts/bench.sh [path/to/lab2_reference.py]   (default: ../shared/reference/lab2_reference.py)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
reference=${1:-"$root/../shared/reference/lab2_reference.py"}
[[ -f "$reference" ]] || { echo "bench.sh: no reference script at $reference" >&2; exit 1; }
"$root/scripts/setup.sh" --test
"$root/scripts/build.sh" release labrun labrun_bench
labrun="$root/build/release/labrun"
export REFERENCE="$reference" LABRUN="$labrun"
"$root/build/release/tests/bench/labrun_bench" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true

/usr/bin/python3 - <<'PY'
import json, os, statistics, subprocess, sys, time
labrun, reference = os.environ["LABRUN"], os.environ["REFERENCE"]

def run(command):
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return json.loads(out)

def wall(command, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)

# 1. factorise, Iris, rank 2, 1000 epochs: training time per epoch, alternating runs.
ours, theirs = [], []
for _ in range(7):
    ours.append(run([labrun, "factorise", "--seed", "0"])["results"]["gd"]["seconds"] / 1000)
    theirs.append(run([sys.executable, reference, "factorise", "--seed", "0"])["factorise"]["gd_seconds"] / 1000)
a, b = statistics.median(ours), statistics.median(theirs)
print(f"factorise per epoch:      labrun {a*1e6:8.1f} us   python {b*1e6:8.1f} us   ratio {b/a:5.2f}x")

# 2. The whole process, end to end.
a = wall([labrun, "factorise", "--seed", "0"], 7)
b = wall([sys.executable, reference, "factorise", "--seed", "0"], 7)
floor = wall([labrun, "--help"], 7)
print(f"factorise end to end:     labrun {a:8.3f} s    python {b:8.3f} s    ratio {b/a:5.2f}x   "
      f"(labrun --help alone: {floor:.3f} s)")

# 3. mlp, per model: batched and sequential engines against the exercise's loop.
py = run([sys.executable, reference, "mlp", "--seed", "0", "--repeats", "200"])["mlp"]["seconds"] / 200
batched = run([labrun, "mlp", "--seed", "0", "--repeats", "1000"])["results"]["seconds_per_model"]
sequential = run([labrun, "mlp", "--seed", "0", "--repeats", "200", "--engine", "sequential"])["results"]["seconds_per_model"]
print(f"mlp per model:            batched {batched*1e3:7.3f} ms   sequential {sequential*1e3:7.3f} ms   "
      f"python {py*1e3:7.3f} ms   ratios {py/batched:5.1f}x / {py/sequential:4.2f}x")

# 5. A 10 MB numeric CSV: labrun's reader (in the benchmark below) against pandas.read_csv.
path = os.path.join(os.environ.get("TMPDIR", "/tmp"), "labrun_bench_10mb_v2.csv")
if os.path.exists(path):
    import pandas
    times = []
    for _ in range(5):
        start = time.perf_counter()
        pandas.read_csv(path, header=None)
        times.append(time.perf_counter() - start)
    print(f"pandas.read_csv {os.path.getsize(path)/1e6:.1f} MB: {statistics.median(times)*1e3:.1f} ms "
          f"(labrun: BM_CsvLoad below)")
PY
