"""Write every notebook's launch link and install cell from ``_config.yml``'s ``repository:``.

    python tools/sync_notebooks.py            # rewrite what is out of date (idempotent)
    python tools/sync_notebooks.py --check    # exit 1 and list what is out of date

One setting decides where the course lives (``_config.yml``)::

    repository:
      url: https://github.com/ORG/REPO   # the GitHub repository
      branch: main                       # what launch buttons and "Open in Colab" open
      release: v0.1.0                    # tag or commit the install cell installs

The tool owns exactly two things in each notebook (``notebooks/*.ipynb`` and every
assignment's ``source.ipynb``) and touches nothing else:

1. the **launch line** of the first markdown cell: the line that starts with
   ``[Open in Colab](``. It is replaced, or appended when missing;
2. the **install cell**: the first code cell, recognised by its ``install`` tag (or, once,
   by the old Colab-only install code). When the first code cell is something else, a new
   install cell is inserted before it, so no author's code is ever overwritten.

The install cell installs the helper package ``aecourse`` only when it cannot be imported,
from the release archive (``https://github.com/ORG/REPO/archive/RELEASE.zip``; pip needs no
git for it). ``AECOURSE_INSTALL_URL`` overrides the address (the tests point it at the local
checkout). Offline, it stops with one message saying what to do.

After rewriting an assignment's ``source.ipynb`` the tool regenerates its student notebook
with the course's own public command, ``python -m aecourse.assign FOLDER``.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parent.parent
INSTALL_TAG = "install"
INSTALL_MARK = "# Course helper package: managed by tools/sync_notebooks.py"
LAUNCH_PREFIX = "[Open in Colab]("
_LAUNCH_LINE = re.compile(r"^\[Open in Colab\]\([^)]*\)\.?[ \t]*$", re.M)
_OLD_INSTALL = re.compile(r"google\.colab.*pip.*install", re.S)
_GITHUB = re.compile(r"^https://github\.com/([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+?)(?:\.git)?/?$")
_MOVING = {"main", "master", "HEAD", "develop", "trunk", "gh-pages"}


class ConfigError(ValueError):
    """``_config.yml``'s repository settings cannot produce working links."""


@dataclass(frozen=True)
class Repository:
    """Where the course lives, as ``_config.yml`` says."""

    org: str
    name: str
    branch: str
    release: str
    path_to_book: str = ""
    colab_url: str = "https://colab.research.google.com"

    @property
    def url(self) -> str:
        return f"https://github.com/{self.org}/{self.name}"

    @property
    def install_url(self) -> str:
        """The release archive pip installs the helper package from (no git needed)."""
        return f"{self.url}/archive/{self.release}.zip"

    def repo_path(self, book_path: str) -> str:
        """A book-relative path as a path inside the repository."""
        prefix = self.path_to_book.strip("/")
        return f"{prefix}/{book_path}" if prefix else book_path

    def colab_link(self, book_path: str) -> str:
        return f"{self.colab_url.rstrip('/')}/github/{self.org}/{self.name}/blob/{self.branch}/{self.repo_path(book_path)}"


def load_repository(root: Path = ROOT) -> Repository:
    """Read and check ``repository:`` (and ``launch_buttons.colab_url``) from ``root/_config.yml``."""
    path = Path(root) / "_config.yml"
    config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    repo = config.get("repository") or {}
    url = str(repo.get("url", "")).strip()
    m = _GITHUB.match(url)
    if not m:
        raise ConfigError(f"{path}: repository.url must be a GitHub repository like https://github.com/ORG/REPO "
                          f"(found {url!r}); launch buttons, Colab links and the install cell are built from it.")
    branch = str(repo.get("branch", "") or "").strip()
    if not branch:
        raise ConfigError(f"{path}: repository.branch is missing (the branch the book is published from, e.g. main).")
    release = str(repo.get("release", "") or "").strip()
    if not release:
        raise ConfigError(f"{path}: repository.release is missing: the tag (e.g. v0.1.0) or commit whose helper "
                          "package the notebooks install. See the README, 'Cutting a release'.")
    if release in _MOVING or release == branch:
        raise ConfigError(f"{path}: repository.release is {release!r}, a moving branch; pin a tag (e.g. v0.1.0) "
                          "or a commit so a notebook installs the helper package it was written for.")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._/-]*", release):
        raise ConfigError(f"{path}: repository.release {release!r} is not a valid tag or commit name.")
    colab = str((config.get("launch_buttons") or {}).get("colab_url") or "https://colab.research.google.com")
    return Repository(m.group(1), m.group(2), branch, release, str(repo.get("path_to_book", "") or ""), colab)


# --------------------------------------------------------------------------- what the tool writes
def launch_line(repo: Repository, target: str) -> str:
    """The launch line of a notebook whose Colab copy is ``target`` (a book-relative path)."""
    return f"{LAUNCH_PREFIX}{repo.colab_link(target)})"


def install_source(repo: Repository) -> str:
    """The install cell: a no-op where ``aecourse`` imports, else a pinned install with one clear failure."""
    return f'''{INSTALL_MARK} from _config.yml; edit that, not this cell.
# Installs the helper package `aecourse` only where it is missing (Colab, a notebook downloaded
# on its own), pinned to release {repo.release}. In the course repository it does nothing.
import importlib.util
import os
import subprocess
import sys

if importlib.util.find_spec("aecourse") is None:
    source = os.environ.get("AECOURSE_INSTALL_URL") or (
        "{repo.install_url}")
    print(f"Installing the course's helper package from {{source}} ...")
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", source], capture_output=True, text=True)
    if pip.returncode != 0:
        said = [line for line in pip.stderr.splitlines() if line.strip()] or ["pip failed"]
        raise ModuleNotFoundError(
            f"Could not install the course's helper package from {{source}}. Offline or behind a firewall? "
            "Clone {repo.url} (or copy it), run `bash tools/setup.sh` "
            "as its README says and open this notebook there; or run `pip install /path/to/the/course` "
            "in this notebook's environment. Then restart the kernel and run all cells.\\n"
            f"(pip said: {{said[-1].strip()}})") from None
    importlib.invalidate_caches()
    print("Installed aecourse.")'''


def _launch_target(nb_path: Path, root: Path) -> str:
    """The book-relative path a notebook's Colab link opens: itself, or the student notebook for a source."""
    rel = nb_path.relative_to(root)
    if rel.name == "source.ipynb" and rel.parts[0] == "assignments":
        rel = rel.with_name("student.ipynb")
    return rel.as_posix()


def notebooks(root: Path = ROOT) -> list[Path]:
    """The notebooks the tool owns lines in: every course notebook and every assignment source."""
    root = Path(root)
    return sorted((root / "notebooks").glob("*.ipynb")) + sorted((root / "assignments").glob("*/source.ipynb"))


def _is_install_cell(cell) -> bool:
    return cell.cell_type == "code" and (INSTALL_TAG in cell.metadata.get("tags", [])
                                         or INSTALL_MARK in cell.source
                                         or bool(_OLD_INSTALL.search(cell.source)))


def _new_cell_id(nb) -> str:
    ids = {c.get("id") for c in nb.cells}
    candidates = ("install", *(f"install-{n}" for n in range(1, len(ids) + 2)))
    return next(c for c in candidates if c not in ids)


def sync(nb, repo: Repository, target: str):
    """Return ``nb`` with its launch line and install cell brought up to date (``nb`` is changed in place)."""
    first_md = next((c for c in nb.cells if c.cell_type == "markdown"), None)
    if first_md is None:
        raise ConfigError("the notebook has no markdown cell to hold its title and launch line")
    line = launch_line(repo, target)
    if _LAUNCH_LINE.search(first_md.source):
        first_md.source = _LAUNCH_LINE.sub(lambda _: line, first_md.source, count=1)
    else:
        first_md.source = first_md.source.rstrip("\n") + "\n" + line

    code = install_source(repo)
    first_code = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code"), None)
    if first_code is not None and _is_install_cell(nb.cells[first_code]):
        cell = nb.cells[first_code]
        cell.source = code
        cell.outputs, cell.execution_count = [], None
    else:
        cell = nbformat.v4.new_code_cell(code)
        cell["id"] = _new_cell_id(nb)
        at = first_code if first_code is not None else len(nb.cells)
        nb.cells.insert(at, cell)
    tags = [t for t in cell.metadata.get("tags", []) if t not in ("nbval-skip", "skip-execution", INSTALL_TAG)]
    cell.metadata["tags"] = [INSTALL_TAG, *([] if "hide-input" in tags else ["hide-input"]), *tags]
    return nb


def synced_text(path: Path, repo: Repository, root: Path) -> tuple[str, str]:
    """(current text, text after sync) of one notebook."""
    text = path.read_text(encoding="utf-8")
    nb = nbformat.reads(text, as_version=4)
    sync(nb, repo, _launch_target(path, root))
    nbformat.validate(nb)
    return text, nbformat.writes(nb) + "\n"


def _assign(folder: Path, check: bool) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "aecourse.assign", str(folder), *(["--check"] if check else [])]
    return subprocess.run(cmd, capture_output=True, text=True)


def run(root: Path = ROOT, check: bool = False) -> list[str]:
    """Sync (or, with ``check``, only inspect) every notebook under ``root``; return what was/is stale."""
    root = Path(root).resolve()
    repo = load_repository(root)
    stale = []
    for path in notebooks(root):
        old, new = synced_text(path, repo, root)
        if old != new:
            stale.append(str(path.relative_to(root)))
            if not check:
                tmp = path.with_suffix(".ipynb.tmp")
                tmp.write_text(new, encoding="utf-8")
                tmp.replace(path)
        if path.name == "source.ipynb":
            student = str((path.parent / "student.ipynb").relative_to(root))
            if check:
                if _assign(path.parent, check=True).returncode != 0:
                    stale.append(student)
                continue
            before = (path.parent / "student.ipynb").read_bytes() if (path.parent / "student.ipynb").is_file() else b""
            proc = _assign(path.parent, check=False)
            if proc.returncode != 0:
                raise RuntimeError(f"python -m aecourse.assign {path.parent} failed:\n{proc.stderr}")
            if (path.parent / "student.ipynb").read_bytes() != before:
                stale.append(student)
    return stale


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a notebook is out of date")
    parser.add_argument("--root", type=Path, default=ROOT, help="the course folder (default: this repository)")
    args = parser.parse_args(argv)
    try:
        stale = run(args.root, check=args.check)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.check:
        if stale:
            print("out of date (run: python tools/sync_notebooks.py):\n  " + "\n  ".join(stale), file=sys.stderr)
            return 1
        print("launch links and install cells are up to date")
        return 0
    print("rewrote:\n  " + "\n  ".join(stale) if stale else "nothing to change")
    return 0


if __name__ == "__main__":
    sys.exit(main())
