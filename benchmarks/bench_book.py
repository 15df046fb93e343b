"""The book: a clean full build, each notebook's time and peak memory, and cached rebuilds.

One clean build (fresh execution cache: every notebook executed in full mode, as readers
get it) is timed end to end. While it runs we follow its log — myst-nb announces each
notebook and reports its execution time — and sample the resident memory of the kernel
processes it starts every 0.2 s, so each notebook's peak memory is the largest we saw
while it executed. Then the same build runs again with nothing changed, and again with
``--all`` (every page rewritten, executions served from the cache).

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

from benchmarks.common import ROOT, log, timer

GOAL_MEMORY_GB = 2.0
OUT = ROOT / "_build" / "bench"
_EXECUTING = re.compile(r"(\S+\.ipynb): Executing notebook")
_EXECUTED = re.compile(r"(\S+\.ipynb): Executed notebook in ([\d.]+) seconds")


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
    notebooks: dict[str, dict] = {}
    current = {"name": None}
    lines: list[str] = []
    with timer() as t:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        parent = psutil.Process(proc.pid)
        done = threading.Event()

        def sample():
            while not done.is_set():
                name = current["name"]
                if name:
                    rss = _kernel_rss(parent)
                    nb = notebooks.setdefault(name, {"peak_rss_gb": 0.0})
                    nb["peak_rss_gb"] = max(nb["peak_rss_gb"], rss / 2**30)
                time.sleep(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        for line in proc.stdout:
            lines.append(line)
            m = _EXECUTING.search(line)
            if m:
                current["name"] = str(Path(m.group(1)).resolve().relative_to(ROOT))
                log(f"  executing {current['name']}")
            m = _EXECUTED.search(line)
            if m:
                name = str(Path(m.group(1)).resolve().relative_to(ROOT))
                notebooks.setdefault(name, {"peak_rss_gb": 0.0})["seconds"] = float(m.group(2))
                log(f"    {float(m.group(2)):.0f} s, peak {notebooks[name]['peak_rss_gb']:.2f} GB so far")
                current["name"] = None
        proc.wait()
        done.set()
        sampler.join()
    return t(), proc.returncode, notebooks, "".join(lines)


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
    ok = rc1 == rc2 == rc3 == 0
    rows = [{"notebook": name, "seconds": facts.get("seconds", float("nan")), "peak_rss_gb": facts["peak_rss_gb"]}
            for name, facts in sorted(notebooks.items())]
    rows += [
        {"notebook": "clean build, every notebook executed (total)", "seconds": t_clean, "peak_rss_gb": float("nan")},
        {"notebook": "rebuild, nothing changed", "seconds": t_cached, "peak_rss_gb": float("nan")},
        {"notebook": "rebuild with --all (pages rewritten, executions from cache)", "seconds": t_all,
         "peak_rss_gb": float("nan")},
    ]
    worst = max((f["peak_rss_gb"] for f in notebooks.values()), default=0.0)
    return {
        "title": "Book build: each notebook in full mode, and the cache",
        "rows": rows,
        "status": "ok" if ok else f"a build failed (exit codes {rc1}, {rc2}, {rc3}); see {OUT / 'build.log'}",
        "all_cached_over_clean": t_all / t_clean,
        "goal": f"a rebuild with the cache takes under 5% of the clean build; every notebook peaks under "
                f"{GOAL_MEMORY_GB} GB",
        "met": bool(ok and t_all / t_clean < 0.05 and worst < GOAL_MEMORY_GB),
        "verdict": f"cached rebuild (--all) {100 * t_all / t_clean:.1f}% of the clean build; "
                   f"largest notebook peak {worst:.2f} GB",
    }
