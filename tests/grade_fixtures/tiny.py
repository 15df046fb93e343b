"""A tiny synthetic nbgrader assignment for the grader tests: three graded parts, no TensorFlow."""

from __future__ import annotations

import copy
import re

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

SETUP = "import numpy as np"
ANSWERS = {
    "scale_answer": "def scale(x, factor):\n    ### BEGIN SOLUTION\n    return np.asarray(x, dtype=float) * factor\n"
                    "    ### END SOLUTION",
    "normalize_answer": "def normalize(v):\n    ### BEGIN SOLUTION\n    v = np.asarray(v, dtype=float)\n"
                        "    return (v - v.mean()) / v.std()\n    ### END SOLUTION",
    "fit_answer": "def fit_line(x, y):\n    ### BEGIN SOLUTION\n    return np.polyfit(x, y, 1)\n    ### END SOLUTION",
}
CHECKS = {
    "check_scale": "assert np.allclose(scale(np.ones(3), 2.0), 2.0)\n### BEGIN HIDDEN TESTS\n"
                   "assert scale(np.zeros(2), 5.0).shape == (2,)\n### END HIDDEN TESTS",
    "check_normalize": "z = normalize(np.arange(10.0))\nassert abs(z.mean()) < 1e-9 and abs(z.std() - 1) < 1e-9",
    "check_fit": "assert np.allclose(fit_line(np.arange(5.0), 2 * np.arange(5.0) + 1), [2, 1])",
}
POINTS = {"check_scale": 2, "check_normalize": 2, "check_fit": 1}


def _meta(grade_id, solution=False, grade=False, points=0, locked=False):
    m = {"grade_id": grade_id, "solution": solution, "grade": grade, "locked": locked, "schema_version": 3}
    if grade:
        m["points"] = points
    return {"nbgrader": m}


def source_notebook():
    cells = [new_markdown_cell("# Tiny assignment\nThree small tasks.")]
    setup = new_code_cell(SETUP)
    setup.metadata.update(_meta("setup", locked=True))
    cells.append(setup)
    for (aid, asrc), (cid, csrc) in zip(ANSWERS.items(), CHECKS.items()):
        cells.append(new_markdown_cell(f"## Task {aid}"))
        a = new_code_cell(asrc)
        a.metadata.update(_meta(aid, solution=True))
        cells.append(a)
        c = new_code_cell(csrc)
        c.metadata.update(_meta(cid, grade=True, points=POINTS[cid], locked=True))
        cells.append(c)
    m = new_markdown_cell("Interpretation:\n### BEGIN SOLUTION\nIt scales.\n### END SOLUTION")
    m.metadata.update(_meta("interpretation", solution=True, grade=True, points=1))
    cells.append(m)
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def student_notebook(source=None):
    """nbgrader-style release: solutions become stubs, hidden tests disappear."""
    nb = copy.deepcopy(source or source_notebook())
    for cell in nb.cells:
        cell.source = re.sub(r"( *)### BEGIN SOLUTION.*?### END SOLUTION",
                             lambda m: m.group(1) + ("raise NotImplementedError()" if cell.cell_type == "code"
                                                     else "YOUR ANSWER HERE"),
                             cell.source, flags=re.S)
        cell.source = re.sub(r"\n?### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS", "", cell.source, flags=re.S)
    return nb


def with_answers(answers: dict[str, str], base=None):
    """The student notebook with some answer cells filled in (grade_id -> source)."""
    nb = copy.deepcopy(base or student_notebook())
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in answers:
            cell.source = answers[gid]
    return nb


def solved():
    return {k: re.sub(r" *### (BEGIN|END) SOLUTION\n?", "", v) for k, v in ANSWERS.items()}


def write(nb, path):
    nbformat.write(nb, str(path))
    return path
