#!/usr/bin/env bash
# Runs the whole test suite; "no tests collected" (pytest exit 5) is a failure, not a pass.
# The S3 server is S3TASKS_TEST_S3 (rgw by default, or moto); the report's header names it.
set -uo pipefail
cd "$(dirname "$0")/.."
uv=$(command -v uv || echo .tools/venv/bin/uv)
"$uv" run --frozen pytest "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "test.sh: pytest collected no tests: the selection is wrong" >&2
  exit 1
fi
exit "$rc"
