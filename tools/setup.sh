#!/usr/bin/env bash
# Install everything the course needs, idempotently:
#   - a virtual environment in .venv with the pinned packages of requirements.txt;
#   - MathJax 3 in _mathjax/ (served with the book, so math renders offline);
#   - headless Chromium for the browser test (Debian/Ubuntu, as root or with sudo).
# Safe to run again: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-}
if [ -z "$PY" ]; then
  for cand in python3.11 python3; do
    if command -v "$cand" >/dev/null 2>&1; then PY=$cand; break; fi
  done
fi
[ -n "$PY" ] || { echo "setup: Python 3.11 not found; install it or set PYTHON=/path/to/python3.11" >&2; exit 1; }
ver=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
[ "$ver" = "3.11" ] || echo "setup: note: tested with Python 3.11, found $ver ($PY)" >&2

# 1. Python packages
stamp=.venv/.requirements.sha256
want=$(cat requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing Python packages into .venv (a few minutes the first time)"
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r requirements.txt
  echo "$want" > "$stamp"
fi

# 1b. Jupyter Book must be version 1: `pip install jupyter-book` now gives version 2, a
# different (Node-based) tool without glue, execution timeouts or this _config.yml/_toc.yml.
jb=$(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("jupyter-book"))' 2>/dev/null || echo "none")
case "$jb" in
  1.*) ;;
  *) echo "setup: .venv has jupyter-book $jb, but this course is a Jupyter Book 1 book" \
          "(requirements.txt pins jupyter-book==1.0.4.post1; version 2 is a different tool that cannot build it)." \
          "Fix: .venv/bin/python -m pip install -r requirements.txt (or delete .venv and run bash tools/setup.sh again)." >&2
     exit 1 ;;
esac

# 2. MathJax, served from the book itself
MJ_VERSION=3.2.2
if [ ! -f _mathjax/mathjax/tex-mml-chtml.js ]; then
  echo "setup: fetching MathJax $MJ_VERSION for offline math"
  tmp=$(mktemp -d)
  if command -v npm >/dev/null 2>&1; then
    (cd "$tmp" && npm install --silent --no-audit --no-fund "mathjax@$MJ_VERSION" >/dev/null)
    src="$tmp/node_modules/mathjax/es5"
  else
    echo "setup: npm not found; install Node.js (https://nodejs.org) so MathJax can be fetched" >&2
    exit 1
  fi
  mkdir -p _mathjax.part
  cp -r "$src" _mathjax.part/mathjax
  rm -rf _mathjax && mv _mathjax.part _mathjax && rm -rf "$tmp"
fi

# 3. Headless Chromium for the browser test
# (Google Chrome, as on GitHub's runners, serves as well.)
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1 \
   && ! command -v google-chrome >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    echo "setup: installing chromium (Debian package) for the browser test"
    if ! ($SUDO apt-get install -y -q chromium >/dev/null 2>&1 || \
          ($SUDO apt-get update -q >/dev/null 2>&1 && $SUDO apt-get install -y -q chromium >/dev/null 2>&1)); then
      echo "setup: could not install chromium; the browser test will be skipped" >&2
    fi
  else
    echo "setup: no apt-get; install Chromium yourself for the browser test" >&2
  fi
fi
echo "setup: ready (.venv with jupyter-book $jb, _mathjax$(command -v chromium >/dev/null 2>&1 && echo ', chromium'))"
