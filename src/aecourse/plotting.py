"""Figure helpers: each takes arrays and returns a matplotlib Figure in one shared style."""

from __future__ import annotations

import numpy as np

STYLE = {
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "figure.figsize": (6.4, 4.0),
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.frameon": False,
    "image.cmap": "gray",
    # Opaque white backgrounds: the inline backend's default is transparent, which turns
    # axes labels unreadable on the book's dark theme.
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "savefig.transparent": False,
}


def use_style() -> None:
    """Apply the course's plot style to matplotlib."""
    import matplotlib

    matplotlib.rcParams.update(STYLE)


def _as_images(x) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim == 2 and x.shape[1] == 784:
        return x.reshape(-1, 28, 28)
    if x.ndim == 4 and x.shape[-1] == 1:
        return x[..., 0]
    if x.ndim == 3:
        return x
    raise ValueError(f"cannot show arrays of shape {x.shape} as images; expected (N,784), (N,28,28) or (N,28,28,1)")


def image_grid(images, labels=None, ncols: int = 10, size: float = 1.0, title: str | None = None):
    """Show images in a grid, optionally with a label above each."""
    import matplotlib.pyplot as plt

    images = _as_images(images)
    n = len(images)
    nrows = max(1, int(np.ceil(n / ncols)))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * size * 1.1), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i], cmap="gray", vmin=0, vmax=max(1.0, float(images[i].max())) if images.dtype == np.uint8 else None)
            if labels is not None:
                ax.set_title(str(labels[i]), fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _show_image(ax, img) -> None:
    """One grey image (or an empty panel for None) without ticks, spines or grid; keeps the axis label."""
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if img is not None:
        ax.imshow(img, cmap="gray", vmin=0, vmax=255 if img.dtype == np.uint8 else 1)


def reconstruction_rows(rows: dict, n: int = 10, size: float = 1.0):
    """One row per entry of ``rows`` (name -> images), first ``n`` images each.

    ``reconstruction_rows({"original": x_test, "reconstruction": x_hat})``
    """
    import matplotlib.pyplot as plt

    names = list(rows)
    fig, axes = plt.subplots(len(names), n, figsize=(n * size, len(names) * size * 1.05), squeeze=False)
    for r, name in enumerate(names):
        imgs = _as_images(rows[name])[:n]
        for c in range(n):
            _show_image(axes[r, c], imgs[c] if c < len(imgs) else None)
        axes[r, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=10)
    fig.tight_layout()
    return fig


def reconstruction_columns(columns: dict, n: int = 3, size: float = 1.8):
    """One column per entry of ``columns`` (name -> images), the first ``n`` images down each.

    ``reconstruction_columns({"original": x_test, "k = 2": x_hat_2, "k = 16": x_hat_16})``:
    each row is one image and its versions side by side, the names above the columns. With up
    to four columns of ``size`` inches the panels stay larger than 150 pixels at the book's width.
    """
    import matplotlib.pyplot as plt

    names = list(columns)
    fig, axes = plt.subplots(n, len(names), figsize=(len(names) * size, n * size + 0.3), squeeze=False)
    for c, name in enumerate(names):
        imgs = _as_images(columns[name])[:n]
        for r in range(n):
            _show_image(axes[r, c], imgs[r] if r < len(imgs) else None)
        axes[0, c].set_title(name, fontsize=11)
    fig.tight_layout()
    return fig


def loss_curves(history, keys=None, logy: bool = True, title: str | None = None):
    """Plot training curves from a Keras ``History`` or a dict of lists."""
    import matplotlib.pyplot as plt

    hist = getattr(history, "history", history)
    keys = keys or list(hist)
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    for k in keys:
        values = hist[k]
        ax.plot(np.arange(1, len(values) + 1), values, marker="o" if len(values) < 30 else None, label=k)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    if logy:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig


def scatter_2d(z, labels, title: str | None = None, ax=None, s: float = 3.0):
    """A 2-D embedding coloured by digit label, with a legend of classes."""
    import matplotlib.pyplot as plt

    z = np.asarray(z)
    if z.ndim != 2 or z.shape[1] != 2:
        raise ValueError(f"scatter_2d needs codes of shape (N, 2), got {z.shape}")
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 4.5))
    else:
        fig = ax.figure
    sc = ax.scatter(z[:, 0], z[:, 1], c=labels, cmap="tab10", s=s, alpha=0.7, vmin=-0.5, vmax=9.5)
    ax.set_xlabel("dimension 1")
    ax.set_ylabel("dimension 2")
    if title:
        ax.set_title(title)
    fig.colorbar(sc, ax=ax, ticks=range(10), label="digit")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- chapter 06: using codes
def neighbour_rows(queries, neighbours: dict, query_labels=None, neighbour_labels: dict | None = None,
                   size: float = 1.0):
    """Each query followed by its nearest neighbours under each method (one row per query and method).

    ``neighbours`` maps a method name to images of shape ``(n_queries, k, 28, 28)`` (or flat 784);
    ``neighbour_labels`` (same keys, ``(n_queries, k)``) marks a neighbour whose label differs from
    the query's with a red title.
    """
    import matplotlib.pyplot as plt

    queries = _as_images(queries)
    names = list(neighbours)
    k = np.asarray(neighbours[names[0]]).shape[1]
    nrows = len(queries) * len(names)
    fig, axes = plt.subplots(nrows, k + 1, figsize=((k + 1) * size + 0.6, nrows * size * 1.12), squeeze=False)
    for q in range(len(queries)):
        for m, name in enumerate(names):
            r = q * len(names) + m
            imgs = _as_images(np.asarray(neighbours[name])[q])
            _show_image(axes[r, 0], queries[q] if m == 0 else None)
            if m == 0 and query_labels is not None:
                axes[r, 0].set_title(f"query {query_labels[q]}", fontsize=9)
            axes[r, 1].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=10)
            for j in range(k):
                _show_image(axes[r, j + 1], imgs[j])
                if neighbour_labels is not None:
                    label = neighbour_labels[name][q][j]
                    wrong = query_labels is not None and label != query_labels[q]
                    axes[r, j + 1].set_title(str(label), fontsize=9, color="tab:red" if wrong else "black")
    fig.tight_layout()
    return fig


def error_histograms(panels: dict, threshold: float | None = None, bins: int = 60, xlabel: str = "reconstruction MSE"):
    """One panel per entry ``{title: {set name: errors}}``, log-x histograms, a dashed line at ``threshold``."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.4), squeeze=False)
    for ax, (title, sets) in zip(axes.flat, panels.items()):
        values = np.concatenate([np.asarray(v).ravel() for v in sets.values()])
        lo, hi = max(values.min(), 1e-6), values.max()
        edges = np.logspace(np.log10(lo), np.log10(hi), bins)
        for name, v in sets.items():
            ax.hist(np.asarray(v).ravel(), bins=edges, alpha=0.55, label=name, density=True)
        ax.set_xscale("log")
        if threshold is not None:
            ax.axvline(threshold, color="black", ls="--", lw=1, label="threshold")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("density")
        ax.set_title(title)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def image_mosaic(images, nrows: int, ncols: int, size: float = 5.0, title: str | None = None,
                 extent=None, xlabel: str | None = None, ylabel: str | None = None):
    """Tile ``nrows * ncols`` images row by row into one picture (e.g. a decoded latent grid).

    ``extent=(x0, x1, y0, y1)`` labels the axes with the code values the grid spans.
    """
    import matplotlib.pyplot as plt

    imgs = _as_images(images)[: nrows * ncols]
    if len(imgs) < nrows * ncols:
        raise ValueError(f"need {nrows * ncols} images for a {nrows}x{ncols} mosaic, got {len(imgs)}")
    h, w = imgs.shape[1:]
    mosaic = imgs.reshape(nrows, ncols, h, w).transpose(0, 2, 1, 3).reshape(nrows * h, ncols * w)
    fig, ax = plt.subplots(figsize=(size, size * nrows / ncols + 0.4))
    ax.imshow(mosaic, cmap="gray", vmin=0, vmax=1, extent=extent, aspect="auto" if extent else None)
    ax.grid(False)
    if extent is None:
        ax.set_xticks([])
        ax.set_yticks([])
    if xlabel:
        ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
