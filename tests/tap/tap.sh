# SPDX-License-Identifier: GPL-2.0-or-later
# TAP helpers for gpumarket's shell integration tests (sourced, bash).
# Every test script: . "$(dirname "$0")/tap/tap.sh"; plan N; ...; finish

TAP_RUN=0
TAP_FAILED=0
TAP_PLANNED=

plan() { TAP_PLANNED=$1; echo "1..$1"; }
skip_all() { echo "1..0 # SKIP $*"; exit 0; }
bail_out() { echo "Bail out! $*"; exit 255; }
diag() { local l; while IFS= read -r l; do echo "# $l"; done <<<"$*"; }

ok() { # ok CONDITION-STATUS DESCRIPTION
  local status=$1; shift
  TAP_RUN=$((TAP_RUN + 1))
  if [ "$status" -eq 0 ]; then
    echo "ok $TAP_RUN - $*"
  else
    TAP_FAILED=$((TAP_FAILED + 1))
    echo "not ok $TAP_RUN - $*"
  fi
  return "$status"
}

# test_expect DESCRIPTION COMMAND...: runs COMMAND, passes when it exits 0;
# its output is shown as diagnostics when it fails.
test_expect() {
  local desc=$1; shift
  local out rc
  out=$("$@" 2>&1); rc=$?
  ok "$rc" "$desc" || diag "command: $*"$'\n'"exit $rc"$'\n'"$out"
}

# test_expect_fail DESCRIPTION COMMAND...: passes when COMMAND exits non-zero.
test_expect_fail() {
  local desc=$1; shift
  local out rc
  out=$("$@" 2>&1); rc=$?
  if [ "$rc" -ne 0 ]; then ok 0 "$desc"; else ok 1 "$desc"; diag "command: $*"$'\n'"exited 0"$'\n'"$out"; fi
}

skip() { # skip COUNT REASON
  local i
  for ((i = 0; i < $1; i++)); do TAP_RUN=$((TAP_RUN + 1)); echo "ok $TAP_RUN # SKIP $2"; done
}

finish() {
  if [ -n "$TAP_PLANNED" ] && [ "$TAP_PLANNED" -ne "$TAP_RUN" ]; then
    echo "# planned $TAP_PLANNED tests but ran $TAP_RUN"
    exit 1
  fi
  [ "$TAP_FAILED" -eq 0 ]
}
