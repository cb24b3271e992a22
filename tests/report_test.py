#!/usr/bin/python3
"""report.py on real `labrun all` output makes exactly one A4 page; bad input gives one line.

Usage: report_test.py --labrun BIN --scripts DIR --workdir DIR
"""
import json
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
                                                       ["singular_values"])):
        check(f"the page shows {wanted!r}", wanted in texts, texts[:300])

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
