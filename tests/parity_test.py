#!/usr/bin/python3
"""Runs the exercise's Python code (lab2_reference.py) and labrun side by side and checks that
the same seed gives the same numbers. Needs Debian's python3-torch and python3-pandas.

Usage: parity_test.py --labrun BIN --reference lab2_reference.py factorise SEED:RANK [SEED:RANK ...]
"""
import argparse
import json
import subprocess
import sys


def run_json(command):
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"parity_test: {' '.join(command)} exited {done.returncode}: {done.stderr.strip()}")
    return json.loads(done.stdout)


def mlp_parity(args):
    failures = 0
    for case in args.cases:
        seed, repeats, *flags = case.split(":")
        shuffle = [] if not flags else ["--no-shuffle"]
        python = run_json([sys.executable, args.reference, "mlp", "--seed", seed, "--repeats", repeats] + shuffle)["mlp"]
        for engine in ("sequential", "batched"):
            ours = run_json([args.labrun, "mlp", "--seed", seed, "--repeats", repeats, "--engine", engine] + shuffle)
            for i, (a, b) in enumerate(zip(ours["results"]["runs"], python["runs"])):
                # sequential is the exercise's code: the same float32 numbers; batched sums in
                # another order, so its losses agree to rounding.
                tolerance = 0.0 if engine == "sequential" else 1e-5
                ok = (a["train_accuracy"] == b["train_accuracy"] and a["val_accuracy"] == b["val_accuracy"]
                      and abs(a["final_loss"] - b["final_loss"]) <= tolerance)
                failures += not ok
                print(f"{'ok  ' if ok else 'FAIL'} seed {seed} {' '.join(shuffle)} {engine} repeat {i}: labrun "
                      f"{a['train_accuracy']:.2f}/{a['val_accuracy']:.2f}/{a['final_loss']!r} python "
                      f"{b['train_accuracy']:.2f}/{b['val_accuracy']:.2f}/{b['final_loss']!r}")
    print(f"{len(args.cases)} cases, {failures} mismatches")
    return 1 if failures else 0


def all_parity(args):
    """`labrun all` against the script's `all`: one torch.manual_seed, factorise's draws, then the MLP's."""
    failures = 0
    for seed in args.cases:
        python = run_json([sys.executable, args.reference, "all", "--seed", seed])
        ours = run_json([args.labrun, "all", "--seed", seed, "--engine", "sequential"])["results"]
        checks = [("gd loss", ours["factorise"]["gd"]["loss"] == python["factorise"]["gd_loss"])]
        for i, (a, b) in enumerate(zip(ours["mlp"]["runs"], python["mlp"]["runs"])):
            checks.append((f"mlp run {i}", (a["train_accuracy"], a["val_accuracy"], a["final_loss"])
                           == (b["train_accuracy"], b["val_accuracy"], b["final_loss"])))
        for name, ok in checks:
            failures += not ok
            print(f"{'ok  ' if ok else 'FAIL'} all seed {seed} {name}")
    print(f"{len(args.cases)} cases, {failures} mismatches")
    return 1 if failures else 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--labrun", required=True)
    parser.add_argument("--reference", required=True)
    parser.add_argument("part", choices=["factorise", "mlp", "all"])
    parser.add_argument("cases", nargs="+", help="factorise: SEED:RANK; mlp: SEED:REPEATS or SEED:REPEATS:no-shuffle")
    args = parser.parse_args()

    failures = 0
    if args.part == "mlp":
        return mlp_parity(args)
    if args.part == "all":
        return all_parity(args)
    for case in args.cases:
        seed, rank = case.split(":")
        python = run_json([sys.executable, args.reference, "factorise", "--seed", seed, "--rank", rank])["factorise"]
        ours = run_json([args.labrun, "factorise", "--seed", seed, "--rank", rank])["results"]
        checks = [("gd loss", ours["gd"]["loss"], python["gd_loss"], 1e-9),
                  ("svd loss", ours["svd"]["loss"], python["svd_loss"], 1e-9)]
        checks += [(f"singular value {i}", a, b, 1e-9)
                   for i, (a, b) in enumerate(zip(ours["svd"]["singular_values"], python["singular_values"]))]
        for name, got, want, rel in checks:
            ok = abs(got - want) <= rel * abs(want)
            failures += not ok
            print(f"{'ok  ' if ok else 'FAIL'} seed {seed} rank {rank} {name}: labrun {got!r} python {want!r}")
    print(f"{len(args.cases)} cases, {failures} mismatches")
    return 1 if failures else 0


if __name__ == "__main__":
    try:
        import torch  # noqa: F401  (the reference needs it; say so plainly if it is missing)
        import pandas  # noqa: F401
    except ImportError as e:
        sys.exit(f"parity_test: {e.name} is missing for {sys.executable}: run scripts/setup.sh --test")
    sys.exit(main())
