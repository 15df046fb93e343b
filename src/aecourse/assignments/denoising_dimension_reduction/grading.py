"""Grading spec of the denoising dimension-reduction assignment.

Points come from arrays the student's own functions and models produce for *held-out*
inputs, scored here, outside the student's kernel, against targets that never enter the
sandbox. The hidden data (made once per gradebook with a random seed) holds:

- ``noisy_q`` / ``clean_q`` / ``labels_q``: MNIST test images with fresh noise (the grader's
  own random noise, not the assignment's seed) — only ``noisy_q`` enters the sandbox;
- ``noisy_r`` / ``labels_r``: noisy MNIST training images, the reference set of the k-NN
  check (labels stay here);
- ``clean_a``: clean images (MNIST digits and flat grey) fed to the student's ``add_noise``;
- ``pca_mse_q``, ``pca_codes_q``: PCA-``LATENT_DIM`` fitted on ``noisy_r``, its denoising MSE
  on the held-out set and its codes (the "PCA in disguise" check).

Names, shapes and thresholds come from :mod:`aecourse.assignments.denoising`.
"""

from __future__ import annotations

import numpy as np

from aecourse import metrics

from .. import Check, describe
from .. import denoising_dimension_reduction as C

NAME = C.NAME
VERSION = "2"

def layers_of(model) -> list:
    """Every layer of a Keras model, nested models' layers included."""
    out, stack = [], [model]
    while stack:
        m = stack.pop()
        for layer in list(getattr(m, "layers", None) or []):
            out.append(layer)
            stack.append(layer)
    return out


def n_conv(model) -> int:
    return sum(1 for layer in layers_of(model) if "conv" in type(layer).__name__.lower())


def apply(model, x):
    """A model's output for ``x`` (a Keras model, or any callable)."""
    if hasattr(model, "predict"):
        return model.predict(x, verbose=0, batch_size=256)
    return model(x)


def _noise(v, inp, seed_index):
    return v("add_noise")(inp["clean_a"], float(inp["factor"][0]), int(inp["seeds"][seed_index]))


def _clean_a_after(v, inp):
    _noise(v, inp, 0)  # the noise function must leave its input alone
    return inp["clean_a"]


def _shape(name):
    return lambda v, inp: np.shape(v(name))


def _float(name):
    return lambda v, inp: float(v(name))


def _consistency(model, inputs, answer):
    def gap(v, inp):
        n = 64
        out = np.asarray(apply(v(model), np.asarray(v(inputs))[:n]))
        return np.max(np.abs(np.reshape(out, (n, -1)) - np.reshape(np.asarray(v(answer))[:n], (n, -1))))
    return gap


# What the injected export cells evaluate in the kernel (see aecourse.grade.inkernel):
# {part: {name: fn(v, inp)}}, v("name") being the student's object.
EXPORTS = {
    "noise": {
        "noisy_a": lambda v, inp: _noise(v, inp, 0),
        "noisy_a_again": lambda v, inp: _noise(v, inp, 0),
        "noisy_a_other": lambda v, inp: _noise(v, inp, 1),
        "clean_a_after": _clean_a_after,
        "x_train_shape": _shape("x_train"),
        "x_test_shape": _shape("x_test"),
        "x_test_noisy_shape": _shape("x_test_noisy"),
        "x_train_noisy_shape": _shape("x_train_noisy"),
    },
    "model": {
        "codes_q": lambda v, inp: apply(v("encoder"), inp["noisy_q"]),
        "denoised_q": lambda v, inp: apply(v("autoencoder"), inp["noisy_q"]),
        "n_conv": lambda v, inp: n_conv(v("encoder")),
    },
    "denoise": {
        "denoised_q": lambda v, inp: apply(v("autoencoder"), inp["noisy_q"]),
        "x_test_denoised_shape": _shape("x_test_denoised"),
        "x_test_shape": _shape("x_test"),
        "consistency": _consistency("autoencoder", "x_test_noisy", "x_test_denoised"),
        "ae_mse": _float("ae_mse"),
    },
    "pca": {
        "denoised_q": lambda v, inp: apply(v("autoencoder"), inp["noisy_q"]),
        "pca_test_denoised_shape": _shape("pca_test_denoised"),
        "x_test_shape": _shape("x_test"),
        "pca_mse": _float("pca_mse"),
    },
    "codes": {
        "codes_q": lambda v, inp: apply(v("encoder"), inp["noisy_q"]),
        "z_train_shape": _shape("z_train"),
        "z_test_shape": _shape("z_test"),
        "x_train_shape": _shape("x_train"),
        "x_test_shape": _shape("x_test"),
        "consistency": _consistency("encoder", "x_test_noisy", "z_test"),
    },
    "knn": {
        "codes_q": lambda v, inp: apply(v("encoder"), inp["noisy_q"]),
        "codes_r": lambda v, inp: apply(v("encoder"), inp["noisy_r"]),
        "knn_accuracy_ae": _float("knn_accuracy_ae"),
        "knn_accuracy_pca": _float("knn_accuracy_pca"),
    },
    "view": {
        "z_test_2d": lambda v, inp: np.asarray(v("z_test_2d"), dtype=np.float64),
        "z_test_shape": _shape("z_test"),
    },
}


# Every part first records which of its contract names the notebook defines: a part whose
# answer left a name undefined scores 0 (its other checks could otherwise pass on earlier work).
def _defined(names):
    return lambda v, inp: [n in v for n in names]


for _part in C.PARTS:
    if _part.id in EXPORTS:
        EXPORTS[_part.id] = {"defined": _defined(_part.names), **EXPORTS[_part.id]}


def sizes(smoke: bool) -> tuple[int, int]:
    """(held-out queries, k-NN reference images).

    The student's own k-NN uses every training code (60,000 in full mode); with 10,000
    references the grader measured 0.930 where the reference solution's notebook said 0.944,
    so the full-mode reference set is 20,000 images, to stay close to the notebook's number.
    """
    return (300, 2000) if smoke else (2000, 20000)


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
    clean_q = x_test[iq].astype(np.float32)
    noisy_q = metrics.clipped_noise(clean_q, C.NOISE_FACTOR, rng)
    noisy_r = metrics.clipped_noise(x_train[ir].astype(np.float32), C.NOISE_FACTOR, rng)
    grey = np.full((20, 28, 28, 1), 0.5, np.float32)
    clean_a = np.concatenate([x_test[ia].astype(np.float32), grey])
    pca = metrics.PCA(C.LATENT_DIM).fit(noisy_r)
    codes_q = pca.transform(noisy_q)
    pca_mse_q = metrics.mse_per_pixel(clean_q, pca.inverse_transform(codes_q))
    # Expected noise statistics of add_noise on clean_a (the grader's own simulation).
    sim = np.stack([metrics.clipped_noise(clean_a, C.NOISE_FACTOR, rng) - clean_a for _ in range(4)])
    return {
        "noisy_q": noisy_q, "clean_q": clean_q, "labels_q": y_test[iq].astype(np.int64),
        "noisy_r": noisy_r, "labels_r": y_train[ir].astype(np.int64),
        "clean_a": clean_a,
        "seeds": rng.integers(1, 2**31 - 1, size=2).astype(np.int64),
        "factor": np.array([C.NOISE_FACTOR], np.float64),
        "noise_std": np.array([sim.std()]), "noise_mean": np.array([sim.mean()]),
        "pca_mse_q": np.array([pca_mse_q]), "pca_codes_q": codes_q.astype(np.float32),
        "smoke": np.array([int(bool(smoke))]),
    }


def sandbox_inputs(hidden):
    return {k: hidden[k] for k in ("noisy_q", "noisy_r", "clean_a", "seeds", "factor")}


# -- scoring -------------------------------------------------------------------------------------

def _missing(name, errors):
    err = errors.get(name)
    return f"an error: {err}" if err else "nothing (the name is not defined)"


def _tuple(arr):
    return None if arr is None else tuple(int(v) for v in np.ravel(arr))


def _shape_check(label, found, name, expected, errors, hidden=False):
    arr = found.get(name)
    if arr is None:
        return Check(label, False, f"shape {tuple(expected)}", _missing(name, errors), hidden)
    got = tuple(int(v) for v in np.ravel(arr))
    return Check(label, got == tuple(expected), f"shape {tuple(expected)}", f"shape {got}", hidden)


def _image_outputs(found, errors, name, hidden_data):
    """Checks shared by every part that looks at the autoencoder's held-out output."""
    n = len(hidden_data["noisy_q"])
    arr = found.get(name)
    if arr is None:
        return None, [Check("autoencoder output for held-out noisy images", False,
                            f"shape ({n}, 28, 28, 1)", _missing(name, errors))]
    ok = arr.size == n * 784 and arr.shape[0] == n
    return (arr.reshape(n, 784) if ok else None), [Check(
        "autoencoder output for held-out noisy images", ok, f"shape ({n}, 28, 28, 1)", describe(arr))]


def score(grade_id, found, errors, hidden):
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
    return _score(grade_id, found, errors, hidden)


def _score(grade_id, found, errors, hidden):
    if grade_id not in _SCORERS:
        raise KeyError(f"no scoring for part {grade_id!r}")
    t = C.thresholds(smoke=bool(hidden["smoke"][0]))
    return _SCORERS[grade_id](found, errors, hidden, t, len(hidden["noisy_q"]))


def _score_noise(found, errors, hidden, t, n):
    checks: list[Check] = []
    clean = hidden["clean_a"]
    a = found.get("noisy_a")
    if a is None:
        return [Check("add_noise on held-out images", False, "an array like its input",
                      _missing("noisy_a", errors))]
    shape_ok = a.shape == clean.shape and a.dtype == np.float32
    checks.append(Check("shape and dtype", shape_ok, f"shape {clean.shape}, float32",
                        f"shape {a.shape}, {a.dtype}"))
    if a.shape != clean.shape:
        return checks + [Check("clipped to [0, 1]", False, "values in [0, 1]", describe(a)),
                         Check("noise level", False, "", "", hidden=True)]
    lo, hi = float(a.min()), float(a.max())
    checks.append(Check("clipped to [0, 1]", lo >= 0 and hi <= 1, "values in [0, 1]",
                        f"values in [{lo:.3g}, {hi:.3g}]"))
    diff = a.astype(np.float64) - clean
    exp_std = float(hidden["noise_std"][0])
    checks.append(Check("noise level (std of noisy - clean)", abs(diff.std() - exp_std) < 0.1 * exp_std,
                        f"about {exp_std:.3f} (noise factor {C.NOISE_FACTOR}, clipped)",
                        f"{diff.std():.3f}"))
    again = found.get("noisy_a_again")
    checks.append(Check("same seed, same noise", again is not None and again.shape == a.shape
                        and bool(np.array_equal(again, a)), "identical arrays for the same seed",
                        "identical" if again is not None and again.shape == a.shape
                        and np.array_equal(again, a) else "different arrays"))
    other = found.get("noisy_a_other")
    checks.append(Check("other seed, other noise", other is not None and other.shape == a.shape
                        and not np.array_equal(other, a), "", "", hidden=True))
    after = found.get("clean_a_after")
    checks.append(Check("input unchanged", after is not None and bool(np.array_equal(after, clean)), "", "",
                        hidden=True))
    xt = found.get("x_test_shape")
    checks.append(Check("x_test and x_test_noisy shapes", xt is not None and len(np.ravel(xt)) == 4
                        and tuple(np.ravel(xt))[1:] == (28, 28, 1)
                        and np.array_equal(found.get("x_test_noisy_shape", np.zeros(0)), xt)
                        and found.get("x_train_shape") is not None
                        and np.array_equal(found.get("x_train_noisy_shape", np.zeros(0)),
                                           found.get("x_train_shape")),
                        "(N, 28, 28, 1) for x_train, x_test and their noisy versions",
                        f"x_test {_tuple(xt) if xt is not None else _missing('x_test_shape', errors)}, "
                        f"x_test_noisy {_tuple(found.get('x_test_noisy_shape'))}, "
                        f"x_train {_tuple(found.get('x_train_shape'))}, "
                        f"x_train_noisy {_tuple(found.get('x_train_noisy_shape'))}"))
    return checks


def _score_model(found, errors, hidden, t, n):
    checks: list[Check] = []
    z = found.get("codes_q")
    if z is None:
        checks.append(Check("encoder codes of held-out images", False, f"shape ({n}, {C.LATENT_DIM})",
                            _missing("codes_q", errors)))
    else:
        checks.append(Check("encoder codes of held-out images", z.shape == (n, C.LATENT_DIM),
                            f"shape ({n}, {C.LATENT_DIM})", f"shape {z.shape}"))
    nconv = found.get("n_conv")
    checks.append(Check("the encoder has a convolution layer", nconv is not None and int(nconv) >= 1,
                        "at least one Conv layer", "none" if nconv is None else f"{int(nconv)} conv layers"))
    out, c = _image_outputs(found, errors, "denoised_q", hidden)
    checks += c
    if out is None:
        return checks + [Check("output in [0, 1]", False, "", ""), Check("not collapsed", False, "", "")]
    lo, hi = float(out.min()), float(out.max())
    checks.append(Check("output in [0, 1]", lo >= -1e-6 and hi <= 1 + 1e-6, "values in [0, 1]",
                        f"values in [{lo:.3g}, {hi:.3g}]"))
    std = float(out.std())
    checks.append(Check("not collapsed", std >= t["min_output_std"],
                        f"output std >= {t['min_output_std']} (a constant or all-zero output fails)",
                        f"std {std:.4f}"))
    return checks


def _score_denoise(found, errors, hidden, t, n):
    checks: list[Check] = []
    out, c = _image_outputs(found, errors, "denoised_q", hidden)
    checks += c
    mse = metrics.mse_per_pixel(hidden["clean_q"], out) if out is not None else None
    checks.append(Check("held-out MSE vs clean images", mse is not None and mse <= t["max_denoise_mse"],
                        f"<= {t['max_denoise_mse']}", "no output" if mse is None else f"{mse:.4f}", weight=2))
    std = float(out.std()) if out is not None else 0.0
    checks.append(Check("not collapsed", out is not None and std >= t["min_output_std"],
                        f"output std >= {t['min_output_std']}", f"std {std:.4f}"))
    checks.append(_shape_check("x_test_denoised shape", found, "x_test_denoised_shape",
                               tuple(int(v) for v in np.ravel(found.get("x_test_shape", [])))
                               or (0,), errors))
    cons = found.get("consistency")
    checks.append(Check("x_test_denoised is the autoencoder's output", cons is not None and float(cons) < 1e-3,
                        "", "", hidden=True))
    return checks


def _score_pca(found, errors, hidden, t, n):
    checks: list[Check] = []
    checks.append(_shape_check("pca_test_denoised shape", found, "pca_test_denoised_shape",
                               tuple(int(v) for v in np.ravel(found.get("x_test_shape", []))) or (0,), errors))
    out, c = _image_outputs(found, errors, "denoised_q", hidden)
    pca_mse = float(hidden["pca_mse_q"][0])
    mse = metrics.mse_per_pixel(hidden["clean_q"], out) if out is not None else None
    limit = t["max_ae_to_pca_mse"] * pca_mse
    checks.append(Check("autoencoder beats PCA on held-out images", mse is not None and mse <= limit,
                        f"AE MSE <= {t['max_ae_to_pca_mse']} x PCA-{C.LATENT_DIM} MSE ({limit:.4f})",
                        "no output" if mse is None else f"{mse:.4f}", weight=2))
    pm = found.get("pca_mse")
    checks.append(Check("pca_mse is a PCA-16 baseline", pm is not None and 0.6 * pca_mse <= float(pm) <= 1.6 *
                        pca_mse, "", "", hidden=True))
    return checks


def _score_codes(found, errors, hidden, t, n):
    checks: list[Check] = []
    xtr, xte = found.get("x_train_shape"), found.get("x_test_shape")
    ntr = int(np.ravel(xtr)[0]) if xtr is not None and np.size(xtr) else -1
    nte = int(np.ravel(xte)[0]) if xte is not None and np.size(xte) else -1
    checks.append(_shape_check("z_train shape", found, "z_train_shape", (ntr, C.LATENT_DIM), errors))
    checks.append(_shape_check("z_test shape", found, "z_test_shape", (nte, C.LATENT_DIM), errors))
    z = found.get("codes_q")
    ok = z is not None and z.shape == (n, C.LATENT_DIM) and bool(np.all(np.isfinite(z)))
    checks.append(Check("codes of held-out images", ok, f"finite, shape ({n}, {C.LATENT_DIM})",
                        describe(z) if z is not None else _missing("codes_q", errors)))
    r2 = metrics.r2_affine(z, hidden["pca_codes_q"]) if ok else None
    checks.append(Check("codes are not PCA in disguise", r2 is not None and r2 <= t["max_pca_codes_r2"],
                        f"R² of an affine fit from PCA codes <= {t['max_pca_codes_r2']}",
                        "no codes" if r2 is None else f"R² {r2:.4f}"))
    cons = found.get("consistency")
    checks.append(Check("z_test is the encoder's output", cons is not None and float(cons) < 1e-3, "", "",
                        hidden=True))
    return checks


def _score_knn(found, errors, hidden, t, n):
    checks: list[Check] = []
    zq, zr = found.get("codes_q"), found.get("codes_r")
    n_r = len(hidden["noisy_r"])
    acc = None
    if zq is not None and zr is not None and zq.shape[:1] == (n,) and zr.shape[:1] == (n_r,) \
            and zq.size == n * zr.size // n_r and np.all(np.isfinite(zq)) and np.all(np.isfinite(zr)):
        acc = metrics.knn_accuracy(zr, hidden["labels_r"], zq, hidden["labels_q"], C.KNN_K)
    checks.append(Check(f"k-NN (k={C.KNN_K}) accuracy on the codes of held-out images",
                        acc is not None and acc >= t["min_knn_accuracy"], f">= {t['min_knn_accuracy']}",
                        "no usable codes" if acc is None else f"{acc:.3f}", weight=2))
    for name in ("knn_accuracy_ae", "knn_accuracy_pca"):
        v = found.get(name)
        ok = v is not None and np.size(v) == 1 and 0.0 <= float(v) <= 1.0
        checks.append(Check(f"{name} is an accuracy", ok, "a number in [0, 1]",
                            f"{float(v):.4g}" if v is not None and np.size(v) == 1 else _missing(name, errors)))
    v = found.get("knn_accuracy_ae")
    checks.append(Check("knn_accuracy_ae agrees with the grader's", v is not None and acc is not None
                        and np.size(v) == 1 and abs(float(v) - acc) <= 0.1, "", "", hidden=True))
    return checks


def _score_view(found, errors, hidden, t, n):
    checks: list[Check] = []
    zs = found.get("z_test_shape")
    nte = int(np.ravel(zs)[0]) if zs is not None and np.size(zs) else -1
    v = found.get("z_test_2d")
    ok = v is not None and v.shape == (nte, 2)
    checks.append(Check("z_test_2d shape", ok, f"shape ({nte}, 2)",
                        f"shape {v.shape}" if v is not None else _missing("z_test_2d", errors)))
    checks.append(Check("finite and not constant", ok and bool(np.all(np.isfinite(v))) and float(v.std()) > 0,
                        "", "", hidden=True))
    return checks


_SCORERS = {"noise": _score_noise, "model": _score_model, "denoise": _score_denoise, "pca": _score_pca, "codes": _score_codes, "knn": _score_knn, "view": _score_view}


def bundle_files() -> dict:
    """Files a Gradescope bundle needs: MNIST for the notebook (from the data folder)."""
    from aecourse import data

    return {f"data/{name}": path for name, path in data.mnist_files().items()}
