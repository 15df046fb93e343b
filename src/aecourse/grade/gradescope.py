"""Gradescope: build ``autograder.zip`` and grade one submission inside Gradescope's container.

Gradescope unzips the bundle into ``/autograder/source``, runs ``setup.sh`` once when it builds
the image, then for every submission copies the student's files into ``/autograder/submission``
and runs ``/autograder/source/run_autograder``, which must leave
``/autograder/results/results.json``. ``run_autograder`` calls
``python -m aecourse.grade.gradescope --root /autograder``: the same pipeline as the local
grader (assemble, sandboxed nbval run, scoring outside the kernel), for a batch of one.
The root is configurable (``--root`` or ``AECOURSE_AUTOGRADER_ROOT``) so the tests can
simulate the layout in a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import traceback
import zipfile
from pathlib import Path

from .report import atomic_write

KEEP_REQUIREMENTS = ("tensorflow", "keras", "numpy", "pandas", "scikit-learn", "scipy", "matplotlib", "nbclient",
                     "ipykernel", "nbval", "pytest", "tqdm", "nbformat", "jupyter-client")

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v python3 >/dev/null 2>&1; then
  apt-get update -q && apt-get install -y -q python3 python3-venv python3-pip
fi
python3 -m venv /autograder/venv
/autograder/venv/bin/python -m pip install -q --upgrade pip
/autograder/venv/bin/python -m pip install -q -r requirements.txt
# util-linux (unshare, mount) and iproute2 (ip) give the strongest sandbox when the container allows it.
command -v unshare >/dev/null 2>&1 && command -v ip >/dev/null 2>&1 || \\
  (apt-get update -q && apt-get install -y -q util-linux iproute2) || true
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission: /autograder/submission -> /autograder/results/results.json
ROOT="${AECOURSE_AUTOGRADER_ROOT:-/autograder}"
PY="${AECOURSE_PYTHON:-$ROOT/venv/bin/python}"
[ -x "$PY" ] || PY=python3
export PYTHONPATH="$ROOT/source/src"
if [ -d "$ROOT/source/data" ]; then export AECOURSE_DATA_DIR="$ROOT/source/data"; fi
exec "$PY" -m aecourse.grade.gradescope --root "$ROOT"
"""


def _requirements() -> str:
    repo_req = Path(__file__).resolve().parents[3] / "requirements.txt"
    lines = []
    if repo_req.is_file():
        for line in repo_req.read_text().splitlines():
            name = line.split("==")[0].split(">=")[0].strip().lower()
            if any(name.startswith(k) for k in KEEP_REQUIREMENTS):
                lines.append(line.strip())
    if not lines:
        lines = list(KEEP_REQUIREMENTS)
    return "\n".join(lines) + "\n"


def build_bundle(assignment: Path, out: Path, limits=None) -> Path:
    """Write ``OUT/autograder.zip``: scripts, the aecourse package, pristine source, hidden data."""
    import aecourse
    import numpy as np

    from .batch import Grader

    assignment = Path(assignment).resolve()
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    g = Grader(assignment, out, limits=limits, progress=False)
    pkg = Path(aecourse.__file__).resolve().parent
    cfg = {
        "assignment": f"assignment/{assignment.name}",
        "smoke": g.smoke,
        "limits": {k: v for k, v in vars(g.limits).items()},
    }
    fd, tmp = tempfile.mkstemp(suffix=".zip", dir=out)
    os.close(fd)
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        def add_text(name, text, mode=0o644):
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, text)

        add_text("setup.sh", SETUP_SH, 0o755)
        add_text("run_autograder", RUN_AUTOGRADER, 0o755)
        add_text("requirements.txt", _requirements())
        add_text("grade.json", json.dumps(cfg, indent=1))
        z.write(g.source_path, f"assignment/{assignment.name}/source.ipynb")
        for f in sorted(pkg.rglob("*")):
            if f.is_file() and "__pycache__" not in f.parts and f.suffix in (".py", ".mplstyle", ".json", ".txt"):
                z.write(f, "src/aecourse/" + str(f.relative_to(pkg)))
        import io

        buf = io.BytesIO()
        np.savez(buf, **g.hidden)
        add_text("hidden/hidden.npz", buf.getvalue(), 0o600)
        for name, path in (getattr(g.spec, "bundle_files", lambda: {})() or {}).items():
            z.write(path, name)
    target = out / "autograder.zip"
    os.replace(tmp, target)
    return target


def _fail(results: Path, message: str) -> None:
    atomic_write(results, json.dumps({"score": 0, "output": message, "visibility": "visible",
                                      "stdout_visibility": "hidden", "tests": []}, indent=2))


def run(root: Path) -> int:
    """Grade ``ROOT/submission`` into ``ROOT/results/results.json``; always leaves a results file."""
    root = Path(root).resolve()
    source = root / "source"
    results = root / "results" / "results.json"
    try:
        cfg = json.loads((source / "grade.json").read_text())
        os.environ["AECOURSE_SMOKE"] = "1" if cfg.get("smoke") else "0"
        from . import skip_slow_imports

        skip_slow_imports()
        from .batch import Grader
        from .sandbox import Limits

        if os.geteuid() == 0:
            # Unzipping does not keep modes: make the private parts root-only, so that even without
            # mount namespaces the sandbox user cannot read the source, the hidden data or the results.
            for private in ("assignment", "hidden", "grade.json"):
                if (source / private).exists():
                    os.chmod(source / private, 0o700 if (source / private).is_dir() else 0o600)
            for private in (root / "results", root / "submission"):
                if private.is_dir():
                    os.chmod(private, 0o700)
        work = Path(tempfile.mkdtemp(prefix="aecourse-gradescope-"))
        try:
            subs = work / "subs"
            subs.mkdir()
            sub = root / "submission"
            if not sub.is_dir():
                _fail(results, "No submission folder found.")
                return 0
            shutil.copytree(sub, subs / "submission", symlinks=True)
            out = work / "out"
            g = Grader(source / cfg["assignment"], out, limits=Limits(**cfg.get("limits", {})),
                       hidden_file=source / "hidden" / "hidden.npz", progress=False,
                       extra_hide=[str(root / "results"), str(sub)])
            g.grade_folder(subs)
            produced = out / "gradescope" / "submission" / "results.json"
            atomic_write(results, produced.read_text())
            print(f"graded: {json.loads(produced.read_text())['score']} points; isolation {g.sandbox.level}")
        finally:
            shutil.rmtree(work, ignore_errors=True)
    except Exception as e:  # Gradescope needs a results file whatever happens
        traceback.print_exc()
        _fail(results, f"The autograder failed ({type(e).__name__}); please tell your instructor.")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m aecourse.grade.gradescope")
    p.add_argument("--root", default=os.environ.get("AECOURSE_AUTOGRADER_ROOT", "/autograder"))
    args = p.parse_args(argv)
    return run(Path(args.root))


if __name__ == "__main__":
    sys.exit(main())
