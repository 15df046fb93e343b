"""The denoising rulebook and grading spec without a model or a kernel (numpy only, seconds).

- held-out probes: a "denoiser" that looks the clean digit up in public MNIST meets the
  threshold on plain MNIST test digits but not on the grader's secretly transformed ones;
- forged evidence: what the kernel exports under a model-evidence name is ignored, so blank
  answers with forged exports earn nothing;
- targets are stricter than thresholds, from the same constants.
"""

from __future__ import annotations

import numpy as np
import pytest

from aecourse import data, metrics
from aecourse.assignments import denoising_dimension_reduction as C
from aecourse.assignments import passed
from aecourse.assignments.denoising_dimension_reduction import evidence, grading, rulebook
from aecourse.grade.spec import with_model_evidence


@pytest.fixture(scope="module")
def mnist(data_dir):
    return data.load_mnist(dtype="float32", layout="channels", download=False)


@pytest.fixture(scope="module")
def hidden(mnist):
    return grading.make_hidden(np.random.default_rng(7), smoke=False, data=mnist)


def lookup(noisy, public):
    """The public image nearest to each noisy image: a "denoiser" that learned nothing."""
    flat = public.reshape(len(public), -1).astype(np.float32)
    q = noisy.reshape(len(noisy), -1).astype(np.float32)
    d = (q ** 2).sum(1)[:, None] - 2 * q @ flat.T + (flat ** 2).sum(1)[None, :]
    return public[np.argmin(d, axis=1)]


def _denoise_mse_check(out, clean, noisy, t):
    ref = {"clean_q": clean, "noisy_q": noisy}
    checks = rulebook.denoise({"denoised_q": out, "errors": {}}, ref, t)
    return next(c for c in checks if c.name == "the denoised images are close to the clean ones")


def test_a_lookup_in_public_mnist_fails_on_the_held_out_digits(mnist, hidden):
    """Under the grading thresholds (full mode). Smoke mode's thresholds are loose enough for a model
    trained for seconds, and a lookup on transformed digits meets them: smoke grading proves the
    machinery, not the assignment."""
    (_, _), (x_test, _) = mnist
    t = C.thresholds(smoke=False)
    n = 300
    out = lookup(hidden["noisy_q"][:n], x_test)
    check = _denoise_mse_check(out, hidden["clean_q"][:n], hidden["noisy_q"][:n], t)
    assert not check.passed, check
    # The same lookup on plain MNIST test digits would have passed: that is what the transformation prevents.
    rng = np.random.default_rng(1)
    clean = x_test[rng.choice(len(x_test), n, replace=False)]
    noisy = metrics.clipped_noise(clean, C.NOISE_FACTOR, rng)
    assert _denoise_mse_check(lookup(noisy, x_test), clean, noisy, t).passed


def test_transformed_digits_stay_digits(hidden):
    clean = hidden["clean_q"]
    assert clean.dtype == np.float32 and clean.min() >= 0 and clean.max() <= 1
    assert 0.05 < float(clean.mean()) < 0.25  # ink is kept, not cropped away


def test_the_kernel_never_sees_the_probes(hidden):
    inside = grading.sandbox_inputs(hidden)
    for key in ("noisy_q", "clean_q", "noisy_r", "noisy_k", "labels_q", "labels_r", "labels_k", "pca_codes_q"):
        assert key not in inside
    assert set(grading.model_inputs(hidden)) == {"noisy_q", "noisy_r", "noisy_k"}


def test_blank_answers_with_forged_exports_earn_nothing(hidden):
    """The kernel exports the targets themselves under model-evidence names; no model was saved."""
    forged = {name: np.zeros(1) for name in evidence.MODEL}
    forged.update(denoised_q=hidden["clean_q"], codes_q=hidden["pca_codes_q"], n_conv_encoder=np.array(3),
                  n_conv_autoencoder=np.array(5), shared=np.array(1.0))
    not_saved = {n: "the models were not saved" for n in evidence.MODEL}
    for part in C.PART_IDS[:-1]:
        names = C.part(part).names
        found = {"defined": np.array([True] * len(names)), **forged}
        if part in grading.MODEL_PARTS:
            found, errors = with_model_evidence(found, {}, {}, not_saved, grading.MODEL_EVIDENCE)
        else:
            errors = {}
        assert not passed(grading.score(part, found, errors, hidden)), part


def test_targets_are_stricter_than_thresholds():
    for smoke in (False, True):
        t = C.thresholds(smoke=smoke)
        for key, value in t.items():
            aim = C.target(key, t)
            assert (aim < value) if key.startswith("max_") else (aim > value), key
            assert f"{value:g}" in rulebook.limit(key, t)
