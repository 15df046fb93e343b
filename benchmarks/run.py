"""Run the course's benchmarks, print each target's verdict, and save the results.

    .venv/bin/python -m benchmarks.run                  # everything (long: includes a clean book build)
    .venv/bin/python -m benchmarks.run training linear  # some of them
    .venv/bin/python -m benchmarks.run --smoke training # tiny sizes, to check the scripts work

Results: ``benchmarks/results/<name>.json`` and ``.csv``, then two summaries written from every
saved result:

- ``benchmarks/results/summary.md`` for developers: per benchmark the machine, the commit, how
  quiet the machine was, the table, and every target met or missed and by how much;
- ``benchmarks/results/what_you_need.md`` for readers (included by ``pages/benchmarks.md``):
  time and peak memory of each notebook in full mode, and of the whole book's clean build; and the
  deep autoencoder's error over several seeds, which chapter 3 cites for its seed-to-seed spread.

Timings are wall-clock on this machine; where two things are compared, both were timed in the
same run. See ``benchmarks/README.md`` for what each benchmark measures and its goals.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks.common import RESULTS, activity, machine, markdown_table, save, targets_of  # noqa: E402

BENCHMARKS = {
    "training": ("benchmarks.bench_training", "run"),
    "deep": ("benchmarks.bench_deep", "run"),
    "linear": ("benchmarks.bench_linear", "run"),
    "grading": ("benchmarks.bench_grading", "run"),
    "build": ("benchmarks.bench_book", "run_build"),
}
_NOT_EXTRAS = ("title", "rows", "machine", "activity", "goal", "met", "verdict", "targets", "notebooks")


def machine_line(m: dict) -> str:
    return (f"{m['date']}, {m['cores']} cores ({m['cpu']}), {m['memory_gb']} GB, Python {m['python']}, "
            f"TensorFlow {m['versions'].get('tensorflow')}, Keras {m['versions'].get('keras')}, commit "
            f"`{m['commit']}`{' with uncommitted changes' if m.get('uncommitted_changes') else ''}"
            f"{', SMOKE MODE (numbers not meaningful)' if m.get('smoke') else ''}")


def verdict_lines(result: dict) -> list[str]:
    """One line per target: met or missed, and by how much."""
    lines = []
    for t in targets_of(result):
        status = "met" if t["met"] else "MISSED"
        lines.append(f"- **{status}** — {t['name']}" + (f": {t['verdict']}" if t.get("verdict") else ""))
    return lines


def summary_markdown(results: dict) -> str:
    """The developers' summary: every benchmark's table and every target's verdict."""
    overview = ["| benchmark | target | verdict |", "|---|---|---|"]
    sections = []
    for name in BENCHMARKS:
        r = results.get(name)
        if not r:
            continue
        for t in targets_of(r):
            overview.append(f"| {name} | {t['name']} | {'met' if t['met'] else '**missed**'}"
                            + (f": {t['verdict']}" if t.get("verdict") else "") + " |")
        lines = [f"### {r['title']}\n", f"*Measured {machine_line(r['machine'])}.*\n"]
        if r.get("activity"):
            lines.append(f"*Machine: {r['activity']['note']}.*\n")
        else:
            lines.append("*Machine: how busy it was was not recorded (result saved before this was measured).*\n")
        lines.append(markdown_table(r["rows"]))
        for k, v in r.items():
            if k not in _NOT_EXTRAS:
                lines.append(f"- {k.replace('_', ' ')}: {v:.3g}" if isinstance(v, float) else f"- {k.replace('_', ' ')}: {v}")
        lines += verdict_lines(r)
        sections.append("\n".join(lines) + "\n")
    head = "## Targets\n\n" + "\n".join(overview) + "\n\n## Each benchmark\n\n"
    return head + "\n".join(sections)


def _minutes_seconds(seconds: float) -> str:
    if seconds != seconds:
        return "—"
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{int(seconds // 60)} min {seconds % 60:02.0f} s"


def reader_markdown(build: dict | None) -> str:
    """What a reader needs to run the course: time and peak memory per notebook, from the book benchmark."""
    if not build:
        return "*No measurement yet: run `python -m benchmarks.run build`.*\n"
    m = build["machine"]
    from benchmarks.bench_book import chapter_title

    notebooks = build.get("notebooks") or [  # results saved before per-notebook facts were kept apart
        {"notebook": r["notebook"], "title": chapter_title(r["notebook"]), "seconds": r["seconds"],
         "peak_rss_gb": r["peak_rss_gb"]} for r in build["rows"] if str(r.get("notebook", "")).endswith(".ipynb")]
    clean = build.get("clean_build_seconds") or next(
        (r["seconds"] for r in build["rows"] if str(r.get("notebook", "")).startswith("clean build")), None)
    out = [f"Measured on {m['date'][:10]} on a computer with {m['cores']} CPU cores ({m['cpu']}) and "
           f"{m['memory_gb']:.0f} GB of memory, no GPU, with TensorFlow {m['versions'].get('tensorflow')} "
           f"and Keras {m['versions'].get('keras')} (course version `{m['commit']}`).\n",
           "| notebook | full run | peak memory |", "|---|---:|---:|"]
    for nb in notebooks:
        stem = nb["notebook"].rsplit("/", 1)[-1].removesuffix(".ipynb")
        link = f"{{doc}}`{nb.get('title') or stem} <../notebooks/{stem}>`"
        out.append(f"| {link} | {_minutes_seconds(nb['seconds'])} | {nb['peak_rss_gb']:.1f} GB |")
    if clean:
        out.append(f"| **the whole book**, every notebook executed | {_minutes_seconds(clean)} | "
                   f"{max((nb['peak_rss_gb'] for nb in notebooks), default=float('nan')):.1f} GB |")
    out.append("")
    if build.get("environment_gb"):
        out.append(f"The installed environment (`.venv`, TensorFlow included) takes "
                   f"{build['environment_gb']:.1f} GB of disk.\n")
    return "\n".join(out)


def reader_deep_markdown(deep: dict | None) -> str:
    """Chapter 3's deep autoencoder over several seeds: the spread the chapter's single run sits in."""
    if not deep or not deep.get("rows") or "test_sse" not in deep["rows"][0]:
        return ""
    m, rows = deep["machine"], deep["rows"]
    out = ["(bench-deep-seeds)=", "## The deep autoencoder over several seeds\n",
           f"Chapter 3 trains Hinton and Salakhutdinov's 784-1000-500-250-30 autoencoder once, with one seed. "
           f"The benchmark trains it with {len(rows)} seeds and the same recipe ({deep['recipe']}), "
           f"measured on {m['date'][:10]} on the same kind of computer:\n",
           "| seed | squared error per test image | training time |", "|---:|---:|---:|"]
    for r in rows:
        out.append(f"| {r['seed']} | {r['test_sse']:.2f} | {_minutes_seconds(r['train_seconds'])} |")
    out.append(f"\nMedian {deep['test_sse_median']:.2f}, from {deep['test_sse_min']:.2f} to "
               f"{deep['test_sse_max']:.2f}; the paper reports 3.00 after pretraining each layer as a "
               f"restricted Boltzmann machine, 13.87 for PCA with 30 components (this run: "
               f"{deep['pca30_sse_this_run']:.2f}).\n")
    return "\n".join(out)


def load_results() -> dict:
    results = {}
    for name in BENCHMARKS:
        path = RESULTS / f"{name}.json"
        if path.is_file():
            results[name] = json.loads(path.read_text())
    return results


def write_summaries(results: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    reader = reader_markdown(results.get("build")) + "\n" + reader_deep_markdown(results.get("deep"))
    for fname, text in (("summary.md", summary_markdown(results)), ("what_you_need.md", reader)):
        tmp = RESULTS / f"{fname}.tmp"
        tmp.write_text(text)
        os.replace(tmp, RESULTS / fname)


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
        with activity() as busy:
            result = getattr(importlib.import_module(module), func)(smoke=args.smoke)
        result["machine"] = machine()
        result["activity"] = busy()
        save(name, result)
        print(f"\n## {result['title']}\n\n{markdown_table(result['rows'])}\n" + "\n".join(verdict_lines(result))
              + f"\n\nmachine: {result['activity']['note']}\n", flush=True)
        # after each benchmark, so that a later book build includes the readers' page of this run
        write_summaries(load_results())
    print(f"wrote {RESULTS / 'summary.md'} and {RESULTS / 'what_you_need.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
