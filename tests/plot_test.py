#!/usr/bin/python3
"""plot_pca.py on real labrun output: a valid image in each format, and one-line errors.

Usage: plot_test.py --labrun BIN --scripts DIR --workdir DIR
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from script_checks import ScriptChecks  # noqa: E402

MAGIC = {".png": b"\x89PNG\r\n\x1a\n", ".pdf": b"%PDF-", ".svg": b"<?xml"}


def main():
    checks = ScriptChecks("plot_pca.py")
    args, plot, check = checks.args, checks.script, checks.check

    doc_path = os.path.join(args.workdir, "pca.json")
    with open(doc_path, "w") as out:
        subprocess.run([args.labrun, "pca", "--seed", "0", "--epochs", "300"], stdout=out, check=True)

    for extension, magic in MAGIC.items():
        image = os.path.join(args.workdir, "pca" + extension)
        if os.path.exists(image):
            os.unlink(image)
        done = subprocess.run(plot + [doc_path, "-o", image], capture_output=True, text=True)
        with open(image, "rb") if os.path.exists(image) else open(os.devnull, "rb") as f:
            head = f.read(64)
        check(f"writes {extension}", done.returncode == 0 and head.startswith(magic), done.stderr.strip())
        if extension == ".png" and done.returncode == 0:
            width = int.from_bytes(head[16:20], "big")
            check("png is a three-panel figure", width > 1000, f"width {width}")

    # From stdin, as `labrun pca | plot_pca.py - -o x.png`.
    with open(doc_path) as f:
        done = subprocess.run(plot + ["-", "-o", os.path.join(args.workdir, "stdin.png")], stdin=f,
                              capture_output=True, text=True)
    check("reads stdin", done.returncode == 0, done.stderr.strip())

    # The scores at equal scale (a PC of 2% of the variance looks it), and no legend over a point.
    sys.path.insert(0, args.scripts)
    import labrunplot  # noqa: E402
    import plot_pca  # noqa: E402
    plt = labrunplot.import_pyplot("plot_test.py")
    with open(doc_path) as f:
        figure = plot_pca.figure(plt, json.load(f))
    figure.canvas.draw()
    scores = figure.axes[0]
    check("the scores' axes at one scale", scores.get_aspect() == 1.0, str(scores.get_aspect()))
    renderer = figure.canvas.get_renderer()
    for ax in figure.axes:
        legend = ax.get_legend()
        if legend is None:
            continue
        box = legend.get_window_extent(renderer)
        inside = ax.get_window_extent(renderer)
        check(f"{ax.get_title()[:30]!r}: its legend covers no point (it is below the panel)", box.y1 <= inside.y0,
              f"legend top {box.y1:.0f}, panel bottom {inside.y0:.0f}")
    plt.close(figure)

    def expect_error(name, document_text, message, output="x.png"):
        checks.expect_error(name, document_text, message, output)

    with open(doc_path) as f:
        doc = json.load(f)
    expect_error("malformed JSON", "{not json", "not valid JSON")
    expect_error("unknown major version", json.dumps(dict(doc, schema_version="3.0.0")), "not supported")
    expect_error("wrong command", json.dumps(dict(doc, command="factorise")), "no 'pca' results")
    broken = json.loads(json.dumps(doc))
    del broken["results"]["gd"]["U"]
    expect_error("missing field", json.dumps(broken), "missing field gd.U")
    expect_error("bad extension", json.dumps(doc), "must end in one of", output="x.gif")

    return checks.finish()


if __name__ == "__main__":
    sys.exit(main())
