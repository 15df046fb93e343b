"""Read submissions without trusting them, and assemble the notebook the grader runs.

Only the *answer cells* of a submission (nbgrader ``solution`` cells, matched by
``grade_id``) are taken; everything else — check cells, tags, nbval markers,
metadata, stored outputs — comes from the pristine instructor source.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import nbformat

from .. import nbgrader

MAX_FILE_BYTES = 256 * 2**20  # the file as submitted (outputs included), checked before it is read
MAX_SOURCE_BYTES = 20 * 2**20  # the notebook without its outputs
MAX_NOTEBOOK_BYTES = MAX_SOURCE_BYTES  # (former name)
MAX_DEPTH = 64  # JSON nesting a notebook needs is below 10
# nbval reads markers such as ``# NBVAL_SKIP`` from a comment line, whatever number of ``#`` precede them.
_NBVAL_MARKER = re.compile(r"^(\s*#[#\s]*)(NBVAL_\w+)", re.MULTILINE | re.IGNORECASE)


class InvalidNotebook(Exception):
    """The submission is not a notebook we can read; the message says why, for the student."""


def _depth_ok(text: str, limit: int = MAX_DEPTH) -> bool:
    """Whether the JSON text nests at most ``limit`` deep (brackets outside strings; no recursion)."""
    depth = 0
    for m in re.finditer(r'[\[\]{}]', _JSON_STRING.sub('""', text)):
        depth += 1 if m.group() in "[{" else -1
        if depth > limit:
            return False
    return True


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)


def _drop_outputs(raw: dict) -> None:
    for cell in raw.get("cells", []) if isinstance(raw.get("cells"), list) else []:
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        if isinstance(cell, dict) and isinstance(cell.get("attachments"), dict):
            cell["attachments"] = {}
    for ws in raw.get("worksheets", []) if isinstance(raw.get("worksheets"), list) else []:  # nbformat 3
        for cell in ws.get("cells", []) if isinstance(ws, dict) else []:
            if isinstance(cell, dict) and cell.get("cell_type") == "code":
                cell["outputs"] = []


def read_submission(data: bytes) -> nbformat.NotebookNode:
    """Parse a submitted file into an nbformat-4 notebook, or raise :class:`InvalidNotebook`.

    Stored outputs are dropped (the grader never reads them), so a notebook with big outputs
    and small sources is graded normally; the size limit applies to what is left.
    """
    if not data.strip():
        raise InvalidNotebook("empty file")
    if len(data) > MAX_FILE_BYTES:
        raise InvalidNotebook(f"file too large ({len(data) / 2**20:.0f} MB; limit {MAX_FILE_BYTES // 2**20} MB)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidNotebook("not a notebook: the file is not UTF-8 text") from None
    if not _depth_ok(text):
        raise InvalidNotebook(f"not a notebook: JSON nested deeper than {MAX_DEPTH} levels")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        hint = ""
        if re.search(r"^\s*(import |from |def |# %%)", text, re.MULTILINE):
            hint = " (it looks like a Python script renamed .ipynb; submit the notebook itself)"
        raise InvalidNotebook(f"not a notebook: invalid JSON at line {e.lineno}{hint}") from None
    except (RecursionError, ValueError) as e:
        raise InvalidNotebook(f"not a notebook: unreadable JSON ({type(e).__name__})") from None
    if not isinstance(raw, dict) or "nbformat" not in raw:
        raise InvalidNotebook("not a notebook: JSON without an 'nbformat' field")
    major = raw.get("nbformat")
    if not isinstance(major, int) or major not in (3, 4):
        raise InvalidNotebook(f"unsupported notebook format version {major!r} (need 3 or 4)")
    _drop_outputs(raw)
    text = json.dumps(raw)
    if len(text) > MAX_SOURCE_BYTES:
        raise InvalidNotebook(f"notebook too large without its outputs ({len(text) / 2**20:.0f} MB; limit "
                              f"{MAX_SOURCE_BYTES // 2**20} MB)")
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as e:  # nbformat raises many kinds of errors on odd input
        raise InvalidNotebook(f"not a readable notebook: {type(e).__name__}: {str(e)[:200]}") from None
    if not isinstance(nb.get("cells"), list):
        raise InvalidNotebook("not a notebook: no cells")
    return nb


_STUB_LINE = re.compile(r"^\s*(raise\s+NotImplementedError\b.*|pass|\.\.\.)\s*$")


def is_stub(source: str) -> bool:
    """An untouched answer cell: only comments, ``pass``, ``...`` or ``raise NotImplementedError``."""
    lines = [ln for ln in source.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    return all(_STUB_LINE.match(ln) for ln in lines)


def answer_cells(nb) -> tuple[dict[str, str], list[str]]:
    """``{grade_id: source}`` of the submission's answer cells, and notes (duplicates).

    A duplicated answer cell: the last copy that is not an untouched stub is graded (the last
    copy if all are stubs), and a note says so.
    """
    copies: dict[str, list[str]] = {}
    for cell in nb.get("cells", []):
        if nbgrader.is_answer(cell):
            copies.setdefault(nbgrader.grade_id(cell), []).append(nbgrader.source(cell))
    found: dict[str, str] = {}
    notes = []
    for gid, sources in copies.items():
        filled = [i for i, src in enumerate(sources) if not is_stub(src)]
        pick = filled[-1] if filled else len(sources) - 1
        found[gid] = sources[pick]
        if len(sources) > 1:
            notes.append(f"answer cell {gid} appears {len(sources)} times; copy {pick + 1} (the last "
                         f"{'filled' if filled else ''} one) was graded".replace("last  one", "last one"))
    return found, notes


def neutralise(source: str) -> str:
    """Disarm nbval comment markers in student code (``# NBVAL_SKIP`` → ``# disabled-NBVAL_SKIP``)."""
    return _NBVAL_MARKER.sub(lambda m: m.group(1) + "disabled-" + m.group(2), source)


@dataclass
class Part:
    """One auto-graded part: an nbgrader check cell with points."""

    number: int
    grade_id: str
    points: float
    answers: list[str] = field(default_factory=list)  # grade_ids of the answer cells this part depends on


@dataclass
class Layout:
    """What the pristine source contains."""

    parts: list[Part]
    answers: list[str]  # every answer cell's grade_id (code and markdown)
    manual: list[str]  # manually graded answer cells (solution and grade)

    def part(self, grade_id: str) -> Part:
        return next(p for p in self.parts if p.grade_id == grade_id)


def layout(source_nb) -> Layout:
    """Parts (graded check cells, in order) and the answer cells each depends on."""
    parts: list[Part] = []
    answers: list[str] = []
    manual: list[str] = []
    pending: list[str] = []
    for cell in source_nb.cells:
        meta = nbgrader.meta(cell)
        gid = nbgrader.grade_id(cell)
        if not gid:
            continue
        if meta.get("solution"):
            answers.append(gid)
            if meta.get("grade"):
                manual.append(gid)
            elif cell.cell_type == "code":
                pending.append(gid)
        elif meta.get("grade") and cell.cell_type == "code":
            parts.append(Part(len(parts) + 1, gid, float(meta.get("points") or 0), answers=list(pending)))
            pending = []
    return Layout(parts, answers, manual)


@dataclass
class CellInfo:
    """One code cell of the assembled notebook, numbered the way nbval numbers them."""

    kind: str  # "answer", "check", "export", "other"
    grade_id: str | None
    part: int | None  # the part this cell belongs to (1-based), None after the last part


def assemble(source_nb, answers: dict[str, str], exports: dict[str, str]):
    """Pristine source + the student's answer cells + injected export cells.

    ``exports`` maps a check cell's grade_id to the code of an export cell, injected
    right before that check cell. A missing answer cell becomes a stub that raises.
    Returns ``(notebook, [CellInfo per code cell], missing answer ids)``.
    """
    lay = layout(source_nb)
    nb, missing = nbgrader.splice(source_nb, answers, rewrite=neutralise, missing_code=_missing_answer)
    part_of_answer = {a: p.number for p in lay.parts for a in p.answers}
    part_of_check = {p.grade_id: p.number for p in lay.parts}
    cells, infos = [], []
    current_part = 1 if lay.parts else None
    for cell in nb.cells:
        gid = nbgrader.grade_id(cell)
        if gid in exports and gid in part_of_check:
            code = nbformat.v4.new_code_cell(exports[gid])
            code.metadata["aecourse_grade"] = {"export_for": gid}
            cells.append(code)
            infos.append(CellInfo("export", gid, part_of_check[gid]))
        cells.append(cell)
        if cell.cell_type == "code":
            if nbgrader.is_answer(cell):
                infos.append(CellInfo("answer", gid, part_of_answer.get(gid, current_part)))
            elif gid in part_of_check:
                infos.append(CellInfo("check", gid, part_of_check[gid]))
            else:
                infos.append(CellInfo("other", gid, current_part))
        if gid in part_of_check:
            n = part_of_check[gid] + 1
            current_part = n if n <= len(lay.parts) else None
    nb.cells = cells
    return nb, infos, missing


def _missing_answer(gid: str) -> str:
    return f'raise NotImplementedError("answer cell {gid} not found in the submission")'
