#!/usr/bin/python3
"""Writes a one-page A4 report from any labrun document: the numbers and loss curve of parts 1.1-1.2,
the scatter plots of part 1.3, the accuracy spread of part 2.2, and observations written from this
run's numbers. `labrun all` (its defaults) fills every panel; factorise, pca and mlp output fill
their parts.

Usage: labrun all | report.py [JSON|-] -o report.pdf [--study STUDY.jsonl]

With --study, a study of part 2.2 (`labrun sweep mlp`) takes the place of the MLP loss curves: its
learning curves, and an observation on which setting does best and by how much.
"""
import argparse
import math
import os
import statistics
import sys
import textwrap

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import labrunplot  # noqa: E402
from labrunplot import PlotError, field, finite  # noqa: E402

SCRIPT = "report.py"
A4_INCHES = (8.27, 11.69)
POOR_ACCURACY = 0.7


def fmt(value, spec):
    return format(value, spec) if finite(value) else "n/a"


def observations(doc, factorise, pca, mlp, rank, study=None):
    """Sentences made from this document's numbers and options: nothing assumed of the defaults."""
    config = doc["config"]
    notes = []
    if factorise is not None:
        notes.extend(factorisation_notes(factorise, config.get("factorise", config), rank))
    if pca is not None:
        notes.extend(pca_notes(pca, rank))
    if mlp is not None:
        notes.extend(mlp_notes(mlp, config.get("mlp", config)))
    if study is not None:
        notes.extend(study_notes(*study, doc["data"]))
    return notes


def factorisation_notes(factorise, config, rank):
    gd, svd, gap = factorise["gd"], factorise["svd"], factorise["gap"]
    how = f"{config['epochs']} epochs at lr {config['lr']:g} ({config['reduction']} reduction)"
    if gd["diverged"]:
        return [f"Gradient descent diverged at epoch {gd['diverged_at_epoch']} of {how}: the loss became infinite, "
                f"so the learning rate is too large for this data with the {config['reduction']} reduction."]
    relative = gap["relative"]
    if not finite(relative):
        verdict = "the gap relative to the optimum is undefined (the SVD's loss is 0)."
    elif relative < 0.01:
        verdict = f"{how} of plain gradient descent nearly reach the optimum."
    elif relative < 0.5:
        verdict = f"{how} get within {100 * relative:.2g}% of the optimum, not to it: more epochs would close the gap."
    else:
        verdict = (f"{how} stop far from the optimum ({relative + 1:.3g} times its loss): more epochs or another "
                   f"learning rate are needed before U V^T approximates the SVD.")
    scaled = config.get("normalise", "none") != "none"
    matrix = f" of the {config['preprocessing']}" if scaled else ""
    return [f"Gradient descent reached a reconstruction loss{matrix} of {fmt(gd['loss'], '.4f')}, "
            f"{fmt(100 * relative, '.3g')}% above the rank-{rank} truncated SVD's {fmt(svd['loss'], '.4f')}, which no "
            f"rank-{rank} matrix can beat (Eckart-Young): " + verdict]


def pca_notes(pca, rank):
    notes = []
    comparison = pca["comparison"]
    if comparison is not None:
        angles = [a for a in comparison["principal_angles"] if finite(a)]
        largest = max(angles) if angles else float("nan")
        coherence = comparison["factor_column_coherence"]
        same = finite(largest) and largest < 0.05
        notes.append(
            (f"The learned U spans the same {rank}-D subspace as the first {rank} principal components: "
             if same else f"The learned U is still {math.degrees(largest):.1f} degrees away from the principal subspace: ")
            + f"principal angles {', '.join(f'{a:.2g}' for a in angles)} rad, and a linear map takes U onto the PCA "
            f"scores with a relative residual of {fmt(100 * comparison['alignment_residual'], '.2f')}%. "
            + (f"U's columns are not orthogonal (largest |cos| {fmt(coherence, '.2f')}): minimising the reconstruction "
               f"error finds PCA's subspace, not its orthogonal, variance-ordered basis."
               if finite(coherence) and coherence > 0.1 else
               f"U's columns are nearly orthogonal (largest |cos| {fmt(coherence, '.2f')})."))
    return notes


# Below this many runs the report draws no conclusion from the correlation of training and validation
# accuracy: the 95% interval of a sample correlation, tanh(atanh(r) -+ 1.96 / sqrt(n - 3)), is then
# wider than 0.6 for any r below 0.9, too wide to tell "move together" from "loosely related".
MIN_RUNS_FOR_CORRELATION = 20


def quantile(sorted_values, p):
    """numpy's default quantile (linear between order statistics)."""
    position = p * (len(sorted_values) - 1)
    below = int(position)
    above = sorted_values[min(below + 1, len(sorted_values) - 1)]
    return sorted_values[below] + (position - below) * (above - sorted_values[below])


def mlp_notes(mlp, config):
    notes = []
    runs = [r for r in mlp["runs"] if not r.get("diverged")]
    diverged = len(mlp["runs"]) - len(runs)
    val = sorted(r["val_accuracy"] for r in runs if finite(r["val_accuracy"]))
    train = [r["train_accuracy"] for r in runs if finite(r["train_accuracy"]) and finite(r["val_accuracy"])]
    paired_val = [r["val_accuracy"] for r in runs if finite(r["train_accuracy"]) and finite(r["val_accuracy"])]
    split = {"once": "on one shuffle and split", "per-repeat": "each on its own shuffle and split",
             "none": "on the file's row order, unshuffled"}.get(config["shuffle"], f"shuffle {config['shuffle']}")
    training = f"{config['epochs']} epochs at lr {config['lr']:g}"
    if diverged:
        notes.append(f"{diverged} of {len(mlp['runs'])} MLP runs diverged ({training}) and are left out below.")
    if len(val) < 2:
        notes.append(f"Only {len(val)} MLP run{'s' if len(val) != 1 else ''} ({training}): one accuracy says nothing "
                     f"about the spread between runs; use --repeats.")
        return notes
    summary = mlp["summary"]["val_accuracy"]
    interval = (summary.get("bootstrap95") or {}).get("mean") or summary.get("ci95")
    poor = sum(v < POOR_ACCURACY for v in val) / len(val)
    text = (f"Over {len(val)} MLP runs {split}, {training}: validation accuracy mean {summary['mean']:.3f} "
            f"(95% interval of the mean {fmt(interval[0], '.3f')}-{fmt(interval[1], '.3f')}), median "
            f"{quantile(val, 0.5):.2f}, the middle half of the runs between {quantile(val, 0.25):.2f} and "
            f"{quantile(val, 0.75):.2f}")
    if len(val) >= 20:
        text += f", nine in ten between {quantile(val, 0.05):.2f} and {quantile(val, 0.95):.2f}"
    text += f"; {100 * poor:.0f}% of the runs ended below {POOR_ACCURACY}."
    if len(train) >= MIN_RUNS_FOR_CORRELATION and statistics.pstdev(train) > 0 and statistics.pstdev(paired_val) > 0:
        r = statistics.correlation(train, paired_val)
        half = 1.96 / math.sqrt(len(train) - 3)
        low, high = math.tanh(math.atanh(max(min(r, 0.999999), -0.999999)) - half), \
            math.tanh(math.atanh(max(min(r, 0.999999), -0.999999)) + half)
        if low > 0.5:
            text += (f" Training and validation accuracy move together (r = {r:.2f}, 95% interval {low:.2f}-{high:.2f}):"
                     f" the runs differ in how far {training} got them from their random starts, not in over-fitting.")
        else:
            text += f" Training and validation accuracy are not clearly tied (r = {r:.2f}, 95% interval {low:.2f}-{high:.2f})."
    elif len(train) >= 2:
        text += f" ({len(train)} runs are too few to say how training and validation accuracy relate.)"
    notes.append(text)
    source = ("the random initialisation alone" if config["shuffle"] != "per-repeat"
              else "the initialisation and the split together")
    notes.append(f"Inference: with the data, the code and {training} fixed, {source} moves the validation accuracy "
                 f"over an interquartile range of {quantile(val, 0.75) - quantile(val, 0.25):.2f}; one run says little "
                 f"about the model, so report the spread over seeds (and over splits) before judging the architecture.")
    return notes


def study_notes(header, summaries, data):
    """What a study of part 2.2 shows: the best setting at the longest training, with its interval;
    a study of other data than the document's is named as such."""
    plan = header["plan"]
    metric = "val_accuracy" if "val_accuracy" in plan["metrics"] else plan["metrics"][0]
    last = plan["epochs"][-1]
    notes = []
    if header["data"].get("sha256") != data.get("sha256"):
        notes.append(f"The study below was made on other data ({header['data'].get('source')}) than the rest of this "
                     f"page ({data.get('source')}): its numbers do not describe this page's runs.")
    cells = [s for s in summaries if s["epochs"] == last and finite(s[metric]["mean"])]
    if not cells:
        return notes + [f"The study ({plan['runs']} runs) has no finite {metric} at {last} epochs."]
    lower = metric in ("loss", "gap", "relative_gap")
    best = (min if lower else max)(cells, key=lambda s: s[metric]["mean"])
    worst = (max if lower else min)(cells, key=lambda s: s[metric]["mean"])
    low, high = (best[metric].get("bootstrap95") or {}).get("mean") or best[metric]["ci95"]
    text = (f"Study ({plan['runs']} runs, {plan['repeats']} seeds per setting): at {last} epochs the best setting is "
            f"{best['key'] or 'the only one'}, mean {metric} {fmt(best[metric]['mean'], '.3f')} (95% interval "
            f"{fmt(low, '.3f')}-{fmt(high, '.3f')}, quartiles {fmt(best[metric]['q1'], '.2f')}-"
            f"{fmt(best[metric]['q3'], '.2f')})")
    if worst is not best:
        text += f"; the worst, {worst['key']}, {fmt(worst[metric]['mean'], '.3f')}."
    return notes + [text]


def draw_study(fig, cell, header, summaries):
    """The study's learning curves: median over the seeds per setting, quartiles as a band."""
    ax = fig.add_subplot(cell)
    plan = header["plan"]
    metric = "val_accuracy" if "val_accuracy" in plan["metrics"] else plan["metrics"][0]
    keys = sorted({(s["setting"], s["key"] or "one setting") for s in summaries})
    for i, (setting, key) in enumerate(keys[:8]):
        points = sorted((s["epochs"], s[metric]) for s in summaries if s["setting"] == setting
                        and finite(s[metric]["median"]))
        if not points:
            continue
        xs = [p[0] for p in points]
        ax.plot(xs, [p[1]["median"] for p in points], marker="o", ms=2, lw=1, color=f"C{i}", label=key)
        ax.fill_between(xs, [p[1]["q1"] for p in points], [p[1]["q3"] for p in points], color=f"C{i}", alpha=0.2)
    ax.set_title(f"Study: {plan['repeats']} seeds a setting", fontsize=8)
    ax.set_xlabel("epochs", fontsize=7)
    ax.set_ylabel(f"{metric} (median, quartile band)", fontsize=7)
    ax.tick_params(labelsize=6)
    ax.legend(fontsize=5)


def absent(ax, what, command):
    ax.set_axis_off()
    ax.text(0.5, 0.5, f"{what}: not in this document\n(`labrun {command}` or `labrun all` makes it)", ha="center",
            va="center", fontsize=7, color="0.4", transform=ax.transAxes)


def draw(plt, doc, study=None):
    command = doc.get("command")
    if command not in ("factorise", "pca", "mlp", "all"):
        raise PlotError(f"not a document of a labrun command: command {command!r}")
    # `labrun all` holds every part; a part's own command, its part.
    factorise = labrunplot.part(doc, "factorise") if labrunplot.has_part(doc, "factorise") else None
    pca = labrunplot.part(doc, "pca") if labrunplot.has_part(doc, "pca") else None
    mlp = labrunplot.part(doc, "mlp") if labrunplot.has_part(doc, "mlp") else None
    config = field(doc, "config")
    factorise_config = config.get("factorise", config) if factorise else None
    mlp_config = config.get("mlp", config) if mlp else None
    rank = field(factorise_config, "rank") if factorise else None
    for name, part, keys in (("factorise", factorise, ("gd", "svd", "gap")), ("pca", pca, ("pca", "gd", "comparison")),
                             ("mlp", mlp, ("runs", "summary"))):
        holder = labrunplot.PART_HOLDERS[name].get(command)
        for key in keys if part is not None else ():
            if key not in part:
                raise PlotError(f"missing field results.{holder + '.' if holder else ''}{key}")

    fig = plt.figure(figsize=A4_INCHES)
    grid = fig.add_gridspec(5, 3, height_ratios=[0.75, 1.2, 1.1, 0.5, 1.2], hspace=0.6, wspace=0.38,
                            left=0.08, right=0.97, top=0.93, bottom=0.02)
    data = doc["data"]
    fig.suptitle("Lab 2, PyTorch autograd: results", fontsize=14, fontweight="bold", y=0.985)
    fig.text(0.5, 0.962, f"labrun {doc['environment']['labrun_version']}, libtorch {doc['environment']['libtorch_version']}; "
             f"`labrun {command}`, seed {config['seed']}; data {data['source']} ({data['rows']} x {data['columns']})",
             ha="center", fontsize=8, color="0.3")

    # Parts 1.1-1.2: the numbers, and the loss curve when recorded.
    if factorise is None:
        absent(fig.add_subplot(grid[0, :]), "Parts 1.1-1.2 (the factorisation)", "factorise")
    else:
        draw_factorisation(fig, grid, factorise, rank)

    # Part 1.3: the scatter plots and the aligned overlay.
    if pca is None:
        absent(fig.add_subplot(grid[1, :]), "Part 1.3 (PCA)", "pca")
    else:
        labrunplot.draw_pca([fig.add_subplot(grid[1, i]) for i in range(3)], pca)

    if mlp is None:
        absent(fig.add_subplot(grid[2:4, :]), "Part 2 (the MLP)", "mlp")
    else:
        draw_mlp(fig, grid, mlp, mlp_config, study)

    # Observations.
    ax = fig.add_subplot(grid[4, :])
    ax.set_axis_off()
    lines = []
    for note in observations(doc, factorise, pca, mlp, rank, study):
        wrapped = textwrap.wrap(note, 112)
        lines.append("- " + wrapped[0])
        lines.extend("  " + line for line in wrapped[1:])
    text = ax.text(0, 1, "Observations (from this run's numbers)\n" + "\n".join(lines), va="top", ha="left",
                   fontsize=8, family="DejaVu Sans", linespacing=1.45, transform=ax.transAxes)
    fit_on_page(fig, text)
    return fig


def fit_on_page(fig, text):
    """Shrinks the observations' type (down to 5.5 pt, then tighter lines) until they end on the page."""
    renderer = fig.canvas.get_renderer()
    for size, spacing in ((8, 1.45), (7.5, 1.4), (7, 1.35), (6.5, 1.3), (6, 1.25), (5.5, 1.2)):
        text.set_fontsize(size)
        text.set_linespacing(spacing)
        box = text.get_window_extent(renderer)
        if box.y0 >= 0 and box.x1 <= fig.bbox.x1:
            return


def singular_values(values, shown=4):
    """Two cells: the largest `shown` singular values (what a cell holds), and how many more."""
    more = len(values) - shown
    return [", ".join(f"{v:.4g}" for v in values[:shown]), f"and {more} more ({len(values)} in all)" if more > 0 else ""]


def draw_factorisation(fig, grid, factorise, rank):
    gd, svd, gap = factorise["gd"], factorise["svd"], factorise["gap"]
    ax = fig.add_subplot(grid[0, :2])
    ax.set_axis_off()
    rows = [["gradient descent (1.1)", fmt(gd["loss"], ".6f"), f"{gd['epochs_run']} epochs, {gd['seconds']:.3f} s"],
            [f"rank-{rank} SVD (1.2)", fmt(svd["loss"], ".6f"), "optimum: Eckart-Young"],
            ["gap", fmt(gap["absolute"], ".6f"),
             f"{fmt(100 * gap['relative'], '.4f')}% relative" if finite(gap["relative"]) else "n/a"],
            ["singular values"] + singular_values(svd["singular_values"])]
    table = ax.table(cellText=rows, colLabels=["Parts 1.1-1.2", "||A - U V^T||^2", ""], loc="center",
                     cellLoc="left", colWidths=[0.31, 0.36, 0.33])
    table.auto_set_font_size(False)
    table.set_fontsize(7.5)
    table.scale(1, 1.3)
    ax = fig.add_subplot(grid[0, 2])
    curve = gd.get("loss_curve")
    if curve:
        ax.semilogy(curve["epoch"], [v if finite(v) else float("nan") for v in curve["loss"]], lw=1,
                    label="gradient descent")
        ax.axhline(svd["loss"], color="0.5", ls="--", lw=0.8, label="SVD optimum")
        ax.set_title("Part 1.1: factorisation loss", fontsize=8)
        ax.set_xlabel("epoch", fontsize=7)
        ax.set_ylabel("||A - U V^T||^2 (log)", fontsize=7)
        ax.tick_params(labelsize=6)
        ax.legend(fontsize=6)
    else:
        ax.set_axis_off()
        ax.text(0.5, 0.5, "no loss curve\n(--loss-every K)", ha="center", va="center", fontsize=7, color="0.4")


def draw_mlp(fig, grid, mlp, mlp_config, study=None):
    # Part 2.2: accuracy over the repeats.
    runs = mlp["runs"]
    ax = fig.add_subplot(grid[2, :2])
    for position, key in enumerate(("train_accuracy", "val_accuracy")):
        values = [r[key] for r in runs if finite(r[key])]
        jitter = [position + 0.25 * math.sin(12.9898 * i) for i in range(len(values))]
        ax.scatter(values, jitter, s=6, alpha=0.4)
        s = mlp["summary"][key]
        if finite(s["median"]):
            ax.plot([s["median"]] * 2, [position - 0.35, position + 0.35], color="k", lw=1.2)
    ax.set_yticks([0, 1], ["train", "validation"], fontsize=7)
    ax.axvline(POOR_ACCURACY, color="0.6", ls=":", lw=0.8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("accuracy (black bar: median; dotted: 0.7)", fontsize=7)
    ax.tick_params(labelsize=7)
    ax.set_title(f"Part 2.2: accuracy of {len(runs)} MLP runs (dots: runs)", fontsize=9)
    curves = [r["loss_curve"] for r in runs if "loss_curve" in r]
    if study is not None:
        draw_study(fig, grid[2, 2], *study)
    elif curves:
        ax = fig.add_subplot(grid[2, 2])
        for c in curves[:50]:
            ax.plot(c["epoch"], [v if finite(v) else float("nan") for v in c["loss"]], lw=0.6, alpha=0.5)
        ax.set_title(f"Part 2.1: MLP loss curves ({min(len(curves), 50)} shown)", fontsize=8)
        ax.set_xlabel("epoch", fontsize=7)
        ax.set_ylabel("cross-entropy", fontsize=7)
        ax.tick_params(labelsize=6)
    else:
        ax = fig.add_subplot(grid[2, 2])
        ax.set_axis_off()
        ax.text(0.5, 0.5, "no loss curves\n(--loss-every K)", ha="center", va="center", fontsize=7, color="0.4")

    # Summary table of part 2.
    ax = fig.add_subplot(grid[3, :])
    ax.set_axis_off()
    cells = []
    for key, name in (("train_accuracy", "train accuracy"), ("val_accuracy", "validation accuracy"),
                      ("final_loss", "final loss")):
        s = mlp["summary"][key]
        interval = (s.get("bootstrap95") or {}).get("mean") or s.get("ci95") or [None, None]
        cells.append([name, fmt(s["mean"], ".3f"), f"{fmt(interval[0], '.3f')}-{fmt(interval[1], '.3f')}"] +
                     [fmt(s.get(k), ".3f") for k in ("std", "min", "q1", "median", "q3", "max", "iqm")])
    bootstrap = (mlp["summary"]["val_accuracy"].get("bootstrap95") or {}).get("mean")
    table = ax.table(cellText=cells, colLabels=["Part 2.2", "mean", "95% CI" + (" (bootstrap)" if bootstrap else ""),
                                                "std", "min", "q1", "median", "q3", "max", "IQM"],
                     loc="center", cellLoc="center", colWidths=[0.16, 0.08, 0.14] + [0.08] * 7)
    table.auto_set_font_size(False)
    table.set_fontsize(7.5)
    table.scale(1, 1.25)
    ax.text(0.5, -0.18, f"MLP: {mlp_config['hidden']} hidden units, {mlp_config['epochs']} epochs, lr {mlp_config['lr']}, "
            f"normalise {mlp_config['normalise']}, shuffle {mlp_config['shuffle']}, {mlp_config['engine']} engine, "
            f"{mlp['seconds']:.2f} s", ha="center", fontsize=7, color="0.3", transform=ax.transAxes)


def main():
    parser = argparse.ArgumentParser(prog=SCRIPT, description=__doc__.split("\n\n")[0])
    parser.add_argument("input", nargs="?", default="-", help="labrun's JSON, or - for stdin (default)")
    parser.add_argument("-o", "--output", required=True, help="the file to write: .png, .svg or .pdf")
    parser.add_argument("--study", help="a study's JSON Lines (labrun sweep mlp) to include")
    args = parser.parse_args()
    labrunplot.draw_and_save(SCRIPT, args.output, lambda plt: draw(
        plt, labrunplot.load(args.input), labrunplot.load_study(args.study) if args.study else None))


if __name__ == "__main__":
    main()
