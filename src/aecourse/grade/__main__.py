"""Command line: ``python -m aecourse.grade SUBMISSIONS --assignment DIR --out OUT``."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from .sandbox import Limits


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m aecourse.grade",
        description="Grade a folder of notebook submissions (one .ipynb or one sub-folder per student) "
                    "into OUT/gradebook.csv, OUT/feedback/<id>.md and OUT/gradescope/<id>/results.json.")
    p.add_argument("submissions", nargs="?", help="folder of submissions (omit with --gradescope-bundle only)")
    p.add_argument("--assignment", required=True,
                   help="assignment folder holding source.ipynb; its name must be a registered assignment")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--jobs", "-j", type=int, default=1, help="submissions graded in parallel (default 1)")
    p.add_argument("--force", action="store_true", help="re-grade submissions already graded and unchanged")
    p.add_argument("--cell-timeout", type=int, default=600, help="seconds per cell (default 600)")
    p.add_argument("--timeout", type=int, default=1800, help="wall-clock seconds per submission (default 1800)")
    p.add_argument("--memory-mb", type=int, default=8192,
                   help="memory of one submission, all its processes together (cgroup), and address space per "
                        "process, MB (default 8192)")
    p.add_argument("--nproc", type=int, default=512,
                   help="processes+threads of one submission (cgroup) and of the sandbox user (default 512)")
    p.add_argument("--fsize-mb", type=int, default=256, help="largest file a run may write, MB (default 256)")
    p.add_argument("--disk-mb", type=int, default=2048,
                   help="all files a run may write together (size of its tmpfs work folder), MB (default 2048)")
    p.add_argument("--max-output", type=int, default=20_000_000,
                   help="characters of cell output before the kernel is stopped (default 20 million)")
    p.add_argument("--isolation", choices=["auto", "full", "user", "none"], default="auto",
                   help="isolation level (default: the strongest that works here; student code never runs as "
                        "root: as root, 'none' is refused)")
    p.add_argument("--hidden", help="hidden-data .npz to use (default: OUT/.hidden, created on the first run)")
    p.add_argument("--hide", action="append", default=[], help="another path the sandbox must not see")
    p.add_argument("--gradescope-bundle", action="store_true", help="also write OUT/autograder.zip for Gradescope")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--timings", metavar="FILE",
                   help="write the wall time of each phase (the batch's and each submission's) to FILE as JSON")
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    from . import skip_slow_imports

    skip_slow_imports()
    from ..assignments import ContractError
    from .batch import Grader

    limits = Limits(cell_timeout=args.cell_timeout, wall_timeout=args.timeout, memory_mb=args.memory_mb,
                    nproc=args.nproc, fsize_mb=args.fsize_mb, disk_mb=args.disk_mb,
                    max_output=args.max_output)
    if not args.submissions and not args.gradescope_bundle:
        print("error: SUBMISSIONS is required unless --gradescope-bundle is given", file=sys.stderr)
        return 2
    try:
        if args.gradescope_bundle:
            from .gradescope import build_bundle

            print(f"wrote {build_bundle(Path(args.assignment), Path(args.out), limits=limits)}")
            if not args.submissions:
                return 0
        g = Grader(Path(args.assignment), Path(args.out), limits=limits, jobs=args.jobs, force=args.force,
                   isolation=args.isolation, hidden_file=args.hidden, progress=not args.no_progress,
                   extra_hide=args.hide)
        results = g.grade_folder(Path(args.submissions))
    except (RuntimeError, ContractError) as e:  # e.g. --isolation full where it cannot work; no contract
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.timings:
        import json

        Path(args.timings).write_text(json.dumps(
            {"batch": {k: round(v, 3) for k, v in g.timings.items()}, "jobs": g.jobs,
             "submissions": g.phases}, indent=1) + "\n")
    counts = Counter(r["status"] for r in results)
    s = g.summary
    print(f"graded {s['graded']}, unchanged {s['skipped']}; isolation: {s['level'] or 'not needed'}"
          + (f" ({s['level_notes']})" if s["level_notes"] else ""))
    print("statuses: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    print(f"gradebook: {Path(args.out) / 'gradebook.csv'}")
    if g.interrupted:
        print(f"interrupted: {s['not_graded']} submission(s) not graded (run again to grade them)", file=sys.stderr)
        return 128 + g.interrupted
    return 0


if __name__ == "__main__":
    sys.exit(main())
