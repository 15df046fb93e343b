"""The PCA figure helpers return figures for well-formed input (no data files needed)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from aecourse import pca_plots  # noqa: E402


def test_figures_are_returned():
    rng = np.random.default_rng(0)
    figs = [
        pca_plots.mean_and_variance(rng.random(784), rng.random(784)),
        pca_plots.explained_variance(np.sort(rng.random(100))[::-1] / 50, marks=(2, 16, 500)),
        pca_plots.weight_rows({"a": rng.normal(size=(5, 784)), "b": rng.normal(size=(3, 784))}, n=4),
        pca_plots.angle_curves({"k=2": [0.1, 0.3], "k=16": rng.random(16) * 10}),
    ]
    for fig in figs:
        assert isinstance(fig, matplotlib.figure.Figure)
        plt.close(fig)


def test_weight_rows_shows_n_columns_per_row():
    fig = pca_plots.weight_rows({"x": np.zeros((2, 784)), "y": np.ones((8, 784))}, n=6)
    assert len(fig.axes) == 12
    plt.close(fig)
