"""The grader's injected code never runs in the student's namespace (issue 11, item 4).

A correct solution whose notebook rebinds ``dict``, ``eval``, ``print``, ``globals``, ``np``
(to a look-alike whose ``load``/``savez`` fail) and ``apply`` gets full marks: the export cells
fetch the student's objects by name and run in :mod:`aecourse.grade.inkernel` with the real
builtins and their own imports. Unit tests of :func:`inkernel.collect` run without a kernel.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from grade_fixtures import tiny  # noqa: E402

from aecourse.grade import inkernel  # noqa: E402
from aecourse.grade.spec import export_code, load_export  # noqa: E402

SHADOW = '''
import types as _types
import numpy as _numpy

def _broken(*args, **kwargs):
    raise RuntimeError("shadowed")

np = _types.SimpleNamespace(**{k: getattr(_numpy, k) for k in dir(_numpy) if not k.startswith("__")})
np.load = np.savez = np.asarray = _broken
dict = lambda *args, **kwargs: "not a dict"
eval = lambda *args, **kwargs: 0
print = lambda *args, **kwargs: None
globals = lambda: {}
apply = _broken
'''


def _shadowing_answers() -> dict[str, str]:
    """The tiny solutions written with ``numpy`` (their own import), then every name above shadowed."""
    answers = {k: v.replace("np.", "_np.") for k, v in tiny.solved().items()}
    answers = {k: "import numpy as _np\n" + v for k, v in answers.items()}
    answers["fit_answer"] += "\n" + SHADOW
    return answers


def test_collect_fetches_by_name_and_reports_errors():
    ns = {"scale": lambda x, f: np.asarray(x) * f, "dict": None, "eval": None, "np": None}
    items = {"good": lambda v, inp: v("scale")(inp["x"], 2.0), "missing": lambda v, inp: v("nope"),
             "obj": lambda v, inp: [object()]}
    out = inkernel.collect(items, ns, {"x": np.arange(3.0)})
    assert out["good"].tolist() == [0.0, 2.0, 4.0]
    assert str(out["error:missing"]).startswith("NameError: name 'nope' is not defined")
    assert "error:obj" in out


def test_export_cell_runs_in_its_own_namespace(tmp_path):
    inputs, out = tmp_path / "in.npz", tmp_path / "out.npz"
    np.savez(inputs, x=np.arange(3.0), v=np.arange(4.0), lx=np.arange(5.0), ly=np.arange(5.0))
    ns: dict = {}
    exec(compile("import numpy as _np\n" + _shadowing_answers()["scale_answer"] + SHADOW, "student", "exec"), ns)
    code = export_code("aecourse.assignments.tiny.grading", "check_scale", str(inputs), str(out))
    assert "dict(" not in code and "eval(" not in code and "globals(" not in code
    exec(compile(code, "export", "exec"), ns)
    found, errors = load_export(out)
    assert errors == {} and found["scaled"].tolist() == [0.0, 3.0, 6.0]
    assert "__aecourse_inkernel" not in ns  # nothing left behind in the student's namespace


def test_shadowed_names_get_full_marks(tmp_path):
    assignment, subs = tiny.course(tmp_path, {"shadow": tiny.with_answers(_shadowing_answers())})
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    env.pop("AECOURSE_SMOKE", None)
    proc = subprocess.run([sys.executable, "-m", "aecourse.grade", str(subs), "--assignment", str(assignment),
                           "--out", str(out), "--cell-timeout", "120", "--no-progress"],
                          env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {r["id"]: r for r in csv.DictReader(open(out / "gradebook.csv"))}
    row = rows["shadow"]
    assert float(row["total"]) == 5, row
    assert row["check_scale"] == "2" and row["check_normalize"] == "2" and row["check_fit"] == "1", row
