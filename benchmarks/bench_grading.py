"""Grading throughput: seconds per submission, overhead over plain nbval, and --jobs 2.

Submissions are the released student notebook with every answer cell filled with the
reference solution (as a student who solved it would hand in). Measured in one run:

- ``python -m aecourse.grade`` on 4 submissions with ``--jobs 1`` and then, into a fresh
  output folder, with ``--jobs 2`` (smoke mode: the notebook trains on 2,000 images);
- plain ``pytest --nbval-lax`` on the instructor source with its solutions (the assembled
  notebook less the grader's export cells), once per submission, as the baseline the
  grader's isolation, assembly and scoring are compared with;
- a second grader run with nothing changed (should do no work);
- one submission in full mode (the reference solution at full size), unless --smoke.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat

from aecourse import nbgrader
from benchmarks.common import ROOT, log, timer

ASSIGNMENT = ROOT / "assignments" / "denoising_dimension_reduction"
N_SUBMISSIONS = 4


def solved_student_notebook():
    source = nbformat.read(ASSIGNMENT / "source.ipynb", as_version=4)
    return nbgrader.fill(nbformat.read(ASSIGNMENT / "student.ipynb", as_version=4), nbgrader.solutions(source))


def grade(subs: Path, out: Path, jobs: int, env: dict) -> tuple[float, str]:
    cmd = [sys.executable, "-m", "aecourse.grade", str(subs), "--assignment", str(ASSIGNMENT), "--out", str(out),
           "--jobs", str(jobs), "--no-progress"]
    with timer() as t:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"grader failed ({proc.returncode}): {proc.stderr[-2000:]}")
    gradebook = (out / "gradebook.csv").read_text()
    return t(), gradebook


def plain_nbval(env: dict) -> float:
    work = Path(tempfile.mkdtemp(prefix="aecourse-bench-nbval-"))
    try:
        shutil.copy(ASSIGNMENT / "source.ipynb", work / "source.ipynb")
        with timer() as t:
            proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
                                   "source.ipynb"], cwd=work, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"plain nbval failed: {proc.stdout[-2000:]}")
        return t()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(smoke: bool = False) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="aecourse-bench-grade-"))
    env_smoke = dict(os.environ, AECOURSE_SMOKE="1")
    try:
        subs = tmp / "submissions"
        subs.mkdir()
        nb = solved_student_notebook()
        for i in range(N_SUBMISSIONS):
            nbformat.write(nb, subs / f"student{i + 1}.ipynb")
        log(f"grading {N_SUBMISSIONS} submissions, --jobs 1 (smoke mode)")
        t1, book1 = grade(subs, tmp / "out1", 1, env_smoke)
        log(f"  {t1:.1f} s; again with --jobs 2")
        t2, _ = grade(subs, tmp / "out2", 2, env_smoke)
        log(f"  {t2:.1f} s; plain nbval x{N_SUBMISSIONS}")
        t_nbval = sum(plain_nbval(env_smoke) for _ in range(N_SUBMISSIONS))
        log(f"  {t_nbval:.1f} s; grader again with nothing changed")
        t_again, _ = grade(subs, tmp / "out1", 1, env_smoke)
        full_done = "ok" in book1
        rows = [
            {"run": f"grader --jobs 1, {N_SUBMISSIONS} submissions (smoke)", "seconds": t1,
             "seconds_per_submission": t1 / N_SUBMISSIONS},
            {"run": f"grader --jobs 2, {N_SUBMISSIONS} submissions (smoke)", "seconds": t2,
             "seconds_per_submission": t2 / N_SUBMISSIONS},
            {"run": f"plain nbval on the solved source, {N_SUBMISSIONS} times (smoke)", "seconds": t_nbval,
             "seconds_per_submission": t_nbval / N_SUBMISSIONS},
            {"run": "grader again, nothing changed", "seconds": t_again, "seconds_per_submission": t_again / N_SUBMISSIONS},
        ]
        result = {"overhead_vs_nbval": t1 / t_nbval, "jobs2_speedup": t1 / t2}
        if not smoke:
            one = tmp / "one"
            one.mkdir()
            nbformat.write(nb, one / "student1.ipynb")
            env_full = {k: v for k, v in os.environ.items() if k != "AECOURSE_SMOKE"}
            log("grading one submission in full mode")
            t_full, _ = grade(one, tmp / "out_full", 1, env_full)
            rows.append({"run": "grader --jobs 1, 1 submission (full mode)", "seconds": t_full,
                         "seconds_per_submission": t_full})
        return {
            "title": "Grading throughput",
            "rows": rows,
            **result,
            "all_graded_ok": full_done,
            "goal": "grader at most 1.2x plain nbval; --jobs 2 at least 1.7x faster than --jobs 1",
            "met": bool(result["overhead_vs_nbval"] <= 1.2 and result["jobs2_speedup"] >= 1.7),
            "verdict": f"overhead {result['overhead_vs_nbval']:.2f}x (goal <= 1.2x), "
                       f"--jobs 2 speed-up {result['jobs2_speedup']:.2f}x (goal >= 1.7x)",
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
