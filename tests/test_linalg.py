"""Unit tests for aecourse.linalg on small synthetic matrices (no data files, no TensorFlow)."""

import numpy as np
import pytest

from aecourse import linalg


def _random_orthogonal(d, rng):
    q, r = np.linalg.qr(rng.normal(size=(d, d)))
    return q * np.sign(np.diag(r))


def _data_with_spectrum(variances, n=4000, seed=0):
    """Gaussian data whose covariance has the given eigenvalues along random axes."""
    rng = np.random.default_rng(seed)
    d = len(variances)
    axes = _random_orthogonal(d, rng)
    z = rng.normal(size=(n, d))
    z = (z - z.mean(0)) / z.std(0)
    z = z @ np.linalg.cholesky(np.linalg.inv(np.cov(z.T, bias=True)))     # exactly white
    x = (z * np.sqrt(variances)) @ axes.T + rng.normal(size=d)             # plus an offset
    return x, axes


# ------------------------------------------------------------------ principal angles
def test_angles_between_a_subspace_and_a_rotated_basis_of_it_are_zero():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(30, 4))
    mix = rng.normal(size=(4, 4))          # any invertible mix of the columns spans the same space
    angles = linalg.principal_angles(a, a @ mix)
    assert angles.shape == (4,)
    np.testing.assert_allclose(angles, 0.0, atol=1e-6)


def test_angles_between_orthogonal_subspaces_are_90_degrees():
    eye = np.eye(10)
    np.testing.assert_allclose(linalg.principal_angles(eye[:, :3], eye[:, 3:6]), 90.0)
    np.testing.assert_allclose(linalg.principal_angles(eye[:, :3], eye[:, 3:6], degrees=False), np.pi / 2)


def test_known_angle_in_a_plane_and_ordering():
    theta = np.deg2rad(25.0)
    a = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])           # the x-y plane
    b = np.array([[1.0, 0.0], [0.0, np.cos(theta)], [0.0, np.sin(theta)]])  # tilted by 25 degrees
    np.testing.assert_allclose(linalg.principal_angles(a, b), [0.0, 25.0], atol=1e-9)


def test_tiny_angles_are_accurate():
    eps = 1e-9
    a = np.array([[1.0], [0.0]])
    b = np.array([[np.cos(eps)], [np.sin(eps)]])
    np.testing.assert_allclose(linalg.principal_angles(a, b, degrees=False), [eps], rtol=1e-6)


def test_angles_match_scipy_and_are_symmetric():
    scipy_linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(20, 5)), rng.normal(size=(20, 3))
    ours = linalg.principal_angles(a, b, degrees=False)
    np.testing.assert_allclose(ours, np.sort(scipy_linalg.subspace_angles(a, b)), atol=1e-10)
    np.testing.assert_allclose(linalg.principal_angles(b, a, degrees=False), ours, atol=1e-12)


def test_subspace_inside_a_larger_one_has_zero_angles():
    rng = np.random.default_rng(3)
    big = rng.normal(size=(12, 6))
    small = big @ rng.normal(size=(6, 2))
    np.testing.assert_allclose(linalg.principal_angles(big, small), 0.0, atol=1e-6)


def test_angles_reject_different_ambient_dimensions():
    with pytest.raises(ValueError):
        linalg.principal_angles(np.eye(3)[:, :1], np.eye(4)[:, :1])


# ------------------------------------------------------------------ orthonormal basis
def test_orthonormal_basis_spans_the_same_space_and_drops_rank():
    rng = np.random.default_rng(4)
    a = rng.normal(size=(15, 3))
    a = np.hstack([a, a[:, :1] + a[:, 1:2]])    # 4 columns, rank 3
    q = linalg.orthonormal_basis(a)
    assert q.shape == (15, 3)
    np.testing.assert_allclose(q.T @ q, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(linalg.principal_angles(q, a[:, :3]), 0.0, atol=1e-6)


# ------------------------------------------------------------------ PCA
def test_pca_recovers_axes_and_variances():
    variances = np.array([9.0, 4.0, 1.0, 0.25, 0.04])
    x, axes = _data_with_spectrum(variances)
    pca = linalg.pca_fit(x)
    np.testing.assert_allclose(pca.explained_variance, variances, rtol=1e-8)
    np.testing.assert_allclose(pca.total_variance, variances.sum(), rtol=1e-8)
    np.testing.assert_allclose(np.abs(pca.components @ axes), np.eye(5), atol=1e-6)
    np.testing.assert_allclose(pca.explained_variance_ratio.sum(), 1.0)
    np.testing.assert_allclose(pca.components @ pca.components.T, np.eye(5), atol=1e-12)


def test_pca_signs_are_deterministic():
    x, _ = _data_with_spectrum(np.array([3.0, 2.0, 1.0]))
    comps = linalg.pca_fit(x).components
    rows = np.arange(3)
    assert np.all(comps[rows, np.argmax(np.abs(comps), axis=1)] > 0)


def test_pca_reconstruction_error_is_the_sum_of_discarded_eigenvalues():
    variances = np.array([5.0, 3.0, 2.0, 0.5, 0.1, 0.05])
    x, _ = _data_with_spectrum(variances, seed=5)
    pca = linalg.pca_fit(x, k=2)
    assert pca.k == 2 and pca.components.shape == (2, 6)
    x_hat = pca.reconstruct(x)
    assert x_hat.shape == x.shape
    sse_per_row = np.mean(np.sum((x - x_hat) ** 2, axis=1))
    np.testing.assert_allclose(sse_per_row, variances[2:].sum(), rtol=1e-8)
    # fewer components from the same fit: k=1 loses the second eigenvalue too
    np.testing.assert_allclose(np.mean(np.sum((x - pca.reconstruct(x, k=1)) ** 2, axis=1)),
                               variances[1:].sum(), rtol=1e-8)


def test_pca_squared_error_in_chunks_matches_the_whole_computation():
    variances = np.array([5.0, 3.0, 2.0, 0.5, 0.1, 0.05])
    x, _ = _data_with_spectrum(variances, n=1000, seed=6)
    pca = linalg.pca_fit(x.astype(np.float32))
    for k in (1, 3, 6):
        whole = np.mean(np.sum((x.astype(np.float32).astype(np.float64) - pca.reconstruct(x.astype(np.float32), k)) ** 2, axis=1))
        np.testing.assert_allclose(pca.squared_error(x.astype(np.float32), k, chunk=97), whole, rtol=1e-10)
    np.testing.assert_allclose(pca.squared_error(x, 2), variances[2:].sum(), rtol=1e-4)
    assert pca.squared_error(x, 6) < 1e-8


def test_pca_codes_are_centred_uncorrelated_and_ordered():
    x, _ = _data_with_spectrum(np.array([4.0, 2.0, 1.0, 0.5]), seed=6)
    pca = linalg.pca_fit(x, k=3)
    z = pca.transform(x)
    assert z.shape == (len(x), 3)
    np.testing.assert_allclose(z.mean(0), 0.0, atol=1e-10)
    np.testing.assert_allclose(np.cov(z.T, bias=True), np.diag(pca.explained_variance), atol=1e-8)
    np.testing.assert_allclose(pca.inverse_transform(z), pca.reconstruct(x))


def test_pca_rejects_bad_input():
    with pytest.raises(ValueError):
        linalg.pca_fit(np.zeros(5))
    with pytest.raises(ValueError):
        linalg.pca_fit(np.zeros((10, 3)), k=4)


def test_covariance_in_chunks_matches_numpy():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(1001, 6)).astype(np.float32)
    np.testing.assert_allclose(linalg.covariance(x, chunk=100), np.cov(x.T.astype(np.float64), bias=True),
                               atol=1e-10)


# ------------------------------------------------------------------ from a decoder to PCA
def test_rotate_to_pca_recovers_components_from_any_basis_of_the_subspace():
    variances = np.array([6.0, 3.0, 1.5, 0.2, 0.1, 0.05])
    x, _ = _data_with_spectrum(variances, seed=8)
    pca = linalg.pca_fit(x, k=3)
    rng = np.random.default_rng(9)
    decoder = pca.components.T @ rng.normal(size=(3, 3))   # a skewed, unordered basis of the subspace
    components, var = linalg.rotate_to_pca(decoder, x)
    np.testing.assert_allclose(var, variances[:3], rtol=1e-8)
    components = linalg.align_signs(components, pca.components)
    np.testing.assert_allclose(components, pca.components, atol=1e-8)


def test_align_signs_flips_only_rows_that_point_the_other_way():
    ref = np.eye(3)
    comps = np.array([[-1.0, 0.1, 0.0], [0.0, 1.0, 0.0], [0.0, 0.2, -1.0]])
    out = linalg.align_signs(comps, ref)
    np.testing.assert_allclose(out, [[1.0, -0.1, 0.0], [0.0, 1.0, 0.0], [0.0, -0.2, 1.0]])
