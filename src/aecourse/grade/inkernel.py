"""The grader's code inside the student's kernel: one call per export cell, in this module's own namespace.

The grader injects, right before a part's check cell, a cell that only imports this module
and calls :func:`export`. Everything else runs *here*, with this module's globals, the real
builtins and its own imports — never in the student's namespace — so a student's ``dict``,
``eval``, ``np``, ``print``, ``globals`` or ``apply`` cannot break or bend it. The student's
objects are fetched by name from the notebook's namespace (:class:`Names`).

What this code exports is what the kernel *says*: it is trusted only for the parts that must
run the student's own functions (e.g. ``add_noise``). The parts that judge the trained model
are scored from the saved model, outside the kernel (:mod:`aecourse.grade.modeleval`).
"""

from __future__ import annotations

import importlib
import os
import sys

import numpy as np

from ..assignments import Names, collect  # noqa: F401  (the same evidence code the notebook's checks use)


def export(spec_module: str, part: str, inputs: str, path: str, ns: dict | None = None) -> None:
    """Write part ``part``'s exports (``spec_module``'s ``EXPORTS[part]``) to ``path`` (an ``.npz``).

    ``ns``: the student's namespace (default: the caller's globals, i.e. the notebook's).
    """
    if ns is None:
        ns = sys._getframe(1).f_globals
    spec = importlib.import_module(spec_module)
    with np.load(inputs, allow_pickle=False) as data:
        inp = {k: data[k] for k in data.files}
    out = collect(spec.EXPORTS[part], ns, inp)
    out.update(save_models(spec, part, ns, os.path.dirname(path)))
    np.savez(path, **out)


def save_models(spec, part: str, ns: dict, folder: str) -> dict:
    """Save the spec's models (``SAVE_MODELS``) as ``.keras`` files, when ``part`` is the part that saves them.

    Returns ``error:save_NAME`` texts for the models that could not be saved.
    """
    save = getattr(spec, "SAVE_MODELS", None)
    errors: dict = {}
    if not save or part != save["part"]:
        return errors
    for name, file in zip(save["names"], save["files"]):
        try:
            Names(ns)(name).save(os.path.join(folder, file))
        except Exception as e:  # noqa: BLE001
            errors["error:save_" + name] = np.array(f"{type(e).__name__}: {e}"[:400])
    return errors


CELL_TEMPLATE = '''\
# Injected by the grader (aecourse.grade): exports results for scoring outside this kernel.
from aecourse.grade import inkernel as __aecourse_inkernel
__aecourse_inkernel.export({spec!r}, {part!r}, {inputs!r}, {path!r})
del __aecourse_inkernel
'''


def cell_code(spec_module: str, part: str, inputs: str, path: str) -> str:
    """The source of the export cell the grader injects before part ``part``'s check cell."""
    return CELL_TEMPLATE.format(spec=spec_module, part=part, inputs=inputs, path=path)
