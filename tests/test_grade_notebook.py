"""Unit tests of the grader's notebook handling: reading, answer extraction, assembly (no sandbox)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from grade_fixtures import tiny  # noqa: E402

from aecourse.grade import notebook as nbm  # noqa: E402
from aecourse.grade.report import atomic_write, gradebook_csv  # noqa: E402
from aecourse.grade.spec import Check, load_export  # noqa: E402


@pytest.mark.parametrize("data, message", [
    (b"", "empty file"),
    (b"   \n", "empty file"),
    (b"\xff\xfe\x00", "not UTF-8"),
    (b'{"cells": [', "invalid JSON"),
    (b"import numpy as np\ndef f():\n    pass\n", "Python script renamed"),
    (b"[1, 2]", "without an 'nbformat' field"),
    (json.dumps({"nbformat": 2}).encode(), "version 2"),
    (json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": 3}).encode(), "not"),
])
def test_read_submission_rejects(data, message):
    with pytest.raises(nbm.InvalidNotebook, match=message):
        nbm.read_submission(data)


def test_read_submission_converts_v3():
    v3 = nbformat.v3.downgrade(tiny.with_answers(tiny.solved()))
    nb = nbm.read_submission(json.dumps(v3).encode())
    answers, _ = nbm.answer_cells(nb)
    assert set(answers) == {"scale_answer", "normalize_answer", "fit_answer", "interpretation"}


def test_layout_parts_and_answers():
    lay = nbm.layout(tiny.source_notebook())
    assert [(p.number, p.grade_id, p.points, p.answers) for p in lay.parts] == [
        (1, "check_scale", 2, ["scale_answer"]), (2, "check_normalize", 2, ["normalize_answer"]),
        (3, "check_fit", 1, ["fit_answer"])]
    assert lay.manual == ["interpretation"]


def test_assemble_takes_only_answers():
    student = tiny.with_answers({"scale_answer": "# NBVAL_SKIP\ndef scale(x, f):\n    return x * f"})
    for cell in student.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            cell.source = "pass"
        cell.metadata["tags"] = ["raises-exception"]
    student.cells = [c for c in student.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "fit_answer"]
    answers, notes = nbm.answer_cells(student)
    nb, infos, missing = nbm.assemble(tiny.source_notebook(), answers, {"check_normalize": "EXPORT"})
    assert missing == ["fit_answer"]
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert len(code) == len(infos)
    kinds = [(i.kind, i.grade_id, i.part) for i in infos]
    at = {grade_id: n for n, (_, grade_id, _) in enumerate(kinds)}
    assert code[at["scale_answer"]].source.startswith("# disabled-NBVAL_SKIP")
    assert "raises-exception" not in json.dumps([c.metadata for c in nb.cells])
    assert code[at["check_scale"]].source == tiny.check_source("check_scale")  # pristine check with hidden tests
    assert kinds[0][0] == "other" and code[0].metadata["tags"][0] == "install"  # the release's install cell
    assert kinds[1:] == [("other", "setup", 1), ("answer", "scale_answer", 1), ("check", "check_scale", 1),
                     ("answer", "normalize_answer", 2), ("export", "check_normalize", 2),
                     ("check", "check_normalize", 2), ("answer", "fit_answer", 3), ("check", "check_fit", 3)]
    assert "answer cell fit_answer not found" in code[at["fit_answer"]].source


def test_duplicate_answer_cells_last_filled_wins():
    nb = tiny.with_answers(tiny.solved())
    stub = nbformat.v4.new_code_cell("# YOUR CODE HERE\nraise NotImplementedError()")
    stub.metadata["nbgrader"] = {"grade_id": "scale_answer", "solution": True}
    # the filled copy first, then an untouched stub: the filled copy is graded
    nb.cells.append(stub)
    answers, notes = nbm.answer_cells(nb)
    assert "np.asarray" in answers["scale_answer"]
    assert notes == ["answer cell scale_answer appears 2 times; copy 1 (the last filled one) was graded"]
    # the stub first (as in the released notebook), then the student's own copy: the last filled one
    nb = tiny.with_answers({})
    filled = nbformat.v4.new_code_cell("def scale(x, f):\n    return 0")
    filled.metadata["nbgrader"] = {"grade_id": "scale_answer", "solution": True}
    nb.cells.append(filled)
    answers, notes = nbm.answer_cells(nb)
    assert answers["scale_answer"] == "def scale(x, f):\n    return 0"
    assert "copy 2 (the last filled one)" in notes[0]


@pytest.mark.parametrize("source", ["# NBVAL_SKIP", "## NBVAL_SKIP", "#### NBVAL_RAISES_EXCEPTION", "  #NBVAL_SKIP",
                                    "#  # NBVAL_SKIP", "x = 1\n### nbval_ignore_output"])
def test_nbval_markers_neutralised(source):
    out = nbm.neutralise(source)
    for line in out.splitlines():
        comment = line.strip().lstrip("#").strip()
        assert not comment.upper().startswith("NBVAL_"), out


def test_big_outputs_are_dropped_before_the_size_limit():
    nb = tiny.with_answers(tiny.solved())
    code = next(c for c in nb.cells if c.cell_type == "code")
    code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="x" * (nbm.MAX_SOURCE_BYTES + 2**20))]
    data = nbformat.writes(nb).encode()
    assert len(data) > nbm.MAX_SOURCE_BYTES
    read = nbm.read_submission(data)
    assert all(not c.get("outputs") for c in read.cells if c.cell_type == "code")
    answers, _ = nbm.answer_cells(read)
    assert "np.asarray" in answers["scale_answer"]
    big = tiny.with_answers({"scale_answer": "x = '" + "y" * (nbm.MAX_SOURCE_BYTES + 10) + "'"})
    with pytest.raises(nbm.InvalidNotebook, match="too large without its outputs"):
        nbm.read_submission(nbformat.writes(big).encode())


@pytest.mark.parametrize("data, message", [
    (b"[" * 100_000 + b"]" * 100_000, "nested deeper"),
    (b'{"nbformat": 4, "cells": ' + b"[" * 5000 + b"]" * 5000 + b"}", "nested deeper"),
    ("{\"nbformat\": 4, \"x\": \"caf\u00e9\"}".encode("latin-1"), "not UTF-8"),
])
def test_odd_files_are_invalid_notebooks(data, message):
    with pytest.raises(nbm.InvalidNotebook, match=message):
        nbm.read_submission(data)


def test_export_roundtrip_refuses_pickles(tmp_path):
    # What the injected cell writes is covered end to end by tests/test_grade_shadowing.py; here the
    # reading side: collected evidence (arrays and "error:NAME" texts) round-trips, pickles never load.
    from aecourse.assignments import collect

    out = tmp_path / "out.npz"
    ev = collect({"good": lambda v, inp: inp["x"] * 2, "bad": lambda v, inp: v.undefined_name,
                  "obj": lambda v, inp: [object()]}, {}, {"x": np.arange(3.0)})
    np.savez(out, **ev)
    found, errors = load_export(out)
    assert found["good"].tolist() == [0, 2, 4]
    assert errors["bad"].startswith("AttributeError") and errors["obj"].startswith("TypeError: not a numeric array")
    evil = tmp_path / "evil.npz"
    np.savez(evil, a=np.array([object()], dtype=object))
    found, errors = load_export(evil)
    assert found == {} and errors == {"a": "not a plain numeric array"}
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(Exception):
        load_export(tmp_path / "junk.npz")


def test_atomic_write_and_gradebook(tmp_path):
    atomic_write(tmp_path / "a" / "f.txt", "one")
    atomic_write(tmp_path / "a" / "f.txt", "two")
    assert (tmp_path / "a" / "f.txt").read_text() == "two"
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["f.txt"]
    rows = [{"id": "b", "status": "ok", "reason": "", "total": 1.5, "max": 2, "isolation": "x",
             "parts": [{"grade_id": "p1", "points": 1.5}]}]
    assert gradebook_csv(rows, ["p1"]) == "id,file,status,reason,total,max,p1,isolation\nb,,ok,,1.5,2,1.5,x\n"
    assert Check("c", np.bool_(True)).passed is True
