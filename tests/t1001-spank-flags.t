#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The market flags of spank_gpumarket.so in a real sandbox cluster: listed in
# --help, refused before the job exists when bad (sbatch, salloc, srun), and
# carried to the job's tasks as integers when good.
. "$top_srcdir/tests/tap/tap.sh"
. "$top_srcdir/tests/sandbox.sh"
require_sandbox
[ -f "$top_builddir/slurm-plugin/.libs/spank_gpumarket.so" ] ||
  bail_out "spank_gpumarket.so is not built"

plan 100

sandbox_up --nodes 2 --gpus-per-node 2
ok $? "sandbox is up" || { finish; exit; }
grep -q "spank_gpumarket.so config=" "$SANDBOX_DIR/etc/plugstack.conf"
ok $? "the sandbox loads spank_gpumarket.so"

WORK=$SANDBOX_DIR/t1001
mkdir -p "$WORK"
cd "$WORK" || bail_out "cannot cd to $WORK"

# --help of each command lists each flag with the [gpumarket] prefix.
for cmd in sbatch salloc srun; do
  help=$($cmd --help 2>&1)
  missing=
  for f in market-bid market-max-cost market-checkpoint-dir market-order; do
    grep -q -- "--$f=" <<<"$help" || missing="$missing $f"
  done
  [ -z "$missing" ] && grep -q '\[gpumarket\]' <<<"$help"
  ok $? "$cmd --help lists the market flags${missing:+ (missing:$missing)}"
done

jobs_now() { squeue -h -o %i | wc -l; }

# refused_everywhere FLAG VALUE EXPECTED-SUBSTRING: sbatch, salloc and srun
# each exit non-zero with the gpumarket message, and no job appears.
refused_everywhere() {
  local flag=$1 value=$2 want=$3 cmd out rc shown
  shown=$(printf '%q' "$value"); [ ${#shown} -gt 40 ] && shown="${shown:0:37}..."
  for cmd in sbatch salloc srun; do
    local before after
    before=$(jobs_now)
    case $cmd in
      sbatch) out=$(sbatch -p market "--$flag=$value" --wrap true 2>&1); rc=$? ;;
      salloc) out=$(salloc -p market "--$flag=$value" true 2>&1); rc=$? ;;
      srun) out=$(srun -p market "--$flag=$value" true 2>&1); rc=$? ;;
    esac
    after=$(jobs_now)
    if [ $rc -ne 0 ] && grep -qF -- "gpumarket: --$flag: " <<<"$out" &&
       grep -qF -- "$want" <<<"$out" && [ "$after" -eq "$before" ] &&
       ! grep -q 'Submitted batch job\|Granted job allocation\|job [0-9]* queued' <<<"$out"; then
      ok 0 "$cmd --$flag=$shown is refused: $want"
    else
      ok 1 "$cmd --$flag=$shown is refused: $want"
      diag "exit $rc, jobs $before -> $after:"$'\n'"$out"
    fi
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
  before=$(jobs_now)
  if [ $cmd = sbatch ]; then
    out=$(sbatch -p market --market-bid=2 --market-bid=3 --wrap true 2>&1); rc=$?
  else
    out=$(srun -p market --market-bid=2 --market-bid=3 true 2>&1); rc=$?
  fi
  [ $rc -ne 0 ] && grep -q "given twice with different values (2.00 and 3.00)" <<<"$out" &&
    [ "$(jobs_now)" -eq "$before" ]
  ok $? "$cmd refuses --market-bid given twice with different values" || diag "$out"
done

# The environment fallback is checked the same way and names the variable.
out=$(GPUMARKET_BID=abc sbatch -p market --wrap true 2>&1); rc=$?
[ $rc -ne 0 ] && grep -q "gpumarket: GPUMARKET_BID: " <<<"$out"
ok $? "a bad GPUMARKET_BID is refused, naming the variable" || diag "$out"

# ---- good values reach the tasks as integers
# run_job SBATCH-ARGS...: submit a batch job that prints its GPUMARKET_*
# variables, wait for it, and set JOB_OUT to its output.
run_job() {
  local id
  id=$(sbatch --parsable -o "$WORK/job-%j.out" "$@") || { JOB_OUT="sbatch failed"; return 1; }
  wait_for 30 job_in_state "$id" COMPLETED || { JOB_OUT="job $id: $(job_state "$id")"; return 1; }
  JOB_OUT=$(cat "$WORK/job-$id.out")
}
printenv_script='env | grep ^GPUMARKET_ | sort'

run_job -p market --market-bid=2.40 --market-max-cost=50 --market-checkpoint-dir=/scratch/ckpt \
  --market-order=ord-42 --wrap "$printenv_script"
diag "$JOB_OUT"
grep -qx GPUMARKET_BID_MICRO=2400000 <<<"$JOB_OUT"
ok $? "--market-bid=2.40 reaches the task as GPUMARKET_BID_MICRO=2400000"
grep -qx GPUMARKET_MAX_COST_MICRO=50000000 <<<"$JOB_OUT"
ok $? "--market-max-cost=50 reaches it as GPUMARKET_MAX_COST_MICRO=50000000"
grep -qx GPUMARKET_CHECKPOINT_DIR=/scratch/ckpt <<<"$JOB_OUT"
ok $? "--market-checkpoint-dir reaches it as GPUMARKET_CHECKPOINT_DIR"
grep -qx GPUMARKET_ORDER=ord-42 <<<"$JOB_OUT"
ok $? "--market-order reaches it as GPUMARKET_ORDER"
grep -qx GPUMARKET_MARKET_JOB=1 <<<"$JOB_OUT"
ok $? "a job in the market partition gets GPUMARKET_MARKET_JOB=1"

# slurmctld keeps the terms in the job record (its spank_job_env), which it
# writes to its state directory: that is where the select plugin reads them.
held=$(sbatch --parsable -p market --market-bid=7.77 --hold -o /dev/null --wrap true)
scontrol reconfigure >/dev/null 2>&1
wait_for 20 grep -aq "GPUMARKET_BID_MICRO=7770000" "$SANDBOX_DIR/state/job_state"
ok $? "slurmctld's record of job $held holds GPUMARKET_BID_MICRO=7770000"
scancel "$held"

cat >"$WORK/script.sh" <<'EOF'
#!/bin/bash
#SBATCH -p market
#SBATCH --market-bid=1.50
#SBATCH --market-order=from-script
env | grep ^GPUMARKET_ | sort
EOF
run_job "$WORK/script.sh"
grep -qx GPUMARKET_BID_MICRO=1500000 <<<"$JOB_OUT" && grep -qx GPUMARKET_ORDER=from-script <<<"$JOB_OUT"
ok $? "#SBATCH lines set the flags" || diag "$JOB_OUT"

run_job --market-bid=1.5 "$WORK/script.sh"
grep -qx GPUMARKET_BID_MICRO=1500000 <<<"$JOB_OUT"
ok $? "the same bid on the command line and in #SBATCH is accepted" || diag "$JOB_OUT"

out=$(sbatch --market-bid=3 "$WORK/script.sh" 2>&1); rc=$?
[ $rc -ne 0 ] && grep -q "given twice with different values (1.50 and 3.00)" <<<"$out"
ok $? "a command-line bid that contradicts #SBATCH is refused" || diag "$out"

sed 's/--market-bid=1.50/--market-bid=1.5x/' "$WORK/script.sh" >"$WORK/bad-script.sh"
before=$(jobs_now)
out=$(sbatch "$WORK/bad-script.sh" 2>&1); rc=$?
[ $rc -ne 0 ] && grep -q 'gpumarket: --market-bid: "1.5x"' <<<"$out" && [ "$(jobs_now)" -eq "$before" ]
ok $? "a bad #SBATCH value is refused before the job exists" || diag "$out"

GPUMARKET_BID=3.25 run_job -p market --wrap "$printenv_script"
grep -qx GPUMARKET_BID_MICRO=3250000 <<<"$JOB_OUT"
ok $? "GPUMARKET_BID=3.25 is the fallback when no flag is given" || diag "$JOB_OUT"

GPUMARKET_BID=9 run_job -p market --market-bid=2 --wrap "$printenv_script"
grep -qx GPUMARKET_BID_MICRO=2000000 <<<"$JOB_OUT"
ok $? "the command line wins over GPUMARKET_BID" || diag "$JOB_OUT"

out=$(srun -p market --market-bid=4.75 --market-order=srun-1 bash -c "$printenv_script" 2>&1)
grep -qx GPUMARKET_BID_MICRO=4750000 <<<"$out" && grep -qx GPUMARKET_ORDER=srun-1 <<<"$out"
ok $? "srun passes the flags to its tasks" || diag "$out"

out=$(salloc -p market --market-bid=0.75 srun bash -c "$printenv_script" 2>&1)
grep -qx GPUMARKET_BID_MICRO=750000 <<<"$out"
ok $? "salloc passes the flags to the steps of the allocation" || diag "$out"

# A job with market flags outside the market partition: warned once.
run_job -p local --market-bid=2 --wrap "srun true; srun true; $printenv_script"
n=$(grep -c "gpumarket: warning: this job is in partition 'local', not in the market partition 'market'" <<<"$JOB_OUT")
[ "$n" -eq 1 ] && grep -qx GPUMARKET_MARKET_JOB=0 <<<"$JOB_OUT"
ok $? "a local job with market flags is warned exactly once (warned $n times)" || diag "$JOB_OUT"
run_job -p local --wrap "$printenv_script"
! grep -q "gpumarket: warning" <<<"$JOB_OUT"
ok $? "a local job without market flags is not warned"

# An error in slurmstepd reaches the user with the node's name.
out=$(SLURM_SPANK_GPUMARKET_BID_MICRO=12abc srun -p market true 2>&1); rc=$?
[ $rc -ne 0 ] && grep -q 'gpumarket: on node gm[0-9] (host [^)]*): GPUMARKET_BID_MICRO: "12abc" is not a positive whole number' <<<"$out"
ok $? "a forged control value fails the step with the node's name" || diag "exit $rc: $out"

# ---- plugstack.conf arguments and gpumarket.conf are checked at load
cp "$SANDBOX_DIR/etc/plugstack.conf" "$WORK/plugstack.good"
sed -i 's|config=|frob=1 config=|' "$SANDBOX_DIR/etc/plugstack.conf"
before=$(jobs_now)
out=$(sbatch -p market --wrap true 2>&1); rc=$?
[ $rc -ne 0 ] && grep -q 'gpumarket: plugstack.conf argument "frob=1": unknown key' <<<"$out" &&
  [ "$(jobs_now)" -eq "$before" ]
ok $? "an unknown plugstack.conf argument refuses to load, naming it" || diag "$out"
cp "$WORK/plugstack.good" "$SANDBOX_DIR/etc/plugstack.conf"

cp "$SANDBOX_DIR/etc/gpumarket.conf" "$WORK/gpumarket.good"
echo "MaxBid=lots" >>"$SANDBOX_DIR/etc/gpumarket.conf"
line=$(wc -l <"$SANDBOX_DIR/etc/gpumarket.conf")
out=$(sbatch -p market --wrap true 2>&1); rc=$?
[ $rc -ne 0 ] && grep -q "gpumarket: $SANDBOX_DIR/etc/gpumarket.conf:$line: MaxBid: " <<<"$out"
ok $? "a bad gpumarket.conf stops the command, naming file, line and key" || diag "$out"
cp "$WORK/gpumarket.good" "$SANDBOX_DIR/etc/gpumarket.conf"

out=$(sbatch --parsable -p market --market-bid=2 -o /dev/null --wrap true 2>&1)
[[ $out =~ ^[0-9]+$ ]]
ok $? "with the files restored, submission works again" || diag "$out"

finish
