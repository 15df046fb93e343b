"""Figures for the PCA chapters: each takes arrays and returns a matplotlib Figure.

Kept apart from :mod:`aecourse.plotting` so the chapters on PCA and linear
autoencoders do not edit a shared file; the style is the same (``plotting.use_style``).
"""

from __future__ import annotations

import numpy as np


def _image(ax, img, cmap="gray", symmetric=False):
    img = np.asarray(img).reshape(28, 28)
    if symmetric:
        m = float(np.max(np.abs(img))) or 1.0
        im = ax.imshow(img, cmap=cmap, vmin=-m, vmax=m)
    else:
        im = ax.imshow(img, cmap=cmap)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    for s in ax.spines.values():
        s.set_visible(False)
    return im


def mean_and_variance(mean, variance, size: float = 3.0):
    """The mean image and the per-pixel variance side by side, each with a colour bar."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(2 * size + 1.2, size))
    for ax, img, title, cmap in ((axes[0], mean, "mean pixel value", "gray"),
                                 (axes[1], variance, "per-pixel variance", "magma")):
        im = _image(ax, img, cmap=cmap)
        ax.set_title(title)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return fig


def explained_variance(ratio, marks=(2, 16, 32, 64), levels=(0.9, 0.95)):
    """Cumulative explained variance against the number of components (log x axis).

    ``ratio`` holds each component's fraction of the variance, largest first;
    ``marks`` are values of k to label, ``levels`` fractions to draw as lines.
    """
    import matplotlib.pyplot as plt

    cum = np.cumsum(np.asarray(ratio, dtype=float))
    k = np.arange(1, len(cum) + 1)
    fig, ax = plt.subplots(figsize=(6.0, 3.6))
    ax.plot(k, cum, lw=2)
    for level in levels:
        n = int(np.searchsorted(cum, level) + 1)
        ax.axhline(level, color="0.5", lw=0.8, ls="--")
        ax.annotate(f"{level:.0%} at k = {n}", (1, level), xytext=(0, 3 if level > 0.92 else -11),
                    textcoords="offset points", fontsize=9, color="0.3")
    for m in marks:
        if m <= len(cum):
            ax.plot([m], [cum[m - 1]], "o", color="C1")
            ax.annotate(f"k = {m}: {cum[m - 1]:.0%}", (m, cum[m - 1]), xytext=(8, -4),
                        textcoords="offset points", fontsize=9, ha="left", va="top")
    ax.set_xscale("log")
    ax.set_xlabel("number of components k")
    ax.set_ylabel("fraction of variance explained")
    ax.set_ylim(0, 1.02)
    fig.tight_layout()
    return fig


def component_grid(components, n: int = 8, ncols: int = 4, size: float = 1.8):
    """The first ``n`` rows of ``components`` (k, 784) as images, ``ncols`` to a row, numbered from 1.

    Each image uses a symmetric red-blue scale (red positive, blue negative), because the sign
    of a direction is arbitrary. Panels of ``size`` inches stay legible at the book's width.
    """
    import matplotlib.pyplot as plt

    w = np.asarray(components)[:n]
    nrows = int(np.ceil(len(w) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * (size + 0.25)), squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i < len(w):
            _image(ax, w[i], cmap="RdBu_r", symmetric=True)
            ax.set_title(f"component {i + 1}", fontsize=10)
        else:
            ax.axis("off")
    fig.tight_layout()
    return fig


def weight_columns(columns: dict, n: int = 4, size: float = 1.8):
    """One column per entry of ``columns`` (name -> array (k, 784)), its first ``n`` directions downwards.

    Row ``i`` shows direction ``i + 1`` of every entry side by side, so that the same component
    can be compared across methods; each image on its own symmetric red-blue scale.
    """
    import matplotlib.pyplot as plt

    names = list(columns)
    fig, axes = plt.subplots(n, len(names), figsize=(len(names) * size + 0.6, n * size + 0.4), squeeze=False)
    for c, name in enumerate(names):
        w = np.asarray(columns[name])
        for r in range(n):
            ax = axes[r, c]
            if r < len(w):
                _image(ax, w[r], cmap="RdBu_r", symmetric=True)
            else:
                ax.axis("off")
        axes[0, c].set_title(name, fontsize=11)
    for r in range(n):
        axes[r, 0].set_ylabel(str(r + 1), rotation=0, ha="right", va="center", fontsize=11)
    fig.tight_layout()
    return fig


def angle_curves(angles: dict, ylabel: str = "principal angle (degrees)"):
    """Principal angles, smallest first, one line per entry of ``angles`` (label -> array)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.8, 3.5))
    for label, a in angles.items():
        a = np.sort(np.asarray(a, dtype=float))
        ax.plot(np.arange(1, len(a) + 1), a, marker="o" if len(a) <= 16 else None, ms=3, label=str(label))
    ax.set_xscale("log")
    ax.set_xlabel("index of the angle (smallest first)")
    ax.set_ylabel(ylabel)
    ax.legend()
    fig.tight_layout()
    return fig
