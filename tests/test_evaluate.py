"""Fast checks of aecourse.evaluate on small synthetic data."""

import time

import numpy as np
import pytest

from aecourse import evaluate


def _blobs(n=300, d=8, classes=3, spread=0.3, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(classes, d))
    y = rng.integers(0, classes, size=n)
    x = centres[y] + spread * rng.normal(size=(n, d))
    return x.astype("float32"), y


def test_feature_accuracy_separable_blobs_near_perfect():
    x, y = _blobs()
    scores = evaluate.feature_accuracy(x[:200], y[:200], x[200:], y[200:])
    assert set(scores) == set(evaluate.CLASSIFIERS)
    assert all(0.95 <= s <= 1.0 for s in scores.values()), scores


def test_feature_accuracy_noise_is_near_chance():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 5))
    y = rng.integers(0, 2, size=400)
    scores = evaluate.feature_accuracy(x[:300], y[:300], x[300:], y[300:], classifiers=("k-NN",))
    assert 0.3 < scores["k-NN"] < 0.7


def test_feature_accuracy_flattens_images_and_checks_columns():
    x, y = _blobs(d=16)
    scores = evaluate.feature_accuracy(x[:200].reshape(-1, 4, 4), y[:200], x[200:].reshape(-1, 4, 4), y[200:],
                                       classifiers=("random forest",))
    assert scores["random forest"] > 0.9
    with pytest.raises(ValueError, match="columns"):
        evaluate.feature_accuracy(x[:200], y[:200], x[200:, :4], y[200:])


def test_unknown_classifier_is_rejected():
    with pytest.raises(ValueError, match="unknown classifier"):
        evaluate.make_classifier("perceptron")


def test_kmeans_ari_perfect_on_blobs_and_near_zero_on_noise():
    x, y = _blobs(classes=4, spread=0.1)
    assert evaluate.kmeans_ari(x, y, n_clusters=4) > 0.95
    rng = np.random.default_rng(2)
    assert abs(evaluate.kmeans_ari(rng.normal(size=(300, 3)), rng.integers(0, 4, 300), n_clusters=4)) < 0.1


def test_reconstruction_errors_per_pixel_and_per_image():
    x = np.zeros((2, 784), dtype="float32")
    x_hat = np.full((2, 784), 0.5, dtype="float32")
    assert evaluate.mse_per_pixel(x, x_hat) == pytest.approx(0.25)
    assert evaluate.sse_per_image(x, x_hat) == pytest.approx(0.25 * 784)
    assert evaluate.sse_per_image(x.reshape(2, 28, 28), x_hat) == pytest.approx(196.0)
    with pytest.raises(ValueError, match="shapes differ"):
        evaluate.mse_per_pixel(x, x_hat[:, :10])


def test_timer_and_timed(capsys):
    with evaluate.Timer() as t:
        time.sleep(0.01)
    assert t.seconds >= 0.01
    log = {}
    with evaluate.timed("nap", log):
        time.sleep(0.01)
    assert log["nap"] >= 0.01 and "nap:" in capsys.readouterr().out


def test_section_clock_accumulates_in_order():
    clock = evaluate.SectionClock()
    clock.start("a")
    time.sleep(0.01)
    clock.start("b")
    clock.start("a")
    times = clock.stop()
    assert list(times) == ["a", "b"]
    assert times["a"] >= 0.01 and clock.total == pytest.approx(sum(times.values()))
    assert clock.stop() == times  # stopping twice changes nothing


def test_tsne_2d_shape_and_separation():
    x, y = _blobs(n=90, d=60, classes=3, spread=0.2)
    z = evaluate.tsne_2d(x, pca_dims=10)
    assert z.shape == (90, 2)
    assert evaluate.kmeans_ari(z, y, n_clusters=3) > 0.9
