"""nbgrader's notebook conventions, written once: markers, cell metadata, strip and splice.

The instructor source of an assignment follows nbgrader verbatim, so an instructor who runs
nbgrader can use it as it is:

- answer cells carry ``nbgrader`` metadata with ``solution: true``; in code cells the lines
  between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` are the solution (the student
  version holds ``# YOUR CODE HERE`` / ``raise NotImplementedError()`` there, with the same
  indentation), in markdown cells ``YOUR ANSWER HERE``; an answer cell without markers is a
  solution as a whole;
- check cells carry ``grade: true`` and ``points``; the lines between
  ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS`` are left out of the student version.

:func:`strip` makes the student version (release); :func:`splice` puts a student's answers
back into a pristine copy of the source (grading); :func:`solutions` and :func:`fill` give
the answers a student who solved the assignment would hand in (tests, benchmarks). Used by
:mod:`aecourse.assign`, the grader, the tests and the benchmarks.
"""

from __future__ import annotations

import copy

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
TEXT_STUB = "YOUR ANSWER HERE"
MARKERS = (BEGIN_SOLUTION, END_SOLUTION, BEGIN_HIDDEN, END_HIDDEN)


class SourceError(ValueError):
    """The instructor source breaks a convention (unbalanced markers, duplicate ids, ...)."""


# --------------------------------------------------------------------------- metadata
def meta(cell) -> dict:
    """A cell's ``nbgrader`` metadata (an empty dict when it has none or it is malformed)."""
    m = (cell.get("metadata") or {}).get("nbgrader") if isinstance(cell, dict) else None
    return m if isinstance(m, dict) else {}


def grade_id(cell) -> str | None:
    gid = meta(cell).get("grade_id")
    return gid if isinstance(gid, str) and gid else None


def is_answer(cell) -> bool:
    return bool(meta(cell).get("solution")) and grade_id(cell) is not None


def source(cell) -> str:
    """A cell's source as one string (nbformat allows a list of lines on disk)."""
    src = cell.get("source", "") if isinstance(cell, dict) else ""
    if isinstance(src, list):
        src = "".join(str(s) for s in src)
    return str(src)


def cell_metadata(grade_id: str, solution: bool = False, grade: bool = False, points=None,
                  locked: bool = False) -> dict:
    """The metadata nbgrader writes for a cell (``{"nbgrader": {...}}``), for building notebooks."""
    m = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3, "solution": solution,
         "task": False}
    if points is not None:
        m["points"] = points
    return {"nbgrader": m}


# --------------------------------------------------------------------------- regions
def regions(lines: list[str], begin: str, end: str, where: str) -> list[tuple[int, int]]:
    """(start, stop) line indices of each begin..end region, markers included."""
    out, start = [], None
    for i, line in enumerate(lines):
        s = line.strip()
        if s == begin:
            if start is not None:
                raise SourceError(f"{where}: '{begin}' at line {i + 1} inside another region")
            start = i
        elif s == end:
            if start is None:
                raise SourceError(f"{where}: '{end}' at line {i + 1} without '{begin}'")
            out.append((start, i))
            start = None
    if start is not None:
        raise SourceError(f"{where}: '{begin}' at line {start + 1} is never closed by '{end}'")
    return out


def _replace_regions(text: str, begin: str, end: str, where: str, replacement) -> str:
    """Replace each region by ``replacement(indent)`` lines (markers included)."""
    lines = text.split("\n")
    out, pos = [], 0
    for start, stop in regions(lines, begin, end, where):
        out.extend(lines[pos:start])
        indent = lines[start][: len(lines[start]) - len(lines[start].lstrip())]
        out.extend(indent + s for s in replacement(lines[start + 1:stop]))
        pos = stop + 1
    out.extend(lines[pos:])
    return "\n".join(out)


def stub_solutions(text: str, cell_type: str, where: str = "cell") -> str:
    """The student version of an answer cell: each solution region becomes the stub."""
    stub = CODE_STUB if cell_type == "code" else TEXT_STUB
    if not regions(text.split("\n"), BEGIN_SOLUTION, END_SOLUTION, where):
        return stub
    return _replace_regions(text, BEGIN_SOLUTION, END_SOLUTION, where, lambda _: stub.split("\n"))


def remove_hidden(text: str, where: str = "cell") -> str:
    """A check cell without its hidden-test regions (and without trailing blank lines)."""
    lines = _replace_regions(text, BEGIN_HIDDEN, END_HIDDEN, where, lambda _: ["\0"]).split("\n")
    out = [line for line in lines if not line.endswith("\0")]
    while out and not out[-1].strip():
        out.pop()
    return "\n".join(out)


def solved(text: str) -> str:
    """An answer cell as a student who solved it leaves it: the solution, markers removed."""
    lines = text.split("\n")
    return "\n".join(line for line in lines if line.strip() not in (BEGIN_SOLUTION, END_SOLUTION))


def replace_solution(text: str, solution: str, where: str = "cell") -> str:
    """The answer cell with its (single) solution region replaced by ``solution`` (e.g. a wrong answer)."""
    found = regions(text.split("\n"), BEGIN_SOLUTION, END_SOLUTION, where)
    if len(found) != 1:
        raise SourceError(f"{where}: expected one solution region, found {len(found)}")
    return _replace_regions(text, BEGIN_SOLUTION, END_SOLUTION, where, lambda _: solution.strip("\n").split("\n"))


# --------------------------------------------------------------------------- notebooks
def validate(nb) -> dict[str, int]:
    """Raise :class:`SourceError` unless ``nb`` follows the conventions; return ``{grade_id: cell index}``."""
    ids: dict[str, int] = {}
    for i, cell in enumerate(nb.cells):
        m = meta(cell)
        where = f"cell {i} ({cell.cell_type})"
        text = cell.source
        if not m:
            for marker in MARKERS:
                if marker in text:
                    raise SourceError(f"{where} holds '{marker}' but has no nbgrader metadata")
            continue
        gid = m.get("grade_id")
        if not gid:
            raise SourceError(f"{where} has nbgrader metadata without a grade_id")
        if gid in ids:
            raise SourceError(f"{where}: grade_id {gid!r} already used by cell {ids[gid]}")
        ids[gid] = i
        if m.get("schema_version") != 3:
            raise SourceError(f"{where} ({gid}): nbgrader schema_version must be 3")
        regions(text.split("\n"), BEGIN_SOLUTION, END_SOLUTION, where)
        regions(text.split("\n"), BEGIN_HIDDEN, END_HIDDEN, where)
        if BEGIN_SOLUTION in text and not m.get("solution"):
            raise SourceError(f"{where} ({gid}) has a solution region but solution is not true")
        if BEGIN_HIDDEN in text and not m.get("grade"):
            raise SourceError(f"{where} ({gid}) has hidden tests but grade is not true")
        if m.get("grade") and "points" not in m:
            raise SourceError(f"{where} ({gid}) is graded but has no points")
    return ids


def strip(nb):
    """The student version of a source notebook (a new notebook; ``nb`` is untouched).

    Solutions become stubs, hidden tests disappear, outputs and execution counts are
    cleared, locked and graded cells are marked read-only, answer cells undeletable (as nbgrader does).
    """
    nb = copy.deepcopy(nb)
    for i, cell in enumerate(nb.cells):
        m = meta(cell)
        where = f"cell {i} ({m.get('grade_id', cell.cell_type)})"
        if m.get("solution"):
            cell.source = stub_solutions(cell.source, cell.cell_type, where)
        if m.get("grade") or BEGIN_HIDDEN in cell.source:
            cell.source = remove_hidden(cell.source, where)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cell.metadata.pop("execution", None)
        if m.get("locked") or (m.get("grade") and not m.get("solution")):
            cell.metadata["editable"] = False
            cell.metadata["deletable"] = False
        elif m.get("solution"):  # as nbgrader's lock_solution_cells: editable, never deleted by accident
            cell.metadata["deletable"] = False
    nb.metadata.pop("widgets", None)
    return nb


def solutions(nb) -> dict[str, str]:
    """``{grade_id: source}`` of every answer cell of a source notebook, solved (markers removed)."""
    return {grade_id(c): solved(c.source) for c in nb.cells if is_answer(c)}


def fill(nb, answers: dict[str, str]):
    """A copy of ``nb`` with the answer cells named in ``answers`` replaced (grade_id -> source)."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if grade_id(cell) in answers and meta(cell).get("solution"):
            cell.source = answers[grade_id(cell)]
    return nb


def splice(source_nb, answers: dict[str, str], rewrite=None, missing_code=None):
    """A pristine copy of ``source_nb`` with the student's ``answers`` (grade_id -> source) in its answer cells.

    Outputs and attachments of the source are dropped. ``rewrite(source)`` is applied to each
    spliced code answer (e.g. to neutralise nbval markers); an answer cell the student's
    notebook lacks gets ``missing_code(grade_id)`` (code) or an empty text. Returns
    ``(notebook, [grade_ids missing from answers])``.
    """
    nb = copy.deepcopy(source_nb)
    missing = []
    for cell in nb.cells:
        cell.pop("attachments", None)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        if not is_answer(cell):
            continue
        gid = grade_id(cell)
        if gid in answers:
            text = answers[gid]
            cell.source = rewrite(text) if rewrite and cell.cell_type == "code" else text
        else:
            missing.append(gid)
            cell.source = (missing_code(gid) if missing_code else "") if cell.cell_type == "code" else ""
    return nb, missing
