"""Sandbox launcher, run as root; standalone on purpose (no aecourse imports).

Usage: ``python -I -S _jail.py CONFIG.json``.

With ``"namespaces": true`` it runs as PID 1 of fresh mount, network and PID namespaces
(started by ``unshare --mount --net --pid --fork --kill-child``) and builds the sandbox's
file system by **allow-list**: a new, empty root (tmpfs) into which only the paths listed in
``binds`` are bind-mounted (the interpreter and its packages, the course package and the
data folder read-only; the run's own work folder read-write), plus a minimal ``/dev``, a
fresh ``/proc``, a small private ``/tmp`` and a few files of ``/etc``. Then it
``pivot_root``s into it and detaches the old root: nothing else of the host (instructor
source, the course's ``.git``, other submissions, the output folder, home folders) exists
inside. Loopback is brought up (the kernel talks to nbval over 127.0.0.1); nothing else is
reachable.

It then forks the child that drops to the unprivileged user (never root: a config without
a uid is refused), sets the resource limits, asks for SIGKILL if its parent dies, and
``exec``s the run. When that child ends, PID 1 exits and the kernel kills every process
left in the namespace. Without namespaces it only drops privileges and sets limits.
"""

import ctypes
import ctypes.util
import json
import os
import platform
import resource
import signal
import subprocess
import sys

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "ppc64le": 203, "s390x": 217}

libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


class JailError(Exception):
    pass


def _check(ret, what):
    if ret != 0:
        err = ctypes.get_errno()
        raise JailError(f"{what}: {os.strerror(err)}")


def mount(src, target, fstype, flags, data=""):
    _check(libc.mount(src.encode() if src else None, target.encode(), fstype.encode() if fstype else None,
                      ctypes.c_ulong(flags), data.encode() if data else None),
           f"mount {src or fstype} on {target}")


def bind(src, target, rw=False, dev=False):
    is_dir = os.path.isdir(src)
    if is_dir:
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.exists(target):
            open(target, "a").close()
    mount(src, target, None, MS_BIND | MS_REC)
    flags = MS_BIND | MS_REMOUNT | MS_NOSUID | (0 if dev else MS_NODEV) | (0 if rw else MS_RDONLY)
    mount(None, target, None, flags)


def tmpfs(target, options, flags=MS_NOSUID | MS_NODEV):
    os.makedirs(target, exist_ok=True)
    mount("tmpfs", target, "tmpfs", flags, options)


def pivot_root(new_root):
    os.chdir(new_root)
    os.makedirs(".oldroot", exist_ok=True)
    nr = SYS_PIVOT_ROOT.get(platform.machine())
    if nr is not None:
        _check(libc.syscall(nr, b".", b".oldroot"), "pivot_root")
    else:  # pragma: no cover - other architectures
        subprocess.run(["pivot_root", ".", ".oldroot"], check=True)
    os.chdir("/")
    _check(libc.umount2(b"/.oldroot", MNT_DETACH), "umount old root")
    os.rmdir("/.oldroot")


def build_root(cfg):
    """Mount the allow-listed file system on ``cfg['root']`` and pivot into it."""
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    if cfg.get("net_lo"):
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)
    root = cfg["root"]
    tmpfs(root, "size=16m,mode=755")
    # Folders made to hold a mount point (/root, /work, ...) can be crossed but not listed.
    os.umask(0o066)
    r = lambda p: root + p  # noqa: E731  (a path inside the new root)
    for link, target in cfg.get("symlinks", []):
        os.makedirs(os.path.dirname(r(link)), exist_ok=True)
        os.symlink(target, r(link))
    os.makedirs(r("/proc"), exist_ok=True)
    mount("proc", r("/proc"), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    tmpfs(r("/dev"), "size=64k,mode=755", MS_NOSUID | MS_NOEXEC)
    for dev in ("null", "zero", "full", "random", "urandom"):
        bind("/dev/" + dev, r("/dev/" + dev), rw=True, dev=True)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                         ("stderr", "/proc/self/fd/2")):
        os.symlink(target, r("/dev/" + name))
    tmpfs(r("/dev/shm"), f"size={cfg.get('tmp_mb', 64)}m,mode=1777", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    tmpfs(r("/tmp"), f"size={cfg.get('tmp_mb', 64)}m,mode=1777")
    os.makedirs(r("/var"), mode=0o755, exist_ok=True)
    os.symlink("/tmp", r("/var/tmp"))
    # Parents before children, so that a child bind lands on top of its parent's.
    for src, dst, rw in sorted(cfg["binds"], key=lambda b: b[1].count("/")):
        if os.path.lexists(src):
            bind(src, r(dst), rw)
    for path in cfg.get("listable", []):  # e.g. the package's parent: on sys.path, so Python lists it
        if os.path.isdir(r(path)):
            os.chmod(r(path), 0o755)
    # Precise masks for the few private files that lie inside an allowed folder.
    for path in cfg.get("hide", []):
        p = r(path)
        if os.path.isdir(p) and not os.path.islink(p):
            mount("tmpfs", p, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, "size=4k,mode=000")
        elif os.path.isfile(p) and not os.path.islink(p):
            mount("/dev/null", p, None, MS_BIND)
    pivot_root(root)


def child(cfg, fds):
    os.setsid()
    for name, value in cfg["rlimits"].items():
        res = getattr(resource, "RLIMIT_" + name.upper())
        resource.setrlimit(res, (value, value))
    for fd in fds:
        os.set_inheritable(fd, True)
    if not cfg.get("uid"):
        raise JailError("refusing to run student code as root")
    os.setgroups([])
    os.setgid(cfg["gid"])
    os.setuid(cfg["uid"])
    if os.getuid() == 0 or os.geteuid() == 0:
        raise JailError("could not drop root privileges")
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)  # no setuid binary (su, sudo) can raise privileges again
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # cleared by setuid: set it again
    os.chdir(cfg["cwd"])
    os.umask(0o077)
    os.execve(cfg["argv"][0], cfg["argv"], cfg["env"])


def main():
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    with open(sys.argv[1]) as f:
        cfg = json.load(f)
    if os.getppid() == 1 and not cfg.get("namespaces"):
        sys.exit(99)  # the grader is gone already
    fds = [int(x) for x in cfg.get("pass_fds", [])]
    if cfg.get("namespaces"):
        try:
            build_root(cfg)
        except (OSError, JailError, subprocess.CalledProcessError) as e:
            sys.stderr.write(f"jail: cannot build the sandbox's file system: {e}\n")
            sys.exit(97)
    pid = os.fork()
    if pid == 0:
        try:
            child(cfg, fds)
        except BaseException as e:  # pragma: no cover - reported through the exit status
            sys.stderr.write(f"jail: cannot start the run: {type(e).__name__}: {e}\n")
            os._exit(98)
    for fd in fds:
        os.close(fd)
    signal.signal(signal.SIGTERM, lambda *a: os.kill(pid, signal.SIGKILL))
    status = 0
    while True:  # reap everything; leave when the run itself ended
        try:
            done, st = os.wait()
        except ChildProcessError:
            break
        if done == pid:
            status = os.waitstatus_to_exitcode(st)
            break
    if status < 0:
        status = 128 - status
    os._exit(status)


if __name__ == "__main__":
    main()
