# SPDX-License-Identifier: GPL-2.0-or-later
# Helpers of the market integration tests (t3NNN), sourced after
# tests/sandbox.sh once a sandbox is up.

# market_conf KEY VALUE...: set KEY=VALUE in the sandbox's gpumarket.conf
# (replacing the key's line) and make slurmctld re-read it.
market_conf() {
  local conf=$SANDBOX_DIR/etc/gpumarket.conf key val
  while [ $# -ge 2 ]; do
    key=$1 val=$2; shift 2
    sed -i "/^$key=/d" "$conf" && echo "$key=$val" >>"$conf" || return 1
  done
  scontrol reconfigure
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
