#!/usr/bin/python3
"""Draws exercise part 1.3 from `labrun pca` (or `labrun all`) JSON: the data on its first two
principal axes, the rows of the learned U, and U mapped onto the scores by the best linear map.

Usage: plot_pca.py [JSON|-] -o FILE.png|.svg|.pdf
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import labrunplot  # noqa: E402


def figure(plt, doc):
    results = labrunplot.part(doc, "pca")
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2), constrained_layout=True)
    labrunplot.draw_pca(axes, results)
    return fig


if __name__ == "__main__":
    labrunplot.main("plot_pca.py", __doc__.split("\n\n")[0], figure)
