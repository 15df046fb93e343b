"""Compatibility: the grader moved to :mod:`aecourse.grade.batch` (the batch), :mod:`aecourse.grade.run`
(one submission) and :mod:`aecourse.grade.outcome` (statuses)."""

from .batch import Grader, find_submissions, safe_id  # noqa: F401
