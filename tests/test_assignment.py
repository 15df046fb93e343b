"""The denoising assignment: its source, the generated student notebook, and nbval runs of both.

- the generator (aecourse.assign) follows nbgrader's conventions and is deterministic;
- the committed student notebook is exactly what the generator writes from the source;
- the instructor source passes every cell under nbval (smoke mode);
- the student notebook as released fails only where expected: NotImplementedError in the
  answer cells, CheckError in the check cells, nothing else;
- a wrong answer spliced into the source fails exactly the check cell that should catch it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from aecourse import assign, assignments, nbgrader
from aecourse.assignments import denoising_dimension_reduction as spec

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "assignments" / spec.NAME
SOURCE = FOLDER / assign.SOURCE_NAME
STUDENT = FOLDER / assign.STUDENT_NAME
TINY = ROOT / "assignments" / "tiny"
_meta = nbgrader.cell_metadata


def tiny_source():
    answer = new_code_cell("def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n\ny = f(3)",
                           metadata=_meta("answer_f", solution=True))
    answer.outputs = [nbformat.v4.new_output("stream", name="stdout", text="secret output\n")]
    answer.execution_count = 4
    whole = new_code_cell("z = 42  # secret whole-cell answer", metadata=_meta("answer_z", solution=True))
    check = new_code_cell("assert y == 6\n### BEGIN HIDDEN TESTS\nassert f(10) == 20\n### END HIDDEN TESTS",
                          metadata=_meta("check_f", grade=True, points=2, locked=True))
    text = new_markdown_cell("Explain.\n### BEGIN SOLUTION\nBecause of reasons.\n### END SOLUTION",
                             metadata=_meta("essay", solution=True, grade=True, points=1))
    plain = new_code_cell("print('hello')")
    nb = new_notebook(cells=[plain, answer, whole, check, text])
    for i, c in enumerate(nb.cells):
        c.id = f"c{i}"
    return nb


# --------------------------------------------------------------------------- generator
def test_solution_regions_become_stubs_with_their_indentation():
    student = assign.make_student(tiny_source())
    assert student.cells[1].source == ("def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n\ny = f(3)")
    assert student.cells[2].source == "# YOUR CODE HERE\nraise NotImplementedError()"
    assert student.cells[4].source == "Explain.\nYOUR ANSWER HERE"
    assert student.cells[0].source == "print('hello')"


def test_hidden_tests_outputs_and_locks():
    src = tiny_source()
    student = assign.make_student(src)
    assert student.cells[3].source == "assert y == 6"
    assert student.cells[1].outputs == [] and student.cells[1].execution_count is None
    assert student.cells[3].metadata["editable"] is False and student.cells[3].metadata["deletable"] is False
    assert student.cells[3].metadata["nbgrader"]["points"] == 2, "nbgrader metadata is kept"
    assert src.cells[1].outputs, "the source is not modified"


def test_generation_is_deterministic():
    first = nbformat.writes(assign.make_student(tiny_source()))
    assert nbformat.writes(assign.make_student(tiny_source())) == first
    for secret in ("2 * x", "secret whole-cell", "f(10) == 20", "Because of reasons", "secret output", "BEGIN"):
        assert secret not in first


@pytest.mark.parametrize("bad, message", [
    ("### BEGIN SOLUTION\nx = 1", "never closed"),
    ("x = 1\n### END SOLUTION", "without"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "inside another"),
])
def test_unbalanced_markers_are_refused(bad, message):
    nb = new_notebook(cells=[new_code_cell(bad, metadata=_meta("a", solution=True))])
    with pytest.raises(assign.SourceError, match=message):
        assign.validate_source(nb)
    with pytest.raises(assign.SourceError):
        assign.make_student(nb)


def test_markers_without_metadata_and_duplicate_ids_are_refused():
    nb = new_notebook(cells=[new_code_cell("### BEGIN SOLUTION\nx = 1\n### END SOLUTION")])
    with pytest.raises(assign.SourceError, match="no nbgrader metadata"):
        assign.validate_source(nb)
    nb = new_notebook(cells=[new_code_cell("x = 1", metadata=_meta("a", solution=True)),
                             new_code_cell("y = 1", metadata=_meta("a", solution=True))])
    with pytest.raises(assign.SourceError, match="already used"):
        assign.validate_source(nb)


def test_cli_writes_and_checks(tmp_path):
    folder = tmp_path / "tiny"  # a registered assignment's name
    folder.mkdir()
    shutil.copy(TINY / assign.SOURCE_NAME, folder / assign.SOURCE_NAME)
    assert assign.main([str(folder), "--check"]) == 1
    assert assign.main([str(folder)]) == 0
    first = (folder / assign.STUDENT_NAME).read_bytes()
    assert assign.main([str(folder)]) == 0 and (folder / assign.STUDENT_NAME).read_bytes() == first
    assert assign.main([str(folder), "--check"]) == 0
    (folder / assign.STUDENT_NAME).write_text((folder / assign.STUDENT_NAME).read_text() + " ")
    assert assign.main([str(folder), "--check"]) == 1
    assert assign.main([str(tmp_path / "missing")]) == 2


def test_a_folder_without_a_registered_contract_is_an_error(tmp_path, capsys):
    folder = tmp_path / "demo"
    folder.mkdir()
    nbformat.write(tiny_source(), folder / assign.SOURCE_NAME)
    assert assign.main([str(folder)]) == 2
    assert "no registered assignment named 'demo'" in capsys.readouterr().err
    assert not (folder / assign.STUDENT_NAME).exists()
    with pytest.raises(assignments.ContractError, match="registered: .*denoising_dimension_reduction"):
        assign.generate(folder)


def test_a_source_that_lacks_a_part_of_its_contract_is_refused(tmp_path, capsys):
    folder = tmp_path / "tiny"
    folder.mkdir()
    nb = nbformat.read(TINY / assign.SOURCE_NAME, as_version=4)
    nb.cells = [c for c in nb.cells if nbgrader.grade_id(c) != "check_fit"]
    nbformat.write(nb, folder / assign.SOURCE_NAME)
    assert assign.main([str(folder)]) == 2
    assert "part 'check_fit': no cell with grade_id 'check_fit'" in capsys.readouterr().err


@pytest.mark.parametrize("name", assignments.names())
def test_every_registered_assignment_is_released_and_up_to_date(name):
    contract = assignments.load(name)
    folder = ROOT / "assignments" / name
    assert (folder / assign.SOURCE_NAME).is_file(), f"{name}: no instructor source in {folder}"
    assert assign.is_up_to_date(folder), f"run: python -m aecourse.assign assignments/{name}"
    grading = assignments.grading_spec(contract)
    assert grading.NAME == name


# --------------------------------------------------------------------------- the real assignment
def test_source_follows_the_contract():
    nb = nbformat.read(SOURCE, as_version=4)
    assign.validate_source(nb, spec)
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
    for p in spec.PARTS:
        check = nb.cells[ids.index(p.id)]
        assert check.metadata["nbgrader"]["points"] == p.points
        if p.autograded:
            assert check.metadata["nbgrader"]["locked"] and not check.metadata["nbgrader"]["solution"]
            assert f"checks.check_{p.id}(globals())" in check.source
        answer = nb.cells[ids.index(p.answer_id)]
        for name in p.names:
            assert name in answer.source, f"answer cell {p.answer_id} does not mention {name}"
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "commit the source without outputs"


def test_student_notebook_is_up_to_date():
    assert STUDENT.is_file(), f"run: python -m aecourse.assign {FOLDER.relative_to(ROOT)}"
    assert assign.is_up_to_date(FOLDER), (
        f"{STUDENT.relative_to(ROOT)} is out of date with its source: run "
        f"python -m aecourse.assign {FOLDER.relative_to(ROOT)} and commit it")


def test_student_notebook_holds_no_solution_or_hidden_test():
    text = STUDENT.read_text()
    for marker in nbgrader.MARKERS:
        assert marker not in text
    for line in assign.secret_lines(SOURCE):
        assert line not in " ".join(text.split()), line


# --------------------------------------------------------------------------- nbval runs (smoke mode)
def run_nbval(nb: Path, workdir: Path) -> dict[int, tuple[str, str]]:
    """Run nbval on ``nb`` in a subprocess (smoke mode); return {code cell index: (status, message)}."""
    xml = workdir / "junit.xml"
    env = dict(os.environ, AECOURSE_SMOKE="1",
               PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    cmd = [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-cell-timeout=600", "-p", "no:cacheprovider",
           "-q", f"--junitxml={xml}", "-o", "junit_logging=no", nb.name]
    proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=1200)
    assert xml.is_file(), proc.stdout[-3000:] + proc.stderr[-3000:]
    results = {}
    for case in ET.parse(xml).getroot().iter("testcase"):
        name = case.get("name", "")
        if not name.startswith("Cell "):
            continue
        bad = case.find("failure")
        if bad is None:
            bad = case.find("error")
        status = "passed" if bad is None else "failed"
        if case.find("skipped") is not None:
            status = "skipped"
        text = "" if bad is None else (bad.get("message", "") + "\n" + (bad.text or ""))
        results[int(name.split()[1])] = (status, text)
    return results


def code_cells(nb_path: Path) -> list:
    nb = nbformat.read(nb_path, as_version=4)
    return [c for c in nb.cells if c.cell_type == "code"]


def graded_role(cell) -> str:
    meta = cell.metadata.get("nbgrader", {})
    if meta.get("solution"):
        return "answer"
    if meta.get("grade"):
        return "check"
    return "other"


def copy_to(src: Path, workdir: Path, nb=None) -> Path:
    dest = workdir / src.name
    nbformat.write(nb if nb is not None else nbformat.read(src, as_version=4), dest)
    return dest


@pytest.mark.slow
def test_instructor_source_passes_every_check_under_nbval(tmp_path):
    results = run_nbval(copy_to(SOURCE, tmp_path), tmp_path)
    cells = code_cells(SOURCE)
    assert len(results) == len(cells)
    failed = {i: msg[-2000:] for i, (status, msg) in results.items() if status != "passed"}
    assert not failed, failed


@pytest.mark.slow
def test_student_notebook_fails_only_as_expected_under_nbval(tmp_path):
    results = run_nbval(copy_to(STUDENT, tmp_path), tmp_path)
    cells = code_cells(STUDENT)
    assert len(results) == len(cells)
    for i, cell in enumerate(cells):
        status, msg = results[i]
        role = graded_role(cell)
        gid = cell.metadata.get("nbgrader", {}).get("grade_id", f"cell {i}")
        if role == "answer":
            assert status == "failed" and "NotImplementedError" in msg, (gid, status, msg[-1500:])
        elif role == "check":
            assert status == "failed" and "CheckError" in msg, (gid, status, msg[-1500:])
            assert "is not defined" in msg or "expected" in msg, (gid, msg[-1500:])
            for unexpected in ("NameError", "TypeError", "AttributeError"):
                assert f"{unexpected}:" not in msg.split("CheckError")[-1], (gid, msg[-1500:])
        else:
            assert status == "passed", (gid, msg[-1500:])


def splice(nb, answer_id: str, solution: str):
    """Replace the solution region of one answer cell by ``solution`` (a wrong answer)."""
    for cell in nb.cells:
        if nbgrader.grade_id(cell) == answer_id:
            cell.source = nbgrader.replace_solution(cell.source, solution, answer_id)
            return nb
    raise KeyError(answer_id)


@pytest.mark.slow
def test_identity_denoiser_spliced_into_the_source_fails_only_its_check(tmp_path):
    nb = splice(nbformat.read(SOURCE, as_version=4), "answer_denoise",
                "x_test_denoised = x_test_noisy.copy()\nae_mse = float(np.mean((x_test_denoised - x_test) ** 2))")
    results = run_nbval(copy_to(SOURCE, tmp_path, nb), tmp_path)
    cells = [c for c in nb.cells if c.cell_type == "code"]
    failed = {cells[i].metadata.get("nbgrader", {}).get("grade_id", f"cell {i}")
              for i, (status, _) in results.items() if status != "passed"}
    assert failed == {"denoise"}, {i: m[-800:] for i, (s, m) in results.items() if s != "passed"}
    denoise = next(m for i, (s, m) in results.items() if s != "passed")
    assert "identity" in denoise


def test_points_typed_in_the_notebook_match_the_spec():
    text = "\n".join(c.source for c in nbformat.read(SOURCE, as_version=4).cells if c.cell_type == "markdown")
    for p in spec.PARTS:
        assert f"| `{p.id}` ({p.points}" in text, f"contract table: {p.id} should show {p.points} points"
        unit = "point" if p.points == 1 else "points"
        assert f"(`{p.id}`, {p.points} {unit}" in text, f"task heading of {p.id} should show {p.points} {unit}"
    for name, value in (("NOISE_FACTOR", spec.NOISE_FACTOR), ("LATENT_DIM", spec.LATENT_DIM)):
        assert f"{name} = {value}" not in text, f"{name} should come from the package, not be typed"
