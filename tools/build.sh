#!/usr/bin/env bash
# Install (if needed) and build the book: executes every notebook and writes
# _build/html/index.html. Options:
#   --smoke     small data and few epochs (seconds per notebook); output in _build/smoke/
#   --student   the student edition: every exercise solution removed (sphinx-exercise's
#               hide_solutions) and no page sources offered for download; output in
#               _build/student/ (with --smoke: _build/smoke-student/). It shares the
#               instructor edition's execution cache, so it re-executes nothing that
#               edition has run.
#   --all       rebuild every page, ignoring Sphinx's saved state (the execution cache still applies)
# Any warning, broken reference or failing cell fails the build.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
smoke=0
student=0
args=()
for a in "$@"; do
  case "$a" in
    --smoke) smoke=1 ;;
    --student) student=1 ;;
    --all) args+=(--all) ;;
    *) echo "build: unknown option $a (use --smoke, --student, --all)" >&2; exit 2 ;;
  esac
done
# Smoke and full builds keep separate execution caches: the cache is keyed on the
# code alone, so sharing one would serve smoke outputs to the full book.
if [ "$smoke" = 1 ]; then
  export AECOURSE_SMOKE=1
  base=_build/smoke
else
  base=.
fi
cache="$(pwd)/$base/_build/.jupyter_cache"
out=$base
config=()
if [ "$student" = 1 ]; then
  out=$([ "$smoke" = 1 ] && echo _build/smoke-student || echo _build/student)
  mkdir -p "$out"
  # The student edition's configuration: _config.yml plus what removes the solutions.
  .venv/bin/python - "$out/_config.student.yml" "$cache" <<'PY'
import sys
import yaml
dest, cache = sys.argv[1:3]
cfg = yaml.safe_load(open("_config.yml", encoding="utf-8"))
cfg["title"] = f"{cfg.get('title', 'The course')} (student edition)"
cfg.setdefault("execute", {})["cache"] = cache          # the instructor edition's executed notebooks
cfg.setdefault("sphinx", {})["recursive_update"] = True    # merge the theme option below, keep the rest
sphinx_config = cfg["sphinx"].setdefault("config", {})
sphinx_config["hide_solutions"] = True                     # sphinx-exercise drops every {solution}
sphinx_config["html_copy_source"] = False                  # no _sources/*.md holding them either,
sphinx_config.setdefault("html_theme_options", {})["use_download_button"] = False  # nor buttons to them
with open(dest, "w", encoding="utf-8") as f:
    yaml.safe_dump(cfg, f, sort_keys=False, allow_unicode=True)
PY
  config=(--config "$out/_config.student.yml")
fi
# Two builds that share an execution cache must not run at once (both would execute
# the same notebook and write the same cache entry).
mkdir -p "$base/_build"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$base/_build/.build.lock"
  flock -n 9 || { echo "build: waiting for another build that uses $base/_build/.jupyter_cache"; flock 9; }
fi
start=$(date +%s)
.venv/bin/jupyter-book build . --path-output "$out" "${config[@]}" -W -n --keep-going "${args[@]}"
echo "build: done in $(( $(date +%s) - start )) s -> $out/_build/html/index.html"
