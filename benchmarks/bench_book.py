"""The book: a clean full build, each notebook's time and peak memory, and cached rebuilds.

One clean build (fresh execution cache: every notebook executed in full mode, as readers
get it) is timed end to end. While it runs we follow its log — myst-nb announces each
notebook and reports its execution time — and sample the resident memory of the kernel
processes it starts every 0.2 s, so each notebook's peak memory is the largest we saw
while it executed. Then the same build runs again with nothing changed, and again with
``--all`` (every page rewritten, executions served from the cache).

Every notebook in ``notebooks/`` must be executed by the clean build; one that is not (left out
of ``_toc.yml``, or failed) is reported as missing. Goals (issue 14): the clean build within
18 minutes on 2 cores, every notebook's peak kernel memory within 2.0 GB, and a rebuild served
from the execution cache under 5% of the clean build.

The built site is kept in ``_build/bench/_build/html`` to be looked at.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

from benchmarks.common import ROOT, log, target, timer

GOAL_MEMORY_GB = 2.0
GOAL_CLEAN_BUILD_S = 18 * 60
GOAL_CACHED_FRACTION = 0.05
OUT = ROOT / "_build" / "bench"
_EXECUTING = re.compile(r"(\S+\.ipynb): Executing notebook(?! failed)")
_FAILED = re.compile(r"(\S+\.ipynb): Executing notebook failed")
_EXECUTED = re.compile(r"(\S+\.ipynb): Executed notebook in ([\d.]+) seconds")


def expected_notebooks(root: Path = ROOT) -> list[str]:
    """Every notebook of the book: the clean build must execute each of them."""
    return sorted(str(p.relative_to(root)) for p in (root / "notebooks").glob("*.ipynb"))


def chapter_title(notebook: str, root: Path = ROOT) -> str:
    """The title of the notebook's chapter (``chapters/<stem>.md``), for the readers' table."""
    stem = Path(notebook).stem
    chapter = root / "chapters" / f"{stem}.md"
    if chapter.is_file():
        for line in chapter.read_text(encoding="utf-8").splitlines():
            if line.startswith("# "):
                return line[2:].strip()
    return stem


def _relative(path: str) -> str:
    p = Path(path)
    try:
        return str((p if p.is_absolute() else ROOT / p).resolve().relative_to(ROOT))
    except ValueError:
        return path


class LogFollower:
    """Reads a build log line by line: which notebook is executing, and each one's time."""

    def __init__(self):
        self.notebooks: dict[str, dict] = {}
        self.current: str | None = None

    def feed(self, line: str) -> None:
        m = _FAILED.search(line)
        if m:
            name = _relative(m.group(1))
            self.notebooks.setdefault(name, {"peak_rss_gb": 0.0})["failed"] = True
            self.current = None
            return
        m = _EXECUTING.search(line)
        if m:
            self.current = _relative(m.group(1))
            self.notebooks.setdefault(self.current, {"peak_rss_gb": 0.0})
            log(f"  executing {self.current}")
            return
        m = _EXECUTED.search(line)
        if m:
            name = _relative(m.group(1))
            facts = self.notebooks.setdefault(name, {"peak_rss_gb": 0.0})
            facts["seconds"] = float(m.group(2))
            log(f"    {facts['seconds']:.0f} s, peak {facts['peak_rss_gb']:.2f} GB")
            self.current = None

    def sample(self, rss_bytes: int) -> None:
        if self.current:
            facts = self.notebooks.setdefault(self.current, {"peak_rss_gb": 0.0})
            facts["peak_rss_gb"] = max(facts["peak_rss_gb"], rss_bytes / 2**30)


def _kernel_rss(parent: psutil.Process) -> int:
    total = 0
    try:
        for child in parent.children(recursive=True):
            try:
                if "ipykernel" in " ".join(child.cmdline()):
                    total += child.memory_info().rss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
    except psutil.NoSuchProcess:
        pass
    return total


def _build(cmd: list[str]) -> tuple[float, int, dict, str]:
    """Run one build, following its log; return seconds, exit code, per-notebook facts, log."""
    follower = LogFollower()
    lines: list[str] = []
    with timer() as t:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        parent = psutil.Process(proc.pid)
        done = threading.Event()

        def sample():
            while not done.is_set():
                if follower.current:
                    follower.sample(_kernel_rss(parent))
                time.sleep(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        for line in proc.stdout:
            lines.append(line)
            follower.feed(line)
        proc.wait()
        done.set()
        sampler.join()
    return t(), proc.returncode, follower.notebooks, "".join(lines)


def environment_gb(prefix: Path | None = None) -> float:
    """Disk taken by the installed environment (the virtual environment running this)."""
    prefix = Path(prefix or sys.prefix)
    total = 0
    for p in prefix.rglob("*"):
        try:
            if p.is_file() and not p.is_symlink():
                total += p.stat().st_size
        except OSError:
            pass
    return total / 2**30


def book_result(notebooks: dict, t_clean: float, t_cached: float, t_all: float, exit_codes: list[int],
                expected: list[str], env_gb: float | None = None, root: Path = ROOT) -> dict:
    """The result of the three builds: rows, per-notebook facts for readers, and every target's verdict."""
    missing = [nb for nb in expected if "seconds" not in notebooks.get(nb, {})]
    failed = sorted(nb for nb, f in notebooks.items() if f.get("failed"))
    per_notebook = [{"notebook": nb, "title": chapter_title(nb, root),
                     "seconds": notebooks.get(nb, {}).get("seconds", float("nan")),
                     "peak_rss_gb": notebooks.get(nb, {}).get("peak_rss_gb", float("nan"))}
                    for nb in sorted(set(expected) | set(notebooks))]
    rows = [{"what": nb["notebook"] + (" (NOT EXECUTED)" if nb["notebook"] in missing else ""),
             "seconds": nb["seconds"], "peak_rss_gb": nb["peak_rss_gb"]} for nb in per_notebook]
    rows += [
        {"what": "clean build, every notebook executed (total)", "seconds": t_clean, "peak_rss_gb": float("nan")},
        {"what": "rebuild, nothing changed", "seconds": t_cached, "peak_rss_gb": float("nan")},
        {"what": "rebuild with --all (pages rewritten, executions from cache)", "seconds": t_all,
         "peak_rss_gb": float("nan")},
    ]
    ok = all(rc == 0 for rc in exit_codes) and not missing and not failed
    targets = [{"name": "every notebook executed by the clean build, every build exits 0", "met": ok,
                "verdict": "all executed" if ok else
                f"exit codes {exit_codes}; not executed: {missing or 'none'}; failed: {failed or 'none'}"},
               target("clean full build (every notebook executed)", t_clean, GOAL_CLEAN_BUILD_S, unit="s")]
    targets += [target(f"peak kernel memory, {nb['notebook']}", nb["peak_rss_gb"], GOAL_MEMORY_GB, unit="GB")
                for nb in per_notebook if nb["notebook"] not in missing]
    targets.append(target("cached rebuild (--all) as a fraction of the clean build", t_all / t_clean,
                          GOAL_CACHED_FRACTION))
    result = {
        "title": "Book build: each notebook in full mode, and the cache",
        "rows": rows,
        "notebooks": per_notebook,
        "clean_build_seconds": t_clean,
        "status": "ok" if ok else f"problem: see the first target; log in {OUT / 'build.log'}",
        "targets": targets,
    }
    if env_gb is not None:
        result["environment_gb"] = env_gb
    return result


def run_build(smoke: bool = False) -> dict:
    jb = Path(sys.executable).parent / "jupyter-book"
    shutil.rmtree(OUT, ignore_errors=True)
    cmd = [str(jb), "build", ".", "--path-output", str(OUT.relative_to(ROOT)), "-W", "-n", "--keep-going"]
    log(f"clean build into {OUT} (fresh execution cache)")
    t_clean, rc1, notebooks, build_log = _build(cmd)
    (OUT / "build.log").write_text(build_log)
    log(f"  {t_clean:.0f} s (exit {rc1}); again with nothing changed")
    t_cached, rc2, _, _ = _build(cmd)
    t_all, rc3, _, _ = _build(cmd + ["--all"])
    log(f"  {t_cached:.1f} s; with --all {t_all:.1f} s")
    return book_result(notebooks, t_clean, t_cached, t_all, [rc1, rc2, rc3], expected_notebooks(),
                       env_gb=environment_gb())
