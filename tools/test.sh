#!/usr/bin/env bash
# Run the whole test suite in smoke mode: unit tests, every notebook under nbval,
# the assignment and grader tests, a strict book build and a real-browser check,
# then the student and instructor editions of the book.
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
common=(--nbval-lax --nbval-cell-timeout=1800 -p no:cacheprovider)
set +e
# 1. Everything else, on two workers (one file per worker at a time).
.venv/bin/python -m pytest -n 2 --dist loadfile "${common[@]}" \
  tests notebooks --ignore=tests/test_editions.py "${args[@]}"
rc1=$?
# 2. The book's student and instructor editions. They run after step 1 because they
#    reuse the smoke execution cache that step 1's book build fills: two builds sharing
#    one cache must not run at the same time.
.venv/bin/python -m pytest "${common[@]}" tests/test_editions.py "${args[@]}"
rc2=$?
set -e
# pytest exits 5 when a selection (-k ...) leaves nothing to run in one of the steps.
if [ "$rc1" = 5 ] && [ "$rc2" = 5 ]; then exit 5; fi
[ "$rc1" = 5 ] && rc1=0
[ "$rc2" = 5 ] && rc2=0
[ "$rc1" != 0 ] && exit "$rc1"
exit "$rc2"
