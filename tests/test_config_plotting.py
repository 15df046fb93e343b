"""aecourse.config (smoke switch, seeding) and aecourse.plotting (figures, style)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from aecourse import config, plotting


@pytest.mark.parametrize("value,expected", [("1", True), ("true", True), ("yes", True), ("0", False), ("", False)])
def test_smoke_switch(monkeypatch, value, expected):
    monkeypatch.setenv("AECOURSE_SMOKE", value)
    assert config.smoke() is expected
    assert config.pick("full", "small") == ("small" if expected else "full")


def test_set_seed_makes_keras_initialisers_repeat():
    import keras

    def weights():
        config.set_seed(7)
        return keras.Sequential([keras.Input((3,)), keras.layers.Dense(4)]).get_weights()[0]

    np.testing.assert_array_equal(weights(), weights())
    config.set_seed(8)
    other = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4)]).get_weights()[0]
    assert not np.array_equal(weights(), other)


def test_setup_reports_mode(monkeypatch):
    monkeypatch.setenv("AECOURSE_SMOKE", "1")
    info = config.setup(seed=1)
    assert info["smoke"] is True and info["seed"] == 1 and info["backend"] == "tensorflow"


def test_image_grid_accepts_every_layout():
    x = np.random.default_rng(0).random((12, 784)).astype("float32")
    for arr in (x, x.reshape(-1, 28, 28), x.reshape(-1, 28, 28, 1)):
        fig = plotting.image_grid(arr, labels=list(range(12)), ncols=6)
        assert len(fig.axes) == 12
    with pytest.raises(ValueError, match="cannot show"):
        plotting.image_grid(np.zeros((3, 5)))


def test_reconstruction_rows_and_curves():
    x = np.random.default_rng(0).random((5, 784))
    fig = plotting.reconstruction_rows({"original": x, "reconstruction": x * 0.5}, n=5)
    assert len(fig.axes) == 10
    assert fig.axes[0].get_ylabel() == "original"
    fig = plotting.loss_curves({"loss": [1.0, 0.5, 0.25], "val_loss": [1.1, 0.6, 0.3]})
    assert [line.get_label() for line in fig.axes[0].get_lines()] == ["loss", "val_loss"]
    assert fig.axes[0].get_xlabel() == "epoch"


def test_reconstruction_columns_names_columns_and_stays_legible():
    x = np.random.default_rng(0).random((5, 784))
    fig = plotting.reconstruction_columns({"original": x, "k = 2": x * 0.5, "k = 16": x, "k = 64": x}, n=3)
    assert len(fig.axes) == 12
    assert [fig.axes[c].get_title() for c in range(4)] == ["original", "k = 2", "k = 16", "k = 64"]
    from test_pca_plots import smallest_panel_px

    assert smallest_panel_px(fig) >= 150


def test_the_getting_started_figures_are_legible():
    """The layouts notebook 00 uses: panels of at least 150 pixels on the page."""
    from test_pca_plots import smallest_panel_px

    x = np.random.default_rng(0).random((8, 784))
    assert smallest_panel_px(plotting.image_grid(x, labels=list(range(8)), ncols=4, size=1.8)) >= 150
    assert smallest_panel_px(plotting.reconstruction_rows({"original": x, "rebuilt": x}, n=3, size=2.0)) >= 150


def test_scatter_2d():
    z = np.random.default_rng(0).normal(size=(100, 2))
    fig = plotting.scatter_2d(z, np.arange(100) % 10, title="codes")
    assert fig.axes[0].get_title() == "codes"
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        plotting.scatter_2d(np.zeros((5, 3)), np.zeros(5))
