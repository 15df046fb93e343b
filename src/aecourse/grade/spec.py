"""What an assignment tells the grader: hidden data, export cells and scoring.

A *spec* is an object (usually a module) with:

- ``NAME``: the assignment's name; ``VERSION``: bump it when scoring changes (re-grades everything);
- ``make_hidden(rng, smoke) -> dict[str, ndarray]``: the hidden data (targets, held-out inputs),
  generated once per gradebook and kept outside the sandbox;
- ``sandbox_inputs(hidden) -> dict[str, ndarray]``: the arrays the export cells may feed to the
  student's code (held-out *inputs*, never targets);
- ``EXPORTS``: ``{check grade_id: {name: python expression}}``; each expression is evaluated in the
  student's kernel right before that check cell, with ``inp`` (the sandbox inputs), ``np`` and
  ``apply(model, x)`` and the helpers defined by the optional ``PRELUDE`` code available, and must
  give a numeric array;
- ``score(grade_id, found, errors, hidden) -> list[Check]``: scores one part from the exported
  arrays (``found``; a missing name has its error in ``errors``), in the grader's own process;
- optional ``bundle_files() -> dict[str, path]``: extra files (e.g. data) a Gradescope bundle needs,
  and ``sandbox_env() -> dict``: environment variables the notebook needs.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class Check:
    """One scored check of a part. Hidden checks show pass/fail only."""

    name: str
    passed: bool
    expected: str = ""
    found: str = ""
    hidden: bool = False
    weight: float = 1.0

    def __post_init__(self):  # numpy scalars in, plain JSON-able values out
        self.passed = bool(self.passed)
        self.hidden = bool(self.hidden)
        self.weight = float(self.weight)
        self.name, self.expected, self.found = str(self.name), str(self.expected), str(self.found)


REGISTRY = {
    # assignment folder name -> spec module
    "denoising_dimension_reduction": "aecourse.grade.denoising",
}


def load_spec(spec: str | None, assignment_dir: Path):
    """Import a spec from a module name or a ``.py`` file; default: by the assignment folder's name."""
    if spec is None:
        name = Path(assignment_dir).resolve().name
        if name not in REGISTRY:
            raise SystemExit(
                f"no grading spec known for assignment {name!r}; pass --spec MODULE_OR_FILE "
                f"(known: {', '.join(sorted(REGISTRY))})"
            )
        spec = REGISTRY[name]
    if spec.endswith(".py"):
        path = Path(spec).resolve()
        mod_name = "aecourse_grade_spec_" + path.stem
        loader = importlib.util.spec_from_file_location(mod_name, path)
        if loader is None:
            raise SystemExit(f"cannot load spec file {spec}")
        mod = importlib.util.module_from_spec(loader)
        sys.modules[mod_name] = mod
        loader.loader.exec_module(mod)
        mod.__grade_spec_file__ = str(path)
    else:
        mod = importlib.import_module(spec)
        mod.__grade_spec_file__ = None
    for attr in ("NAME", "EXPORTS", "make_hidden", "sandbox_inputs", "score"):
        if not hasattr(mod, attr):
            raise SystemExit(f"grading spec {spec} lacks {attr}")
    return mod


EXPORT_TEMPLATE = '''\
# Injected by the grader (aecourse.grade): exports results for scoring outside this kernel.
def __aecourse_export():
    import numpy as np

    def apply(model, x):
        if hasattr(model, "predict"):
            return model.predict(x, verbose=0, batch_size=256)
        return model(x)

    inp = dict(np.load({inputs!r}, allow_pickle=False))
    helpers = {{"inp": inp, "np": np, "apply": apply}}
    exec({prelude!r}, helpers)
    found, errors = {{}}, {{}}
    for name, expr in {items!r}:
        try:
            value = eval(expr, globals(), helpers)
            arr = np.asarray(value)
            if arr.dtype.kind not in "biuf":
                raise TypeError("not a numeric array (dtype %s)" % arr.dtype)
            found[name] = arr
        except Exception as e:
            errors["error:" + name] = np.array(("%s: %s" % (type(e).__name__, e))[:400])
    np.savez({path!r}, **found, **errors)
__aecourse_export()
del __aecourse_export
'''


def export_code(items: dict[str, str], inputs: str, path: str, prelude: str = "") -> str:
    return EXPORT_TEMPLATE.format(items=list(items.items()), inputs=inputs, path=path, prelude=prelude)


MAX_EXPORT_BYTES = 512 * 2**20


def load_export(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read an export file written in the sandbox: plain arrays only, size-checked, no pickles."""
    import zipfile

    found: dict[str, np.ndarray] = {}
    errors: dict[str, str] = {}
    if path.is_symlink() or not path.is_file():
        raise ValueError("no export file")
    if path.stat().st_size > MAX_EXPORT_BYTES:
        raise ValueError("export file too large")
    with zipfile.ZipFile(path) as zf:
        if sum(i.file_size for i in zf.infolist()) > MAX_EXPORT_BYTES:
            raise ValueError("export file too large")
    with np.load(path, allow_pickle=False) as data:
        for key in data.files:
            try:
                arr = data[key]
            except ValueError:  # an object array (pickle) or a malformed member
                errors[key.removeprefix("error:")] = "not a plain numeric array"
                continue
            if key.startswith("error:"):
                errors[key[6:]] = str(arr)
            elif arr.dtype.kind in "biuf":
                found[key] = arr
    return found, errors


def describe(arr) -> str:
    """Short description of an array for feedback: shape, dtype and range."""
    if arr is None:
        return "nothing"
    a = np.asarray(arr)
    if a.size == 0:
        return f"an empty array of shape {a.shape}"
    if a.dtype.kind in "biuf":
        return f"shape {a.shape}, {a.dtype}, values in [{float(np.nanmin(a)):.3g}, {float(np.nanmax(a)):.3g}]"
    return f"shape {a.shape}, {a.dtype}"
