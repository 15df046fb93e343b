"""Putting codes to work: exact nearest-neighbour search, precision@k, ROC-AUC and sample quality.

NumPy only, so that the notebook of chapter 06 keeps its models in view and these measures can
be tested on small synthetic arrays. Every function checks its input and says what is wrong.
"""

from __future__ import annotations

import numpy as np


def _as_2d(x, name: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim < 2:
        raise ValueError(f"{name} must hold one row per item, got shape {x.shape}")
    return x.reshape(len(x), -1).astype(np.float32, copy=False)


# ----------------------------------------------------------------------------- retrieval
def nearest_neighbours(queries, database, k: int, chunk: int | None = None) -> np.ndarray:
    """Indices of the ``k`` nearest rows of ``database`` to each query (exact, Euclidean), nearest first.

    Uses ``|q - x|^2 = |q|^2 - 2 q.x + |x|^2`` one chunk of queries at a time, so memory stays at
    ``chunk x len(database)`` distances (and as many indices). By default ``chunk`` keeps that
    near 4 million distances (16 MB), whatever the size of the database. Returns an int array of
    shape ``(len(queries), k)``.
    """
    queries, database = _as_2d(queries, "queries"), _as_2d(database, "database")
    if queries.shape[1] != database.shape[1]:
        raise ValueError(f"queries have {queries.shape[1]} values each, the database {database.shape[1]}")
    if not 1 <= k <= len(database):
        raise ValueError(f"k must be between 1 and the database size {len(database)}, got {k}")
    if chunk is None:
        chunk = max(1, 2**22 // len(database))
    db_sq = np.einsum("ij,ij->i", database, database)
    out = np.empty((len(queries), k), dtype=np.int64)
    for start in range(0, len(queries), chunk):
        d2 = queries[start:start + chunk] @ database.T        # in place from here: one chunk-sized array
        d2 *= -2.0
        d2 += db_sq[None, :]                                  # |q|^2 is the same for a row: not needed
        if k < len(database):
            idx = np.argpartition(d2, k - 1, axis=1)[:, :k]
        else:
            idx = np.broadcast_to(np.arange(k), d2.shape)
        order = np.argsort(np.take_along_axis(d2, idx, axis=1), axis=1, kind="stable")
        out[start:start + chunk] = np.take_along_axis(idx, order, axis=1)
    return out


def precision_at_k(neighbours, query_labels, database_labels, ks=(1, 10, 50)) -> dict[int, float]:
    """Mean share of each query's first ``k`` neighbours that carry the query's label, for each ``k``.

    ``neighbours`` are indices into ``database_labels``, nearest first, as from
    :func:`nearest_neighbours`.
    """
    neighbours = np.asarray(neighbours)
    query_labels, database_labels = np.asarray(query_labels), np.asarray(database_labels)
    if neighbours.ndim != 2 or len(neighbours) != len(query_labels):
        raise ValueError(f"neighbours must be (n_queries, k) with n_queries = {len(query_labels)}, "
                         f"got {neighbours.shape}")
    if max(ks) > neighbours.shape[1] or min(ks) < 1:
        raise ValueError(f"ks must lie in 1..{neighbours.shape[1]}, got {tuple(ks)}")
    hits = database_labels[neighbours] == query_labels[:, None]
    return {int(k): float(hits[:, :k].mean()) for k in ks}


# ----------------------------------------------------------------------------- anomaly detection
def per_image_mse(x, x_hat) -> np.ndarray:
    """Mean squared error of each image against its reconstruction: shape ``(len(x),)``."""
    x, x_hat = _as_2d(x, "x"), _as_2d(x_hat, "x_hat")
    if x.shape != x_hat.shape:
        raise ValueError(f"x and x_hat differ in shape: {x.shape} vs {x_hat.shape}")
    return np.mean((x - x_hat) ** 2, axis=1)


def roc_auc(scores_normal, scores_anomalous) -> float:
    """Area under the ROC curve: the chance that a random anomaly scores above a random normal item.

    Computed exactly from ranks (the Mann-Whitney statistic), ties counting one half. 0.5 is
    chance; 1.0 separates the two sets perfectly.
    """
    a = np.asarray(scores_normal, dtype=np.float64).ravel()
    b = np.asarray(scores_anomalous, dtype=np.float64).ravel()
    if len(a) == 0 or len(b) == 0:
        raise ValueError("roc_auc needs at least one normal and one anomalous score")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("roc_auc needs finite scores")
    both = np.concatenate([a, b])
    order = np.argsort(both, kind="mergesort")
    ranks = np.empty(len(both))
    sorted_scores = both[order]
    # average ranks over ties (1-based)
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    ends = np.r_[starts[1:], len(both)]
    for s, e in zip(starts, ends):
        ranks[order[s:e]] = (s + 1 + e) / 2.0
    rank_sum = ranks[len(a):].sum()
    return float((rank_sum - len(b) * (len(b) + 1) / 2.0) / (len(a) * len(b)))


def flagged_share(scores, threshold: float) -> float:
    """Share of ``scores`` strictly above ``threshold``: the detection rate, or the false-alarm rate."""
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if len(scores) == 0:
        raise ValueError("flagged_share needs at least one score")
    return float(np.mean(scores > threshold))


# ----------------------------------------------------------------------------- sample quality
def sample_quality(probabilities) -> dict[str, float]:
    """How a digit classifier sees a set of generated images, from its softmax outputs ``(n, classes)``.

    - ``confidence``: mean of each image's top class probability (high: the images look like digits);
    - ``entropy``: mean entropy of each image's class distribution, in bits (low: unambiguous digits);
    - ``evenness``: entropy of the share of images assigned to each class, divided by its maximum
      ``log2(classes)`` (1: every class equally often; 0: a single class);
    - ``score``: ``2 ** (H(mean prediction) - mean H(prediction))`` in bits, the Inception Score
      of Salimans et al. (2016) with a digit classifier: the effective number of distinct classes
      recognised with confidence, from 1 (all alike or all ambiguous) to ``classes``.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(f"probabilities must be (n_images, n_classes >= 2), got {p.shape}")
    if np.any(p < 0) or not np.allclose(p.sum(axis=1), 1.0, atol=1e-3):
        raise ValueError("each row of probabilities must be non-negative and sum to 1 (a softmax output)")
    n_classes = p.shape[1]
    entropy = -np.sum(np.where(p > 0, p * np.log2(np.where(p > 0, p, 1.0)), 0.0), axis=1)
    share = np.bincount(p.argmax(axis=1), minlength=n_classes) / len(p)
    nz = share[share > 0]
    evenness = float(-(nz * np.log2(nz)).sum() / np.log2(n_classes))
    marginal = p.mean(axis=0)
    nzm = marginal[marginal > 0]
    score = float(2.0 ** (-(nzm * np.log2(nzm)).sum() - entropy.mean()))
    return {"confidence": float(p.max(axis=1).mean()), "entropy": float(entropy.mean()), "evenness": evenness,
            "score": score}
