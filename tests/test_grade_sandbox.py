"""The grader's sandbox and batch under stress (issue 12): stopping cleanly on SIGINT/SIGTERM/SIGKILL, the
allow-list with a private interpreter and the hidden data in the repository root, Keras' MNIST loader
inside the sandbox, ids that never depend on the other files.

The signal tests start the real grader (``python -m aecourse.grade``) on a submission that sleeps in a
process renamed to a unique marker, then signal the grader and look for that marker in ``/proc``.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from grade_fixtures import tiny  # noqa: E402

from aecourse.grade import batch as batch_mod  # noqa: E402
from aecourse.grade.sandbox import WORK_PREFIX, Cgroup, Limits, Sandbox, Slots  # noqa: E402
from aecourse.grade.sandbox import ROLE_EVAL, THREAD_VARS, ensure_user, threads_per_job  # noqa: E402

S = tiny.solved()


def level() -> str:
    return Sandbox(Limits(), []).probe()


needs_root_ns = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (dedicated sandbox user)")


def marker() -> str:
    return "aecs" + os.urandom(4).hex()


def sleeper(mark: str) -> str:
    return (f"import ctypes, time\nctypes.CDLL(None).prctl(15, {mark.encode()!r}, 0, 0, 0)\ntime.sleep(600)\n")


def processes(mark: str) -> list[str]:
    found = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == mark:
                found.append(comm.parent.name)
        except OSError:
            pass
    return found


def wait_for(pred, timeout: float, step: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


def mounts_under(path: Path) -> list[str]:
    return [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()
            if line.split()[1].startswith(str(path))]


@pytest.fixture(autouse=True)
def no_mount_left(tmp_path):
    """Whatever a failing test leaves mounted under its folder is unmounted (the grader's own sweep does this
    for its next run)."""
    yield
    for m in reversed(mounts_under(tmp_path)):
        subprocess.run(["umount", "-l", m], capture_output=True)


def setup(tmp_path: Path, names_answers: dict) -> tuple[Path, Path, Path, dict]:
    assignment, subs = tiny.course(tmp_path, {name: tiny.with_answers(a) for name, a in names_answers.items()})
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), TMPDIR=str(tmp))
    env.pop("AECOURSE_SMOKE", None)
    return assignment, subs, tmp_path / "out", env


def start(assignment, subs, out, env, *extra) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "aecourse.grade", str(subs), "--assignment", str(assignment),
                             "--out", str(out), "--cell-timeout", "300", "--timeout", "300", "--no-progress",
                             *map(str, extra)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_until_sleeping(proc: subprocess.Popen, mark: str) -> None:
    """Wait until the sleeper submission's cell runs (its marked process exists) in a live grader."""
    assert wait_for(lambda: processes(mark) or proc.poll() is not None, 240) and proc.poll() is None, \
        "the sleeping submission never started"


def leftovers(tmp: Path) -> list[str]:
    return [p.name for p in tmp.glob(WORK_PREFIX + "*")]


@needs_root_ns
@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_stops_cleanly_and_writes_the_gradebook(tmp_path, sig, code):
    mark = marker()
    assignment, subs, out, env = setup(tmp_path, {"a_correct": S, "b_sleeper": {**S, "normalize_answer": sleeper(mark)},
                                                  "c_correct": S})
    proc = start(assignment, subs, out, env)
    try:
        wait_until_sleeping(proc, mark)
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, stderr[-2000:]
    assert "stopping the runs in progress" in stderr
    assert wait_for(lambda: not processes(mark), 30), "a sandbox outlived the stop"
    rows = list(csv.DictReader(open(out / "gradebook.csv")))
    assert [(r["id"], r["status"], r["total"]) for r in rows] == [("a_correct", "ok", "5")]
    assert not (out / "state" / "b_sleeper.json").exists()  # graded again next time
    assert not leftovers(tmp_path / "tmp")
    assert not mounts_under(tmp_path)
    assert "1 submission(s) not graded" in stderr or "2 submission(s) not graded" in stderr


@needs_root_ns
def test_second_signal_quits_at_once(tmp_path):
    mark = marker()
    assignment, subs, out, env = setup(tmp_path, {"sleeper": {**S, "normalize_answer": sleeper(mark)}})
    proc = start(assignment, subs, out, env)
    try:
        wait_until_sleeping(proc, mark)
        proc.send_signal(signal.SIGTERM)
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode in (130, 143)
    assert wait_for(lambda: not processes(mark), 30), "a sandbox outlived the grader"
    assert not mounts_under(tmp_path)


@needs_root_ns
def test_sigkill_leaves_no_sandbox_and_the_next_run_sweeps(tmp_path):
    mark = marker()
    assignment, subs, out, env = setup(tmp_path, {"sleeper": {**S, "normalize_answer": sleeper(mark)}})
    proc = start(assignment, subs, out, env)
    try:
        wait_until_sleeping(proc, mark)
        left = leftovers(tmp_path / "tmp")
        assert left
        proc.kill()
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert wait_for(lambda: not processes(mark), 30), "a sandbox outlived its killed grader"
    assert leftovers(tmp_path / "tmp") == left  # the killed grader could not clean up
    (subs / "sleeper.ipynb").unlink()
    again = subprocess.run([sys.executable, "-m", "aecourse.grade", str(subs), "--assignment", str(assignment),
                            "--out", str(out), "--no-progress"], env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert not leftovers(tmp_path / "tmp")
    assert not mounts_under(tmp_path)
    found = Cgroup.parents()
    if found:
        assert not any((parent / name).exists() for parent in found[1] for name in left)


@needs_root_ns
def test_allowlist_with_private_venv_and_hidden_file_in_repo_root(tmp_path):
    """The hidden data lies in the repository root and the interpreter under a mode-700 folder: the sandbox
    still starts its interpreter and imports the course package, and sees neither the hidden file nor the
    repository's other contents."""
    lvl = level()
    if "allowlist" not in lvl:
        pytest.skip(f"no mount namespace here ({lvl})")
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "src" / "aecourse", repo / "src" / "aecourse",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (repo / ".git").mkdir()
    (repo / ".git" / "secret").write_text("course history")
    assignment = repo / "assignments" / "tiny"
    assignment.mkdir(parents=True)
    tiny.write(tiny.source_notebook(), assignment / "source.ipynb")
    from aecourse.grade.spec import load_spec

    _, spec = load_spec(assignment)
    hidden = repo / "hidden.npz"
    np.savez(hidden, **spec.make_hidden(np.random.default_rng(0), False))
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    os.symlink(os.path.realpath(sys.prefix), private / "venv")
    python = private / "venv" / "bin" / "python"
    subs = tmp_path / "subs"
    subs.mkdir()
    from test_grade import allowlist_probe

    paths = [str(hidden), str(repo / ".git"), str(repo / ".git" / "secret"), str(assignment / "source.ipynb"),
             str(repo), str(private)]  # (repo/src holds only the package's mount point: it is on sys.path)
    tiny.write(tiny.with_answers({**S, "scale_answer": S["scale_answer"] + "\n" + allowlist_probe(paths)}),
               subs / "student.ipynb")
    env = dict(os.environ, PYTHONPATH=str(repo / "src"))
    env.pop("AECOURSE_SMOKE", None)
    proc = subprocess.run([str(python), "-m", "aecourse.grade", str(subs), "--assignment", str(assignment), "--out",
                           str(tmp_path / "out"), "--hidden", str(hidden), "--no-progress"], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    row = next(csv.DictReader(open(tmp_path / "out" / "gradebook.csv")))
    assert (row["status"], row["total"]) == ("ok", "5"), row
    assert row["isolation"].startswith("user+allowlist")


@needs_root_ns
def test_keras_mnist_loader_in_the_sandbox():
    """``keras.datasets.mnist.load_data()`` inside the sandbox gives the course's MNIST (the startup hook an
    IPython kernel runs), and without the data says to use ``aecourse.data``."""
    from aecourse import data

    if data.data_dir() is None:
        pytest.skip("no AECOURSE_DATA_DIR")
    sb = Sandbox(Limits(), [])
    slots = Slots(1)
    try:
        sb.probe(slots.numbers()[0])
        code = (
            "import os, runpy\n"
            "runpy.run_path(os.path.join(os.environ['IPYTHONDIR'], 'profile_default', 'startup', "
            "'00-aecourse-keras-mnist.py'))\n"
            "import keras\n"
            "(x, y), (xt, yt) = keras.datasets.mnist.load_data()\n"
            "print('mnist', x.shape, x.dtype, y.dtype, xt.shape, int(y[:100].sum()))\n"
            "os.environ['AECOURSE_DATA_DIR'] = '/nonexistent'\n"
            "try:\n    keras.datasets.mnist.load_data()\nexcept RuntimeError as e:\n    print('hint:', e)\n"
        )
        res = sb.run_argv([sys.executable, "-c", code], sb.base_level, slots.numbers()[0], timeout=300)
    finally:
        slots.release()
    assert "mnist (60000, 28, 28) uint8 uint8 (10000, 28, 28)" in res.log_tail, res.log_tail[-2000:]
    (_, y), _ = data.load_mnist()
    assert f" {int(y[:100].sum())}\n" in res.log_tail
    assert "Load the digits with aecourse.data.load_mnist()" in res.log_tail


def test_ids_come_from_the_name_alone(tmp_path):
    folder = tmp_path / "subs"
    folder.mkdir()
    for name in ("n03_\u00e4\u00f6.ipynb", "alice.ipynb", "bob smith.ipynb"):
        (folder / name).write_text("{}")
    before = {e.file: e.sid for e in batch_mod.find_submissions(folder, "tiny")}
    assert before["n03_\u00e4\u00f6.ipynb"] == "n03_\u00e4\u00f6"
    assert before["alice.ipynb"] == "alice"
    assert before["bob smith.ipynb"].startswith("bob_smith-")
    for name in ("n03_\u00e5\u00f8.ipynb", "bob_smith.ipynb", "Alice.ipynb", "0.ipynb"):
        (folder / name).write_text("{}")
    with open(os.fsencode(str(folder)) + b"/caf\xe9.ipynb", "wb") as f:
        f.write(b"{}")
    after = {e.file: e.sid for e in batch_mod.find_submissions(folder, "tiny")}
    assert {k: after[k] for k in before} == before
    assert len(set(after.values())) == len(after)
    assert after["caf\\xe9.ipynb"].startswith("caf_-")
    assert batch_mod.safe_id("x" * 300) == batch_mod.safe_id("x" * 300) and len(batch_mod.safe_id("x" * 300)) < 100


def test_gradescope_folder_with_several_notebooks_picks_by_name(tmp_path):
    folder = tmp_path / "student"
    folder.mkdir()
    tiny.write(tiny.with_answers(S), folder / "Tiny (1).ipynb")
    tiny.write(tiny.student_notebook(), folder / "scratch.ipynb")
    path, problem = batch_mod._folder_notebook(folder, "tiny", ["scale_answer"])
    assert path == folder / "Tiny (1).ipynb", problem
    (folder / "Tiny (1).ipynb").rename(folder / "homework.ipynb")
    (folder / "notes.ipynb").write_text(json.dumps(nbformat.v4.new_notebook()))
    (folder / "scratch.ipynb").unlink()
    path, problem = batch_mod._folder_notebook(folder, "tiny", ["scale_answer"])
    assert path == folder / "homework.ipynb", problem  # the only one holding the assignment's answer cells


@needs_root_ns
def test_models_are_evaluated_by_another_user_than_the_kernels():
    """The model evaluation runs beside the student's kernel: as the slot's other user, never the kernel's."""
    for slot in (0, 1):
        kernel, evaluator = ensure_user(slot), ensure_user(slot, ROLE_EVAL)
        assert kernel[0] != evaluator[0] and kernel[1] != evaluator[1]
        assert 0 not in (*kernel, *evaluator)
    assert ensure_user(0, ROLE_EVAL) != ensure_user(1, ROLE_EVAL)


def test_threads_shared_out_between_jobs(tmp_path, monkeypatch):
    for var in THREAD_VARS:
        monkeypatch.delenv(var, raising=False)
    assert threads_per_job(1) is None
    cores = len(os.sched_getaffinity(0))
    assert threads_per_job(2) == max(1, cores // 2)
    sb = Sandbox(Limits(), [])
    assert not set(THREAD_VARS) & set(sb.env(tmp_path))  # one job: the libraries' own default
    sb.threads = 1
    assert all(sb.env(tmp_path)[v] == "1" for v in THREAD_VARS)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # the instructor's setting wins
    assert sb.env(tmp_path)["OMP_NUM_THREADS"] == "3"
