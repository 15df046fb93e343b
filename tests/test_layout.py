"""The book's layout: the table of contents, chapter/notebook pairs, clean notebooks."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def toc_entries(node=None):
    """Every `file:` in _toc.yml with its parent chapter (None for chapters)."""
    if node is None:
        node = yaml.safe_load((ROOT / "_toc.yml").read_text())
        yield node["root"], None
    for part in node.get("parts", []):
        for chapter in part.get("chapters", []):
            yield chapter["file"], None
            for section in chapter.get("sections", []):
                yield section["file"], chapter["file"]


def tracked(pattern: str) -> list[Path]:
    out = subprocess.run(["git", "ls-files", pattern], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [ROOT / p for p in out.split()]


def source_of(entry: str) -> Path | None:
    for ext in (".md", ".ipynb"):
        if (ROOT / (entry + ext)).is_file():
            return ROOT / (entry + ext)
    return None


def test_every_toc_entry_exists():
    missing = [e for e, _ in toc_entries() if source_of(e) is None]
    assert not missing, f"_toc.yml lists files that do not exist: {missing}"


def test_every_chapter_has_its_notebook_as_a_section():
    entries = list(toc_entries())
    chapters = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.md"))
    assert chapters, "no chapters found"
    for chapter in chapters:
        nb = ROOT / "notebooks" / (chapter.stem + ".ipynb")
        assert nb.is_file(), f"{chapter.name} has no companion notebook {nb.relative_to(ROOT)}"
        assert (f"notebooks/{chapter.stem}", f"chapters/{chapter.stem}") in entries, \
            f"_toc.yml must list notebooks/{chapter.stem} as a section of chapters/{chapter.stem}"
    for nb in (ROOT / "notebooks").glob("*.ipynb"):
        assert (ROOT / "chapters" / (nb.stem + ".md")).is_file(), f"{nb.name} has no chapter"


def test_no_md_and_ipynb_with_the_same_stem():
    for folder in ("chapters", "notebooks", "pages", "."):
        stems = {}
        for p in (ROOT / folder).glob("*"):
            if p.suffix in (".md", ".ipynb"):
                stems.setdefault(p.stem, []).append(p.suffix)
        both = [s for s, exts in stems.items() if len(exts) > 1]
        assert not both, f"{folder}/ has both .md and .ipynb for {both}: Sphinx would see two sources"


@pytest.mark.parametrize("nb", tracked("*.ipynb"), ids=lambda p: str(p.relative_to(ROOT)))
def test_committed_notebook_is_clean(nb):
    data = json.loads(nb.read_text())
    dirty = [i for i, c in enumerate(data["cells"])
             if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))]
    assert not dirty, f"{nb.name}: cells {dirty} carry outputs; strip them (the book executes notebooks)"
    assert data["metadata"].get("kernelspec", {}).get("name") == "python3", f"{nb.name}: kernelspec python3 missing"


def test_notebooks_start_with_a_header_cell():
    for nb in (ROOT / "notebooks").glob("*.ipynb"):
        cells = json.loads(nb.read_text())["cells"]
        first = "".join(cells[0]["source"])
        assert cells[0]["cell_type"] == "markdown" and first.startswith("# "), f"{nb.name}: first cell must be a title"
        assert "Runs in" in first, f"{nb.name}: the header must say how long a run takes"


def test_project_code_never_names_the_shared_folder():
    offenders = []
    for p in tracked("*"):
        if p.name == "run" and p.parent.name == ".ci" or p.suffix in (".png", ".zip") or p == Path(__file__).resolve():
            continue
        if not p.is_file():
            continue
        text = p.read_text(errors="ignore")
        if re.search(r"\.\./shared|/work/shared", text):
            offenders.append(str(p.relative_to(ROOT)))
    assert not offenders, f"only .ci/run may name the shared data folder: {offenders}"


def test_requirements_are_pinned():
    loose = [line for line in (ROOT / "requirements.txt").read_text().splitlines()
             if line.strip() and not line.startswith(("#", "-e")) and "==" not in line]
    assert not loose, f"requirements.txt must pin versions tested together: {loose}"
