"""Fixtures for the grader tests: a tiny synthetic assignment and submissions for the real one."""
