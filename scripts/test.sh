#!/usr/bin/env bash
# Sets everything up on a fresh machine, then runs the whole test suite. Extra arguments go to pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh || exit 1
.venv/bin/python -m pytest "$@"
rc=$?
# pytest exits 5 when no test was collected (e.g. a filter matched nothing): not a failure of the suite.
[ "$rc" -eq 5 ] && rc=0
exit "$rc"
