"""Convolution arithmetic, explicit convolution matrices, PSNR and small-array figures.

The chapters on transposed convolution and the convolutional autoencoder teach with
these helpers; the layers being taught (``Conv2D``, ``Conv2DTranspose``) stay in the
notebooks. Conventions follow TensorFlow/Keras: a "convolution" is a cross-correlation
(the kernel is not flipped), images are ``(height, width)`` and padding ``"same"`` puts
the odd extra pixel at the bottom/right.

Sizes, for input size ``i``, kernel ``k``, stride ``s``, padding ``p`` on each side
(Dumoulin & Visin, 2016):

* convolution: ``o = floor((i + 2p - k) / s) + 1``
* transposed convolution: ``o = (i - 1) s + k - 2p + a`` with ``0 <= a < s``
  (``a`` is Keras' ``output_padding``).
"""

from __future__ import annotations

import math

import numpy as np


# --------------------------------------------------------------------------- sizes
def conv_output_size(i: int, k: int, s: int = 1, p: int = 0) -> int:
    """Output length of a convolution: ``floor((i + 2p - k) / s) + 1``."""
    if i + 2 * p < k:
        raise ValueError(f"kernel {k} does not fit an input of {i} padded by {p} on each side")
    return (i + 2 * p - k) // s + 1


def conv_transpose_output_size(i: int, k: int, s: int = 1, p: int = 0, output_padding: int = 0) -> int:
    """Output length of a transposed convolution: ``(i - 1) s + k - 2p + output_padding``."""
    if not 0 <= output_padding < max(s, 1):
        raise ValueError(f"output_padding must be in [0, stride), got {output_padding} for stride {s}")
    return (i - 1) * s + k - 2 * p + output_padding


def keras_conv_output_size(i: int, k: int, s: int = 1, padding: str = "valid") -> int:
    """Output length of Keras ``Conv2D``: ``ceil(i/s)`` for ``"same"``, ``floor((i-k)/s)+1`` for ``"valid"``."""
    padding = padding.lower()
    if padding == "same":
        return -(-i // s)
    if padding == "valid":
        return conv_output_size(i, k, s, 0)
    raise ValueError(f"padding must be 'same' or 'valid', not {padding!r}")


def keras_conv_transpose_output_size(i: int, k: int, s: int = 1, padding: str = "valid",
                                     output_padding: int | None = None) -> int:
    """Output length of Keras ``Conv2DTranspose`` (Keras 3 rules).

    ``"valid"``: ``(i-1)s + k + a`` with ``a = max(s-k, 0)`` by default;
    ``"same"``: ``i*s`` by default, ``(i-1)s + (k mod 2) + a`` when ``output_padding=a`` is given.
    """
    padding = padding.lower()
    if padding == "valid":
        a = max(s - k, 0) if output_padding is None else output_padding
        return (i - 1) * s + k + a
    if padding == "same":
        if output_padding is None:
            return i * s
        return (i - 1) * s + k % 2 + output_padding
    raise ValueError(f"padding must be 'same' or 'valid', not {padding!r}")


def same_padding(i: int, k: int, s: int = 1) -> tuple[int, int]:
    """The (before, after) zero padding TensorFlow adds for ``padding="same"``."""
    o = -(-i // s)
    total = max((o - 1) * s + k - i, 0)
    return total // 2, total - total // 2


def _pads(padding, shape, kernel_shape, stride):
    """Normalise padding to ((top, bottom), (left, right))."""
    if isinstance(padding, str):
        padding = padding.lower()
        if padding == "valid":
            return (0, 0), (0, 0)
        if padding == "same":
            return tuple(same_padding(n, k, s) for n, k, s in zip(shape, kernel_shape, stride))
        raise ValueError(f"padding must be 'same', 'valid', an int or ((t, b), (l, r)), not {padding!r}")
    if isinstance(padding, (int, np.integer)):
        return (int(padding),) * 2, (int(padding),) * 2
    (t, b), (l, r) = padding
    return (int(t), int(b)), (int(l), int(r))


# --------------------------------------------------------------------------- matrices
def conv_matrix(input_shape, kernel, stride=1, padding="valid"):
    """The convolution of a one-channel image as a matrix ``C``.

    ``C @ x.ravel()`` equals ``Conv2D`` (cross-correlation, no bias) of the
    ``input_shape`` image ``x`` with the 2-D ``kernel``; returns ``(C, output_shape)``.
    ``padding`` is ``"valid"``, ``"same"`` (TensorFlow's rule), an int ``p`` or
    ``((top, bottom), (left, right))``. Each row of ``C`` holds the kernel once,
    shifted to where that output pixel looks.
    """
    kernel = np.asarray(kernel, dtype=np.float64)
    h, w = input_shape
    kh, kw = kernel.shape
    sh, sw = (stride, stride) if np.isscalar(stride) else stride
    (pt, pb), (pl, pr) = _pads(padding, (h, w), (kh, kw), (sh, sw))
    oh = conv_output_size(h + pt + pb, kh, sh, 0)
    ow = conv_output_size(w + pl + pr, kw, sw, 0)
    C = np.zeros((oh * ow, h * w))
    for r in range(oh):
        for c in range(ow):
            row = r * ow + c
            for u in range(kh):
                for v in range(kw):
                    y, x = r * sh + u - pt, c * sw + v - pl
                    if 0 <= y < h and 0 <= x < w:
                        C[row, y * w + x] += kernel[u, v]
    return C, (oh, ow)


def scatter_add_steps(x, kernel, stride=1):
    """Transposed convolution (no padding) done by hand, one input pixel at a time.

    Each input pixel ``x[i, j]`` adds ``x[i, j] * kernel`` into the output at
    ``(i*stride, j*stride)``. Returns a list of dicts with keys ``pos``, ``value``,
    ``stamp`` (that pixel's contribution) and ``total`` (the running sum); the last
    ``total`` is the transposed convolution of size ``(n-1)*stride + k``.
    """
    x = np.asarray(x, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    kh, kw = kernel.shape
    oh = (x.shape[0] - 1) * stride + kh
    ow = (x.shape[1] - 1) * stride + kw
    total = np.zeros((oh, ow))
    steps = []
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            stamp = np.zeros((oh, ow))
            stamp[i * stride:i * stride + kh, j * stride:j * stride + kw] = x[i, j] * kernel
            total = total + stamp
            steps.append({"pos": (i, j), "value": float(x[i, j]), "stamp": stamp, "total": total.copy()})
    return steps


def overlap_counts(n: int, k: int, s: int) -> np.ndarray:
    """How many kernel placements cover each output pixel of a 1-D transposed conv."""
    counts = np.zeros((n - 1) * s + k, dtype=int)
    for i in range(n):
        counts[i * s:i * s + k] += 1
    return counts


# --------------------------------------------------------------------------- metrics
def psnr(x, x_hat, data_range: float = 1.0, per_image: bool = False):
    """Peak signal-to-noise ratio in dB: ``10 log10(range^2 / MSE)``.

    Over all pixels at once by default; ``per_image=True`` gives one value per
    image (first axis). Identical images give ``inf``.
    """
    x = np.asarray(x, dtype=np.float64)
    x_hat = np.asarray(x_hat, dtype=np.float64)
    if x.shape != x_hat.shape:
        raise ValueError(f"shapes differ: {x.shape} vs {x_hat.shape}")
    if per_image:
        mse = ((x - x_hat) ** 2).reshape(len(x), -1).mean(axis=1)
    else:
        mse = np.mean((x - x_hat) ** 2)
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(data_range ** 2 / mse)


def checkerboard_share(images, periods=(2, 4)) -> float:
    """Share of an image set's non-constant spectral energy at the grid periods ``periods``.

    The 2-D FFT of each image is taken; the energy at frequencies whose period along
    both axes divides one of ``periods`` (stride-2 and two-stacked-stride-2 patterns),
    DC excluded, is divided by all non-DC energy. Images of ``(N, H, W)`` or
    ``(N, H, W, 1)``; H and W must be divisible by every period.
    """
    x = np.asarray(images)
    if x.ndim == 4:
        x = x[..., 0]
    if x.ndim == 2:
        x = x[None]
    n, h, w = x.shape
    mask = np.zeros((h, w), dtype=bool)
    for period in periods:
        if h % period or w % period:
            raise ValueError(f"image size {h}x{w} is not divisible by period {period}")
        mask[::h // period, ::w // period] = True
    mask[0, 0] = False
    grid, nondc = 0.0, 0.0
    for start in range(0, n, 1000):  # in chunks: the complex spectra of 10,000 images would take 125 MB
        power = np.abs(np.fft.fft2(x[start:start + 1000].astype(np.float64))) ** 2
        grid += float(power[:, mask].sum())
        nondc += float(power.sum() - power[:, 0, 0].sum())
    return float(grid / max(nondc, 1e-30))


# --------------------------------------------------------------------------- tables
TABLE_STYLES = [
    {"selector": "th, td", "props": "padding: 0.3em 0.9em; text-align: right;"},
    {"selector": "th.row_heading", "props": "text-align: left;"},
    {"selector": "", "props": "border-collapse: collapse; margin: 0.5em 0;"},
]


def table(df, formats=None, hide_index: bool = False):
    """A pandas Styler with room between its columns, as the book shows result tables.

    ``formats`` is what ``Styler.format`` takes (a format string, or column -> format); float
    row and column labels are written short (``0.5``, ``1e-05``).
    glue the result (``glue("conv_table_x", table(df, "{:.4f}"), display=False)``) and
    paste it on a chapter page with ``{glue}``.
    """
    def label(value):
        return f"{value:g}" if isinstance(value, float) else value

    styler = df.style.format(formats).set_table_styles(TABLE_STYLES)
    styler = styler.format_index(label, axis=0).format_index(label, axis=1)  # 0.5, not 0.500000
    return styler.hide(axis="index") if hide_index else styler


# --------------------------------------------------------------------------- figures
def show_arrays(arrays: dict, annotate: bool = True, fmt: str = "{:g}", size: float = 2.2,
                cmap: str = "viridis", vmin=None, vmax=None, ncols: int | None = None):
    """Small 2-D arrays side by side, one panel per entry (title -> array), values written in."""
    import matplotlib.pyplot as plt

    names = list(arrays)
    ncols = ncols or len(names)
    nrows = math.ceil(len(names) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * size * 1.05), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, name in zip(axes.flat, names):
        a = np.atleast_2d(np.asarray(arrays[name], dtype=np.float64))
        ax.axis("on")
        ax.imshow(a, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        if annotate and a.size <= 400:
            lo, hi = np.nanmin(a), np.nanmax(a)
            mid = (lo + hi) / 2
            for (r, c), v in np.ndenumerate(a):
                ax.text(c, r, fmt.format(round(v, 6) + 0.0), ha="center", va="center", fontsize=7,
                        color="black" if v > mid else "white")
    fig.tight_layout()
    return fig


def plot_scatter_add(x, kernel, stride=1, size: float = 1.9):
    """Figure of :func:`scatter_add_steps`: per input pixel, its stamp and the running sum.

    Row 0: the input and the kernel; then one row per input pixel (stamp | running sum).
    """
    import matplotlib.pyplot as plt

    x = np.asarray(x, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    steps = scatter_add_steps(x, kernel, stride)
    vmax = max(abs(steps[-1]["total"]).max(), 1e-12)
    fig, axes = plt.subplots(len(steps) + 1, 2, figsize=(2 * size * 1.4, (len(steps) + 1) * size))

    def panel(ax, a, title, highlight=None, scale=None):
        ax.imshow(a, cmap="viridis", vmin=0 if a.min() >= 0 else None, vmax=scale, interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        for (r, c), v in np.ndenumerate(a):
            ax.text(c, r, f"{v:g}", ha="center", va="center", fontsize=7,
                    color="white" if (scale and v < 0.6 * scale) or (not scale and v < a.max() * 0.6) else "black")
        if highlight is not None:
            r0, c0, hh, ww = highlight
            ax.add_patch(plt.Rectangle((c0 - 0.5, r0 - 0.5), ww, hh, fill=False, ec="red", lw=2))

    panel(axes[0, 0], x, "input x")
    panel(axes[0, 1], kernel, "kernel w")
    kh, kw = kernel.shape
    for n, st in enumerate(steps, start=1):
        i, j = st["pos"]
        box = (i * stride, j * stride, kh, kw)
        panel(axes[n, 0], st["stamp"], f"x[{i},{j}] = {st['value']:g} times w", highlight=box, scale=vmax)
        panel(axes[n, 1], st["total"], f"running sum after {n} of {len(steps)}", highlight=box, scale=vmax)
    fig.tight_layout()
    return fig


def plot_conv_matrix(C, input_shape, output_shape, size: float = 0.42):
    """The convolution matrix ``C`` as a grid: one row per output pixel, one column per input pixel."""
    import matplotlib.pyplot as plt

    C = np.asarray(C)
    fig, ax = plt.subplots(figsize=(max(4.0, C.shape[1] * size + 1.0), max(1.6, C.shape[0] * size + 0.8)))
    masked = np.ma.masked_where(C == 0, C)
    ax.imshow(masked, cmap="viridis", interpolation="nearest", aspect="equal")
    for (r, c), v in np.ndenumerate(C):
        if v != 0:
            ax.text(c, r, f"{v:g}", ha="center", va="center", fontsize=8, color="white")
    ax.set_xticks(range(C.shape[1]))
    ax.set_xticklabels([f"{r}{c}" for r in range(input_shape[0]) for c in range(input_shape[1])], fontsize=8)
    ax.set_yticks(range(C.shape[0]))
    ax.set_yticklabels([f"{r}{c}" for r in range(output_shape[0]) for c in range(output_shape[1])], fontsize=8)
    ax.set_xlabel("input pixel (row, column)")
    ax.set_ylabel("output pixel")
    ax.grid(False)
    fig.tight_layout()
    return fig
