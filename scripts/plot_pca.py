#!/usr/bin/python3
"""Draws exercise part 1.3 from `labrun pca` (or `labrun all`) JSON: the data on its first two
principal axes, the rows of the learned U, and U mapped onto the scores by the best linear map.

Usage: plot_pca.py [JSON|-] -o FILE.png|.svg|.pdf
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import labrunplot  # noqa: E402

SCRIPT = "plot_pca.py"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("input", nargs="?", default="-", help="labrun's JSON, or - for stdin (default)")
    parser.add_argument("-o", "--output", required=True, help="image to write: .png, .svg or .pdf")
    args = parser.parse_args()
    plt = labrunplot.import_pyplot(SCRIPT)
    try:
        labrunplot.check_output_path(args.output)
        results = labrunplot.part(labrunplot.load(args.input), "pca")
        fig, axes = plt.subplots(1, 3, figsize=(13, 4.2), constrained_layout=True)
        labrunplot.draw_pca(axes, results)
        labrunplot.save(fig, args.output)
    except labrunplot.PlotError as e:
        labrunplot.fail(SCRIPT, str(e))
    except OSError as e:
        labrunplot.fail(SCRIPT, f"cannot write {args.output}: {e.strerror}")


if __name__ == "__main__":
    main()
