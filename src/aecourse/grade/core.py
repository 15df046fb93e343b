"""Grade a folder of submissions: assemble, run isolated, score outside, write the gradebook."""

from __future__ import annotations

import hashlib
import json
import os
import queue
import re
import secrets
import shutil
import sys
import threading
import time
import traceback
import zipfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict
from pathlib import Path

import nbformat
import numpy as np

from . import notebook as nbmod
from . import report
from .sandbox import LEVEL_NONE, Limits, Sandbox, Slots, ensure_user
from .spec import Check, export_code, load_export, load_spec

SOURCE_NAME = "source.ipynb"
STATE_VERSION = "1"


def _smoke() -> bool:
    from aecourse import config

    return config.smoke()


def safe_id(name: str) -> str:
    s = re.sub(r"[^A-Za-z0-9._@+-]", "_", name).strip(".") or "submission"
    return s[:100]


def find_submissions(folder: Path, assignment_name: str) -> list[tuple[str, Path | None, str]]:
    """``[(id, notebook path or None, problem)]`` for every student in ``folder``."""
    out = []
    seen = set()
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_file() and entry.suffix.lower() == ".ipynb" and not entry.is_symlink():
            sid, path, problem = safe_id(entry.stem), entry, ""
        elif entry.is_dir() and not entry.is_symlink():
            sid = safe_id(entry.name)
            nbs = sorted(p for p in entry.rglob("*.ipynb")
                         if ".ipynb_checkpoints" not in p.parts and not p.is_symlink() and p.is_file())
            if len(nbs) == 1:
                path, problem = nbs[0], ""
            elif not nbs:
                path, problem = None, "no .ipynb notebook in the submission folder"
            else:
                pref = [p for p in nbs if assignment_name in p.stem or p.stem in ("student", "submission")]
                if len(pref) == 1:
                    path, problem = pref[0], ""
                else:
                    path, problem = None, "several notebooks in the submission folder: " + ", ".join(
                        str(p.relative_to(entry)) for p in nbs[:5])
        else:
            continue
        base, n = sid, 2
        while sid in seen:
            sid, n = f"{base}~{n}", n + 1
        seen.add(sid)
        out.append((sid, path, problem))
    return out


def _copy_nofollow(src: Path, dst: Path, limit: int = 512 * 2**20) -> None:
    """Copy a regular file written by the sandbox (never through a symlink, at most ``limit`` bytes)."""
    fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        import stat

        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
            return
        with open(fd, "rb", closefd=False) as f, open(dst, "wb") as out:
            shutil.copyfileobj(f, out)
    finally:
        os.close(fd)


class Grader:
    def __init__(self, assignment: Path, out: Path, spec=None, limits: Limits | None = None, jobs: int = 1,
                 force: bool = False, isolation: str = "auto", hidden_file: Path | None = None,
                 progress: bool = True, extra_hide: list[str] | None = None, workroot: str | None = None):
        self.assignment = Path(assignment).resolve()
        self.out = Path(out).resolve()
        self.source_path = self.assignment / SOURCE_NAME
        if not self.source_path.is_file():
            raise SystemExit(f"instructor source not found: {self.source_path}")
        self.source_bytes = self.source_path.read_bytes()
        self.source_nb = nbformat.reads(self.source_bytes.decode(), as_version=4)
        self.layout = nbmod.layout(self.source_nb)
        self.spec = spec if spec is not None and not isinstance(spec, str) else load_spec(spec, self.assignment)
        missing = [p.grade_id for p in self.layout.parts if p.points > 0 and p.grade_id not in self.spec.EXPORTS
                   and not getattr(self.spec, "SCORE_WITHOUT_EXPORT", {}).get(p.grade_id)]
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
        h.update(self.source_bytes)
        h.update(str(getattr(self.spec, "VERSION", "0")).encode())
        h.update(self.spec.NAME.encode())
        h.update(b"smoke" if self.smoke else b"full")
        h.update(STATE_VERSION.encode())
        for k in sorted(self.hidden):
            h.update(k.encode())
            h.update(np.ascontiguousarray(self.hidden[k]).tobytes())
        return h.hexdigest()

    # -- one submission -------------------------------------------------------------------
    def _empty_parts(self, note: str | None = None) -> list[dict]:
        return [{"number": p.number, "grade_id": p.grade_id, "points": 0.0, "max": p.points,
                 "checks": [], "notes": [note] if note else []} for p in self.layout.parts]

    def _result(self, sid, status, reason, parts, sub_hash, seconds=0.0, notes=()) -> dict:
        return {
            "id": sid, "status": status, "reason": reason,
            "total": round(sum(p["points"] for p in parts), 4),
            "max": sum(p.points for p in self.layout.parts),
            "parts": parts, "manual": list(self.layout.manual), "notes": list(notes),
            "isolation": self.sandbox.level or "", "hash": sub_hash, "fingerprint": self.fingerprint,
            "seconds": round(seconds, 2),
        }

    def grade_one(self, sid: str, path: Path | None, problem: str, slot: int) -> dict:
        t0 = time.monotonic()
        if path is None:
            return self._result(sid, "invalid_notebook", problem, self._empty_parts(), "")
        data = path.read_bytes()
        sub_hash = hashlib.sha256(data).hexdigest()
        try:
            nb = nbmod.read_submission(data)
        except nbmod.InvalidNotebook as e:
            return self._result(sid, "invalid_notebook", str(e), self._empty_parts(), sub_hash)
        answers, notes = nbmod.answer_cells(nb)
        if not answers:
            notes.append("no answer cells (nbgrader grade_id metadata) were found; was the student notebook "
                         "copied into a new one?")
        level = self.sandbox.level
        base, work = self.sandbox.new_workdir(slot, level)
        try:
            return self._run_and_score(sid, answers, notes, sub_hash, base, work, slot, t0)
        finally:
            shutil.rmtree(base, ignore_errors=True)

    def _run_and_score(self, sid, answers, notes, sub_hash, base, work, slot, t0):
        gdir = work / "_grader"
        gdir.mkdir()
        inputs = self.spec.sandbox_inputs(self.hidden)
        np.savez(gdir / "inputs.npz", **inputs)
        prelude = getattr(self.spec, "PRELUDE", "")
        exports = {gid: export_code(items, str(gdir / "inputs.npz"), str(gdir / f"export-{gid}.npz"), prelude)
                   for gid, items in self.spec.EXPORTS.items()}
        nb, infos, missing = nbmod.assemble(self.source_nb, answers, exports)
        nb_name = "submission.ipynb"
        nbformat.write(nb, str(work / nb_name))
        if self.sandbox.level != LEVEL_NONE:
            uid, gid = ensure_user(slot)
            for p in (gdir, gdir / "inputs.npz", work / nb_name):
                os.chown(p, uid, gid)
        # Take each export out of the sandbox the moment its cell has passed, into a root-only folder,
        # so that later student code cannot replace it.
        vault = base / "exports"
        vault.mkdir(mode=0o700)
        export_cells = {i: info.grade_id for i, info in enumerate(infos) if info.kind == "export"}

        def on_event(ev):
            if ev.get("event") == "end" and ev.get("outcome") == "passed" and ev.get("cell") in export_cells:
                gid_ = export_cells[ev["cell"]]
                _copy_nofollow(gdir / f"export-{gid_}.npz", vault / f"{gid_}.npz")

        res = self.sandbox.run_notebook(nb_name, work, base, slot, on_event=on_event)
        ends = {}
        starts = []
        finished = False
        for ev in res.events:
            if ev.get("event") == "start" and ev.get("cell") is not None:
                starts.append(ev["cell"])
            elif ev.get("event") == "end" and ev.get("cell") is not None:
                ends.setdefault(ev["cell"], ev)
            elif ev.get("event") == "finish":
                finished = True

        def where(cell):
            if cell is None or cell >= len(infos):
                return "the notebook"
            info = infos[cell]
            part = f"part {info.part}" if info.part else "the notebook"
            what = {"answer": f"answer cell {info.grade_id}", "check": f"check cell {info.grade_id}",
                    "export": "the grader's export", "other": "a setup cell"}[info.kind]
            return f"{part} ({what})"

        status, reason = "ok", ""
        failures = [(c, ends[c]) for c in sorted(ends) if ends[c]["outcome"] not in ("passed", "skipped")]
        fatal = next(((c, e) for c, e in failures if e["outcome"] in
                      ("timeout", "kernel_died", "output_limit", "memory_limit")), None)
        if fatal:
            c, e = fatal
            label = {"timeout": "timeout", "kernel_died": "kernel died", "output_limit": "output limit exceeded",
                     "memory_limit": "memory limit"}[e["outcome"]]
            status = e["outcome"]
            reason = f"{label} in {where(c)}"
            if e["outcome"] == "kernel_died" and e.get("message"):
                reason += f": {e['message']}"
            elif e["outcome"] == "memory_limit":
                reason += f" ({self.limits.memory_mb} MB): {e.get('message', '')}; the run was stopped there"
            elif e["outcome"] == "timeout":
                reason += f": cell ran longer than {self.limits.cell_timeout} s"
        elif res.killed_wall:
            running = starts[-1] if starts else None
            status = "wall_timeout"
            reason = f"wall-clock limit of {self.limits.wall_timeout} s reached in {where(running)}"
        elif failures:
            c, e = failures[0]
            status = "errors"
            reason = f"error in {where(c)}: {e.get('message', '')}"
            if len(failures) > 1:
                reason += f" (+{len(failures) - 1} more failing cell{'s' if len(failures) > 2 else ''})"
        elif not finished:
            status = "run_failed"
            last = res.log_tail.strip().splitlines()[-1:] or [""]
            reason = f"the notebook run ended unexpectedly (exit status {res.exit_code}): {last[0][:200]}"
        parts = []
        for p in self.layout.parts:
            entry = {"number": p.number, "grade_id": p.grade_id, "points": 0.0, "max": p.points,
                     "checks": [], "notes": []}
            gone = [a for a in p.answers if a in missing]
            if gone:
                entry["notes"] = [f"answer cell {a} not found" for a in gone]
                parts.append(entry)
                continue
            try:
                exp_cell = next((i for i, info in enumerate(infos) if info.kind == "export"
                                 and info.grade_id == p.grade_id), None)
                found, errors = {}, {}
                if exp_cell is not None:
                    ev = ends.get(exp_cell)
                    if ev and ev["outcome"] == "passed":
                        try:
                            found, errors = load_export(vault / f"{p.grade_id}.npz")
                        except (OSError, ValueError, zipfile.BadZipFile) as e:
                            entry["notes"].append(f"results for this part could not be read: {e}")
                            errors = {name: "not readable" for name in self.spec.EXPORTS.get(p.grade_id, {})}
                    else:
                        why = ("it did not run" if ev is None else ev.get("message") or ev["outcome"])
                        entry["notes"].append(f"results for this part could not be collected: {why}")
                        for name in self.spec.EXPORTS.get(p.grade_id, {}):
                            errors[name] = "not collected"
                checks = self.spec.score(p.grade_id, found, errors, self.hidden)
            except Exception as e:  # a scoring bug must not abort the batch
                checks = [Check("scoring", False, "", f"grader error: {type(e).__name__}: {e}")]
                entry["notes"].append("the grader could not score this part; tell your instructor")
                print(f"grade: scoring {sid}/{p.grade_id} failed:\n{traceback.format_exc()}", file=sys.stderr)
            total_w = sum(c.weight for c in checks) or 1.0
            got = sum(c.weight for c in checks if c.passed)
            entry["points"] = round(p.points * got / total_w, 4)
            entry["checks"] = [asdict(c) for c in checks]
            parts.append(entry)
        result = self._result(sid, status, reason, parts, sub_hash, time.monotonic() - t0, notes)
        result["cells"] = {str(c): {"kind": infos[c].kind if c < len(infos) else "?", "outcome": e["outcome"],
                                    "message": e.get("message", ""), "duration": e.get("duration")}
                           for c, e in ends.items()}
        result["junit"] = res.junit is not None
        if res.junit:
            report.atomic_write(self.out / "reports" / f"{sid}.junit.xml", res.junit)
        return result

    # -- the batch ----------------------------------------------------------------------------
    def state_path(self, sid: str) -> Path:
        return self.out / "state" / f"{sid}.json"

    def cached(self, sid: str, path: Path | None) -> dict | None:
        if self.force or path is None:
            return None
        try:
            st = json.loads(self.state_path(sid).read_text())
        except (OSError, ValueError):
            return None
        if st.get("fingerprint") != self.fingerprint:
            return None
        try:
            if hashlib.sha256(path.read_bytes()).hexdigest() != st.get("hash"):
                return None
        except OSError:
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
        slots: queue.Queue = queue.Queue()
        for i in (held.numbers() if held else []):
            slots.put(i)
        if todo:
            # The isolation level is not in the fingerprint: points do not depend on it.
            self.sandbox.probe(held.numbers()[0])
        lock = threading.Lock()

        def task(item):
            sid, path, problem = item
            slot = slots.get()
            try:
                try:
                    r = self.grade_one(sid, path, problem, slot)
                    with lock:
                        self.write_outputs(r)
                except Exception as e:  # never abort the batch
                    traceback.print_exc()
                    r = self._result(sid, "grader_error", f"{type(e).__name__}: {e}", self._empty_parts(), "")
                    with lock:
                        self.write_outputs(r)
                return r
            finally:
                slots.put(slot)

        try:
            self._run_batch(todo, results, slots, lock, task)
        finally:
            if held:
                held.release()
        self.write_gradebook(results)
        self.summary = {"graded": len(todo), "skipped": skipped, "level": self.sandbox.level,
                        "level_notes": self.sandbox.reason}
        return results

    def _run_batch(self, todo, results, slots, lock, task):
        bar = None
        if self.progress and todo:
            from tqdm import tqdm

            bar = tqdm(total=len(todo), desc="grading", unit="nb", file=sys.stderr, dynamic_ncols=True)
        try:
            with ThreadPoolExecutor(max_workers=max(1, slots.qsize())) as pool:
                futures = [pool.submit(task, item) for item in todo]
                for fut in as_completed(futures):
                    r = fut.result()
                    results.append(r)
                    if bar:
                        bar.set_postfix_str(f"{r['id']}: {r['status']}", refresh=False)
                        bar.update(1)
        finally:
            if bar:
                bar.close()
