"""Grade a folder of submissions: find them, skip what is unchanged, schedule the rest, write the gradebook.

:class:`Grader` holds what every run of one batch shares (the pristine source, the
assignment's contract and grading spec from the registry, the hidden data, the limits and
the sandbox); each submission is graded by :func:`aecourse.grade.run.grade`.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import re
import secrets
import sys
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import nbformat
import numpy as np

from .. import assign
from . import notebook as nbmod
from . import outcome, report, run
from .sandbox import Limits, Sandbox, Slots
from .spec import load_spec

STATE_VERSION = "1"


def _smoke() -> bool:
    from aecourse import config

    return config.smoke()


def safe_id(name: str) -> str:
    s = re.sub(r"[^A-Za-z0-9._@+-]", "_", name).strip(".") or "submission"
    return s[:100]


def _folder_notebook(entry: Path, assignment_name: str) -> tuple[Path | None, str]:
    """The one notebook of a student's folder, or None and why not."""
    nbs = sorted(p for p in entry.rglob("*.ipynb")
                 if ".ipynb_checkpoints" not in p.parts and not p.is_symlink() and p.is_file())
    if len(nbs) == 1:
        return nbs[0], ""
    if not nbs:
        return None, "no .ipynb notebook in the submission folder"
    pref = [p for p in nbs if assignment_name in p.stem or p.stem in ("student", "submission")]
    if len(pref) == 1:
        return pref[0], ""
    return None, "several notebooks in the submission folder: " + ", ".join(str(p.relative_to(entry)) for p in nbs[:5])


def find_submissions(folder: Path, assignment_name: str) -> list[tuple[str, Path | None, str]]:
    """``[(id, notebook path or None, problem)]`` for every student in ``folder``."""
    out, seen = [], set()
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_file() and entry.suffix.lower() == ".ipynb" and not entry.is_symlink():
            sid, path, problem = safe_id(entry.stem), entry, ""
        elif entry.is_dir() and not entry.is_symlink():
            sid = safe_id(entry.name)
            path, problem = _folder_notebook(entry, assignment_name)
        else:
            continue
        base, n = sid, 2
        while sid in seen:
            sid, n = f"{base}~{n}", n + 1
        seen.add(sid)
        out.append((sid, path, problem))
    return out


class Grader:
    def __init__(self, assignment: Path, out: Path, limits: Limits | None = None, jobs: int = 1,
                 force: bool = False, isolation: str = "auto", hidden_file: Path | None = None,
                 progress: bool = True, extra_hide: list[str] | None = None, workroot: str | None = None):
        self.assignment = Path(assignment).resolve()
        self.out = Path(out).resolve()
        self.source_path = self.assignment / assign.SOURCE_NAME
        if not self.source_path.is_file():
            raise SystemExit(f"instructor source not found: {self.source_path}")
        self.contract, self.spec = load_spec(self.assignment)
        self.source_bytes = self.source_path.read_bytes()
        self.source_nb = nbformat.reads(self.source_bytes.decode(), as_version=4)
        assign.validate_source(self.source_nb, self.contract)
        self.layout = nbmod.layout(self.source_nb)
        missing = [p.grade_id for p in self.layout.parts if p.points > 0 and p.grade_id not in self.spec.EXPORTS]
        if missing:
            raise SystemExit(f"the grading spec has no export/scoring for graded parts: {', '.join(missing)}")
        self.limits = limits or Limits()
        self.jobs = max(1, int(jobs))
        self.force = force
        self.progress = progress
        self.smoke = _smoke()
        self.hidden_file = Path(hidden_file).resolve() if hidden_file else None
        self.hidden = self._hidden()
        hide = [str(self.assignment), str(self.out)]
        if self.assignment.parent.name == "assignments":
            hide.append(str(self.assignment.parent))
        if self.hidden_file:
            hide.append(str(self.hidden_file.parent))
        self.extra_hide = list(extra_hide or [])
        self.sandbox = Sandbox(self.limits, hide + self.extra_hide, isolation=isolation, workroot=workroot)
        self.fingerprint = self._fingerprint()

    # -- hidden data ---------------------------------------------------------------------
    def _hidden(self) -> dict:
        if self.hidden_file:
            with np.load(self.hidden_file, allow_pickle=False) as d:
                return {k: d[k] for k in d.files}
        hdir = self.out / ".hidden"
        hdir.mkdir(parents=True, exist_ok=True)
        os.chmod(hdir, 0o700)
        path = hdir / f"{self.spec.NAME}-{'smoke' if self.smoke else 'full'}.npz"
        if not path.exists():
            rng = np.random.default_rng(secrets.randbits(64))
            data = self.spec.make_hidden(rng, self.smoke)
            tmp = hdir / (path.name + ".tmp.npz")
            np.savez(tmp, **data)
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        with np.load(path, allow_pickle=False) as d:
            return {k: d[k] for k in d.files}

    def _fingerprint(self) -> str:
        h = hashlib.sha256()
        for part in (self.source_bytes, str(getattr(self.spec, "VERSION", "0")).encode(), self.spec.NAME.encode(),
                     b"smoke" if self.smoke else b"full", STATE_VERSION.encode()):
            h.update(part)
        for k in sorted(self.hidden):
            h.update(k.encode())
            h.update(np.ascontiguousarray(self.hidden[k]).tobytes())
        return h.hexdigest()

    # -- state and outputs -----------------------------------------------------------------
    def state_path(self, sid: str) -> Path:
        return self.out / "state" / f"{sid}.json"

    def cached(self, sid: str, path: Path | None) -> dict | None:
        if self.force or path is None:
            return None
        try:
            st = json.loads(self.state_path(sid).read_text())
            if st.get("fingerprint") != self.fingerprint:
                return None
            if hashlib.sha256(path.read_bytes()).hexdigest() != st.get("hash"):
                return None
        except (OSError, ValueError):
            return None
        return st

    def write_outputs(self, r: dict) -> None:
        sid = r["id"]
        report.atomic_write(self.state_path(sid), json.dumps(r, indent=1))
        report.atomic_write(self.out / "feedback" / f"{sid}.md", report.feedback_md(r, self.spec.NAME))
        report.atomic_write(self.out / "gradescope" / sid / "results.json", report.gradescope_json(r))

    def write_gradebook(self, results: list[dict]) -> None:
        ids = [p.grade_id for p in self.layout.parts]
        report.atomic_write(self.out / "gradebook.csv", report.gradebook_csv(results, ids))

    # -- the batch ----------------------------------------------------------------------------
    def grade_one(self, sid: str, path: Path | None, problem: str, slot: int, lock=None) -> dict:
        """Grade one submission and write its state, feedback and Gradescope files (never raises)."""
        try:
            r = run.grade(self, sid, path, problem, slot)
        except Exception as e:  # noqa: BLE001 - never abort the batch
            traceback.print_exc()
            r = run.result(self, sid, outcome.STATUS_GRADER_ERROR, f"{type(e).__name__}: {e}", run.empty_parts(self),
                           "")
        with lock or threading.Lock():
            self.write_outputs(r)
        return r

    def grade_folder(self, submissions: Path) -> list[dict]:
        submissions = Path(submissions).resolve()
        self.out.mkdir(parents=True, exist_ok=True)
        subs = find_submissions(submissions, self.spec.NAME)
        self.sandbox.hide.append(str(submissions))
        todo, results = [], []
        for sid, path, problem in subs:
            c = self.cached(sid, path)
            if c is not None:
                results.append(c)
            else:
                todo.append((sid, path, problem))
        skipped = len(results)
        held = Slots(min(self.jobs, max(1, len(todo)))) if todo else None
        try:
            if todo:
                # The isolation level is not in the fingerprint: points do not depend on it.
                self.sandbox.probe(held.numbers()[0])
            self._run_batch(todo, results, held.numbers() if held else [])
        finally:
            if held:
                held.release()
        self.write_gradebook(results)
        self.summary = {"graded": len(todo), "skipped": skipped, "level": self.sandbox.level,
                        "level_notes": self.sandbox.reason}
        return results

    def _run_batch(self, todo, results, slot_numbers):
        slots: queue.Queue = queue.Queue()
        for i in slot_numbers:
            slots.put(i)
        lock = threading.Lock()

        def task(item):
            slot = slots.get()
            try:
                return self.grade_one(*item, slot, lock)
            finally:
                slots.put(slot)

        bar = None
        if self.progress and todo:
            from tqdm import tqdm

            bar = tqdm(total=len(todo), desc="grading", unit="nb", file=sys.stderr, dynamic_ncols=True)
        try:
            with ThreadPoolExecutor(max_workers=max(1, slots.qsize())) as pool:
                for fut in as_completed([pool.submit(task, item) for item in todo]):
                    r = fut.result()
                    results.append(r)
                    if bar:
                        bar.set_postfix_str(f"{r['id']}: {r['status']}", refresh=False)
                        bar.update(1)
        finally:
            if bar:
                bar.close()
