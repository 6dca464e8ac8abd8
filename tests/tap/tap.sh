# SPDX-License-Identifier: GPL-2.0-or-later
# TAP for gpumarket's shell tests (bash), in the manner of sharness/git's
# test-lib: each test is a description and a body of commands joined by &&,
#
#   test_expect_success 'a bad bid is refused' '
#       test_must_fail gpumarket quote --bid abc 2>err &&
#       test_grep "gpumarket: --bid: " err
#   '
#
# Tests source tests/tap/preamble.sh (which sources this file), not this
# file directly.  Output is TAP; a failing test shows its commands and what
# they printed as diagnostics.  Older tests still use `ok STATUS DESC` and
# test_expect/test_expect_fail, which stay.

TAP_RUN=0
TAP_FAILED=0
TAP_PLANNED=
TAP_FIXED=0
TAP_BROKEN=0
_TEST_CLEANUP=()
declare -A _TEST_PREREQ=()
declare -A _TEST_PREREQ_WHY=()

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

# ------------------------------------------------------------ prerequisites

# test_set_prereq NAME: NAME is available (tests that need it run).
test_set_prereq() { _TEST_PREREQ[$1]=1; }
# test_missing_prereq NAME WHY: NAME is not available; tests that need it are
# skipped with WHY in the TAP output, so a skip is never silent.
test_missing_prereq() { unset "_TEST_PREREQ[$1]"; _TEST_PREREQ_WHY[$1]=$2; }
# test_have_prereq A,B,...: all are available.
test_have_prereq() {
  local p
  local IFS=,
  for p in $1; do
    [ -n "${_TEST_PREREQ[$p]:-}" ] || return 1
  done
}
_test_missing() { # the first missing prerequisite of A,B,... and why
  local p
  local IFS=,
  for p in $1; do
    if [ -z "${_TEST_PREREQ[$p]:-}" ]; then
      echo "missing $p${_TEST_PREREQ_WHY[$p]:+: ${_TEST_PREREQ_WHY[$p]}}"
      return
    fi
  done
}

# ------------------------------------------------------------ the test body

_test_output_file() {
  if [ -z "${_TEST_OUTPUT:-}" ]; then
    _TEST_OUTPUT=$(mktemp "${TEST_TMPDIR:-${TMPDIR:-/tmp}}/.test-output.XXXXXX") ||
      bail_out "cannot create a temporary file for test output"
  fi
}

# test_when_finished COMMANDS: run COMMANDS after the current test body,
# whether it passed or not (e.g. to restore a file the test changed); the
# last registered runs first, and a cleanup that fails fails the test.
test_when_finished() {
  [ -n "${_TEST_IN_BODY:-}" ] || bail_out "test_when_finished outside a test body: $*"
  _TEST_CLEANUP=("$*" "${_TEST_CLEANUP[@]}")
}

# Bodies run inside a function, so `return 1` ends one early (in a loop, say);
# without `local`, what they set stays set for the tests after them.
_test_eval() { eval "$1"; }

# Run BODY in this shell (so it may set variables for later tests) with its
# output captured; sets _TEST_RC.  With chain linting on (the default; set
# GM_TEST_CHAIN_LINT=0 to turn it off), the body is first run behind a
# failing command: if anything still runs, a link of the chain is missing
# its && and a failure in the middle of the body would go unseen.
_test_run() {
  local body=$1 c
  _test_output_file
  if [ "${GM_TEST_CHAIN_LINT:-1}" != 0 ]; then
    local lint_rc lint_err
    lint_err=$( (_test_eval "(exit 117) && $body") 2>&1 >/dev/null </dev/null)
    lint_rc=$?
    if [ "$lint_rc" -ne 117 ]; then
      diag "$lint_err"
      bail_out "broken &&-chain or syntax error in test '$_TEST_DESC': join every command of a body with &&"
    fi
  fi
  _TEST_CLEANUP=()
  _TEST_IN_BODY=1
  _test_eval "$body" >"$_TEST_OUTPUT" 2>&1 9>&1 </dev/null
  _TEST_RC=$?
  _TEST_IN_BODY=
  for c in "${_TEST_CLEANUP[@]}"; do
    { eval "$c"; } >>"$_TEST_OUTPUT" 2>&1 </dev/null && continue
    echo "test_when_finished: cleanup failed: $c" >>"$_TEST_OUTPUT"
    [ "$_TEST_RC" -ne 0 ] || _TEST_RC=1
  done
  _TEST_CLEANUP=()
}

_test_show_failure() { # BODY
  diag "failed with exit $_TEST_RC:"$'\n'"$1"
  if [ -s "$_TEST_OUTPUT" ]; then
    diag "output:"$'\n'"$(cat "$_TEST_OUTPUT")"
  fi
}

# _test_args NAME ARGS...: sets _TEST_PRE, _TEST_DESC and _TEST_BODY from
# [PREREQS] 'description' 'body'.
_test_args() {
  local name=$1; shift
  case $# in
    2) _TEST_PRE= _TEST_DESC=$1 _TEST_BODY=$2 ;;
    3) _TEST_PRE=$1 _TEST_DESC=$2 _TEST_BODY=$3 ;;
    *) bail_out "$name: give [PREREQS] 'description' 'commands' ($# arguments given)" ;;
  esac
}

# test_expect_success [PREREQS] DESCRIPTION BODY: passes when BODY exits 0.
test_expect_success() {
  _test_args test_expect_success "$@"
  if [ -n "$_TEST_PRE" ] && ! test_have_prereq "$_TEST_PRE"; then
    TAP_RUN=$((TAP_RUN + 1))
    echo "ok $TAP_RUN # SKIP $_TEST_DESC ($(_test_missing "$_TEST_PRE"))"
    return 0
  fi
  _test_run "$_TEST_BODY"
  if [ "$_TEST_RC" -eq 0 ]; then
    ok 0 "$_TEST_DESC"
  else
    ok 1 "$_TEST_DESC"
    _test_show_failure "$_TEST_BODY"
    return 1
  fi
}

# test_expect_failure [PREREQS] DESCRIPTION BODY: a known breakage.  BODY
# states what should be true; while it fails the test is reported as TODO
# (not a failure of the suite); once it passes, TAP says so and the test
# should become test_expect_success.
test_expect_failure() {
  _test_args test_expect_failure "$@"
  if [ -n "$_TEST_PRE" ] && ! test_have_prereq "$_TEST_PRE"; then
    TAP_RUN=$((TAP_RUN + 1))
    echo "ok $TAP_RUN # SKIP $_TEST_DESC ($(_test_missing "$_TEST_PRE"))"
    return 0
  fi
  _test_run "$_TEST_BODY"
  TAP_RUN=$((TAP_RUN + 1))
  if [ "$_TEST_RC" -eq 0 ]; then
    TAP_FIXED=$((TAP_FIXED + 1))
    echo "ok $TAP_RUN - $_TEST_DESC # TODO known breakage vanished"
  else
    TAP_BROKEN=$((TAP_BROKEN + 1))
    echo "not ok $TAP_RUN - $_TEST_DESC # TODO known breakage"
  fi
}

# ------------------------------------------------------------ helpers for bodies

# What a helper says about a failure goes to the test's own output (fd 9 in
# a body), not to the body's stderr, which `2>err` may have sent elsewhere.
_test_say() {
  if [ -n "${_TEST_IN_BODY:-}" ]; then echo "$*" >&9; else echo "$*" >&2; fi
}
_test_say_stdin() {
  if [ -n "${_TEST_IN_BODY:-}" ]; then cat >&9; else cat >&2; fi
}

# test_cmp EXPECTED ACTUAL: the files are equal; otherwise the unified diff
# (expected first) is printed and the test fails.
test_cmp() {
  [ $# -eq 2 ] || { _test_say "test_cmp: give EXPECTED ACTUAL"; return 2; }
  diff -u -- "$1" "$2" | _test_say_stdin
  [ "${PIPESTATUS[0]}" -eq 0 ]
}

# test_must_fail COMMAND...: COMMAND fails the ordinary way (exit 1-125, or
# 193-255 as Slurm's commands exit 255).  A success, a missing or unrunnable
# command (126, 127) or a death by signal (129-192: a crash, an abort, a
# sanitizer) is not the failure a test means.
test_must_fail() {
  "$@"
  local rc=$?
  if [ $rc -eq 0 ]; then
    _test_say "test_must_fail: command succeeded: $*"
    return 1
  elif [ $rc -eq 126 ] || [ $rc -eq 127 ]; then
    _test_say "test_must_fail: command not found or not executable (exit $rc): $*"
    return 1
  elif [ $rc -gt 128 ] && [ $rc -le 192 ]; then
    _test_say "test_must_fail: command died by signal $((rc - 128)): $*"
    return 1
  fi
  return 0
}

# test_expect_code CODE COMMAND...: COMMAND exits with exactly CODE.
test_expect_code() {
  local want=$1; shift
  "$@"
  local rc=$?
  [ $rc -eq "$want" ] && return 0
  _test_say "test_expect_code: command exited $rc, wanted $want: $*"
  return 1
}

# test_grep [-v] [GREP OPTIONS] PATTERN FILE: like grep -q, but when it does
# not hold, says so and prints the file.
test_grep() {
  local negate=
  [ "${1:-}" = -v ] && { negate=1; shift; }
  [ $# -ge 2 ] || { _test_say "test_grep: give [-v] [OPTIONS] PATTERN FILE"; return 2; }
  local file=${*: -1}
  if [ -n "$negate" ]; then
    ! grep -q "$@" && return 0
    _test_say "test_grep: unwanted match for ${*:1:$#-1} in $file:"
  else
    grep -q "$@" && return 0
    _test_say "test_grep: no match for ${*:1:$#-1} in $file:"
  fi
  { cat -- "$file" 2>/dev/null || echo "(cannot read $file)"; } | _test_say_stdin
  return 1
}

# test_line_count OP N FILE: the file's line count compares as test(1) OP.
test_line_count() {
  [ $# -eq 3 ] || { _test_say "test_line_count: give OP N FILE"; return 2; }
  local n
  n=$(wc -l <"$3") || return 1
  test "$n" "$1" "$2" && return 0
  _test_say "test_line_count: $3 has $n lines, wanted $1 $2:"
  _test_say_stdin <"$3"
  return 1
}

# ------------------------------------------------------------ the end

# finish: the test's verdict as its status (for tests that give a plan).
finish() {
  if [ -n "$TAP_PLANNED" ] && [ "$TAP_PLANNED" -ne "$TAP_RUN" ]; then
    echo "# planned $TAP_PLANNED tests but ran $TAP_RUN"
    exit 1
  fi
  [ "$TAP_FAILED" -eq 0 ]
}

# test_done: print the plan if none was given up front, sum up, and exit.
test_done() {
  [ -n "$TAP_PLANNED" ] || echo "1..$TAP_RUN"
  [ "$TAP_BROKEN" -eq 0 ] || diag "still have $TAP_BROKEN known breakage(s)"
  [ "$TAP_FIXED" -eq 0 ] || diag "$TAP_FIXED known breakage(s) vanished: make them test_expect_success"
  finish
  exit
}
