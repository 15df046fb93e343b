"""Run one notebook top to bottom in a fresh kernel; report its time, slowest cells and peak memory.

    .venv/bin/python tools/run_notebook.py notebooks/03_dense_autoencoder.ipynb [--out executed.ipynb]

Mode follows ``AECOURSE_SMOKE`` as everywhere else (unset: full mode, what readers get).
Peak memory is the largest resident set of the kernel process (and its children) seen
while sampling every 0.2 s, as ``benchmarks/bench_book.py`` measures it for the book.
Times depend on what else the machine is doing: the load average is printed with them.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

import nbformat
import psutil
from nbclient import NotebookClient


def _rss(pid: int) -> int:
    try:
        p = psutil.Process(pid)
        procs = [p, *p.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for q in procs:
        try:
            total += q.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebook", type=Path)
    ap.add_argument("--out", type=Path, help="write the executed notebook here")
    ap.add_argument("--timeout", type=int, default=1800, help="per-cell limit in seconds")
    args = ap.parse_args(argv)

    nb = nbformat.read(str(args.notebook), as_version=4)
    client = NotebookClient(nb, timeout=args.timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(args.notebook.resolve().parent)}})
    peak = {"rss": 0}
    done = threading.Event()
    cell_times: list[tuple[float, int]] = []

    def sample():
        while not done.is_set():
            km = client.km
            pid = getattr(getattr(km, "provisioner", None), "pid", None) if km else None
            if pid:
                peak["rss"] = max(peak["rss"], _rss(pid))
            time.sleep(0.2)

    t0 = time.perf_counter()
    load0 = os.getloadavg()[0]
    ok = True
    with client.setup_kernel():
        threading.Thread(target=sample, daemon=True).start()
        try:
            for i, cell in enumerate(nb.cells):
                c0 = time.perf_counter()
                client.execute_cell(cell, i)
                if cell.cell_type == "code":
                    cell_times.append((time.perf_counter() - c0, i))
        except Exception as e:  # report, then still print what was measured
            ok = False
            print(f"FAILED in cell {i}: {type(e).__name__}: {str(e)[-2000:]}", file=sys.stderr)
        finally:
            done.set()
    total = time.perf_counter() - t0
    if args.out:
        nbformat.write(nb, str(args.out))
    mode = "smoke" if os.environ.get("AECOURSE_SMOKE", "").strip().lower() in {"1", "true", "yes", "on"} else "full"
    print(f"{args.notebook}: {mode} mode, {total:.1f} s, peak kernel RSS {peak['rss'] / 2**30:.2f} GB, "
          f"load average {load0:.1f} at start / {os.getloadavg()[0]:.1f} at end, {os.cpu_count()} cores")
    for secs, i in sorted(cell_times, reverse=True)[:8]:
        first = "".join(nb.cells[i].source).strip().splitlines()[:1]
        print(f"  cell {i:3d}: {secs:7.1f} s  {first[0][:70] if first else ''}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
