"""Checks for the denoising dimension-reduction assignment.

The check cells of the assignment notebook call these functions with the
notebook's namespace::

    from aecourse import checks
    checks.check_noise(globals())

Each check reads the names the contract in :mod:`aecourse.assignments.denoising`
requires, and either prints one line saying what passed or raises
:class:`CheckError` (an ``AssertionError``) saying what was expected, what was
found and a hint. Checks look for the degenerate answers that a plain threshold
misses: an output collapsed to a constant (all zeros scores a plausible-looking
MSE of about 0.11 at noise factor 0.5), an identity "denoiser", noise that was
not added or not clipped, PCA dressed up as the autoencoder, an untrained model.

They never depend on one architecture, seed or training length: a correct
solution that differs in those passes. Thresholds come from
:func:`aecourse.assignments.denoising.thresholds` (smaller data in smoke mode).

A failing check shows the student its message and one short frame, not the
checks' internals (see :func:`_student_facing`).

``check_*_heldout`` functions are the hidden checks: they run the student's
functions and models on inputs the notebook never saw (other images, another
noise seed, another noise factor).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping

import numpy as np

from aecourse import metrics

from .. import denoising_dimension_reduction as spec

IMAGE_SHAPE = (28, 28, 1)
_N_MODEL = 256          # images a check pushes through a model
_HELDOUT_SEED = 20261127


class CheckError(AssertionError):
    """A check failed: ``part``, ``what`` went wrong, ``expected``, ``found`` and a ``hint``."""

    def __init__(self, part: str, what: str, expected: str = "", found: str = "", hint: str = ""):
        self.part, self.what, self.expected, self.found, self.hint = part, what, expected, found, hint
        p = spec.part(part)
        lines = [f"Task '{p.id}' ({p.title}): {what}"]
        if expected:
            lines.append(f"  expected: {expected}")
        if found:
            lines.append(f"  found:    {found}")
        if hint:
            lines.append(f"  hint:     {hint}")
        super().__init__("\n".join(lines))


# --------------------------------------------------------------------------- helpers
def _student_facing(fn):
    """Re-raise a CheckError without the checks' internal frames, so the notebook shows the message."""

    @functools.wraps(fn)
    def check(ns: Mapping) -> None:
        try:
            return fn(ns)
        except CheckError as e:
            error = e.with_traceback(None)
        raise error  # the check failed: read the message below (expected / found / hint)

    return check


def _get(ns: Mapping, name: str, part: str):
    if name not in ns:
        answer = spec.part(part).answer_id
        raise CheckError(part, f"`{name}` is not defined.",
                         expected=f"the answer cell `{answer}` to define `{name}`",
                         found=f"no variable `{name}` in the notebook",
                         hint="complete the answer cell above and run it (and every cell before it).")
    return ns[name]


def _array(ns: Mapping, name: str, part: str) -> np.ndarray:
    value = _get(ns, name, part)
    try:
        arr = np.asarray(value)
    except Exception as e:  # e.g. a ragged list
        raise CheckError(part, f"`{name}` is not an array.", expected="a NumPy array",
                         found=f"{type(value).__name__} ({e})") from None
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        raise CheckError(part, f"`{name}` is not a numeric array.", expected="a NumPy array of numbers",
                         found=f"{type(value).__name__} with dtype {arr.dtype}")
    return arr


def _float(ns: Mapping, name: str, part: str) -> float:
    value = _get(ns, name, part)
    try:
        return float(np.asarray(value).reshape(()))
    except Exception:
        raise CheckError(part, f"`{name}` is not a number.", expected="one float",
                         found=f"{type(value).__name__} {np.shape(value)}") from None


_mse = metrics.mse_per_pixel
_spread = metrics.spread


def _safe_mse(a, b) -> float:
    try:
        a, b = np.asarray(a, dtype="float64"), np.asarray(b, dtype="float64")
        return _mse(a, b) if a.shape == b.shape else float("nan")
    except (TypeError, ValueError):
        return float("nan")


def _predict(model, x: np.ndarray, part: str, name: str) -> np.ndarray:
    """Run a Keras model (or any callable) on x; turn its failure into a CheckError."""
    try:
        if hasattr(model, "predict"):
            out = model.predict(x, verbose=0)
        elif callable(model):
            out = model(x)
        else:
            raise TypeError(f"{type(model).__name__} is neither a Keras model nor callable")
        out = np.asarray(out)
    except CheckError:
        raise
    except Exception as e:
        raise CheckError(part, f"calling `{name}` on {x.shape[0]} images of shape {x.shape[1:]} failed.",
                         expected=f"`{name}` to accept a batch of shape (N, 28, 28, 1)",
                         found=f"{type(e).__name__}: {str(e).strip().splitlines()[0][:300] if str(e).strip() else ''}",
                         hint="build the model with keras.Input(shape=(28, 28, 1)).") from None
    return out


def _reference_noise(x, noise_factor: float, seed: int) -> np.ndarray:
    return metrics.clipped_noise(x, noise_factor, seed)


def _expected_noise_mse(x: np.ndarray, noise_factor: float) -> float:
    """MSE between clipped noisy images and x, computed with the checks' own noise."""
    return _mse(_reference_noise(x, noise_factor, _HELDOUT_SEED), x)


def _layers(model) -> list:
    try:
        return list(model._flatten_layers(include_self=False, recursive=True))
    except Exception:
        return list(getattr(model, "layers", []))


def _is_conv(layer) -> bool:
    return "conv" in type(layer).__name__.lower()


def _pca(x_fit: np.ndarray, k: int) -> metrics.PCA:
    return metrics.PCA(k).fit(x_fit)


def _knn_accuracy(z_fit, y_fit, z_eval, y_eval) -> float:
    return metrics.knn_accuracy(z_fit, y_fit, z_eval, y_eval, spec.KNN_K)


def _passed(part: str, detail: str) -> None:
    p = spec.part(part)
    print(f"✓ Task '{p.id}' passed ({p.points} point{'s' if p.points != 1 else ''}): {detail}")


def _images(part: str, name: str, x: np.ndarray) -> None:
    if x.ndim != 4 or x.shape[1:] != IMAGE_SHAPE:
        raise CheckError(part, f"`{name}` has shape {x.shape}.", expected="(N, 28, 28, 1)",
                         found=str(x.shape),
                         hint="load with data.load_mnist(dtype='float32', layout='channels'), "
                              "or reshape with x.reshape(-1, 28, 28, 1).")
    if not np.all(np.isfinite(x)):
        raise CheckError(part, f"`{name}` holds NaN or infinite values.", expected="finite pixel values",
                         found=f"{int((~np.isfinite(x)).sum())} non-finite values")


def _in_unit_range(part: str, name: str, x: np.ndarray, hint: str) -> None:
    lo, hi = float(x.min()), float(x.max())
    if lo < -1e-6 or hi > 1 + 1e-6:
        raise CheckError(part, f"`{name}` has values outside [0, 1].", expected="every value in [0, 1]",
                         found=f"values in [{lo:.3f}, {hi:.3f}]", hint=hint)


# --------------------------------------------------------------------------- task: noise
def _check_noise_function(add_noise: Callable, x: np.ndarray, noise_factor: float, seed: int, part: str,
                          what: str) -> np.ndarray:
    x_before = x.copy()
    try:
        noisy = add_noise(x, noise_factor, seed)
    except Exception as e:
        raise CheckError(part, f"add_noise({what}, {noise_factor}, {seed}) raised {type(e).__name__}: {e}",
                         expected="add_noise(x, noise_factor, seed) to return the noisy images",
                         hint="the function must work for any images, noise factor and seed.") from None
    if not np.array_equal(x, x_before):
        raise CheckError(part, "add_noise changed its input images in place.",
                         expected="x unchanged; a new array returned", found="x was modified",
                         hint="compute x + noise into a new array instead of using x += ...")
    noisy = np.asarray(noisy)
    if noisy.shape != x.shape:
        raise CheckError(part, f"add_noise({what}, ...) returned the wrong shape.", expected=str(x.shape),
                         found=str(noisy.shape), hint="draw noise with the input's shape: size=x.shape.")
    if noisy.dtype != np.float32:
        raise CheckError(part, "add_noise returns the wrong dtype.", expected="float32", found=str(noisy.dtype),
                         hint="end with .astype('float32').")
    _noise_statistics(part, f"add_noise({what}, {noise_factor}, {seed})", noisy, x, noise_factor)
    return noisy


def _noise_statistics(part: str, name: str, noisy: np.ndarray, clean: np.ndarray, noise_factor: float) -> None:
    diff = np.abs(noisy.astype("float64") - clean)
    if float(diff.max()) < 1e-6:
        raise CheckError(part, f"no noise was added: {name} equals the clean images.",
                         expected=f"Gaussian noise with standard deviation noise_factor={noise_factor} added",
                         found="noisy == clean for every pixel",
                         hint="add noise_factor * rng.standard_normal(x.shape) to the images.")
    lo, hi = float(noisy.min()), float(noisy.max())
    if lo < -1e-6 or hi > 1 + 1e-6:
        raise CheckError(part, f"the noise was not clipped: {name} leaves [0, 1].",
                         expected="pixel values in [0, 1]", found=f"values in [{lo:.3f}, {hi:.3f}]",
                         hint="clip the noisy images with np.clip(noisy, 0.0, 1.0).")
    got, want = _mse(noisy, clean), _expected_noise_mse(clean, noise_factor)
    if not 0.9 * want <= got <= 1.1 * want:
        raise CheckError(part, f"{name} does not have the expected amount of noise.",
                         expected=f"MSE between noisy and clean images ≈ {want:.4f} "
                                  f"(Gaussian noise, std {noise_factor}, clipped to [0, 1])",
                         found=f"MSE {got:.4f}",
                         hint="use noise_factor times *standard normal* noise (not uniform, not std 1), "
                              "and the noise factor you are given.")


@_student_facing
def check_noise(ns: Mapping) -> None:
    """Task 'noise': reads add_noise, x_train, y_train, x_test, y_test, x_train_noisy, x_test_noisy."""
    part = "noise"
    x_train, x_test = _array(ns, "x_train", part), _array(ns, "x_test", part)
    y_train, y_test = _array(ns, "y_train", part), _array(ns, "y_test", part)
    for name, x, y in (("x_train", x_train, y_train), ("x_test", x_test, y_test)):
        _images(part, name, x)
        if x.max() > 1.0 + 1e-6:
            raise CheckError(part, f"`{name}` holds raw pixel values.", expected="float32 pixels in [0, 1]",
                             found=f"values up to {x.max():g}", hint="divide by 255 (or load with dtype='float32').")
        _in_unit_range(part, name, x, "scale pixels to [0, 1].")
        if y.shape != (len(x),):
            raise CheckError(part, f"the labels do not match `{name}`.", expected=f"({len(x)},)",
                             found=str(y.shape))
    add_noise = _get(ns, "add_noise", part)
    if not callable(add_noise):
        raise CheckError(part, "`add_noise` is not a function.", expected="def add_noise(x, noise_factor, seed)",
                         found=type(add_noise).__name__)
    for name, clean in (("x_train_noisy", x_train), ("x_test_noisy", x_test)):
        noisy = _array(ns, name, part)
        if noisy.shape != clean.shape:
            raise CheckError(part, f"`{name}` has the wrong shape.", expected=str(clean.shape), found=str(noisy.shape),
                             hint=f"{name} = add_noise({name[:-6]}, NOISE_FACTOR, ...).")
        sub = slice(0, min(len(clean), 5000))
        _noise_statistics(part, f"`{name}`", noisy[sub], clean[sub], spec.NOISE_FACTOR)
    small = x_test[:64].copy()  # never hand the student's own arrays to their function
    a = _check_noise_function(add_noise, small, spec.NOISE_FACTOR, spec.NOISE_SEED, part, "x_test[:64]")
    b = _check_noise_function(add_noise, small, spec.NOISE_FACTOR, spec.NOISE_SEED, part, "x_test[:64]")
    if not np.array_equal(a, b):
        raise CheckError(part, "add_noise is not reproducible: the same seed gave different noise.",
                         expected="the same output for the same seed", found="two different outputs",
                         hint="make a generator from the seed inside the function: rng = np.random.default_rng(seed).")
    c = add_noise(small, spec.NOISE_FACTOR, spec.NOISE_SEED + 1)
    if np.array_equal(a, np.asarray(c)):
        raise CheckError(part, "add_noise ignores its seed: two seeds gave the same noise.",
                         expected="different noise for different seeds", found="identical outputs",
                         hint="seed the random generator with the `seed` argument.")
    x_test_noisy = _array(ns, "x_test_noisy", part)
    want = np.asarray(add_noise(x_test.copy(), spec.NOISE_FACTOR, spec.NOISE_SEED + 1))
    if want.shape != x_test_noisy.shape or not np.allclose(x_test_noisy, want, atol=1e-6):
        raise CheckError(part, "`x_test_noisy` is not add_noise(x_test, NOISE_FACTOR, NOISE_SEED + 1).",
                         expected="x_test_noisy = add_noise(x_test, NOISE_FACTOR, NOISE_SEED + 1)",
                         found="different values", hint="use the constants given at the top of the notebook.")
    _passed(part, f"{len(x_train)} train and {len(x_test)} test images, noise factor {spec.NOISE_FACTOR}, "
                  f"clipped to [0, 1]; noisy vs clean test MSE {_mse(x_test_noisy, x_test):.4f}.")


@_student_facing
def check_noise_heldout(ns: Mapping) -> None:
    """Hidden check: add_noise on images, noise factors and seeds the notebook never used."""
    part = "noise"
    add_noise = _get(ns, "add_noise", part)
    if not callable(add_noise):
        raise CheckError(part, "`add_noise` is not a function.", found=type(add_noise).__name__)
    rng = np.random.default_rng(_HELDOUT_SEED)
    grey = rng.uniform(0.2, 0.8, size=(32, 28, 28, 1)).astype("float32")
    for x, factor, seed in ((grey, 0.3, 7), (grey, 0.8, 123)):
        _check_noise_function(add_noise, x, factor, seed, part, "held-out images")
    print("✓ hidden check 'noise' passed.")


# --------------------------------------------------------------------------- task: model
def _probe_images(ns: Mapping, part: str) -> np.ndarray:
    x_test = _array(ns, "x_test", part)
    _images(part, "x_test", x_test)
    return _reference_noise(x_test[:_N_MODEL].astype("float32"), spec.NOISE_FACTOR, _HELDOUT_SEED)


def _check_trained(model, part: str, noisy: np.ndarray, clean: np.ndarray) -> None:
    opt = getattr(model, "optimizer", None)
    iterations = getattr(opt, "iterations", None)
    if iterations is None:
        return  # not compiled (trained some other way): nothing to read
    try:
        steps = int(np.asarray(iterations))
    except Exception:
        return
    if steps == 0:
        # Its own optimizer never ran; it may still have been trained through another model
        # sharing its layers, so only complain when it does not denoise either.
        out = _predict(model, noisy, part, "autoencoder")
        if out.shape == clean.shape and _mse(out, clean) < 0.5 * _mse(noisy, clean):
            return
        raise CheckError(part, "the autoencoder has not been trained.",
                         expected="autoencoder.fit(x_train_noisy, x_train, ...) to have run",
                         found="its optimizer has taken 0 steps",
                         hint="train it: autoencoder.fit(x_train_noisy, x_train, epochs=..., batch_size=...).")


@_student_facing
def check_model(ns: Mapping) -> None:
    """Task 'model': reads encoder, autoencoder (and x_test for probe images)."""
    part = "model"
    x = _probe_images(ns, part)[:32]
    encoder, autoencoder = _get(ns, "encoder", part), _get(ns, "autoencoder", part)
    z = _predict(encoder, x, part, "encoder")
    want = (len(x), spec.LATENT_DIM)
    if z.shape != want:
        raise CheckError(part, "the encoder gives codes of the wrong shape.",
                         expected=f"encoder(images of shape {x.shape}) of shape {want}",
                         found=f"codes of shape {z.shape}",
                         hint=f"the encoder's last layer sets the code size: end it with "
                              f"Dense(LATENT_DIM) (LATENT_DIM = {spec.LATENT_DIM}) after a Flatten.")
    x_hat = _predict(autoencoder, x, part, "autoencoder")
    if x_hat.shape != x.shape:
        raise CheckError(part, "the autoencoder's output has the wrong shape.", expected=str(x.shape),
                         found=str(x_hat.shape), hint="the decoder must end with 28x28x1 images, "
                                                     "e.g. Conv2D(1, 3, padding='same', activation='sigmoid').")
    for name, model in (("encoder", encoder), ("autoencoder", autoencoder)):
        layers = _layers(model)
        if layers and not any(_is_conv(layer) for layer in layers):
            raise CheckError(part, f"the {name} has no convolution layer.",
                             expected="a convolutional autoencoder (Conv2D in the encoder, Conv2D or "
                                      "Conv2DTranspose in the decoder)",
                             found=f"layers {', '.join(sorted({type(layer).__name__ for layer in layers}))}",
                             hint="a dense or PCA-like model does not count: use Conv2D layers.")
    a, b = x[:16], x[16:32]
    za, zb, zm = (_predict(encoder, v, part, "encoder").astype("float64") for v in (a, b, (a + b) / 2))
    scale = float(np.abs(za).mean() + np.abs(zb).mean()) + 1e-12
    if float(np.abs(zm - (za + zb) / 2).mean()) / scale < 1e-4:
        raise CheckError(part, "the encoder is a linear (affine) map of the pixels.",
                         expected="a non-linear encoder (convolutions with ReLU activations)",
                         found="encoder((a + b) / 2) == (encoder(a) + encoder(b)) / 2",
                         hint="a linear encoder is PCA in disguise; give the hidden layers activation='relu'.")
    _in_unit_range(part, "autoencoder output", x_hat,
                   "end the decoder with a sigmoid activation so pixels stay in [0, 1].")
    enc_vars = {id(v) for v in getattr(encoder, "weights", [])}
    ae_vars = {id(v) for v in getattr(autoencoder, "weights", [])}
    if enc_vars and ae_vars and not enc_vars <= ae_vars:
        raise CheckError(part, "the encoder is not part of the autoencoder.",
                         expected="the autoencoder built as decoder(encoder(inputs)), sharing the encoder's layers",
                         found="the encoder has weights the autoencoder does not use (so training the "
                               "autoencoder does not train this encoder)",
                         hint="autoencoder = keras.Model(inputs, decoder(encoder(inputs))).")
    x_test = _array(ns, "x_test", part)
    _check_trained(autoencoder, part, x, x_test[:len(x)].astype("float32"))
    _passed(part, f"encoder (N, 28, 28, 1) -> (N, {spec.LATENT_DIM}), autoencoder (N, 28, 28, 1) -> "
                  f"(N, 28, 28, 1) in [0, 1], convolutional, trained.")


# --------------------------------------------------------------------------- task: denoise
def _degenerate_output(part: str, name: str, out: np.ndarray, noisy: np.ndarray, clean: np.ndarray) -> None:
    """Raise for an output collapsed to a constant, an untrained-looking output, or a copy of the input."""
    t = spec.thresholds()
    spread, clean_spread = _spread(out), _spread(clean)
    if spread < t["min_output_std"]:
        mean = float(np.mean(out))
        if 0.35 < mean < 0.65:
            kind = (f"every pixel is close to {mean:.2f}: this is what an untrained network with a sigmoid "
                    "output gives")
            hint = "train the autoencoder (autoencoder.fit(x_train_noisy, x_train, ...)) before using it."
        else:
            kind = (f"the images barely differ from each other (mean pixel {mean:.3f}); an all-zero output "
                    f"scores a plausible-looking MSE of {_mse(np.zeros_like(clean), clean):.3f}")
            hint = ("the model has collapsed to a constant output. At this noise level a network trained "
                    "with MSE loss tends to output all zeros; train with loss='binary_crossentropy'.")
        raise CheckError(part, f"{name} is (nearly) constant: a collapsed or untrained model.",
                         expected=f"outputs that vary between images like digits do: spread (pixel std over "
                                  f"images) ≥ {t['min_output_std']} (clean test images: {clean_spread:.3f})",
                         found=f"spread {spread:.4f}; {kind}", hint=hint)
    noise_mse = _mse(noisy, clean)
    to_input = _mse(out, noisy)
    if to_input < 0.1 * noise_mse:
        raise CheckError(part, f"{name} is (nearly) the noisy input: an identity 'denoiser'.",
                         expected="the noise removed: output closer to the clean images than the noisy input is",
                         found=f"MSE to the noisy input {to_input:.4f}, to the clean images {_mse(out, clean):.4f} "
                               f"(noisy vs clean: {noise_mse:.4f})",
                         hint="train on (noisy input, clean target) pairs: autoencoder.fit(x_train_noisy, x_train), "
                              "and use its output, not the input.")


def _denoise_fresh(part: str, autoencoder, clean, seed: int, what: str, prefix: str = ""):
    """Noise ``clean`` with the reference noise, run the autoencoder on it, and check the output's
    shape and that it is not degenerate; return (noisy, output)."""
    noisy = _reference_noise(clean, spec.NOISE_FACTOR, seed)
    out = _predict(autoencoder, noisy, part, "autoencoder")
    if out.shape != clean.shape:
        raise CheckError(part, f"{prefix}the autoencoder's output has the wrong shape.", expected=str(clean.shape),
                         found=str(out.shape))
    _degenerate_output(part, what, out, noisy, clean)
    return noisy, out


@_student_facing
def check_denoise(ns: Mapping) -> None:
    """Task 'denoise': reads x_test_denoised, ae_mse (and x_test, x_test_noisy, autoencoder)."""
    part = "denoise"
    t = spec.thresholds()
    x_test, x_test_noisy = _array(ns, "x_test", part), _array(ns, "x_test_noisy", part)
    out = _array(ns, "x_test_denoised", part)
    if out.shape != x_test.shape:
        raise CheckError(part, "`x_test_denoised` has the wrong shape.", expected=str(x_test.shape),
                         found=str(out.shape), hint="x_test_denoised = autoencoder.predict(x_test_noisy).")
    _images(part, "x_test_denoised", out)
    _in_unit_range(part, "x_test_denoised", out, "end the decoder with a sigmoid activation.")
    _degenerate_output(part, "`x_test_denoised`", out, x_test_noisy, x_test)
    mse = _mse(out, x_test)
    if mse < 1e-7:
        raise CheckError(part, "`x_test_denoised` is the clean test images themselves.",
                         expected="the autoencoder's output for x_test_noisy", found="x_test_denoised == x_test",
                         hint="x_test_denoised = autoencoder.predict(x_test_noisy).")
    autoencoder = _get(ns, "autoencoder", part)
    k = min(len(x_test), 64)
    direct = _predict(autoencoder, x_test_noisy[:k].astype("float32"), part, "autoencoder")
    if direct.shape != out[:k].shape or float(np.abs(direct - out[:k]).max()) > 1e-3:
        raise CheckError(part, "`x_test_denoised` is not the autoencoder's output for `x_test_noisy`.",
                         expected="x_test_denoised = autoencoder.predict(x_test_noisy)",
                         found=f"a largest difference of {float(np.abs(direct - out[:k]).max()) if direct.shape == out[:k].shape else float('nan'):.3f} "
                               f"on the first {k} images",
                         hint="run the answer cell after training, on the noisy test images.")
    ae_mse = _float(ns, "ae_mse", part)
    if not np.isclose(ae_mse, mse, rtol=1e-3, atol=1e-6):
        raise CheckError(part, "`ae_mse` is not the MSE of x_test_denoised against x_test.", expected=f"{mse:.5f}",
                         found=f"{ae_mse:.5f}", hint="ae_mse = np.mean((x_test_denoised - x_test) ** 2).")
    # The threshold is applied to the model on test images noised by the checks themselves
    # (correct noise for everyone), so a slip in the 'noise' task does not cost these points too.
    n = min(len(x_test), 1000)
    clean = x_test[:n].astype("float32")
    noisy, ref_out = _denoise_fresh(part, autoencoder, clean, _HELDOUT_SEED + 4, "the autoencoder's output")
    ref_mse = _mse(ref_out, clean)
    if ref_mse > t["max_denoise_mse"]:
        raise CheckError(part, "the denoised test images are not close enough to the clean ones.",
                         expected=f"test MSE ≤ {t['max_denoise_mse']} on {n} noisy test images",
                         found=f"test MSE {ref_mse:.4f} (your x_test_denoised: {mse:.4f}; "
                               f"the noisy images: {_mse(noisy, clean):.4f})",
                         hint="train longer, or give the model more filters; train with binary cross-entropy.")
    _passed(part, f"test MSE {mse:.4f} (on {n} freshly noised test images: {ref_mse:.4f}) ≤ "
                  f"{t['max_denoise_mse']}; noisy input: {_mse(x_test_noisy, x_test):.4f}.")


@_student_facing
def check_denoise_heldout(ns: Mapping) -> None:
    """Hidden check: the autoencoder denoises test images with noise the notebook never drew."""
    part = "denoise"
    t = spec.thresholds()
    autoencoder = _get(ns, "autoencoder", part)
    x_test = _array(ns, "x_test", part)
    clean = x_test[-_N_MODEL:].astype("float32")
    noisy, out = _denoise_fresh(part, autoencoder, clean, _HELDOUT_SEED + 1,
                                "the autoencoder's output on held-out noisy images", prefix="held-out: ")
    mse = _mse(out, clean)
    limit = 1.1 * t["max_denoise_mse"]
    if mse > limit:
        raise CheckError(part, "held-out: the autoencoder does not denoise new noisy images well enough.",
                         expected=f"MSE ≤ {limit:.4f}", found=f"MSE {mse:.4f}")
    print("✓ hidden check 'denoise' passed.")


# --------------------------------------------------------------------------- task: pca
@_student_facing
def check_pca(ns: Mapping) -> None:
    """Task 'pca': reads pca_test_denoised, pca_mse (and x_train(_noisy), x_test(_noisy), autoencoder).

    The student's PCA must be PCA of their noisy images; "beats PCA" is then measured on
    the checks' own freshly noised images, the autoencoder against a reference PCA.
    """
    part = "pca"
    t = spec.thresholds()
    x_test, x_test_noisy = _array(ns, "x_test", part), _array(ns, "x_test_noisy", part)
    x_train_noisy = _array(ns, "x_train_noisy", part)
    rec = _array(ns, "pca_test_denoised", part)
    if rec.shape != x_test.shape:
        raise CheckError(part, "`pca_test_denoised` has the wrong shape.", expected=str(x_test.shape),
                         found=str(rec.shape),
                         hint="reshape PCA's (N, 784) reconstruction back with .reshape(x_test.shape).")
    mse = _mse(rec, x_test)
    pca_mse = _float(ns, "pca_mse", part)
    if not np.isclose(pca_mse, mse, rtol=1e-3, atol=1e-6):
        raise CheckError(part, "`pca_mse` is not the MSE of pca_test_denoised against x_test.", expected=f"{mse:.5f}",
                         found=f"{pca_mse:.5f}", hint="pca_mse = np.mean((pca_test_denoised - x_test) ** 2).")
    n_fit = min(len(x_train_noisy), 20000)
    ref = _pca(x_train_noisy[:n_fit].astype("float32"), spec.LATENT_DIM)
    flat = x_test_noisy.reshape(len(x_test_noisy), -1)
    want = _mse(ref.inverse_transform(ref.transform(flat)).reshape(x_test.shape), x_test)
    if not 0.93 * want <= mse <= 1.07 * want:
        raise CheckError(part, f"`pca_test_denoised` is not PCA with {spec.LATENT_DIM} components "
                               "fitted on x_train_noisy, reconstructing x_test_noisy.",
                         expected=f"test MSE ≈ {want:.4f}", found=f"test MSE {mse:.4f}",
                         hint="PCA(n_components=LATENT_DIM).fit(flat noisy train images); then "
                              "inverse_transform(transform(flat noisy test images)).")
    # Beat PCA: both methods on the checks' own noisy images (the same for every student), so a
    # slip in another task (e.g. the noise) does not cost these points twice.
    x_train = _array(ns, "x_train", part)
    autoencoder = _get(ns, "autoencoder", part)
    fit = _reference_noise(x_train[:n_fit].astype("float32"), spec.NOISE_FACTOR, _HELDOUT_SEED + 2)
    clean = x_test[:_N_MODEL].astype("float32")
    noisy = _reference_noise(clean, spec.NOISE_FACTOR, _HELDOUT_SEED + 3)
    ref = _pca(fit, spec.LATENT_DIM)
    pca_ref = _mse(ref.inverse_transform(ref.transform(noisy.reshape(len(noisy), -1))).reshape(clean.shape), clean)
    out = _predict(autoencoder, noisy, part, "autoencoder")
    if out.shape != clean.shape:
        raise CheckError(part, "the autoencoder's output has the wrong shape.", expected=str(clean.shape),
                         found=str(out.shape))
    ae = _mse(out, clean)
    ratio = ae / pca_ref if pca_ref > 0 else np.inf
    if ratio > t["max_ae_to_pca_mse"]:
        raise CheckError(part, "the autoencoder does not beat PCA at denoising.",
                         expected=f"autoencoder test MSE ≤ {t['max_ae_to_pca_mse']} × PCA-{spec.LATENT_DIM}'s "
                                  f"on {len(clean)} freshly noised test images",
                         found=f"autoencoder {ae:.4f}, PCA {pca_ref:.4f} (ratio {ratio:.2f}); in your notebook: "
                               f"autoencoder {_safe_mse(ns.get('x_test_denoised'), x_test):.4f}, PCA {mse:.4f}",
                         hint="a non-linear convolutional model trained on noisy → clean pairs should do "
                              "clearly better than PCA; check the 'model' and 'denoise' tasks.")
    _passed(part, f"autoencoder {ae:.4f} vs PCA-{spec.LATENT_DIM} {pca_ref:.4f} on freshly noised test images "
                  f"(ratio {ratio:.2f}); in your notebook {_safe_mse(ns.get('x_test_denoised'), x_test):.4f} "
                  f"vs {mse:.4f}.")


# --------------------------------------------------------------------------- task: codes
@_student_facing
def check_codes(ns: Mapping) -> None:
    """Task 'codes': reads z_train, z_test (and encoder, x_train(_noisy), x_test(_noisy))."""
    part = "codes"
    t = spec.thresholds()
    x_train, x_test = _array(ns, "x_train", part), _array(ns, "x_test", part)
    x_train_noisy, x_test_noisy = _array(ns, "x_train_noisy", part), _array(ns, "x_test_noisy", part)
    encoder = _get(ns, "encoder", part)
    for name, clean, noisy in (("z_train", x_train, x_train_noisy), ("z_test", x_test, x_test_noisy)):
        z = _array(ns, name, part)
        want = (len(clean), spec.LATENT_DIM)
        if z.shape != want:
            hint = ("the encoder's last layer sets the code size." if z.ndim == 2 and z.shape[0] == len(clean)
                    else f"{name} = encoder.predict({name.replace('z', 'x')}_noisy).")
            raise CheckError(part, f"the codes have shape {z.shape}; expected {want}.", expected=str(want),
                             found=str(z.shape), hint=hint)
        if not np.all(np.isfinite(z)):
            raise CheckError(part, f"`{name}` holds NaN or infinite values.", expected="finite codes",
                             found=f"{int((~np.isfinite(z)).sum())} non-finite values",
                             hint="training diverged: lower the learning rate.")
        if float(z.std(axis=0).max()) < 1e-6:
            raise CheckError(part, f"`{name}` is constant: every image gets the same code.",
                             expected="codes that differ between images", found="all codes identical",
                             hint="a collapsed encoder; train with binary cross-entropy and check the 'model' task.")
        k = min(len(z), 64)
        direct = _predict(encoder, noisy[:k].astype("float32"), part, "encoder")
        if direct.shape != z[:k].shape or not np.allclose(direct, z[:k], rtol=1e-3, atol=1e-3 * (np.abs(direct).mean() + 1e-6)):
            from_clean = _predict(encoder, clean[:k].astype("float32"), part, "encoder")
            if from_clean.shape == z[:k].shape and np.allclose(from_clean, z[:k], rtol=1e-3,
                                                               atol=1e-3 * (np.abs(from_clean).mean() + 1e-6)):
                found = f"{name} holds the codes of the clean images"
            else:
                found = f"{name} differs from the encoder's codes of the noisy images"
            raise CheckError(part, f"`{name}` is not the encoder's output for the noisy images.",
                             expected=f"{name} = encoder.predict({name.replace('z', 'x')}_noisy)", found=found,
                             hint="the task is dimension reduction of the *noisy* images.")
    z_test = _array(ns, "z_test", part)
    n_fit = min(len(x_train_noisy), 20000)
    ref = _pca(x_train_noisy[:n_fit].astype("float32"), spec.LATENT_DIM)
    r2 = metrics.r2_affine(z_test, ref.transform(x_test_noisy.reshape(len(x_test_noisy), -1)))
    if r2 > t["max_pca_codes_r2"]:
        raise CheckError(part, "the codes are a linear function of PCA's codes: PCA dressed up as an autoencoder.",
                         expected=f"codes from a trained non-linear encoder (R² of the best affine fit from "
                                  f"PCA codes ≤ {t['max_pca_codes_r2']})",
                         found=f"R² = {r2:.4f}", hint="use the convolutional encoder you trained, not PCA.")
    _passed(part, f"z_train {ns['z_train'].shape}, z_test {z_test.shape}, the encoder's codes of the noisy images.")


@_student_facing
def check_codes_heldout(ns: Mapping) -> None:
    """Hidden check: the encoder gives LATENT_DIM codes that vary for images the notebook never saw."""
    part = "codes"
    encoder = _get(ns, "encoder", part)
    noisy = _probe_images(ns, part)
    z = _predict(encoder, noisy, part, "encoder")
    if z.shape != (len(noisy), spec.LATENT_DIM):
        raise CheckError(part, "held-out: the encoder's codes have the wrong shape.",
                         expected=str((len(noisy), spec.LATENT_DIM)), found=str(z.shape))
    if not np.all(np.isfinite(z)) or float(z.std(axis=0).max()) < 1e-6:
        raise CheckError(part, "held-out: the encoder's codes are constant or not finite.")
    print("✓ hidden check 'codes' passed.")


# --------------------------------------------------------------------------- task: knn
@_student_facing
def check_knn(ns: Mapping) -> None:
    """Task 'knn': reads knn_accuracy_ae, knn_accuracy_pca (and z_train, z_test, y_*, x_*_noisy)."""
    part = "knn"
    t = spec.thresholds()
    acc_ae, acc_pca = _float(ns, "knn_accuracy_ae", part), _float(ns, "knn_accuracy_pca", part)
    for name, acc in (("knn_accuracy_ae", acc_ae), ("knn_accuracy_pca", acc_pca)):
        if not 0.0 <= acc <= 1.0:
            raise CheckError(part, f"`{name}` is not a fraction.", expected="an accuracy in [0, 1]",
                             found=f"{acc:g}", hint="use knn.score(...), a fraction, not a percentage.")
    z_train, z_test = _array(ns, "z_train", part), _array(ns, "z_test", part)
    y_train, y_test = _array(ns, "y_train", part), _array(ns, "y_test", part)
    if len(z_train) != len(y_train) or len(z_test) != len(y_test):
        raise CheckError(part, "the codes and labels have different lengths.",
                         expected=f"{len(y_train)} train and {len(y_test)} test codes",
                         found=f"{len(z_train)} and {len(z_test)}", hint="check the 'codes' task.")
    want = _knn_accuracy(z_train, y_train, z_test, y_test)
    if abs(acc_ae - want) > 0.01:
        raise CheckError(part, "`knn_accuracy_ae` is not the k-NN accuracy on the autoencoder's codes.",
                         expected=f"{want:.4f} (KNeighborsClassifier(n_neighbors={spec.KNN_K}) fitted on "
                                  "z_train, y_train; scored on z_test, y_test)",
                         found=f"{acc_ae:.4f}", hint="fit on the training codes, score on the test codes.")
    x_train_noisy, x_test_noisy = _array(ns, "x_train_noisy", part), _array(ns, "x_test_noisy", part)
    ref = _pca(x_train_noisy.astype("float32"), spec.LATENT_DIM)
    want_pca = _knn_accuracy(ref.transform(x_train_noisy.reshape(len(x_train_noisy), -1)), y_train,
                             ref.transform(x_test_noisy.reshape(len(x_test_noisy), -1)), y_test)
    if abs(acc_pca - want_pca) > 0.02:
        raise CheckError(part, f"`knn_accuracy_pca` is not the k-NN accuracy on PCA-{spec.LATENT_DIM} codes.",
                         expected=f"≈ {want_pca:.4f} (PCA fitted on x_train_noisy, codes of the noisy images)",
                         found=f"{acc_pca:.4f}", hint="use pca.transform(...) codes, not the reconstructions.")
    if acc_ae < t["min_knn_accuracy"]:
        raise CheckError(part, "the k-NN accuracy on the autoencoder's codes is too low.",
                         expected=f"≥ {t['min_knn_accuracy']}", found=f"{acc_ae:.4f} (PCA codes: {acc_pca:.4f})",
                         hint="a better-trained encoder gives codes in which digits of one kind lie close together.")
    _passed(part, f"k-NN accuracy {acc_ae:.4f} on the autoencoder's codes vs {acc_pca:.4f} on PCA codes.")


# --------------------------------------------------------------------------- task: view
@_student_facing
def check_view(ns: Mapping) -> None:
    """Task 'view': reads z_test_2d (and x_test)."""
    part = "view"
    x_test = _array(ns, "x_test", part)
    v = _array(ns, "z_test_2d", part)
    want = (len(x_test), 2)
    if v.shape != want:
        raise CheckError(part, "`z_test_2d` has the wrong shape.", expected=f"{want}: one 2-D point per test image",
                         found=str(v.shape), hint="project z_test to two dimensions, e.g. PCA(2).fit_transform(z_test).")
    if not np.all(np.isfinite(v)) or float(v.std(axis=0).min()) < 1e-9:
        raise CheckError(part, "`z_test_2d` is degenerate.", expected="finite points spread in both directions",
                         found="non-finite values or a direction with no spread",
                         hint="project the codes z_test, not a constant.")
    _passed(part, f"z_test_2d {v.shape}.")


CHECKS = {
    "noise": (check_noise, check_noise_heldout),
    "model": (check_model,),
    "denoise": (check_denoise, check_denoise_heldout),
    "pca": (check_pca,),
    "codes": (check_codes, check_codes_heldout),
    "knn": (check_knn,),
    "view": (check_view,),
}


def run_all(ns: Mapping, heldout: bool = True) -> dict[str, str | None]:
    """Run every part's checks; return {part id: None if passed, else the failure message}.

    Errors other than :class:`CheckError` count as failures too (with their type).
    """
    results: dict[str, str | None] = {}
    for part_id, fns in CHECKS.items():
        results[part_id] = None
        for fn in fns if heldout else fns[:1]:
            try:
                fn(ns)
            except AssertionError as e:
                results[part_id] = str(e)
                break
            except Exception as e:  # noqa: BLE001 - report, never crash the caller
                results[part_id] = f"{type(e).__name__}: {e}"
                break
    return results
