"""Unit tests for aecourse.codes on small synthetic arrays (NumPy only, no data files, no TensorFlow)."""

import numpy as np
import pytest

from aecourse import codes


# ------------------------------------------------------------------ nearest neighbours, precision@k
def test_nearest_neighbours_match_brute_force():
    rng = np.random.default_rng(0)
    database, queries = rng.normal(size=(300, 7)), rng.normal(size=(45, 7))
    got = codes.nearest_neighbours(queries, database, k=5, chunk=16)
    d = ((queries[:, None, :] - database[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(got, np.argsort(d, axis=1)[:, :5])


def test_a_query_in_the_database_finds_itself_first():
    rng = np.random.default_rng(1)
    database = rng.normal(size=(50, 3))
    got = codes.nearest_neighbours(database[[4, 17]], database, k=3)
    np.testing.assert_array_equal(got[:, 0], [4, 17])


def test_k_equal_to_the_database_size_sorts_everything():
    database = np.array([[0.0], [5.0], [1.0]])
    np.testing.assert_array_equal(codes.nearest_neighbours([[0.9]], database, k=3), [[2, 0, 1]])


def test_nearest_neighbours_reject_bad_input():
    with pytest.raises(ValueError, match="values each"):
        codes.nearest_neighbours(np.zeros((2, 3)), np.zeros((5, 4)), k=1)
    with pytest.raises(ValueError, match="k must be"):
        codes.nearest_neighbours(np.zeros((2, 3)), np.zeros((5, 3)), k=6)


def test_precision_at_k_counts_matching_labels():
    neighbours = np.array([[0, 1, 2, 3], [3, 2, 1, 0]])
    database_labels = np.array([7, 7, 1, 1])
    p = codes.precision_at_k(neighbours, np.array([7, 7]), database_labels, ks=(1, 2, 4))
    assert p == {1: 0.5, 2: 0.5, 4: 0.5}
    p = codes.precision_at_k(neighbours, np.array([7, 1]), database_labels, ks=(1, 2, 4))
    assert p == {1: 1.0, 2: 1.0, 4: 0.5}


def test_precision_at_k_rejects_a_k_beyond_the_neighbours():
    with pytest.raises(ValueError, match="ks must lie"):
        codes.precision_at_k(np.zeros((2, 3), int), np.zeros(2), np.zeros(5), ks=(1, 10))


# ------------------------------------------------------------------ anomaly scores
def test_per_image_mse():
    x = np.zeros((2, 2, 2))
    x_hat = np.stack([np.zeros((2, 2)), np.full((2, 2), 0.5)])
    np.testing.assert_allclose(codes.per_image_mse(x, x_hat), [0.0, 0.25])
    with pytest.raises(ValueError, match="differ in shape"):
        codes.per_image_mse(np.zeros((2, 4)), np.zeros((3, 4)))


def test_roc_auc_extremes_and_chance():
    assert codes.roc_auc([0, 1, 2], [3, 4]) == 1.0
    assert codes.roc_auc([3, 4], [0, 1, 2]) == 0.0
    assert codes.roc_auc([1, 1], [1, 1, 1]) == 0.5           # ties count one half


def test_roc_auc_equals_the_pairwise_definition():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=200).round(1), (rng.normal(size=150) + 0.7).round(1)   # with ties
    pairwise = np.mean((b[None, :] > a[:, None]) + 0.5 * (b[None, :] == a[:, None]))
    assert codes.roc_auc(a, b) == pytest.approx(pairwise, abs=1e-12)


def test_roc_auc_rejects_empty_or_nan():
    with pytest.raises(ValueError, match="at least one"):
        codes.roc_auc([], [1.0])
    with pytest.raises(ValueError, match="finite"):
        codes.roc_auc([np.nan], [1.0])


def test_flagged_share():
    assert codes.flagged_share([1, 2, 3, 4], 2) == 0.5
    assert codes.flagged_share([1, 2, 3, 4], 4) == 0.0


# ------------------------------------------------------------------ sample quality
def test_sample_quality_of_confident_even_predictions():
    p = np.eye(10)[np.arange(100) % 10]
    q = codes.sample_quality(p)
    assert q["confidence"] == 1.0 and q["entropy"] == 0.0 and q["evenness"] == pytest.approx(1.0)
    assert q["score"] == pytest.approx(10.0)                      # ten distinct, confident classes


def test_sample_quality_of_uniform_and_single_class_predictions():
    q = codes.sample_quality(np.full((20, 10), 0.1))
    assert q["confidence"] == pytest.approx(0.1)
    assert q["entropy"] == pytest.approx(np.log2(10))
    assert q["evenness"] == 0.0                                  # argmax is always class 0
    assert q["score"] == pytest.approx(1.0)                      # ambiguous images count as one class


def test_sample_quality_score_of_confident_single_class():
    q = codes.sample_quality(np.eye(10)[np.zeros(30, int)])
    assert q["confidence"] == 1.0 and q["evenness"] == 0.0 and q["score"] == pytest.approx(1.0)


def test_sample_quality_rejects_non_probabilities():
    with pytest.raises(ValueError, match="sum to 1"):
        codes.sample_quality(np.ones((3, 10)))
    with pytest.raises(ValueError, match="n_images"):
        codes.sample_quality(np.ones(10) / 10)
