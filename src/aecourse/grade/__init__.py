"""Instructor grading: ``python -m aecourse.grade SUBMISSIONS --assignment DIR --out OUT``.

Assembles each submission's answer cells into a pristine copy of the instructor source,
runs it under nbval in an isolated sandbox, scores exported arrays outside the student's
kernel and writes ``OUT/gradebook.csv``, ``OUT/feedback/<id>.md`` and
``OUT/gradescope/<id>/results.json``. See the instructor guide in the book.
"""

import sys

from .sandbox import Limits  # noqa: F401

__all__ = ["Limits", "Grader"]

# jsonschema (under nbformat) builds, on import, the grammar of its optional "iri" format
# checker (the package rfc3987_syntax, with lark): seconds of CPU for every process that reads a
# notebook. Notebook validation uses no format checker, so the grader's processes (the grader,
# and nbval in the sandbox) skip it: what they validate, and how, is unchanged.
SLOW_OPTIONAL = ("rfc3987_syntax",)


def skip_slow_imports() -> None:
    """Make the optional imports of :data:`SLOW_OPTIONAL` fail fast (before nbformat is imported)."""
    if "jsonschema" in sys.modules:
        return  # too late to matter, and its checkers are set up already
    for name in SLOW_OPTIONAL:
        sys.modules.setdefault(name, None)


def __getattr__(name):
    if name == "Grader":
        from .batch import Grader

        return Grader
    raise AttributeError(name)
