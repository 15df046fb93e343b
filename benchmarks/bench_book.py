"""The book: each notebook's wall time and peak memory, and the build with and without cache.

Notebooks: each runs top to bottom in a fresh process (nbclient, a fresh kernel), as
*Run all* does; the peak resident memory is the largest of that process tree, read from
the kernel's rusage when it exits (``os.wait4``). Book: a clean build (fresh execution
cache, every notebook executed) and then the same build again with nothing changed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import ROOT, log, timer

GOAL_MEMORY_GB = 2.0


def notebooks() -> list[Path]:
    nbs = sorted((ROOT / "notebooks").glob("*.ipynb"))
    src = ROOT / "assignments" / "denoising_dimension_reduction" / "source.ipynb"
    return nbs + ([src] if src.is_file() else [])


def run_notebook(path: Path, timeout: int = 3600) -> dict:
    """Execute one notebook in a child process; return seconds, peak RSS and status."""
    code = (
        "import sys, nbformat\n"
        "from nbclient import NotebookClient\n"
        "nb = nbformat.read(sys.argv[1], as_version=4)\n"
        f"NotebookClient(nb, timeout={timeout}, kernel_name='python3',"
        " resources={'metadata': {'path': sys.argv[2]}}).execute()\n"
    )
    with timer() as t:
        proc = subprocess.Popen([sys.executable, "-c", code, str(path), str(path.parent)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
    err = proc.stderr.read().decode(errors="replace")[-500:] if proc.stderr else ""
    ok = os.waitstatus_to_exitcode(status) == 0
    return {"notebook": str(path.relative_to(ROOT)), "seconds": t(), "peak_rss_gb": usage.ru_maxrss / 2**20,
            "status": "ok" if ok else f"failed: {err.strip().splitlines()[-1] if err.strip() else status}"}


def run_notebooks(smoke: bool = False) -> dict:
    rows = []
    for nb in notebooks():
        log(f"executing {nb.relative_to(ROOT)}")
        rows.append(run_notebook(nb))
        log(f"  {rows[-1]['seconds']:.1f} s, peak {rows[-1]['peak_rss_gb']:.2f} GB, {rows[-1]['status']}")
    worst = max((r["peak_rss_gb"] for r in rows), default=0.0)
    return {
        "title": "Each notebook, top to bottom in a fresh kernel",
        "rows": rows,
        "total_seconds": sum(r["seconds"] for r in rows),
        "goal": f"every notebook peaks under {GOAL_MEMORY_GB} GB of resident memory",
        "met": bool(worst < GOAL_MEMORY_GB and all(r["status"] == "ok" for r in rows)),
        "verdict": f"largest peak {worst:.2f} GB (goal < {GOAL_MEMORY_GB} GB)",
    }


def run_build(smoke: bool = False) -> dict:
    jb = Path(sys.executable).parent / "jupyter-book"
    out = Path(tempfile.mkdtemp(prefix="aecourse-bench-book-"))
    cmd = [str(jb), "build", str(ROOT), "--path-output", str(out), "-W", "-n", "--keep-going"]
    try:
        log(f"clean build into {out} (fresh execution cache)")
        with timer() as t_clean:
            first = subprocess.run(cmd, capture_output=True, text=True)
        log(f"  {t_clean():.0f} s; rebuilding with nothing changed")
        with timer() as t_cached:
            second = subprocess.run(cmd, capture_output=True, text=True)
        log(f"  {t_cached():.1f} s")
        with timer() as t_all:
            third = subprocess.run(cmd + ["--all"], capture_output=True, text=True)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    ok = first.returncode == second.returncode == third.returncode == 0
    rows = [
        {"build": "clean (fresh cache, every notebook executed)", "seconds": t_clean()},
        {"build": "again, nothing changed", "seconds": t_cached()},
        {"build": "again with --all (every page rewritten, executions from cache)", "seconds": t_all()},
    ]
    return {
        "title": "Book build",
        "rows": rows,
        "status": "ok" if ok else "a build failed",
        "cached_over_clean": t_cached() / t_clean(),
        "all_cached_over_clean": t_all() / t_clean(),
        "goal": "a rebuild with nothing changed takes under 5% of the clean build",
        "met": bool(ok and t_all() / t_clean() < 0.05),
        "verdict": f"cached rebuild (--all) took {100 * t_all() / t_clean():.1f}% of the clean build (goal < 5%)",
    }
