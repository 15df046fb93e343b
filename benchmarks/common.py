"""Shared pieces of the benchmarks: the machine description, timing, result tables."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def machine() -> dict:
    """Where and with what the benchmarks ran."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        mem_gb = float("nan")
    versions = {}
    for name in ("tensorflow", "keras", "numpy", "sklearn", "jupyter_book", "nbval"):
        try:
            mod = __import__(name)
            versions[name] = getattr(mod, "__version__", "?")
        except Exception:  # noqa: BLE001 - report what is importable
            versions[name] = "not installed"
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(mem_gb, 1),
        "gpu": "none used (CUDA_VISIBLE_DEVICES='')",
        "python": platform.python_version(),
        "versions": versions,
        "commit": commit,
        "smoke": os.environ.get("AECOURSE_SMOKE") == "1",
    }


@contextmanager
def timer():
    """``with timer() as t: ...`` then ``t()`` is the elapsed wall time in seconds."""
    start = time.perf_counter()
    end = None

    def elapsed():
        return (end if end is not None else time.perf_counter()) - start

    try:
        yield elapsed
    finally:
        end = time.perf_counter()


def save(name: str, result: dict) -> Path:
    """Write one benchmark's result as JSON (atomically) and its rows as CSV."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2, default=float) + "\n")
    os.replace(tmp, path)
    rows = result.get("rows", [])
    if rows:
        keys = list(dict.fromkeys(k for r in rows for k in r))
        tmp = RESULTS / f"{name}.csv.tmp"
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=keys)
            w.writeheader()
            w.writerows(rows)
        os.replace(tmp, RESULTS / f"{name}.csv")
    return path


def fmt(v, key: str = "") -> str:
    if isinstance(v, float) and "ratio" in key:
        return f"{v:.5f}"
    if isinstance(v, float):
        if v != v:
            return "—"
        if abs(v) >= 100:
            return f"{v:,.0f}"
        if abs(v) >= 1:
            return f"{v:.2f}"
        return f"{v:.4g}"
    return str(v)


def markdown_table(rows: list[dict]) -> str:
    if not rows:
        return "(no rows)\n"
    keys = list(dict.fromkeys(k for r in rows for k in r))
    out = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for r in rows:
        out.append("| " + " | ".join(fmt(r.get(k, ""), k) for k in keys) + " |")
    return "\n".join(out) + "\n"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
