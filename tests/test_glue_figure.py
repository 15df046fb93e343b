"""Cross-document {glue:figure}: a figure glued in a notebook, shown with caption and label on another page.

A tiny Sphinx project with a notebook whose glue output is already stored (no kernel needed):
the chapter-like page must get a numbered figure whose image file exists, and a missing key must
give a warning that says what to do.
"""

from __future__ import annotations

import base64
import io
import json
import re

import pytest

PNG = base64.b64encode(base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAYAAABytg0kAAAAFklEQVR42mP8z8DwnwEIGBkYGBgYAAAp/AIAaWu7nQAAAABJRU5ErkJggg==")
).decode()


def _notebook() -> dict:
    glued = {"output_type": "display_data", "metadata": {"scrapbook": {"mime_prefix": "application/papermill.record/",
                                                                    "name": "demo_fig"}},
             "data": {"application/papermill.record/image/png": PNG,
                      "application/papermill.record/text/plain": "<Figure>"}}
    return {"cells": [{"cell_type": "markdown", "id": "a", "metadata": {}, "source": ["# Notebook\n"]},
                      {"cell_type": "code", "id": "b", "metadata": {"tags": ["remove-cell"]}, "execution_count": 1,
                       "source": ["glue('demo_fig', fig, display=False)"], "outputs": [glued]}],
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


def _build(tmp_path, page: str):
    from sphinx.application import Sphinx

    src = tmp_path / "src"
    (src / "notebooks").mkdir(parents=True)
    (src / "chapters").mkdir()
    (src / "notebooks" / "demo.ipynb").write_text(json.dumps(_notebook()))
    (src / "chapters" / "demo.md").write_text(page)
    (src / "index.md").write_text("# Book\n\n```{toctree}\nchapters/demo\nnotebooks/demo\n```\n")
    (src / "conf.py").write_text("extensions = ['myst_nb', 'aecourse.book']\nnb_execution_mode = 'off'\n"
                                 "numfig = True\nexclude_patterns = ['_build']\n")
    warnings = io.StringIO()
    app = Sphinx(str(src), str(src), str(tmp_path / "html"), str(tmp_path / "doctrees"), "html",
                 status=io.StringIO(), warning=warnings, freshenv=True)
    app.build()
    # Several Sphinx applications in one process re-register docutils nodes: not our concern.
    lines = [w for w in warnings.getvalue().splitlines() if "is already registered" not in w]
    return tmp_path / "html", "\n".join(lines)


def test_figure_from_another_document_is_numbered_captioned_and_loads(tmp_path):
    html, warnings = _build(tmp_path, "# Chapter\n\nSee {numref}`fig-demo`.\n\n"
                                      "```{glue:figure} ../notebooks/demo.ipynb::demo_fig\n:name: fig-demo\n"
                                      ":figwidth: 100%\n\nA demo caption.\n```\n")
    assert "WARNING" not in warnings, warnings
    page = (html / "chapters" / "demo.html").read_text()
    figure = re.search(r'<figure[^>]*id="fig-demo".*?</figure>', page, re.S)
    assert figure, "no figure with the label on the page"
    src = re.search(r'<img[^>]*src="([^"]+)"', figure.group(0)).group(1)
    assert (html / "chapters" / src).resolve().is_file(), src
    assert "A demo caption." in figure.group(0) and "Fig. 1" in figure.group(0)
    assert re.search(r'<a class="reference internal" href="#fig-demo"><span class="std std-numref">Fig. 1', page)


def test_a_key_not_glued_gives_a_warning_that_says_what_to_do(tmp_path):
    _, warnings = _build(tmp_path, "# Chapter\n\n```{glue:figure} ../notebooks/demo.ipynb::no_such_key\n"
                                   ":name: fig-demo\n\nCaption.\n```\n")
    assert "'no_such_key' is not glued in 'notebooks/demo'" in warnings
    assert "glue('no_such_key', fig, display=False)" in warnings


@pytest.mark.parametrize("argument", ["../notebooks/missing.ipynb::demo_fig"])
def test_a_missing_notebook_gives_a_warning(tmp_path, argument):
    _, warnings = _build(tmp_path, f"# Chapter\n\n```{{glue:figure}} {argument}\n\nCaption.\n```\n")
    assert "document '../notebooks/missing.ipynb' not found" in warnings
