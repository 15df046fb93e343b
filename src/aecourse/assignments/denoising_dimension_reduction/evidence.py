"""What each part is judged on: the arrays gathered from the student's objects, by name.

Two kinds of evidence, each a dict ``{name: fn(v, inp)}`` evaluated by
:func:`aecourse.assignments.collect` (``v("name")`` fetches an object by name; ``inp`` holds
the inputs):

- :data:`ANSWERS`: from the notebook's own names (``add_noise``, ``x_test_denoised``,
  ``pca_mse``, ...). These run *in the student's kernel* — for the notebook's checks and, in
  the grader's injected export cells, for grading — so their word is the kernel's word.
- :data:`MODEL`: from the two models only (``encoder``, ``autoencoder``) on probe inputs. The
  notebook's checks evaluate them on the live models; the grader evaluates them on the
  models *loaded from the saved ``.keras`` files* in a separate process that runs no student
  code (:mod:`aecourse.grade.modeleval`), on held-out inputs the kernel never sees.

The rulebook (:mod:`.rulebook`) turns either into checks; this module imports no Keras (it
calls the models it is handed).
"""

from __future__ import annotations

import numpy as np

from aecourse import metrics

from . import KNN_K, LATENT_DIM, NOISE_FACTOR, NOISE_SEED

N_SAMPLE = 500          # images of the student's arrays the noise rules look at
N_CONSISTENCY = 64      # images on which an answer is compared with the model's own output
N_MID = 16              # image pairs of the non-linearity probe
PCA_FIT_MAX = 20000     # noisy training images a reference PCA is fitted on
OTHER_FACTOR = 0.3      # the hidden check's second noise factor


def apply(model, x) -> np.ndarray:
    """A model's output for ``x`` (a Keras model, or any callable)."""
    x = np.asarray(x, dtype=np.float32)
    if hasattr(model, "predict"):
        return np.asarray(model.predict(x, verbose=0, batch_size=256))
    return np.asarray(model(x))


def layer_types(model) -> list[str]:
    """The class names of every layer of a Keras model, nested models' layers included."""
    out, stack, seen = [], [model], set()
    while stack:
        m = stack.pop()
        for layer in list(getattr(m, "layers", None) or []):
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            out.append(type(layer).__name__)
            stack.append(layer)
    return out


def n_conv(model) -> int:
    return sum(1 for name in layer_types(model) if "conv" in name.lower())


def shared_fraction(encoder, autoencoder) -> float:
    """The fraction of the encoder's weight arrays that the autoencoder holds (equal values):
    1 when the encoder is part of the autoencoder."""
    enc = [np.asarray(w) for w in encoder.get_weights()]
    ae = [np.asarray(w) for w in autoencoder.get_weights()]
    if not enc:
        return 0.0
    found = sum(any(a.shape == e.shape and np.array_equal(a, e) for a in ae) for e in enc)
    return found / len(enc)


# --------------------------------------------------------------------------- model evidence
def _mid(x):
    x = np.asarray(x, dtype=np.float32)
    return (x[:N_MID] + x[N_MID:2 * N_MID]) / 2


MODEL = {
    "codes_q": lambda v, inp: apply(v("encoder"), inp["noisy_q"]),
    "codes_mid": lambda v, inp: apply(v("encoder"), _mid(inp["noisy_q"])),
    "denoised_q": lambda v, inp: apply(v("autoencoder"), inp["noisy_q"]),
    "codes_r": lambda v, inp: apply(v("encoder"), inp["noisy_r"]),
    "codes_k": lambda v, inp: apply(v("encoder"), inp["noisy_k"]),
    "n_conv_encoder": lambda v, inp: n_conv(v("encoder")),
    "n_conv_autoencoder": lambda v, inp: n_conv(v("autoencoder")),
    "shared": lambda v, inp: shared_fraction(v("encoder"), v("autoencoder")),
}


# --------------------------------------------------------------------------- answer evidence
def _shape(name):
    return lambda v, inp: np.shape(v(name))


def _float(name):
    return lambda v, inp: float(np.asarray(v(name)).reshape(()))


def _head(name, n=N_SAMPLE):
    return lambda v, inp: np.asarray(v(name))[:n]


def _noise(seed_key, factor_key="factor", index=0):
    def fn(v, inp):
        clean = np.array(inp["clean_a"])  # a copy: the function may not change it, and must not see ours
        return v("add_noise")(clean, float(inp[factor_key][0]), int(inp[seed_key][index]))
    return fn


def _clean_after(v, inp):
    clean = np.array(inp["clean_a"])
    v("add_noise")(clean, float(inp["factor"][0]), int(inp["seeds"][0]))
    return clean


def _test_noisy_gap(v, inp):
    """Largest difference between x_test_noisy and add_noise(x_test, NOISE_FACTOR, NOISE_SEED + 1)."""
    x_test, noisy = np.asarray(v("x_test")), np.asarray(v("x_test_noisy"))
    want = np.asarray(v("add_noise")(np.array(x_test), NOISE_FACTOR, NOISE_SEED + 1))
    if want.shape != noisy.shape:
        return np.inf
    return float(np.max(np.abs(want.astype(np.float64) - noisy)))


def _answer_mse(answer, reference):
    def fn(v, inp):
        a, b = np.asarray(v(answer), np.float64), np.asarray(v(reference), np.float64)
        return metrics.mse_per_pixel(a, b) if a.shape == b.shape else np.nan
    return fn


def _model_gap(model, inputs, answer, relative=False):
    """Largest difference between ``answer[:64]`` and the model's own output for ``inputs[:64]``
    (``relative``: divided by the output's mean size when that is above 1)."""
    def fn(v, inp):
        n = N_CONSISTENCY
        x = np.asarray(v(inputs))[:n]
        out = apply(v(model), x).reshape(len(x), -1).astype(np.float64)
        ans = np.asarray(v(answer))[:n]
        if ans.size != out.size:
            return np.inf
        gap = float(np.max(np.abs(out - ans.reshape(out.shape))))
        return gap / max(1.0, float(np.abs(out).mean())) if relative else gap
    return fn


def _reference_pca(v):
    noisy = np.asarray(v("x_train_noisy"), np.float32)
    return metrics.PCA(LATENT_DIM).fit(noisy[:PCA_FIT_MAX])


def _reference_pca_mse(v, inp):
    """MSE against x_test of PCA-LATENT_DIM fitted on x_train_noisy, reconstructing x_test_noisy."""
    pca = _reference_pca(v)
    x_test, noisy = np.asarray(v("x_test")), np.asarray(v("x_test_noisy"), np.float32)
    return metrics.mse_per_pixel(x_test, pca.reconstruct(noisy).reshape(x_test.shape))


def _knn_ae(v, inp):
    return metrics.knn_accuracy(v("z_train"), v("y_train"), v("z_test"), v("y_test"), KNN_K)


def _knn_pca(v, inp):
    pca = metrics.PCA(LATENT_DIM).fit(np.asarray(v("x_train_noisy"), np.float32))
    return metrics.knn_accuracy(pca.transform(v("x_train_noisy")), v("y_train"), pca.transform(v("x_test_noisy")),
                                v("y_test"), KNN_K)


def _z_stats(v, inp):
    """[non-finite values, largest per-dimension spread] of (the first images of) z_train and z_test."""
    flat = [np.asarray(v(n), np.float64) for n in ("z_train", "z_test")]
    flat = [a.reshape(len(a), -1)[:N_SAMPLE] if a.ndim else a.reshape(1, -1) for a in flat]
    z = np.concatenate(flat) if flat[0].shape[1] == flat[1].shape[1] else flat[1]
    finite = np.isfinite(z)
    return [float((~finite).sum()), float(np.where(finite, z, 0.0).std(axis=0).max()) if z.size else 0.0]


ANSWERS = {
    "noise": {
        "noisy": _noise("seeds"),
        "noisy_again": _noise("seeds"),
        "noisy_other": _noise("seeds", index=1),
        "noisy_factor2": _noise("seeds", "factor2"),
        "clean_after": _clean_after,
        "x_train_shape": _shape("x_train"), "x_test_shape": _shape("x_test"),
        "y_train_shape": _shape("y_train"), "y_test_shape": _shape("y_test"),
        "x_train_noisy_shape": _shape("x_train_noisy"), "x_test_noisy_shape": _shape("x_test_noisy"),
        "train_clean": _head("x_train"), "train_noisy": _head("x_train_noisy"),
        "test_clean": _head("x_test"), "test_noisy": _head("x_test_noisy"),
        "test_noisy_gap": _test_noisy_gap,
    },
    "model": {},
    "denoise": {
        "x_test_denoised_shape": _shape("x_test_denoised"), "x_test_shape": _shape("x_test"),
        "answer_gap": _model_gap("autoencoder", "x_test_noisy", "x_test_denoised"),
        "ae_mse": _float("ae_mse"), "answer_mse": _answer_mse("x_test_denoised", "x_test"),
    },
    "pca": {
        "pca_test_denoised_shape": _shape("pca_test_denoised"), "x_test_shape": _shape("x_test"),
        "pca_mse": _float("pca_mse"), "answer_mse": _answer_mse("pca_test_denoised", "x_test"),
        "reference_mse": _reference_pca_mse,
    },
    "codes": {
        "z_train_shape": _shape("z_train"), "z_test_shape": _shape("z_test"),
        "x_train_shape": _shape("x_train"), "x_test_shape": _shape("x_test"),
        "z_stats": _z_stats,
        "answer_gap": _model_gap("encoder", "x_test_noisy", "z_test", relative=True),
        "answer_gap_clean": _model_gap("encoder", "x_test", "z_test", relative=True),
    },
    "knn": {
        "knn_accuracy_ae": _float("knn_accuracy_ae"), "knn_accuracy_pca": _float("knn_accuracy_pca"),
        "recomputed_ae": _knn_ae, "recomputed_pca": _knn_pca,
    },
    "view": {
        "z_test_2d": lambda v, inp: np.asarray(v("z_test_2d"), dtype=np.float64),
        "x_test_shape": _shape("x_test"),
    },
}


def answer_inputs(clean_a: np.ndarray, seeds) -> dict:
    """The inputs the answer evidence needs: images and seeds for ``add_noise``, the constants."""
    return {"clean_a": np.asarray(clean_a, np.float32), "seeds": np.asarray(seeds, np.int64),
            "factor": np.array([NOISE_FACTOR]), "factor2": np.array([OTHER_FACTOR])}
