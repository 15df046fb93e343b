#!/usr/bin/env bash
# Run the whole test suite in smoke mode: unit tests, every notebook under nbval,
# the assignment and grader tests, a strict book build and a real-browser check.
# Extra arguments go to pytest (e.g. -k data, or --full for full-size data).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
export AECOURSE_SMOKE=${AECOURSE_SMOKE:-1}
full=0
args=()
for a in "$@"; do
  if [ "$a" = "--full" ]; then full=1; else args+=("$a"); fi
done
[ "$full" = 1 ] && export AECOURSE_SMOKE=0
exec .venv/bin/python -m pytest -n 2 --dist loadfile \
  --nbval-lax --nbval-cell-timeout=1800 -p no:cacheprovider \
  tests notebooks "${args[@]}"
