"""Measure what an autoencoder's codes are good for: features, clusters, timing.

These helpers are not the lesson, so they live here; the notebooks call them on
codes, PCA projections and raw pixels alike and compare the numbers.

>>> scores = feature_accuracy(z_train, y_train, z_test, y_test)   # doctest: +SKIP
>>> scores                                                       # doctest: +SKIP
{'k-NN': 0.96, 'linear SVM': 0.91, 'random forest': 0.94}
"""

from __future__ import annotations

import time
import warnings
from contextlib import contextmanager

import numpy as np

from .metrics import mse_per_pixel, sse_per_image  # noqa: F401  (their home is aecourse.metrics)

CLASSIFIERS = ("k-NN", "linear SVM", "random forest")


def make_classifier(name: str, seed: int = 0):
    """A scikit-learn classifier by its short name: ``"k-NN"``, ``"linear SVM"`` or ``"random forest"``.

    k-NN (5 neighbours) uses the features as given: Euclidean distance in code space is the point.
    The linear SVM is the hinge loss trained by stochastic gradient descent on standardised
    features, capped at 30 passes (scikit-learn's ``LinearSVC`` took minutes on raw pixels here).
    Trees need no scaling.
    """
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import SGDClassifier
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if name == "k-NN":
        return KNeighborsClassifier(n_neighbors=5)
    if name == "linear SVM":
        return make_pipeline(StandardScaler(), SGDClassifier(loss="hinge", alpha=1e-4, max_iter=30,
                                                             tol=1e-4, random_state=seed))
    if name == "random forest":
        return RandomForestClassifier(n_estimators=100, n_jobs=2, random_state=seed)
    raise ValueError(f"unknown classifier {name!r}; choose from {CLASSIFIERS}")


def feature_accuracy(x_train, y_train, x_test, y_test, classifiers=CLASSIFIERS, seed: int = 0) -> dict:
    """Test accuracy of each classifier trained on ``(x_train, y_train)``: ``{name: accuracy}``."""
    from sklearn.exceptions import ConvergenceWarning

    x_train, x_test = _as_2d(x_train), _as_2d(x_test)
    if x_train.shape[1] != x_test.shape[1]:
        raise ValueError(f"train features have {x_train.shape[1]} columns but test features {x_test.shape[1]}")
    scores = {}
    with _one_thread(), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for name in classifiers:
            clf = make_classifier(name, seed=seed).fit(x_train, y_train)
            scores[name] = float(np.mean(clf.predict(x_test) == np.asarray(y_test)))
    return scores


def kmeans_ari(x, labels, n_clusters: int = 10, seed: int = 0, n_init: int = 4) -> float:
    """Adjusted Rand index between k-means clusters of ``x`` and the true ``labels``.

    1 means the clusters are the classes; 0 is what random clusters score on average.
    """
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score

    with _one_thread():
        clusters = KMeans(n_clusters=n_clusters, n_init=n_init, random_state=seed).fit_predict(_as_2d(x))
    return float(adjusted_rand_score(labels, clusters))


def tsne_2d(x, seed: int = 0, perplexity: float = 30.0, pca_dims: int = 50) -> np.ndarray:
    """t-SNE to two dimensions after PCA to ``pca_dims`` (the usual recipe), seeded: shape (N, 2)."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    x = _as_2d(x)
    with _one_thread():
        if x.shape[1] > pca_dims:
            x = PCA(pca_dims, random_state=seed).fit_transform(x)
        perplexity = min(perplexity, (len(x) - 1) / 3)
        return TSNE(n_components=2, init="pca", perplexity=perplexity, random_state=seed, n_jobs=1).fit_transform(x)


@contextmanager
def _one_thread():
    """Run scikit-learn's OpenMP/BLAS code on one thread.

    Beside a TensorFlow process on a small, busy CPU, OpenMP threads that wait for each other
    made k-means and t-SNE several times slower than one thread (measured on 2 shared cores).
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        yield
        return
    with threadpool_limits(1):
        yield


class Timer:
    """Wall-clock seconds of a block: ``with Timer() as t: ...`` then ``t.seconds``."""

    def __init__(self):
        self.seconds = float("nan")

    def __enter__(self):
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self._start
        return False


@contextmanager
def timed(name: str, log: dict | None = None):
    """Time a block, print ``name: N s`` and store the seconds in ``log[name]`` if given."""
    with Timer() as t:
        yield t
    if log is not None:
        log[name] = t.seconds
    print(f"{name}: {t.seconds:.1f} s")


class SectionClock:
    """Wall time per notebook section: ``clock.start("train")`` ends the previous section.

    >>> clock = SectionClock()
    >>> clock.start("data"); clock.start("train"); times = clock.stop()
    >>> sorted(times)
    ['data', 'train']
    """

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self._name = None
        self._start = None

    def start(self, name: str) -> None:
        """Close the running section (if any) and start timing ``name``."""
        self._close()
        self._name, self._start = name, time.perf_counter()

    def stop(self) -> dict:
        """Close the running section and return ``{section: seconds}`` in the order they ran."""
        self._close()
        return dict(self.seconds)

    @property
    def total(self) -> float:
        """Seconds of all closed sections together."""
        return float(sum(self.seconds.values()))

    def _close(self) -> None:
        if self._name is not None:
            self.seconds[self._name] = self.seconds.get(self._name, 0.0) + time.perf_counter() - self._start
            self._name = None


def _as_2d(x) -> np.ndarray:
    x = np.asarray(x)
    return x.reshape(len(x), -1)
