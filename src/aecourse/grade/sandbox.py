"""Run one assembled notebook under nbval, isolated, with limits; report what happened per cell.

Isolation levels (the gradebook records which one was used):

- ``user+netns+mountns+pidns+rlimits`` (root, namespaces available): a dedicated
  unprivileged user per job slot, no network (loopback only), private /tmp, the grader's
  private paths hidden, a PID namespace that is killed with everything in it;
- ``user+rlimits`` (root, no namespaces, e.g. an unprivileged container): the dedicated user
  and resource limits; processes the run leaves behind are killed afterwards;
- ``rlimits`` (not root): resource limits, a fresh working folder and a scrubbed environment only.
"""

from __future__ import annotations

import json
import os
import pwd
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

JAIL = Path(__file__).with_name("_jail.py")
USER = "aecourse-grader"
LEVEL_FULL = "user+netns+mountns+pidns+rlimits"
LEVEL_USER = "user+rlimits"
LEVEL_NONE = "rlimits"


@dataclass
class Limits:
    cell_timeout: int = 600
    wall_timeout: int = 1800
    memory_mb: int = 8192  # RLIMIT_AS and RLIMIT_DATA per process
    nproc: int = 512  # processes + threads of the grader user (per job slot)
    fsize_mb: int = 256  # largest file the run may write
    cpu_s: int | None = None  # per process; default 2 x wall_timeout
    max_output: int = 20_000_000  # characters of cell output before the kernel is stopped

    def rlimits(self) -> dict:
        mem = self.memory_mb * 2**20
        return {
            "as": mem,
            "data": mem,
            "fsize": self.fsize_mb * 2**20,
            "cpu": self.cpu_s or 2 * self.wall_timeout,
            "nproc": self.nproc,
            "core": 0,
        }


@dataclass
class RunResult:
    level: str
    exit_code: int | None
    wall_s: float
    killed_wall: bool = False
    events: list = field(default_factory=list)
    log_tail: str = ""
    junit: str | None = None


class Slots:
    """Job slots shared by every grader process on the machine, one sandbox user each.

    Two graders running at once (two batches, or parallel tests) must not share a user: its
    processes count against one ``RLIMIT_NPROC``, and a fork bomb in one would starve the other.
    A slot is held with an exclusive ``flock`` on ``$TMPDIR/aecourse-grader-slots/N.lock``.
    """

    def __init__(self, n: int, limit: int = 64):
        d = Path(tempfile.gettempdir()) / "aecourse-grader-slots"
        d.mkdir(mode=0o700, exist_ok=True)
        self.held: dict[int, int] = {}
        import fcntl

        for i in range(limit):
            if len(self.held) == n:
                break
            fd = os.open(d / f"{i}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            self.held[i] = fd
        if not self.held:
            raise RuntimeError(f"all {limit} grader job slots are busy")

    def numbers(self) -> list[int]:
        return sorted(self.held)

    def release(self) -> None:
        for fd in self.held.values():
            os.close(fd)
        self.held.clear()


_USERADD_LOCK = threading.Lock()


def _user_name(slot: int) -> str:
    return USER if slot == 0 else f"{USER}-{slot}"


def ensure_user(slot: int) -> tuple[int, int]:
    """Create (once) the unprivileged grader user for a job slot; return (uid, gid)."""
    name = _user_name(slot)
    with _USERADD_LOCK:
        for attempt in range(10):
            try:
                pw = pwd.getpwnam(name)
                return pw.pw_uid, pw.pw_gid
            except KeyError:
                pass
            res = subprocess.run(
                ["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
                 "--shell", "/usr/sbin/nologin", "--user-group", name],
                capture_output=True, text=True,
            )
            if res.returncode not in (0, 9):  # 9: the user exists already (another grader made it)
                if attempt == 9:
                    raise RuntimeError(f"useradd {name} failed: {res.stderr.strip()}")
                time.sleep(0.5)  # /etc/passwd locked by another useradd
    pw = pwd.getpwnam(name)
    return pw.pw_uid, pw.pw_gid


def kill_user_processes(uid: int) -> None:
    """SIGKILL every process of ``uid`` (kill(-1) from a child that became that user)."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setgid(65534)
            os.setuid(uid)
            os.kill(-1, signal.SIGKILL)
        except OSError:
            pass
        os._exit(0)
    os.waitpid(pid, 0)


def _ancestors_closed(path: str, uid: int, gid: int) -> list[str]:
    """Ancestors of ``path`` that ``uid`` cannot traverse (e.g. /root, mode 700)."""
    closed = []
    p = Path(path)
    for anc in reversed(p.parents):
        try:
            st = anc.stat()
        except OSError:
            continue
        if st.st_uid == uid:
            ok = st.st_mode & 0o100
        elif st.st_gid == gid:
            ok = st.st_mode & 0o010
        else:
            ok = st.st_mode & 0o001
        if not ok:
            closed.append(str(anc))
    return closed


def runtime_paths() -> list[str]:
    """What the sandboxed run must be able to read: interpreter, venv, aecourse, data."""
    import aecourse

    paths = {
        os.path.realpath(sys.executable),
        sys.base_prefix,
        os.path.realpath(sys.base_prefix),
        sys.prefix,
        str(Path(aecourse.__file__).resolve().parent.parent),
    }
    exe_dir = os.path.dirname(os.path.realpath(sys.executable))
    paths.add(os.path.dirname(exe_dir))
    data = os.environ.get("AECOURSE_DATA_DIR")
    if data and os.path.isdir(data):
        paths.add(os.path.realpath(data))
    return sorted({os.path.realpath(p) for p in paths})


class Sandbox:
    """Chooses the isolation level once, then runs submissions."""

    def __init__(self, limits: Limits, hide: list[str], isolation: str = "auto", workroot: str | None = None):
        self.limits = limits
        self.hide = [os.path.realpath(h) for h in hide]
        self.workroot = workroot
        self.requested = isolation
        self.level = None
        self.reason = ""

    # -- choosing the level ---------------------------------------------------------------
    def probe(self, slot: int | None = None) -> str:
        if self.level:
            return self.level
        if slot is None:
            slots = Slots(1)
            try:
                return self.probe(slots.numbers()[0])
            finally:
                slots.release()
        self._probe_slot = slot
        wanted = self.requested
        candidates = [LEVEL_FULL, LEVEL_USER, LEVEL_NONE] if wanted == "auto" else [
            {"full": LEVEL_FULL, "user": LEVEL_USER, "none": LEVEL_NONE}[wanted]]
        notes = []
        for level in candidates:
            if level != LEVEL_NONE and os.geteuid() != 0:
                notes.append(f"{level}: not root")
                continue
            if level == LEVEL_FULL and not shutil.which("unshare"):
                notes.append(f"{level}: no unshare")
                continue
            ok, why = self._try(level)
            if ok:
                self.level = level
                self.reason = "; ".join(notes)
                return level
            notes.append(f"{level}: {why}")
        raise RuntimeError("no isolation level works here: " + "; ".join(notes))

    def _try(self, level: str) -> tuple[bool, str]:
        code = (
            "import aecourse, nbval, nbformat, socket, os\n"
            "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); s.close()\n"
            "print('probe-ok', os.getuid())\n"
        )
        res = self.run_argv([sys.executable, "-c", code], level=level, slot=self._probe_slot, timeout=120)
        if res.exit_code == 0 and "probe-ok" in res.log_tail:
            return True, ""
        return False, (res.log_tail.strip().splitlines() or ["exit %s" % res.exit_code])[-1][:200]

    # -- running ----------------------------------------------------------------------------
    def env(self, work: Path) -> dict:
        import aecourse

        env = {
            "PATH": f"{os.path.dirname(sys.executable)}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(work),
            "USER": "student",
            "LOGNAME": "student",
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "TMPDIR": str(work / "tmp"),
            "PYTHONPATH": str(Path(aecourse.__file__).resolve().parent.parent),
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONNOUSERSITE": "1",
            "MPLBACKEND": "Agg",
            "MPLCONFIGDIR": str(work / ".config" / "matplotlib"),
            "IPYTHONDIR": str(work / ".ipython"),
            "JUPYTER_CONFIG_DIR": str(work / ".jupyter"),
            "JUPYTER_DATA_DIR": str(work / ".local" / "share" / "jupyter"),
            "JUPYTER_RUNTIME_DIR": str(work / ".local" / "share" / "jupyter" / "runtime"),
            "JUPYTER_PLATFORM_DIRS": "1",
            "KERAS_HOME": str(work / ".keras"),
            "AECOURSE_NO_DOWNLOAD": "1",
        }
        for var in ("AECOURSE_SMOKE", "AECOURSE_DATA_DIR", "OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
                    "TF_NUM_INTEROP_THREADS"):
            if var in os.environ:
                env[var] = os.environ[var]
        return env

    def new_workdir(self, slot: int, level: str) -> tuple[Path, Path]:
        """A fresh private folder (root-only) holding the sandbox's working folder ``work``."""
        base = Path(tempfile.mkdtemp(prefix="aecourse-grade-", dir=self.workroot))
        work = base / "work"
        work.mkdir()
        (work / "tmp").mkdir()
        if level != LEVEL_NONE:
            os.chmod(base, 0o711)
            uid, gid = ensure_user(slot)
            for p in (work, work / "tmp"):
                os.chown(p, uid, gid)
                os.chmod(p, 0o700)
        return base, work

    def run_argv(self, argv, level: str, slot: int, timeout: float, work: Path | None = None,
                 base: Path | None = None, extra_env: dict | None = None, on_event=None) -> RunResult:
        own_dir = work is None
        if own_dir:
            base, work = self.new_workdir(slot, level)
        env = self.env(work)
        env.update(extra_env or {})
        r_ev, w_ev = os.pipe()
        env["AECOURSE_GRADE_EVENTS_FD"] = str(w_ev)
        uid = gid = None
        if level != LEVEL_NONE:
            uid, gid = ensure_user(slot)
        cfg = {
            "argv": argv,
            "env": env,
            "cwd": str(work),
            "rlimits": self.limits.rlimits(),
            "uid": uid,
            "gid": gid,
            "pass_fds": [w_ev],
            "namespaces": level == LEVEL_FULL,
            "net_lo": True,
            "tmpfs": ["/tmp", "/var/tmp", "/dev/shm", "/run/lock"],  # the world-writable places
            "keep": [str(work)] + runtime_paths(),
            "mask_parents": sorted({a for p in runtime_paths() for a in _ancestors_closed(p, uid or 0, gid or 0)})
            if uid is not None else [],
            "hide": [h for h in self.hide],
        }
        cfg_path = base / "jail.json"
        cfg_path.write_text(json.dumps(cfg))
        os.chmod(cfg_path, 0o600)
        log_path = base / "run.log"
        if level == LEVEL_FULL:
            cmd = ["unshare", "--mount", "--net", "--pid", "--fork", "--kill-child", "--mount-proc",
                   sys.executable, "-I", "-S", str(JAIL), str(cfg_path)]
        elif level == LEVEL_USER:
            cmd = [sys.executable, "-I", "-S", str(JAIL), str(cfg_path)]
        else:
            cmd = None
        t0 = time.monotonic()
        with open(log_path, "wb") as log:
            if cmd is not None:
                proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                        pass_fds=[w_ev], start_new_session=True, env={"PATH": env["PATH"]})
            else:
                limits = self.limits.rlimits()

                def pre():
                    for name, value in limits.items():
                        if name == "nproc":
                            continue  # would count the grader's own processes too
                        resource.setrlimit(getattr(resource, "RLIMIT_" + name.upper()), (value, value))

                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                        pass_fds=[w_ev], start_new_session=True, env=env, cwd=str(work),
                                        preexec_fn=pre)
        os.close(w_ev)
        events, killed = self._collect(proc, r_ev, timeout, on_event)
        wall = time.monotonic() - t0
        if uid is not None and level != LEVEL_FULL:
            kill_user_processes(uid)
        try:
            with open(log_path, "rb") as f:
                f.seek(max(0, os.path.getsize(log_path) - 8000))
                tail = f.read().decode(errors="replace")
        except OSError:
            tail = ""
        junit = None
        jpath = work / "junit.xml"
        try:
            if jpath.is_file() and not jpath.is_symlink() and jpath.stat().st_size < 20 * 2**20:
                junit = jpath.read_text(errors="replace")
        except OSError:
            pass
        res = RunResult(level, proc.returncode, wall, killed, events, tail, junit)
        if own_dir:
            shutil.rmtree(base, ignore_errors=True)
        return res

    def _collect(self, proc, r_ev, timeout, on_event=None):
        events = []
        buf = b""
        deadline = time.monotonic() + timeout
        killed = False
        drain = None
        with os.fdopen(r_ev, "rb", buffering=0) as pipe:
            open_pipe = True
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    killed = True
                    break
                if open_pipe:
                    ready, _, _ = select.select([pipe], [], [], min(left, 0.5))
                    if ready:
                        chunk = pipe.read(65536)
                        if not chunk:
                            open_pipe = False
                        else:
                            buf += chunk
                            *lines, buf = buf.split(b"\n")
                            for line in lines:
                                try:
                                    ev = json.loads(line)
                                except ValueError:
                                    continue
                                events.append(ev)
                                if on_event is not None:
                                    try:
                                        on_event(ev)
                                    except Exception:  # a callback must not stop the collection
                                        pass
                else:
                    time.sleep(min(left, 0.2))
                if proc.poll() is not None:
                    if not open_pipe:
                        break
                    # the run ended but something still holds the pipe (a stray child): drain briefly
                    drain = drain if drain is not None else time.monotonic() + 2
                    if time.monotonic() > drain:
                        break
        if killed or proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            proc.wait()
        return events, killed

    def run_notebook(self, nb_path_in_work: str, work: Path, base: Path, slot: int, on_event=None) -> RunResult:
        lim = self.limits
        argv = [
            sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "nbval.plugin",
            "-p", "aecourse.grade.nbplugin", "-c", "/dev/null", "--rootdir", str(work), "-o", "addopts=",
            "--nbval-lax", "--nbval-current-env", f"--nbval-cell-timeout={lim.cell_timeout}",
            "--nbval-kernel-startup-timeout=120", f"--junitxml={work / 'junit.xml'}", "-W", "ignore",
            nb_path_in_work,
        ]
        extra = {"AECOURSE_GRADE_MAX_OUTPUT": str(lim.max_output), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
        return self.run_argv(argv, self.level, slot, lim.wall_timeout, work=work, base=base, extra_env=extra,
                             on_event=on_event)
