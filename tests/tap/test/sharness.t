#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The shell test library itself (tests/tap/tap.sh, preamble.sh, fixtures.sh):
# each scenario is a small test script run in a fresh shell; its TAP output
# and exit status are compared with what the library promises.
. "$(dirname "$0")/../preamble.sh"

# scenario NAME BODY: write a test script that sources the preamble, then
# BODY (OUTER is this test's TEST_TMPDIR there); run it; its stdout goes
# to NAME.out and its status to NAME.rc.
scenario() {
  local name=$1
  {
    echo '#!/bin/bash'
    echo "OUTER=$TEST_TMPDIR"
    echo ". \"$top_srcdir/tests/tap/preamble.sh\""
    printf '%s\n' "$2"
  } >"$TEST_TMPDIR/$name.t"
  (cd "$TEST_TMPDIR" && TMPDIR=$TEST_TMPDIR/tmp-$name bash "./$name.t" >"$name.out" 2>"$name.err")
  echo $? >"$TEST_TMPDIR/$name.rc"
}
mkdir -p "$TEST_TMPDIR"/tmp-{pass,ret,fail,chain,cmp,must,todo,fixed,prereq,cleanup,atexit}

test_expect_success 'passing and failing tests are numbered, with a plan at the end' '
  scenario pass "test_expect_success \"one\" \"true\"
test_expect_success \"two\" \"x=2 && test \\\$x = 2\"
test_done" &&
  printf "ok 1 - one\nok 2 - two\n1..2\n" >expect &&
  test_cmp expect "$TEST_TMPDIR/pass.out" &&
  test "$(cat "$TEST_TMPDIR/pass.rc")" = 0
'

test_expect_success 'a failing body fails the script and shows its commands and output' '
  scenario fail "test_expect_success \"bad\" \"echo some-output && false\"
test_done" &&
  test_grep -x "not ok 1 - bad" "$TEST_TMPDIR/fail.out" &&
  test_grep -x "# echo some-output && false" "$TEST_TMPDIR/fail.out" &&
  test_grep -x "# some-output" "$TEST_TMPDIR/fail.out" &&
  test "$(cat "$TEST_TMPDIR/fail.rc")" = 1
'

test_expect_success 'return 1 inside a body fails the test there, and its cleanup still runs' '
  scenario ret "test_expect_success \"loop\" \"test_when_finished \\\"touch \\\\\\\$OUTER/ret-cleaned\\\" && for i in 1 2; do test \\\$i = 1 || return 1; done && touch \\\$OUTER/not-reached\"
test_done" &&
  test_grep -x "not ok 1 - loop" "$TEST_TMPDIR/ret.out" &&
  test ! -e "$TEST_TMPDIR/not-reached" &&
  test -e "$TEST_TMPDIR/ret-cleaned"
'

test_expect_success 'a body missing an && bails out instead of hiding a failure' '
  scenario chain "test_expect_success \"broken\" \"false
true\"
test_done" &&
  test_grep "^Bail out! broken &&-chain" "$TEST_TMPDIR/chain.out" &&
  test "$(cat "$TEST_TMPDIR/chain.rc")" = 255
'

test_expect_success 'test_cmp prints a unified diff of expected and actual' '
  scenario cmp "printf \"a\\nb\\n\" >e && printf \"a\\nc\\n\" >a
test_expect_success \"differs\" \"test_cmp e a\"
test_done" &&
  test_grep -x "# -b" "$TEST_TMPDIR/cmp.out" &&
  test_grep -x "# +c" "$TEST_TMPDIR/cmp.out" &&
  test_grep -x "not ok 1 - differs" "$TEST_TMPDIR/cmp.out"
'

test_expect_success 'test_must_fail takes exit 1 or 255 but not success, a missing command or a signal, and says so even with 2>/dev/null' '
  scenario must "test_expect_success \"exit 1\" \"test_must_fail false\"
test_expect_success \"success\" \"test_must_fail true\"
test_expect_success \"missing\" \"test_must_fail /no/such/program\"
test_expect_success \"signal\" \"test_must_fail sh -c \\\"kill -SEGV \\\\\\\$\\\$\\\"\"
test_expect_success \"exit 255\" \"test_must_fail sh -c \\\"exit 255\\\"\"
test_expect_success \"stderr elsewhere\" \"test_must_fail true 2>/dev/null\"
test_done" &&
  test_grep -x "ok 1 - exit 1" "$TEST_TMPDIR/must.out" &&
  test_grep -x "not ok 2 - success" "$TEST_TMPDIR/must.out" &&
  test_grep -x "not ok 3 - missing" "$TEST_TMPDIR/must.out" &&
  test_grep -x "not ok 4 - signal" "$TEST_TMPDIR/must.out" &&
  test_grep "died by signal 11" "$TEST_TMPDIR/must.out" &&
  test_grep -x "ok 5 - exit 255" "$TEST_TMPDIR/must.out" &&
  test_grep -x "not ok 6 - stderr elsewhere" "$TEST_TMPDIR/must.out" &&
  test_grep -x "# test_must_fail: command succeeded: true" "$TEST_TMPDIR/must.out"
'

test_expect_success 'test_expect_failure is a TODO while broken and says when it is fixed' '
  scenario todo "test_expect_failure \"known\" \"false\"
test_done" &&
  test_grep -x "not ok 1 - known # TODO known breakage" "$TEST_TMPDIR/todo.out" &&
  test "$(cat "$TEST_TMPDIR/todo.rc")" = 0 &&
  scenario fixed "test_expect_failure \"known\" \"true\"
test_done" &&
  test_grep -x "ok 1 - known # TODO known breakage vanished" "$TEST_TMPDIR/fixed.out"
'

test_expect_success 'a missing prerequisite skips loudly, with the reason' '
  scenario prereq "test_missing_prereq GPU \"no NVIDIA GPU on this machine\"
test_set_prereq CPU
test_expect_success GPU \"needs a GPU\" \"false\"
test_expect_success CPU \"needs a CPU\" \"true\"
test_done" &&
  test_grep -x "ok 1 # SKIP needs a GPU (missing GPU: no NVIDIA GPU on this machine)" \
    "$TEST_TMPDIR/prereq.out" &&
  test_grep -x "ok 2 - needs a CPU" "$TEST_TMPDIR/prereq.out"
'

test_expect_success 'test_when_finished runs after the body, pass or fail' '
  scenario cleanup "test_expect_success \"fails\" \"test_when_finished \\\"touch \\\\\\\$OUTER/cleaned\\\" && false\"
test_done" &&
  test -f "$TEST_TMPDIR/cleaned" &&
  test_grep -x "not ok 1 - fails" "$TEST_TMPDIR/cleanup.out"
'

test_expect_success 'the preamble removes TEST_TMPDIR and runs test_atexit commands at exit' '
  scenario atexit "echo \"\$TEST_TMPDIR\" >\"\$OUTER/tmpdir-was\"
test_atexit \"touch \$OUTER/atexit-ran\"
test_done" &&
  test -f "$TEST_TMPDIR/atexit-ran" &&
  test -n "$(cat "$TEST_TMPDIR/tmpdir-was")" &&
  test ! -e "$(cat "$TEST_TMPDIR/tmpdir-was")"
'

test_expect_success 'sample_receipt prints the sample with fields changed or left out' '
  sample_receipt job_id=5 user=bob energy_mj= >actual &&
  echo "{\"version\":1,\"cluster\":\"alpha\",\"job_id\":5,\"segment\":0,\"user\":\"bob\",\"account\":\"phys\",\"nodes\":\"gpu[01-02]\",\"gpu_type\":\"h100\",\"gpu_count\":8,\"start\":1700000000,\"end\":1700000600,\"price_micro_per_gpu_hour\":2500000,\"end_reason\":\"preempted\"}" >expect &&
  test_cmp expect actual &&
  test_must_fail sample_receipt nosuchfield=1
'

test_done
