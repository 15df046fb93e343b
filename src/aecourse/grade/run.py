"""One submission: assemble its notebook, run it in the sandbox, collect the evidence, score every part.

:func:`grade` is what the batch (:mod:`aecourse.grade.batch`) calls per submission; it
returns the submission's result (a JSON-able dict: status, reason, points per part, the
checks behind them). The status comes from :mod:`aecourse.grade.outcome`; the points only
from the evidence the run left and the assignment's grading spec.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import sys
import threading
import time
import traceback
import zipfile
from dataclasses import asdict
from pathlib import Path

import nbformat
import numpy as np

from ..assignments import passed
from . import modeleval, outcome, report
from . import notebook as nbmod
from .sandbox import LEVEL_NONE, ROLE_EVAL, ensure_user
from .spec import Check, export_code, load_export, with_model_evidence

NOTEBOOK_NAME = "submission.ipynb"


def result(g, sid: str, status: str, reason: str, parts: list[dict], sub_hash: str, seconds: float = 0.0,
           notes=()) -> dict:
    """The result of one submission, as the state file, feedback and gradebook row read it."""
    return {
        "id": sid, "status": status, "reason": reason,
        "total": round(sum(p["points"] for p in parts), 4),
        "max": sum(p.points for p in g.layout.parts),
        "parts": parts, "manual": list(g.layout.manual), "notes": list(notes),
        "isolation": g.sandbox.level or "", "hash": sub_hash, "fingerprint": g.fingerprint,
        "seconds": round(seconds, 2),
    }


def empty_parts(g, note: str | None = None) -> list[dict]:
    return [_entry(p, [note] if note else []) for p in g.layout.parts]


def _entry(p, notes=None) -> dict:
    return {"number": p.number, "grade_id": p.grade_id, "points": 0.0, "max": p.points, "checks": [],
            "notes": list(notes or [])}


def copy_nofollow(src: Path, dst: Path, limit: int = 512 * 2**20) -> None:
    """Copy a regular file written by the sandbox (never through a symlink, at most ``limit`` bytes)."""
    fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
            return
        with open(fd, "rb", closefd=False) as f, open(dst, "wb") as out:
            shutil.copyfileobj(f, out)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- one submission
def grade(g, sid: str, path: Path | None, problem: str, slot: int) -> dict:
    """Grade one submission file (``path`` None: ``problem`` says why there is nothing to grade)."""
    t0 = time.monotonic()
    if path is None:
        return result(g, sid, outcome.STATUS_INVALID, problem, empty_parts(g), "")
    data = path.read_bytes()
    sub_hash = hashlib.sha256(data).hexdigest()
    try:
        nb = nbmod.read_submission(data)
    except nbmod.InvalidNotebook as e:
        return result(g, sid, outcome.STATUS_INVALID, str(e), empty_parts(g), sub_hash)
    answers, notes = nbmod.answer_cells(nb)
    if not answers:
        notes.append("no answer cells (nbgrader grade_id metadata) were found; was the student notebook "
                     "copied into a new one?")
    clock = Phases(t0)
    base, work = g.sandbox.new_workdir(slot, g.sandbox.level)
    clock.lap("workdir")
    try:
        r = _run_and_score(g, sid, answers, notes, sub_hash, base, work, slot, t0, clock)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    clock.lap("cleanup")
    r["phases"] = clock.seconds()
    return r


class Phases:
    """Wall time of each phase of one submission's grading (seconds, for the benchmark's breakdown)."""

    def __init__(self, t0: float):
        self.last = t0
        self.laps: dict[str, float] = {}

    def add(self, name: str, seconds: float) -> None:
        self.laps[name] = self.laps.get(name, 0.0) + seconds

    def lap(self, name: str) -> None:
        now = time.monotonic()
        self.add(name, now - self.last)
        self.last = now

    def seconds(self) -> dict[str, float]:
        return {k: round(v, 3) for k, v in self.laps.items()}


def _prepare(g, answers: dict, work: Path, slot: int):
    """Write the held-out inputs and the assembled notebook into the sandbox's work folder."""
    gdir = work / "_grader"
    gdir.mkdir()
    np.savez(gdir / "inputs.npz", **g.spec.sandbox_inputs(g.hidden))
    exports = {gid: export_code(g.spec.__name__, gid, str(gdir / "inputs.npz"), str(gdir / f"export-{gid}.npz"))
               for gid in g.spec.EXPORTS}
    nb, infos, missing = nbmod.assemble(g.source_nb, answers, exports)
    nbformat.write(nb, str(work / NOTEBOOK_NAME))
    if g.sandbox.level != LEVEL_NONE:
        uid, gid = ensure_user(slot)
        for p in (gdir, gdir / "inputs.npz", work / NOTEBOOK_NAME):
            os.chown(p, uid, gid)
    return gdir, infos, missing


def _run(g, work: Path, base: Path, slot: int, gdir: Path, infos: list, clock: "Phases | None" = None):
    """Run the assembled notebook; take each export out of the sandbox the moment its cell has passed.

    The exports go into a root-only folder (the vault), so that later student code cannot replace them.
    """
    vault = base / "exports"
    vault.mkdir(mode=0o700)
    export_cells = {i: info.grade_id for i, info in enumerate(infos) if info.kind == "export"}

    save = getattr(g.spec, "SAVE_MODELS", None)
    seen = {"first": None, "last": None, "exports": 0.0, "copy": 0.0}
    early = EarlyEvaluation(g, vault, slot)

    def on_event(ev):
        now = time.monotonic()
        if ev.get("event") == "start" and seen["first"] is None:
            seen["first"] = now
        if ev.get("event") == "end":
            seen["last"] = now
            if ev.get("cell") in export_cells and isinstance(ev.get("duration"), (int, float)):
                seen["exports"] += float(ev["duration"])
        if ev.get("event") == "end" and ev.get("outcome") == outcome.CELL_PASSED and ev.get("cell") in export_cells:
            gid = export_cells[ev["cell"]]
            copy_nofollow(gdir / f"export-{gid}.npz", vault / f"{gid}.npz")
            if save and gid == save["part"]:
                for file in save["files"]:
                    if (gdir / file).is_file():
                        copy_nofollow(gdir / file, vault / file)
                early.start()
            seen["copy"] += time.monotonic() - now

    t0 = time.monotonic()
    try:
        res = g.sandbox.run_notebook(NOTEBOOK_NAME, work, base, slot, on_event=on_event)
    except BaseException:
        early.join()
        raise
    if clock is not None:
        # start-up: sandbox, pytest, nbval and the kernel until the first cell; cells: the notebook's
        # own cells (the injected export cells, timed by nbval, and copying their files out, apart);
        # teardown: from the last cell to the sandbox's end (kernel shutdown, killing, cgroup removal)
        end = time.monotonic()
        first = seen["first"] or end
        last = seen["last"] or first
        clock.add("startup", first - t0)
        clock.add("cells", max(0.0, last - first - seen["exports"] - seen["copy"]))
        clock.add("exports", seen["exports"])
        clock.add("copy_out", seen["copy"])
        clock.add("teardown", end - last)
        clock.last = end
    return res, vault, early


class EarlyEvaluation:
    """The saved models evaluated while the notebook's later cells still run (:func:`evaluate_models`).

    It starts the moment the part that saves the models has passed and its files are in the
    vault: the evaluation runs as the slot's evaluation user (``ROLE_EVAL``), in its own sandbox,
    from the vault's copies, so the student's kernel, still running as the slot's other user,
    can neither reach it nor change what it reads. Not at the ``rlimits`` level (no users:
    there the evaluation waits for the notebook's end, as everything else).
    """

    def __init__(self, g, vault: Path, slot: int):
        self.g, self.vault, self.slot = g, vault, slot
        self.thread = None
        self.outcome: dict = {}
        self.seconds = 0.0

    def start(self) -> None:
        save = getattr(self.g.spec, "SAVE_MODELS", None)
        if (self.thread is not None or not save or not hasattr(self.g.spec, "MODEL_EVIDENCE")
                or self.g.sandbox.base_of(self.g.sandbox.level) == LEVEL_NONE
                or not all((self.vault / f).is_file() for f in save["files"])):
            return

        def work():
            t0 = time.monotonic()
            try:
                self.outcome["value"] = evaluate_models(self.g, self.vault, self.slot)
            except BaseException as e:  # noqa: BLE001 - raised again in the grading thread
                self.outcome["error"] = e
            self.seconds = time.monotonic() - t0

        self.thread = threading.Thread(target=work, name=f"models-{self.slot}", daemon=True)
        self.thread.start()

    def join(self) -> None:
        if self.thread is not None:
            self.thread.join()

    def result(self):
        """The evaluation's result; when it never started (the models were not saved), the evaluation now."""
        if self.thread is None:
            return evaluate_models(self.g, self.vault, self.slot)
        self.join()
        if "error" in self.outcome:
            raise self.outcome["error"]
        return self.outcome["value"]


def _run_and_score(g, sid, answers, notes, sub_hash, base, work, slot, t0, clock=None) -> dict:
    clock = clock or Phases(t0)
    gdir, infos, missing = _prepare(g, answers, work, slot)
    clock.lap("prepare")
    res, vault, early = _run(g, work, base, slot, gdir, infos, clock)
    events = outcome.Events.of(res.events)
    status, reason = outcome.classify(events, infos, g.limits, res.killed_wall, res.exit_code, res.log_tail)
    model_ev = early.result()
    clock.lap("models")  # the wait for the model evaluation after the notebook (all of it, when not early)
    if early.thread is not None:
        clock.add("models_overlapped", early.seconds)  # its whole time, most of it beside the notebook
    parts = [score_part(g, sid, p, infos, missing, events, vault, model_ev) for p in g.layout.parts]
    clock.lap("scoring")
    r = result(g, sid, status, reason, parts, sub_hash, time.monotonic() - t0, notes)
    r["cells"] = {str(c): {"kind": infos[c].kind if c < len(infos) else "?", "outcome": e["outcome"],
                           "message": e.get("message", ""), "duration": e.get("duration")}
                  for c, e in events.ends.items()}
    r["junit"] = res.junit is not None
    if res.junit:
        report.atomic_write(g.out / "reports" / f"{sid}.junit.xml", res.junit)
    return r


# --------------------------------------------------------------------------- step 2: the saved models
def evaluate_models(g, vault: Path, slot: int) -> tuple[dict, dict] | None:
    """Evaluate the saved models in the vault in a fresh sandbox that runs no student code.

    Returns (arrays, errors) of the spec's ``MODEL_EVIDENCE``, or None for a spec without models.
    The process sees the models and the held-out *inputs* (``spec.model_inputs``) only.
    """
    save = getattr(g.spec, "SAVE_MODELS", None)
    if not save or not hasattr(g.spec, "MODEL_EVIDENCE"):
        return None
    names = list(g.spec.MODEL_EVIDENCE)
    if not all((vault / f).is_file() for f in save["files"]):
        return {}, {n: "the models were not saved (the 'model' part's cells did not run to the end)" for n in names}
    base, work = g.sandbox.new_workdir(slot, g.sandbox.level, ROLE_EVAL)
    try:
        np.savez(work / modeleval.INPUTS, **g.spec.model_inputs(g.hidden))
        for f in save["files"]:
            shutil.copyfile(vault / f, work / f)
        if g.sandbox.level != LEVEL_NONE:
            uid, gid = ensure_user(slot, ROLE_EVAL)
            for p in [work / modeleval.INPUTS, *(work / f for f in save["files"])]:
                os.chown(p, uid, gid)
        argv = [sys.executable, "-m", "aecourse.grade.modeleval", g.spec.__name__, str(work)]
        out = base / modeleval.OUTPUT

        def on_event(ev):  # copy the evidence out while the work folder still exists
            if ev.get("event") == modeleval.DONE_EVENT and not out.exists():
                copy_nofollow(work / modeleval.OUTPUT, out)

        res = g.sandbox.run_argv(argv, g.sandbox.level, slot, min(600.0, float(g.limits.wall_timeout)), work=work,
                                 base=base, on_event=on_event, role=ROLE_EVAL)
        if not out.is_file():
            why = "timed out" if res.killed_wall else f"exit code {res.exit_code}"
            print(f"grade: model evaluation failed ({why}):\n{res.log_tail[-2000:]}", file=sys.stderr)
            return {}, {n: f"the saved models could not be evaluated ({why})" for n in names}
        return load_export(out)
    finally:
        release = getattr(g.sandbox, "release", None)
        release(base) if release else shutil.rmtree(base, ignore_errors=True)


# --------------------------------------------------------------------------- step 3: scoring
def _collect(g, p, infos, events, vault, entry) -> tuple[dict, dict]:
    """The arrays the part's export cell left in the vault, and the errors of the names it could not export."""
    names = g.spec.EXPORTS.get(p.grade_id, {})
    cell = next((i for i, info in enumerate(infos) if info.kind == "export" and info.grade_id == p.grade_id), None)
    if cell is None:
        return {}, {}
    if not events.passed(cell):
        ev = events.ends.get(cell)
        why = "it did not run" if ev is None else ev.get("message") or ev["outcome"]
        entry["notes"].append(f"results for this part could not be collected: {why}")
        return {}, {name: "not collected" for name in names}
    try:
        return load_export(vault / f"{p.grade_id}.npz")
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        entry["notes"].append(f"results for this part could not be read: {e}")
        return {}, {name: "not readable" for name in names}


def score_part(g, sid, p, infos, missing, events, vault, model_ev=None) -> dict:
    """One part's points and checks, from its evidence (a scoring bug never aborts the batch).

    A part earns its points when all its checks pass (the promise the notebook makes), none otherwise.
    """
    entry = _entry(p)
    gone = [a for a in p.answers if a in missing]
    if gone:
        entry["notes"] = [f"answer cell {a} not found" for a in gone]
        return entry
    try:
        found, errors = _collect(g, p, infos, events, vault, entry)
        if model_ev is not None and p.grade_id in getattr(g.spec, "MODEL_PARTS", ()):
            found, errors = with_model_evidence(found, errors, *model_ev, g.spec.MODEL_EVIDENCE)
        checks = g.spec.score(p.grade_id, found, errors, g.hidden)
    except Exception as e:  # noqa: BLE001
        checks = [Check("scoring", False, "", f"grader error: {type(e).__name__}: {e}")]
        entry["notes"].append("the grader could not score this part; tell your instructor")
        print(f"grade: scoring {sid}/{p.grade_id} failed:\n{traceback.format_exc()}", file=sys.stderr)
    entry["points"] = float(p.points) if passed(checks) else 0.0
    entry["checks"] = [asdict(c) for c in checks]
    return entry
