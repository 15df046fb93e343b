"""The notebook's checks for the denoising assignment: gather the evidence, ask the rulebook.

The check cells call these functions with the notebook's namespace::

    checks.check_noise(globals())

Each one gathers the arrays its part is judged on from the student's objects, by name
(:mod:`.evidence`), builds the references from the student's own data (probe images: the
first test images with the checks' own noise; k-NN reference images: training images with
that noise), and calls the part's rule in :mod:`.rulebook` — the same function the grader
calls on held-out images. It prints one line when every check passes, or raises
:class:`CheckError` (an ``AssertionError``) for the first one that fails: what was expected,
what was found and a hint.

``check_*_heldout`` (the hidden tests of the source notebook) apply the same rules, hidden
checks included, to probe images with other noise.

The checks also save the models as ``encoder.keras`` and ``autoencoder.keras`` (Keras'
own format: architecture and weights, no pickles) and reload them with ``safe_mode=True``,
as the grader does: a model that cannot be saved and reloaded that way (a subclassed model,
a ``Lambda`` layer, a custom layer) fails the 'model' task with a hint to fix it.
"""

from __future__ import annotations

import functools
import hashlib
import sys
from collections.abc import Mapping

import numpy as np

from aecourse import metrics

from .. import collect, merge_evidence, passed
from .. import denoising_dimension_reduction as spec
from . import evidence, rulebook

N_PROBE = 1000          # probe images (the first test images), at most
N_REFERENCE = 20000     # k-NN reference images (the first training images), at most
HELDOUT_SEED = 20261127
MODEL_FILES = ("encoder.keras", "autoencoder.keras")
SAVE_DIR = "."          # where check_model saves the models (the notebook's folder)


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


def _student_facing(fn):
    """Re-raise a CheckError without the checks' internal frames, so the notebook shows the message."""

    @functools.wraps(fn)
    def check(ns: Mapping | None = None) -> None:
        if ns is None:
            ns = sys._getframe(1).f_globals
        try:
            return fn(ns)
        except CheckError as e:
            error = e.with_traceback(None)
        raise error  # the check failed: read the message below (expected / found / hint)

    return check


# --------------------------------------------------------------------------- references
def _array(ns: Mapping, name: str, part: str) -> np.ndarray:
    if name not in ns:
        raise CheckError(part, f"`{name}` is not defined.",
                         expected=f"the answer cell `{spec.part(part).answer_id}` (or an earlier one) to define `{name}`",
                         found=f"no variable `{name}` in the notebook",
                         hint="complete the answer cell above and run it (and every cell before it).")
    try:
        return np.asarray(ns[name])
    except Exception as e:  # noqa: BLE001
        raise CheckError(part, f"`{name}` is not an array.", "a NumPy array", f"{type(ns[name]).__name__} ({e})") \
            from None


_REF_CACHE: dict = {}


def references(ns: Mapping, part: str, seed: int = HELDOUT_SEED) -> dict:
    """Probe and k-NN reference images made from the student's own data, with the checks' own noise."""
    x_train, y_train = _array(ns, "x_train", part), _array(ns, "y_train", part)
    x_test, y_test = _array(ns, "x_test", part), _array(ns, "y_test", part)
    if x_test.ndim != 4 or x_test.shape[1:] != rulebook.IMAGE or x_train.ndim != 4 \
            or x_train.shape[1:] != rulebook.IMAGE:
        raise CheckError(part, "x_train and x_test are not images of shape (N, 28, 28, 1).",
                         "(N, 28, 28, 1)", f"x_train {x_train.shape}, x_test {x_test.shape}",
                         hint="check the 'noise' task.")
    key = (id(x_train), id(x_test), x_train.shape, x_test.shape, seed)
    if key not in _REF_CACHE:
        n_q, n_r = min(len(x_test), N_PROBE), min(len(x_train), N_REFERENCE)
        clean_q = x_test[:n_q].astype(np.float32)
        noisy_q = metrics.clipped_noise(clean_q, spec.NOISE_FACTOR, seed)
        noisy_r = metrics.clipped_noise(x_train[:n_r].astype(np.float32), spec.NOISE_FACTOR, seed + 1)
        pca = metrics.PCA(spec.LATENT_DIM).fit(noisy_r[:evidence.PCA_FIT_MAX])
        _REF_CACHE.clear()
        _REF_CACHE[key] = {
            "clean_q": clean_q, "noisy_q": noisy_q, "labels_q": y_test[:n_q], "noisy_r": noisy_r,
            "labels_r": y_train[:n_r], "noisy_k": noisy_q, "labels_k": y_test[:n_q], "pca_mse_q": metrics.mse_per_pixel(clean_q, pca.reconstruct(noisy_q)),
            "pca_codes_q": pca.transform(noisy_q), "factor": spec.NOISE_FACTOR, "factor2": evidence.OTHER_FACTOR,
        }
    return _REF_CACHE[key]


def _fingerprint(*models) -> str:
    h = hashlib.sha256()
    for m in models:
        h.update(str(id(m)).encode())
        for w in getattr(m, "get_weights", lambda: [])():
            h.update(np.ascontiguousarray(w).tobytes())
    return h.hexdigest()


_MODEL_CACHE: dict = {}


def model_evidence(ns: Mapping, ref: dict) -> dict:
    """The model evidence (:data:`evidence.MODEL`) of the notebook's encoder and autoencoder on the probes."""
    models = {k: ns[k] for k in ("encoder", "autoencoder") if k in ns}
    key = (_fingerprint(*models.values()), id(ref["noisy_q"]))
    if key not in _MODEL_CACHE:
        _MODEL_CACHE.clear()
        _MODEL_CACHE[key] = collect(evidence.MODEL, models, {k: ref[k] for k in ("noisy_q", "noisy_r", "noisy_k")})
    return _MODEL_CACHE[key]


def answer_evidence(ns: Mapping, part: str, ref: dict | None = None) -> dict:
    """The answer evidence (:data:`evidence.ANSWERS`) of ``part``, gathered from the namespace."""
    x_test = _array(ns, "x_test", part) if part == "noise" else None
    clean_a = x_test[:64].astype(np.float32) if x_test is not None else np.zeros((1, 28, 28, 1), np.float32)
    return collect(evidence.ANSWERS[part], ns, evidence.answer_inputs(clean_a, [spec.NOISE_SEED, spec.NOISE_SEED + 1]))


_SAVED: dict = {}


def save_models(ns: Mapping, part: str = "model", folder: str | None = None) -> None:
    """Save the encoder and autoencoder as ``.keras`` files and reload them with ``safe_mode=True``.

    This is what the grader does before it evaluates the models, so a model that cannot be
    saved and reloaded that way fails every part judged on the model, with a hint to fix it
    (:class:`CheckError`). Done once per set of weights.
    """
    import os

    folder = SAVE_DIR if folder is None else folder
    models = [(name, file, _array_free_get(ns, name, part)) for name, file in zip(("encoder", "autoencoder"),
                                                                                     MODEL_FILES)]
    key = (_fingerprint(*(m for _, _, m in models)), os.path.abspath(folder))
    if key not in _SAVED:
        error = None
        try:
            import keras

            for name, file, model in models:
                path = os.path.join(folder, file)
                error = name
                model.save(path)
                keras.saving.load_model(path, safe_mode=True, compile=False)
            error = None
        except Exception as e:  # noqa: BLE001
            text = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
            error = (error, f"{type(e).__name__}: {text}")
        _SAVED.clear()
        _SAVED[key] = error
    if _SAVED[key] is not None:
        name, found = _SAVED[key]
        raise CheckError(part, f"`{name}` cannot be saved and reloaded as a .keras file.",
                         expected="a model built from Keras' built-in layers (functional or Sequential), which the "
                                  "grader loads with keras.saving.load_model(..., safe_mode=True)",
                         found=found,
                         hint="build the model with keras.Input and built-in layers (Conv2D, Dense, Reshape, ...): "
                              "no subclassed keras.Model, no Lambda layer, no custom layer.")


def _array_free_get(ns: Mapping, name: str, part: str):
    if name not in ns:
        raise CheckError(part, f"`{name}` is not defined.",
                         expected=f"the answer cell `{spec.part(part).answer_id}` to define `{name}`",
                         found=f"no variable `{name}` in the notebook",
                         hint="complete the answer cell above and run it (and every cell before it).")
    return ns[name]


# --------------------------------------------------------------------------- judging
def judge(ns: Mapping, part: str, seed: int = HELDOUT_SEED) -> list:
    """The rulebook's checks of ``part`` for the notebook's namespace (probe images noised with ``seed``)."""
    for name in spec.part(part).names:
        _array_free_get(ns, name, part)
    if part == "noise":
        x_test = _array(ns, "x_test", part)
        clean_a = np.array(x_test[:64], dtype=np.float32)
        ref = {"clean_a": clean_a, "factor": spec.NOISE_FACTOR, "factor2": evidence.OTHER_FACTOR}
        return rulebook.judge(part, merge_evidence(answer_evidence(ns, part)), ref, spec.thresholds())
    ref = references(ns, part, seed)
    sources = [answer_evidence(ns, part, ref)]
    if part in rulebook.MODEL_PARTS:
        sources.append(model_evidence(ns, ref))
    return rulebook.judge(part, merge_evidence(*sources), ref, spec.thresholds())


def _report_failure(part: str, checks: list, hidden: bool) -> None:
    """Raise :class:`CheckError` for the first failing check (hidden ones only when ``hidden``)."""
    for c in checks:
        if c.hidden and not hidden:
            continue
        if not c.passed:
            raise CheckError(part, f"check failed: {c.name}.", c.expected, c.found, c.hint)


def _report(part: str, checks: list, hidden: bool, detail: str = "") -> None:
    _report_failure(part, checks, hidden)
    if hidden:
        print(f"✓ hidden check '{part}' passed.")
        return
    p = spec.part(part)
    shown = [c for c in checks if not c.hidden and c.weight > 1] or [c for c in checks if not c.hidden][-1:]
    summary = "; ".join(f"{c.name}: {c.found}" for c in shown)
    print(f"✓ Task '{p.id}' passed ({p.points} point{'s' if p.points != 1 else ''}): {detail}{summary}")


def _check(part: str, hidden: bool = False, seed: int = HELDOUT_SEED):
    @_student_facing
    def check(ns: Mapping) -> None:
        checks = judge(ns, part, seed)
        _report_failure(part, checks, hidden)
        if part in rulebook.MODEL_PARTS:
            save_models(ns, part)
        _report(part, checks, hidden)

    check.__name__ = f"check_{part}" + ("_heldout" if hidden else "")
    check.__doc__ = f"Task '{part}': the rulebook's checks{' (hidden ones included, other noise)' if hidden else ''}."
    return check


check_noise = _check("noise")
check_noise_heldout = _check("noise", hidden=True)
check_model = _check("model")
check_denoise = _check("denoise")
check_denoise_heldout = _check("denoise", hidden=True, seed=HELDOUT_SEED + 7)
check_pca = _check("pca")
check_codes = _check("codes")
check_codes_heldout = _check("codes", hidden=True, seed=HELDOUT_SEED + 7)
check_knn = _check("knn")
check_view = _check("view")

CHECKS = {
    "noise": (check_noise, check_noise_heldout),
    "model": (check_model,),
    "denoise": (check_denoise, check_denoise_heldout),
    "pca": (check_pca,),
    "codes": (check_codes, check_codes_heldout),
    "knn": (check_knn,),
    "view": (check_view,),
}


def part_passes(ns: Mapping, part: str, hidden: bool = True) -> bool:
    """Whether the notebook's checks of ``part`` pass (``hidden``: hidden checks included)."""
    try:
        checks = judge(ns, part)
        if part in rulebook.MODEL_PARTS and passed(checks):
            save_models(ns, part)
    except CheckError:
        return False
    return passed([c for c in checks if hidden or not c.hidden])


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
