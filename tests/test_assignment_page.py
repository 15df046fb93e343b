"""No solution or hidden check of the assignment reaches the built book.

``aecourse.assign.assert_no_leaks(html_dir, source_nb)`` scans every text file of a
built site (HTML with tags stripped and entities decoded, notebooks by their cells)
for the distinctive lines of the source's solution and hidden-test regions. The
book test calls it on its own build; here it is tested on a small fake site, and
run on whatever build output already exists under _build/.
"""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from aecourse import assign, nbgrader
from aecourse.assignments import denoising_dimension_reduction as spec

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "assignments" / spec.NAME
SOURCE = FOLDER / assign.SOURCE_NAME
PAGE = ROOT / "pages" / "assignment.md"


def highlighted(line: str) -> str:
    """A code line the way Pygments renders it: one span per token, HTML-escaped, spaces kept."""
    return "".join(tok if tok.isspace() else f'<span class="n">{html.escape(tok)}</span>'
                   for tok in re.findall(r"\w+|[^\w\s]|\s+", line))


def fake_site(tmp_path: Path, extra: str = "") -> Path:
    site = tmp_path / "html"
    (site / "pages").mkdir(parents=True)
    (site / "_downloads" / "abc123").mkdir(parents=True)
    shutil.copy(FOLDER / assign.STUDENT_NAME, site / "_downloads" / "abc123" / "student.ipynb")
    (site / "pages" / "assignment.html").write_text(
        "<html><body><h1>Assignment</h1><p>Download the student notebook.</p>"
        f"<div class='highlight'><pre>{extra}</pre></div></body></html>")
    (site / "_static").mkdir()
    (site / "_static" / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    return site


def test_clean_site_passes(tmp_path):
    assign.assert_no_leaks(fake_site(tmp_path), SOURCE, public_texts=[])


@pytest.mark.parametrize("which", ["solution", "hidden"])
def test_leaked_line_is_found_even_when_highlighted(tmp_path, which):
    nb = nbformat.read(SOURCE, as_version=4)
    begin, end = ((nbgrader.BEGIN_SOLUTION, nbgrader.END_SOLUTION) if which == "solution"
                  else (nbgrader.BEGIN_HIDDEN, nbgrader.END_HIDDEN))
    cell = next(c for c in nb.cells if c.cell_type == "code" and begin in c.source)
    lines = cell.source.split("\n")
    secret = lines[lines.index(next(x for x in lines if x.strip() == begin)) + 1]
    site = fake_site(tmp_path, highlighted(secret.strip()))
    with pytest.raises(AssertionError, match="reached"):
        assign.assert_no_leaks(site, SOURCE, public_texts=[])


def test_source_notebook_copied_into_the_site_is_found(tmp_path):
    site = fake_site(tmp_path)
    shutil.copy(SOURCE, site / "_downloads" / "abc123" / "source.ipynb")
    leaks = assign.find_leaks(site, SOURCE, public_texts=[])
    assert leaks and all(f.endswith("source.ipynb") for f, _ in leaks)


def test_generic_code_shown_elsewhere_in_the_book_is_not_a_leak(tmp_path):
    secrets = assign.secret_lines(SOURCE)
    assert secrets, "the source should have solution lines"
    generic = secrets[0]
    site = fake_site(tmp_path, html.escape(generic))
    with pytest.raises(AssertionError):
        assign.assert_no_leaks(site, SOURCE, public_texts=[])
    assign.assert_no_leaks(site, SOURCE, public_texts=[f"chapter code:\n{generic}\n"])


def test_missing_build_folder_is_an_error(tmp_path):
    with pytest.raises(AssertionError, match="build the book first"):
        assign.assert_no_leaks(tmp_path / "nope", SOURCE)


def test_assignment_page_source_holds_no_solution_or_hidden_check():
    text = " ".join(PAGE.read_text().split())
    for line in assign.secret_lines(SOURCE):
        assert line not in text, line
    assert "source.ipynb" not in text, "the page must not link the instructor source"
    assert "student.ipynb" in text


def _built_sites():
    return [p for p in (ROOT / "_build" / "html", ROOT / "_build" / "smoke" / "_build" / "html")
            if (p / "pages" / "assignment.html").is_file()]


def test_existing_build_output_has_no_leaks():
    # One test (not parametrized): the sites are looked up when it runs, so pytest-xdist
    # workers always collect the same tests even while a book build is writing _build/.
    sites = _built_sites()
    if not sites:
        pytest.skip("no built book with the assignment page under _build/ (the book test builds one)")
    for site in sites:
        assign.assert_no_leaks(site, SOURCE)
