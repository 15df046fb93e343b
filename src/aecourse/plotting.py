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
