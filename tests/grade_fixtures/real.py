"""Submissions for the real assignment, made from its source and student notebooks."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat

ASSIGNMENT = Path(__file__).resolve().parents[2] / "assignments" / "denoising_dimension_reduction"


def _gid(cell):
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def solutions() -> dict[str, str]:
    """Answer cells of the source as a student would leave them: the solution, markers removed."""
    src = nbformat.read(ASSIGNMENT / "source.ipynb", as_version=4)
    out = {}
    for cell in src.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            out[_gid(cell)] = re.sub(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", "", cell.source, flags=re.M)
    return out


def student(answers: dict[str, str] | None = None):
    """The released student notebook with some answer cells filled in."""
    nb = nbformat.read(ASSIGNMENT / "student.ipynb", as_version=4)
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if _gid(cell) in (answers or {}):
            cell.source = answers[_gid(cell)]
    return nb
