"""``--gradescope-bundle``: the bundle's run_autograder, run against Gradescope's layout in a temp folder."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from grade_fixtures import tiny  # noqa: E402



@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    base = tmp_path_factory.mktemp("gs")
    assignment = base / "assignments" / "tiny"
    assignment.mkdir(parents=True)
    tiny.write(tiny.source_notebook(), assignment / "source.ipynb")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    env.pop("AECOURSE_SMOKE", None)
    proc = subprocess.run([sys.executable, "-m", "aecourse.grade", "--assignment", str(assignment), "--out",
                           str(base / "out"), "--gradescope-bundle", "--cell-timeout", "30"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return base / "out" / "autograder.zip"


def test_bundle_contents(bundle):
    with zipfile.ZipFile(bundle) as z:
        names = set(z.namelist())
        assert {"setup.sh", "run_autograder", "requirements.txt", "grade.json", "assignment/tiny/source.ipynb",
                "hidden/hidden.npz", "src/aecourse/grade/batch.py", "src/aecourse/assignments/tiny/grading.py"} <= names
        mode = z.getinfo("run_autograder").external_attr >> 16
        assert mode & stat.S_IXUSR
        cfg = json.loads(z.read("grade.json"))
        assert cfg["assignment"] == "assignment/tiny" and cfg["limits"]["cell_timeout"] == 30
        assert "nbval" in z.read("requirements.txt").decode()
    subprocess.run(["bash", "-n", "/dev/stdin"], input=zipfile.ZipFile(bundle).read("setup.sh"), check=True)


def autograder(bundle, tmp_path, notebook) -> dict:
    """Simulate Gradescope: unzip into ROOT/source, submission into ROOT/submission, run run_autograder."""
    root = tmp_path / "autograder"
    with zipfile.ZipFile(bundle) as z:
        z.extractall(root / "source")
    os.chmod(root / "source" / "run_autograder", 0o755)
    (root / "submission").mkdir()
    (root / "results").mkdir()
    if isinstance(notebook, dict) and "cells" not in notebook:  # several files: {name: notebook}
        for name, nb in notebook.items():
            tiny.write(nb, root / "submission" / name)
    elif isinstance(notebook, bytes):
        (root / "submission" / "homework.ipynb").write_bytes(notebook)
    else:
        tiny.write(notebook, root / "submission" / "homework.ipynb")
    env = {"PATH": os.environ["PATH"], "AECOURSE_AUTOGRADER_ROOT": str(root), "AECOURSE_PYTHON": sys.executable}
    proc = subprocess.run([str(root / "source" / "run_autograder")], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((root / "results" / "results.json").read_text())


def test_run_autograder_correct(bundle, tmp_path):
    res = autograder(bundle, tmp_path, tiny.with_answers(tiny.solved()))
    assert res["score"] == 5
    assert [(t["name"], t["score"], t["max_score"]) for t in res["tests"]] == [
        ("Part 1: check_scale", 2, 2), ("Part 2: check_normalize", 2, 2), ("Part 3: check_fit", 1, 1)]


def test_run_autograder_partial_and_invalid(bundle, tmp_path):
    s = tiny.solved()
    res = autograder(bundle, tmp_path / "a", tiny.with_answers({"scale_answer": s["scale_answer"]}))
    assert res["score"] == 2
    assert "NotImplementedError" in res["output"]
    res = autograder(bundle, tmp_path / "b", b"print('not a notebook')\n")
    assert res["score"] == 0
    assert "invalid_notebook" in res["output"]


def test_run_autograder_picks_the_assignments_notebook(bundle, tmp_path):
    """A notebook named after the assignment plus a scratch notebook: the assignment's one is graded."""
    res = autograder(bundle, tmp_path, {"tiny.ipynb": tiny.with_answers(tiny.solved()),
                                        "scratch.ipynb": tiny.student_notebook()})
    assert res["score"] == 5, res["output"]
