"""The book as readers get it: a strict build, then a real browser on the built pages.

The build runs in smoke mode into _build/smoke (its own execution cache, so it never
mixes with the full build in _build/). Any warning, broken reference or failing cell
fails it. Then headless Chromium opens every page from disk, with no network, and we
check what a reader would see: typeset math, loaded images, links that resolve.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from browser import Browser, env_without_proxy, figure_problems, find_chromium, page_facts
from test_prose import PENDING

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "_build" / "smoke"
HTML = OUT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"
SKIP_PAGES = {"genindex.html", "search.html"}


@pytest.fixture(scope="module")
def built_book() -> Path:
    env = dict(os.environ, AECOURSE_SMOKE="1")
    jb = Path(sys.executable).parent / "jupyter-book"
    proc = subprocess.run([str(jb), "build", str(ROOT), "--path-output", str(OUT), "-W", "-n", "--keep-going", "--all"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
    log = proc.stdout + proc.stderr
    (ROOT / "_build").mkdir(exist_ok=True)
    (ROOT / "_build" / "smoke-build.log").write_text(log)
    if proc.returncode != 0:
        problems = [line for line in log.splitlines() if re.search(r"WARNING|ERROR|Error:|Traceback", line) and "ParserConfig" not in line]
        pytest.fail("strict book build failed (log: _build/smoke-build.log):\n" + "\n".join(problems[-40:]))
    assert (HTML / "index.html").is_file()
    return HTML


def pages(html: Path) -> list[Path]:
    """The book's own pages (not the theme's templates, MathJax or search pages)."""
    return sorted(p for p in html.rglob("*.html")
                  if p.name not in SKIP_PAGES and p.relative_to(html).parts[0] not in ("mathjax",)
                  and not any(part.startswith("_") for part in p.relative_to(html).parts))


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids, self.hrefs, self.srcs = set(), [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "a" and a.get("href"):
            self.hrefs.append(a["href"])
        if tag in ("img", "script") and a.get("src"):
            self.srcs.append(a["src"])
        if tag == "link" and a.get("href"):
            self.srcs.append(a["href"])


def parse(path: Path) -> _Collector:
    c = _Collector()
    c.feed(path.read_text(encoding="utf-8"))
    return c


_NUMREF = re.compile(r"\{numref\}`(?:[^`<]*<)?(fig-[\w-]+)>?`")
_FIG_NAME = re.compile(r"^\s*:name:\s*(fig-[\w-]+)\s*$|^\((fig-[\w-]+)\)=\s*$", re.M)


def figure_refs_not_on_their_page(text: str) -> list[str]:
    """Figure labels that a chapter cites with {numref} but does not define itself."""
    defined = {a or b for a, b in _FIG_NAME.findall(text)}
    return sorted({label for label in _NUMREF.findall(text) if label not in defined})


def test_figure_ref_check_finds_figures_defined_elsewhere():
    text = ("See {numref}`fig-a`, {numref}`Figure %s <fig-b>` and {numref}`fig-c`.\n\n"
            "```{glue:figure} ../notebooks/x.ipynb::key\n:name: fig-a\n```\n\n(fig-b)=\n")
    assert figure_refs_not_on_their_page(text) == ["fig-c"]


@pytest.mark.parametrize("chapter", sorted((ROOT / "chapters").glob("*.md")), ids=lambda p: p.name)
def test_chapter_figures_cited_are_on_the_chapter_page(chapter):
    """Every {numref} to a figure in a chapter points at a figure shown on that chapter page.

    The pattern: glue the figure in the notebook, show it with {glue:figure} in the chapter
    (``:name: fig-<slug>-<what>``); the notebook page keeps its own copy without that label.
    """
    elsewhere = figure_refs_not_on_their_page(chapter.read_text(encoding="utf-8"))
    rel = str(chapter.relative_to(ROOT))
    if elsewhere and rel in PENDING:
        pytest.xfail(f"{rel} is being rewritten by {PENDING[rel]} (PENDING in tests/test_prose.py); "
                     f"figures cited but not on the page: {elsewhere}")
    assert not elsewhere, (f"{rel} cites figures that are not on its page: {elsewhere}; show each with "
                           "{glue:figure} and :name: in the chapter (see the figure convention in the README)")


def test_build_has_every_toc_page_with_executed_output(built_book):
    from test_layout import toc_entries

    for entry, _ in toc_entries():
        page = built_book / (entry + ".html")
        assert page.is_file(), f"{entry} was not built"
    for nb in (ROOT / "notebooks").glob("*.ipynb"):
        html = (built_book / "notebooks" / (nb.stem + ".html")).read_text()
        assert "cell_output" in html, f"{nb.name} rendered without executed output"


def broken_links(html: Path) -> list[str]:
    """Internal links, images, scripts and styles whose target file or anchor is missing."""
    parsed = {p: parse(p) for p in pages(html)}
    broken = []
    for page, c in parsed.items():
        for ref in c.hrefs + c.srcs:
            url = urlparse(ref)
            if url.scheme or ref.startswith(("//", "mailto:", "javascript:")):
                continue
            target = page if not url.path else (page.parent / unquote(url.path)).resolve()
            if not target.exists():
                broken.append(f"{page.relative_to(html)} -> {ref}")
            elif url.fragment and target.suffix == ".html":
                ids = (parsed.get(target) or parse(target)).ids
                if unquote(url.fragment) not in ids:
                    broken.append(f"{page.relative_to(html)} -> {ref} (no such anchor)")
    return sorted(set(broken))


def test_link_checker_finds_broken_links(tmp_path):
    (tmp_path / "a.html").write_text('<a href="b.html#x">ok</a><a href="b.html#nope">bad anchor</a>'
                                     '<a href="missing.html">gone</a><img src="img.png"><a href="https://x.org">ext</a>')
    (tmp_path / "b.html").write_text('<h1 id="x">x</h1>')
    assert broken_links(tmp_path) == ["a.html -> b.html#nope (no such anchor)", "a.html -> img.png",
                                      "a.html -> missing.html"]


def test_internal_links_and_assets_resolve(built_book):
    broken = broken_links(built_book)
    assert not broken, "broken internal links:\n" + "\n".join(broken[:50])


def test_no_solution_or_hidden_check_reaches_the_book(built_book):
    from aecourse import assign

    source = ROOT / "assignments" / "denoising_dimension_reduction" / "source.ipynb"
    assert (built_book / "pages" / "assignment.html").is_file()
    assert list(built_book.rglob("_downloads/*/student.ipynb")), "the student notebook is not offered for download"
    assign.assert_no_leaks(built_book, source)


def test_no_cdn_needed_for_math(built_book):
    for page in pages(built_book):
        text = page.read_text()
        assert "cdn.jsdelivr.net/npm/mathjax" not in text, f"{page.name} loads MathJax from a CDN"
    assert (built_book / "mathjax" / "tex-mml-chtml.js").is_file()


def _chromium_or_skip() -> str:
    binary = find_chromium()
    if binary is None:
        if os.environ.get("AECOURSE_REQUIRE_BROWSER") == "1":
            pytest.fail("Chromium is required (AECOURSE_REQUIRE_BROWSER=1) but not installed: run bash tools/setup.sh")
        pytest.skip("Chromium not installed; bash tools/setup.sh installs it on Debian/Ubuntu")
    os.environ.update(env_without_proxy())
    return binary


def test_browser_figure_check_finds_missing_images_and_figure_links_elsewhere(tmp_path):
    """The chapter-figure check in a real browser, on a hand-made page: it must catch each problem."""
    binary = _chromium_or_skip()
    png = tmp_path / "ok.png"
    import base64
    png.write_bytes(base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="))
    (tmp_path / "other.html").write_text('<main><figure id="fig-far"><img src="ok.png"></figure></main>')
    page = tmp_path / "chapter.html"
    page.write_text('<main><figure id="fig-here"><img src="ok.png"><figcaption>Fig. 1</figcaption></figure>'
                    '<figure id="fig-broken"><img src="missing.png"></figure>'
                    '<p><a href="#fig-here">Fig. 1</a> <a href="other.html#fig-far">Fig. 2</a> '
                    '<a href="#fig-nowhere">Fig. 3</a> <a href="#sec-x">Section 1</a></p></main>')
    browser = Browser(binary)
    try:
        browser.open(page.as_uri())
        problems = figure_problems(page_facts(browser))
    finally:
        browser.close()
    assert len(problems) == 3, problems
    assert "fig-broken" in problems[0] and "missing.png" in problems[0]
    assert "other.html#fig-far" in problems[1] and "another page" in problems[1]
    assert "#fig-nowhere" in problems[2] and "no figure" in problems[2]


def test_browser_follows_a_meta_refresh_and_opens_the_next_page(tmp_path):
    """The book's index.html redirects by meta refresh; opening it and then the next page must not race
    (CI once failed with "Inspected target navigated or closed")."""
    binary = _chromium_or_skip()
    (tmp_path / "intro.html").write_text("<title>Intro</title><main>intro</main>")
    (tmp_path / "index.html").write_text('<meta http-equiv="Refresh" content="0; url=intro.html" />')
    (tmp_path / "next.html").write_text("<title>Next</title><main>next</main>")
    browser = Browser(binary)
    try:
        for _ in range(5):
            browser.open((tmp_path / "index.html").as_uri())
            assert page_facts(browser)["title"] == "Intro"
            browser.open((tmp_path / "next.html").as_uri())
            assert page_facts(browser)["title"] == "Next"
    finally:
        browser.close()


def test_pages_in_a_real_browser(built_book):
    binary = _chromium_or_skip()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser = Browser(binary)
    problems, pending, math_pages, chapter_figures = [], [], 0, 0
    try:
        for page in pages(built_book):
            name = str(page.relative_to(built_book))
            browser.open(page.as_uri())
            facts = page_facts(browser)
            if facts["math_nodes"]:
                math_pages += 1
                if facts["mathjax_version"] is None:
                    problems.append(f"{name}: MathJax did not load")
                elif facts["typeset"] < facts["math_nodes"]:
                    problems.append(f"{name}: {facts['typeset']} of {facts['math_nodes']} formulas typeset")
            if facts["raw_display_math"] or facts["raw_tex"]:
                problems.append(f"{name}: raw TeX left in the page")
            bad = [i["src"] for i in facts["images"] if not i["ok"]]
            if bad:
                problems.append(f"{name}: images not loaded: {bad}")
            if name.startswith("chapters/"):
                # Issue 10: every figure a chapter cites is on the chapter page and loads.
                chapter_figures += len(facts["figures"])
                source = name.replace(".html", ".md")
                found = [f"{name}: {p}" for p in figure_problems(facts)]
                (pending if source in PENDING else problems).extend(found)
            if name.startswith("chapters/") or name == "notebooks/00_getting_started.html":
                browser.screenshot(str(SCREENSHOTS / (name.replace("/", "_").replace(".html", ".png"))))
    finally:
        browser.close()
    assert math_pages >= 1, "expected typeset math in the book"
    assert chapter_figures >= 1, "expected figures on the chapter pages"
    assert not problems, "\n".join(problems)
    assert any(SCREENSHOTS.glob("*.png"))
    if pending:
        pytest.xfail("chapters still being rewritten (PENDING in tests/test_prose.py):\n" + "\n".join(pending))
