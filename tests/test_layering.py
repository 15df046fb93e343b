"""The layering, enforced (issue 11, item 8): each layer imported alone in a fresh interpreter.

- lesson modules never import the assignments or the grader;
- the notebook's checks never import the grader;
- the rulebook, the grading spec, and the grader's batch / one-run / outcome / report code load
  no TensorFlow, Keras or scikit-learn;
- only the model-evaluation step (:mod:`aecourse.grade.modeleval`) loads Keras, and only when
  it evaluates (importing it loads nothing heavy).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("tensorflow", "keras", "sklearn")
GRADER = ("aecourse.grade",)
ASSIGNMENTS = ("aecourse.assignments",)
LESSONS = ["aecourse.config", "aecourse.data", "aecourse.metrics", "aecourse.linalg", "aecourse.plotting",
           "aecourse.pca_plots", "aecourse.conv", "aecourse.evaluate", "aecourse.codes"]
DENOISING = "aecourse.assignments.denoising_dimension_reduction"

CASES = [
    *[(m, GRADER + ASSIGNMENTS) for m in LESSONS],
    (f"{DENOISING}.checks", GRADER + HEAVY),
    (f"{DENOISING}.rulebook", GRADER + HEAVY),
    (f"{DENOISING}.evidence", GRADER + HEAVY),
    (f"{DENOISING}.grading", HEAVY),
    ("aecourse.assignments.tiny.grading", HEAVY),
    ("aecourse.grade.batch", HEAVY),
    ("aecourse.grade.run", HEAVY),
    ("aecourse.grade.outcome", HEAVY),
    ("aecourse.grade.report", HEAVY),
    ("aecourse.grade.inkernel", HEAVY),
    ("aecourse.grade.modeleval", HEAVY),
]


def loaded_after_import(module: str) -> list[str]:
    code = ("import importlib, json, sys; importlib.import_module(sys.argv[1]); "
            "print(json.dumps(sorted(sys.modules)))")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    proc = subprocess.run([sys.executable, "-c", code, module], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("module, forbidden", CASES, ids=[c[0] for c in CASES])
def test_layer_imports_nothing_it_must_not(module, forbidden):
    if not (ROOT / "src" / (module.replace(".", "/") + ".py")).is_file():
        pytest.skip(f"{module} is not in this checkout")
    bad = [m for m in loaded_after_import(module) if any(m == f or m.startswith(f + ".") for f in forbidden)]
    assert not bad, f"importing {module} loaded {bad[:10]}"
