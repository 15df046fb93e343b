"""Shared pieces of the benchmarks: the machine, how busy it was, timing, targets, result tables.

Every result records where it ran (:func:`machine`: CPU, cores, memory, versions, the git
commit and whether the tree had uncommitted changes) and how quiet the machine was while it
ran (:func:`activity`: load average before and after, and the CPU time that *other*
processes used meanwhile). Goals are stated with :func:`target`, which says whether each was
met and by how much.
"""

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
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(mem_gb, 1),
        "gpu": "none used (CUDA_VISIBLE_DEVICES='')",
        "python": platform.python_version(),
        "versions": versions,
        "commit": commit,
        "uncommitted_changes": bool(status),
        "smoke": os.environ.get("AECOURSE_SMOKE") == "1",
    }


# A machine counts as quiet when, before the benchmark, the 1-minute load average was below
# QUIET_LOAD and, while it ran, other processes used less than QUIET_OTHER_CORES cores on average.
QUIET_LOAD = 1.0
QUIET_OTHER_CORES = 0.2


def _busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy since boot (all cores)."""
    import psutil

    t = psutil.cpu_times()._asdict()
    return sum(v for k, v in t.items() if k not in ("idle", "iowait", "guest", "guest_nice"))


def _own_cpu_seconds() -> float:
    """CPU seconds used by this process, its reaped children and its live descendants."""
    import psutil

    me = psutil.Process()
    total = sum(me.cpu_times()[:4])  # user, system, children_user, children_system
    for child in me.children(recursive=True):
        try:
            total += sum(child.cpu_times()[:4])
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total


def judge_activity(load_before: tuple, load_after: tuple, other_cores: float, cores: int | None) -> dict:
    """Say, from the numbers, whether the machine was quiet enough for the timings to stand."""
    quiet = load_before[0] < QUIET_LOAD and other_cores < QUIET_OTHER_CORES
    facts = (f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after; other processes used "
             f"{other_cores:.2f} of {cores or '?'} cores on average while it ran")
    note = (f"quiet machine ({facts})" if quiet else
            f"NOT A QUIET MACHINE ({facts}): other work shared the cores, so times are inflated; "
            f"rerun when the machine is idle (quiet means load < {QUIET_LOAD} before and other "
            f"processes < {QUIET_OTHER_CORES} cores)")
    return {"load_before": [round(x, 2) for x in load_before], "load_after": [round(x, 2) for x in load_after],
            "other_processes_cores": round(other_cores, 3), "quiet": quiet, "note": note}


@contextmanager
def activity():
    """``with activity() as a: ...`` then ``a()`` says how busy the machine was meanwhile."""
    load0, busy0, own0, t0 = os.getloadavg(), _busy_seconds(), _own_cpu_seconds(), time.perf_counter()
    result: dict = {}

    def report() -> dict:
        return result

    try:
        yield report
    finally:
        wall = max(time.perf_counter() - t0, 1e-9)
        other = max(0.0, (_busy_seconds() - busy0) - (_own_cpu_seconds() - own0)) / wall
        result.update(judge_activity(load0, os.getloadavg(), other, os.cpu_count()))


def target(name: str, measured: float, goal: float, *, better: str = "lower", unit: str = "",
           digits: int = 3) -> dict:
    """One goal and how it went: met or missed, and by how much (relative to the goal).

    ``better="lower"``: the goal is ``measured <= goal`` (a time, a memory peak, an error);
    ``better="higher"``: ``measured >= goal`` (a speed-up).
    """
    if better not in ("lower", "higher"):
        raise ValueError(f"better must be 'lower' or 'higher', not {better!r}")
    met = bool(measured <= goal) if better == "lower" else bool(measured >= goal)
    margin = abs(measured - goal) / abs(goal) if goal else float("inf")
    sign = "≤" if better == "lower" else "≥"
    u = f" {unit}" if unit else ""
    how = f"met with {100 * margin:.1f}% to spare" if met else f"missed by {100 * margin:.1f}%"
    verdict = f"{how}: {fmt_num(measured, digits)}{u} against the goal {sign} {fmt_num(goal, digits)}{u}"
    return {"name": name, "measured": measured, "goal": goal, "better": better, "unit": unit, "met": met,
            "margin": margin, "verdict": verdict}


def fmt_num(v: float, digits: int = 3) -> str:
    if v != v:
        return "—"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.{digits}g}"


def targets_of(result: dict) -> list[dict]:
    """A result's targets; older results state one goal as ``goal``/``met``/``verdict`` text."""
    if result.get("targets"):
        return result["targets"]
    if "goal" in result:
        return [{"name": result["goal"], "met": bool(result.get("met")), "verdict": result.get("verdict", ""),
                 "legacy": True}]
    return []


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
