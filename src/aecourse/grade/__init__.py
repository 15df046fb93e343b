"""Instructor grading: ``python -m aecourse.grade SUBMISSIONS --assignment DIR --out OUT``.

Assembles each submission's answer cells into a pristine copy of the instructor source,
runs it under nbval in an isolated sandbox, scores exported arrays outside the student's
kernel and writes ``OUT/gradebook.csv``, ``OUT/feedback/<id>.md`` and
``OUT/gradescope/<id>/results.json``. See the instructor guide in the book.
"""

from .sandbox import Limits  # noqa: F401

__all__ = ["Limits", "Grader"]


def __getattr__(name):
    if name == "Grader":
        from .batch import Grader

        return Grader
    raise AttributeError(name)
