"""The benchmarks' reporting, on tiny fake results (the benchmarks themselves are run by hand).

Checks that every target says met or missed and by how much, that a busy machine is called
busy, that the book benchmark accounts for every notebook, and that the readers' page gets time
and peak memory per notebook without developer notes.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import bench_book, common, run  # noqa: E402

MACHINE = {"date": "2026-12-01 10:00 UTC", "cpu": "Test CPU", "cores": 2, "memory_gb": 23.5, "python": "3.11.7",
           "versions": {"tensorflow": "2.21.0", "keras": "3.15.1"}, "commit": "abc1234",
           "uncommitted_changes": False, "smoke": False}


def test_target_says_met_or_missed_and_by_how_much():
    t = common.target("clean build", 1188.0, 1080.0, unit="s")
    assert t["met"] is False and math.isclose(t["margin"], 0.1)
    assert t["verdict"].startswith("missed by 10.0%") and "1,188 s" in t["verdict"] and "≤ 1,080 s" in t["verdict"]
    t = common.target("speed-up", 27.0, 25.0, better="higher")
    assert t["met"] is True and t["verdict"].startswith("met with 8.0% to spare") and "≥ 25" in t["verdict"]
    assert common.target("memory", 2.0, 2.0, unit="GB")["met"] is True
    with pytest.raises(ValueError, match="better"):
        common.target("x", 1, 2, better="smaller")


def test_activity_calls_a_busy_machine_busy():
    quiet = common.judge_activity((0.1, 0.2, 0.3), (1.9, 1.0, 0.5), other_cores=0.02, cores=2)
    assert quiet["quiet"] is True and quiet["note"].startswith("quiet machine")
    busy = common.judge_activity((3.5, 3.0, 2.0), (4.0, 3.5, 2.5), other_cores=1.4, cores=2)
    assert busy["quiet"] is False and "NOT A QUIET MACHINE" in busy["note"] and "1.40 of 2 cores" in busy["note"]
    # Quiet before, but another job started meanwhile: still not quiet.
    assert common.judge_activity((0.1, 0.1, 0.1), (2.0, 1.0, 0.5), other_cores=0.9, cores=2)["quiet"] is False


def test_activity_measures_something():
    with common.activity() as busy:
        sum(i * i for i in range(200_000))
    a = busy()
    assert set(a) >= {"load_before", "load_after", "other_processes_cores", "quiet", "note"}
    assert a["other_processes_cores"] >= 0


def test_machine_records_commit_and_versions():
    m = common.machine()
    assert m["commit"] and "uncommitted_changes" in m and "tensorflow" in m["versions"] and m["cores"]


def _fake_book(tmp_path, notebooks=None, t_clean=1000.0, exit_codes=(0, 0, 0)):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "chapters").mkdir()
    for stem, title in (("00_start", "Getting Started"), ("01_more", "More")):
        (tmp_path / "notebooks" / f"{stem}.ipynb").write_text("{}")
        (tmp_path / "chapters" / f"{stem}.md").write_text(f"(ch-x)=\n# {title}\n\ntext\n")
    expected = bench_book.expected_notebooks(tmp_path)
    if notebooks is None:
        notebooks = {"notebooks/00_start.ipynb": {"seconds": 16.0, "peak_rss_gb": 1.38},
                     "notebooks/01_more.ipynb": {"seconds": 130.0, "peak_rss_gb": 2.51}}
    return bench_book.book_result(notebooks, t_clean, 4.0, 7.0, list(exit_codes), expected, env_gb=2.2, root=tmp_path)


def test_book_result_has_every_notebook_and_each_goal(tmp_path):
    r = _fake_book(tmp_path)
    assert [nb["notebook"] for nb in r["notebooks"]] == ["notebooks/00_start.ipynb", "notebooks/01_more.ipynb"]
    assert r["notebooks"][0]["title"] == "Getting Started"
    verdicts = {t["name"]: t for t in r["targets"]}
    assert verdicts["every notebook executed by the clean build, every build exits 0"]["met"]
    assert verdicts["clean full build (every notebook executed)"]["met"]          # 1000 s <= 18 min
    assert verdicts["peak kernel memory, notebooks/00_start.ipynb"]["met"]
    mem = verdicts["peak kernel memory, notebooks/01_more.ipynb"]
    assert not mem["met"] and mem["verdict"].startswith("missed by 25.5%")
    assert verdicts["cached rebuild (--all) as a fraction of the clean build"]["met"]


def test_book_result_reports_a_notebook_the_build_did_not_execute(tmp_path):
    r = _fake_book(tmp_path, notebooks={"notebooks/00_start.ipynb": {"seconds": 16.0, "peak_rss_gb": 1.0}},
                   t_clean=1200.0)
    first = r["targets"][0]
    assert not first["met"] and "notebooks/01_more.ipynb" in first["verdict"]
    assert any("(NOT EXECUTED)" in row["what"] for row in r["rows"])
    assert not next(t for t in r["targets"] if t["name"].startswith("clean full build"))["met"]


def test_log_follower_reads_myst_nb_lines(tmp_path, monkeypatch):
    monkeypatch.setattr(bench_book, "ROOT", tmp_path)
    f = bench_book.LogFollower()
    f.feed(f"{tmp_path}/notebooks/00_start.ipynb: Executing notebook using local CWD [mystnb]\n")
    assert f.current == "notebooks/00_start.ipynb"
    f.sample(int(1.5 * 2**30))
    f.sample(int(1.2 * 2**30))
    f.feed(f"{tmp_path}/notebooks/00_start.ipynb: Executed notebook in 16.06 seconds [mystnb]\n")
    f.sample(int(9 * 2**30))  # between notebooks: not counted
    f.feed("notebooks/01_more.ipynb: Executing notebook using local CWD [mystnb]\n")
    f.feed("notebooks/01_more.ipynb: Executing notebook failed: CellExecutionError [mystnb]\n")
    assert f.notebooks["notebooks/00_start.ipynb"] == {"peak_rss_gb": 1.5, "seconds": 16.06}
    assert f.notebooks["notebooks/01_more.ipynb"]["failed"] is True and f.current is None


def test_summary_lists_every_target_with_its_verdict_and_the_machine(tmp_path):
    book = _fake_book(tmp_path)
    book["machine"] = MACHINE
    book["activity"] = common.judge_activity((3.0, 3.0, 3.0), (3.0, 3.0, 3.0), 1.2, 2)
    legacy = {"title": "Grading", "rows": [{"run": "x", "seconds": 1.0}], "goal": "overhead <= 1.15x",
              "met": False, "verdict": "overhead 1.23x", "machine": MACHINE}
    text = run.summary_markdown({"build": book, "grading": legacy})
    assert "| build | peak kernel memory, notebooks/01_more.ipynb | **missed**: missed by 25.5%" in text
    assert "| grading | overhead <= 1.15x | **missed**: overhead 1.23x |" in text
    assert "commit `abc1234`" in text and "NOT A QUIET MACHINE" in text
    assert "- **MISSED** — peak kernel memory, notebooks/01_more.ipynb" in text


def test_readers_page_gives_time_and_memory_per_notebook_without_developer_notes(tmp_path):
    book = _fake_book(tmp_path)
    book["machine"] = MACHINE
    book["activity"] = common.judge_activity((3.0, 3.0, 3.0), (3.0, 3.0, 3.0), 1.2, 2)
    text = run.reader_markdown(book)
    assert "2 CPU cores" in text
    assert "| {doc}`Getting Started <../notebooks/00_start>` | 16 s | 1.4 GB |" in text
    assert "| {doc}`More <../notebooks/01_more>` | 2 min 10 s | 2.5 GB |" in text
    assert "the whole book" in text and "16 min 40 s" in text and "2.2 GB of disk" in text
    for developer_word in ("goal", "missed", "quiet", "other jobs", "load"):
        assert developer_word not in text.lower(), developer_word


def test_readers_page_reads_the_committed_build_result():
    """The committed result must be one the readers' page can show (or none yet)."""
    import json

    path = common.RESULTS / "build.json"
    if not path.is_file():
        pytest.skip("no committed build result")
    text = run.reader_markdown(json.loads(path.read_text()))
    assert "| notebook | full run | peak memory |" in text
    assert "00_getting_started" in text


def test_readers_page_shows_the_deep_autoencoder_over_seeds_with_a_label_chapter_3_can_cite():
    rows = [{"seed": s, "epochs": 40, "train_seconds": t, "val_sse_epoch_40": v, "test_sse": e}
            for s, t, v, e in ((0, 401.0, 2.9, 2.95), (1, 420.0, 3.0, 3.04), (2, 399.0, 2.8, 2.91))]
    deep = {"rows": rows, "machine": MACHINE, "recipe": "the recipe", "test_sse_median": 2.95,
            "test_sse_min": 2.91, "test_sse_max": 3.04, "pca30_sse_this_run": 13.87}
    text = run.reader_deep_markdown(deep)
    assert text.startswith("(bench-deep-seeds)=")
    assert "| 1 | 3.04 | 7 min 00 s |" in text and "Median 2.95, from 2.91 to 3.04" in text
    assert "3 seeds and the same recipe (the recipe)" in text
    # results saved before the seeds were kept apart give no section (and no broken table)
    assert run.reader_deep_markdown({"rows": [{"model": "x", "sse_per_test_image": 3.3}]}) == ""
    assert run.reader_deep_markdown(None) == ""
