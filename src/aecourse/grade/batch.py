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
import secrets
import sys
import threading
import signal
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import nbformat
import numpy as np

from .. import assign
from . import notebook as nbmod
from . import outcome, report, run
from .sandbox import Limits, Sandbox, Slots, file_digest, threads_per_job
from .spec import load_spec

STATE_VERSION = "1"


def _smoke() -> bool:
    from aecourse import config

    return config.smoke()


MAX_FILE_BYTES = nbmod.MAX_FILE_BYTES
ID_MAX = 80


def _printable(name: str) -> str:
    """A file name as text (undecodable bytes as ``\\xNN``), for the gradebook's ``file`` column."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def safe_id(name: str) -> str:
    """A student id from a file or folder name alone, never from the other names in the folder.

    Letters and digits of any script are kept (NFC-normalised), with ``. _ @ + -``; anything else
    becomes ``_``. When that loses information (a replaced character, a leading dot, an
    undecodable byte, a cut) a short hash of the original name's bytes is appended, so two names
    never share an id and adding a file never renames another.
    """
    import unicodedata

    raw = os.fsencode(name)
    try:
        text = unicodedata.normalize("NFC", raw.decode("utf-8"))
    except UnicodeDecodeError:
        text = raw.decode("utf-8", "replace")
    s = "".join(c if (c.isalnum() or c in "._@+-") else "_" for c in text).lstrip(".") or "submission"
    lossy = s != text or len(s) > ID_MAX or not text.isprintable()
    if lossy:
        s = s[:ID_MAX].rstrip(".") + "-" + hashlib.sha256(raw).hexdigest()[:8]
    return s


@dataclass
class Entry:
    """One entry of the submissions folder: its id, the notebook to grade (or why there is none)."""

    sid: str
    file: str  # the original name, as text
    path: Path | None
    problem: str = ""
    status: str = ""  # for a problem: outcome.STATUS_INVALID or STATUS_REJECTED


def _folder_notebook(entry: Path, assignment_name: str, answer_ids=()) -> tuple[Path | None, str]:
    """The one notebook of a student's folder, or None and why not.

    Several notebooks: the one named after the assignment (or ``student``/``submission``), else
    the only one holding the assignment's answer cells.
    """
    nbs = sorted(p for p in entry.rglob("*.ipynb")
                 if ".ipynb_checkpoints" not in p.parts and not p.is_symlink() and p.is_file()
                 and not p.name.startswith("."))
    if len(nbs) == 1:
        return nbs[0], ""
    if not nbs:
        return None, "no .ipynb notebook in the submission folder"
    name = assignment_name.lower()
    for pick in (lambda p: p.stem.lower() == name, lambda p: name in p.stem.lower(),
                 lambda p: p.stem.lower() in ("student", "submission")):
        pref = [p for p in nbs if pick(p)]
        if len(pref) == 1:
            return pref[0], ""
    if answer_ids:
        holding = [p for p in nbs if _holds_answers(p, answer_ids)]
        if len(holding) == 1:
            return holding[0], ""
    names = ", ".join(_printable(str(p.relative_to(entry))) for p in nbs[:5])
    return None, f"several notebooks in the submission folder ({names}); keep only the one to grade"


def _holds_answers(path: Path, answer_ids) -> bool:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return False
        nb = nbmod.read_submission(path.read_bytes())
    except (OSError, nbmod.InvalidNotebook):
        return False
    found, _ = nbmod.answer_cells(nb)
    return bool(set(found) & set(answer_ids))


def find_submissions(folder: Path, assignment_name: str, answer_ids=()) -> list[Entry]:
    """One :class:`Entry` for every entry of ``folder`` (notebooks, folders, and everything else)."""
    out = []
    for entry in sorted(folder.iterdir(), key=lambda p: os.fsencode(p.name)):
        name = entry.name
        shown = _printable(name)
        if entry.is_dir() and not entry.is_symlink():
            sid = safe_id(name)
        else:
            stem = name[:-len(".ipynb")] if name.lower().endswith(".ipynb") and len(name) > 6 else name
            sid = safe_id(stem)
        e = Entry(sid, shown, None)
        if entry.is_symlink():
            e.problem, e.status = "symlink: submit the notebook file itself, not a link", outcome.STATUS_REJECTED
        elif name.startswith("."):
            e.problem, e.status = (f"hidden name {shown!r} (starts with a dot): rename it",
                                   outcome.STATUS_REJECTED)
        elif entry.is_dir():
            e.path, e.problem = _folder_notebook(entry, assignment_name, answer_ids)
            e.status = outcome.STATUS_INVALID if e.problem else ""
        elif not entry.is_file():
            e.problem, e.status = "not a regular file", outcome.STATUS_REJECTED
        elif not name.lower().endswith(".ipynb"):
            e.problem, e.status = f"not a .ipynb notebook ({shown})", outcome.STATUS_INVALID
        else:
            e.path = entry
        if e.path is not None:
            try:
                size = e.path.stat().st_size
            except OSError as err:
                size, e.problem, e.status = 0, f"cannot read the file: {err.strerror}", outcome.STATUS_INVALID
            if size > MAX_FILE_BYTES:
                e.problem = f"file too large ({size / 2**20:.0f} MB; limit {MAX_FILE_BYTES // 2**20} MB)"
                e.status = outcome.STATUS_INVALID
            if e.problem:
                e.path = None
        out.append(e)
    # Two entries with one id (a folder "a" and a file "a.ipynb"): the file keeps it.
    seen: dict[str, Entry] = {}
    for e in sorted(out, key=lambda e: (e.file.lower().endswith(".ipynb") is False, e.file)):
        if e.sid in seen:
            e.sid = e.sid + "-" + hashlib.sha256(e.file.encode("utf-8", "surrogateescape")).hexdigest()[:8]
        seen[e.sid] = e
    return out


class Grader:
    def __init__(self, assignment: Path, out: Path, limits: Limits | None = None, jobs: int = 1,
                 force: bool = False, isolation: str = "auto", hidden_file: Path | None = None,
                 progress: bool = True, extra_hide: list[str] | None = None, workroot: str | None = None):
        t0 = time.monotonic()
        self.timings: dict[str, float] = {}  # wall seconds of the batch's own phases (the benchmark reports them)
        self.phases: dict[str, dict] = {}  # those of each submission graded in this run
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
        self.timings["load"] = time.monotonic() - t0
        t1 = time.monotonic()
        self.hidden = self._hidden()
        self.timings["hidden_data"] = time.monotonic() - t1
        hide = [str(self.assignment), str(self.out)]
        if self.assignment.parent.name == "assignments":
            hide.append(str(self.assignment.parent))
        if self.hidden_file:
            hide.append(str(self.hidden_file))  # the file itself, not its folder
        self.extra_hide = list(extra_hide or [])
        self.sandbox = Sandbox(self.limits, hide + self.extra_hide, isolation=isolation, workroot=workroot)
        t1 = time.monotonic()
        self.fingerprint = self._fingerprint()
        self.timings["fingerprint"] = time.monotonic() - t1
        self.interrupted = 0  # the signal that stopped the batch
        self.summary = {}

    # -- hidden data ---------------------------------------------------------------------
    def _hidden(self) -> dict:
        if self.hidden_file:
            with np.load(self.hidden_file, allow_pickle=False) as d:
                return {k: d[k] for k in d.files}
        hdir = self.out / ".hidden"
        hdir.mkdir(parents=True, exist_ok=True)
        os.chmod(hdir, 0o700)
        # the spec's VERSION is in the name: a scoring change may change what the hidden data holds
        path = hdir / f"{self.spec.NAME}-v{getattr(self.spec, 'VERSION', '0')}-{'smoke' if self.smoke else 'full'}.npz"
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
            if file_digest(path, MAX_FILE_BYTES) != st.get("hash"):
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
        text = report.gradebook_csv(results, ids)  # with the original file name next to the id
        report.atomic_write(self.out / "gradebook.csv", text)

    # -- the batch ----------------------------------------------------------------------------
    def grade_one(self, e: Entry, slot: int, lock=None) -> dict | None:
        """Grade one entry and write its state, feedback and Gradescope files (never raises).

        Returns None when the batch was stopped while this one ran: nothing is written for it,
        so the next run grades it again.
        """
        try:
            if e.status == outcome.STATUS_REJECTED or (e.path is None and e.problem):
                r = run.result(self, e.sid, e.status or outcome.STATUS_INVALID, e.problem, run.empty_parts(self), "")
            else:
                r = run.grade(self, e.sid, e.path, e.problem, slot)
        except Exception as err:  # noqa: BLE001 - never abort the batch
            if self.sandbox.stopping:
                return None
            traceback.print_exc()
            r = run.result(self, e.sid, outcome.STATUS_GRADER_ERROR, f"{type(err).__name__}: {str(err)[:300]}",
                           run.empty_parts(self), "")
        finally:
            self.sandbox.release_slot(slot)
        if self.sandbox.stopping:
            return None
        r["file"] = e.file
        t0 = time.monotonic()
        with lock or threading.Lock():
            self.write_outputs(r)
        if isinstance(r.get("phases"), dict):
            r["phases"]["outputs"] = round(time.monotonic() - t0, 3)
            self.phases[r["id"]] = r["phases"]
        return r

    def grade_folder(self, submissions: Path) -> list[dict]:
        t0 = time.monotonic()
        submissions = Path(submissions).resolve()
        self.out.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            os.chmod(self.out, 0o700)  # the sandbox user must not read the gradebook, feedback or hidden data
        self.sandbox.sweep()
        entries = find_submissions(submissions, self.spec.NAME, self.layout.answers)
        self.sandbox.hide.append(str(submissions))
        todo, results = [], []
        for e in entries:
            c = self.cached(e.sid, e.path)
            if c is not None:
                c["file"] = e.file
                results.append(c)
            else:
                todo.append(e)
        skipped = len(results)
        need_run = [e for e in todo if e.path is not None]
        self.sandbox.threads = threads_per_job(min(self.jobs, len(need_run)))
        held = Slots(min(self.jobs, max(1, len(need_run)))) if todo else None
        restore = self._install_signals()
        self.timings["find"] = time.monotonic() - t0
        try:
            t1 = time.monotonic()
            if need_run:
                # The isolation level is not in the fingerprint: points do not depend on it.
                self.sandbox.probe(held.numbers()[0])
            self.timings["probe"] = time.monotonic() - t1
            t1 = time.monotonic()
            self._run_batch(todo, results, held.numbers() if held else [])
            self.timings["submissions"] = time.monotonic() - t1
        finally:
            restore()
            if held:
                held.release()
            self.sandbox.release_all()
        t1 = time.monotonic()
        self.write_gradebook(results)
        self.timings["gradebook"] = time.monotonic() - t1
        graded = len(results) - skipped
        self.summary = {"graded": graded, "skipped": skipped, "level": self.sandbox.level,
                        "level_notes": self.sandbox.reason, "interrupted": self.interrupted,
                        "not_graded": len(todo) - graded}
        return results

    def _install_signals(self):
        """SIGINT/SIGTERM: stop scheduling, kill the running sandboxes, keep what finished; twice: exit now."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None

        def handler(signum, frame):
            if self.interrupted:  # the second signal: kill, clean up what is quick, quit
                # In a thread, for at most a few seconds: this handler may have interrupted the first
                # one while it held a sandbox lock. What is left, dies with the grader (PDEATHSIG) and
                # the next run sweeps it.
                quick = threading.Thread(target=lambda: (self.sandbox.stop_all(wait=False),
                                                         self.sandbox.release_all()), daemon=True)
                quick.start()
                quick.join(5)
                os._exit(128 + signum)
            self.interrupted = signum
            print(f"\ngrade: {signal.Signals(signum).name}: stopping the runs in progress; the gradebook will hold "
                  "what finished (again to quit at once)", file=sys.stderr, flush=True)
            self.sandbox.stop_all()

        old = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}

        def restore():
            for sig, h in old.items():
                signal.signal(sig, h)

        return restore

    def _run_batch(self, todo, results, slot_numbers):
        slots: queue.Queue = queue.Queue()
        for i in slot_numbers:
            slots.put(i)
        lock = threading.Lock()

        def task(item):
            if self.sandbox.stopping:
                return None
            slot = slots.get()
            try:
                if self.sandbox.stopping:
                    return None
                return self.grade_one(item, slot, lock)
            finally:
                slots.put(slot)

        bar = None
        if self.progress and todo:
            from tqdm import tqdm

            bar = tqdm(total=len(todo), desc="grading", unit="nb", file=sys.stderr, dynamic_ncols=True)
        try:
            with ThreadPoolExecutor(max_workers=max(1, slots.qsize())) as pool:
                pending = {pool.submit(task, item) for item in todo}
                while pending:
                    # A timed wait: the main thread wakes at least twice a second, so a signal
                    # handler runs even when the kernel delivered the signal to a worker thread.
                    done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                    for fut in done:
                        r = fut.result()
                        if r is None:
                            continue
                        results.append(r)
                        if bar:
                            bar.set_postfix_str(f"{r['id']}: {r['status']}", refresh=False)
                            bar.update(1)
        finally:
            if bar:
                bar.close()
