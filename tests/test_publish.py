"""Publishing: one repository setting, notebooks that start anywhere, set-up on Jupyter Book 1.

- ``_config.yml``'s ``repository:`` (url, branch, release) is the only place the course's
  address lives; ``tools/sync_notebooks.py`` writes every notebook's launch line and install
  cell from it, touching nothing else, and a fork that changes only that setting gets links,
  install cells and launch buttons that point at itself;
- no link in a notebook or page points at another repository or at a path this repository lacks;
- the install cell is silent where ``aecourse`` is installed, installs it where it is not
  (a fresh virtual environment, the install pointed at this checkout), and says what to do offline;
- ``tools/setup.sh`` refuses a Jupyter Book that is not 1.x.
"""

from __future__ import annotations

import html
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("sync_notebooks", ROOT / "tools" / "sync_notebooks.py")
sync = sys.modules.setdefault("sync_notebooks", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(sync)
REPO = sync.load_repository(ROOT)
STUDENT = ROOT / "assignments" / "denoising_dimension_reduction" / "student.ipynb"
IN_CI = bool(os.environ.get("CI"))


# --------------------------------------------------------------------------- links
URL = re.compile(r"(?:git\+)?https?://(?:www\.)?(?:github\.com|colab\.research\.google\.com/github|mybinder\.org/v2/gh"
                 r"|raw\.githubusercontent\.com)/[^\s\"'<>()\[\]\\`]+")


def repository_urls(text: str) -> list[str]:
    """Every address in ``text`` that names a GitHub repository (links, launch buttons, install URLs)."""
    return [u.rstrip(".,;:") for u in URL.findall(html.unescape(text))]


def tracked_paths(root: Path = ROOT) -> set[str]:
    out = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True, check=True).stdout.split()
    paths = set(out)
    for p in out:
        parts = p.split("/")
        paths.update("/".join(parts[:i]) for i in range(1, len(parts)))
    return paths


def link_problem(url: str, repo, exists) -> str | None:
    """Why ``url`` is wrong for ``repo`` (another repository, another ref, a missing path), or None."""
    u = url[4:] if url.startswith("git+") else url
    parsed = urlparse(u)
    host = parsed.netloc.lower().removeprefix("www.")
    parts = [unquote(p) for p in parsed.path.split("/") if p]
    ref = path = None
    refs = {repo.branch}
    if host == "github.com":
        if len(parts) < 2:
            return None
        org, name, rest = parts[0], parts[1], parts[2:]
        if "@" in name:                       # git+https://github.com/ORG/REPO@REF
            name, ref = name.split("@", 1)
            refs = {repo.release}
        name = name.removesuffix(".git")
        if rest[:1] and rest[0] in ("blob", "tree", "edit", "raw") and len(rest) >= 2:
            ref, path = rest[1], "/".join(rest[2:])
        elif rest[:1] == ["archive"] and len(rest) >= 2:
            ref = re.sub(r"\.(zip|tar\.gz)$", "", "/".join(rest[1:])).removeprefix("refs/tags/")
            refs = {repo.release}
    elif host == "colab.research.google.com":
        if len(parts) < 5 or parts[3] != "blob":
            return f"{url}: not a Colab link to a notebook on GitHub"
        org, name, ref, path = parts[1], parts[2], parts[4], "/".join(parts[5:])
    elif host == "mybinder.org":
        if len(parts) < 5:
            return f"{url}: not a Binder link to a GitHub repository"
        org, name, ref = parts[2], parts[3], parts[4]
        q = parse_qs(parsed.query)
        target = (q.get("urlpath") or q.get("filepath") or [""])[0]
        path = re.sub(r"^(lab/tree|tree|notebooks)/", "", target) or None
    elif host == "raw.githubusercontent.com":
        org, name, ref, path = parts[0], parts[1], parts[2], "/".join(parts[3:])
    else:
        return None
    if (org.lower(), name.lower()) != (repo.org.lower(), repo.name.lower()):
        return f"{url}: points at {org}/{name}, not this course's repository {repo.org}/{repo.name}"
    if ref is not None and ref not in refs:
        return f"{url}: uses {ref!r}, not {' or '.join(sorted(refs))!r} from _config.yml"
    if path:
        prefix = repo.path_to_book.strip("/")
        if prefix and not path.startswith(prefix + "/"):
            return f"{url}: {path} is outside the book folder {prefix}"
        if not exists(path):
            return f"{url}: {path} does not exist in this repository"
    return None


def test_link_checker_catches_other_repositories_refs_and_paths():
    repo = sync.Repository("me", "course", "main", "v1.0.0")
    exists = {"notebooks/a.ipynb", "notebooks"}.__contains__
    ok = ["https://github.com/me/course", "https://github.com/me/course/blob/main/notebooks/a.ipynb",
          "https://colab.research.google.com/github/me/course/blob/main/notebooks/a.ipynb",
          "https://mybinder.org/v2/gh/me/course/main?urlpath=lab/tree/notebooks/a.ipynb",
          "https://github.com/me/course/archive/v1.0.0.zip", "git+https://github.com/me/course@v1.0.0",
          "https://github.com/Me/Course/tree/main/notebooks"]
    for url in ok:
        assert link_problem(url, repo, exists) is None, url
    bad = {"https://github.com/other/course": "not this course's repository",
           "https://colab.research.google.com/github/me/course/blob/main/notebooks/b.ipynb": "does not exist",
           "https://colab.research.google.com/github/me/course/blob/dev/notebooks/a.ipynb": "uses 'dev'",
           "https://mybinder.org/v2/gh/other/course/main?urlpath=lab/tree/notebooks/a.ipynb": "other/course",
           "https://github.com/me/course/archive/main.zip": "uses 'main'",
           "git+https://github.com/me/course": None}
    for url, why in bad.items():
        problem = link_problem(url, repo, exists)
        if why is None:
            assert problem is None, (url, problem)
        else:
            assert problem and why in problem, (url, problem)
    assert repository_urls('<a href="https://github.com/me/course/blob/main/x.md">x</a> and '
                           '`https://colab.research.google.com/github/me/course/blob/main/y.ipynb`.') == [
        "https://github.com/me/course/blob/main/x.md",
        "https://colab.research.google.com/github/me/course/blob/main/y.ipynb"]


def text_of(path: Path) -> str:
    if path.suffix == ".ipynb":
        nb = nbformat.read(path, as_version=4)
        return "\n".join(c.source for c in nb.cells)
    return path.read_text(encoding="utf-8")


def test_links_in_notebooks_and_pages_point_at_this_repository():
    tracked = tracked_paths()
    # The book's sources and the notebooks (the README's ORG/REPO placeholders are not links).
    book = ("notebooks/", "assignments/", "chapters/", "pages/", "intro.md", "_config.yml", "_toc.yml", "references.bib")
    files = [ROOT / p for p in sorted(tracked) if p.startswith(book) and p.endswith((".ipynb", ".md", ".yml", ".bib"))
             and (ROOT / p).is_file()]
    problems, seen = [], 0
    for f in files:
        for url in repository_urls(text_of(f)):
            seen += 1
            why = link_problem(url, REPO, tracked.__contains__)
            if why:
                problems.append(f"{f.relative_to(ROOT)}: {why}")
    assert seen >= len(sync.notebooks()), "expected a launch link in every notebook"
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------- the setting
def test_config_pins_a_release_that_matches_the_package():
    assert REPO.url.startswith("https://github.com/") and REPO.branch
    version = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    import aecourse

    assert aecourse.__version__ == version, "src/aecourse/__init__.py and pyproject.toml disagree on the version"
    commit = re.fullmatch(r"[0-9a-f]{7,40}", REPO.release)
    assert commit or REPO.release == f"v{version}", (
        f"repository.release is {REPO.release!r}: use the tag v{version} of the package version in pyproject.toml "
        "(or a commit); see the README, 'Cutting a release'")


@pytest.mark.parametrize("repository, message", [
    ({"url": "https://gitlab.com/me/course", "branch": "main", "release": "v1"}, "must be a GitHub repository"),
    ({"url": "https://github.com/me/course", "branch": "main"}, "repository.release is missing"),
    ({"url": "https://github.com/me/course", "branch": "main", "release": "main"}, "a moving branch"),
    ({"url": "https://github.com/me/course", "release": "v1"}, "repository.branch is missing"),
])
def test_bad_repository_settings_get_a_clear_error(tmp_path, capsys, repository, message):
    import yaml

    (tmp_path / "_config.yml").write_text(yaml.safe_dump({"title": "x", "repository": repository}))
    with pytest.raises(sync.ConfigError, match=message):
        sync.load_repository(tmp_path)
    assert sync.main(["--check", "--root", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err


# --------------------------------------------------------------------------- the generator, on copies
def copy_course(dest: Path) -> Path:
    """The files the generator reads and writes, copied from this checkout."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / "_config.yml", dest / "_config.yml")
    for nb in sync.notebooks(ROOT):
        target = dest / nb.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(nb, target)
        if nb.name == "source.ipynb":
            shutil.copy2(nb.with_name("student.ipynb"), target.with_name("student.ipynb"))
    return dest


def install_cell(nb):
    return next(c for c in nb.cells if c.cell_type == "code")


def test_sync_is_idempotent_and_touches_only_its_two_parts(tmp_path):
    course = copy_course(tmp_path / "course")
    before = {p: nbformat.read(p, as_version=4) for p in sync.notebooks(course)}
    sync.run(course)
    assert sync.run(course, check=True) == [], "a second look still finds stale notebooks"
    texts = {p: p.read_bytes() for p in course.rglob("*.ipynb")}
    assert sync.run(course) == [] and texts == {p: p.read_bytes() for p in course.rglob("*.ipynb")}, "not idempotent"
    for path, old in before.items():
        new = nbformat.read(path, as_version=4)
        inserted = len(new.cells) - len(old.cells)
        assert inserted in (0, 1), path
        target = sync._launch_target(path, course)
        first_md = next(i for i, c in enumerate(new.cells) if c.cell_type == "markdown")
        lines = new.cells[first_md].source.split("\n")
        assert lines.count(sync.launch_line(REPO, target)) == 1, (path, target)
        assert [x for x in lines if not x.startswith(sync.LAUNCH_PREFIX)] == \
            [x for x in old.cells[first_md].source.split("\n") if not x.startswith(sync.LAUNCH_PREFIX)], path
        cell = install_cell(new)
        assert cell.source == sync.install_source(REPO)
        assert cell.metadata["tags"][:2] == ["install", "hide-input"] and "nbval-skip" not in cell.metadata["tags"]
        old_install = None if inserted else install_cell(old)
        assert old_install is None or old_install.get("id") == cell.get("id"), f"{path}: install cell id changed"
        others_new = [c for i, c in enumerate(new.cells) if i != first_md and c is not cell]
        others_old = [c for i, c in enumerate(old.cells) if i != first_md and c is not old_install]
        assert [(c.get("id"), c.cell_type, c.source, c.metadata) for c in others_new] == \
               [(c.get("id"), c.cell_type, c.source, c.metadata) for c in others_old], f"{path}: other cells changed"
    student = nbformat.read(course / STUDENT.relative_to(ROOT), as_version=4)
    assert install_cell(student).source == sync.install_source(REPO), "student notebook not regenerated"
    assert sync.launch_line(REPO, "assignments/denoising_dimension_reduction/student.ipynb") in student.cells[0].source


def test_sync_inserts_its_cell_rather_than_overwrite_an_authors_code(tmp_path):
    (tmp_path / "notebooks").mkdir()
    shutil.copy2(ROOT / "_config.yml", tmp_path / "_config.yml")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# A title\n\nText.", id="title"),
                nbformat.v4.new_code_cell("x = 1", id="mine")]
    nbformat.write(nb, tmp_path / "notebooks" / "99_new.ipynb")
    sync.run(tmp_path)
    out = nbformat.read(tmp_path / "notebooks" / "99_new.ipynb", as_version=4)
    assert [c.get("id") for c in out.cells] == ["title", "install", "mine"]
    assert out.cells[2].source == "x = 1"
    assert out.cells[0].source.endswith(sync.launch_line(REPO, "notebooks/99_new.ipynb"))


def test_a_fork_that_changes_only_repository_points_at_itself(tmp_path):
    course = copy_course(tmp_path / "fork")
    config = (course / "_config.yml").read_text()
    config = config.replace(REPO.url, "https://github.com/example-uni/ae-course")
    config = re.sub(r"(\n  branch:) *\S+", r"\1 spring-2027", config)
    (course / "_config.yml").write_text(config)
    fork = sync.load_repository(course)
    assert (fork.org, fork.name, fork.branch) == ("example-uni", "ae-course", "spring-2027")
    sync.run(course)
    exists = lambda p: (course / p).exists()  # noqa: E731
    for path in course.rglob("*.ipynb"):
        text = path.read_text()
        assert f"{REPO.org}/{REPO.name}" not in text, f"{path.name} still names {REPO.url}"
        urls = repository_urls(text_of(path))
        assert any("colab.research.google.com" in u for u in urls) and any("/archive/" in u for u in urls), path.name
        problems = [p for p in (link_problem(u, fork, exists) for u in urls) if p]
        assert not problems, problems
    # The book's launch and repository buttons come from the same setting.
    jb = Path(sys.executable).parent / "jupyter-book"
    subprocess.run([str(jb), "config", "sphinx", str(course)], check=True, capture_output=True)
    conf = {}
    exec((course / "conf.py").read_text(), conf)  # noqa: S102 - jupyter-book's generated conf.py
    theme = conf["html_theme_options"]
    assert theme["repository_url"] == "https://github.com/example-uni/ae-course"
    assert theme["repository_branch"] == "spring-2027"
    assert theme["launch_buttons"]["colab_url"]


def test_committed_notebooks_are_synced_with_config():
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "sync_notebooks.py"), "--check"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr + "\nFix: .venv/bin/python tools/sync_notebooks.py"


# --------------------------------------------------------------------------- the install cell
def run_install_cell(python, env=None, timeout=300):
    return subprocess.run([str(python), "-c", sync.install_source(REPO)], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=ROOT)


def test_install_cell_does_nothing_where_aecourse_is_installed():
    start = time.perf_counter()
    proc = run_install_cell(sys.executable)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "" and proc.stderr == "", (proc.stdout, proc.stderr)
    assert time.perf_counter() - start < 20


FRESH = ROOT / "_build" / "venvs" / "student-fresh"
# What the student notebook needs besides aecourse (the versions pinned in requirements.txt),
# and what runs it (nbval). aecourse itself is what the install cell must bring.
FRESH_NEEDS = ("tensorflow-cpu", "keras", "numpy", "scipy", "scikit-learn", "matplotlib", "nbval", "pytest",
               "ipykernel")


def fresh_requirements() -> list[str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line.strip())
        if m:
            pins[m.group(1).lower()] = line.strip()
    return [pins.get(n, n) for n in FRESH_NEEDS]


def fresh_env(extra=None) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "JUPYTER_PATH", "PYTHONHOME")}
    env.update(PATH=f"{FRESH / 'bin'}{os.pathsep}{env.get('PATH', '')}", PYTHONNOUSERSITE="1", **(extra or {}))
    return env


def _give_up(message: str):
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def fresh_python() -> Path:
    """A virtual environment with what the student notebook needs, but not aecourse (cached in _build/)."""
    want = "\n".join([sys.version.split()[0], *fresh_requirements()])
    stamp, log = FRESH / ".requirements", FRESH.with_suffix(".log")
    python = FRESH / "bin" / "python"
    if not (python.is_file() and stamp.is_file() and stamp.read_text() == want):
        shutil.rmtree(FRESH, ignore_errors=True)
        FRESH.parent.mkdir(parents=True, exist_ok=True)
        base = getattr(sys, "_base_executable", sys.executable)
        with open(log, "w") as out:
            made = subprocess.run([base, "-m", "venv", str(FRESH)], stdout=out, stderr=subprocess.STDOUT)
            ok = made.returncode == 0 and subprocess.run(
                [str(python), "-m", "pip", "install", "-q", *fresh_requirements()], stdout=out,
                stderr=subprocess.STDOUT, timeout=1800).returncode == 0
        if not ok:
            shutil.rmtree(FRESH, ignore_errors=True)
            _give_up(f"could not create the fresh environment (needs python -m venv and the package index; "
                     f"log: {log}): " + log.read_text()[-1500:])
        stamp.write_text(want)
    return python


def uninstall_aecourse(python: Path) -> None:
    subprocess.run([str(python), "-m", "pip", "uninstall", "-y", "-q", "aecourse"], capture_output=True, env=fresh_env())
    probe = subprocess.run([str(python), "-c", "import importlib.util as u; print(u.find_spec('aecourse'))"],
                           capture_output=True, text=True, env=fresh_env(), cwd="/")
    assert probe.stdout.strip() == "None", f"the fresh environment still finds aecourse: {probe.stdout}{probe.stderr}"


def checkout_archive(dest: Path) -> Path:
    """This working tree as a zip shaped like GitHub's release archive (one top folder)."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split()
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as z:
        for f in files:
            if (ROOT / f).is_file():
                z.write(ROOT / f, f"{REPO.name}-local/{f}")
    return dest


@pytest.mark.slow
def test_install_cell_offline_says_what_to_do(fresh_python):
    uninstall_aecourse(fresh_python)
    env = fresh_env({"AECOURSE_INSTALL_URL": "http://127.0.0.1:9/aecourse.zip", "PIP_RETRIES": "0",
                     "PIP_TIMEOUT": "5", "PIP_NO_INDEX": "1"})
    proc = run_install_cell(fresh_python, env=env, timeout=120)
    assert proc.returncode != 0
    error = next((line for line in proc.stderr.splitlines() if line.startswith("ModuleNotFoundError: ")), "")
    assert error.startswith("ModuleNotFoundError: Could not install the course's helper package from "
                            "http://127.0.0.1:9/aecourse.zip. Offline"), proc.stderr[-2000:]
    for hint in (f"Clone {REPO.url}", "bash tools/setup.sh", "pip install /path/to/the/course", "restart the kernel"):
        assert hint in error, (hint, error)
    assert "(pip said: " in proc.stderr and proc.stderr.count("Traceback") <= 1


def nbval_cells(xml: Path) -> dict[int, tuple[str, str]]:
    results = {}
    for case in ET.parse(xml).getroot().iter("testcase"):
        name = case.get("name", "")
        if name.startswith("Cell "):
            bad = case.find("failure") if case.find("failure") is not None else case.find("error")
            text = "" if bad is None else (bad.get("message", "") + "\n" + (bad.text or ""))
            results[int(name.split()[1])] = ("passed" if bad is None else "failed", text)
    return results


@pytest.mark.slow
def test_student_notebook_runs_in_a_fresh_environment(fresh_python, data_dir, tmp_path):
    """The student notebook, alone, in an environment without aecourse: its first cell installs it."""
    uninstall_aecourse(fresh_python)
    archive = checkout_archive(tmp_path / f"{REPO.name}-local.zip")
    # The student notebook as the generator writes it (the same as the committed one once synced).
    student = sync.sync(nbformat.read(STUDENT, as_version=4), REPO, STUDENT.relative_to(ROOT).as_posix())
    nbformat.write(student, tmp_path / "student.ipynb")
    env = fresh_env({"AECOURSE_INSTALL_URL": archive.as_uri(), "AECOURSE_SMOKE": "1",
                     "AECOURSE_DATA_DIR": str(data_dir), "AECOURSE_NO_DOWNLOAD": "1",
                     "JUPYTER_DATA_DIR": str(tmp_path / "jupyter"), "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter")})
    xml = tmp_path / "junit.xml"
    proc = subprocess.run([str(fresh_python), "-m", "pytest", "--nbval-lax", "--nbval-cell-timeout=600",
                           "-p", "no:cacheprovider", "-q", f"--junitxml={xml}", "-o", "junit_logging=no",
                           "student.ipynb"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1500)
    assert xml.is_file(), proc.stdout[-3000:] + proc.stderr[-3000:]
    results = nbval_cells(xml)
    cells = [c for c in student.cells if c.cell_type == "code"]
    assert len(results) == len(cells), (len(results), proc.stdout[-2000:])
    assert results[0][0] == "passed", f"the install cell failed: {results[0][1][-2000:]}"
    where = subprocess.run([str(fresh_python), "-c", "import aecourse; print(aecourse.__file__)"], capture_output=True,
                           text=True, env=fresh_env(), cwd="/")
    assert str(FRESH) in where.stdout, f"aecourse was not installed into the fresh environment: {where}"
    for i, cell in enumerate(cells):
        status, msg = results[i]
        meta = cell.metadata.get("nbgrader", {})
        assert "ModuleNotFoundError" not in msg and "ImportError" not in msg, (i, msg[-1500:])
        if meta.get("solution"):
            assert status == "failed" and "NotImplementedError" in msg, (meta.get("grade_id"), status, msg[-1500:])
        elif not meta.get("grade"):
            assert status == "passed", (i, cell.source[:200], msg[-1500:])


# --------------------------------------------------------------------------- set-up
def test_setup_refuses_jupyter_book_2(tmp_path):
    """tools/setup.sh stops with a clear message when .venv holds a Jupyter Book that is not 1.x."""
    (tmp_path / "tools").mkdir()
    shutil.copy2(ROOT / "tools" / "setup.sh", tmp_path / "tools" / "setup.sh")
    for name in ("requirements.txt", "pyproject.toml"):
        shutil.copy2(ROOT / name, tmp_path / name)
    venv = tmp_path / ".venv"
    (venv / "bin").mkdir(parents=True)
    fake = venv / "bin" / "python"
    fake.write_text("#!/bin/sh\necho 2.0.1\n")
    fake.chmod(0o755)
    want = subprocess.run(f"cat requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1", shell=True, cwd=tmp_path,
                          capture_output=True, text=True, check=True).stdout.strip()
    (venv / ".requirements.sha256").write_text(want + "\n")
    proc = subprocess.run(["bash", "tools/setup.sh"], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, PYTHON=sys.executable))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "jupyter-book 2.0.1" in proc.stderr and "Jupyter Book 1" in proc.stderr
    assert "pip install -r requirements.txt" in proc.stderr
    assert not (tmp_path / "_mathjax").exists(), "setup went on after refusing Jupyter Book 2"
