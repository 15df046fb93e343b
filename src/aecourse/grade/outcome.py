"""What happened in a run, in words the gradebook uses: cell outcomes in, one status and reason out.

The sandbox's nbval plugin reports every cell's start and end as events (``CELL_*`` below
are the outcomes it reports); :func:`classify` turns the events of one run into the
submission's status (``STATUS_*``) and a reason a student can read. Every status word the
grader writes is defined here, once.
"""

from __future__ import annotations

from dataclasses import dataclass

# Outcomes of one cell, as the nbval plugin (aecourse.grade.nbplugin) reports them.
CELL_PASSED = "passed"
CELL_SKIPPED = "skipped"
CELL_ERROR = "error"
CELL_TIMEOUT = "timeout"
CELL_KERNEL_DIED = "kernel_died"
CELL_OUTPUT_LIMIT = "output_limit"
CELL_MEMORY_LIMIT = "memory_limit"
CELL_DISK_LIMIT = "disk_limit"
FATAL_CELL_OUTCOMES = (CELL_TIMEOUT, CELL_KERNEL_DIED, CELL_OUTPUT_LIMIT, CELL_MEMORY_LIMIT, CELL_DISK_LIMIT)

# Statuses of a submission (the gradebook's status column).
STATUS_OK = "ok"
STATUS_ERRORS = "errors"
STATUS_TIMEOUT = CELL_TIMEOUT
STATUS_WALL_TIMEOUT = "wall_timeout"
STATUS_KERNEL_DIED = CELL_KERNEL_DIED
STATUS_MEMORY_LIMIT = CELL_MEMORY_LIMIT
STATUS_DISK_LIMIT = CELL_DISK_LIMIT
STATUS_OUTPUT_LIMIT = CELL_OUTPUT_LIMIT
STATUS_INVALID = "invalid_notebook"
STATUS_REJECTED = "rejected"
STATUS_RUN_FAILED = "run_failed"
STATUS_GRADER_ERROR = "grader_error"

_LABELS = {CELL_TIMEOUT: "timeout", CELL_KERNEL_DIED: "kernel died", CELL_OUTPUT_LIMIT: "output limit exceeded",
           CELL_MEMORY_LIMIT: "memory limit", CELL_DISK_LIMIT: "disk limit"}
_KINDS = {"answer": "answer cell {}", "check": "check cell {}", "export": "the grader's export",
          "other": "a setup cell"}


@dataclass
class Events:
    """The events of one run, sorted: which cells started, how each ended, whether the run finished."""

    starts: list
    ends: dict
    finished: bool

    @classmethod
    def of(cls, events: list[dict]) -> "Events":
        starts, ends, finished = [], {}, False
        for ev in events:
            if ev.get("event") == "start" and ev.get("cell") is not None:
                starts.append(ev["cell"])
            elif ev.get("event") == "end" and ev.get("cell") is not None:
                ends.setdefault(ev["cell"], ev)
            elif ev.get("event") == "finish":
                finished = True
        return cls(starts, ends, finished)

    def passed(self, cell: int | None) -> bool:
        return cell is not None and self.ends.get(cell, {}).get("outcome") == CELL_PASSED

    def failures(self) -> list[tuple[int, dict]]:
        return [(c, self.ends[c]) for c in sorted(self.ends)
                if self.ends[c].get("outcome") not in (CELL_PASSED, CELL_SKIPPED)]


def where(cell: int | None, infos: list) -> str:
    """Where a cell is, for a reason: ``part 2 (answer cell answer_model)``."""
    if cell is None or cell >= len(infos):
        return "the notebook"
    info = infos[cell]
    part = f"part {info.part}" if info.part else "the notebook"
    return f"{part} ({_KINDS[info.kind].format(info.grade_id)})"


def _fatal_reason(outcome: str, cell: int, ev: dict, infos: list, limits) -> str:
    reason = f"{_LABELS[outcome]} in {where(cell, infos)}"
    if outcome == CELL_KERNEL_DIED and ev.get("message"):
        reason += f": {ev['message']}"
    elif outcome == CELL_MEMORY_LIMIT:
        reason += f" ({limits.memory_mb} MB): {ev.get('message', '')}; the run was stopped there"
    elif outcome == CELL_DISK_LIMIT:
        reason += f": {ev.get('message', '')}; the run was stopped there"
    elif outcome == CELL_TIMEOUT:
        reason += f": cell ran longer than {limits.cell_timeout} s"
    return reason


def classify(ev: Events, infos: list, limits, killed_wall: bool, exit_code, log_tail: str) -> tuple[str, str]:
    """``(status, reason)`` of a run from its events (the first fatal cell wins, then the wall clock)."""
    failures = ev.failures()
    fatal = next(((c, e) for c, e in failures if e.get("outcome") in FATAL_CELL_OUTCOMES), None)
    if fatal:
        c, e = fatal
        return e["outcome"], _fatal_reason(e["outcome"], c, e, infos, limits)
    if killed_wall:
        running = ev.starts[-1] if ev.starts else None
        return STATUS_WALL_TIMEOUT, f"wall-clock limit of {limits.wall_timeout} s reached in {where(running, infos)}"
    if failures:
        c, e = failures[0]
        reason = f"error in {where(c, infos)}: {e.get('message', '')}"
        if len(failures) > 1:
            reason += f" (+{len(failures) - 1} more failing cell{'s' if len(failures) > 2 else ''})"
        return STATUS_ERRORS, reason
    if not ev.finished:
        last = log_tail.strip().splitlines()[-1:] or [""]
        return STATUS_RUN_FAILED, f"the notebook run ended unexpectedly (exit status {exit_code}): {last[0][:200]}"
    return STATUS_OK, ""
