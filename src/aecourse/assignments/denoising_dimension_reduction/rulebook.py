"""The rulebook of the denoising assignment: one numpy-only function per graded part.

Each function takes the arrays a part is judged on — the evidence (:mod:`.evidence`, merged
by :func:`aecourse.assignments.merge_evidence`) and the references it is compared with —
and returns the part's :class:`~aecourse.assignments.Check` list. The notebook's checks
(:mod:`.checks`) and the grader (:mod:`.grading`) call the same functions; a part earns its
points when all its checks pass (:func:`aecourse.assignments.passed`). Thresholds and points
live in the contract (``__init__``); the messages publish a target stricter than each
threshold ("aim for ≤ X; passes at ≤ Y"), from the same constants.

References (``ref``): ``clean_a`` (the images fed to ``add_noise``), ``factor``, ``factor2``;
``clean_q``/``noisy_q`` (probe images, clean and noisy), ``labels_q``, ``labels_r`` and
``labels_k`` (labels of the k-NN reference and query images), ``pca_mse_q`` (a reference PCA's MSE on the probes) and
``pca_codes_q`` (its codes of the probes).
"""

from __future__ import annotations

import numpy as np

from aecourse import metrics

from .. import Check, describe
from . import KNN_K, LATENT_DIM, NOISE_FACTOR, NOISE_SEED, target

IMAGE = (28, 28, 1)
NOISE_TOLERANCE = 0.1        # the noise level may differ from the expected one by this fraction
CONSISTENCY_TOLERANCE = 1e-3  # an answer and the model's own output may differ by this much
LINEAR_GAP = 1e-4            # relative gap below which the encoder counts as affine
IDENTITY_FRACTION = 0.1      # an output this close to the input (fraction of the noise MSE) copies it
KNN_RECOMPUTE_TOLERANCE = (0.01, 0.02)   # the notebook's k-NN accuracies, AE and PCA, may differ by this
PCA_TOLERANCE = 0.07         # the notebook's PCA MSE may differ from a reference PCA's by this fraction


# --------------------------------------------------------------------------- helpers
def _get(e: dict, name: str):
    value = e.get(name)
    return None if value is None else np.asarray(value)


def _why(e: dict, name: str) -> str:
    err = e.get("errors", {}).get(name)
    return f"an error: {err}" if err else "nothing (not computed)"


def _shape(e: dict, name: str):
    arr = _get(e, name)
    return None if arr is None else tuple(int(v) for v in np.ravel(arr))


def _num(e: dict, name: str):
    arr = _get(e, name)
    if arr is None or arr.size != 1:
        return None
    return float(arr.reshape(()))


def limit(key: str, t: dict) -> str:
    """"passes at ≤ Y (aim for ≤ X)" for a threshold ``key`` of ``t``."""
    sign = "≤" if key.startswith("max_") else "≥"
    return f"passes at {sign} {t[key]:g}; aim for {sign} {target(key, t):.3g}"


def expected_noise_mse(clean: np.ndarray, factor: float) -> float:
    """MSE between clipped noisy images and ``clean``, from the rulebook's own noise."""
    clean = np.asarray(clean, np.float64)
    return metrics.mse_per_pixel(metrics.clipped_noise(clean, factor, 20261127), clean)


def _noise_level(name: str, noisy, clean, factor: float, hidden: bool = False) -> Check:
    if noisy is None or clean is None or noisy.shape != clean.shape:
        return Check(name, False, "noisy images of the clean images' shape", describe(noisy), hidden,
                     hint="the noisy and clean arrays must have the same shape.")
    got, want = metrics.mse_per_pixel(noisy, clean), expected_noise_mse(clean, factor)
    return Check(name, abs(got - want) <= NOISE_TOLERANCE * want,
                 f"MSE between noisy and clean images ≈ {want:.4f} (Gaussian noise, std {factor}, clipped to [0, 1])",
                 f"MSE {got:.4f}", hidden,
                 hint="use noise_factor times *standard normal* noise (not uniform, not std 1), and the "
                      "noise factor you are given.")


def _outputs(e: dict, ref: dict):
    """The autoencoder's output for the probes as (n, 784), or None, and the shape check."""
    n = len(ref["noisy_q"])
    out = _get(e, "denoised_q")
    ok = out is not None and out.shape == (n, *IMAGE)
    check = Check("the autoencoder maps (N, 28, 28, 1) images to (N, 28, 28, 1) images", ok,
                  f"shape ({n}, 28, 28, 1)", describe(out) if out is not None else _why(e, "denoised_q"),
                  hint="the decoder must end with 28x28x1 images, e.g. Conv2D(1, 3, padding='same', "
                       "activation='sigmoid').")
    return (out.reshape(n, -1).astype(np.float64) if ok else None), check


def _not_collapsed(out, clean, t: dict) -> Check:
    """The output varies between images like digits do (a constant or untrained output fails)."""
    spread = metrics.spread(out) if out is not None else 0.0
    found = f"spread {spread:.4f}"
    hint = "train the autoencoder on (noisy, clean) pairs with loss='binary_crossentropy'."
    if out is not None and spread < t["min_output_std"]:
        mean = float(np.mean(out))
        if 0.35 < mean < 0.65:
            found += (f"; every pixel is close to {mean:.2f}: this is what an untrained network with a sigmoid "
                      "output gives")
            hint = "train the autoencoder (autoencoder.fit(x_train_noisy, x_train, ...)) before using it."
        else:
            zeros = metrics.mse_per_pixel(np.zeros_like(clean), clean)
            found += (f"; the images barely differ from each other (mean pixel {mean:.3f}); an all-zero output "
                      f"scores a plausible-looking MSE of {zeros:.3f}")
            hint = ("the model has collapsed to a constant output; train with loss='binary_crossentropy' "
                    "rather than MSE.")
    return Check("the output is not collapsed or untrained", out is not None and spread >= t["min_output_std"],
                 f"outputs that vary between images: spread (pixel std over images) {limit('min_output_std', t)} "
                 f"(clean images: {metrics.spread(clean):.3f})", found, hint=hint)


def _nonlinear(e: dict) -> Check:
    """The encoder is not an affine map: encoder((a + b) / 2) differs from the mean of encoder(a), encoder(b)."""
    z, zm = _get(e, "codes_q"), _get(e, "codes_mid")
    linear = None
    if z is not None and zm is not None and z.ndim == 2 and len(z) >= 32 and zm.shape == z[:16].shape:
        za, zb = z[:16].astype(np.float64), z[16:32].astype(np.float64)
        scale = float(np.abs(za).mean() + np.abs(zb).mean()) + 1e-12
        linear = float(np.abs(zm - (za + zb) / 2).mean()) / scale < LINEAR_GAP
    return Check("the encoder is non-linear", linear is False,
                 "a non-linear encoder (convolutions with ReLU activations)",
                 "encoder((a + b) / 2) == (encoder(a) + encoder(b)) / 2: a linear (affine) map, PCA dressed up"
                 if linear else ("non-linear" if linear is False else _why(e, "codes_mid")),
                 hint="a linear encoder is PCA in disguise; give the hidden layers activation='relu'.")


def _probe_mse(out, clean) -> float | None:
    return None if out is None else metrics.mse_per_pixel(clean.reshape(len(clean), -1), out)


# --------------------------------------------------------------------------- parts
def noise(e: dict, ref: dict, t: dict) -> list[Check]:
    """Task 'noise': the data's shapes and range, and add_noise's output on ``ref['clean_a']``."""
    checks: list[Check] = []
    xs = {n: _shape(e, f"{n}_shape") for n in ("x_train", "x_test", "x_train_noisy", "x_test_noisy",
                                                 "y_train", "y_test")}
    images_ok = all(s is not None and len(s) == 4 and s[1:] == IMAGE for s in (xs["x_train"], xs["x_test"]))
    checks.append(Check("x_train and x_test are images of shape (N, 28, 28, 1)", images_ok, "(N, 28, 28, 1)",
                        f"x_train {xs['x_train']}, x_test {xs['x_test']}",
                        hint="load with data.load_mnist(dtype='float32', layout='channels'), or reshape with "
                             "x.reshape(-1, 28, 28, 1)."))
    clean_tr, clean_te = _get(e, "train_clean"), _get(e, "test_clean")
    lo = min(float(a.min()) for a in (clean_tr, clean_te)) if clean_tr is not None and clean_te is not None \
        and clean_tr.size and clean_te.size else np.nan
    hi = max(float(a.max()) for a in (clean_tr, clean_te)) if lo == lo else np.nan
    checks.append(Check("x_train and x_test hold pixels in [0, 1] (not raw pixel values)",
                        bool(lo >= -1e-6 and hi <= 1 + 1e-6), "float32 pixels in [0, 1]",
                        f"values in [{lo:g}, {hi:g}]", hint="divide by 255 (or load with dtype='float32')."))
    labels_ok = images_ok and xs["y_train"] == xs["x_train"][:1] and xs["y_test"] == xs["x_test"][:1]
    checks.append(Check("the labels match the images", labels_ok, "y_train (N_train,), y_test (N_test,)",
                        f"y_train {xs['y_train']}, y_test {xs['y_test']}"))
    checks.append(Check("x_train_noisy and x_test_noisy have their clean images' shapes",
                        images_ok and xs["x_train_noisy"] == xs["x_train"] and xs["x_test_noisy"] == xs["x_test"],
                        f"x_train_noisy {xs['x_train']}, x_test_noisy {xs['x_test']}",
                        f"x_train_noisy {xs['x_train_noisy']}, x_test_noisy {xs['x_test_noisy']}",
                        hint="x_train_noisy = add_noise(x_train, NOISE_FACTOR, NOISE_SEED)."))
    clean, factor = np.asarray(ref["clean_a"]), float(ref["factor"])
    a = _get(e, "noisy")
    if a is None:
        return checks + [Check("add_noise(x, noise_factor, seed) returns the noisy images", False,
                               "an array like its input", _why(e, "noisy"),
                               hint="the function must work for any images, noise factor and seed.")]
    checks.append(Check("add_noise returns a float32 array of its input's shape",
                        a.shape == clean.shape and a.dtype == np.float32, f"shape {clean.shape}, float32",
                        f"shape {a.shape}, {a.dtype}", hint="draw noise with size=x.shape; end with .astype('float32')."))
    same_shape = a.shape == clean.shape
    checks.append(Check("add_noise adds noise", same_shape and float(np.abs(a - clean).max()) > 1e-6,
                        f"Gaussian noise with standard deviation noise_factor={factor} added",
                        "no noise was added: the output equals the clean images" if same_shape else describe(a),
                        hint="add noise_factor * rng.standard_normal(x.shape) to the images."))
    lo, hi = float(a.min()), float(a.max())
    checks.append(Check("add_noise clips to [0, 1]", lo >= -1e-6 and hi <= 1 + 1e-6, "pixel values in [0, 1]",
                        f"values in [{lo:.3f}, {hi:.3f}]: the noise was not clipped",
                        hint="clip the noisy images with np.clip(noisy, 0.0, 1.0)."))
    checks.append(_noise_level("add_noise adds the expected amount of noise", a, clean, factor))
    again, other = _get(e, "noisy_again"), _get(e, "noisy_other")
    same = again is not None and again.shape == a.shape and bool(np.array_equal(again, a))
    checks.append(Check("add_noise is reproducible: the same seed gives the same noise", same,
                        "the same output for the same seed", "identical" if same else "not reproducible: two different outputs",
                        hint="make a generator from the seed inside the function: rng = np.random.default_rng(seed)."))
    differs = other is not None and other.shape == a.shape and not np.array_equal(other, a)
    checks.append(Check("add_noise uses its seed: another seed gives other noise", differs,
                        "different noise for different seeds", "different" if differs else "identical outputs",
                        hint="seed the random generator with the `seed` argument."))
    after = _get(e, "clean_after")
    unchanged = after is not None and after.shape == clean.shape and bool(np.array_equal(after, clean))
    checks.append(Check("add_noise leaves its input unchanged", unchanged, "x unchanged; a new array returned",
                        "x unchanged" if unchanged else "x was modified in place",
                        hint="compute x + noise into a new array instead of using x += ..."))
    for name in ("train", "test"):
        checks.append(_noise_level(f"x_{name}_noisy has the expected amount of noise",
                                   _get(e, f"{name}_noisy"), _get(e, f"{name}_clean"), NOISE_FACTOR))
    gap = _num(e, "test_noisy_gap")
    checks.append(Check("x_test_noisy is add_noise(x_test, NOISE_FACTOR, NOISE_SEED + 1)",
                        gap is not None and gap <= 1e-6, f"x_test_noisy = add_noise(x_test, {NOISE_FACTOR}, "
                        f"{NOISE_SEED + 1})", (f"a largest difference of {gap:.3g}" if gap is not None else _why(e, "test_noisy_gap")),
                        hint="use the constants given at the top of the notebook (another seed for the test images)."))
    checks.append(_noise_level("add_noise works for another noise factor", _get(e, "noisy_factor2"), clean,
                               float(ref["factor2"]), hidden=True))
    return checks


def model(e: dict, ref: dict, t: dict) -> list[Check]:
    """Task 'model': the encoder's codes and the autoencoder's outputs for the probes, and the architecture."""
    n = len(ref["noisy_q"])
    checks: list[Check] = []
    z = _get(e, "codes_q")
    checks.append(Check(f"the encoder maps (N, 28, 28, 1) images to (N, {LATENT_DIM}) codes",
                        z is not None and z.shape == (n, LATENT_DIM), f"codes of shape ({n}, {LATENT_DIM})",
                        f"codes of shape {z.shape}" if z is not None else _why(e, "codes_q"),
                        hint=f"the encoder's last layer sets the code size: end it with Dense(LATENT_DIM) "
                             f"(LATENT_DIM = {LATENT_DIM}) after a Flatten."))
    out, shape_check = _outputs(e, ref)
    checks.append(shape_check)
    nc_e, nc_a = _num(e, "n_conv_encoder"), _num(e, "n_conv_autoencoder")
    checks.append(Check("the encoder and the autoencoder have convolution layers",
                        bool(nc_e and nc_a and nc_e >= 1 and nc_a >= 1),
                        "a convolutional autoencoder (Conv2D in the encoder, Conv2D or Conv2DTranspose in the decoder)",
                        f"{nc_e if nc_e is not None else '?'} convolution layers in the encoder, "
                        f"{nc_a if nc_a is not None else '?'} in the autoencoder: no convolution layer",
                        hint="a dense or PCA-like model does not count: use Conv2D layers."))
    checks.append(_nonlinear(e))
    lo, hi = (float(out.min()), float(out.max())) if out is not None else (np.nan, np.nan)
    checks.append(Check("the autoencoder's output is in [0, 1]", bool(lo >= -1e-6 and hi <= 1 + 1e-6),
                        "every value in [0, 1]", f"values in [{lo:.3f}, {hi:.3f}]",
                        hint="end the decoder with a sigmoid activation so pixels stay in [0, 1]."))
    shared = _num(e, "shared")
    checks.append(Check("the encoder is part of the autoencoder", shared is not None and shared >= 1.0,
                        "the autoencoder built as decoder(encoder(inputs)), sharing the encoder's layers",
                        "the encoder has weights the autoencoder does not use" if shared is not None
                        else _why(e, "shared"), hint="autoencoder = keras.Model(inputs, decoder(encoder(inputs)))."))
    checks.append(_not_collapsed(out, ref["clean_q"], t))
    return checks


def denoise(e: dict, ref: dict, t: dict) -> list[Check]:
    """Task 'denoise': the autoencoder's MSE on the probes, and x_test_denoised / ae_mse."""
    clean, noisy = np.asarray(ref["clean_q"], np.float64), np.asarray(ref["noisy_q"], np.float64)
    checks: list[Check] = []
    xs, xd = _shape(e, "x_test_shape"), _shape(e, "x_test_denoised_shape")
    checks.append(Check("x_test_denoised has x_test's shape", xs is not None and xd == xs, f"{xs}",
                        f"{xd}" if xd is not None else _why(e, "x_test_denoised_shape"),
                        hint="x_test_denoised = autoencoder.predict(x_test_noisy)."))
    gap = _num(e, "answer_gap")
    checks.append(Check("x_test_denoised is the autoencoder's output for x_test_noisy",
                        gap is not None and gap <= CONSISTENCY_TOLERANCE,
                        "x_test_denoised = autoencoder.predict(x_test_noisy)",
                        f"a largest difference of {gap:.3f} on the first images" if gap is not None
                        else _why(e, "answer_gap"), hint="run the answer cell after training, on the noisy test images."))
    got, want = _num(e, "ae_mse"), _num(e, "answer_mse")
    checks.append(Check("ae_mse is the MSE of x_test_denoised against x_test",
                        got is not None and want is not None and bool(np.isclose(got, want, rtol=1e-3, atol=1e-6)),
                        f"{want:.5f}" if want is not None else "a number", f"{got:.5f}" if got is not None
                        else _why(e, "ae_mse"), hint="ae_mse = np.mean((x_test_denoised - x_test) ** 2)."))
    out, shape_check = _outputs(e, ref)
    checks.append(shape_check)
    checks.append(_not_collapsed(out, clean, t))
    noise_mse = metrics.mse_per_pixel(noisy, clean)
    to_input = metrics.mse_per_pixel(noisy.reshape(len(noisy), -1), out) if out is not None else None
    checks.append(Check("the autoencoder removes noise (it does not copy its input)",
                        to_input is not None and to_input >= IDENTITY_FRACTION * noise_mse,
                        "output closer to the clean images than the noisy input is",
                        f"MSE to the noisy input {to_input:.4f} (noisy vs clean: {noise_mse:.4f}): an identity "
                        "'denoiser'" if to_input is not None else "no output",
                        hint="train on (noisy input, clean target) pairs: autoencoder.fit(x_train_noisy, x_train)."))
    mse = _probe_mse(out, clean)
    checks.append(Check("the denoised images are close to the clean ones",
                        mse is not None and mse <= t["max_denoise_mse"],
                        f"MSE per pixel against the clean images on {len(clean)} freshly noised images: "
                        f"{limit('max_denoise_mse', t)}",
                        f"MSE {mse:.4f} (the noisy images: {noise_mse:.4f})" if mse is not None else "no output",
                        weight=2, hint="train longer, or give the model more filters; train with binary cross-entropy."))
    return checks


def pca(e: dict, ref: dict, t: dict) -> list[Check]:
    """Task 'pca': the notebook's PCA baseline, and the autoencoder against a reference PCA on the probes."""
    checks: list[Check] = []
    xs, xp = _shape(e, "x_test_shape"), _shape(e, "pca_test_denoised_shape")
    checks.append(Check("pca_test_denoised has x_test's shape", xs is not None and xp == xs, f"{xs}",
                        f"{xp}" if xp is not None else _why(e, "pca_test_denoised_shape"),
                        hint="reshape PCA's (N, 784) reconstruction back with .reshape(x_test.shape)."))
    got, want = _num(e, "pca_mse"), _num(e, "answer_mse")
    checks.append(Check("pca_mse is the MSE of pca_test_denoised against x_test",
                        got is not None and want is not None and bool(np.isclose(got, want, rtol=1e-3, atol=1e-6)),
                        f"{want:.5f}" if want is not None else "a number",
                        f"{got:.5f}" if got is not None else _why(e, "pca_mse"),
                        hint="pca_mse = np.mean((pca_test_denoised - x_test) ** 2)."))
    refm = _num(e, "reference_mse")
    checks.append(Check(f"pca_test_denoised is PCA with {LATENT_DIM} components fitted on x_train_noisy",
                        want is not None and refm is not None and abs(want - refm) <= PCA_TOLERANCE * refm,
                        f"test MSE ≈ {refm:.4f}" if refm is not None else "a PCA reconstruction",
                        f"test MSE {want:.4f}" if want is not None else _why(e, "answer_mse"),
                        hint="PCA(n_components=LATENT_DIM).fit(flat noisy train images); then "
                             "inverse_transform(transform(flat noisy test images))."))
    out, _ = _outputs(e, ref)
    ae = _probe_mse(out, np.asarray(ref["clean_q"], np.float64))
    pca_mse = float(ref["pca_mse_q"])
    ratio = ae / pca_mse if ae is not None and pca_mse > 0 else None
    checks.append(Check("the autoencoder beats PCA at denoising", ratio is not None and ratio <= t["max_ae_to_pca_mse"],
                        f"autoencoder MSE / PCA-{LATENT_DIM} MSE on {len(ref['clean_q'])} freshly noised images: "
                        f"{limit('max_ae_to_pca_mse', t)}",
                        f"autoencoder {ae:.4f}, PCA {pca_mse:.4f} (ratio {ratio:.2f})" if ratio is not None
                        else "no autoencoder output", weight=2,
                        hint="a convolutional model trained on noisy → clean pairs should do clearly better than "
                             "PCA; check the 'model' and 'denoise' tasks."))
    return checks


def codes(e: dict, ref: dict, t: dict) -> list[Check]:
    """Task 'codes': z_train / z_test, and the encoder's codes of the probes against PCA's."""
    checks: list[Check] = []
    for name, x in (("z_train", "x_train"), ("z_test", "x_test")):
        zs, xs = _shape(e, f"{name}_shape"), _shape(e, f"{x}_shape")
        want = (xs[0], LATENT_DIM) if xs else None
        hint = ("the encoder's last layer sets the code size." if zs and len(zs) == 2 and xs and zs[0] == xs[0]
                else f"{name} = encoder.predict({x}_noisy).")
        checks.append(Check(f"{name} has shape (N, {LATENT_DIM})", want is not None and zs == want, f"{want}",
                            f"the codes have shape {zs}; expected {want}" if zs is not None
                            else _why(e, f"{name}_shape"), hint=hint))
    stats = _get(e, "z_stats")
    ok = stats is not None and stats.size == 2 and stats[0] == 0 and stats[1] >= 1e-6
    checks.append(Check("the codes are finite and differ between images", ok, "finite codes that vary",
                        _why(e, "z_stats") if stats is None or stats.size != 2 else
                        f"{int(stats[0])} non-finite values, largest spread {stats[1]:.3g}",
                        hint="a collapsed or diverged encoder; train with binary cross-entropy and check 'model'."))
    gap, gap_clean = _num(e, "answer_gap"), _num(e, "answer_gap_clean")
    found = ("z_test holds the codes of the clean images" if gap_clean is not None and gap_clean <= CONSISTENCY_TOLERANCE
             else "z_test differs from the encoder's codes of the noisy images" if gap is not None
             else _why(e, "answer_gap"))
    checks.append(Check("z_test is the encoder's output for the noisy images", gap is not None and gap <= CONSISTENCY_TOLERANCE,
                        "z_test = encoder.predict(x_test_noisy)", found,
                        hint="the task is dimension reduction of the *noisy* images."))
    checks.append(_nonlinear(e))
    n = len(ref["noisy_q"])
    z = _get(e, "codes_q")
    usable = z is not None and z.shape == (n, LATENT_DIM) and bool(np.all(np.isfinite(z)))
    r2 = metrics.r2_affine(z, ref["pca_codes_q"]) if usable else None
    checks.append(Check("the codes are not PCA dressed up as an autoencoder",
                        r2 is not None and r2 <= t["max_pca_codes_r2"],
                        f"codes from a trained non-linear encoder (R² of the best affine fit from PCA codes "
                        f"≤ {t['max_pca_codes_r2']})", f"R² = {r2:.4f}" if r2 is not None else "no usable codes",
                        hint="use the convolutional encoder you trained, not PCA."))
    return checks


def knn(e: dict, ref: dict, t: dict) -> list[Check]:
    """Task 'knn': the notebook's accuracies, and k-NN on the encoder's codes of reference and probe images."""
    checks: list[Check] = []
    for name, key, tol in (("knn_accuracy_ae", "recomputed_ae", KNN_RECOMPUTE_TOLERANCE[0]),
                           ("knn_accuracy_pca", "recomputed_pca", KNN_RECOMPUTE_TOLERANCE[1])):
        got, want = _num(e, name), _num(e, key)
        checks.append(Check(f"{name} is an accuracy", got is not None and 0.0 <= got <= 1.0, "a fraction in [0, 1]",
                            f"{got:g}" if got is not None else _why(e, name),
                            hint="use knn.score(...), a fraction, not a percentage."))
        what = ("the k-NN accuracy on the autoencoder's codes" if name.endswith("ae")
                else f"the k-NN accuracy on PCA-{LATENT_DIM} codes of the noisy images")
        checks.append(Check(f"{name} is {what}", got is not None and want is not None and abs(got - want) <= tol,
                            f"≈ {want:.4f} (KNeighborsClassifier(n_neighbors={KNN_K}) fitted on the training codes, "
                            "scored on the test codes)" if want is not None else f"{what}",
                            f"{got:.4f}" if got is not None else _why(e, name),
                            hint="fit on the training codes, score on the test codes; for PCA use "
                                 "pca.transform(...) codes, not the reconstructions."))
    zq, zr = _get(e, "codes_k"), _get(e, "codes_r")
    labels_q, labels_r = np.asarray(ref["labels_k"]), np.asarray(ref["labels_r"])
    acc = None
    if zq is not None and zr is not None and zq.ndim == 2 and zr.ndim == 2 and zq.shape[1] == zr.shape[1] \
            and len(zq) == len(labels_q) and len(zr) == len(labels_r) \
            and np.all(np.isfinite(zq)) and np.all(np.isfinite(zr)):
        acc = metrics.knn_accuracy(zr, labels_r, zq, labels_q, KNN_K)
    checks.append(Check(f"k-NN (k={KNN_K}) on the encoder's codes recognises the digits",
                        acc is not None and acc >= t["min_knn_accuracy"],
                        f"accuracy on {len(labels_q)} freshly noised images: {limit('min_knn_accuracy', t)}",
                        f"{acc:.4f}" if acc is not None else "no usable codes", weight=2,
                        hint="a better-trained encoder gives codes in which digits of one kind lie close together."))
    return checks


def view(e: dict, ref: dict, t: dict) -> list[Check]:
    """Task 'view': z_test_2d, one finite 2-D point per test image, spread in both directions."""
    xs = _shape(e, "x_test_shape")
    v = _get(e, "z_test_2d")
    want = (xs[0], 2) if xs else None
    ok = v is not None and want is not None and v.shape == want
    checks = [Check("z_test_2d has one 2-D point per test image", ok, f"{want}",
                    f"{v.shape}" if v is not None else _why(e, "z_test_2d"),
                    hint="project z_test to two dimensions, e.g. PCA(2).fit_transform(z_test).")]
    spread = ok and bool(np.all(np.isfinite(v))) and float(v.std(axis=0).min()) >= 1e-9
    checks.append(Check("z_test_2d is spread in both directions", spread, "finite points spread in both directions",
                        f"{v.shape[0]} points, spread {float(v.std(axis=0).min()):.3g}" if spread
                        else "non-finite values or a direction with no spread",
                        hint="project the codes z_test, not a constant."))
    return checks


RULES = {"noise": noise, "model": model, "denoise": denoise, "pca": pca, "codes": codes, "knn": knn, "view": view}
MODEL_PARTS = ("model", "denoise", "pca", "codes", "knn")   # judged (partly) on the saved model's outputs


def judge(part: str, e: dict, ref: dict, t: dict) -> list[Check]:
    """The checks of ``part`` for evidence ``e`` against references ``ref`` under thresholds ``t``."""
    return RULES[part](e, ref, t)
