"""Linear algebra for comparing PCA with linear autoencoders.

PCA by the eigendecomposition of the covariance matrix (:func:`pca_fit`),
principal angles between two subspaces (:func:`principal_angles`), and the
steps that turn a trained decoder into PCA-like components: an orthonormal
basis of its column space (:func:`orthonormal_basis`), rotated to the order of
decreasing variance (:func:`rotate_to_pca`) with signs matched to a reference
(:func:`align_signs`). Everything works in float64 with NumPy alone.

Conventions: data are rows, ``x`` has shape ``(n, d)``; a *basis* is a matrix of
shape ``(d, k)`` whose columns span a subspace; *components* have shape
``(k, d)``, one direction per row (like scikit-learn's ``components_``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PCA:
    """A fitted PCA: the mean, orthonormal components (rows) and their variances."""

    mean: np.ndarray                # (d,)
    components: np.ndarray          # (k, d), orthonormal rows, decreasing variance
    explained_variance: np.ndarray  # (k,), eigenvalues of the covariance matrix
    total_variance: float           # trace of the covariance matrix (all d directions)

    @property
    def k(self) -> int:
        """The number of components kept."""
        return self.components.shape[0]

    @property
    def explained_variance_ratio(self) -> np.ndarray:
        """The fraction of the total variance along each component."""
        return self.explained_variance / self.total_variance

    def transform(self, x, k: int | None = None, chunk: int = 8192) -> np.ndarray:
        """Codes: coordinates of ``x - mean`` along the first ``k`` components, shape (n, k).

        Computed in float64, ``chunk`` rows at a time, so a large float32 data set is never
        copied whole.
        """
        w = self.components[: self.k if k is None else k]
        x = np.asarray(x)
        if len(x) <= chunk:
            return (np.asarray(x, dtype=np.float64) - self.mean) @ w.T
        return np.concatenate([(np.asarray(x[i:i + chunk], dtype=np.float64) - self.mean) @ w.T
                               for i in range(0, len(x), chunk)])

    def inverse_transform(self, z) -> np.ndarray:
        """Images from codes: ``mean + z @ components[:k]``, shape (n, d)."""
        z = np.asarray(z, dtype=np.float64)
        return self.mean + z @ self.components[: z.shape[1]]

    def reconstruct(self, x, k: int | None = None) -> np.ndarray:
        """Project ``x`` onto the top-``k`` principal subspace and map back, shape (n, d)."""
        return self.inverse_transform(self.transform(x, k))

    def squared_error(self, x, k: int | None = None, chunk: int = 8192) -> float:
        """Mean over the rows of ``x`` of the squared reconstruction error with ``k`` components.

        The sum over the ``d`` pixels of each image, averaged over images; divide by ``d`` for
        the mean squared error per pixel. Computed ``chunk`` rows at a time in float64, so a
        large float32 data set is never copied whole.
        """
        x = np.asarray(x)
        total = 0.0
        for start in range(0, len(x), chunk):
            part = x[start:start + chunk]
            total += float(np.sum((np.asarray(part, dtype=np.float64) - self.reconstruct(part, k)) ** 2))
        return total / len(x)


def covariance(x, mean=None, chunk: int = 8192) -> np.ndarray:
    """The (population) covariance matrix of the rows of ``x``, shape (d, d), in float64.

    Computed in chunks of rows so that a float32 data set is never copied whole.
    """
    x = np.asarray(x)
    n, d = x.shape
    mean = np.asarray(x.mean(axis=0, dtype=np.float64) if mean is None else mean, dtype=np.float64)
    cov = np.zeros((d, d))
    for start in range(0, n, chunk):
        xc = x[start:start + chunk].astype(np.float64) - mean
        cov += xc.T @ xc
    return cov / n


def _fix_signs(components: np.ndarray) -> np.ndarray:
    """Make the largest-magnitude entry of every row positive (a deterministic sign)."""
    rows = np.arange(components.shape[0])
    signs = np.sign(components[rows, np.argmax(np.abs(components), axis=1)])
    signs[signs == 0] = 1.0
    return components * signs[:, None]


def pca_fit(x, k: int | None = None) -> PCA:
    """Fit PCA to the rows of ``x``: eigenvectors of the covariance, largest eigenvalues first.

    ``k`` components are kept (all ``d`` when ``k`` is None). Each component's
    largest-magnitude entry is positive, so the result does not depend on the
    eigen-solver's sign choice.
    """
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"pca_fit needs data of shape (n, d), got {x.shape}")
    d = x.shape[1]
    k = d if k is None else int(k)
    if not 1 <= k <= d:
        raise ValueError(f"k must be between 1 and {d}, not {k}")
    mean = x.mean(axis=0, dtype=np.float64)
    cov = covariance(x, mean)
    eigenvalues, eigenvectors = np.linalg.eigh(cov)  # ascending
    order = np.argsort(eigenvalues)[::-1][:k]
    components = _fix_signs(eigenvectors[:, order].T)
    variances = np.clip(eigenvalues[order], 0.0, None)
    return PCA(mean=mean, components=components, explained_variance=variances,
               total_variance=float(np.trace(cov)))


def orthonormal_basis(a, rtol: float = 1e-10) -> np.ndarray:
    """An orthonormal basis (columns) of the column space of ``a`` (d, k), via the SVD.

    Directions with singular values below ``rtol`` times the largest are
    dropped, so the result has as many columns as ``a`` has rank.
    """
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"expected a matrix (d, k), got shape {a.shape}")
    u, s, _ = np.linalg.svd(a, full_matrices=False)
    if s.size == 0 or s[0] == 0:
        return u[:, :0]
    return u[:, : int(np.sum(s > rtol * s[0]))]


def principal_angles(a, b, degrees: bool = True) -> np.ndarray:
    """Principal angles between the column spaces of ``a`` (d, p) and ``b`` (d, q), smallest first.

    There are ``min(p, q)`` angles (for full-rank inputs). 0 means a shared
    direction, 90 degrees an orthogonal one; the largest angle is 0 exactly
    when the smaller subspace lies inside the larger. Cosines come from the
    singular values of ``Qa.T @ Qb``; small angles, where the cosine loses
    precision, from the sines (singular values of ``Qb - Qa Qa.T Qb``).
    """
    qa, qb = orthonormal_basis(a), orthonormal_basis(b)
    if qa.shape[0] != qb.shape[0]:
        raise ValueError(f"the subspaces live in different spaces: {qa.shape[0]} vs {qb.shape[0]} rows")
    if qa.shape[1] < qb.shape[1]:
        qa, qb = qb, qa                      # qb is the smaller subspace
    m = qa.T @ qb
    cosines = np.clip(np.linalg.svd(m, compute_uv=False), 0.0, 1.0)     # descending
    sines = np.clip(np.linalg.svd(qb - qa @ m, compute_uv=False), 0.0, 1.0)[::-1]  # ascending
    angles = np.where(cosines**2 >= 0.5, np.arcsin(sines), np.arccos(cosines))
    angles = np.sort(angles)
    return np.degrees(angles) if degrees else angles


def rotate_to_pca(basis, x, mean=None) -> tuple[np.ndarray, np.ndarray]:
    """PCA restricted to the subspace spanned by ``basis`` (d, k).

    Orthonormalises the columns of ``basis``, then rotates them inside their
    span so that they are the directions of largest, second-largest, ...
    variance of the data ``x`` (n, d) projected onto that span. Returns
    ``(components, variances)``: components (k, d) with orthonormal rows in
    order of decreasing variance, and those variances. For a linear
    autoencoder's decoder weights this gives back PCA's components.
    """
    q = orthonormal_basis(basis)
    x = np.asarray(x)
    mean = x.mean(axis=0, dtype=np.float64) if mean is None else np.asarray(mean, dtype=np.float64)
    chunk = 8192                                  # float64 a chunk at a time: x is never copied whole
    codes = np.concatenate([x[i:i + chunk].astype(np.float64) @ q for i in range(0, len(x), chunk)])
    codes -= mean @ q                             # (n, k) centred coordinates in the subspace
    cov_k = codes.T @ codes / len(codes)           # (k, k) covariance inside the subspace
    eigenvalues, eigenvectors = np.linalg.eigh(cov_k)
    order = np.argsort(eigenvalues)[::-1]
    components = _fix_signs((q @ eigenvectors[:, order]).T)
    return components, np.clip(eigenvalues[order], 0.0, None)


def align_signs(components, reference) -> np.ndarray:
    """Flip rows of ``components`` (k, d) so that each points the same way as that row of ``reference``."""
    components = np.asarray(components, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)[: len(components)]
    signs = np.sign(np.sum(components * reference, axis=1))
    signs[signs == 0] = 1.0
    return components * signs[:, None]
