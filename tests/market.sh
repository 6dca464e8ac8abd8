# SPDX-License-Identifier: GPL-2.0-or-later
# Helpers of the market integration tests (t3NNN), sourced after
# tests/sandbox.sh once a sandbox is up.

# market_conf KEY VALUE...: set KEY=VALUE in the sandbox's gpumarket.conf
# (replacing the key's line) and make slurmctld re-read it.  The new file
# replaces the old one by rename, as gpumarket.conf(5) asks of admins:
# slurmstepd reads it at every step's start, and a step that starts while
# the file lacks a required key (ReservePrice, between a delete and an
# append) fails.
market_conf() {
  local conf=$SANDBOX_DIR/etc/gpumarket.conf key val
  cp -p "$conf" "$conf.new" || return 1
  while [ $# -ge 2 ]; do
    key=$1 val=$2; shift 2
    sed -i "/^$key=/d" "$conf.new" && echo "$key=$val" >>"$conf.new" || return 1
  done
  mv -f "$conf.new" "$conf" && scontrol reconfigure
}

# What squeue shows as the job's reason (state_desc when set).
job_reason() { squeue -h -j "$1" -o %R 2>/dev/null; }
job_reason_is() { [ "$(job_reason "$1")" = "($2)" ]; }
job_field() { # job_field JOB FIELD: one Key=Value of scontrol show job
  scontrol show job "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}
# The lease's locked price (micro-units) from the job's SystemComment.
lease_price() {
  scontrol show job "$1" 2>/dev/null | sed -n 's/.*gpumarket lease:.* price_micro=\([0-9]*\).*/\1/p'
}
lease_field() { # lease_field JOB KEY
  scontrol show job "$1" 2>/dev/null | sed -n "s/.*gpumarket lease:.* $2=\([-0-9a-z_.]*\).*/\1/p"
}
running_count() { squeue -h -t RUNNING -p "${1:-market}" -o %i | wc -l; }
running_count_is() { [ "$(running_count "$1")" -eq "$2" ]; }
ctld_alive() { scontrol ping 2>/dev/null | grep -q 'is UP'; }

# The sandbox ledger's receipts, one line each, fields separated by a tab:
# job array_task segment start end gpus price amount reason recovered
# energy_source energy_mj emissions_mg user account nodes type order key_id
# ("-" for an absent optional field).
receipts_tsv() {
  gpumarket receipts export --config "$SANDBOX_DIR/etc/gpumarket.conf" | python3 -c '
import json, sys
for line in sys.stdin:
    r = json.loads(line)["receipt"]
    f = ["job_id", "array_task", "segment", "start", "end", "gpu_count",
         "price_micro_per_gpu_hour", "amount_micro", "end_reason", "recovered",
         "energy_source", "energy_mj", "emissions_mg", "user", "account", "nodes",
         "gpu_type", "market_order", "key_id"]
    print("\t".join(str(r.get(k, "-")) for k in f))
'
}
# receipts_of JOB: its receipts' lines, in ledger order.
receipts_of() { receipts_tsv | awk -F'\t' -v j="$1" '$1 == j'; }
receipt_count() { receipts_of "$1" | wc -l; }
receipts_at_least() { [ "$(receipts_tsv | wc -l)" -ge "$1" ]; }
receipt_count_is() { [ "$(receipt_count "$1")" -eq "$2" ]; }
# epoch JOB FIELD: a time field of scontrol show job as Unix seconds.
epoch() { date -d "$(job_field "$1" "$2")" +%s 2>/dev/null; }
