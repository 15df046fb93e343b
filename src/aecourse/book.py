"""Glue for the book: numbers and figures computed in a notebook, shown in a chapter.

``glue("dense_test_mse", 0.0036)`` stores a value that a chapter shows with
``{glue:text}`dense_test_mse:.4f` ``. Outside a book build (JupyterLab, Colab
without myst-nb) it does nothing, so students never need myst-nb installed.
"""

from __future__ import annotations


def glue(name: str, value, display: bool = False) -> None:
    """Store ``value`` under ``name`` for the book; a no-op where myst-nb is absent."""
    try:
        from myst_nb import glue as _glue
    except ImportError:
        return
    _glue(name, value, display=display)


def setup(app):
    """Sphinx entry point (``aecourse.book`` in ``_config.yml``'s ``extra_extensions``).

    Adds cross-document ``{glue:figure} path::key`` (see :mod:`aecourse.sphinx_glue`); imported
    only by Sphinx, so notebooks that use :func:`glue` never need Sphinx.
    """
    from .sphinx_glue import setup as _setup

    return _setup(app)
