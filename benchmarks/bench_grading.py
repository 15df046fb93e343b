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

Where the overhead goes: the grader writes the wall time of each phase (``--timings``), of
the batch (its process's start-up, the hidden data, the isolation probe, the gradebook) and
of each submission (work folder and assembly, the sandboxed nbval run split into start-up,
the notebook's own cells, the injected export cells, copying the exports out and teardown,
the wait for the model evaluation, scoring, the output files). The phases the plain nbval
run has too (start-up, the notebook's cells, teardown) are set against its time; the rest
is the grader's own, and the result names each phase's share of the overhead.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat

from aecourse import nbgrader
from benchmarks.common import ROOT, log, target, timer

ASSIGNMENT = ROOT / "assignments" / "denoising_dimension_reduction"
N_SUBMISSIONS = 4
GOAL_OVERHEAD = 1.15  # grader --jobs 1 over plain nbval, at most (issue 14)
GOAL_JOBS2 = 1.8  # --jobs 1 over --jobs 2, at least

# The phases of one submission's grading (``--timings``) that a plain nbval run has too.
NBVAL_PHASES = ("startup", "cells", "teardown")
# Phases that ran beside others (not on the submission's critical path): reported, never summed.
BESIDE = ("models_overlapped",)


def solved_student_notebook():
    source = nbformat.read(ASSIGNMENT / "source.ipynb", as_version=4)
    return nbgrader.fill(nbformat.read(ASSIGNMENT / "student.ipynb", as_version=4), nbgrader.solutions(source))


def grade(subs: Path, out: Path, jobs: int, env: dict, timings: dict | None = None) -> tuple[float, str]:
    """Run the grader; ``timings`` (a dict) receives its ``--timings`` file, with ``wall`` added."""
    tfile = out.parent / f"{out.name}-timings.json"
    cmd = [sys.executable, "-m", "aecourse.grade", str(subs), "--assignment", str(ASSIGNMENT), "--out", str(out),
           "--jobs", str(jobs), "--no-progress", "--timings", str(tfile)]
    with timer() as t:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"grader failed ({proc.returncode}): {proc.stderr[-2000:]}")
    gradebook = (out / "gradebook.csv").read_text()
    if timings is not None and tfile.is_file():
        timings.update(json.loads(tfile.read_text()), wall=t())
    return t(), gradebook


def phase_breakdown(timings: dict, t_nbval: float) -> dict:
    """Seconds per phase of a ``--jobs 1`` run, summed over its submissions, and where the overhead goes.

    ``grader_start``: the grader's process before and after its batch (interpreter, imports,
    argument checks), i.e. the wall time its own phases do not cover. The phases nbval has
    too are compared with nbval's whole time (``nbval_like``): what they take beyond it is the
    sandbox's part of the notebook run (jail, scrubbed start-up, the kill sweep at its end).
    """
    per_sub: dict[str, float] = {}
    for phases in timings.get("submissions", {}).values():
        for k, v in phases.items():
            per_sub[k] = per_sub.get(k, 0.0) + float(v)
    batch = {k: float(v) for k, v in timings.get("batch", {}).items() if k != "submissions"}
    covered = sum(batch.values()) + float(timings.get("batch", {}).get("submissions", 0.0))
    phases = {"grader_start": max(0.0, timings.get("wall", covered) - covered), **batch,
              **{k: v for k, v in per_sub.items() if k not in BESIDE}}
    nbval_like = sum(per_sub.get(k, 0.0) for k in NBVAL_PHASES)
    own = {k: v for k, v in phases.items() if k not in NBVAL_PHASES}
    own["notebook_run_beyond_nbval"] = nbval_like - t_nbval  # may be negative (noise)
    overhead = timings.get("wall", covered) - t_nbval
    return {"phases": {k: round(v, 2) for k, v in phases.items()},
            "beside": {k: round(per_sub[k], 2) for k in BESIDE if k in per_sub},
            "overhead_seconds": round(overhead, 2),
            "overhead_by_phase": {k: round(v, 2) for k, v in sorted(own.items(), key=lambda kv: -kv[1])}}


def overhead_text(b: dict) -> str:
    """One line: the overhead's seconds and the phases it went to, largest first."""
    parts = [f"{k.replace('_', ' ')} {v:.1f} s" for k, v in b["overhead_by_phase"].items() if abs(v) >= 0.05]
    beside = "".join(f"; {k.replace('_', ' ')} {v:.1f} s beside the notebook (not on the path)"
                     for k, v in b["beside"].items())
    return f"{b['overhead_seconds']:.1f} s over plain nbval: " + ", ".join(parts) + beside


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
        timings1: dict = {}
        t1, book1 = grade(subs, tmp / "out1", 1, env_smoke, timings1)
        log(f"  {t1:.1f} s; again with --jobs 2")
        t2, _ = grade(subs, tmp / "out2", 2, env_smoke)
        log(f"  {t2:.1f} s; plain nbval x{N_SUBMISSIONS}")
        t_nbval = sum(plain_nbval(env_smoke) for _ in range(N_SUBMISSIONS))
        log(f"  {t_nbval:.1f} s; grader again with nothing changed")
        t_again, _ = grade(subs, tmp / "out1", 1, env_smoke)
        breakdown = phase_breakdown(timings1, t_nbval)
        log("  where the overhead of --jobs 1 goes: " + overhead_text(breakdown))
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
        rows += [{"run": f"  phase of --jobs 1: {k.replace('_', ' ')}", "seconds": v,
                  "seconds_per_submission": v / N_SUBMISSIONS} for k, v in breakdown["phases"].items()]
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
            "overhead_breakdown": overhead_text(breakdown),
            "phases_jobs1": breakdown,
            "targets": [
                target("grader --jobs 1 over plain nbval on the same notebooks", result["overhead_vs_nbval"],
                       GOAL_OVERHEAD, unit="x"),
                target("--jobs 2 speed-up over --jobs 1", result["jobs2_speedup"], GOAL_JOBS2, better="higher",
                       unit="x"),
            ],
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
