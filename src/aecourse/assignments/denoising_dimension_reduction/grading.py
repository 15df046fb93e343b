"""Grading spec of the denoising dimension-reduction assignment.

Scoring is three steps, and only the rulebook decides points:

1. **In the student's kernel** (the grader's injected export cells, :mod:`aecourse.grade.inkernel`):
   the answer evidence (:data:`.evidence.ANSWERS`) — what the notebook's names hold, and
   ``add_noise`` run on held-out images with secret seeds. This is the kernel's word: it is
   trusted for the 'noise' part (which must run the student's function) and for the
   bookkeeping checks of the other parts (``ae_mse`` is the MSE of ``x_test_denoised``, ...).
2. **In a separate process that runs no student code** (:mod:`aecourse.grade.modeleval`): the
   model evidence (:data:`.evidence.MODEL`) — the saved ``encoder.keras`` and
   ``autoencoder.keras`` loaded with ``safe_mode=True``, the architecture read from their
   config, the held-out noisy images run through both. That process sees the held-out
   *inputs* only (:func:`model_inputs`).
3. **Here, numpy only**: :func:`score` compares both with the targets through the rulebook
   (:func:`.rulebook.judge`), the same functions the notebook's checks call.

The hidden data (made once per gradebook with a random seed) holds the held-out probe
images ``clean_q``/``noisy_q``/``labels_q`` (MNIST test digits moved by a secret random
affine transformation, then noised — a lookup in public MNIST does not find them), the
k-NN images ``noisy_r``/``labels_r`` (training digits, noised) and ``noisy_k``/``labels_k``
(other test digits, noised with the grader's own noise; k-NN judges codes, where a lookup
gains nothing, and the encoders the course teaches are not shift-invariant),
the images ``clean_a`` and ``seeds`` for ``add_noise``, and a reference PCA's MSE and codes
of the probes (``pca_mse_q``, ``pca_codes_q``).
"""

from __future__ import annotations

import numpy as np

from aecourse import metrics

from .. import Check, merge_evidence
from .. import denoising_dimension_reduction as C
from . import evidence, rulebook

NAME = C.NAME
VERSION = "3"
MODEL_FILES = ("encoder.keras", "autoencoder.keras")
MODEL_PART = "model"   # the export cell of this part saves the models the later parts are judged on


def _defined(names):
    return lambda v, inp: [n in v for n in names]


# What the injected export cells evaluate in the kernel: {part: {name: fn(v, inp)}}. Every part
# first records which of its contract names the notebook defines: a part whose answer left a
# name undefined scores 0 (its other checks could otherwise pass on earlier work).
EXPORTS = {p.id: {"defined": _defined(p.names), **evidence.ANSWERS[p.id]} for p in C.PARTS if p.autograded}
# The models are saved by the 'model' part's export cell, for the model evaluation (step 2).
SAVE_MODELS = {"part": MODEL_PART, "names": ("encoder", "autoencoder"), "files": MODEL_FILES}


def sizes(smoke: bool) -> tuple[int, int]:
    """(held-out probes, k-NN reference images).

    The student's own k-NN uses every training code (60,000 in full mode); with 10,000
    references the grader measured 0.930 where the reference solution's notebook said 0.944,
    so the full-mode reference set is 20,000 images, to stay close to the notebook's number.
    """
    return (300, 2000) if smoke else (2000, 20000)


MAX_SHIFT = 2.0      # pixels: the secret transformation moves a digit by at most this much
MAX_ROTATION = 10.0  # degrees
SCALE_RANGE = (0.9, 1.1)


def transform_digits(x: np.ndarray, rng) -> np.ndarray:
    """Each image moved by its own random affine map (shift, rotation, scale), bilinear, clipped to [0, 1].

    Keeps them digits, but no longer pixel-for-pixel the public MNIST images.
    """
    n = len(x)
    img = np.asarray(x, np.float32).reshape(n, 28, 28)
    angle = np.deg2rad(rng.uniform(-MAX_ROTATION, MAX_ROTATION, n))
    scale = rng.uniform(*SCALE_RANGE, n)
    shift = rng.uniform(-MAX_SHIFT, MAX_SHIFT, (n, 2))
    rows, cols = np.meshgrid(np.arange(28.0), np.arange(28.0), indexing="ij")
    c = 13.5
    out = np.empty_like(img)
    for i in range(n):
        cos, sin = np.cos(angle[i]) / scale[i], np.sin(angle[i]) / scale[i]
        r0, c0 = rows - c - shift[i, 0], cols - c - shift[i, 1]
        sr, sc = cos * r0 - sin * c0 + c, sin * r0 + cos * c0 + c   # where each output pixel comes from
        r_lo, c_lo = np.floor(sr).astype(int), np.floor(sc).astype(int)
        fr, fc = sr - r_lo, sc - c_lo
        acc = np.zeros((28, 28), np.float32)
        for dr, wr in ((0, 1 - fr), (1, fr)):
            for dc, wc in ((0, 1 - fc), (1, fc)):
                rr, cc = r_lo + dr, c_lo + dc
                inside = (rr >= 0) & (rr < 28) & (cc >= 0) & (cc < 28)
                acc += np.where(inside, img[i][np.clip(rr, 0, 27), np.clip(cc, 0, 27)], 0.0) * wr * wc
        out[i] = acc
    return np.clip(out, 0.0, 1.0).reshape(x.shape)


def make_hidden(rng, smoke, data=None):
    """Draw the held-out sets. ``data``: ``((x_train, y_train), (x_test, y_test))`` float32 channels."""
    if data is None:
        from aecourse.data import load_mnist

        data = load_mnist(dtype="float32", layout="channels")
    (x_train, y_train), (x_test, y_test) = data
    n_q, n_r = sizes(smoke)
    perm_test = rng.permutation(len(x_test))
    iq, ia = perm_test[:n_q], perm_test[n_q:n_q + 80]
    ir = rng.choice(len(x_train), size=n_r, replace=False)
    clean_q = transform_digits(x_test[iq], rng)
    noisy_q = metrics.clipped_noise(clean_q, C.NOISE_FACTOR, rng)
    noisy_r = metrics.clipped_noise(x_train[ir].astype(np.float32), C.NOISE_FACTOR, rng)
    ik = perm_test[n_q + 80:2 * n_q + 80]
    noisy_k = metrics.clipped_noise(x_test[ik].astype(np.float32), C.NOISE_FACTOR, rng)
    grey = np.full((20, 28, 28, 1), 0.5, np.float32)
    clean_a = np.concatenate([transform_digits(x_test[ia], rng), grey])
    pca = metrics.PCA(C.LATENT_DIM).fit(noisy_r)
    return {
        "clean_q": clean_q, "noisy_q": noisy_q, "labels_q": y_test[iq].astype(np.int64),
        "noisy_r": noisy_r, "labels_r": y_train[ir].astype(np.int64),
        "noisy_k": noisy_k, "labels_k": y_test[ik].astype(np.int64),
        "clean_a": clean_a, "seeds": rng.integers(1, 2**31 - 1, size=2).astype(np.int64),
        "pca_mse_q": np.array([metrics.mse_per_pixel(clean_q, pca.reconstruct(noisy_q))]),
        "pca_codes_q": pca.transform(noisy_q).astype(np.float32),
        "smoke": np.array([int(bool(smoke))]),
    }


def sandbox_inputs(hidden):
    """What enters the student's kernel: images and seeds for ``add_noise`` — never the probes."""
    return evidence.answer_inputs(hidden["clean_a"], hidden["seeds"])


def model_inputs(hidden):
    """What the model evaluation (step 2) sees: the held-out noisy images, never their targets."""
    return {"noisy_q": hidden["noisy_q"], "noisy_r": hidden["noisy_r"], "noisy_k": hidden["noisy_k"]}


MODEL_EVIDENCE = evidence.MODEL
MODEL_PARTS = rulebook.MODEL_PARTS   # the parts scored on the model evidence too


def references(hidden) -> dict:
    """The references the rulebook compares the evidence with (kept outside every sandbox)."""
    return {"clean_a": hidden["clean_a"], "factor": C.NOISE_FACTOR, "factor2": evidence.OTHER_FACTOR,
            "clean_q": hidden["clean_q"], "noisy_q": hidden["noisy_q"], "labels_q": hidden["labels_q"],
            "labels_r": hidden["labels_r"], "labels_k": hidden["labels_k"], "pca_mse_q": float(np.ravel(hidden["pca_mse_q"])[0]),
            "pca_codes_q": hidden["pca_codes_q"]}


def score(grade_id, found, errors, hidden):
    """Step 3: the rulebook's checks of part ``grade_id`` for the evidence ``found`` (both kinds, merged)."""
    names = C.part(grade_id).names
    defined = found.get("defined")
    if defined is not None and np.size(defined) == len(names):
        missing = [n for n, d in zip(names, np.ravel(defined)) if not d]
    else:
        missing = list(names)
    if missing:
        why = errors.get("defined")
        return [Check("names this part must define", False, ", ".join(names),
                      f"not defined: {', '.join(missing)}" if not why else f"an error: {why}")]
    e = merge_evidence(found, {"errors": errors})
    t = C.thresholds(smoke=bool(np.ravel(hidden["smoke"])[0]))
    return rulebook.judge(grade_id, e, references(hidden), t)


def bundle_files() -> dict:
    """Files a Gradescope bundle needs: MNIST for the notebook (from the data folder)."""
    from aecourse import data

    return {f"data/{name}": path for name, path in data.mnist_files().items()}
