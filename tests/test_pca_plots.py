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
        pca_plots.component_grid(rng.normal(size=(10, 784)), n=8),
        pca_plots.weight_columns({"a": rng.normal(size=(5, 784)), "b": rng.normal(size=(3, 784))}, n=4),
        pca_plots.angle_curves({"k=2": [0.1, 0.3], "k=16": rng.random(16) * 10}),
    ]
    for fig in figs:
        assert isinstance(fig, matplotlib.figure.Figure)
        plt.close(fig)


CONTENT_PX = 672  # the book's text column at a 1280-pixel window: wider figures are scaled down to it


def smallest_panel_px(fig, content: float = CONTENT_PX) -> float:
    """Side in pixels of the smallest image panel as a reader sees it on the page.

    The saved PNG (cropped to its contents, as the notebook display does) is shown at its own
    size, or scaled down to the text column when it is wider.
    """
    import io

    from PIL import Image

    fig.canvas.draw()
    side = min(min(ax.get_window_extent().width, ax.get_window_extent().height) for ax in fig.axes if ax.get_images())
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return side * min(1.0, content / Image.open(buf).size[0])


def test_weight_columns_shows_n_rows_per_column_legibly():
    fig = pca_plots.weight_columns({"x": np.zeros((2, 784)), "y": np.ones((8, 784)), "z": np.ones((8, 784))}, n=4)
    assert len(fig.axes) == 12
    assert [fig.axes[c].get_title() for c in range(3)] == ["x", "y", "z"]
    assert smallest_panel_px(fig) >= 150
    plt.close(fig)


def test_component_grid_numbers_components_and_stays_legible():
    fig = pca_plots.component_grid(np.random.default_rng(0).normal(size=(20, 784)), n=8, ncols=4)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == [f"component {i}" for i in range(1, 9)]
    assert smallest_panel_px(fig) >= 150
    plt.close(fig)
