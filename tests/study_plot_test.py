#!/usr/bin/python3
"""plot_study.py and report.py --study on real labrun studies: images for one- and two-axis grids
(the heatmap's panel appears only for two), the factorisation's study, and one-line errors.

Usage: study_plot_test.py --labrun BIN --scripts DIR --workdir DIR
"""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from script_checks import ScriptChecks  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


def png_width(path):
    with open(path, "rb") as f:
        head = f.read(24)
    return int.from_bytes(head[16:20], "big") if head.startswith(PNG) else 0


def main():
    checks = ScriptChecks("plot_study.py")
    args, plot, check = checks.args, checks.script, checks.check

    def study(name, *options):
        path = checks.path(name)
        if os.path.exists(path):
            os.unlink(path)
        subprocess.run([args.labrun, "sweep", *options, "--seed", "0", "-o", path], check=True,
                       stderr=subprocess.DEVNULL)
        return path

    two_axes = study("lr_epochs.jsonl", "mlp", "--lr", "0.05,0.5", "--epochs", "10,40,20", "--repeats", "5")
    one_axis = study("hidden.jsonl", "mlp", "--hidden", "4,12", "--repeats", "5", "--epochs", "20")
    factorise = study("rank.jsonl", "factorise", "--rank", "1,2,3", "--epochs", "10,100", "--repeats", "2")

    widths = {}
    for name, path, extra in (("two axes", two_axes, []), ("one axis", one_axis, []),
                              ("factorisation", factorise, []), ("train accuracy", two_axes,
                                                                 ["--metric", "train_accuracy"])):
        image = checks.path(name.replace(" ", "_") + ".png")
        done = subprocess.run(plot + [path, "-o", image] + extra, capture_output=True, text=True)
        widths[name] = png_width(image) if done.returncode == 0 else 0
        check(f"draws {name}", done.returncode == 0 and widths[name] > 0, done.stderr.strip())
    # What each panel holds: the heatmap only for a grid of two axes; the performance profile a step
    # curve per setting, from every run that did not diverge, falling from at most 1 to 0.
    sys.path.insert(0, args.scripts)
    import labrunplot  # noqa: E402
    import plot_study  # noqa: E402
    plt = labrunplot.import_pyplot("study_plot_test.py")
    for name, path, settings, heat in (("two axes", two_axes, 2, True), ("one axis", one_axis, 2, False),
                                       ("factorisation", factorise, 3, True)):
        profiles = plot_study.Profiles(None)
        header, summaries = labrunplot.load_study(path, profiles)
        figure = plot_study.draw(plt, header, summaries, None, profiles)
        images = sum(len(ax.images) for ax in figure.axes)
        check(f"{name}: a heatmap only for two axes", (images > 0) == heat, str(images))
        profile = next((ax for ax in figure.axes if "performance profile" in ax.get_title()), None)
        curves = profile.get_lines() if profile else []
        check(f"{name}: one profile curve per setting", len(curves) == settings, str(len(curves)))
        runs = {key: sum(c.values()) for key, c in profiles.counts.items()}
        check(f"{name}: every run in the profile", sum(runs.values()) == header["plan"]["runs"], str(runs))
        check(f"{name}: profiles fall from 1 to 0", all(line.get_ydata()[-1] == 0 and line.get_ydata()[0] == 1
                                                        for line in curves))
        # No panel left empty (one epochs value has no learning curve: the figure has no room for one).
        check(f"{name}: every panel drawn", all(ax.axison for ax in figure.axes),
              str([ax.get_title()[:30] for ax in figure.axes if not ax.axison]))
        distribution = figure.axes[0]
        metric = plot_study.chosen_metric(header, None)
        last = header["plan"]["epochs"][-1]
        # A factorisation's gap spans orders of magnitude (a rank at the optimum sits near 0): log.
        logarithmic = distribution.get_xscale() in ("log", "symlog")
        check(f"{name}: the distribution's scale", logarithmic == (name == "factorisation"), distribution.get_xscale())
        curves_panel = next((ax for ax in figure.axes if ax.get_title() == "Learning curves"), None)
        if curves_panel is not None:
            lowest = min(s[metric]["q1"] for s in summaries if plot_study.usable(s[metric]))
            highest = max(s[metric]["q3"] for s in summaries if plot_study.usable(s[metric]))
            low, high = curves_panel.get_ylim()
            check(f"{name}: the learning curves show every quartile band", low <= lowest and high >= highest,
                  f"{low}..{high} against {lowest}..{highest}")
        check(f"{name}: a learning curve exactly when there are epochs values", (curves_panel is not None) ==
              (len(header["plan"]["epochs"]) > 1))
        plt.close(figure)

    # The one-page report with a study: A4 still, and the study is in its observations.
    doc = checks.path("all.json")
    subprocess.run([args.labrun, "all", "--seed", "0", "-o", doc], check=True)
    report = checks.path("report.png")
    done = subprocess.run([sys.executable, os.path.join(args.scripts, "report.py"), doc, "--study", two_axes,
                           "-o", report], capture_output=True, text=True)
    check("report.py --study", done.returncode == 0 and png_width(report) > 0, done.stderr.strip())

    with open(two_axes) as f:
        text = f.read()
    lines = text.splitlines(keepends=True)
    checks.expect_error("not a study", '{"schema_version": "2.1.0", "command": "mlp"}\n', "not a labrun study",
                        "x.png")
    checks.expect_error("an unfinished study", "".join(lines[:4]), "holds no summary", "x.png")
    checks.expect_error("a damaged line", lines[0] + "{oops\n" + "".join(lines[1:]), "line 2 is not valid JSON",
                        "x.png")
    future = re.sub(r'"schema_version":\s*"[0-9.]+"', '"schema_version":"3.0.0"', lines[0])
    checks.expect_error("unknown major version", future + "".join(lines[1:]), "not supported", "x.png")
    checks.expect_error("bad extension", text, "must end in one of", "x.gif")
    done = subprocess.run(plot + [two_axes, "--metric", "nope", "-o", checks.path("x.png")], capture_output=True,
                          text=True)
    check("unknown metric", done.returncode == 1 and "has no figure 'nope'" in done.stderr, done.stderr.strip())
    return checks.finish()


if __name__ == "__main__":
    sys.exit(main())
