"""Numpy metrics and baselines, written once: used by the package, the assignments' rulebooks,
their checks and the grader (none of which may load scikit-learn or TensorFlow for them).

Images may come flat ``(N, 784)`` or shaped ``(N, 28, 28[, 1])``; every function compares
them image by image, in float64.
"""

from __future__ import annotations

import numpy as np


def as_2d(x) -> np.ndarray:
    """``x`` as a float64 matrix, one row per image."""
    x = np.asarray(x, dtype=np.float64)
    return x.reshape(len(x), -1)


def _pair(x, x_hat) -> tuple[np.ndarray, np.ndarray]:
    x, x_hat = as_2d(x), as_2d(x_hat)
    if x.shape != x_hat.shape:
        raise ValueError(f"shapes differ: {x.shape} vs {x_hat.shape}")
    return x, x_hat


def mse_per_pixel(x, x_hat) -> float:
    """Mean squared error per pixel, the course's standard reconstruction score."""
    x, x_hat = _pair(x, x_hat)
    return float(np.mean((x - x_hat) ** 2))


def sse_per_image(x, x_hat) -> float:
    """Squared error summed over the pixels of an image, averaged over images (Hinton & Salakhutdinov's unit)."""
    x, x_hat = _pair(x, x_hat)
    return float(np.mean(np.sum((x - x_hat) ** 2, axis=1)))


def psnr(x, x_hat, peak: float = 1.0) -> float:
    """Peak signal-to-noise ratio in decibels, for pixels in [0, ``peak``] (infinite when equal)."""
    mse = mse_per_pixel(x, x_hat)
    return float("inf") if mse == 0 else float(10 * np.log10(peak ** 2 / mse))


def clipped_noise(x, noise_factor: float, seed) -> np.ndarray:
    """``clip(x + noise_factor * N(0, 1), 0, 1)`` as float32; ``seed`` is an int or a numpy Generator."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    x = np.asarray(x, dtype=np.float32)
    return np.clip(x + noise_factor * rng.standard_normal(x.shape).astype(np.float32), 0.0, 1.0).astype(np.float32)


def spread(x) -> float:
    """How much images differ from each other: the per-pixel standard deviation over images, averaged."""
    return float(as_2d(x).std(axis=0).mean())


def knn_predict(ref, ref_labels, query, k: int = 5, chunk: int = 512) -> np.ndarray:
    """Labels of ``query`` rows by a majority vote of their ``k`` nearest ``ref`` rows (Euclidean).

    A tie between labels goes to the smallest label, as in scikit-learn's ``KNeighborsClassifier``.
    """
    ref, query = as_2d(ref), as_2d(query)
    ref_labels = np.asarray(ref_labels).astype(np.int64).ravel()
    if len(ref) != len(ref_labels):
        raise ValueError(f"{len(ref)} reference rows but {len(ref_labels)} labels")
    k = min(k, len(ref))
    n_labels = int(ref_labels.max()) + 1 if len(ref_labels) else 1
    ref_sq = (ref ** 2).sum(axis=1)
    out = np.empty(len(query), dtype=np.int64)
    for start in range(0, len(query), chunk):
        q = query[start:start + chunk]
        d = ref_sq[None, :] - 2.0 * q @ ref.T
        nn = np.argpartition(d, kth=k - 1, axis=1)[:, :k] if k < len(ref) else np.argsort(d, axis=1)
        votes = ref_labels[nn]
        counts = np.zeros((len(q), n_labels), dtype=np.int64)
        np.add.at(counts, (np.arange(len(q))[:, None], votes), 1)
        out[start:start + chunk] = counts.argmax(axis=1)
    return out


def knn_accuracy(ref, ref_labels, query, query_labels, k: int = 5) -> float:
    """Accuracy of :func:`knn_predict` on ``query`` (a fraction in [0, 1])."""
    pred = knn_predict(ref, ref_labels, query, k)
    return float(np.mean(pred == np.asarray(query_labels).ravel()))


def r2_affine(target, source) -> float:
    """R² of the best affine map from ``source`` rows to ``target`` rows (1: target is an affine function of source)."""
    x = np.hstack([as_2d(source), np.ones((len(source), 1))])
    y = as_2d(target)
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    ss = ((y - y.mean(axis=0)) ** 2).sum()
    return float(1.0 - ((y - x @ coef) ** 2).sum() / ss) if ss > 0 else 1.0


def _moments(x, y=None, chunk: int = 5000):
    """Means and (cross-)products of centred rows, accumulated in float64 chunks (no full float64 copy)."""
    x = np.asarray(x)
    n = len(x)
    flat = x.reshape(n, -1)
    mx = np.zeros(flat.shape[1])
    for s in range(0, n, chunk):
        mx += flat[s:s + chunk].astype(np.float64).sum(axis=0)
    mx /= max(n, 1)
    yf = None if y is None else np.asarray(y).reshape(n, -1)
    my = None if yf is None else sum(yf[s:s + chunk].astype(np.float64).sum(axis=0) for s in range(0, n, chunk)) / n
    xx = np.zeros((flat.shape[1], flat.shape[1]))
    xy = None if yf is None else np.zeros((flat.shape[1], yf.shape[1]))
    for s in range(0, n, chunk):
        xc = flat[s:s + chunk].astype(np.float64) - mx
        xx += xc.T @ xc
        if yf is not None:
            xy += xc.T @ (yf[s:s + chunk].astype(np.float64) - my)
    return mx, my, xx, xy


class PCA:
    """Principal component analysis by an eigendecomposition of the covariance (numpy only).

    ``PCA(k).fit(x)``; ``transform`` gives the ``k`` coordinates, ``reconstruct`` maps
    images to their projection (the shape of the input is kept).
    """

    def __init__(self, n_components: int):
        self.n_components = int(n_components)

    def fit(self, x) -> "PCA":
        self.mean_, _, xx, _ = _moments(x)
        values, vectors = np.linalg.eigh(xx / max(len(x) - 1, 1))
        order = np.argsort(values)[::-1][: self.n_components]
        self.components_ = vectors[:, order].T
        self.explained_variance_ = values[order]
        return self

    def transform(self, x) -> np.ndarray:
        return (as_2d(x) - self.mean_) @ self.components_.T

    def inverse_transform(self, codes) -> np.ndarray:
        return np.asarray(codes, dtype=np.float64) @ self.components_ + self.mean_

    def reconstruct(self, x) -> np.ndarray:
        return self.inverse_transform(self.transform(x)).reshape(np.shape(x))


class LinearDenoiser:
    """The best *linear* map from noisy to clean images through a code of ``rank`` numbers (numpy only).

    Reduced-rank ridge regression fitted on (noisy, clean) pairs: a linear autoencoder trained
    noisy -> clean, solved in closed form. It is PCA's fair counterpart in a denoising
    comparison: trained on the same pairs as a denoising autoencoder, with a code of the same
    size, but linear. ``rank=None`` keeps the full 784-number map.
    """

    def __init__(self, rank: int | None, ridge: float = 1e-3):
        self.rank, self.ridge = rank, ridge

    def fit(self, noisy, clean) -> "LinearDenoiser":
        mx, my, xx, xy = _moments(noisy, clean)
        reg = self.ridge * np.trace(xx) / len(xx)
        w = np.linalg.solve(xx + reg * np.eye(len(xx)), xy)
        if self.rank is not None:
            fitted = w.T @ xx @ w                      # covariance of the fitted clean images
            values, vectors = np.linalg.eigh(fitted)
            top = vectors[:, np.argsort(values)[::-1][: self.rank]]
            w = w @ top @ top.T
        self.mean_in_, self.mean_out_, self.weights_ = mx, my, w
        return self

    def predict(self, noisy) -> np.ndarray:
        out = (as_2d(noisy) - self.mean_in_) @ self.weights_ + self.mean_out_
        return out.reshape(np.shape(noisy))
