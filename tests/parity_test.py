#!/usr/bin/python3
"""Runs the exercise's Python code (tests/exercise.py, or the course's own script with the same
command line) and labrun side by side and checks that the same seed gives the same numbers. Needs
Debian's python3-torch and python3-pandas.

Usage: parity_test.py --labrun BIN --reference exercise.py factorise SEED:RANK [SEED:RANK ...]
"""
import argparse
import json
import math
import os
import subprocess
import sys

# labrun and the Python code run here on the same OpenBLAS kernel: labrun must not restart itself
# on another one (it would not for runs this small; this makes it certain).
LABRUN_ENV = dict(os.environ, LABRUN_BLAS_CORRECTION="off")

# Bounds derived in tests/tolerance.hpp: a sum of k products is off by at most 6 sqrt(k) u, and E
# epochs add at most linearly. The Python code's `U -= lr * U.grad` rounds once more than labrun's
# fused `sub_(grad, lr)`, so the factorisations are two computations: within the drift bound.
U64 = 2.0 ** -53


def drift(epochs, longest_sum, roundoff):
    return 6.0 * epochs * math.sqrt(longest_sum) * roundoff


def factorisation_loss_tolerance(drift_of_factors, norm_a, loss):
    return 4.0 * drift_of_factors * norm_a / math.sqrt(loss)


# The batched engine (the default; no autograd, rows summed in another order, FMA on AVX2 and
# AVX-512 CPUs) against the Python loop: a regression bound from what it does, not the derived one
# (tests/mlp_test.cpp derives 2e-2 to 7.2e-2 relative for these runs). Measured on 200 runs (seeds
# 0, 3, 7, 42, 50 repeats each): the final losses within 4.6e-7 relative, every count equal. A
# 0.05% larger step moves the losses by 9.4e-4, beyond this bound.
def _has_fma_kernels():
    """Whether this CPU runs the batched kernel's FMA build (AVX2 and FMA): the bound was measured
    there; the SSE2 build of older CPUs rounds apart (~1e-4 relative)."""
    try:
        with open("/proc/cpuinfo") as info:
            flags = next((line.split() for line in info if line.startswith("flags")), [])
    except OSError:
        return False
    return "avx2" in flags and "fma" in flags


MLP_LOSS_RELATIVE = 1e-5 if _has_fma_kernels() else 2e-4
# Near ties: the batched engine's logits differ from the loop's by about the loss's relative error,
# so a row's class can change only where its two largest logits are within ~1e-5 of each other.
# The seeds below have no such row (checked by the run above): their counts must be equal, and a
# mismatch names the repeat, whose logits then tell whether a tie moved.


def run_json(command):
    done = subprocess.run(command, capture_output=True, text=True, env=LABRUN_ENV)
    if done.returncode != 0:
        sys.exit(f"parity_test: {' '.join(command)} exited {done.returncode}: {done.stderr.strip()}")
    return json.loads(done.stdout)


def same_run(ours, results, python):
    """The exercise's numbers, bit for bit: its accuracies are float32 means of the matches, labrun's
    the exact fractions of its counts, so the counts are compared (round(accuracy * rows) recovers
    the exercise's count exactly: float32's error is far below half a row), and the loss bitwise."""
    return (ours["train_correct"], ours["val_correct"], ours["final_loss"]) == (
        round(python["train_accuracy"] * results["train_rows"]), round(python["val_accuracy"] * results["val_rows"]),
        python["final_loss"])


def mlp_parity(args):
    failures = 0
    for case in args.cases:
        seed, repeats, *flags = case.split(":")
        shuffle = [] if not flags else ["--no-shuffle"]
        python = run_json([sys.executable, args.reference, "mlp", "--seed", seed, "--repeats", repeats] + shuffle)["mlp"]
        for engine in ("sequential", "batched"):
            ours = run_json([args.labrun, "mlp", "--seed", seed, "--repeats", repeats, "--engine", engine] + shuffle)
            for i, (a, b) in enumerate(zip(ours["results"]["runs"], python["runs"])):
                # sequential is the exercise's code on the same kernel: the same float32 numbers to
                # the last bit; batched sums in another order.
                if engine == "sequential":
                    ok = same_run(a, ours["results"], b)
                else:
                    ok = (abs(a["final_loss"] - b["final_loss"]) <= MLP_LOSS_RELATIVE * abs(b["final_loss"]) and
                          same_run(dict(a, final_loss=b["final_loss"]), ours["results"], b))
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
        ours = run_json([args.labrun, "all", "--seed", seed, "--engine", "sequential",
                         "--repeats", str(len(python["mlp"]["runs"]))])["results"]
        gd, want = ours["factorise"]["gd"]["loss"], python["factorise"]["gd_loss"]
        norm_a = math.sqrt(sum(v * v for v in ours["factorise"]["svd"]["singular_values"]))
        bound = factorisation_loss_tolerance(drift(1000, 150, U64), norm_a, want)
        checks = [(f"gd loss {gd!r} vs {want!r} (bound {bound:.2g} relative)", abs(gd - want) <= bound * want)]
        for i, (a, b) in enumerate(zip(ours["mlp"]["runs"], python["mlp"]["runs"])):
            checks.append((f"mlp run {i}", same_run(a, ours["mlp"], b)))
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
        norm_a = math.sqrt(sum(v * v for v in ours["svd"]["singular_values"]))
        rows = 150  # the embedded Iris data
        gd_bound = factorisation_loss_tolerance(drift(1000, rows, U64), norm_a, python["gd_loss"])
        # The SVD: backward stable, min(m, n) = 4 Householder steps of sums over the rows.
        svd_drift = drift(4, rows, U64)
        checks = [("gd loss", ours["gd"]["loss"], python["gd_loss"], gd_bound),
                  ("svd loss", ours["svd"]["loss"], python["svd_loss"],
                   factorisation_loss_tolerance(svd_drift, norm_a, python["svd_loss"]))]
        checks += [(f"singular value {i}", a, b, svd_drift * norm_a / b)
                   for i, (a, b) in enumerate(zip(ours["svd"]["singular_values"], python["singular_values"]))]
        for name, got, want, rel in checks:
            ok = abs(got - want) <= rel * abs(want)
            failures += not ok
            print(f"{'ok  ' if ok else 'FAIL'} seed {seed} rank {rank} {name}: labrun {got!r} python {want!r} "
                  f"(bound {rel:.2g} relative)")
    print(f"{len(args.cases)} cases, {failures} mismatches")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from script_checks import require_modules
    require_modules("parity_test", "torch", "pandas")  # what the reference code needs
    sys.exit(main())
