#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The market flags of spank_gpumarket.so in a real sandbox cluster: listed in
# --help, refused before the job exists when bad (sbatch, salloc, srun), and
# carried to the job's tasks as integers when good.
. "$(dirname "$0")/tap/preamble.sh"
. "$top_srcdir/tests/sandbox.sh"
require_sandbox
[ -f "$top_builddir/slurm-plugin/.libs/spank_gpumarket.so" ] ||
  bail_out "spank_gpumarket.so is not built"

test_expect_success 'sandbox is up' '
  sandbox_up --nodes 2 --gpus-per-node 2
' || test_done

test_expect_success 'the sandbox loads spank_gpumarket.so' '
  test_grep "spank_gpumarket.so config=" "$SANDBOX_DIR/etc/plugstack.conf"
'

# --help of each command lists each flag with the [gpumarket] prefix.
for cmd in sbatch salloc srun; do
  test_expect_success "$cmd --help lists the market flags" '
    $cmd --help >help 2>&1 &&
    for f in market-bid market-max-cost market-checkpoint-dir market-order; do
      test_grep -e "--$f=" help || return 1
    done &&
    test_grep "\[gpumarket\]" help
  '
done

jobs_now() { squeue -h -o %i | wc -l; }

# submit CMD ARGS...: run sbatch, salloc or srun in the market partition with
# ARGS and `true` as the job.
submit() {
  local cmd=$1; shift
  case $cmd in
    sbatch) sbatch -p market "$@" --wrap true ;;
    *) "$cmd" -p market "$@" true ;;
  esac
}

# refused_everywhere FLAG VALUE EXPECTED-SUBSTRING: sbatch, salloc and srun
# each exit non-zero with the gpumarket message, and no job appears.
refused_everywhere() {
  local shown
  flag=$1 value=$2 want=$3
  shown=$(printf '%q' "$value"); [ ${#shown} -gt 40 ] && shown="${shown:0:37}..."
  for cmd in sbatch salloc srun; do
    test_expect_success "$cmd --$flag=$shown is refused: $want" '
      before=$(jobs_now) &&
      test_must_fail submit $cmd "--$flag=$value" >out 2>&1 &&
      test_grep -F -- "gpumarket: --$flag: " out &&
      test_grep -F -- "$want" out &&
      test_grep -v "Submitted batch job\|Granted job allocation\|job [0-9]* queued" out &&
      test "$(jobs_now)" -eq "$before"
    '
  done
}

refused_everywhere market-bid "" "a value is required"
refused_everywhere market-bid "abc" "not a decimal amount"
refused_everywhere market-bid "-1.00" "negative"
refused_everywhere market-bid "0" "0"
refused_everywhere market-bid " 2.40" "not a decimal amount"
refused_everywhere market-bid "1e3" "1e3"
refused_everywhere market-bid "0x10" "0x10"
refused_everywhere market-bid "nan" "nan"
refused_everywhere market-bid "inf" "inf"
refused_everywhere market-bid "2.4000001" "more than 6 decimals"
refused_everywhere market-bid "99999999999999999999" "too large"
refused_everywhere market-bid "2,40" "2,40"
refused_everywhere market-bid "2.4.0" "2.4.0"
refused_everywhere market-bid '1;id' '1;id'
refused_everywhere market-bid '$(id)' '$(id)'
refused_everywhere market-bid "$(printf '9%.0s' $(seq 5000))" "too long"
refused_everywhere market-bid $'\xff\xfe' "invalid UTF-8"
refused_everywhere market-bid "150.00" "MaxBid of 100.00"
refused_everywhere market-max-cost "0.0000001" "more than 6 decimals"
refused_everywhere market-max-cost "-5" "negative"
refused_everywhere market-checkpoint-dir "ckpt/relative" "not an absolute path"
refused_everywhere market-checkpoint-dir $'/tmp/a\x01b' "control character"
refused_everywhere market-order "has space" "has ' ' at position 4"
refused_everywhere market-order "$(printf 'x%.0s' $(seq 65))" "too long (65 bytes; at most 64)"

# The same flag twice with different values.
for cmd in sbatch srun; do
  test_expect_success "$cmd refuses --market-bid given twice with different values" '
    before=$(jobs_now) &&
    test_must_fail submit $cmd --market-bid=2 --market-bid=3 >out 2>&1 &&
    test_grep "given twice with different values (2.00 and 3.00)" out &&
    test "$(jobs_now)" -eq "$before"
  '
done

# The environment fallback is checked the same way and names the variable.
test_expect_success 'a bad GPUMARKET_BID is refused, naming the variable' '
  GPUMARKET_BID=abc test_must_fail sbatch -p market --wrap true >out 2>&1 &&
  test_grep "gpumarket: GPUMARKET_BID: " out
'

# ---- good values reach the tasks as integers
# run_job SBATCH-ARGS...: submit a batch job that prints its GPUMARKET_*
# variables, wait for it to complete, and leave its output in job.out.
run_job() {
  local id
  id=$(sbatch --parsable -o "$TEST_TMPDIR/job-%j.out" "$@") || return 1
  wait_for 30 job_in_state "$id" COMPLETED ||
    { echo "job $id: $(job_state "$id")"; return 1; }
  cp "$TEST_TMPDIR/job-$id.out" job.out
}
printenv_script='env | grep ^GPUMARKET_ | sort'

test_expect_success 'a job with every market flag runs' '
  run_job -p market --market-bid=2.40 --market-max-cost=50 --market-checkpoint-dir=/scratch/ckpt \
    --market-order=ord-42 --wrap "$printenv_script" &&
  cp job.out every-flag.out
'
test_expect_success '--market-bid=2.40 reaches the task as GPUMARKET_BID_MICRO=2400000' '
  test_grep -x GPUMARKET_BID_MICRO=2400000 every-flag.out
'
test_expect_success '--market-max-cost=50 reaches it as GPUMARKET_MAX_COST_MICRO=50000000' '
  test_grep -x GPUMARKET_MAX_COST_MICRO=50000000 every-flag.out
'
test_expect_success '--market-checkpoint-dir reaches it as GPUMARKET_CHECKPOINT_DIR' '
  test_grep -x GPUMARKET_CHECKPOINT_DIR=/scratch/ckpt every-flag.out
'
test_expect_success '--market-order reaches it as GPUMARKET_ORDER' '
  test_grep -x GPUMARKET_ORDER=ord-42 every-flag.out
'
test_expect_success 'a job in the market partition gets GPUMARKET_MARKET_JOB=1' '
  test_grep -x GPUMARKET_MARKET_JOB=1 every-flag.out
'

# slurmctld keeps the terms in the job record (its spank_job_env), which it
# writes to its state directory: that is where the select plugin reads them.
test_expect_success 'slurmctld keeps GPUMARKET_BID_MICRO in the job record' '
  held=$(sbatch --parsable -p market --market-bid=7.77 --hold -o /dev/null --wrap true) &&
  test_when_finished "scancel $held" &&
  { scontrol reconfigure >/dev/null 2>&1 || true; } &&
  wait_for 20 grep -aq "GPUMARKET_BID_MICRO=7770000" "$SANDBOX_DIR/state/job_state"
'

cat >script.sh <<'SCRIPT'
#!/bin/bash
#SBATCH -p market
#SBATCH --market-bid=1.50
#SBATCH --market-order=from-script
env | grep ^GPUMARKET_ | sort
SCRIPT
sed 's/--market-bid=1.50/--market-bid=1.5x/' script.sh >bad-script.sh

test_expect_success '#SBATCH lines set the flags' '
  run_job script.sh &&
  test_grep -x GPUMARKET_BID_MICRO=1500000 job.out &&
  test_grep -x GPUMARKET_ORDER=from-script job.out
'

test_expect_success 'the same bid on the command line and in #SBATCH is accepted' '
  run_job --market-bid=1.5 script.sh &&
  test_grep -x GPUMARKET_BID_MICRO=1500000 job.out
'

test_expect_success 'a command-line bid that contradicts #SBATCH is refused' '
  test_must_fail sbatch --market-bid=3 script.sh >out 2>&1 &&
  test_grep "given twice with different values (1.50 and 3.00)" out
'

test_expect_success 'a bad #SBATCH value is refused before the job exists' '
  before=$(jobs_now) &&
  test_must_fail sbatch bad-script.sh >out 2>&1 &&
  test_grep "gpumarket: --market-bid: \"1.5x\"" out &&
  test "$(jobs_now)" -eq "$before"
'

test_expect_success 'GPUMARKET_BID=3.25 is the fallback when no flag is given' '
  GPUMARKET_BID=3.25 run_job -p market --wrap "$printenv_script" &&
  test_grep -x GPUMARKET_BID_MICRO=3250000 job.out
'

test_expect_success 'the command line wins over GPUMARKET_BID' '
  GPUMARKET_BID=9 run_job -p market --market-bid=2 --wrap "$printenv_script" &&
  test_grep -x GPUMARKET_BID_MICRO=2000000 job.out
'

test_expect_success 'srun passes the flags to its tasks' '
  srun -p market --market-bid=4.75 --market-order=srun-1 bash -c "$printenv_script" >out 2>&1 &&
  test_grep -x GPUMARKET_BID_MICRO=4750000 out &&
  test_grep -x GPUMARKET_ORDER=srun-1 out
'

test_expect_success 'salloc passes the flags to the steps of the allocation' '
  salloc -p market --market-bid=0.75 srun bash -c "$printenv_script" >out 2>&1 &&
  test_grep -x GPUMARKET_BID_MICRO=750000 out
'

# A job with market flags outside the market partition: warned once.
test_expect_success 'a local job with market flags is warned exactly once' '
  run_job -p local --market-bid=2 --wrap "srun true; srun true; $printenv_script" &&
  grep "gpumarket: warning: this job is in partition .local., not in the market partition .market." \
    job.out >warnings &&
  test_line_count = 1 warnings &&
  test_grep -x GPUMARKET_MARKET_JOB=0 job.out
'
test_expect_success 'a local job without market flags is not warned' '
  run_job -p local --wrap "$printenv_script" &&
  test_grep -v "gpumarket: warning" job.out
'

# An error in slurmstepd reaches the user with the node's name, prefixed
# "gpumarket: " exactly once.
test_expect_success 'a forged control value fails the step with the node'"'"'s name' '
  SLURM_SPANK_GPUMARKET_BID_MICRO=12abc test_must_fail srun -p market true >out 2>&1 &&
  test_grep "gpumarket: on node gm[0-9] (host [^)]*): GPUMARKET_BID_MICRO: \"12abc\" is not a positive whole number" out &&
  test_grep -v "gpumarket: .*gpumarket: " out
'

# ---- plugstack.conf arguments and gpumarket.conf are checked at load
test_expect_success 'an unknown plugstack.conf argument refuses to load, naming it' '
  cp "$SANDBOX_DIR/etc/plugstack.conf" plugstack.good &&
  test_when_finished "cp plugstack.good \"\$SANDBOX_DIR/etc/plugstack.conf\"" &&
  sed -i "s|config=|frob=1 config=|" "$SANDBOX_DIR/etc/plugstack.conf" &&
  before=$(jobs_now) &&
  test_must_fail sbatch -p market --wrap true >out 2>&1 &&
  test_grep "gpumarket: plugstack.conf argument \"frob=1\": unknown key" out &&
  test "$(jobs_now)" -eq "$before"
'

test_expect_success 'a bad gpumarket.conf stops the command, naming file, line and key' '
  cp "$SANDBOX_DIR/etc/gpumarket.conf" gpumarket.good &&
  test_when_finished "cp gpumarket.good \"\$SANDBOX_DIR/etc/gpumarket.conf\"" &&
  echo "MaxBid=lots" >>"$SANDBOX_DIR/etc/gpumarket.conf" &&
  line=$(wc -l <"$SANDBOX_DIR/etc/gpumarket.conf") &&
  test_must_fail sbatch -p market --wrap true >out 2>&1 &&
  test_grep "gpumarket: $SANDBOX_DIR/etc/gpumarket.conf:$line: MaxBid: " out
'

# slurmstepd reads gpumarket.conf when each step starts: a job submitted
# under a good file whose step starts under a bad one fails, with the file,
# line and key on the job's stderr and in the node's slurmd log.
test_expect_success 'a step that starts under a bad gpumarket.conf fails, naming file, line and key' '
  cp "$SANDBOX_DIR/etc/gpumarket.conf" gpumarket.good &&
  test_when_finished "cp gpumarket.good \"\$SANDBOX_DIR/etc/gpumarket.conf\"" &&
  id=$(sbatch --parsable --hold -p local -w gm1 -o "$TEST_TMPDIR/bad-conf-%j.out" --wrap "echo ran") &&
  cp gpumarket.good gpumarket.bad && echo "MaxBid=lots" >>gpumarket.bad &&
  line=$(wc -l <gpumarket.bad) && mv -f gpumarket.bad "$SANDBOX_DIR/etc/gpumarket.conf" &&
  scontrol release "$id" &&
  wait_for 30 job_in_state "$id" FAILED &&
  want="gpumarket: $SANDBOX_DIR/etc/gpumarket.conf:$line: MaxBid: " &&
  test_grep -F "gpumarket: on node gm1 (host " "$TEST_TMPDIR/bad-conf-$id.out" &&
  test_grep -F "): ${want#gpumarket: }" "$TEST_TMPDIR/bad-conf-$id.out" &&
  test_grep -v "^ran$" "$TEST_TMPDIR/bad-conf-$id.out" &&
  test_grep -F "[$id.batch] error: $want" "$SANDBOX_DIR/log/slurmd-gm1.log"
'

test_expect_success 'with the files restored, submission works again' '
  sbatch --parsable -p market --market-bid=2 -o /dev/null --wrap true >out 2>&1 &&
  test_grep -x "[0-9][0-9]*" out
'

test_done
