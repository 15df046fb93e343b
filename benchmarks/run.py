"""Run the course's benchmarks, print a table, and save results for the book's appendix.

    .venv/bin/python -m benchmarks.run                  # everything (long: includes a clean book build)
    .venv/bin/python -m benchmarks.run training linear  # some of them
    .venv/bin/python -m benchmarks.run --smoke training # tiny sizes, to check the scripts work

Results: benchmarks/results/<name>.json and .csv, and benchmarks/results/summary.md, which
pages/benchmarks.md includes. Timings are wall-clock on this machine; where two things are
compared, both were timed in the same run and the ratio is what matters.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks.common import RESULTS, machine, markdown_table, save  # noqa: E402

BENCHMARKS = {
    "training": ("benchmarks.bench_training", "run"),
    "deep": ("benchmarks.bench_deep", "run"),
    "linear": ("benchmarks.bench_linear", "run"),
    "grading": ("benchmarks.bench_grading", "run"),
    "build": ("benchmarks.bench_book", "run_build"),
}


def summary_markdown(results: dict) -> str:
    lines = []
    for name in BENCHMARKS:
        r = results.get(name)
        if not r:
            continue
        lines.append(f"### {r['title']}\n")
        m = r["machine"]
        lines.append(f"*Measured {m['date']} on {m['cores']} cores ({m['cpu']}), {m['memory_gb']} GB, "
                     f"Python {m['python']}, TensorFlow {m['versions'].get('tensorflow')}, "
                     f"Keras {m['versions'].get('keras')}, commit `{m['commit']}`"
                     f"{', SMOKE MODE (not meaningful)' if m['smoke'] else ''}.*\n")
        lines.append(markdown_table(r["rows"]))
        extras = {k: v for k, v in r.items() if k not in ("title", "rows", "machine", "goal", "met", "verdict")}
        for k, v in extras.items():
            lines.append(f"- {k.replace('_', ' ')}: {v:.3g}" if isinstance(v, float) else f"- {k.replace('_', ' ')}: {v}")
        lines.append(f"- **goal**: {r['goal']} — **{'met' if r['met'] else 'missed'}**"
                     + (f": {r['verdict']}" if r.get("verdict") else "") + "\n")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*", help=f"benchmarks to run (default: all of {', '.join(BENCHMARKS)})")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, to check the scripts run (numbers meaningless)")
    args = ap.parse_args(argv)
    names = args.names or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        ap.error(f"unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}")
    if args.smoke:
        os.environ["AECOURSE_SMOKE"] = "1"
    for name in names:
        module, func = BENCHMARKS[name]
        print(f"== {name}", file=sys.stderr, flush=True)
        result = getattr(importlib.import_module(module), func)(smoke=args.smoke)
        result["machine"] = machine()
        save(name, result)
        print(f"\n## {result['title']}\n\n{markdown_table(result['rows'])}goal: {result['goal']} -> "
              f"{'met' if result['met'] else 'MISSED'}\n", flush=True)
    results = {}
    for name in BENCHMARKS:
        path = RESULTS / f"{name}.json"
        if path.is_file():
            results[name] = json.loads(path.read_text())
    tmp = RESULTS / "summary.md.tmp"
    tmp.write_text(summary_markdown(results))
    os.replace(tmp, RESULTS / "summary.md")
    print(f"wrote {RESULTS / 'summary.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
