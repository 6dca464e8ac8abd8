#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# What the demo's training job says when a segment ends: a normal end is not
# reported as a checkpoint after a preemption notice (issue 9).  The job
# script is the one scripts/demo.sh writes, run here with an srun that exits
# with the status under test.  And the demo's last step (what the buyer and
# an auditor get): its functions on real signed receipts of a two-segment
# job, what they print and how they fail, the openssl commands the same as
# gpumarket(1) shows, and demo.sh running that step on the market's select
# plugin.
. "$(dirname "$0")/tap/preamble.sh"
. "$top_srcdir/scripts/demo-lib.sh"

test_expect_success 'status 0 says the training finished, and nothing of a preemption' '
  segment_status 0 >actual &&
  echo "segment ended with status 0: the training finished" >expect &&
  test_cmp expect actual
'

test_expect_success 'status 75 says a checkpoint was saved after a preemption notice' '
  segment_status 75 >actual &&
  echo "segment ended with status 75: checkpoint saved after a preemption notice; Slurm requeues the job" >expect &&
  test_cmp expect actual
'

test_expect_success '75 is the runtime'"'"'s GMPI_EXIT_PREEMPTED' '
  grep -E "^#define GMPI_EXIT_PREEMPTED[[:space:]]+75$" "$top_srcdir/mpi-runtime/gpumarket_mpi.h"
'

test_expect_success 'a failure and a signal are named as such' '
  segment_status 1 >actual &&
  segment_status 137 >>actual &&
  printf "%s\n" "segment ended with status 1: the training failed (its messages are above)" \
    "segment ended with status 137: killed by signal 9" >expect &&
  test_cmp expect actual
'

# The job script exactly as demo.sh writes it (its here-document), with the
# demo's variables set; srun is a stub that exits with $FAKE_RC.
sed -n '/^cat >"\$dir\/train.sh" <<JOB$/,/^JOB$/p' "$top_srcdir/scripts/demo.sh" | sed '1d;$d' >heredoc
dir=$TEST_TMPDIR train=/bin/true args=
eval "cat >train.sh <<JOB
$(cat heredoc)
JOB"
mkdir -p bin
printf '#!/bin/sh\nexit "$FAKE_RC"\n' >bin/srun
chmod +x bin/srun train.sh

test_expect_success 'demo.sh writes a job script that uses segment_status' '
  test -s heredoc &&
  test_grep -x "segment_status \\\\\$rc" heredoc
'

test_expect_success 'the demo job ending normally reports a finished training, exit 0' '
  FAKE_RC=0 PATH=$PWD/bin:$PATH ./train.sh >out 2>&1 &&
  test_grep -x "segment ended with status 0: the training finished" out &&
  test_grep -v "preemption" out
'

test_expect_success 'the demo job preempted reports the checkpoint and exits 75 for the requeue' '
  test_expect_code 75 env FAKE_RC=75 PATH=$PWD/bin:$PATH ./train.sh >out 2>&1 &&
  test_grep -x "segment ended with status 75: checkpoint saved after a preemption notice; Slurm requeues the job" out
'

# ---- The last step: receipts.  Two segments of job 41 (preempted, then
# completed, 8 GPUs at 1.00/GPU-hour) and a reference run, signed by a real
# key through `gpumarket ledger append`, exported as slurmctld's are.
if command -v gpumarket >/dev/null 2>&1 && command -v openssl >/dev/null 2>&1; then
  test_set_prereq RECEIPTS
  fixture_keys sandbox.gpumarket.invalid/demo
  { sample_receipt job_id=41 segment=0 end_reason=preempted nodes='gm[1-2]' start=1800000000 end=1800000016 \
      price_micro_per_gpu_hour=1000000 energy_mj= user=root account='(none)'
    sample_receipt job_id=41 segment=1 end_reason=completed nodes='gm[1-2]' start=1800000022 end=1800000055 \
      price_micro_per_gpu_hour=1000000 energy_mj= user=root account='(none)'
    sample_receipt job_id=43 segment=0 end_reason=completed nodes='gm[1-2]' start=1800000055 end=1800000092 \
      price_micro_per_gpu_hour=1000000 energy_mj= user=root account='(none)'
  } | gpumarket ledger append >/dev/null 2>append.err || bail_out "gpumarket ledger append: $(cat append.err)"
  gpumarket receipts export --pubkey "$TEST_TMPDIR/receipt.vkey" >receipts.jsonl
else
  test_missing_prereq RECEIPTS "the gpumarket command (build it) and openssl are needed"
fi

test_expect_success RECEIPTS 'receipt_summary shows the segment, its GPUs and time, the locked price and the amount' '
  while IFS= read -r l; do receipt_summary "$l" USD || return 1; done <receipts.jsonl >actual &&
  cat >expect <<-\EOF &&
	job 41 segment 0: 8 x h100 on gm[1-2] for 16 s = 128 GPU-s at 1.00 USD/GPU-hour (locked at start) = 0.035555 USD, preempted
	job 41 segment 1: 8 x h100 on gm[1-2] for 33 s = 264 GPU-s at 1.00 USD/GPU-hour (locked at start) = 0.073333 USD, completed
	job 43 segment 0: 8 x h100 on gm[1-2] for 37 s = 296 GPU-s at 1.00 USD/GPU-hour (locked at start) = 0.082222 USD, completed
	EOF
  test_cmp expect actual
'

test_expect_success RECEIPTS 'money shows micro-units with at least two decimals' '
  for m in 0 66666 1000000 2400000 1234567; do money $m; done >actual &&
  printf "%s\n" 0.00 0.066666 1.00 2.40 1.234567 >expect &&
  test_cmp expect actual
'

test_expect_success RECEIPTS 'receipt_summary fails on a receipt that breaks the billing rule, or is no receipt' '
  l=$(head -n 1 receipts.jsonl | sed "s/\"amount_micro\":[0-9]*/\"amount_micro\":99/") &&
  test_must_fail receipt_summary "$l" USD >out 2>err &&
  test_grep "job 41 segment 0 breaks the billing rule: 8 GPUs x 16 s = 128 GPU-s at 1000000/GPU-hour billed 99" err &&
  test_must_fail receipt_summary "not json" 2>err &&
  test_grep "not a signed receipt" err
'

test_expect_success RECEIPTS 'segments_are: the preempted and the completed segment, in order' '
  segments_are receipts.jsonl 41 "0:preempted 1:completed" &&
  segments_are receipts.jsonl 43 "0:completed"
'

test_expect_success RECEIPTS 'segments_are names what the ledger holds when a segment is missing or wrong' '
  head -n 1 receipts.jsonl >one.jsonl &&
  test_must_fail segments_are one.jsonl 41 "0:preempted 1:completed" 2>err &&
  test_grep -x "job 41 has receipts for segments '"'"'0:preempted'"'"', expected '"'"'0:preempted 1:completed'"'"'" err &&
  test_must_fail segments_are receipts.jsonl 42 "0:completed" 2>err &&
  test_grep "job 42 has receipts for segments '"'"'none'"'"'" err &&
  sed "s/\"end_reason\":\"preempted\"/\"end_reason\":\"failed\"/" receipts.jsonl >failed.jsonl &&
  test_must_fail segments_are failed.jsonl 41 "0:preempted 1:completed" 2>err &&
  test_grep "'"'"'0:failed 1:completed'"'"'" err
'

# ---- The market scenario's bookkeeping.
test_expect_success RECEIPTS 'demo_summary: per buyer its jobs, segments, GPU-seconds, amount and preemptions' '
  printf "0 h100 1000000 9 0 0\n14 h100 1500000 1 2 2\n" >prices.tsv &&
  demo_summary receipts.jsonl prices.tsv 3 USD >summary.md &&
  test_grep -x -F "| (none) | 2 | 3 | 688 | 0.191110 | 1 |" summary.md &&
  test_grep -x -F "| **all** | 2 | 3 | 688 | 0.191110 | 1 |" summary.md &&
  test_grep -x -F "| 41 | 0 | (none) | 8 x h100 | 16 | 1.00 | 0.035555 | preempted |" summary.md &&
  test_grep -x -F "| 14 | h100 | 1.50 | 1 | 2 | 2 |" summary.md &&
  test_grep -x "3 of 3 receipts verified with the cluster.s public key." summary.md
'

test_expect_success 'quote_prices: one row per change of a type'"'"'s market, time from the first document' '
  d() { echo "{\"snapshot_time\":$1,\"markets\":[{\"type\":\"h100\",\"price_micro\":$2,\"supply\":$3,\"demand\":$4,\"waiting_jobs\":$5}]}"; } &&
  { echo "{\"snapshot_time\":0,\"markets\":[]}"; d 100 1000000 9 0 0; d 101 1000000 9 0 0; echo garbage
    d 105 1500000 1 2 2; d 107 1500000 1 2 2; d 110 1000000 3 0 1; } >quotes.jsonl &&
  quote_prices quotes.jsonl >actual &&
  printf "%s\n" "0 h100 1000000 9 0 0" "5 h100 1500000 1 2 2" "10 h100 1000000 3 0 1" >expect &&
  test_cmp expect actual
'

test_expect_success 'over_reserve: passes within the reserve, names the samples beyond it' '
  printf "%s\n" "100 gm1 3" "100 gm2 2" "101 gm1 3" >ok.txt &&
  over_reserve ok.txt 4 1 &&
  printf "%s\n" "100 gm1 3" "101 gm2 4" >bad.txt &&
  test_must_fail over_reserve bad.txt 4 1 >out &&
  test_grep -x "101 gm2 4" out
'

mkdir -p qbin
cat >qbin/scontrol <<'STUB'
#!/bin/sh
case "$1 $2" in
"show job") cat <<'JOBS'
JobId=11 JobName=a
   JobState=RUNNING Reason=None Dependency=(null)
   Partition=market AllocNode:Sid=vm:1
     Nodes=gm1 CPU_IDs=0 Mem=0 GRES=gpu:h100:3(IDX:0-2)
     Nodes=gm2 CPU_IDs=0 Mem=0 GRES=gpu:h100:1(IDX:0)
JobId=12 JobName=b
   JobState=RUNNING Reason=None Dependency=(null)
   Partition=market AllocNode:Sid=vm:1
     Nodes=gm[2-3] CPU_IDs=0 Mem=0 GRES=gpu:2(IDX:1-2)
JobId=13 JobName=local
   JobState=RUNNING Reason=None Dependency=(null)
   Partition=local AllocNode:Sid=vm:1
     Nodes=gm1 CPU_IDs=0 Mem=0 GRES=gpu:h100:1(IDX:3)
JobId=14 JobName=done
   JobState=COMPLETED Reason=None Dependency=(null)
   Partition=market AllocNode:Sid=vm:1
     Nodes=gm3 CPU_IDs=0 Mem=0 GRES=gpu:h100:2(IDX:0-1)
JOBS
  ;;
"show hostnames") case $3 in gm\[2-3\]) printf 'gm2\ngm3\n' ;; *) echo "$3" ;; esac ;;
esac
STUB
chmod +x qbin/scontrol

test_expect_success 'market_gpus_per_node sums the GPUs each node gave running market jobs' '
  PATH=$PWD/qbin:$PATH market_gpus_per_node >actual &&
  printf "%s\n" "gm1 3" "gm2 3" "gm3 2" >expect &&
  test_cmp expect actual
'

test_expect_success 'wait_receipts: at once when ready; bounded, with the last message, when not' '
  wait_receipts 5 true &&
  start=$SECONDS &&
  test_must_fail wait_receipts 1 sh -c "echo still missing >&2; false" 2>err &&
  test $((SECONDS - start)) -le 3 &&
  test_grep -x "still missing" err
'

test_expect_success RECEIPTS 'verify_with_openssl: a receipt verifies with the openssl command alone' '
  mkdir audit && head -n 1 receipts.jsonl >audit/r.json && cp "$RECEIPT_PUB" audit/cluster.pub &&
  verify_with_openssl audit >out 2>&1 &&
  test_grep -x "Signature Verified Successfully" out &&
  test_grep -x "\$ openssl pkeyutl -verify -rawin -pubin -inkey cluster.pub -in bytes -sigfile sig" out
'

test_expect_success RECEIPTS 'verify_with_openssl fails, saying so, when one byte of the receipt changed' '
  sed -i "s/\"amount_micro\":35555/\"amount_micro\":35556/" audit/r.json &&
  test_must_fail verify_with_openssl audit >out 2>&1 &&
  test_grep "Signature Verification Failure" out &&
  test_grep "this command failed in audit: openssl pkeyutl" out
'

# The commands of gpumarket(1), RECEIPT FORMAT, as a reader types them.
sed -n '/^To check one with the openssl command alone:/,/^\.EE/p' "$top_srcdir/doc/gpumarket.1" |
  sed -e '1,/^\.EX/d' -e '/^\.EE/d' -e 's/\\e/\\/g' -e 's/\\-/-/g' -e 's/receipt\.pub/cluster.pub/' >man-cmds
sed -n "/<<'CMDS'\$/,/^CMDS\$/p" "$top_srcdir/scripts/demo-lib.sh" | sed '1d;$d' >lib-cmds

test_expect_success 'verify_with_openssl runs exactly the commands gpumarket(1) shows' '
  test_line_count = 3 man-cmds &&
  test_cmp man-cmds lib-cmds
'

test_expect_success 'demo.sh runs the market select plugin and ends with the receipts step' '
  demo=$top_srcdir/scripts/demo.sh &&
  test_grep -E "gpumarket-sandbox\"? up .*--select gpumarket|\"\\\$sandbox\" up .*--select gpumarket" "$demo" &&
  test_grep "^say \"9. What the buyers and an auditor get" "$demo" &&
  test_grep "wait_receipts [0-9]* receipts_ready" "$demo" &&
  test_grep "segments_are .*\"0:preempted 1:completed\"" "$demo" &&
  test_grep "run gpumarket receipts list --config" "$demo" &&
  test_grep "receipt_summary .*|| billing_ok=no" "$demo" &&
  test_grep "^check \"every receipt follows the billing rule.* test \$billing_ok = yes" "$demo" &&
  test_grep "gpumarket ledger checkpoint --config" "$demo" &&
  test_grep "gpumarket ledger verify --config .* --pubkey .*gpumarket.pub" "$demo" &&
  test_grep "^check \"one receipt verifies with the openssl command alone\" verify_with_openssl" "$demo" &&
  test_grep "wait_receipts [0-9]* receipts_ready" <(grep "^  wait_receipts" "$demo") &&
  test_grep "segments_are .*\"\$student\" \"\"" "$demo"
'

test_done
