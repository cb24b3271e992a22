#!/usr/bin/python3
"""Makes the pictures in docs/ from the commands the docs show, and checks that they are current.

Usage: docs_figures.py [--labrun PATH]          run each picture's command, draw it into docs/, and
                                                record in docs/figures.json the figures it shows
       docs_figures.py --check [--labrun PATH]  run the commands again and fail (exit 1, naming the
                                                picture and the figure) when a picture is stale

A picture is stale when a fresh run of its command gives other figures than the ones recorded when
it was drawn, or when the file is not the one drawn then (its SHA-256 differs). The check never
redraws: matplotlib's bytes are not compared between machines, labrun's numbers are.

Bounds (why a fresh run on another machine must agree): a float within 1e-4 relative or 1e-6
absolute, which no picture can show. Measured: the float64 factorisation differs between OpenBLAS's
Prescott and Haswell kernels by under 1e-10 relative after 1000 epochs, and the batched MLP engine
gives the same bits on its AVX2 and AVX-512 builds (its SSE2 build: final losses within 5.5e-5
relative, every count the same; scripts/kernels.sh). Counts of correct rows must be equal. The
figures are the Release build's: an ASan build rounds the MLP kernel otherwise.
"""
import argparse
import hashlib
import json
import math
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MANIFEST = os.path.join("docs", "figures.json")
SCRIPT = "docs_figures.py"

# Each picture: the labrun command the docs show for it, the script that draws it, and what of the
# output the picture shows (the figures recorded and checked).
STUDY = ["sweep", "mlp", "--lr", "0.01,0.1,1", "--epochs", "100,300,1000,3000", "--repeats", "200",
         "--seed", "2026"]
PICTURES = [
    {"picture": "docs/pca.png", "labrun": ["pca", "--seed", "0"], "draw": ["plot_pca.py", "-", "-o"]},
    {"picture": "docs/report.png", "labrun": ["all", "--seed", "0"], "draw": ["report.py", "-", "-o"]},
    {"picture": "docs/study.png", "labrun": STUDY, "draw": ["plot_study.py", "{study}", "-o"]},
]
# Timings and the machine are not what a picture shows.
VOLATILE = {"seconds", "seconds_per_epoch", "seconds_per_model", "environment", "provenance"}
REL, ABS = 1e-4, 1e-6


def fail(message):
    print(f"{SCRIPT}: error: {message}", file=sys.stderr)
    sys.exit(1)


def pruned(value):
    """The document without timings and the machine, its floats to 7 significant digits (the bounds
    are far wider): what the manifest records."""
    if isinstance(value, dict):
        return {k: pruned(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [pruned(v) for v in value]
    if isinstance(value, float):
        return float(f"{value:.7g}")
    return value


def figures(value, prefix=""):
    """Every number of a pruned document by its path."""
    out = {}
    if isinstance(value, dict):
        for key, item in value.items():
            out.update(figures(item, f"{prefix}.{key}" if prefix else key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out.update(figures(item, f"{prefix}[{i}]"))
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        out[prefix] = value
    return out


def shown(spec, labrun, workdir):
    """Runs the picture's command; returns the figures it shows and the input the script draws."""
    args = [labrun] + spec["labrun"]
    if spec["labrun"][0] == "sweep":
        study = os.path.join(workdir, os.path.basename(spec["picture"]) + ".jsonl")
        if os.path.exists(study):
            os.remove(study)
        run = subprocess.run(args + ["-o", study], capture_output=True, text=True)
        if run.returncode != 0:
            fail(f"labrun {' '.join(spec['labrun'])}: exit {run.returncode}: {run.stderr.strip()}")
        with open(study) as f:
            lines = [json.loads(line) for line in f]
        # plot_study.py draws the summary lines (and reads the header's plan).
        kept = [line for line in lines if line["type"] == "summary"]
        return pruned(kept), study, None
    run = subprocess.run(args, capture_output=True, text=True)
    if run.returncode != 0:
        fail(f"labrun {' '.join(spec['labrun'])}: exit {run.returncode}: {run.stderr.strip()}")
    doc = json.loads(run.stdout)
    return pruned({"config": doc["config"], "results": doc["results"]}), None, run.stdout


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def differs(recorded, fresh):
    """The first figure that a fresh run changes beyond the bounds, as a sentence, or None."""
    for key in sorted(set(recorded) | set(fresh)):
        if key not in recorded or key not in fresh:
            return f"{key} is {'new' if key in fresh else 'gone'}"
        a, b = recorded[key], fresh[key]
        if isinstance(a, int) and isinstance(b, int) and not key.endswith("seed"):
            if a != b:
                return f"{key} was {a}, is {b}"
        elif not math.isclose(a, b, rel_tol=REL, abs_tol=ABS):
            return f"{key} was {a!r}, is {b!r}"
    return None


def make(labrun, workdir):
    manifest = {"made_by": "scripts/docs_figures.py", "bounds": {"relative": REL, "absolute": ABS},
                "pictures": {}}
    for spec in PICTURES:
        numbers, study, stdin = shown(spec, labrun, workdir)
        draw = [os.path.join(ROOT, "scripts", spec["draw"][0])]
        draw += [a.replace("{study}", study or "") for a in spec["draw"][1:]]
        draw.append(os.path.join(ROOT, spec["picture"]))
        done = subprocess.run(draw, input=stdin, capture_output=True, text=True)
        if done.returncode != 0:
            fail(f"{' '.join(spec['draw'])}: {done.stderr.strip()}")
        manifest["pictures"][spec["picture"]] = {
            "command": "labrun " + " ".join(spec["labrun"]),
            "sha256": sha256(os.path.join(ROOT, spec["picture"])),
            "figures": numbers}
        print(f"{spec['picture']}: drawn from labrun {' '.join(spec['labrun'])} ({len(figures(numbers))} figures)")
    temporary = os.path.join(ROOT, MANIFEST + ".tmp")
    with open(temporary, "w") as f:
        json.dump(manifest, f, separators=(",", ":"), sort_keys=True)
        f.write("\n")
    os.replace(temporary, os.path.join(ROOT, MANIFEST))


def check(labrun, workdir):
    try:
        with open(os.path.join(ROOT, MANIFEST)) as f:
            manifest = json.load(f)
    except (OSError, ValueError) as e:
        fail(f"cannot read {MANIFEST}: {e}")
    stale = []
    for spec in PICTURES:
        entry = manifest["pictures"].get(spec["picture"])
        if entry is None or entry["command"] != "labrun " + " ".join(spec["labrun"]):
            stale.append(f"{spec['picture']}: not drawn from labrun {' '.join(spec['labrun'])}")
            continue
        if sha256(os.path.join(ROOT, spec["picture"])) != entry["sha256"]:
            stale.append(f"{spec['picture']}: not the file drawn when {MANIFEST} was written")
        numbers, _, _ = shown(spec, labrun, workdir)
        change = differs(figures(entry["figures"]), figures(numbers))
        if change:
            stale.append(f"{spec['picture']}: {change}")
        else:
            print(f"{spec['picture']}: current ({len(figures(numbers))} figures of {entry['command']})")
    if stale:
        for line in stale:
            print(f"{SCRIPT}: stale: {line}", file=sys.stderr)
        fail(f"{len(stale)} picture(s) stale: run scripts/docs_figures.py and commit docs/")


def main():
    parser = argparse.ArgumentParser(prog=SCRIPT, description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--labrun", default=os.path.join(ROOT, "build", "release", "labrun"),
                        help="the labrun binary (default: build/release/labrun)")
    parser.add_argument("--check", action="store_true", help="check the pictures instead of drawing them")
    args = parser.parse_args()
    if not os.access(args.labrun, os.X_OK):
        fail(f"{args.labrun} is not an executable labrun (scripts/build.sh release builds it)")
    with tempfile.TemporaryDirectory() as workdir:
        (check if args.check else make)(args.labrun, workdir)


if __name__ == "__main__":
    main()
