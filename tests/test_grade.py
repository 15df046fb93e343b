"""The instructor grader end to end, on a tiny synthetic nbgrader assignment (no TensorFlow).

One batch of submissions — correct, noisy-but-correct, partly correct, blank, tampered,
broken files and hostile code — is graded once by ``python -m aecourse.grade`` with
``--jobs 2``; each test then checks one row's status and points, the feedback and
Gradescope files, and that nothing outside OUT and the temporary folders changed.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from grade_fixtures import tiny  # noqa: E402

ESCAPE = Path("/tmp/aecourse-grade-test-escape.txt")
BOMB_NAME = "aecfb" + os.urandom(4).hex()  # process name of the fork bomb's children
PWNED = ROOT / "src" / "aecourse" / "grade" / "PWNED.txt"


def run_grader(*args, timeout=900):
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    env.pop("AECOURSE_SMOKE", None)
    return subprocess.run([sys.executable, "-m", "aecourse.grade", *map(str, args)], env=env, capture_output=True,
                          text=True, timeout=timeout)


def level() -> str:
    """The isolation level the grader will pick here."""
    sys.path.insert(0, str(ROOT / "src"))
    from aecourse.grade.sandbox import Limits, Sandbox

    return Sandbox(Limits(), []).probe()


def tree_digest(*folders) -> dict:
    out = {}
    for folder in folders:
        for p in sorted(Path(folder).rglob("*")):
            if p.is_file() and "__pycache__" not in p.parts:
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


class Listener:
    """A TCP server on the host's loopback; counts connections (a sandbox must make none)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
                self.accepted += 1
                conn.close()
            except OSError:
                pass

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()


S = tiny.solved()
WRONG_NORMALIZE = "def normalize(v):\n    v = np.asarray(v, dtype=float)\n    return v - v.mean()"
STUB_FIT = "def fit_line(x, y):\n    raise NotImplementedError()"


def build_submissions(folder: Path, assignment: Path, out: Path, port: int) -> dict:
    """Write the batch; return {id: expected (status, reason substring, {part: points})}."""
    folder.mkdir()
    exp = {}

    def nb(name, answers, expect, base=None):
        tiny.write(tiny.with_answers(answers, base), folder / f"{name}.ipynb")
        exp[name] = expect

    full = {"check_scale": 2, "check_normalize": 2, "check_fit": 1}
    nb("correct", S, ("ok", "", full))
    noisy = dict(S)
    noisy["scale_answer"] = (
        "import sys, warnings, logging\n"
        "sys.stderr.write('2026-11-27 W tensorflow/core/util/port.cc:153] oneDNN custom operations are on.\\n' * 40)\n"
        "warnings.warn('this API is deprecated', DeprecationWarning)\n"
        "logging.getLogger('absl').warning('Compiled the loaded model, but the compiled metrics have yet to be '\n"
        "                                  'built')\n"
        "def scale(x, factor):\n    return np.array([v * factor for v in np.asarray(x, dtype=float)])")
    noisy["normalize_answer"] = ("def normalize(v):\n    v = np.asarray(v, dtype=np.float64)\n"
                                 "    return (v - np.mean(v)) / np.sqrt(np.mean((v - np.mean(v)) ** 2))")
    nb("noisy_correct", noisy, ("ok", "", full))
    partial = {"scale_answer": S["scale_answer"], "normalize_answer": WRONG_NORMALIZE, "fit_answer": STUB_FIT}
    # a part earns its points only when all its checks pass (the rulebook): the hidden "finite" check passing
    # alone earns nothing
    partial_pts = {"check_scale": 2, "check_normalize": 0, "check_fit": 0}
    nb("partial", partial, ("errors", "error in part 2 (check cell check_normalize)", partial_pts))
    tiny.write(tiny.student_notebook(), folder / "blank.ipynb")
    exp["blank"] = ("errors", "NotImplementedError", {"check_scale": 0, "check_normalize": 0, "check_fit": 0})

    # Tampering with everything but the answers changes nothing.
    t = tiny.with_answers({**partial, "scale_answer": "import numpy\nnumpy.allclose = lambda *a, **k: True\n"
                           + S["scale_answer"] + "\n", "normalize_answer": "# NBVAL_SKIP\n" + WRONG_NORMALIZE})
    for cell in t.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            cell.source = "pass  # check removed"
            meta["points"] = 100
        if cell.cell_type == "code":
            cell.metadata["tags"] = ["raises-exception", "nbval-ignore-output", "nbval-skip"]
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="all checks passed\n")]
            cell.execution_count = 1
    fake = nbformat.v4.new_code_cell("def fit_line(x, y):\n    return np.array([0.0, 0.0])")
    fake.metadata["nbgrader"] = {"grade_id": "check_fit", "solution": True, "grade": False}
    t.cells.append(fake)
    tiny.write(t, folder / "tampered.ipynb")
    exp["tampered"] = ("errors", "", partial_pts)

    # Overwriting an earlier part's export file changes nothing: it was taken out of the sandbox already.
    nb("forged_export", {**S, "fit_answer": S["fit_answer"] + (
        "\nimport glob\npaths = glob.glob('_grader/export-*.npz')\nassert len(paths) == 2, paths\n"
        "for path in paths:\n    np.savez(path, scaled=np.zeros(20), normalized=np.zeros(50))\n")},
       ("ok", "", full))

    # Broken files.
    (folder / "invalid_json.ipynb").write_text('{"cells": [')
    exp["invalid_json"] = ("invalid_notebook", "invalid JSON", {})
    (folder / "empty.ipynb").write_bytes(b"")
    exp["empty"] = ("invalid_notebook", "empty file", {})
    (folder / "py_renamed.ipynb").write_text("import numpy as np\n\ndef scale(x, factor):\n    return x * factor\n")
    exp["py_renamed"] = ("invalid_notebook", "Python script", {})
    (folder / "nbformat2.ipynb").write_text(json.dumps({"nbformat": 2, "worksheets": []}))
    exp["nbformat2"] = ("invalid_notebook", "version 2", {})
    # A sub-folder per student works too; an old (v3) notebook is converted and graded.
    sub = folder / "old_v3_in_folder"
    sub.mkdir()
    v3 = nbformat.v3.downgrade(copy.deepcopy(tiny.with_answers(S)))
    (sub / "my work.ipynb").write_text(json.dumps(v3))
    exp["old_v3_in_folder"] = ("ok", "", full)
    (folder / "no_notebook").mkdir()
    (folder / "no_notebook" / "answers.py").write_text("print(1)\n")
    exp["no_notebook"] = ("invalid_notebook", "no .ipynb", {})
    missing = tiny.with_answers(S)
    missing.cells = [c for c in missing.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "normalize_answer"]
    tiny.write(missing, folder / "missing_cell.ipynb")
    exp["missing_cell"] = ("errors", "answer cell normalize_answer not found",
                           {"check_scale": 2, "check_normalize": 0, "check_fit": 1})

    # Hostile code.
    nb("infinite_loop", {**S, "normalize_answer": "while True:\n    pass\n" + S["normalize_answer"]},
       ("timeout", "timeout in part 2 (answer cell normalize_answer)", {**full, "check_normalize": 0}))
    nb("os_exit", {**S, "fit_answer": "import os\nos._exit(3)"},
       ("kernel_died", "kernel died in part 3 (answer cell fit_answer): the kernel exited with status 3",
        {**full, "check_fit": 0}))
    nb("segfault", {**S, "scale_answer": "import ctypes\nctypes.string_at(0)"},
       ("kernel_died", "kernel died in part 1 (answer cell scale_answer): the kernel was killed by SIGSEGV",
        {"check_scale": 0, "check_normalize": 0, "check_fit": 0}))
    nb("memory_bomb", {**S, "scale_answer": "def _bomb():\n    hog = []\n    while True:\n"
                                            "        hog.append(bytes(100 * 2**20))\n_bomb()\n" + S["scale_answer"]},
       ("memory_limit", "memory limit in part 1 (answer cell scale_answer) (2048 MB): ",
        {"check_scale": 0, "check_normalize": 0, "check_fit": 0}))
    nb("big_output", {**S, "normalize_answer": "for _ in range(100):\n    print('x' * 10**6)\n"
                                               + S["normalize_answer"]},
       # (on a heavily loaded machine the per-cell deadline may stop the flood first: either way it stops)
       (("output_limit", "timeout"), "in part 2 (answer cell normalize_answer)",
        {"check_scale": 2, "check_normalize": 0, "check_fit": 0}))
    nb("fork_bomb", {**S, "normalize_answer": (
        "import os, time, ctypes\nn = 0\nwhile True:\n    try:\n        pid = os.fork()\n    except OSError:\n"
        "        raise RuntimeError('fork refused after %d children' % n)\n    if pid == 0:\n"
        f"        ctypes.CDLL(None).prctl(15, {BOMB_NAME.encode()!r}, 0, 0, 0)\n"
        "        while True:\n            time.sleep(1)\n    n += 1\n")},
       ("errors", "fork refused after", {**full, "check_normalize": 0}))
    # Escapes, one per part: the network, writing outside the work folder, reading hidden files.
    reads = [str(assignment / "source.ipynb"), str(out / ".hidden" / "tiny-full.npz"), str(folder / "correct.ipynb"),
             "/root/.bash_history"]
    nb("escapes", {
        "scale_answer": S["scale_answer"] + (
            f"\nimport socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=5)\n"),
        "normalize_answer": S["normalize_answer"] + (
            f"\nopen({str(ESCAPE)!r}, 'w').write('escaped')\n"
            f"for target in [{str(out / 'gradebook.csv')!r}, {str(assignment / 'source.ipynb')!r}]:\n"
            "    try:\n        open(target, 'w').write('pwned')\n    except OSError:\n        pass\n"
            f"open({str(PWNED)!r}, 'w').write('pwned')\n"),
        "fit_answer": S["fit_answer"] + (
            f"\ngot, last = [], None\nfor path in {reads!r}:\n    try:\n        open(path, 'rb').read(10)\n"
            "        got.append(path)\n    except OSError as e:\n        last = e\nif got:\n"
            "    raise RuntimeError('read ' + ', '.join(got))\nraise last\n")},
       ("errors", "error in part 1 (answer cell scale_answer): ConnectionRefusedError", full))
    build_more(folder, assignment, out, exp, full)
    return exp


HOG = ("import os, time\npids = []\nfor _ in range(3):\n    pid = os.fork()\n    if pid == 0:\n"
       "        hog = b'\\x01' * (750 * 2**20)\n        time.sleep(120)\n        os._exit(0)\n    pids.append(pid)\n"
       "for pid in pids:\n    os.waitpid(pid, 0)\n")
DISK = ("for i in range(8):\n    with open('big%d.bin' % i, 'wb') as f:\n        f.write(b'\\x01' * (60 * 2**20))\n")
IGNORES_SIGINT = ("import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n"
                  "    print('still here', flush=True)\n    time.sleep(1)\n")
FD_FLOOD = "import os\nfor _ in range(30):\n    os.write(1, b'x' * 10**6)\n"


def allowlist_probe(paths: list[str]) -> str:
    """Answer-cell code that fails, naming them, if any of ``paths`` is readable or the kernel is root."""
    return (f"import os\nassert os.getuid() != 0, 'root'\nseen = []\nfor p in {paths!r}:\n    try:\n"
            "        if os.path.isdir(p):\n            os.listdir(p)\n        else:\n            open(p, 'rb').read(1)\n"
            "        seen.append(p)\n    except OSError:\n        pass\n"
            "assert not seen, 'readable: %s' % seen\n")


def build_more(folder, assignment, out, exp, full):
    """Issue 12: a row for every entry, stable ids, robust reading, containment."""
    from aecourse.grade.batch import safe_id

    zero = {"check_scale": 0, "check_normalize": 0, "check_fit": 0}

    def nb(name, answers, expect, base=None, sid=None):
        tiny.write(tiny.with_answers(answers, base), folder / f"{name}.ipynb")
        exp[sid or name] = expect

    # A row for every entry.
    os.symlink(folder / "correct.ipynb", folder / "link.ipynb")
    exp["link"] = ("rejected", "symlink", zero)
    tiny.write(tiny.with_answers(S), folder / ".dotted.ipynb")
    exp[safe_id(".dotted")] = ("rejected", "hidden name", zero)
    (folder / "script.py").write_text("print(1)\n")
    exp["script.py"] = ("invalid_notebook", "not a .ipynb", zero)
    tiny.write(tiny.with_answers(S), folder / "notes.ipynb.txt")
    exp["notes.ipynb.txt"] = ("invalid_notebook", "not a .ipynb", zero)
    (folder / "two_notebooks").mkdir()
    for n in ("draft", "final"):
        tiny.write(tiny.with_answers(S), folder / "two_notebooks" / f"{n}.ipynb")
    exp["two_notebooks"] = ("invalid_notebook", "several notebooks in the submission folder (draft.ipynb, final.ipynb)",
                            zero)
    # Ids keep non-ASCII letters; an undecodable name gets a hash; both grade normally.
    nb("n03_\u00e4\u00f6", S, ("ok", "", full))
    nb("n03_\u00e5\u00f8", {**S, "fit_answer": STUB_FIT}, ("errors", "", {**full, "check_fit": 0}))
    raw = os.fsencode(str(folder)) + b"/odd\xff name.ipynb"
    with open(raw, "wb") as f:
        f.write(nbformat.writes(tiny.with_answers(S)).encode())
    exp[safe_id(os.fsdecode(b"odd\xff name"))] = ("ok", "", full)
    # Robust reading.
    (folder / "deep.ipynb").write_bytes(b'{"nbformat": 4, "cells": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    exp["deep"] = ("invalid_notebook", "nested deeper", zero)
    big = tiny.with_answers(S)
    next(c for c in big.cells if c.cell_type == "code").outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="x" * (60 * 2**20))]
    tiny.write(big, folder / "big_outputs.ipynb")
    exp["big_outputs"] = ("ok", "", full)
    dup = tiny.with_answers({})
    extra = nbformat.v4.new_code_cell(S["scale_answer"])
    extra.metadata["nbgrader"] = {"grade_id": "scale_answer", "solution": True, "grade": False}
    idx = next(i for i, c in enumerate(dup.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "scale_answer")
    dup.cells.insert(idx + 1, extra)
    dup = tiny.with_answers({"normalize_answer": S["normalize_answer"], "fit_answer": S["fit_answer"]}, dup)
    tiny.write(dup, folder / "duplicated.ipynb")
    exp["duplicated"] = ("ok", "", full)
    nb("double_hash_marker", {**S, "normalize_answer": "## NBVAL_SKIP\n" + S["normalize_answer"]}, ("ok", "", full))
    nb("fd_flood", {**S, "normalize_answer": FD_FLOOD + S["normalize_answer"]},
       ("output_limit", "output limit exceeded in part 2 (answer cell normalize_answer)",
        {**full, "check_normalize": 0, "check_fit": 0}))
    nb("ignores_sigint", {**S, "normalize_answer": IGNORES_SIGINT},
       ("timeout", "timeout in part 2 (answer cell normalize_answer)", {**full, "check_normalize": 0,
                                                                        "check_fit": 0}))
    # Containment of the whole submission (kept only where the limits are proven, see NEEDS_LIMITS).
    nb("memory_hogs", {**S, "normalize_answer": HOG + S["normalize_answer"]},
       ("memory_limit", "memory limit in part 2 (answer cell normalize_answer) (2048 MB)",
        {**full, "check_normalize": 0, "check_fit": 0}))
    nb("disk_filler", {**S, "normalize_answer": DISK + S["normalize_answer"]},
       (DISK_STATUS, "disk limit", {**full, "check_normalize": 0, "check_fit": 0}))  # fit's export: no space
    # The allow-list: nothing private is readable from inside.
    git_dir = subprocess.run(["git", "rev-parse", "--git-common-dir"], cwd=ROOT, capture_output=True,
                             text=True).stdout.strip()
    private = [str(ROOT / ".git"), str((ROOT / git_dir).resolve()) if git_dir else str(ROOT / ".git"),
               str(ROOT / "assignments"), str(ROOT / "tests"), str(ROOT / "src" / "aecourse" / ".." / ".." / "README.md"),
               str(assignment), str(assignment / "source.ipynb"), str(out), str(folder), str(folder / "correct.ipynb"),
               "/root", "/home", "/etc/shadow", os.path.expanduser("~"), "/work"]
    nb("allowlist", {**S, "scale_answer": S["scale_answer"] + "\n" + allowlist_probe(private)}, ("ok", "", full))


def _disk_status() -> str:
    from aecourse.grade import outcome

    return "disk_limit" if hasattr(outcome, "CELL_DISK_LIMIT") else "errors"


DISK_STATUS = _disk_status()
NEEDS_USER = {"fork_bomb", "escapes"}
NEEDS_NETNS = {"escapes", "allowlist"}
NEEDS_LIMITS = {"memory_hogs": "cgroup", "disk_filler": "tmpfs"}


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    base = tmp_path_factory.mktemp("grade")
    assignment = base / "assignments" / "tiny"
    assignment.mkdir(parents=True)
    tiny.write(tiny.source_notebook(), assignment / "source.ipynb")
    out = base / "out"
    listener = Listener()
    for p in (ESCAPE, PWNED):
        p.unlink(missing_ok=True)
    expected = build_submissions(base / "submissions", assignment, out, listener.port)
    lvl = level()
    if "user" not in lvl:
        for name in NEEDS_USER:
            expected.pop(name)
            (base / "submissions" / f"{name}.ipynb").unlink()
    if "netns" not in lvl:
        for name in NEEDS_NETNS & set(expected):
            expected.pop(name)
            (base / "submissions" / f"{name}.ipynb").unlink()
    for name, mech in NEEDS_LIMITS.items():  # only under limits proven to contain them
        if mech not in lvl:
            expected.pop(name)
            (base / "submissions" / f"{name}.ipynb").unlink()
    watched = [ROOT / "src" / "aecourse" / "grade", ROOT / "tests" / "grade_fixtures", assignment,
               base / "submissions"]
    before = tree_digest(*watched)
    t0 = time.monotonic()
    proc = run_grader(base / "submissions", "--assignment", assignment, "--out", out,
                      "--jobs", 2, "--cell-timeout", 8, "--timeout", 120, "--memory-mb", 2048, "--nproc", 128,
                      "--fsize-mb", 64, "--disk-mb", 256,
                      "--no-progress")
    wall = time.monotonic() - t0
    listener.close()
    after = tree_digest(*watched)
    rows = {}
    if (out / "gradebook.csv").exists():
        with open(out / "gradebook.csv") as f:
            rows = {r["id"]: r for r in csv.DictReader(f)}
    yield {"base": base, "out": out, "proc": proc, "rows": rows, "expected": expected, "before": before,
           "after": after, "listener": listener, "wall": wall, "level": lvl, "assignment": assignment}
    for p in (ESCAPE, PWNED):
        p.unlink(missing_ok=True)


def test_batch_completes(batch):
    proc = batch["proc"]
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert set(batch["rows"]) == set(batch["expected"]), proc.stdout
    print(f"\nbatch of {len(batch['rows'])} graded in {batch['wall']:.1f} s with --jobs 2 ({batch['level']})")


CASES = ["correct", "noisy_correct", "partial", "blank", "tampered", "forged_export", "invalid_json", "empty",
         "py_renamed",
         "nbformat2", "old_v3_in_folder", "no_notebook", "missing_cell", "infinite_loop", "os_exit", "segfault",
         "memory_bomb", "big_output", "fork_bomb", "escapes",
         # issue 12
         "link", "dotted", "script.py", "notes.ipynb.txt", "two_notebooks", "n03_\u00e4\u00f6", "n03_\u00e5\u00f8",
         "odd", "deep", "big_outputs", "duplicated", "double_hash_marker", "fd_flood", "ignores_sigint", "memory_hogs",
         "disk_filler", "allowlist"]


def _sid(case: str) -> str:
    from aecourse.grade.batch import safe_id

    return {"dotted": safe_id(".dotted"), "odd": safe_id(os.fsdecode(b"odd\xff name"))}.get(case, case)


@pytest.mark.parametrize("sid", CASES)
def test_row(batch, sid):
    sid = _sid(sid)
    if sid not in batch["expected"]:
        pytest.skip(f"needs stronger isolation or limits than {batch['level']} (no dedicated user, no network "
                    "namespace, no cgroup or no tmpfs work folder)")
    status, reason, points = batch["expected"][sid]
    row = batch["rows"][sid]
    assert row["status"] in ((status,) if isinstance(status, str) else status), row
    assert reason in row["reason"], row
    for part in ("check_scale", "check_normalize", "check_fit"):
        assert float(row[part]) == points.get(part, 0), (part, row)
    assert float(row["total"]) == sum(points.values())
    assert float(row["max"]) == 5
    assert row["isolation"] == batch["level"]


def test_kernel_death_noticed_in_seconds(batch):
    for sid in ("os_exit", "segfault"):
        st = json.loads((batch["out"] / "state" / f"{sid}.json").read_text())
        died = [c for c in st["cells"].values() if c["outcome"] == "kernel_died"]
        assert died and died[0]["duration"] < 4, st["cells"]


def test_nothing_outside_out_changed(batch):
    assert batch["before"] == batch["after"]
    assert not ESCAPE.exists()
    assert not PWNED.exists()
    assert batch["listener"].accepted == 0


def test_no_process_left_behind(batch):
    """The fork bomb's children (named BOMB_NAME) are gone once the batch is done."""
    if "fork_bomb" not in batch["expected"]:
        pytest.skip("no dedicated user")
    left = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == BOMB_NAME:
                left.append(comm.parent.name)
        except OSError:
            pass
    assert not left, f"fork-bomb processes left: {left}"
    st = json.loads((batch["out"] / "state" / "fork_bomb.json").read_text())
    n = int(st["reason"].split("fork refused after ")[1].split()[0])
    assert 0 < n < 128  # RLIMIT_NPROC (--nproc 128) stopped it


def test_feedback_and_gradescope_files(batch):
    out = batch["out"]
    fb = (out / "feedback" / "partial.md").read_text()
    assert "Part 2: `check_normalize` — 0 / 2" in fb
    assert "FAIL — normalized: expected shape (50,)" in fb
    assert "PASS — hidden check 1" in fb
    # Hidden checks show pass/fail only: no held-out inputs or targets in any feedback.
    assert "finite" not in fb
    fb = (out / "feedback" / "missing_cell.md").read_text()
    assert "answer cell normalize_answer not found" in fb
    fb = (out / "feedback" / "py_renamed.md").read_text()
    assert "Python script" in fb
    res = json.loads((out / "gradescope" / "partial" / "results.json").read_text())
    assert res["score"] == 2
    assert [t["max_score"] for t in res["tests"]] == [2, 2, 1]
    assert [t["score"] for t in res["tests"]] == [2, 0, 0]
    assert all(t["visibility"] == "visible" for t in res["tests"])
    for sid in batch["rows"]:
        json.loads((out / "gradescope" / sid / "results.json").read_text())
    assert not list(out.rglob("*.tmp")), "a temporary file was left behind"
    assert oct((out / ".hidden").stat().st_mode & 0o777) == "0o700"


def test_rerun_skips_unchanged_and_regrades_changed(tmp_path):
    assignment, subs = tiny.course(tmp_path, {"a": tiny.with_answers(S), "b": tiny.student_notebook()})
    out = tmp_path / "out"
    args = [subs, "--assignment", assignment, "--out", out, "--cell-timeout", 20, "--no-progress"]
    first = run_grader(*args)
    assert "graded 2, unchanged 0" in first.stdout, first.stdout + first.stderr
    book = (out / "gradebook.csv").read_text()
    second = run_grader(*args)
    assert "graded 0, unchanged 2" in second.stdout
    assert (out / "gradebook.csv").read_text() == book
    tiny.write(tiny.with_answers(S), subs / "b.ipynb")  # b finishes the work
    third = run_grader(*args)
    assert "graded 1, unchanged 1" in third.stdout
    rows = {r["id"]: r for r in csv.DictReader(open(out / "gradebook.csv"))}
    assert rows["b"]["total"] == "5" and rows["b"]["status"] == "ok"
    forced = run_grader(*args, "--force", "--timings", tmp_path / "timings.json")
    assert "graded 2, unchanged 0" in forced.stdout
    # --timings: the batch's phases and each graded submission's, in seconds (the benchmark's breakdown)
    timings = json.loads((tmp_path / "timings.json").read_text())
    assert {"hidden_data", "probe", "submissions", "gradebook"} <= set(timings["batch"])
    assert set(timings["submissions"]) == {"a", "b"}
    for phases in timings["submissions"].values():
        assert {"workdir", "startup", "cells", "exports", "teardown", "scoring", "outputs"} <= set(phases)
        assert all(v >= 0 for v in phases.values())


def test_wall_clock_cap(tmp_path):
    assignment = tmp_path / "tiny"
    assignment.mkdir()
    tiny.write(tiny.source_notebook(), assignment / "source.ipynb")
    subs = tmp_path / "subs"
    subs.mkdir()
    tiny.write(tiny.with_answers({**S, "normalize_answer": "import time\ntime.sleep(600)"}), subs / "sleeper.ipynb")
    out = tmp_path / "out"
    t0 = time.monotonic()
    proc = run_grader(subs, "--assignment", assignment, "--out", out, "--cell-timeout", 300,
                      "--timeout", 10, "--no-progress")
    assert time.monotonic() - t0 < 60
    row = next(csv.DictReader(open(out / "gradebook.csv")))
    assert row["status"] == "wall_timeout", (row, proc.stderr[-2000:])
    assert "wall-clock limit of 10 s reached in part 2 (answer cell normalize_answer)" in row["reason"]
    assert row["check_scale"] == "2" and row["check_normalize"] == "0" and row["check_fit"] == "0"


def test_escapes_contained(batch):
    if "escapes" not in batch["expected"]:
        pytest.skip(f"needs a dedicated user and a network namespace (have {batch['level']})")
    st = json.loads((batch["out"] / "state" / "escapes.json").read_text())
    answers = [c for c in st["cells"].values() if c["kind"] == "answer"]
    assert "ConnectionRefusedError" in answers[0]["message"]
    assert answers[1]["message"].startswith(("PermissionError", "OSError: [Errno 30] Read-only")), answers[1]
    assert answers[2]["message"].startswith(("FileNotFoundError", "PermissionError")), answers[2]


def test_never_root(tmp_path):
    """As root, ``--isolation none`` (student code as root) is refused with a clear error; ``user`` is refused
    when the sandbox user cannot reach the interpreter, naming the folder; nothing is graded."""
    if os.geteuid() != 0:
        pytest.skip("the grader is not root here")
    assignment = tmp_path / "tiny"
    assignment.mkdir()
    tiny.write(tiny.source_notebook(), assignment / "source.ipynb")
    subs = tmp_path / "subs"
    subs.mkdir()
    tiny.write(tiny.with_answers(S), subs / "a.ipynb")
    out = tmp_path / "out"
    proc = run_grader(subs, "--assignment", assignment, "--out", out, "--isolation", "none", "--no-progress")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "would run student code as root (refused)" in proc.stderr
    assert "To fix:" in proc.stderr
    assert not (out / "gradebook.csv").exists()
    closed = [a for a in Path(sys.base_prefix).resolve().parents if not (a.stat().st_mode & 0o001)]
    if closed:
        proc = run_grader(subs, "--assignment", assignment, "--out", out, "--isolation", "user", "--no-progress")
        assert proc.returncode == 2
        assert f"{closed[-1]} not traversable" in proc.stderr, proc.stderr


def test_every_entry_has_a_row_with_its_file_name(batch):
    entries = {os.fsdecode(n) for n in os.listdir(os.fsencode(batch["base"] / "submissions"))}
    rows = batch["rows"]
    assert len(rows) == len(entries)
    files = {r["file"] for r in rows.values()}
    shown = {n.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace") for n in entries}
    assert files == shown
    assert rows[_sid("odd")]["file"] == "odd\\xff name.ipynb"
    assert rows["n03_\u00e4\u00f6"]["file"] == "n03_\u00e4\u00f6.ipynb"
