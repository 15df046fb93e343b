#!/usr/bin/env bash
# Install (if needed) and build the book: executes every notebook and writes
# _build/html/index.html. Options:
#   --smoke   small data and few epochs (seconds per notebook); output in _build/smoke/
#   --all     rebuild every page, ignoring Sphinx's saved state (the execution cache still applies)
# Any warning, broken reference or failing cell fails the build.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
out=.
args=()
for a in "$@"; do
  case "$a" in
    --smoke) export AECOURSE_SMOKE=1; out=_build/smoke ;;
    --all) args+=(--all) ;;
    *) echo "build: unknown option $a (use --smoke, --all)" >&2; exit 2 ;;
  esac
done
# Smoke and full builds keep separate execution caches: the cache is keyed on the
# code alone, so sharing one would serve smoke outputs to the full book.
start=$(date +%s)
.venv/bin/jupyter-book build . --path-output "$out" -W -n --keep-going "${args[@]}"
echo "build: done in $(( $(date +%s) - start )) s -> $out/_build/html/index.html"
