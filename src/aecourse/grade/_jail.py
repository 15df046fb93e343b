"""Sandbox launcher, run as root inside fresh mount/network/PID namespaces (``unshare``).

Usage: ``python _jail.py CONFIG.json``. Standalone on purpose (no aecourse imports).

As PID 1 of the new PID namespace it: makes mounts private, brings loopback up (the
kernel talks to nbval over 127.0.0.1; nothing else is reachable), covers /tmp, /var/tmp
and /dev/shm with fresh tmpfs, hides the grader's private paths (instructor source,
hidden data, other submissions, output) behind empty mode-000 tmpfs, keeps the few
paths the run needs reachable, then forks the child that drops to the unprivileged
user, sets resource limits and ``exec``s nbval. When that child ends, PID 1 exits and
the kernel kills every process left in the namespace (fork-bomb remnants, daemons).
Without namespaces (``"namespaces": false``) it only drops privileges and sets limits.
"""

import ctypes
import json
import os
import resource
import signal
import subprocess
import sys


def sh(*args):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def under(path, top):
    return path == top or path.startswith(top.rstrip("/") + "/")


def setup_mounts(cfg):
    sh("mount", "--make-rprivate", "/")
    if cfg.get("net_lo"):
        sh("ip", "link", "set", "lo", "up")
    # Paths that must stay reachable (work folder, interpreter, package, data) but
    # may lie under something we cover: hold them open, re-bind after covering.
    covers = [p for p in cfg.get("tmpfs", []) + cfg.get("mask_parents", []) if os.path.isdir(p)]
    keep = []
    wanted = cfg.get("keep", [])
    wanted = [p for p in wanted if not any(under(p, q) and p != q for q in wanted)]
    for path in wanted:
        if any(under(path, c) and path != c for c in covers) and os.path.exists(path):
            keep.append((path, os.open(path, os.O_RDONLY | os.O_DIRECTORY if os.path.isdir(path) else os.O_RDONLY)))
    for top in cfg.get("tmpfs", []):
        if os.path.isdir(top):
            sh("mount", "-t", "tmpfs", "-o", "size=256m,mode=1777,nosuid,nodev", "tmpfs", top)
    for top in cfg.get("mask_parents", []):
        # e.g. /root (mode 700): replace it with an empty, traversable tmpfs.
        if os.path.isdir(top):
            sh("mount", "-t", "tmpfs", "-o", "size=1m,mode=755,nosuid,nodev", "tmpfs", top)
    for path, fd in keep:
        if os.path.isdir(f"/proc/{os.getpid()}/fd/{fd}"):
            os.makedirs(path, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            open(path, "a").close()
        sh("mount", "--no-canonicalize", "--bind", f"/proc/{os.getpid()}/fd/{fd}", path)
        os.close(fd)
    for path in cfg.get("hide", []):
        if os.path.isdir(path):
            sh("mount", "-t", "tmpfs", "-o", "size=4k,mode=000,nosuid,nodev,noexec", "tmpfs", path)
        elif os.path.isfile(path):
            sh("mount", "--bind", "/dev/null", path)


def child(cfg, fds):
    os.setsid()
    for name, value in cfg["rlimits"].items():
        res = getattr(resource, "RLIMIT_" + name.upper())
        resource.setrlimit(res, (value, value))
    for fd in fds:
        os.set_inheritable(fd, True)
    if cfg.get("uid") is not None:
        os.setgroups([])
        os.setgid(cfg["gid"])
        os.setuid(cfg["uid"])
    try:  # no setuid binaries (su, sudo) can raise privileges again
        ctypes.CDLL(None, use_errno=True).prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
    except Exception:
        pass
    os.chdir(cfg["cwd"])
    os.umask(0o077)
    os.execve(cfg["argv"][0], cfg["argv"], cfg["env"])


def main():
    with open(sys.argv[1]) as f:
        cfg = json.load(f)
    fds = [int(x) for x in cfg.get("pass_fds", [])]
    if cfg.get("namespaces"):
        try:
            setup_mounts(cfg)
        except subprocess.CalledProcessError as e:
            sys.stderr.write(f"jail: {' '.join(e.cmd)} failed: {e.stderr.decode(errors='replace')}\n")
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
