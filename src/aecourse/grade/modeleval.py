"""Step 2 of scoring: evaluate the student's saved models in a process that runs no student code.

``python -m aecourse.grade.modeleval SPEC_MODULE FOLDER`` loads the model files the spec names
(``SAVE_MODELS``) from ``FOLDER`` with ``keras.saving.load_model(..., safe_mode=True)`` — Keras'
built-in layers only: no ``Lambda``, no custom or subclassed objects, so nothing the student
wrote is executed — and evaluates the spec's ``MODEL_EVIDENCE`` on the held-out *inputs* in
``FOLDER/model_inputs.npz`` (the targets never come here). The architecture is read from the
loaded models (their saved config). The evidence is written to ``FOLDER/model_evidence.npz``
as plain arrays (an ``error:NAME`` text for what could not be computed); the grader runs this
module inside its sandbox and scores the evidence with the rulebook (step 3, numpy only).

This is the only step of scoring that imports Keras.
"""

from __future__ import annotations

import importlib
import json
import os
import sys

import numpy as np

INPUTS = "model_inputs.npz"
OUTPUT = "model_evidence.npz"
DONE_EVENT = "model_evidence_written"


class _Unloadable:
    """Stands for a model that could not be loaded: using it raises the load error."""

    def __init__(self, name: str, error: str):
        self.name, self.error = name, error

    def __getattr__(self, attr):
        raise RuntimeError(f"the saved {self.name} could not be loaded: {self.error}")

    def __call__(self, *args, **kwargs):
        raise RuntimeError(f"the saved {self.name} could not be loaded: {self.error}")


def load_models(spec, folder: str) -> dict:
    """The spec's saved models, loaded safely; a model that cannot be loaded is an :class:`_Unloadable`."""
    import keras

    models = {}
    for name, file in zip(spec.SAVE_MODELS["names"], spec.SAVE_MODELS["files"]):
        path = os.path.join(folder, file)
        try:
            if not os.path.isfile(path) or os.path.islink(path):
                raise FileNotFoundError(f"no file {file} (the model was not saved)")
            models[name] = keras.saving.load_model(path, safe_mode=True, compile=False)
        except Exception as e:  # noqa: BLE001 - the reason becomes the evidence's error text
            text = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
            models[name] = _Unloadable(name, f"{type(e).__name__}: {text}")
    return models


def evaluate(spec, folder: str) -> dict:
    """The model evidence for the saved models in ``folder`` (arrays and ``error:NAME`` texts)."""
    from ..assignments import collect

    with np.load(os.path.join(folder, INPUTS), allow_pickle=False) as data:
        inp = {k: data[k] for k in data.files}
    return collect(spec.MODEL_EVIDENCE, load_models(spec, folder), inp)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print("usage: python -m aecourse.grade.modeleval SPEC_MODULE FOLDER", file=sys.stderr)
        return 2
    spec = importlib.import_module(argv[0])
    out = evaluate(spec, argv[1])
    np.savez(os.path.join(argv[1], OUTPUT), **out)
    fd = os.environ.get("AECOURSE_GRADE_EVENTS_FD")
    if fd:  # tell the grader the evidence is ready (it copies it out before the work folder goes)
        os.write(int(fd), (json.dumps({"event": DONE_EVENT}) + "\n").encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
