"""nbgrader's own ``generate_assignment`` agrees with ours on everything students see.

The instructor source follows nbgrader's conventions so that instructors who run nbgrader can
use it as it is. Here nbgrader itself (pinned, installed into its own cached virtual
environment under ``_build/`` so it cannot disturb the course's pinned packages) generates the
student version in a temporary nbgrader course folder, and we compare it, cell by cell, with
the committed ``student.ipynb`` that ``python -m aecourse.assign`` writes: cell types, ids and
text (stubs in place of solutions, hidden tests removed), grade ids, points, which cells are
graded, solutions or locked, and which cells students cannot edit or delete.

nbgrader also records a checksum and the cell type in each graded cell's metadata; that is
its own bookkeeping for autograding, which students never see, so it is not compared.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "assignments" / "denoising_dimension_reduction"
NBGRADER = "nbgrader==0.9.6"   # resolves on Python 3.11 (pip install --dry-run); test-only
VENV = ROOT / "_build" / "venvs" / "nbgrader"
SEEN = ("grade_id", "grade", "solution", "locked", "points", "schema_version", "task")


@pytest.fixture(scope="module")
def nbgrader() -> Path:
    exe, stamp = VENV / "bin" / "nbgrader", VENV / ".installed"
    want = f"{sys.version.split()[0]} {NBGRADER}"
    if not (exe.is_file() and stamp.is_file() and stamp.read_text() == want):
        shutil.rmtree(VENV, ignore_errors=True)
        VENV.parent.mkdir(parents=True, exist_ok=True)
        base = getattr(sys, "_base_executable", sys.executable)
        log = VENV.with_suffix(".log")
        with open(log, "w") as out:
            ok = subprocess.run([base, "-m", "venv", str(VENV)], stdout=out, stderr=subprocess.STDOUT).returncode == 0
            ok = ok and subprocess.run([str(VENV / "bin" / "python"), "-m", "pip", "install", "-q", NBGRADER],
                                       stdout=out, stderr=subprocess.STDOUT, timeout=1800).returncode == 0
        if not ok:
            shutil.rmtree(VENV, ignore_errors=True)
            message = f"could not install {NBGRADER} into {VENV} (log: {log}): " + log.read_text()[-1500:]
            if os.environ.get("CI"):
                pytest.fail(message)
            pytest.skip(message)
        stamp.write_text(want)
    return exe


@pytest.fixture(scope="module")
def released(nbgrader, tmp_path_factory) -> nbformat.NotebookNode:
    """nbgrader generate_assignment on the instructor source, in a fresh nbgrader course folder."""
    course = tmp_path_factory.mktemp("nbgrader-course")
    (course / "source" / "denoising").mkdir(parents=True)
    shutil.copy2(FOLDER / "source.ipynb", course / "source" / "denoising" / "denoising.ipynb")
    env = dict(os.environ, PATH=f"{nbgrader.parent}{os.pathsep}{os.environ.get('PATH', '')}")  # it runs `alembic`
    for key in ("PYTHONPATH", "VIRTUAL_ENV"):
        env.pop(key, None)
    proc = subprocess.run([str(nbgrader), "generate_assignment", "denoising", f"--course-dir={course}", "--force"],
                          cwd=course, env=env, capture_output=True, text=True, timeout=600)
    out = course / "release" / "denoising" / "denoising.ipynb"
    assert proc.returncode == 0 and out.is_file(), proc.stdout[-3000:] + proc.stderr[-3000:]
    return nbformat.read(out, as_version=4)


@pytest.fixture(scope="module")
def ours() -> nbformat.NotebookNode:
    return nbformat.read(FOLDER / "student.ipynb", as_version=4)


def visible(cell, skip=()) -> dict:
    """What a student sees of a cell (and what decides their points)."""
    meta = cell.metadata.get("nbgrader", {})
    seen = {"id": cell.get("id"), "cell_type": cell.cell_type, "source": cell.source,
            "nbgrader": {k: meta[k] for k in SEEN if k in meta},
            "editable": cell.metadata.get("editable", True), "deletable": cell.metadata.get("deletable", True)}
    for key in skip:
        seen.pop(key)
    return seen


def is_answer(cell) -> bool:
    return bool(cell.metadata.get("nbgrader", {}).get("solution"))


@pytest.mark.slow
def test_nbgrader_generate_assignment_matches_our_student_notebook(released, ours):
    assert released.metadata.get("kernelspec") == ours.metadata.get("kernelspec")
    assert len(released.cells) == len(ours.cells), "different number of cells"
    differences = []
    for i, (theirs, mine) in enumerate(zip(released.cells, ours.cells)):
        # Whether an answer cell may be deleted is the one known difference: pinned below.
        skip = ("deletable",) if is_answer(mine) else ()
        a, b = visible(theirs, skip), visible(mine, skip)
        if a != b:
            differences.append(f"cell {i} ({b['nbgrader'].get('grade_id', b['cell_type'])}): "
                                + ", ".join(f"{k}: nbgrader {a[k]!r} vs ours {b[k]!r}" for k in a if a[k] != b[k]))
    assert not differences, "\n".join(differences)
    points = sum(c.metadata.get("nbgrader", {}).get("points", 0) for c in released.cells)
    assert points == sum(c.metadata.get("nbgrader", {}).get("points", 0) for c in ours.cells) > 0


@pytest.mark.slow
def test_answer_cells_cannot_be_deleted_as_in_nbgrader(released, ours):
    answers = [(i, c) for i, c in enumerate(ours.cells) if is_answer(c)]
    assert answers
    for i, cell in answers:
        assert released.cells[i].metadata.get("deletable") is False, "nbgrader itself changed"
        assert released.cells[i].metadata.get("editable", True) is True
        assert cell.metadata.get("editable", True) is True
        assert cell.metadata.get("deletable", True) is False, f"answer cell {cell.metadata['nbgrader']['grade_id']}"
