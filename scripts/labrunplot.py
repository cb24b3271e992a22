"""Shared by labrun's plotting scripts: reading labrun's JSON, drawing its parts, saving figures.

A module, not a command: report.py (the one-page report of any labrun document) and plot_pca.py
(the part 1.3 figure) are the commands that use it. Runs under Debian's /usr/bin/python3 with
python3-matplotlib; fails with one clear line otherwise.
"""
import argparse
import json
import math
import os
import sys
import tempfile

KNOWN_SCHEMA_MAJOR = 2
FORMATS = (".png", ".svg", ".pdf")


class PlotError(Exception):
    """A problem with the input or the output path, reported as one line."""


def fail(script, message):
    print(f"{script}: error: {message}", file=sys.stderr)
    sys.exit(1)


def main(script, description, make_figure):
    """The scripts' shared command line: `SCRIPT [JSON|-] -o FILE`; make_figure(pyplot, document)
    returns the figure, saved atomically; every problem is one line on stderr and exit code 1."""
    parser = argparse.ArgumentParser(prog=script, description=description)
    parser.add_argument("input", nargs="?", default="-", help="labrun's JSON, or - for stdin (default)")
    parser.add_argument("-o", "--output", required=True, help="the file to write: .png, .svg or .pdf")
    args = parser.parse_args()
    draw_and_save(script, args.output, lambda plt: make_figure(plt, load(args.input)))


def draw_and_save(script, output, make_figure):
    """Checks the output path, saves make_figure(pyplot) there atomically; every problem is one line
    on stderr and exit code 1."""
    plt = import_pyplot(script)
    try:
        check_output_path(output)
        save(make_figure(plt), output)
    except PlotError as e:
        fail(script, str(e))
    except OSError as e:
        fail(script, f"cannot write {output}: {e.strerror}")


def import_pyplot(script):
    try:
        import matplotlib
    except ImportError:
        fail(script, f"matplotlib is missing for {sys.executable}; install Debian's python3-matplotlib "
                     "(scripts/setup.sh --test does) and run with /usr/bin/python3")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def load(path):
    """labrun's JSON document from a file, or from stdin when path is '-'."""
    try:
        text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()
    except OSError as e:
        raise PlotError(f"cannot read {path}: {e.strerror}")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise PlotError(f"{'stdin' if path == '-' else path} is not valid JSON: {e.msg} at line {e.lineno}")
    if not isinstance(doc, dict) or "schema_version" not in doc:
        raise PlotError("not a labrun document: no schema_version")
    major = str(doc["schema_version"]).split(".")[0]
    if major != str(KNOWN_SCHEMA_MAJOR):
        raise PlotError(f"schema_version {doc['schema_version']} is not supported: this script reads "
                        f"major version {KNOWN_SCHEMA_MAJOR}")
    return doc


def load_study(path, on_run=None):
    """A labrun study's JSON Lines (`labrun sweep`, `labrun merge`): its header and its summary
    records, read a line at a time (the run records are skipped, or each handed to on_run(header,
    record) to fold into what it keeps: a study of a million runs reads in constant memory).
    Requires the summary, which a finished study (or merge) ends with."""
    header, summaries, number = None, [], 0
    try:
        stream = sys.stdin if path == "-" else open(path, encoding="utf-8")
    except OSError as e:
        raise PlotError(f"cannot read {path}: {e.strerror}")
    with stream:
        for number, line in enumerate(stream, 1):
            if number > 1 and line.startswith('{"type":"run"'):
                if on_run is not None and header is not None:
                    try:
                        on_run(header, json.loads(line))
                    except (json.JSONDecodeError, KeyError, TypeError, IndexError):
                        raise PlotError(f"{path}: line {number} is not a whole run record: a study cut short? "
                                        "finish it with labrun sweep ... --resume")
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                if number == 1:
                    raise PlotError(f"{path} is not a labrun study: its first line is not one JSON record (a "
                                    "study is JSON Lines from labrun sweep)")
                raise PlotError(f"{path}: line {number} is not valid JSON ({e.msg}): a study cut short? "
                                "finish it with labrun sweep ... --resume")
            kind = record.get("type") if isinstance(record, dict) else None
            if number == 1:
                if kind != "study":
                    raise PlotError(f"{path} is not a labrun study: its first line is not a study header "
                                    "(make one with labrun sweep)")
                major = str(record.get("schema_version", "")).split(".")[0]
                if major != str(KNOWN_SCHEMA_MAJOR):
                    raise PlotError(f"schema_version {record.get('schema_version')} is not supported: this script "
                                    f"reads major version {KNOWN_SCHEMA_MAJOR}")
                header = record
            elif kind == "summary":
                summaries.append(record)
    if header is None:
        raise PlotError(f"{path} is empty")
    if not summaries:
        raise PlotError(f"{path} holds no summary: the study is not finished (labrun sweep ... --resume finishes "
                        "it; shards are combined by labrun merge)")
    return header, summaries


# Which commands' documents hold each part, and where (schema 2: `pca` and `all` hold the
# factorisation once, with the PCA comparison beside it).
PART_HOLDERS = {"factorise": {"factorise": None, "pca": None, "all": "factorise"},
                "pca": {"pca": None, "all": "factorise"},
                "mlp": {"mlp": None, "all": "mlp"}}


def has_part(doc, name):
    return doc.get("command") in PART_HOLDERS[name]


def part(doc, name):
    """The results of one part ('factorise', 'pca', 'mlp'), from its own command or from `labrun all`."""
    results = doc.get("results")
    command = doc.get("command")
    if command in PART_HOLDERS[name] and isinstance(results, dict):
        key = PART_HOLDERS[name][command]
        found = results if key is None else results.get(key)
        if isinstance(found, dict) and (name != "pca" or "pca" in found):
            return found
    raise PlotError(f"the document holds no '{name}' results (command: {command!r}); "
                    f"make it with `labrun {name}` or `labrun all`")


def field(obj, *keys):
    for key in keys:
        if not isinstance(obj, dict) or key not in obj:
            raise PlotError(f"missing field {'.'.join(keys)}")
        obj = obj[key]
    return obj


def check_output_path(path):
    extension = os.path.splitext(path)[1].lower()
    if extension not in FORMATS:
        raise PlotError(f"output {path} must end in one of {', '.join(FORMATS)}")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise PlotError(f"cannot write {path}: no directory {directory}")


def save(fig, path):
    """Saves atomically: a temporary file beside path, renamed over it."""
    directory = os.path.dirname(os.path.abspath(path))
    extension = os.path.splitext(path)[1].lower()
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".plot.", suffix=extension)
    os.close(handle)
    try:
        fig.savefig(temporary, format=extension[1:])
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp's 0600 is for the temporary only
        os.replace(temporary, path)
    except Exception:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def class_groups(labels, count):
    """Row indices per class, in order of first appearance; one group when there are no labels."""
    if not labels:
        return [("all rows", list(range(count)))]
    groups = {}
    for i, label in enumerate(labels):
        groups.setdefault(label, []).append(i)
    return list(groups.items())


def draw_pca(axes, pca_results):
    """Three panels: PCA scores, the learned U, and U mapped onto the scores by the linear map."""
    scores = field(pca_results, "pca", "scores")
    ratio = field(pca_results, "pca", "explained_variance_ratio")
    U = field(pca_results, "gd", "U")
    labels = pca_results.get("row_classes") or []
    comparison = pca_results.get("comparison")
    if not scores or len(scores[0]) < 2:
        raise PlotError("the scatter plots need rank >= 2 (run labrun with --rank 2 or more)")
    groups = class_groups(labels, len(scores))

    def scatter(ax, points, title, xlabel, ylabel, marker="o"):
        for name, rows in groups:
            ax.scatter([points[i][0] for i in rows], [points[i][1] for i in rows], s=10, marker=marker, label=name)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.tick_params(labelsize=7)

    rank = len(scores[0])
    shown = "" if rank == 2 else f" (columns 1-2 of {rank})"
    scatter(axes[0], scores, "Part 1.3: the data on its first\ntwo principal axes" + shown,
            f"PC1 ({100 * ratio[0]:.1f}% of variance)", f"PC2 ({100 * ratio[1]:.1f}% of variance)")
    # One unit the same length on both axes: a PC holding 0.1% of the variance looks it, where
    # stretched to the panel's height it would look as spread as PC1.
    axes[0].set_aspect("equal", adjustable="datalim")
    scatter(axes[1], U, "Part 1.3: rows of the learned U" + shown, "U[:, 0]", "U[:, 1]")
    # The legend below the panel, where it covers no point.
    axes[0].legend(fontsize=7, markerscale=1.5, loc="upper center", bbox_to_anchor=(0.5, -0.16),
                   ncol=min(3, len(groups)), frameon=False)

    ax = axes[2]
    if comparison is None:
        ax.text(0.5, 0.5, "training diverged:\nno comparison", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    M = field(comparison, "linear_map")
    mapped = [[sum(row[k] * M[k][j] for k in range(len(M))) for j in range(len(M[0]))] for row in U]
    ax.scatter([p[0] for p in scores], [p[1] for p in scores], s=30, facecolors="none", edgecolors="0.6",
               linewidths=0.8, label="PCA scores")
    for name, rows in groups:
        ax.scatter([mapped[i][0] for i in rows], [mapped[i][1] for i in rows], s=8, marker="x", linewidths=0.8,
                   label=f"U M, {name}")
    angles = [a for a in field(comparison, "principal_angles") if finite(a)]
    largest = f"{max(angles):.1e}" if angles else "n/a"
    residual = comparison["alignment_residual"]
    ax.set_title(f"U mapped onto the scores (U M)\n{shown.strip() + chr(10) if shown else ''}max angle {largest} rad, "
                 f"residual "
                 + (f"{residual:.1e}" if finite(residual) else "n/a"), fontsize=8)
    ax.set_xlabel("PC1", fontsize=8)
    ax.set_ylabel("PC2", fontsize=8)
    ax.tick_params(labelsize=7)
    # What the marks are: circles the PCA scores, crosses the rows of U M; below the panel, where
    # it covers no point.
    ax.legend(fontsize=6, markerscale=1.2, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)


def finite(value):
    return isinstance(value, (int, float)) and math.isfinite(value)


if __name__ == "__main__":
    argparse.ArgumentParser(prog="labrunplot.py", description=__doc__.split("\n\n")[0] + ".",
                            epilog="Draw with: report.py [JSON|-] -o report.pdf, or plot_pca.py [JSON|-] -o pca.png "
                                   "(each with --help).").parse_args()
    print("labrunplot.py is a module: use report.py or plot_pca.py (see --help)", file=sys.stderr)
    sys.exit(2)
