#!/usr/bin/env bash
# Set up (scripts/setup.sh), then run every check in order:
#   ruff check . ; mypy (packages from pyproject) ; lint-imports (contracts in pyproject) ;
#   pytest "$@"
# Every step runs even when an earlier one failed; the script exits non-zero when any
# failed. pytest's own exit codes stand: 5 ("no tests ran") is a failure here too.
# `scripts/test.sh --lint-only` runs the first three steps only.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

LINT_ONLY=0
if [ "${1:-}" = "--lint-only" ]; then
    LINT_ONLY=1
    shift
fi

bash scripts/setup.sh

BIN="$ROOT/.venv/bin"
RESULTS=()
FAILED=()
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# step NAME CMD...: run one check, record its outcome, never stop the script.
step() {
    local name="$1" rc=0 start end
    shift
    printf '\n[test] ==> %s: %s\n' "$name" "$*"
    start=$(date +%s)
    "$@" || rc=$?
    end=$(date +%s)
    if [ "$rc" -eq 0 ]; then
        RESULTS+=("$name ok ($((end - start)) s)")
    else
        RESULTS+=("$name FAILED (exit $rc, $((end - start)) s)")
        FAILED+=("$name")
    fi
}

step "ruff" "$BIN/ruff" check .
step "mypy" "$BIN/mypy"
step "lint-imports" "$BIN/lint-imports" --no-logo
if [ "$LINT_ONLY" -eq 0 ]; then
    step "pytest" "$BIN/pytest" --junitxml="$WORK/junit.xml" "$@"
fi

echo
for result in "${RESULTS[@]}"; do
    echo "[test] step: $result"
done
if [ "${#FAILED[@]}" -eq 0 ]; then
    echo "[test] result: PASSED"
else
    echo "[test] result: FAILED (${FAILED[*]})"
fi
if [ "$LINT_ONLY" -eq 0 ]; then
    # Last line, in the plain "N passed, N failed, N skipped" form; errors (a leak found at
    # teardown, a broken fixture) count as failed.
    "$BIN/python" - "$WORK/junit.xml" <<'EOF' 2>/dev/null || echo "pytest: no test report (pytest did not finish)"
import sys
import xml.etree.ElementTree as ET

counts = {"passed": 0, "failed": 0, "skipped": 0}
for case in ET.parse(sys.argv[1]).getroot().iter("testcase"):
    tags = {child.tag for child in case}
    if tags & {"failure", "error"}:
        counts["failed"] += 1
    elif "skipped" in tags:
        counts["skipped"] += 1
    else:
        counts["passed"] += 1
print("pytest: {passed} passed, {failed} failed, {skipped} skipped".format(**counts))
EOF
fi
[ "${#FAILED[@]}" -eq 0 ]
