"""Helpers for *Autoencoders: an executable course*.

The package holds what is not the lesson itself: loading data, configuration
(smoke mode, seeding, quiet logs), plotting, assignment checks and grading.
The models being taught stay visible in the notebooks.
"""

__version__ = "0.1.0"
