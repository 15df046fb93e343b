"""A tiny assignment: three small NumPy tasks. It proves the registry (an assignment is a folder
with its contract, rulebook, checks and grading spec; nothing else names it) and is the
grader's test assignment: it grades in seconds, with no TensorFlow.

Contract: ``scale(x, factor)`` returns ``x * factor`` as floats; ``normalize(v)`` returns ``v``
shifted to mean 0 and scaled to standard deviation 1; ``fit_line(x, y)`` returns the slope
and intercept of the least-squares line through the points.
"""

from __future__ import annotations

from .. import Part, find_part

NAME = "tiny"

PARTS: tuple[Part, ...] = (
    Part("check_scale", "scale_answer", "Scale a vector", 2, True, ("scale",)),
    Part("check_normalize", "normalize_answer", "Normalize a vector", 2, True, ("normalize",)),
    Part("check_fit", "fit_answer", "Fit a line", 1, True, ("fit_line",)),
    Part("interpretation", "interpretation", "Interpretation (graded by hand)", 1, False, ()),
)
POINTS = {p.id: p.points for p in PARTS}


def part(part_id: str) -> Part:
    """The :class:`Part` with this id."""
    return find_part(PARTS, part_id)
