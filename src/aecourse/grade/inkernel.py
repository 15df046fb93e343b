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
import sys

import numpy as np

MAX_ERROR_CHARS = 400


class Names:
    """The student's namespace, read by name: ``v("x_test")`` is the object, a ``NameError`` if undefined."""

    def __init__(self, ns: dict):
        self._ns = ns

    def __call__(self, name: str):
        try:
            return self._ns[name]
        except KeyError:
            raise NameError(f"name {name!r} is not defined") from None

    def __contains__(self, name: str) -> bool:
        return name in self._ns


def collect(items: dict, ns: dict, inp: dict) -> dict:
    """Evaluate ``items`` (``{name: fn(names, inp)}``) on the namespace ``ns``: arrays, and ``error:NAME`` texts."""
    names = Names(ns)
    out: dict = {}
    for name, fn in items.items():
        try:
            arr = np.asarray(fn(names, inp))
            if arr.dtype.kind not in "biuf":
                raise TypeError(f"not a numeric array (dtype {arr.dtype})")
            out[name] = np.array(arr)  # a plain copy: never a subclass the student made
        except Exception as e:  # noqa: BLE001 - a student's failure is evidence, not a crash
            out["error:" + name] = np.array(f"{type(e).__name__}: {e}"[:MAX_ERROR_CHARS])
    return out


def export(spec_module: str, part: str, inputs: str, path: str, ns: dict | None = None) -> None:
    """Write part ``part``'s exports (``spec_module``'s ``EXPORTS[part]``) to ``path`` (an ``.npz``).

    ``ns``: the student's namespace (default: the caller's globals, i.e. the notebook's).
    """
    if ns is None:
        ns = sys._getframe(1).f_globals
    spec = importlib.import_module(spec_module)
    with np.load(inputs, allow_pickle=False) as data:
        inp = {k: data[k] for k in data.files}
    np.savez(path, **collect(spec.EXPORTS[part], ns, inp))


CELL_TEMPLATE = '''\
# Injected by the grader (aecourse.grade): exports results for scoring outside this kernel.
from aecourse.grade import inkernel as __aecourse_inkernel
__aecourse_inkernel.export({spec!r}, {part!r}, {inputs!r}, {path!r})
del __aecourse_inkernel
'''


def cell_code(spec_module: str, part: str, inputs: str, path: str) -> str:
    """The source of the export cell the grader injects before part ``part``'s check cell."""
    return CELL_TEMPLATE.format(spec=spec_module, part=part, inputs=inputs, path=path)
