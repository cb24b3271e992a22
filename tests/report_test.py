#!/usr/bin/python3
"""report.py on real `labrun all` output makes exactly one A4 page; bad input gives one line.

Usage: report_test.py --labrun BIN --scripts DIR --workdir DIR
"""
import json
import math
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from script_checks import ScriptChecks  # noqa: E402


def pages_and_size(pdf):
    """(pages, (width, height) in points), from pdfinfo when present, else from the file itself."""
    if shutil.which("pdfinfo"):
        info = subprocess.run(["pdfinfo", pdf], capture_output=True, text=True, check=True).stdout
        pages = int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))
        w, h = re.search(r"^Page size:\s+([\d.]+) x ([\d.]+) pts", info, re.M).groups()
        return pages, (float(w), float(h))
    data = open(pdf, "rb").read()
    pages = len(re.findall(rb"/Type\s*/Page[^s]", data))
    box = [float(v) for v in re.search(rb"/MediaBox\s*\[\s*([\d.\s]+)\]", data).group(1).split()]
    return pages, (box[2] - box[0], box[3] - box[1])


def main():
    checks = ScriptChecks("report.py")
    args, report, check = checks.args, checks.script, checks.check

    # `labrun all | report.py - -o report.pdf`: its defaults (loss curves, 200 runs), without loss
    # curves; and each part's own command (issue 15: every subcommand's output has a picture).
    for extra in (["all"], ["all", "--loss-every", "0", "--repeats", "20"], ["factorise"], ["pca", "--rank", "3"],
                  ["mlp", "--loss-every", "10"]):
        pdf = os.path.join(args.workdir, "report.pdf")
        if os.path.exists(pdf):
            os.unlink(pdf)
        labrun = subprocess.Popen([args.labrun, extra[0], "--seed", "0"] + extra[1:], stdout=subprocess.PIPE)
        done = subprocess.run(report + ["-", "-o", pdf], stdin=labrun.stdout, capture_output=True, text=True)
        labrun.wait()
        ok = done.returncode == 0 and labrun.returncode == 0 and os.path.exists(pdf)
        check(f"pipe {' '.join(extra)}", ok, done.stderr.strip())
        if ok:
            pages, (width, height) = pages_and_size(pdf)
            check("exactly one page", pages == 1, f"{pages} pages")
            check("A4 portrait", abs(width - 595.3) < 1.5 and abs(height - 841.9) < 1.5, f"{width} x {height} pt")

    with open(os.path.join(args.workdir, "all.json"), "w") as f:
        subprocess.run([args.labrun, "all", "--seed", "1", "--repeats", "3"], stdout=f, check=True)
    with open(os.path.join(args.workdir, "all.json")) as f:
        doc = json.load(f)
    with open(os.path.join(args.workdir, "factorise.json"), "w") as f:
        subprocess.run([args.labrun, "factorise", "--seed", "1"], stdout=f, check=True)

    # Every script has a working --help (labrunplot.py, a module, too) that does nothing else.
    for script in sorted(os.listdir(args.scripts)):
        if script.endswith(".py"):
            command = [sys.executable, os.path.join(args.scripts, script), "--help"]
        elif script.endswith(".sh") and script != "run.sh":  # run.sh passes --help to labrun, after building
            command = ["bash", os.path.join(args.scripts, script), "--help"]
        else:
            continue
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        check(f"{script} --help", done.returncode == 0 and len(done.stdout) > 100, done.stdout + done.stderr)

    # The page says what it shows (issue 15): part labels, the loss plot's axis and both curves,
    # what circles and crosses are, singular values in full, which of U's columns above rank 2.
    sys.path.insert(0, args.scripts)
    import labrunplot  # noqa: E402
    import report  # noqa: E402
    plt = labrunplot.import_pyplot("report_test.py")
    import matplotlib.text  # noqa: E402
    rank3 = json.loads(subprocess.run([args.labrun, "all", "--seed", "0", "--rank", "3", "--repeats", "20"],
                                      capture_output=True, text=True, check=True).stdout)
    figure = report.draw(plt, rank3)
    texts = [t.get_text() for t in figure.findobj(matplotlib.text.Text)]
    texts += [cell.get_text().get_text() for ax in figure.axes for table in ax.tables
              for cell in table.get_celld().values()]
    texts = " | ".join(t for t in texts if t)
    for wanted in ("Part 1.1: factorisation loss", "||A - U V^T||^2 (log)", "gradient descent", "SVD optimum",
                   "PCA scores", "U M, Iris-setosa", "Part 1.3", "Part 2.1", "Part 2.2", "(columns 1-2 of 3)",
                   "optimum: Eckart-Young", ", ".join(f"{v:.4g}" for v in rank3["results"]["factorise"]["svd"]
                                                       ["singular_values"]),
                   # Part 2.2's table: the summary's interval and quartiles, as the JSON has them.
                   "95% CI (bootstrap)", "q1", "q3", "IQM"):
        check(f"the page shows {wanted!r}", wanted in texts, texts[:300])

    # More singular values than a cell holds: the largest four, and how many more (13 columns).
    check("singular values beyond a cell's four are counted",
          report.singular_values([float(v) for v in range(13, 0, -1)]) == ["13, 12, 11, 10", "and 9 more (13 in all)"])

    # The report matrix (issue 24): every sentence is derived from the document, never from the
    # defaults, and all text lies on the page.
    csv = checks.path("other.csv")
    with open(csv, "w") as f:  # another data set: 60 rows, 5 features, a text label
        f.write("a,b,c,d,e,kind\n")
        for i in range(60):
            f.write(",".join(f"{math.sin(i * (k + 1) * 1.3) * (k + 1):.4f}" for k in range(5)) + f",k{i % 3}\n")
    other_study = checks.path("other.jsonl")
    iris_study = checks.path("iris.jsonl")
    for path, extra in ((other_study, ["--data", csv, "--train-size", "40"]), (iris_study, [])):
        if os.path.exists(path):
            os.unlink(path)
        subprocess.run([args.labrun, "sweep", "mlp", "--lr", "0.01,0.1", "--epochs", "50,100", "--repeats", "20",
                        "--seed", "3", "-o", path] + extra, capture_output=True, check=True)
    matrix = [
        ("defaults", ["all", "--seed", "0"], None),
        ("other epochs and lr", ["all", "--seed", "1", "--mlp-epochs", "300", "--mlp-lr", "0.1", "--factorise-epochs",
                                 "50", "--factorise-lr", "0.002", "--repeats", "50"], None),
        ("--reshuffle", ["mlp", "--seed", "2", "--reshuffle", "--repeats", "40"], None),
        ("a diverged factorisation", ["factorise", "--seed", "0", "--lr", "1"], None),
        ("other data, a large gap", ["pca", "--seed", "0", "--data", csv, "--epochs", "5", "--rank", "3"], None),
        ("5 runs", ["mlp", "--seed", "0", "--repeats", "5"], None),
        ("1 run", ["mlp", "--seed", "0", "--repeats", "1"], None),
        ("with a study", ["all", "--seed", "0", "--repeats", "30"], iris_study),
        ("with a study of other data", ["all", "--seed", "0", "--repeats", "30"], other_study),
    ]
    for name, command, study_path in matrix:
        done = subprocess.run([args.labrun] + command, capture_output=True, text=True)
        check(f"matrix {name}: labrun runs", done.returncode in (0, 3), done.stderr)
        doc = json.loads(done.stdout)
        study = labrunplot.load_study(study_path) if study_path else None
        figure = report.draw(plt, doc, study)
        figure.canvas.draw()
        renderer = figure.canvas.get_renderer()
        page = figure.bbox
        # The texts drawn: every Text but tick labels, and the tick labels of the ticks in view.
        ticks = {id(t) for ax in figure.axes for axis in (ax.xaxis, ax.yaxis) for tick in axis.get_major_ticks()
                 + axis.get_minor_ticks() for t in (tick.label1, tick.label2)}
        drawn = [t for t in figure.findobj(matplotlib.text.Text) if id(t) not in ticks]
        drawn += [tick.label1 for ax in figure.axes for axis in (ax.xaxis, ax.yaxis)
                  for tick in axis._update_ticks()]  # the ticks in view (matplotlib 3.6's own list)
        outside = [(t.get_text()[:60], tuple(round(v) for v in t.get_window_extent(renderer).extents)) for t in drawn
                   if t.get_visible() and t.get_text().strip() and
                   not (lambda b: b.x0 >= page.x0 - 1 and b.x1 <= page.x1 + 1 and b.y0 >= page.y0 - 1 and
                        b.y1 <= page.y1 + 1)(t.get_window_extent(renderer))]
        check(f"matrix {name}: all text on the page", not outside, str(outside))
        config = doc["config"]
        words = " ".join(report.observations(doc, labrunplot.part(doc, "factorise") if labrunplot.has_part(
            doc, "factorise") else None, labrunplot.part(doc, "pca") if labrunplot.has_part(doc, "pca") else None,
            labrunplot.part(doc, "mlp") if labrunplot.has_part(doc, "mlp") else None,
            config.get("factorise", config).get("rank"), study))
        plt.close(figure)
        if labrunplot.has_part(doc, "factorise"):
            f = labrunplot.part(doc, "factorise")
            fc = config.get("factorise", config)
            check(f"matrix {name}: the factorisation's epochs and lr as run",
                  f"{fc['epochs']} epochs at lr {fc['lr']:g} ({fc['reduction']} reduction)" in words, words[:200])
            if f["gd"]["diverged"]:
                check(f"matrix {name}: says it diverged", "diverged at epoch" in words and "nearly" not in words)
            elif not f["gap"]["relative"] < 0.01:
                check(f"matrix {name}: no 'nearly reach' at a gap of {f['gap']['relative']:.3g}",
                      "nearly reach" not in words, words[:300])
        if labrunplot.has_part(doc, "mlp"):
            m = labrunplot.part(doc, "mlp")
            mc = config.get("mlp", config)
            runs = len(m["runs"])
            check(f"matrix {name}: the MLP's epochs and lr as run", f"{mc['epochs']} epochs at lr {mc['lr']:g}" in words)
            check(f"matrix {name}: no range (max - min)", "ranged from" not in words)
            if mc["shuffle"] == "per-repeat":
                check(f"matrix {name}: per-repeat splits said so", "own shuffle and split" in words and
                      "one shuffle and split" not in words and "initialisation alone" not in words, words)
            elif runs > 1:
                check(f"matrix {name}: one split said so", "one shuffle and split" in words)
            if runs < report.MIN_RUNS_FOR_CORRELATION:
                check(f"matrix {name}: no correlation claim from {runs} runs",
                      "move together" not in words and "not clearly tied" not in words, words)
            if runs == 1:
                check(f"matrix {name}: one run says so", "Only 1 MLP run" in words, words)
        if study_path:
            other = study[0]["data"]["sha256"] != doc["data"]["sha256"]
            check(f"matrix {name}: a study of other data is named, of the same data not",
                  ("made on other data" in words) == other, words[-300:])

    def expect_error(name, text, message):
        checks.expect_error(name, text, message, "never.pdf")

    expect_error("malformed JSON", '{"schema_version": "1.0.0", ', "not valid JSON")
    expect_error("empty input", "", "not valid JSON")
    expect_error("unknown major version", json.dumps(dict(doc, schema_version="3.1.0")), "not supported")
    expect_error("not a command's document", json.dumps(dict(doc, command="sweep")), "not a document of a labrun command")
    missing = json.loads(json.dumps(doc))
    del missing["results"]["mlp"]
    expect_error("a missing part", json.dumps(missing), "no 'mlp' results")
    missing_field = json.loads(json.dumps(doc))
    del missing_field["results"]["factorise"]["gap"]
    expect_error("a missing field", json.dumps(missing_field), "results.factorise.gap")
    return checks.finish()


if __name__ == "__main__":
    sys.exit(main())
