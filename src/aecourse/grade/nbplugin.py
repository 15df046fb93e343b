"""pytest plugin loaded into the sandboxed nbval run (``-p aecourse.grade.nbplugin``).

It does three things nbval does not:

- notices a dead kernel within a second (nbval waits for the whole cell timeout);
- stops a kernel that floods its output (``AECOURSE_GRADE_MAX_OUTPUT`` bytes in all);
- reports each cell's start and outcome, as JSON lines, on a pipe inherited from the grader
  (``AECOURSE_GRADE_EVENTS_FD``); the variable is removed before the kernel starts, and
  kernels do not inherit the descriptor, so student code cannot forge these events.
"""

from __future__ import annotations

import json
import os
import re
import time
from queue import Empty

from . import skip_slow_imports

skip_slow_imports()  # imported before nbval (-p order in sandbox.run_notebook): before nbformat

_FD = None
_MAX_OUTPUT = 0
_state = {"bytes": 0, "cell": None, "error": None}


class KernelDied(RuntimeError):
    pass


class OutputLimit(RuntimeError):
    pass


def _emit(**event):
    if _FD is None:
        return
    try:
        os.write(_FD, (json.dumps(event) + "\n").encode())
    except OSError:
        pass


def _exit_desc(km) -> str:
    proc = getattr(getattr(km, "provisioner", None), "process", None) or getattr(km, "kernel", None)
    code = getattr(proc, "returncode", None)
    if code is None:
        return "the kernel process ended"
    if code < 0:
        import signal

        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"the kernel was killed by {name}"
    return f"the kernel exited with status {code}"


def _patch_nbval():
    from nbval import kernel as nbk

    original = nbk.RunningKernel.get_message

    def get_message(self, stream, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            step = 0.5 if deadline is None else max(0.0, min(0.5, deadline - time.monotonic()))
            try:
                msg = original(self, stream, timeout=step)
            except Empty:
                if not self.km.is_alive():
                    desc = _exit_desc(self.km)
                    raise KernelDied(f"Kernel died: {desc}") from None
                if deadline is not None and time.monotonic() >= deadline:
                    raise
                continue
            break
        if stream == "iopub":
            content = msg.get("content", {})
            kind = msg.get("msg_type")
            if kind == "stream":
                _state["bytes"] += len(content.get("text", ""))
            elif kind in ("display_data", "execute_result", "update_display_data"):
                _state["bytes"] += sum(len(str(v)) for v in content.get("data", {}).values())
            elif kind == "error":
                _state["error"] = (str(content.get("ename", ""))[:100], str(content.get("evalue", ""))[:300])
                _state["kernel"] = self
            if _MAX_OUTPUT and _state["bytes"] > _MAX_OUTPUT:
                try:
                    self.km.shutdown_kernel(now=True)
                except Exception:
                    pass
                raise OutputLimit(f"Output limit exceeded: the notebook printed more than {_MAX_OUTPUT} characters")
        return msg

    nbk.RunningKernel.get_message = get_message


def pytest_configure(config):
    global _FD, _MAX_OUTPUT
    fd = os.environ.pop("AECOURSE_GRADE_EVENTS_FD", None)
    _MAX_OUTPUT = int(os.environ.pop("AECOURSE_GRADE_MAX_OUTPUT", "0") or 0)
    if fd is not None:
        _FD = int(fd)
    try:  # not dumpable: the kernel (same user) cannot ptrace this process or open its descriptors
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0
    except Exception:
        pass
    _patch_nbval()
    _emit(event="configure", pid=os.getpid())


_CELL = re.compile(r"::Cell (\d+)$")


def _cell(nodeid):
    m = _CELL.search(nodeid)
    return int(m.group(1)) if m else None


def pytest_runtest_logstart(nodeid, location):
    _state["cell"] = _cell(nodeid)
    _state["error"] = None
    _emit(event="start", cell=_state["cell"], t=time.time())


def _classify(text: str) -> str:
    if "KernelDied" in text or "Kernel died" in text or "Kernel dead on test start" in text:
        return "kernel_died"
    if "OutputLimit" in text or "Output limit exceeded" in text:
        return "output_limit"
    if "Timeout of" in text:
        return "timeout"
    return "error"


def pytest_runtest_logreport(report):
    cell = _cell(report.nodeid)
    if report.when == "call" or (report.when == "setup" and not report.passed):
        if report.passed:
            _emit(event="end", cell=cell, outcome="passed", duration=round(report.duration, 3))
            return
        if report.skipped:
            _emit(event="end", cell=cell, outcome="skipped", duration=round(report.duration, 3))
            return
        text = str(report.longrepr)[-4000:] if report.longrepr else ""
        kind = _classify(text)
        err = _state["error"]
        if kind == "error" and err and err[0] == "MemoryError":
            kind = "memory_limit"
            # The failed allocation's frames stay referenced (IPython keeps the last traceback), so
            # the kernel is left at its memory limit: stop it rather than let later cells fail at random.
            kernel = _state.get("kernel")
            try:
                kernel.km.shutdown_kernel(now=True)
            except Exception:
                pass
        died = re.search(r"Kernel died: ([^\n]*)", text)
        if kind == "kernel_died" and died:
            message = died.group(1).strip()
        elif kind == "error" and err:
            message = f"{err[0]}: {err[1]}".strip()
        else:
            lines = [ln for ln in re.sub(r"\x1b\[[0-9;]*m", "", text).splitlines() if ln.strip()]
            message = next((ln.strip() for ln in lines if "Kernel died" in ln or "Timeout of" in ln
                            or "Output limit" in ln or "Kernel dead" in ln), lines[-1].strip() if lines else "")
        _emit(event="end", cell=cell, outcome=kind, message=message[:500], duration=round(report.duration, 3))


def pytest_sessionfinish(session, exitstatus):
    _emit(event="finish", status=int(exitstatus))
