"""Run one assembled notebook under nbval, isolated, with limits; report what happened per cell.

Student code never runs as root. Isolation levels (the gradebook's ``isolation`` column
records the level and the limit mechanisms, e.g. ``user+allowlist+netns+pidns+cgroup1+tmpfs+rlimits``):

- ``user+allowlist+netns+pidns`` (root, namespaces available): a dedicated unprivileged
  user per job slot; a fresh mount namespace whose root holds only what the run needs (the
  interpreter and its packages, the course package and the data folder read-only, the run's
  own work folder); no network (loopback only); a PID namespace killed with everything in it;
- ``user`` (root, no namespaces): the dedicated user; the grader's private files must be
  unreadable to it (checked before the first run), processes left behind are killed;
- ``rlimits`` (the grader is not root): resource limits, a fresh working folder and a
  scrubbed environment only. As root this level is refused: ``auto`` never falls back to it.

Limits per submission: memory and process count through a cgroup (v2 ``memory.max`` /
``pids.max``, or v1 ``memory.limit_in_bytes`` / ``pids.max``) when one can be created,
disk through a size-limited tmpfs work folder; per process ``RLIMIT_AS``/``FSIZE``/``NPROC``
always. ``Sandbox.level`` names the mechanisms used.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import hashlib
import json
import os
import pwd
import re
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
LEVEL_FULL = "user+allowlist+netns+pidns"
LEVEL_USER = "user"
LEVEL_NONE = "rlimits"
WORK_PREFIX = "aecourse-grade-"
CGROUP_DIR = "aecourse-grader"
MAX_MESSAGE = 300  # characters of an error message kept for the feedback
_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
PR_SET_PDEATHSIG = 1


@dataclass
class Limits:
    cell_timeout: int = 600
    wall_timeout: int = 1800
    memory_mb: int = 8192  # per submission (cgroup) and RLIMIT_AS/RLIMIT_DATA per process
    nproc: int = 512  # processes + threads per submission (cgroup pids) and of the sandbox user
    fsize_mb: int = 256  # largest file the run may write
    disk_mb: int = 2048  # all files of the run together (tmpfs work folder)
    cpu_s: int | None = None  # per process; default 2 x wall_timeout
    max_output: int = 20_000_000  # characters of cell output (and of raw stdout/stderr) before the run is stopped

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
    stopped: bool = False  # the grader was asked to stop (SIGINT/SIGTERM): the result means nothing
    limit: str = ""  # "memory", "disk", "output", "cell_timeout" when the sandbox enforced a limit itself


class Slots:
    """Job slots shared by every grader process on the machine, one sandbox user each.

    Two graders running at once (two batches, or parallel tests) must not share a user: its
    processes count against one ``RLIMIT_NPROC``, and a fork bomb in one would starve the other.
    A slot is held with an exclusive ``flock`` on ``$TMPDIR/aecourse-grader-slots/N.lock``.
    """

    def __init__(self, n: int, limit: int = 64):
        # One place for every grader of the machine (not $TMPDIR, which a caller may change).
        d = Path("/tmp" if os.access("/tmp", os.W_OK) else tempfile.gettempdir()) / "aecourse-grader-slots"
        d.mkdir(mode=0o700, exist_ok=True)
        self.held: dict[int, int] = {}
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


ROLE_EVAL = "eval"  # the user that evaluates a slot's saved models (never runs student code)


def _user_name(slot: int, role: str = "") -> str:
    base = f"{USER}-{role}" if role else USER
    return base if slot == 0 else f"{base}-{slot}"


def ensure_user(slot: int, role: str = "") -> tuple[int, int]:
    """Create (once) the unprivileged grader user for a job slot; return (uid, gid).

    ``role`` ``"eval"``: the slot's second user, which evaluates saved models while the
    student's kernel (the slot's first user) may still run: another user, so that kernel can
    neither signal, trace nor read it, nor starve it of processes (``RLIMIT_NPROC``).
    """
    name = _user_name(slot, role)
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
    if pw.pw_uid == 0:
        raise RuntimeError(f"the sandbox user {name} has uid 0")
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
    for anc in reversed(Path(path).parents):
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


def _under(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


def package_dir() -> Path:
    """The course package's folder (``.../aecourse``), as imported here (worktree or editable install)."""
    import aecourse

    return Path(aecourse.__file__).resolve().parent


def _data_dir() -> str | None:
    from aecourse import data

    d = data.data_dir()
    return os.path.realpath(d) if d else None


def runtime_binds() -> list[tuple[str, str, bool]]:
    """``(host path, path inside, writable)`` of what a run needs, besides its work folder."""
    binds = {}

    def add(named: str, rw: bool = False):
        if named and os.path.exists(named):
            binds[os.path.normpath(named)] = (os.path.realpath(named), os.path.normpath(named), rw)

    for top in ("/usr", "/lib", "/lib64", "/lib32", "/libx32", "/bin", "/sbin"):
        if os.path.isdir(top) and not os.path.islink(top):
            add(top)
    for name in ("passwd", "group", "hosts", "nsswitch.conf", "ld.so.cache", "ld.so.conf", "ld.so.conf.d",
                 "localtime", "os-release", "mime.types", "fonts", "alternatives", "ssl", "matplotlibrc"):
        add("/etc/" + name)
    add(sys.prefix)
    add(sys.base_prefix)
    add(os.path.dirname(os.path.dirname(os.path.realpath(sys.executable))))
    add(str(package_dir()))
    add(_data_dir())
    # Drop entries inside another one with the same mapping (the parent bind shows them already).
    out = []
    for named, (src, dst, rw) in sorted(binds.items()):
        parent = next((b for b in out if _under(dst, b[1]) and _under(src, b[0])
                       and src[len(b[0]):] == dst[len(b[1]):]), None)
        if parent is None:
            out.append((src, dst, rw))
    return out


def runtime_symlinks() -> list[tuple[str, str]]:
    return [(top, os.readlink(top)) for top in ("/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32")
            if os.path.islink(top)]


# --------------------------------------------------------------------------- cgroups
def _own_cgroup(controller: str | None) -> str:
    """This process's cgroup path for a v1 controller (None: the v2 unified path)."""
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            num, ctrls, path = line.split(":", 2)
            if (controller is None and num == "0") or (controller and controller in ctrls.split(",")):
                return path
    except OSError:
        pass
    return "/"


class Cgroup:
    """One submission's cgroup: memory and process limits for the whole run, OOM count, kill-all."""

    V2_ROOT = Path("/sys/fs/cgroup")
    V1_ROOT = Path("/sys/fs/cgroup")

    def __init__(self, version: str, dirs: list[Path]):
        self.version = version
        self.dirs = dirs

    @classmethod
    def parents(cls) -> tuple[str, list[Path]] | None:
        """Where this grader may create cgroups: ``("2", [dir])`` or ``("1", [memory dir, pids dir])``."""
        if os.geteuid() != 0:
            return None
        root = cls.V2_ROOT
        if (root / "cgroup.controllers").is_file():
            ctrls = (root / "cgroup.controllers").read_text().split()
            if {"memory", "pids"} <= set(ctrls):
                parent = root / _own_cgroup(None).lstrip("/") / CGROUP_DIR
                try:
                    parent.mkdir(parents=True, exist_ok=True)
                    (parent / "cgroup.subtree_control").write_text("+memory +pids")
                    return "2", [parent]
                except OSError:
                    pass
        mem = cls.V1_ROOT / "memory"
        pids = cls.V1_ROOT / "pids"
        if (mem / "cgroup.procs").is_file() and (pids / "cgroup.procs").is_file():
            dirs = [mem / _own_cgroup("memory").lstrip("/") / CGROUP_DIR,
                    pids / _own_cgroup("pids").lstrip("/") / CGROUP_DIR]
            try:
                for d in dirs:
                    d.mkdir(parents=True, exist_ok=True)
                return "1", dirs
            except OSError:
                return None
        return None

    @classmethod
    def create(cls, name: str, memory_bytes: int, pids: int) -> "Cgroup | None":
        found = cls.parents()
        if found is None:
            return None
        version, parents = found
        dirs = [p / name for p in parents]
        try:
            for d in dirs:
                d.mkdir(exist_ok=True)
            if version == "2":
                (dirs[0] / "memory.max").write_text(str(memory_bytes))
                if (dirs[0] / "memory.swap.max").exists():
                    (dirs[0] / "memory.swap.max").write_text("0")
                (dirs[0] / "pids.max").write_text(str(pids))
            else:
                (dirs[0] / "memory.limit_in_bytes").write_text(str(memory_bytes))
                if (dirs[0] / "memory.memsw.limit_in_bytes").exists():
                    try:
                        (dirs[0] / "memory.memsw.limit_in_bytes").write_text(str(memory_bytes))
                    except OSError:
                        pass
                (dirs[1] / "pids.max").write_text(str(pids))
        except OSError:
            cg = cls(version, dirs)
            cg.remove()
            return None
        return cls(version, dirs)

    @property
    def mechanism(self) -> str:
        return "cgroup" + self.version

    def join(self) -> None:
        """Move the calling process into the cgroup (called in the child before ``exec``)."""
        for d in self.dirs:
            with open(d / "cgroup.procs", "w") as f:
                f.write(str(os.getpid()))

    def oom_kills(self) -> int:
        name = "memory.events" if self.version == "2" else "memory.oom_control"
        try:
            for line in (self.dirs[0] / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except (OSError, ValueError):
            pass
        return 0

    def pids(self) -> list[int]:
        out = set()
        for d in self.dirs:
            try:
                out |= {int(x) for x in (d / "cgroup.procs").read_text().split()}
            except (OSError, ValueError):
                pass
        return sorted(out)

    def kill_all(self, wait: float = 5.0) -> None:
        if self.version == "2" and (self.dirs[0] / "cgroup.kill").exists():
            try:
                (self.dirs[0] / "cgroup.kill").write_text("1")
            except OSError:
                pass
        deadline = time.monotonic() + wait
        while True:
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            if time.monotonic() > deadline:
                return
            time.sleep(0.05)

    def remove(self) -> None:
        self.kill_all()
        for d in self.dirs:
            for _ in range(50):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.05)


# --------------------------------------------------------------------------- mounts
def _is_mount(path: Path) -> bool:
    try:
        return os.path.ismount(path)
    except OSError:
        return False


def _umount(path: Path) -> None:
    if _is_mount(path):
        _libc.umount2(str(path).encode(), 2)  # MNT_DETACH


def _mount_tmpfs(path: Path, size_mb: int, uid: int, gid: int) -> bool:
    opts = f"size={size_mb}m,mode=0700,uid={uid},gid={gid}".encode()
    return _libc.mount(b"tmpfs", str(path).encode(), b"tmpfs", ctypes.c_ulong(2 | 4), opts) == 0  # nosuid,nodev


# --------------------------------------------------------------------------- Keras' MNIST
KERAS_MNIST_HOOK = '''\
# Installed by the course's grader. The grader has no network: keras.datasets.mnist.load_data()
# reads the course's MNIST through aecourse.data (the same digits), or says how to load them.
import sys as _sys


def _aecourse_wrap(module):
    original = module.load_data

    def load_data(path="mnist.npz"):
        import os
        cached = os.path.join(os.environ.get("KERAS_HOME", os.path.expanduser("~/.keras")), "datasets", path)
        if os.path.exists(cached):
            return original(path)
        try:
            from aecourse import data
            (x_train, y_train), (x_test, y_test) = data.load_mnist(dtype="uint8", layout="image", download=False)
        except Exception as e:
            raise RuntimeError(
                "keras.datasets.mnist.load_data() cannot download MNIST here (the grader has no network) and "
                "the course's copy was not found (%s). Load the digits with aecourse.data.load_mnist() instead."
                % (str(e)[:200],)) from None
        return (x_train, y_train.astype("uint8")), (x_test, y_test.astype("uint8"))

    load_data.__doc__ = original.__doc__
    module.load_data = load_data


class _AecourseLoader:
    def __init__(self, inner):
        self.inner = inner

    def create_module(self, spec):
        return self.inner.create_module(spec)

    def exec_module(self, module):
        self.inner.exec_module(module)
        _aecourse_wrap(module)


class _AecourseKerasMnist:
    def find_spec(self, fullname, path=None, target=None):
        if fullname != "keras.src.datasets.mnist":
            return None
        import importlib.util
        _sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            _sys.meta_path.insert(0, self)
        if spec is not None and spec.loader is not None:
            spec.loader = _AecourseLoader(spec.loader)
        return spec


_sys.meta_path.insert(0, _AecourseKerasMnist())
'''

_KERAS_NPZ: dict = {}


def _genuine_keras_mnist() -> str | None:
    """The data folder's ``mnist.npz`` if it is byte-identical to Keras' (Keras checks its SHA-256)."""
    if "path" not in _KERAS_NPZ:
        _KERAS_NPZ["path"] = None
        d = _data_dir()
        if d:
            from aecourse import data

            p = Path(d) / "mnist.npz"
            try:
                if p.is_file() and data.sha256(p) == data.KERAS_MNIST_NPZ_SHA256:
                    _KERAS_NPZ["path"] = str(p)
            except OSError:
                pass
    return _KERAS_NPZ["path"]


def prepare_keras_home(work: Path) -> None:
    """``work/.keras/datasets``: Keras' genuine MNIST (if the data folder has it) and Fashion-MNIST files
    linked from the data folder; an IPython startup hook for ``keras.datasets.mnist.load_data()``."""
    ds = work / ".keras" / "datasets"
    ds.mkdir(parents=True, exist_ok=True)
    genuine = _genuine_keras_mnist()
    if genuine:
        os.symlink(genuine, ds / "mnist.npz")
    d = _data_dir()
    if d and (Path(d) / "fashion-mnist").is_dir():
        (ds / "fashion-mnist").mkdir(exist_ok=True)
        for f in sorted((Path(d) / "fashion-mnist").glob("*.gz")):
            os.symlink(f, ds / "fashion-mnist" / f.name)  # Keras checks no hash for these
    startup = work / ".ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    (startup / "00-aecourse-keras-mnist.py").write_text(KERAS_MNIST_HOOK)


def _chown_tree(top: Path, uid: int, gid: int) -> None:
    for dirpath, dirnames, filenames in os.walk(top):
        for name in [dirpath, *(os.path.join(dirpath, n) for n in dirnames + filenames)]:
            os.lchown(name, uid, gid)


# --------------------------------------------------------------------------- the sandbox
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
               "TF_NUM_INTEROP_THREADS")


def threads_per_job(jobs: int) -> int | None:
    """CPU threads for each of ``jobs`` runs at once: the cores shared out (None for one job: all of them).

    Two runs whose TensorFlow and BLAS each start a thread per core oversubscribe the cores;
    their threads then wait for each other and a batch gains less from ``--jobs``.
    """
    if jobs <= 1:
        return None
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, cores // jobs)


class Sandbox:
    """Chooses the isolation level once, then runs submissions."""

    def __init__(self, limits: Limits, hide: list[str], isolation: str = "auto", workroot: str | None = None):
        self.limits = limits
        self.hide = [os.path.realpath(h) for h in hide]
        self.workroot = workroot
        self.requested = isolation
        self.level = None
        self.base_level = None
        self.reason = ""
        self.mechanisms: list[str] = []
        self.stopping = False
        self._lock = threading.Lock()
        self._running: dict[int, tuple] = {}  # pid -> (proc, cgroup)
        self._bases: dict[str, tuple] = {}  # base path -> (lock fd, slot)
        # CPU threads of one run's math libraries (TensorFlow, OpenMP, BLAS); None: theirs (all cores).
        # The batch sets it when several runs share the cores (--jobs), unless the instructor set them.
        self.threads: int | None = None

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
        root = os.geteuid() == 0
        candidates = [LEVEL_FULL, LEVEL_USER, LEVEL_NONE] if wanted == "auto" else [
            {"full": LEVEL_FULL, "user": LEVEL_USER, "none": LEVEL_NONE}[wanted]]
        notes = []
        for level in candidates:
            if level != LEVEL_NONE and not root:
                notes.append(f"{level}: needs root (to create the sandbox user)")
                continue
            if level == LEVEL_NONE and root:
                notes.append(f"{level}: would run student code as root (refused)")
                continue
            if level == LEVEL_FULL and not (shutil.which("unshare") and shutil.which("ip")):
                notes.append(f"{level}: needs unshare (util-linux) and ip (iproute2)")
                continue
            ok, why = self._try(level)
            if ok:
                self.base_level = level
                self.mechanisms = self._mechanisms(level)
                self.level = "+".join([level, *self.mechanisms]) if level != LEVEL_NONE else LEVEL_NONE
                self.reason = "; ".join(notes)
                return self.level
            notes.append(f"{level}: {why}")
        fix = ("run the grader as root on a kernel that allows namespaces (unshare --mount --net --pid), "
               "make the interpreter and the course package reachable by other users for --isolation user, "
               "or run the grader as an unprivileged user (--isolation none)") if root else (
            "check the interpreter and the packages named above")
        raise RuntimeError("refusing to grade: no isolation level that keeps student code from running as root "
                           "works here (" + "; ".join(notes) + "). To fix: " + fix + ".")

    def _mechanisms(self, level: str) -> list[str]:
        mech = []
        if level != LEVEL_NONE:
            cg = Cgroup.create(f"probe-{os.getpid()}-{threading.get_ident()}", 2**30, 64)
            if cg is not None:
                mech.append(cg.mechanism)
                cg.remove()
            probe_dir = Path(tempfile.mkdtemp(prefix=WORK_PREFIX + "probe-", dir=self.workroot))
            try:
                if _mount_tmpfs(probe_dir, 1, 0, 0):
                    mech.append("tmpfs")
                    _umount(probe_dir)
            finally:
                shutil.rmtree(probe_dir, ignore_errors=True)
        mech.append("rlimits")
        return mech

    def _try(self, level: str) -> tuple[bool, str]:
        code = (
            "import os, sys\n"
            "assert os.getuid() != 0 and os.geteuid() != 0, 'running as root'\n"
            "import aecourse.grade\n"
            "aecourse.grade.skip_slow_imports()\n"
            "import nbval, nbformat, socket\n"
            "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); s.close()\n"
            f"for p in {self.hide!r}:\n"
            "    try:\n"
            "        (os.listdir if os.path.isdir(p) else lambda q: open(q, 'rb').read(1))(p)\n"
            "    except OSError:\n"
            "        continue\n"
            "    print('readable by the sandbox user: ' + p + ' (make it unreadable to other users)'); sys.exit(3)\n"
            "print('probe-ok', os.getuid())\n"
        )
        if level == LEVEL_USER:
            uid, gid = ensure_user(self._probe_slot)
            closed = sorted({a for src, _, _ in runtime_binds() for a in _ancestors_closed(src, uid, gid)})
            if closed:
                return False, (f"the sandbox user cannot reach the interpreter or the course package: "
                               f"{', '.join(closed[:3])} not traversable (chmod o+x, or use namespaces)")
        res = self.run_argv([sys.executable, "-c", code], level=level, slot=self._probe_slot, timeout=120)
        if res.exit_code == 0 and "probe-ok" in res.log_tail:
            return True, ""
        return False, (res.log_tail.strip().splitlines() or ["exit %s" % res.exit_code])[-1][:300]

    # -- running ----------------------------------------------------------------------------
    def env(self, work: Path) -> dict:
        env = {
            "PATH": f"{os.path.dirname(sys.executable)}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(work),
            "USER": "student",
            "LOGNAME": "student",
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "TMPDIR": str(work / "tmp"),
            "PYTHONPATH": str(package_dir().parent),
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
        if self.threads:
            for var in THREAD_VARS:
                env[var] = str(self.threads)
        for var in ("AECOURSE_SMOKE", "AECOURSE_DATA_DIR", *THREAD_VARS, "TF_CPP_MIN_LOG_LEVEL"):
            if var in os.environ:
                env[var] = os.environ[var]
        d = _data_dir()
        if d:  # the folder is mounted at its real path: a symlinked $AECOURSE_DATA_DIR would not resolve inside
            env["AECOURSE_DATA_DIR"] = d
        return env

    def new_workdir(self, slot: int, level: str, role: str = "") -> tuple[Path, Path]:
        """A fresh private folder (root-only) holding the sandbox's working folder ``work``.

        ``base/lock`` is held (flock) while the run lives, so that a later grader can tell a
        leftover of a killed grader (lock free) from a folder in use, and remove it.
        ``work`` is a tmpfs of ``disk_mb`` when the level uses one.
        """
        base = Path(tempfile.mkdtemp(prefix=WORK_PREFIX, dir=self.workroot))
        fd = os.open(base / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        with self._lock:
            self._bases[str(base)] = (fd, slot)
        work = base / "work"
        work.mkdir()
        (base / "root").mkdir()
        uid = gid = None
        if self.base_of(level) != LEVEL_NONE:
            os.chmod(base, 0o711)
            uid, gid = ensure_user(slot, role)
            if "tmpfs" in self.mechanisms and not _mount_tmpfs(work, self.limits.disk_mb, uid, gid):
                raise RuntimeError(f"cannot mount the work folder's tmpfs: {os.strerror(ctypes.get_errno())}")
        (work / "tmp").mkdir(exist_ok=True)
        prepare_keras_home(work)
        if uid is not None:
            _chown_tree(work, uid, gid)
            os.chmod(work, 0o700)
        return base, work

    def release(self, base: Path) -> None:
        """Unmount and remove a work folder (idempotent)."""
        base = Path(base)
        _umount(base / "work")
        shutil.rmtree(base, ignore_errors=True)
        with self._lock:
            held = self._bases.pop(str(base), None)
        if held:
            os.close(held[0])

    def release_slot(self, slot: int) -> None:
        """Remove every work folder of a job slot still here (after its submission is done)."""
        with self._lock:
            mine = [b for b, (_, s) in self._bases.items() if s == slot]
        for b in mine:
            self.release(Path(b))

    def release_all(self) -> None:
        with self._lock:
            mine = list(self._bases)
        for b in mine:
            self.release(Path(b))

    def sweep(self) -> list[str]:
        """Remove work folders and cgroups left by a grader that was killed (their lock is free)."""
        removed = []
        top = Path(self.workroot or tempfile.gettempdir())
        for d in sorted(top.glob(WORK_PREFIX + "*")):
            lock = d / "lock"
            try:  # (a lock file a second old: not one a live grader is about to take)
                if str(d) in self._bases or time.time() - lock.stat().st_mtime < 2:
                    continue
            except OSError:
                continue
            try:
                fd = os.open(lock, os.O_RDWR)
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue  # in use by a live grader
            try:
                self._remove_cgroup(d.name)
                _umount(d / "work")
                shutil.rmtree(d, ignore_errors=True)
                removed.append(str(d))
            finally:
                os.close(fd)
        found = Cgroup.parents()
        if found:
            # A cgroup without a work folder here may belong to another grader with another work
            # root (its folder is elsewhere): only an empty one is a leftover (the processes of a
            # killed grader's runs die with it, by PR_SET_PDEATHSIG and the pid namespace).
            live = {Path(b).name for b in self._bases}
            for parent in found[1]:
                for cg in parent.iterdir() if parent.is_dir() else []:
                    if cg.is_dir() and cg.name.startswith(WORK_PREFIX) and cg.name not in live \
                            and not (top / cg.name).exists() \
                            and not Cgroup(found[0], [p / cg.name for p in found[1]]).pids():
                        self._remove_cgroup(cg.name)
        return removed

    @staticmethod
    def _remove_cgroup(name: str) -> None:
        found = Cgroup.parents()
        if found:
            cg = Cgroup(found[0], [p / name for p in found[1]])
            if any(d.exists() for d in cg.dirs):
                cg.remove()

    def stop_all(self, wait: bool = True) -> None:
        """Stop every run in progress (SIGKILL to its whole tree); the runs report ``stopped``."""
        self.stopping = True
        with self._lock:
            running = list(self._running.values())
        for proc, cg in running:
            _kill_tree(proc, cg, wait)

    def run_argv(self, argv, level: str, slot: int, timeout: float, work: Path | None = None,
                 base: Path | None = None, extra_env: dict | None = None, on_event=None,
                 cell_timeout: float | None = None, max_output: int = 0, role: str = "") -> RunResult:
        own_dir = work is None
        if own_dir:
            base, work = self.new_workdir(slot, level, role)
        try:
            return self._run(argv, level, slot, timeout, work, base, extra_env, on_event, cell_timeout,
                             max_output, role)
        finally:
            if own_dir:
                self.release(base)
            else:
                _umount(work)  # the caller reads only the vault (outside work) afterwards

    @staticmethod
    def base_of(level: str | None) -> str:
        """The isolation level of a level string that may name mechanisms too (``user+allowlist+...+cgroup1``)."""
        level = level or LEVEL_NONE
        if level.startswith(LEVEL_FULL):
            return LEVEL_FULL
        if level.split("+")[0] == LEVEL_USER:
            return LEVEL_USER
        return LEVEL_NONE

    def _run(self, argv, level, slot, timeout, work, base, extra_env, on_event, cell_timeout, max_output, role=""):
        level = self.base_of(level)
        if level == LEVEL_NONE and os.geteuid() == 0:
            raise RuntimeError("refusing to run student code as root (isolation level rlimits)")
        env = self.env(work)
        env.update(extra_env or {})
        r_ev, w_ev = os.pipe()
        r_log, w_log = os.pipe()
        env["AECOURSE_GRADE_EVENTS_FD"] = str(w_ev)
        uid = gid = None
        if level != LEVEL_NONE:
            uid, gid = ensure_user(slot, role)
        binds = runtime_binds() + [(str(work), str(work), True)]
        hide = []
        for h in self.hide:
            for src, dst, _ in binds:
                if _under(h, src) and not _under(str(work), h):
                    hide.append(dst + h[len(src):])
        cfg = {
            "argv": argv, "env": env, "cwd": str(work), "rlimits": self.limits.rlimits(), "uid": uid, "gid": gid,
            "pass_fds": [w_ev], "namespaces": level == LEVEL_FULL, "net_lo": True, "root": str(base / "root"),
            "binds": binds, "symlinks": runtime_symlinks(), "hide": hide, "tmp_mb": 64,
            # the package's parent is on sys.path and the work folder's parent is scanned by pytest: both
            # hold nothing but their mount point
            "listable": [str(package_dir().parent)] + [str(p) for p in work.parents],
        }
        cfg_path = base / "jail.json"
        cfg_path.write_text(json.dumps(cfg))
        os.chmod(cfg_path, 0o600)
        cg = None
        if level != LEVEL_NONE and any(m.startswith("cgroup") for m in self.mechanisms):
            cg = Cgroup.create(base.name, self.limits.memory_mb * 2**20, self.limits.nproc)
        if level == LEVEL_FULL:
            cmd = ["unshare", "--mount", "--net", "--pid", "--fork", "--kill-child",
                   sys.executable, "-I", "-S", str(JAIL), str(cfg_path)]
        elif level == LEVEL_USER:
            cmd = [sys.executable, "-I", "-S", str(JAIL), str(cfg_path)]
        else:
            cmd = None
        t0 = time.monotonic()
        try:
            if self.stopping:
                raise _Stopped()
            if cmd is not None:
                def pre():
                    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
                    if cg is not None:
                        cg.join()

                proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=w_log, stderr=w_log,
                                        pass_fds=[w_ev], start_new_session=True, env={"PATH": env["PATH"]},
                                        preexec_fn=pre)
            else:
                limits = self.limits.rlimits()

                def pre():
                    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
                    for name, value in limits.items():
                        if name == "nproc":
                            continue  # would count the grader's own processes too
                        resource.setrlimit(getattr(resource, "RLIMIT_" + name.upper()), (value, value))

                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=w_log, stderr=w_log,
                                        pass_fds=[w_ev], start_new_session=True, env=env, cwd=str(work),
                                        preexec_fn=pre)
        except BaseException:
            for fd in (r_ev, w_ev, r_log, w_log):
                os.close(fd)
            if cg is not None:
                cg.remove()
            if isinstance(sys.exc_info()[1], _Stopped):
                return RunResult(level, None, 0.0, stopped=True)
            raise
        os.close(w_ev)
        os.close(w_log)
        with self._lock:
            self._running[proc.pid] = (proc, cg)
        try:
            col = _Collector(self, proc, cg, on_event, cell_timeout, max_output)
            col.run(r_ev, r_log, timeout)
        finally:
            with self._lock:
                self._running.pop(proc.pid, None)
            _kill_tree(proc, cg)
            if uid is not None and level != LEVEL_FULL:
                kill_user_processes(uid)
            if cg is not None:
                cg.remove()
        wall = time.monotonic() - t0
        col.disk_check(work, self.limits)
        if not any(e.get("event") == "start" for e in col.events):
            # pytest ran no cell (e.g. it could not collect the notebook): the run did not finish
            col.events = [e for e in col.events if e.get("event") != "finish"]
        junit = None
        jpath = work / "junit.xml"
        try:
            if jpath.is_file() and not jpath.is_symlink() and jpath.stat().st_size < 20 * 2**20:
                junit = jpath.read_text(errors="replace")
        except OSError:
            pass
        tail = col.tail.decode(errors="replace")
        return RunResult(level, proc.returncode, wall, col.killed == "wall", col.events, tail, junit,
                         stopped=col.killed == "stopped", limit=col.limit)

    def run_notebook(self, nb_path_in_work: str, work: Path, base: Path, slot: int, on_event=None) -> RunResult:
        lim = self.limits
        argv = [
            # -s: the kernel inherits this process's stdout (the sandbox's pipe, counted toward max_output),
            # not a pytest capture file (which would take writes to file descriptor 1 uncounted)
            sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
            "-p", "aecourse.grade.nbplugin", "-p", "nbval.plugin", "-c", "/dev/null", "--rootdir", str(work), "-o", "addopts=",
            "--nbval-lax", "--nbval-current-env", f"--nbval-cell-timeout={lim.cell_timeout}",
            "--nbval-kernel-startup-timeout=120", f"--junitxml={work / 'junit.xml'}", "-W", "ignore",
            nb_path_in_work,
        ]
        extra = {"AECOURSE_GRADE_MAX_OUTPUT": str(lim.max_output), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
        return self.run_argv(argv, self.level, slot, lim.wall_timeout, work=work, base=base,
                             extra_env=extra, on_event=on_event, cell_timeout=lim.cell_timeout,
                             max_output=lim.max_output)


class _Stopped(Exception):
    pass


def _kill_tree(proc, cg, wait: bool = True) -> None:
    """SIGKILL a run's whole tree: its process group (unshare: the PID namespace goes with it) and cgroup."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    if cg is not None:
        cg.kill_all(wait=5.0 if wait else 0.0)
    if not wait:
        return
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pass


def cell_grace(cell_timeout: float) -> float:
    """How long past the per-cell timeout the sandbox waits for nbval before it kills the kernel itself."""
    return max(30.0, 0.5 * cell_timeout)


class _Collector:
    """Reads a run's events and raw output; enforces the wall clock, the per-cell deadline (a cell that
    ignores the interrupt), the raw-output limit and the cgroup's memory limit by stopping the run."""

    TAIL = 8000

    def __init__(self, sandbox, proc, cg, on_event, cell_timeout, max_output):
        self.sandbox, self.proc, self.cg, self.on_event = sandbox, proc, cg, on_event
        self.cell_timeout, self.max_output = cell_timeout, max_output
        self.events: list = []
        self.tail = b""
        self.out_bytes = 0
        self.current = None  # (cell, monotonic start) of the cell running
        self.last_cell = None
        self.killed = ""  # "wall", "stopped", "limit"
        self.limit = ""

    def _event(self, ev):
        if isinstance(ev.get("message"), str) and len(ev["message"]) > MAX_MESSAGE:
            ev["message"] = ev["message"][:MAX_MESSAGE] + " [...]"
        if ev.get("event") == "start":
            self.current = (ev.get("cell"), time.monotonic())
            self.last_cell = ev.get("cell")
        elif ev.get("event") == "end" and self.current and ev.get("cell") == self.current[0]:
            self.current = None
        self.events.append(ev)
        if self.on_event is not None:
            try:
                self.on_event(ev)
            except Exception:  # a callback must not stop the collection
                pass

    def _override(self, outcome_word: str, message: str) -> None:
        cell = self.current[0] if self.current else self.last_cell
        if cell is None:
            return
        self.events = [e for e in self.events if not (e.get("event") == "end" and e.get("cell") == cell)]
        self.events.append({"event": "end", "cell": cell, "outcome": outcome_word, "message": message[:MAX_MESSAGE],
                            "by": "sandbox"})

    def _stop(self, why: str) -> None:
        self.killed = why
        _kill_tree(self.proc, self.cg)

    def run(self, r_ev, r_log, timeout):
        buf = b""
        deadline = time.monotonic() + timeout
        fds = {r_ev: "ev", r_log: "log"}
        drain = None
        try:
            while True:
                now = time.monotonic()
                if now >= deadline:
                    self._stop("wall")
                    break
                if self.sandbox.stopping:
                    self._stop("stopped")
                    break
                if fds:
                    ready, _, _ = select.select(list(fds), [], [], min(deadline - now, 0.5))
                else:
                    ready = []
                    time.sleep(min(deadline - now, 0.2))
                for fd in ready:
                    chunk = os.read(fd, 65536)
                    if not chunk:
                        del fds[fd]
                        continue
                    if fds[fd] == "ev":
                        buf += chunk
                        *lines, buf = buf.split(b"\n")
                        for line in lines:
                            try:
                                ev = json.loads(line)
                            except ValueError:
                                continue
                            if isinstance(ev, dict):
                                self._event(ev)
                    else:
                        self.out_bytes += len(chunk)
                        self.tail = (self.tail + chunk)[-self.TAIL:]
                if self._limits_hit():
                    break
                if self.proc.poll() is not None:
                    if not fds:
                        break
                    # the run ended but something still holds a pipe (a stray child): drain briefly
                    drain = drain if drain is not None else time.monotonic() + 2
                    if time.monotonic() > drain:
                        break
        finally:
            os.close(r_ev)
            os.close(r_log)

    def _limits_hit(self) -> bool:
        if self.cg is not None and self.cg.oom_kills() > 0:
            self._stop("limit")
            self.limit = "memory"
            self._override("memory_limit", f"the submission's processes together needed more than the memory "
                                           f"limit (cgroup v{self.cg.version}); a process was killed")
            return True
        if self.max_output and self.out_bytes > self.max_output:
            self._stop("limit")
            self.limit = "output"
            self._override("output_limit", f"Output limit exceeded: more than {self.max_output} characters written "
                                           "to standard output/error")
            return True
        if self.cell_timeout and self.current and self.current[0] is not None and \
                time.monotonic() - self.current[1] > self.cell_timeout + cell_grace(self.cell_timeout):
            self._stop("limit")
            self.limit = "cell_timeout"
            self._override("timeout", f"Timeout of {self.cell_timeout} s: the cell did not stop when interrupted; "
                                      "the grader killed the kernel")
            return True
        return False

    _ENOSPC = re.compile(r"No space left on device|Errno 28|Disk quota exceeded|Errno 122")

    def disk_check(self, work: Path, limits: Limits) -> None:
        """A cell that failed for lack of space in the work folder ended at the disk limit."""
        if self.limit:
            return
        for ev in self.events:
            if ev.get("event") == "end" and ev.get("outcome") not in ("passed", "skipped") \
                    and self._ENOSPC.search(str(ev.get("message", ""))):
                ev["outcome"] = "disk_limit"
                ev["message"] = (f"disk limit: the submission's files filled the {limits.disk_mb} MB work folder "
                                 f"({str(ev.get('message', ''))[:120]})")[:MAX_MESSAGE]
                self.limit = "disk"
                return


def file_digest(path: Path, limit: int) -> str | None:
    """SHA-256 of a regular file read in chunks (None if it is larger than ``limit``)."""
    h = hashlib.sha256()
    n = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            n += len(chunk)
            if n > limit:
                return None
            h.update(chunk)
    return h.hexdigest()
