#!/usr/bin/python3
"""statistics.scipy: a study's summaries and `labrun compare` against independent computations in
numpy and scipy (Debian's python3-scipy) on the same run lines.

Bounds. Exact figures (mean, std, quartiles, IQM, rank-test p-values, P(better)): 1e-9 relative, as
both sides compute them in float64 from the same values. Bootstrap intervals: labrun and scipy draw
different resamples, so each endpoint differs by Monte Carlo error alone: at B = 10,000 an
endpoint's standard error is about 2.7 / sqrt(B) = 0.027 bootstrap standard errors (SE), the
difference of two such about 0.04 SE; 0.25 SE is six of those. Where the values are counts of rows
(accuracies) a median's endpoint moves in steps of half a row's share, so one such step is allowed
on top.

Usage: statistics_test.py --labrun BIN --workdir DIR
"""
import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from script_checks import require_modules  # noqa: E402

B = 10000


class Checks:
    def __init__(self):
        self.failures = []
        self.count = 0

    def check(self, name, ok, detail=""):
        self.count += 1
        if not ok:
            print(f"FAIL {name} {detail}")
            self.failures.append(name)
        return ok


def close(a, b, rel=1e-9, absolute=1e-12):
    return abs(a - b) <= max(rel * max(abs(a), abs(b)), absolute)


def study(args, name, extra):
    path = os.path.join(args.workdir, name)
    if os.path.exists(path):
        os.unlink(path)
    subprocess.run([args.labrun, "sweep", "mlp", "-o", path] + extra, check=True, capture_output=True)
    with open(path) as f:
        return path, [json.loads(line) for line in f]


def figures(lines, setting, epochs, metric, keep_diverged=False):
    values = []
    for line in lines:
        if line["type"] == "run" and line["setting"] == setting:
            point = next(p for p in line["checkpoints"] if p["epochs"] == epochs)
            values.append(None if point["diverged"] and not keep_diverged else point[metric])
    return values


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--labrun", required=True)
    parser.add_argument("--workdir", required=True)
    args = parser.parse_args()
    require_modules("statistics_test.py", "numpy", "scipy")
    import numpy as np
    from scipy import stats
    os.makedirs(args.workdir, exist_ok=True)
    checks = Checks()
    check = checks.check
    rng = np.random.default_rng(2027)

    def bootstrap(data, statistic, paired=False):
        result = stats.bootstrap(data, statistic, n_resamples=B, method="percentile", paired=paired,
                                 vectorized=False, random_state=rng)
        return result.confidence_interval, result.standard_error

    def interval_close(name, ours, theirs, se, step=0.0):
        bound = 0.25 * se + step + 1e-12
        for end, a, b in (("low", ours[0], theirs.low), ("high", ours[1], theirs.high)):
            check(f"{name} {end}", abs(a - b) <= bound, f"labrun {a!r}, scipy {b!r}, bound {bound:.3g}")

    # 1. Summaries: two lr by two hidden widths, two checkpoints, 150 repeats.
    path, lines = study(args, "grid.jsonl", ["--lr", "0.01,0.1", "--hidden", "4,12", "--epochs", "100,300",
                                             "--repeats", "150", "--seed", "7"])
    summaries = [line for line in lines if line["type"] == "summary"]
    check("a summary per setting and epochs value", len(summaries) == 8, str(len(summaries)))
    for s in summaries:
        for metric in ("train_accuracy", "val_accuracy", "loss"):
            name = f"{s['key']} @{s['epochs']} {metric}"
            x = np.array(figures(lines, s["setting"], s["epochs"], metric), dtype=float)
            got = s[metric]
            check(f"{name} n", got["n"] == len(x))
            check(f"{name} mean", close(got["mean"], float(np.mean(x))), f"{got['mean']} {np.mean(x)}")
            check(f"{name} std", close(got["std"], float(np.std(x, ddof=1))))
            check(f"{name} quartiles", close(got["q1"], float(np.quantile(x, 0.25))) and
                  close(got["median"], float(np.median(x))) and close(got["q3"], float(np.quantile(x, 0.75))))
            check(f"{name} iqm (trim_mean)", close(got["iqm"], float(stats.trim_mean(x, 0.25))),
                  f"{got['iqm']} {stats.trim_mean(x, 0.25)}")
            step = 0.0 if metric == "loss" else 0.5 / (50 if metric == "val_accuracy" else 100)
            for centre, function in (("mean", np.mean), ("median", np.median),
                                     ("iqm", lambda v: stats.trim_mean(v, 0.25))):
                theirs, se = bootstrap((x,), function)
                interval_close(f"{name} bootstrap {centre}", got["bootstrap95"][centre], theirs, se,
                               step if centre == "median" else 0.0)

    # 2. Diverged runs are left out of the figures, and counted.
    _, wild = study(args, "wild.jsonl", ["--lr", "10,30", "--epochs", "100", "--repeats", "40", "--seed", "1"])
    diverged_any = False
    for s in (line for line in wild if line["type"] == "summary"):
        kept = [v for v in figures(wild, s["setting"], s["epochs"], "val_accuracy") if v is not None]
        diverged_any = diverged_any or s["diverged"] > 0
        check(f"{s['key']}: n = runs - diverged", s["val_accuracy"]["n"] == s["runs"] - s["diverged"] == len(kept))
        check(f"{s['key']}: said so", s.get("diverged_left_out") is True)
        if kept:
            check(f"{s['key']}: mean over the runs kept", close(s["val_accuracy"]["mean"], float(np.mean(kept))))
    check("lr 10 and 30 diverge in some runs (else the case tests nothing)", diverged_any)

    # 3. labrun compare: every pair at 300 epochs; hidden 4 against 12 do not share their draws.
    done = subprocess.run([args.labrun, "compare", path, "--epochs", "300"], capture_output=True, text=True)
    check("compare runs", done.returncode == 0, done.stderr)
    result = json.loads(done.stdout)
    keys = {s["key"]: s["setting"] for s in summaries}
    p_values = []
    for c in result["comparisons"]:
        name = f"{c['setting']} vs {c['baseline']}"
        x = np.array(figures(lines, keys[c["setting"]], 300, "val_accuracy"), dtype=float)
        y = np.array(figures(lines, keys[c["baseline"]], 300, "val_accuracy"), dtype=float)
        same_width = c["setting"].split()[1] == c["baseline"].split()[1]
        check(f"{name} paired when the width is the same", c["paired"] == same_width)
        if c["paired"]:
            d = x - y
            check(f"{name} difference", close(c["difference"], float(np.mean(d))))
            better = float(np.mean((d > 0) + 0.5 * (d == 0)))
            check(f"{name} P(better) over pairs", close(c["p_better"], better))
            p = stats.wilcoxon(x, y, zero_method="wilcox", correction=False, method="approx").pvalue
            check(f"{name} Wilcoxon p", close(c["p_value"], float(p)), f"{c['p_value']} {p}")
            theirs, se = bootstrap((x, y), lambda a, b: np.mean(a - b), paired=True)
        else:
            check(f"{name} difference", close(c["difference"], float(np.mean(x) - np.mean(y))))
            u = stats.mannwhitneyu(x, y, alternative="two-sided", method="asymptotic")
            check(f"{name} P(better) = U / nm", close(c["p_better"], float(u.statistic) / (len(x) * len(y))))
            check(f"{name} Mann-Whitney p", close(c["p_value"], float(u.pvalue)), f"{c['p_value']} {u.pvalue}")
            theirs, se = bootstrap((x, y), lambda a, b: np.mean(a) - np.mean(b))
        interval_close(f"{name} difference interval", c["difference_ci95"], theirs, se)
        p_values.append(c["p_value"])
    # Holm, by hand.
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    running, holm = 0.0, [0.0] * len(p_values)
    for k, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - k) * p_values[i]))
        holm[i] = running
    check("Holm's correction", all(close(c["p_holm"], h) for c, h in zip(result["comparisons"], holm)))
    check("every pair", len(result["comparisons"]) == 6, str(len(result["comparisons"])))

    # 4. The same study and seed give the same bytes.
    again = subprocess.run([args.labrun, "compare", path, "--epochs", "300"], capture_output=True, text=True)
    check("compare is reproducible", again.stdout == done.stdout)

    print(f"{checks.count} checks, {len(checks.failures)} failed")
    return 1 if checks.failures else 0


if __name__ == "__main__":
    sys.exit(main())
