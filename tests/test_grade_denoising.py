"""The grader on the real assignment (smoke mode): correct, other-architecture, partly correct and blank.

Submissions are made from the committed source and student notebooks; each trains the real
convolutional autoencoder on the smoke-size data inside the sandbox, so this file takes a
couple of minutes.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from grade_fixtures import real  # noqa: E402

PARTS = ["noise", "model", "denoise", "pca", "codes", "knn", "view"]


def _have_mnist() -> bool:
    sys.path.insert(0, str(ROOT / "src"))
    try:
        from aecourse import data

        data.load_mnist(n_train=10, n_test=10, download=False)
        return True
    except Exception:
        return False


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (real.ASSIGNMENT / "source.ipynb").is_file()
                       or not (real.ASSIGNMENT / "student.ipynb").is_file(), reason="assignment notebooks missing"),
]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    if not _have_mnist():
        pytest.skip("MNIST not found (set AECOURSE_DATA_DIR)")
    from aecourse.assignments import denoising_dimension_reduction as C

    base = tmp_path_factory.mktemp("real")
    subs = base / "submissions"
    subs.mkdir()
    sol = real.solutions()
    nbformat.write(real.student(sol), subs / "correct.ipynb")
    first = {k: sol[k] for k in ("answer_noise", "answer_model", "answer_denoise")}
    nbformat.write(real.student(first), subs / "partial.ipynb")
    nbformat.write(real.student(), subs / "blank.ipynb")
    nbformat.write(real.student({**sol, "answer_model": real.OTHER_MODEL}), subs / "other_arch.ipynb")
    nbformat.write(real.student({**sol, "answer_model": real.IDENTITY_MODEL}), subs / "identity.ipynb")
    nbformat.write(real.student({**sol, "answer_model": real.untrained(sol["answer_model"])}), subs / "untrained.ipynb")
    nbformat.write(real.student({"answer_noise": real.FORGER}), subs / "blank_forged.ipynb")
    out = base / "out"
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), AECOURSE_SMOKE="1")
    proc = subprocess.run([sys.executable, "-m", "aecourse.grade", str(subs), "--assignment", str(real.ASSIGNMENT),
                           "--out", str(out), "--jobs", "2", "--cell-timeout", "600", "--timeout", "1200",
                           "--no-progress"], env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(out / "gradebook.csv") as f:
        rows = {r["id"]: r for r in csv.DictReader(f)}
    return {"rows": rows, "out": out, "points": C.POINTS, "proc": proc}


@pytest.mark.parametrize("sid", ["correct", "other_arch"])
def test_correct_gets_full_marks(graded, sid):
    """The reference solution, and another architecture and seed with noise on stderr."""
    row = graded["rows"][sid]
    assert row["status"] == "ok", row
    for p in PARTS:
        assert float(row[p]) == graded["points"][p], (p, row)
    assert float(row["total"]) == float(row["max"]) == sum(graded["points"][p] for p in PARTS)


def test_partial_gets_the_parts_it_did(graded):
    row = graded["rows"]["partial"]
    assert row["status"] == "errors"
    assert row["reason"].startswith("error in part 4 (answer cell answer_pca): NotImplementedError")
    for p in PARTS:
        want = graded["points"][p] if p in ("noise", "model", "denoise") else 0
        assert float(row[p]) == want, (p, row)
    fb = (graded["out"] / "feedback" / "partial.md").read_text()
    assert "not defined: pca_test_denoised, pca_mse" in fb


def test_blank_gets_nothing(graded):
    row = graded["rows"]["blank"]
    assert row["status"] == "errors"
    assert row["reason"].startswith("error in part 1 (answer cell answer_noise): NotImplementedError")
    assert all(float(row[p]) == 0 for p in PARTS)
    assert float(row["total"]) == 0


@pytest.mark.parametrize("sid, zero", [
    ("identity", {"model", "denoise", "pca"}),
    ("untrained", {"model", "denoise", "pca", "knn"}),
    ("blank_forged", set(PARTS)),
])
def test_identity_untrained_and_forged_earn_only_what_they_did(graded, sid, zero):
    """The model parts come from the saved model, evaluated outside the kernel: neither an identity
    'denoiser', an untrained model, nor blank answers whose kernel forges its exports earn them."""
    row = graded["rows"][sid]
    for p in zero:
        assert float(row[p]) == 0, (p, row)
    if sid == "blank_forged":
        assert float(row["total"]) == 0, row


def test_times(graded):
    for sid in ("correct", "other_arch", "partial", "blank", "identity", "untrained", "blank_forged"):
        st = json.loads((graded["out"] / "state" / f"{sid}.json").read_text())
        print(f"\n{sid}: {st['seconds']:.0f} s in the sandbox ({st['isolation']})")
