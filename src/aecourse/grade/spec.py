"""What an assignment tells the grader: hidden data, export cells and scoring.

A *spec* is an object (usually a module) with:

- ``NAME``: the assignment's name; ``VERSION``: bump it when scoring changes (re-grades everything);
- ``make_hidden(rng, smoke) -> dict[str, ndarray]``: the hidden data (targets, held-out inputs),
  generated once per gradebook and kept outside the sandbox;
- ``sandbox_inputs(hidden) -> dict[str, ndarray]``: the arrays the export cells may feed to the
  student's code (held-out *inputs*, never targets);
- ``EXPORTS``: ``{check grade_id: {name: fn(v, inp)}}``; right before that check cell, the grader's
  injected cell calls each ``fn`` in :mod:`aecourse.grade.inkernel` (its own namespace, real builtins):
  ``v("name")`` fetches the student's object by name, ``inp`` holds the sandbox inputs; it must
  give a numeric array;
- ``score(grade_id, found, errors, hidden) -> list[Check]``: scores one part from the exported
  arrays (``found``; a missing name has its error in ``errors``), in the grader's own process;
- optional, for an assignment that trains a model: ``SAVE_MODELS`` (``{"part", "names", "files"}``: the
  export cell of that part saves those objects as ``.keras`` files), ``model_inputs(hidden)`` (the
  held-out *inputs* the model evaluation sees), ``MODEL_EVIDENCE`` (``{name: fn(models, inp)}``,
  evaluated by :mod:`aecourse.grade.modeleval` on the models loaded with ``safe_mode=True`` in a
  separate sandboxed process) and ``MODEL_PARTS`` (the parts scored on that evidence too; it
  replaces anything the kernel exported under the same names);
- optional ``bundle_files() -> dict[str, path]``: extra files (e.g. data) a Gradescope bundle needs.

The spec is the module ``grading`` of the assignment's package (see :mod:`aecourse.assignments`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import assignments
from ..assignments import Check, describe  # noqa: F401  (a spec's checks and feedback helpers)


SPEC_ATTRIBUTES = ("NAME", "EXPORTS", "make_hidden", "sandbox_inputs", "score")


def load_spec(assignment_dir: Path):
    """The contract and grading spec of the assignment in ``assignment_dir``, found by its name in the registry.

    Raises :class:`aecourse.assignments.ContractError` for a folder without a valid contract.
    """
    contract = assignments.for_folder(assignment_dir)
    spec = assignments.grading_spec(contract)
    missing = [attr for attr in SPEC_ATTRIBUTES if not hasattr(spec, attr)]
    if missing:
        raise assignments.ContractError(f"the grading spec {spec.__name__} lacks {', '.join(missing)}")
    if spec.NAME != contract.NAME:
        raise assignments.ContractError(f"the grading spec {spec.__name__} is for {spec.NAME!r}, not {contract.NAME!r}")
    return contract, spec


def export_code(spec_module: str, part: str, inputs: str, path: str) -> str:
    """The injected export cell for ``part``: it only calls :func:`aecourse.grade.inkernel.export`."""
    from .inkernel import cell_code

    return cell_code(spec_module, part, inputs, path)


def with_model_evidence(found: dict, errors: dict, model_found: dict, model_errors: dict, names) -> tuple[dict, dict]:
    """A part's kernel evidence joined with the model evidence (step 2).

    The model evidence always wins: a name of ``names`` (the spec's ``MODEL_EVIDENCE``) that the
    kernel exported too — a forgery — is dropped from the kernel's side.
    """
    names = set(names)
    found = {k: v for k, v in found.items() if k not in names}
    errors = {k: v for k, v in errors.items() if k not in names}
    return {**found, **model_found}, {**errors, **model_errors}


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
