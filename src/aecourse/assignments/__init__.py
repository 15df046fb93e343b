"""The assignments, one folder each, found through this registry.

An assignment named ``NAME`` is the package ``aecourse/assignments/NAME/`` (its rules and
checks) plus the repository folder ``assignments/NAME/`` (``source.ipynb``, the instructor
source, and ``student.ipynb``, generated from it by ``python -m aecourse.assign``). The
package holds:

- ``__init__.py``: the **contract**: ``NAME`` (the folder's name), ``PARTS`` (one
  :class:`Part` per graded part: its check cell's and answer cell's nbgrader ``grade_id``,
  points, the names the answer must leave), its constants and thresholds;
- ``rulebook.py``: one numpy-only function per graded part, taking the arrays the part is
  judged on and returning its :class:`Check` list — the notebook's checks and the grader
  call the same functions;
- ``checks.py``: the visible checks the notebook's check cells call;
- ``grading.py``: the grading spec (hidden data, what the grader collects, scoring).

Neither :mod:`aecourse.assign` nor the grader names an assignment: they ask :func:`load`
(or :func:`for_folder`) for the contract, and a folder without a valid contract is an
error, never skipped.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from pathlib import Path


class ContractError(ValueError):
    """An assignment is not registered, or its contract is incomplete or inconsistent."""


@dataclass(frozen=True)
class Part:
    """One graded part of an assignment.

    ``id`` is the nbgrader ``grade_id`` of the part's check cell (the cell that carries the
    points) and the gradebook column; ``answer_id`` is the ``grade_id`` of the answer cell
    the student fills in; ``names`` are the names that answer cell must leave behind.
    A part with ``autograded=False`` is graded by hand (its answer cell is its own check).
    """

    id: str
    answer_id: str
    title: str
    points: int
    autograded: bool
    names: tuple[str, ...]


@dataclass
class Check:
    """One check of a part: what it looks at, whether it passed, what was expected and found, a hint.

    A hidden check shows only pass or fail in the grader's feedback.
    """

    name: str
    passed: bool
    expected: str = ""
    found: str = ""
    hidden: bool = False
    weight: float = 1.0
    hint: str = ""

    def __post_init__(self):  # numpy scalars in, plain JSON-able values out
        self.passed = bool(self.passed)
        self.hidden = bool(self.hidden)
        self.weight = float(self.weight)
        self.name, self.expected, self.found, self.hint = map(str, (self.name, self.expected, self.found, self.hint))


def describe(arr) -> str:
    """Short description of an array for feedback: shape, dtype and range."""
    import numpy as np

    if arr is None:
        return "nothing"
    a = np.asarray(arr)
    if a.size == 0:
        return f"an empty array of shape {a.shape}"
    if a.dtype.kind in "biuf":
        return f"shape {a.shape}, {a.dtype}, values in [{float(np.nanmin(a)):.3g}, {float(np.nanmax(a)):.3g}]"
    return f"shape {a.shape}, {a.dtype}"


def merge_evidence(*sources) -> dict:
    """One evidence dict from several: arrays by name, and ``"errors"``: why a name could not be collected.

    A source may hold its errors under ``"errors"`` (a dict) or as ``"error:NAME"`` entries.
    """
    ev: dict = {"errors": {}}
    for src in sources:
        for key, value in src.items():
            if key == "errors":
                ev["errors"].update({k: str(v) for k, v in value.items()})
            elif key.startswith("error:"):
                ev["errors"][key[len("error:"):]] = str(value)
            else:
                ev[key] = value
    return ev


def passed(checks: list[Check]) -> bool:
    """A part earns its points when every one of its checks passes (and it has checks)."""
    return bool(checks) and all(c.passed for c in checks)


class Names:
    """A notebook's namespace, read by name: ``v("x_test")`` is the object, a ``NameError`` if undefined.

    The evidence functions of a rulebook receive one of these, never the namespace itself, so
    nothing they do depends on (or changes) the student's other names.
    """

    def __init__(self, ns):
        self._ns = ns

    def __call__(self, name: str):
        try:
            return self._ns[name]
        except KeyError:
            raise NameError(f"name {name!r} is not defined") from None

    def __contains__(self, name: str) -> bool:
        return name in self._ns


MAX_ERROR_CHARS = 400


def collect(items: dict, ns, inp: dict) -> dict:
    """Evaluate evidence ``items`` (``{name: fn(v, inp)}``) on the namespace ``ns``.

    Returns numeric arrays by name, and ``"error:NAME"`` texts for the names that failed
    (the failure is evidence, never a crash).
    """
    import numpy as np

    names = Names(ns)
    out: dict = {}
    for name, fn in items.items():
        try:
            arr = np.asarray(fn(names, inp))
            if arr.dtype.kind not in "biuf":
                raise TypeError(f"not a numeric array (dtype {arr.dtype})")
            out[name] = np.array(arr)  # a plain copy: never a subclass the student made
        except Exception as e:  # noqa: BLE001
            out["error:" + name] = np.array(f"{type(e).__name__}: {e}"[:MAX_ERROR_CHARS])
    return out


# --------------------------------------------------------------------------- registry
def names() -> list[str]:
    """Every registered assignment: the packages below ``aecourse/assignments/``."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if m.ispkg)


def _require(contract, attr: str, name: str):
    if not hasattr(contract, attr):
        raise ContractError(f"assignment {name!r}: its contract (aecourse/assignments/{name}/__init__.py) "
                            f"lacks {attr}")
    return getattr(contract, attr)


def validate(contract, name: str) -> None:
    """Raise :class:`ContractError` unless ``contract`` is a complete, consistent contract named ``name``."""
    if _require(contract, "NAME", name) != name:
        raise ContractError(f"assignment {name!r}: NAME is {contract.NAME!r}; it must be the folder's name")
    parts = _require(contract, "PARTS", name)
    if not parts or not all(isinstance(p, Part) for p in parts):
        raise ContractError(f"assignment {name!r}: PARTS must be a non-empty tuple of aecourse.assignments.Part")
    for what in ("id", "answer_id"):
        ids = [getattr(p, what) for p in parts]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ContractError(f"assignment {name!r}: part {what}s used twice: {', '.join(dup)}")
    bad = [p.id for p in parts if not isinstance(p.points, int) or p.points <= 0]
    if bad:
        raise ContractError(f"assignment {name!r}: parts {', '.join(bad)} need a positive whole number of points")
    if not any(p.autograded for p in parts):
        raise ContractError(f"assignment {name!r}: no autograded part")


def load(name: str):
    """The contract module of a registered assignment (validated), or :class:`ContractError`."""
    if name not in names():
        known = ", ".join(names()) or "none"
        raise ContractError(f"no registered assignment named {name!r} (registered: {known}); an assignment needs "
                            f"a package src/aecourse/assignments/{name}/ with its contract, rulebook, checks and "
                            "grading spec")
    contract = importlib.import_module(f"{__name__}.{name}")
    validate(contract, name)
    return contract


def for_folder(folder: str | Path):
    """The contract of the assignment whose repository folder is ``folder`` (``assignments/NAME``)."""
    return load(Path(folder).resolve().name)


def grading_spec(contract):
    """The contract's grading spec (``aecourse.assignments.NAME.grading``)."""
    return importlib.import_module(f"{contract.__name__}.grading")


def find_part(parts, part_id: str) -> Part:
    """The :class:`Part` in ``parts`` with this id (``KeyError`` naming the known ids otherwise)."""
    for p in parts:
        if p.id == part_id:
            return p
    raise KeyError(f"no part {part_id!r}; parts are {', '.join(p.id for p in parts)}")
