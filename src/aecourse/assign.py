"""Release an assignment: generate its student notebook from its instructor source.

    python -m aecourse.assign assignments/denoising_dimension_reduction
    python -m aecourse.assign assignments/denoising_dimension_reduction --check   # exit 1 if stale

The folder's name is the assignment's name: its contract is looked up in the registry
(:mod:`aecourse.assignments`), and the source must hold a graded check cell and an answer
cell for every part of it; an unregistered folder is an error. The source follows
nbgrader's conventions (see :mod:`aecourse.nbgrader`): solutions become stubs, hidden tests
are removed, outputs and execution counts are cleared, locked cells are marked read-only.

The output is deterministic (same source, same bytes), so a test can tell when the
committed ``student.ipynb`` is out of date. :func:`assert_no_leaks` checks that no solution
or hidden-test text reached a built book.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import sys
from pathlib import Path

import nbformat

from . import assignments, nbgrader
from .nbgrader import SourceError

SOURCE_NAME = "source.ipynb"
STUDENT_NAME = "student.ipynb"
make_student = nbgrader.strip


def validate_source(nb, contract=None) -> None:
    """Raise :class:`SourceError` unless the source follows nbgrader's conventions and ``contract``'s parts."""
    ids = nbgrader.validate(nb)
    for p in contract.PARTS if contract is not None else ():
        for gid in {p.id, p.answer_id}:
            if gid not in ids:
                raise SourceError(f"part {p.id!r}: no cell with grade_id {gid!r}")
        meta = nbgrader.meta(nb.cells[ids[p.id]])
        if not meta.get("grade") or meta.get("points") != p.points:
            raise SourceError(f"part {p.id!r}: cell {p.id!r} must be graded with {p.points} points "
                              f"(found grade={meta.get('grade')}, points={meta.get('points')})")
        if not nbgrader.meta(nb.cells[ids[p.answer_id]]).get("solution"):
            raise SourceError(f"part {p.id!r}: answer cell {p.answer_id!r} must have solution: true")


def student_text(folder: str | Path) -> str:
    """The student notebook, as text, generated from ``folder/source.ipynb`` (checked against its contract)."""
    folder = Path(folder)
    contract = assignments.for_folder(folder)
    nb = nbformat.read(folder / SOURCE_NAME, as_version=4)
    validate_source(nb, contract)
    student = make_student(nb)
    nbformat.validate(student)
    return nbformat.writes(student) + "\n"


def generate(folder: str | Path) -> Path:
    """Write ``folder/student.ipynb`` from ``folder/source.ipynb``; return its path."""
    folder = Path(folder)
    text = student_text(folder)
    dest = folder / STUDENT_NAME
    tmp = dest.with_suffix(".ipynb.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(dest)
    return dest


def is_up_to_date(folder: str | Path) -> bool:
    """True when the committed student notebook is exactly what :func:`generate` would write."""
    folder = Path(folder)
    dest = folder / STUDENT_NAME
    return dest.is_file() and dest.read_text(encoding="utf-8") == student_text(folder)


# --------------------------------------------------------------------------- leaks
def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _html_text(raw: str) -> str:
    raw = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", raw)
    return html.unescape(re.sub(r"(?s)<[^>]+>", "", raw))


def secret_lines(source_nb: str | Path, public_texts=(), min_length: int = 16) -> list[str]:
    """Distinctive lines of the source's solution and hidden-test regions.

    A line counts when it is at least ``min_length`` characters long (whitespace
    collapsed) and appears neither in the student notebook nor in ``public_texts``
    (other pages of the book may legitimately show generic code such as a Conv2D
    layer). The nbgrader markers themselves are not secret: a page may explain them.
    """
    nb = nbformat.read(str(source_nb), as_version=4)
    student = make_student(nb)
    public = _norm("\n".join(c.source for c in student.cells) + "\n" + "\n".join(public_texts))
    secrets: list[str] = []
    for cell in nb.cells:
        lines = cell.source.split("\n")
        for begin, end in ((nbgrader.BEGIN_SOLUTION, nbgrader.END_SOLUTION),
                           (nbgrader.BEGIN_HIDDEN, nbgrader.END_HIDDEN)):
            for start, stop in nbgrader.regions(lines, begin, end, "source"):
                for line in lines[start + 1: stop]:
                    s = _norm(line)
                    if len(s) >= min_length and s not in public and s not in secrets:
                        secrets.append(s)
    return secrets


def _file_text(path: Path) -> str | None:
    if path.suffix in {".png", ".jpg", ".jpeg", ".gif", ".svg", ".woff", ".woff2", ".ttf", ".eot", ".ico",
                       ".pdf", ".zip", ".gz", ".pickle", ".doctree", ".npz", ".npy"}:
        return None
    try:
        raw = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None
    if path.suffix == ".ipynb":
        try:
            nb = json.loads(raw)
            parts = []
            for cell in nb.get("cells", []):
                src = cell.get("source", "")
                parts.append("".join(src) if isinstance(src, list) else src)
                for out in cell.get("outputs", []):
                    text = out.get("text", "") or json.dumps(out.get("data", {}))
                    parts.append("".join(text) if isinstance(text, list) else text)
            raw = "\n".join(parts)
        except (ValueError, AttributeError):
            pass
    elif path.suffix in {".html", ".htm", ".xml"}:
        raw = _html_text(raw)
    return _norm(html.unescape(raw))


def find_leaks(html_dir: str | Path, source_nb: str | Path, public_texts=()) -> list[tuple[str, str]]:
    """(file, secret line) for every solution or hidden-test line found under ``html_dir``."""
    html_dir = Path(html_dir)
    secrets = secret_lines(source_nb, public_texts)
    leaks = []
    for path in sorted(p for p in html_dir.rglob("*") if p.is_file()):
        text = _file_text(path)
        if text is None:
            continue
        for s in secrets:
            if s in text:
                leaks.append((str(path.relative_to(html_dir)), s))
    return leaks


def public_texts_of(root: str | Path, folders=("chapters", "notebooks")) -> list[str]:
    """Sources of the other pages of the book (their code may overlap the solution's generic lines)."""
    texts = []
    for folder in folders:
        for path in sorted(Path(root, folder).glob("*")):
            if path.suffix == ".md":
                texts.append(path.read_text(encoding="utf-8"))
            elif path.suffix == ".ipynb":
                nb = nbformat.read(str(path), as_version=4)
                texts.append("\n".join(c.source for c in nb.cells))
    return texts


def assert_no_leaks(html_dir: str | Path, source_nb: str | Path, public_texts=None) -> None:
    """Fail if any solution or hidden-test line of ``source_nb`` appears under ``html_dir``.

    ``public_texts`` defaults to the chapters and notebooks of the repository
    that holds ``source_nb`` (generic code shown there is not a leak).
    """
    html_dir = Path(html_dir)
    if not html_dir.is_dir():
        raise AssertionError(f"{html_dir} is not a folder: build the book first")
    if public_texts is None:
        root = Path(source_nb).resolve().parents[2]
        public_texts = public_texts_of(root)
    leaks = find_leaks(html_dir, source_nb, public_texts)
    if leaks:
        shown = "\n".join(f"  {f}: {s[:100]}" for f, s in leaks[:20])
        raise AssertionError(f"{len(leaks)} solution/hidden-test line(s) of {source_nb} reached {html_dir}:\n{shown}")


# --------------------------------------------------------------------------- command line
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aecourse.assign", description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", help="assignment folder holding source.ipynb")
    parser.add_argument("--check", action="store_true", help="do not write; exit 1 if student.ipynb is stale")
    args = parser.parse_args(argv)
    folder = Path(args.folder)
    if not (folder / SOURCE_NAME).is_file():
        print(f"error: {folder / SOURCE_NAME} not found", file=sys.stderr)
        return 2
    try:
        if args.check:
            if is_up_to_date(folder):
                print(f"{folder / STUDENT_NAME} is up to date")
                return 0
            print(f"{folder / STUDENT_NAME} is out of date: run python -m aecourse.assign {folder}", file=sys.stderr)
            return 1
        dest = generate(folder)
    except (SourceError, assignments.ContractError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
