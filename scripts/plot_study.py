#!/usr/bin/python3
"""Draws a labrun study (`labrun sweep`, `labrun merge`): the distribution of the chosen figure per
setting with the interquartile mean's bootstrap interval, the score distribution (rliable's
performance profile: the fraction of runs above each value), its learning curve over the epochs
values with a band across the seeds, and a heatmap of its mean when the grid has two axes.

Usage: plot_study.py STUDY.jsonl -o study.png [--metric val_accuracy]
"""
import argparse
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import labrunplot  # noqa: E402
from labrunplot import PlotError, finite  # noqa: E402

SCRIPT = "plot_study.py"


def stats_box(s, label):
    """A box of the summary's quartiles, whiskers at min and max (matplotlib's bxp)."""
    return {"label": label, "med": s["median"], "q1": s["q1"], "q3": s["q3"], "whislo": s["min"],
            "whishi": s["max"], "mean": s["mean"], "fliers": []}


def usable(s):
    return all(finite(s.get(k)) for k in ("median", "q1", "q3", "min", "max"))


def chosen_metric(header, metric):
    metrics = header["plan"]["metrics"]
    if metric is None:
        metric = "val_accuracy" if "val_accuracy" in metrics else "gap"
    if metric not in metrics:
        raise PlotError(f"the study has no figure {metric!r}; it has {', '.join(metrics)}")
    return metric


class Profiles:
    """Per setting, how many runs ended at each value of the figure at the largest epochs value (runs
    that diverged left out): what a performance profile needs, in memory bounded by the distinct
    values (an accuracy takes one per validation row; other figures are kept to 6 significant
    digits, finer than a picture shows)."""

    def __init__(self, metric):
        self.metric = metric
        self.counts = {}

    def __call__(self, header, record):
        point = record["checkpoints"][-1]
        value = point.get(chosen_metric(header, self.metric))
        if point["diverged"] or value is None:
            return
        key = record["key"] or "(one setting)"
        bucket = self.counts.setdefault(key, {})
        value = float(f"{value:.6g}")
        bucket[value] = bucket.get(value, 0) + 1


def draw_profiles(ax, keys, profiles, metric, last):
    """rliable's performance profile: the fraction of runs whose figure exceeds each value (for a
    loss or a gap, the fraction below it), one step curve per setting."""
    higher = "accuracy" in metric
    for i, (_, key) in enumerate(keys):
        counts = profiles.counts.get(key)
        if not counts:
            continue
        total = sum(counts.values())
        values = sorted(counts, reverse=not higher)
        # From every run (1 just short of the first value) down to none past the last.
        xs, ys, beyond = [values[0]], [1.0], total
        for v in values:
            beyond -= counts[v]
            xs.append(v)
            ys.append(beyond / total)
        ax.step(xs, ys, where="post", lw=1.2, color=f"C{i % 10}", label=key)
    scale, options = value_scale([v for key in profiles.counts for v in profiles.counts[key]], metric)
    ax.set_xscale(scale, **options)
    ax.set_xlabel(f"{metric} at {last} epochs", fontsize=8)
    ax.set_ylabel(f"fraction of runs {'above' if higher else 'below'}", fontsize=8)
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("Score distribution over the seeds (performance profile)", fontsize=8)
    ax.legend(fontsize=6)
    ax.tick_params(labelsize=7)


def value_scale(values, metric):
    """A loss or gap spread over orders of magnitude (most settings of a factorisation sit near 0)
    on a log axis, symlog when some are 0; an accuracy, or a narrow spread, on a linear one."""
    if "accuracy" in metric:
        return "linear", {}
    finite_values = [v for v in values if finite(v)]
    positive = [v for v in finite_values if v > 0]
    if not positive or min(finite_values) < 0 or max(positive) / min(positive) < 100:
        return "linear", {}
    if len(positive) < len(finite_values):
        return "symlog", {"linthresh": min(positive)}
    return "log", {}


def draw(plt, header, summaries, metric, profiles=None):
    plan = header["plan"]
    metric = chosen_metric(header, metric)
    companion = "train_accuracy" if metric == "val_accuracy" else None
    epochs = plan["epochs"]
    last = epochs[-1]
    keys = sorted({(s["setting"], s["key"] or "(one setting)") for s in summaries})
    by_cell = {(s["setting"], s["epochs"]): s for s in summaries}
    axes = [a for a in plan["axes"] if a["name"] != "epochs"]
    grid_axes = axes + ([{"name": "epochs", "values": epochs}] if len(epochs) > 1 else [])
    heatmap = len(grid_axes) == 2
    # The panels the study has: the distribution, the profile, learning curves (two epochs values or
    # more) and a heatmap (two axes): two to a row, none left empty.
    panels = ["distribution"] + (["profile"] if profiles is not None else []) + \
        (["curves"] if len(epochs) > 1 else []) + (["heatmap"] if heatmap else [])
    columns = 2 if len(panels) in (2, 4) else len(panels)
    rows = math.ceil(len(panels) / columns)
    fig, grid = plt.subplots(rows, columns, figsize=(5.5 * columns, 4.6 * rows + 0.6), squeeze=False)
    placed = dict(zip(panels, [a for row in grid for a in row]))
    ax = [placed.get("distribution"), placed.get("curves"), placed.get("heatmap"), placed.get("profile")]
    title = (f"labrun {header['command']}: {plan['runs']} runs ({plan['repeats']} repeats x {plan['settings']} "
             f"settings), seed {plan['seed']}, data {header['data']['source']}")
    fig.suptitle(title, fontsize=10)

    # 1. The distribution per setting at the largest epochs value: boxes of the summary's quartiles.
    boxes, positions, colours = [], [], []
    for i, (setting, key) in enumerate(keys):
        for offset, name, colour in ((0.0, metric, "C0"), (0.3, companion, "C1")):
            cell = by_cell.get((setting, last))
            if name is None or cell is None or not usable(cell[name]):
                continue
            boxes.append(stats_box(cell[name], key if offset == 0 else ""))
            positions.append(i + offset)
            colours.append(colour)
    scale, options = value_scale([v for b in boxes for v in (b["whislo"], b["q1"], b["med"], b["q3"], b["whishi"])],
                                 metric)
    ax[0].set_xscale(scale, **options)
    if boxes:
        art = ax[0].bxp(boxes, positions=positions, widths=0.25, showmeans=True, patch_artist=True, vert=False)
        for patch, colour in zip(art["boxes"], colours):
            patch.set_facecolor(colour)
            patch.set_alpha(0.45)
    # The bootstrap 95% interval of the interquartile mean, under each box (schema 2.4.0 on).
    for i, (setting, key) in enumerate(keys):
        cell = by_cell.get((setting, last))
        interval = (cell[metric].get("bootstrap95") or {}).get("iqm") if cell else None
        if interval and finite(interval[0]) and finite(interval[1]):
            iqm = cell[metric]["iqm"]
            ax[0].errorbar([iqm], [i - 0.2], xerr=[[iqm - interval[0]], [interval[1] - iqm]], fmt="D", ms=3,
                           color="k", capsize=3, lw=1.2)
    ax[0].set_yticks(range(len(keys)), [k for _, k in keys], fontsize=7)
    ax[0].set_xlabel(f"{metric} at {last} epochs" + (f" (orange: {companion})" if companion else ""), fontsize=8)
    ax[0].set_title("Distribution over the seeds (box: quartiles, whiskers: min-max, triangle: mean;\n"
                    "black diamond: the interquartile mean, with its bootstrap 95% interval)", fontsize=8)
    ax[0].tick_params(labelsize=7)

    # 2. Learning curves: the median over the seeds, with the quartiles as a band.
    if len(epochs) > 1:
        for i, (setting, key) in enumerate(keys):
            cells = [by_cell.get((setting, e)) for e in epochs]
            points = [(e, c[metric]) for e, c in zip(epochs, cells) if c is not None and usable(c[metric])]
            if not points:
                continue
            xs = [p[0] for p in points]
            ax[1].plot(xs, [p[1]["median"] for p in points], marker="o", ms=3, lw=1.2, color=f"C{i % 10}", label=key)
            ax[1].fill_between(xs, [p[1]["q1"] for p in points], [p[1]["q3"] for p in points], color=f"C{i % 10}",
                               alpha=0.2)
        ax[1].set_xscale("log" if epochs[0] > 0 and epochs[-1] / epochs[0] >= 20 else "linear")
        # Every band whole: the limits from the lowest quartile to the highest, on the figure's scale.
        shown = []
        for setting, _ in keys:
            for e in epochs:
                cell = by_cell.get((setting, e))
                if cell is not None and usable(cell[metric]):
                    shown += [cell[metric][k] for k in ("q1", "median", "q3")]
        scale, options = value_scale(shown, metric)
        ax[1].set_yscale(scale, **options)
        if shown and scale == "linear":
            low, high = min(shown), max(shown)
            margin = 0.05 * (high - low) or 0.05 * max(abs(high), 1e-12)
            ax[1].set_ylim(low - margin, high + margin)
        ax[1].set_xlabel("epochs", fontsize=8)
        ax[1].set_ylabel(f"{metric} (median; band: quartiles over the seeds)", fontsize=8)
        ax[1].legend(fontsize=6)
        ax[1].set_title("Learning curves", fontsize=8)
        ax[1].tick_params(labelsize=7)

    if profiles is not None:
        draw_profiles(ax[3], keys, profiles, metric, last)

    # 3. A heatmap of the mean over the two axes of the grid.
    if heatmap:
        rows, cols = grid_axes
        table = [[math.nan] * len(cols["values"]) for _ in rows["values"]]
        sizes = [len(a["values"]) for a in axes]
        for s in summaries:
            index, coordinates = s["setting"], []
            for size in reversed(sizes):
                coordinates.append(index % size)
                index //= size
            coordinates.reverse()
            if cols["name"] == "epochs":
                r, c = coordinates[0], epochs.index(s["epochs"])
            elif s["epochs"] == last:
                r, c = coordinates
            else:
                continue
            mean = s[metric]["mean"]
            table[r][c] = mean if finite(mean) else math.nan
        image = ax[2].imshow(table, cmap="viridis", aspect="auto")
        known = [v for row in table for v in row if not math.isnan(v)]
        middle = (min(known) + max(known)) / 2 if known else 0.0
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                ax[2].text(c, r, "n/a" if math.isnan(value) else f"{value:.3g}", ha="center", va="center",
                           fontsize=7, color="k" if not math.isnan(value) and value > middle else "w")
        ax[2].set_xticks(range(len(cols["values"])), [str(v) for v in cols["values"]], fontsize=7)
        ax[2].set_yticks(range(len(rows["values"])), [str(v) for v in rows["values"]], fontsize=7)
        ax[2].set_xlabel(cols["name"], fontsize=8)
        ax[2].set_ylabel(rows["name"], fontsize=8)
        ax[2].set_title(f"mean {metric}" + ("" if cols["name"] == "epochs" else f" at {last} epochs"), fontsize=8)
        fig.colorbar(image, ax=ax[2], shrink=0.8)
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    return fig


def main():
    parser = argparse.ArgumentParser(prog=SCRIPT, description=__doc__.split("\n\n")[0])
    parser.add_argument("input", help="the study's JSON Lines, or - for stdin")
    parser.add_argument("-o", "--output", required=True, help="the file to write: .png, .svg or .pdf")
    parser.add_argument("--metric", help="the figure to draw (default: val_accuracy for the MLP, gap for the "
                        "factorisation)")
    args = parser.parse_args()
    profiles = Profiles(args.metric)
    labrunplot.draw_and_save(SCRIPT, args.output,
                             lambda plt: draw(plt, *labrunplot.load_study(args.input, profiles), args.metric, profiles))


if __name__ == "__main__":
    main()
