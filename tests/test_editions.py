"""The book's two editions: the instructor edition shows every exercise solution, the student
edition (``bash tools/build.sh --student``) shows none, and no assignment solution or hidden
test reaches either; in both, every launch button and repository link points at this repository.

Both are built in smoke mode and share one execution cache, so they run after the rest of the
suite (``tools/test.sh``'s second step): both then take their executed notebooks from the
cache the book test filled and execute nothing.
"""

from __future__ import annotations

import html
import os
import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from test_book import broken_links
from test_book import pages as book_pages
from test_publish import REPO, link_problem, repository_urls, tracked_paths

ROOT = Path(__file__).resolve().parent.parent
INSTRUCTOR = ROOT / "_build" / "smoke" / "_build" / "html"
STUDENT = ROOT / "_build" / "smoke-student" / "_build" / "html"
SOURCE = ROOT / "assignments" / "denoising_dimension_reduction" / "source.ipynb"
MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
TEXT_SUFFIXES = {".html", ".js", ".txt", ".ipynb", ".md", ".json", ".inv", ".css", ".py"}


def build(*options: str) -> None:
    env = dict(os.environ, AECOURSE_SMOKE="1")
    proc = subprocess.run(["bash", "tools/build.sh", "--smoke", *options], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=3600)
    name = "smoke-student-build.log" if "--student" in options else "smoke-instructor-build.log"
    (ROOT / "_build" / name).write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        problems = [line for line in (proc.stdout + proc.stderr).splitlines()
                    if re.search(r"WARNING|ERROR|Error:|Traceback", line) and "ParserConfig" not in line]
        pytest.fail(f"bash tools/build.sh --smoke {' '.join(options)} failed (log: _build/{name}):\n"
                    + "\n".join(problems[-40:]))


@pytest.fixture(scope="module")
def editions() -> tuple[Path, Path]:
    # --all, as the book test does: Sphinx's saved state can keep labels a changed notebook dropped.
    build("--all")
    build("--student", "--all")
    assert (INSTRUCTOR / "index.html").is_file() and (STUDENT / "index.html").is_file()
    return INSTRUCTOR, STUDENT


class _Solutions(HTMLParser):
    """The text of every sphinx-exercise solution block (``<div class="solution ...">``) of a page."""

    def __init__(self):
        super().__init__()
        self.blocks, self._depth, self._text = [], 0, []

    def handle_starttag(self, tag, attrs):
        if self._depth:
            self._depth += tag == "div"
        elif tag == "div" and "solution" in (dict(attrs).get("class") or "").split():
            self._depth, self._text = 1, []

    def handle_endtag(self, tag):
        if self._depth and tag == "div":
            self._depth -= 1
            if not self._depth:
                self.blocks.append(" ".join("".join(self._text).split()))

    def handle_data(self, data):
        if self._depth:
            self._text.append(data)


def solutions(page: Path) -> list[str]:
    parser = _Solutions()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser.blocks


_FENCE = re.compile(r"^(?P<fence>`{3,}|:{3,})\{solution\}")
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-"})


def norm(text: str) -> str:
    """Whitespace collapsed, typographic quotes and dashes (Sphinx's smartquotes) made plain."""
    return " ".join(text.translate(_QUOTES).replace("\u2026", "...").split())


def solution_bodies(md: str) -> list[str]:
    """The body of every {solution} directive of a MyST page, option lines left out."""
    lines, out, i = md.split("\n"), [], 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        i += 1
        if m:
            body = []
            while i < len(lines) and lines[i].strip() != m.group("fence"):
                if not re.match(r"^:[\w-]+:", lines[i]):
                    body.append(lines[i])
                i += 1
            out.append("\n".join(body))
    return out


def fragments(body: str, min_words: int = 6) -> list[str]:
    """Runs of plain prose (six words or more) between math, code, roles and markup."""
    parts = re.split(r"\$\$.*?\$\$|\$[^$]*\$|`[^`]*`|\{[^}]*\}|[*_\[\]()<>|\\#]", body, flags=re.S)
    return [norm(p) for p in parts if len(p.split()) >= min_words]


CHAPTERS = sorted(p for p in [*ROOT.glob("chapters/*.md"), *ROOT.glob("pages/*.md")]
                  if solution_bodies(p.read_text(encoding="utf-8")))
# A solution whose exercise title holds backticks inside a backtick fence's info string is not a
# directive at all (CommonMark forbids backticks there): the page shows its text as plain prose.
KNOWN: dict[str, str] = {}  # chapter -> reason it is expected to fail (none today)


def chapter_params():
    for p in CHAPTERS:
        rel = p.relative_to(ROOT).as_posix()
        marks = [pytest.mark.xfail(strict=False, reason=KNOWN[rel])] if rel in KNOWN else []
        yield pytest.param(p, id=rel, marks=marks)


def page_text(path: Path) -> str:
    raw = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", path.read_text(encoding="utf-8"))
    return norm(html.unescape(re.sub(r"(?s)<[^>]+>", "", raw)))


def site_text(html_dir: Path) -> dict[Path, str]:
    """Every text file of a built site, whitespace collapsed (notebooks: their cells' text)."""
    out = {}
    for path in html_dir.rglob("*"):
        if not path.is_file() or path.suffix not in TEXT_SUFFIXES:
            continue
        try:
            raw = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if path.suffix == ".ipynb":
            raw = "\n".join(c.source for c in nbformat.reads(raw, as_version=4).cells)
        elif path.suffix == ".html":
            raw = page_text(path)
        out[path] = norm(raw)
    return out


def sentences(text: str, min_length: int = 40) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?:;])\s+", text) if len(s.strip()) >= min_length]


def assignment_secrets(min_length: int = 16) -> list[str]:
    """Distinctive lines of the assignment's solution and hidden-test regions (between nbgrader's markers)."""
    # Generic lines the book shows anyway (the student notebook, the chapters, the notebooks) are no secret.
    shown = [SOURCE.with_name("student.ipynb"), *ROOT.glob("notebooks/*.ipynb")]
    public = norm("\n".join([*(c.source for nb in shown for c in nbformat.read(nb, as_version=4).cells),
                              *(p.read_text(encoding="utf-8") for p in ROOT.glob("chapters/*.md"))]))
    secrets = []
    for cell in nbformat.read(SOURCE, as_version=4).cells:
        inside = False
        for line in cell.source.split("\n"):
            s = line.strip()
            if s in (MARKERS[0], MARKERS[2]):
                inside = True
            elif s in (MARKERS[1], MARKERS[3]):
                inside = False
            elif inside:
                line = norm(s)
                if len(line) >= min_length and line not in public:
                    secrets.append(line)
    return secrets


def test_leak_detectors_see_through_markup(tmp_path):
    md = ("```{exercise} E\n:label: ex-x\n\nQ?\n```\n\n````{solution} ex-x\n:class: dropdown\n\n"
          "The answer is that $k = 2$ keeps the two largest directions, which is what PCA does.\n"
          "It's {glue:text}`x` here; it doesn't matter much at all for this one.\n````\n")
    (body,) = solution_bodies(md)
    assert fragments(body) == ["keeps the two largest directions, which is what PCA does. It's",
                               "here; it doesn't matter much at all for this one."]
    page = tmp_path / "p.html"
    page.write_text("<p>... <span class=\"math\">\\(k=2\\)</span> keeps the two largest directions, which is "
                    "what PCA does.\nIt&#8217;s <span>3</span> here; it doesn&#8217;t matter much at all for this one.</p>"
                    '<pre><span class="n">noisy</span> <span class="o">=</span> <span class="n">x</span></pre>')
    text = page_text(page)
    assert all(f in text for f in fragments(body)) and "noisy = x" in text


@pytest.mark.slow
@pytest.mark.parametrize("chapter", list(chapter_params()))
def test_instructor_edition_shows_every_solution(editions, chapter):
    instructor, _ = editions
    page = instructor / chapter.relative_to(ROOT).with_suffix(".html")
    bodies = solution_bodies(chapter.read_text(encoding="utf-8"))
    blocks = [norm(html.unescape(b)) for b in solutions(page)]
    assert len(blocks) == len(bodies), f"{len(bodies)} solutions in {chapter.name}, {len(blocks)} shown"
    for body in bodies:
        parts = fragments(body)
        assert parts, f"no plain prose to look for in a solution of {chapter.name}: {body[:200]}"
        missing = [f for f in parts if not any(f in b for b in blocks)]
        assert not missing, f"{chapter.name}: solution text not shown in a solution block: {missing[:3]}"


@pytest.mark.slow
@pytest.mark.parametrize("chapter", list(chapter_params()))
def test_student_edition_shows_no_solution(editions, chapter):
    _, student = editions
    assert not (student / "_sources").exists(), "page sources (which hold the solutions) were copied"
    texts = {p: page_text(p) for p in student.rglob("*.html")}
    leaked = [f"{p.relative_to(student)}: solution block" for p in texts if solutions(p)]
    for body in solution_bodies(chapter.read_text(encoding="utf-8")):
        for f in fragments(body):
            leaked += [f"{p.relative_to(student)}: {f[:80]}" for p, t in texts.items() if f in t]
    assert not leaked, "\n".join(sorted(set(leaked))[:40])


@pytest.mark.slow
def test_student_edition_has_no_assignment_solution_and_no_hidden_test(editions):
    _, student = editions
    texts = site_text(student)
    leaked = []
    for marker in MARKERS:
        leaked += [f"{p.relative_to(student)}: {marker}" for p, t in texts.items() if marker in t]
    secrets = assignment_secrets()
    assert secrets, "no solution or hidden-test lines found in the source"
    for s in secrets:
        leaked += [f"{p.relative_to(student)}: {s[:80]}" for p, t in texts.items() if s in t]
    assert not leaked, "\n".join(sorted(set(leaked))[:40])
    assert list(student.rglob("_downloads/*/student.ipynb")), "the student notebook is not offered for download"
    assert "(student edition)" in (student / "index.html").read_text(encoding="utf-8") or \
        "(student edition)" in (student / "intro.html").read_text(encoding="utf-8")


@pytest.mark.slow
def test_student_edition_links_resolve(editions):
    _, student = editions
    broken = broken_links(student)
    assert not broken, "broken internal links in the student edition:\n" + "\n".join(broken[:40])


@pytest.mark.slow
@pytest.mark.parametrize("edition", ["instructor", "student"])
def test_launch_buttons_and_links_point_at_this_repository(editions, edition):
    html = dict(zip(["instructor", "student"], editions))[edition]
    tracked = tracked_paths()
    problems, colab = [], set()
    for page in book_pages(html):
        text = page.read_text(encoding="utf-8")
        for url in repository_urls(text):
            why = link_problem(url, REPO, tracked.__contains__)
            if why:
                problems.append(f"{page.relative_to(html)}: {why}")
            if "colab.research.google.com" in url:
                colab.add(url)
    assert not problems, "\n".join(sorted(set(problems))[:40])
    for nb in sorted(ROOT.glob("notebooks/*.ipynb")):
        want = f"{REPO.colab_url.rstrip('/')}/github/{REPO.org}/{REPO.name}/blob/{REPO.branch}/notebooks/{nb.name}"
        assert want in colab, f"no Colab launch button for {nb.name}"
