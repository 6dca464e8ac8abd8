#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# node-down and node-up in an `up --hosts` sandbox: a partitioned node (link
# down, slurmd alive) and a powered-off node (every process of its host
# killed) are marked DOWN, their requeueable market job is requeued and runs
# again elsewhere, and node-up brings each node back.
. "$top_srcdir/tests/tap/tap.sh"
. "$top_srcdir/tests/sandbox.sh"
require_sandbox

sandbox_up_hosts --nodes 3 --gpus-per-node 2 --slurmd-timeout 10 # skips if impossible
rc=$?
plan 17
ok $rc "hosts-mode sandbox with 3 nodes and SlurmdTimeout=10 is up" || { finish; exit; }
D=$SANDBOX_DIR
id=$(sandbox_var "$D" SANDBOX_NET_ID)

scontrol show config | grep -q '^SlurmdTimeout *= 10 sec'
ok $? "slurmctld runs with SlurmdTimeout=10"

job_field() { scontrol show job "$1" 2>/dev/null | grep -o " $2=[^ ]*" | head -n 1 | cut -d= -f2; }
running_on() { [ "$(job_state "$1")" = RUNNING ] && echo "$(job_field "$1" NodeList)"; }
# running_elsewhere JOB NODE RESTARTS: running again, not on NODE, after RESTARTS requeues.
running_elsewhere() {
  local on
  on=$(running_on "$1") && [ -n "$on" ] && [ "$on" != "$2" ] && [ "$(job_field "$1" Restarts)" -ge "$3" ]
}
slurmd_pid() { tr -dc 0-9 <"$D/run/slurmd-$1.pid"; }
# alive PID: a process, not a zombie waiting to be reaped.
alive() { local s; s=$(cat "/proc/$1/stat" 2>/dev/null) && s=${s##*) } && [ "${s%% *}" != Z ]; }

job=$(sbatch --parsable -p market --requeue -N1 --gres=gpu:1 -o /dev/null --wrap 'sleep 600' 2>&1)
wait_for 20 job_in_state "$job" RUNNING
ok $? "a requeueable market job $job is running"
A=$(running_on "$job")
pidA=$(slurmd_pid "$A")
diag "job $job runs on $A (slurmd pid $pidA)"

# --- a network partition
t0=$SECONDS
out=$(gpumarket-sandbox node-down "$A" 2>&1)
ok $? "node-down $A (a partition by default)" || diag "$out"
[ "$(ip -n "$id-sw" -o link show "$A" | grep -c 'state DOWN')" -eq 1 ] && alive "$pidA" &&
  gpumarket-sandbox status | grep -q "host $A at .*, link down"
ok $? "the link of $A is down, its slurmd still runs (pid $pidA)"

wait_for 90 bash -c "[ \"\$(scontrol show job $job | grep -o 'Restarts=[0-9]*')\" = Restarts=1 ]"
ok $? "Slurm requeues the job after the partition ($((SECONDS - t0))s)"
[[ $(node_state "$A") == down* ]]
ok $? "$A is down ($(node_state "$A"))"
wait_for 60 running_elsewhere "$job" "$A" 1
ok $? "the job runs again, on $(running_on "$job") ($((SECONDS - t0))s after node-down)"
B=$(running_on "$job")

out=$(gpumarket-sandbox node-up "$A" 2>&1)
ok $? "node-up $A" || diag "$out"
st=$(node_state "$A")
[ "$st" = idle ] && [ "$(slurmd_pid "$A")" = "$pidA" ] && alive "$pidA"
ok $? "$A is back ($st) with the same slurmd (pid $pidA)"

# --- a power-off
pidB=$(slurmd_pid "$B")
t0=$SECONDS
out=$(gpumarket-sandbox node-down "$B" --poweroff 2>&1)
ok $? "node-down $B --poweroff" || diag "$out"
left=$(ip netns pids "$id-$B" 2>&1)
[ -z "$left" ] && ! alive "$pidB"
ok $? "no process of host $B is left (slurmd pid $pidB gone)${left:+ (left: $left)}"

wait_for 90 bash -c "[ \"\$(scontrol show job $job | grep -o 'Restarts=[0-9]*')\" = Restarts=2 ]"
ok $? "Slurm requeues the job after the power-off ($((SECONDS - t0))s)"
wait_for 60 running_elsewhere "$job" "$B" 2
ok $? "the job runs again, on $(running_on "$job") ($((SECONDS - t0))s after node-down)"

out=$(gpumarket-sandbox node-up "$B" 2>&1)
ok $? "node-up $B" || diag "$out"
st=$(node_state "$B")
newpid=$(slurmd_pid "$B")
[ "$st" = idle ] && [ "$newpid" != "$pidB" ] && alive "$newpid" &&
  [ "$(ip netns pids "$id-$B" | grep -cx "$newpid")" -eq 1 ] &&
  [ "$(srun -w "$B" -N1 hostname 2>&1)" = "$B" ]
ok $? "$B is back ($st) with a new slurmd (pid $newpid) in its host, and runs jobs"

ino=$(netns_inodes "$id" | tr '\n' ' ')
gpumarket-sandbox down --dir "$D" 2>/dev/null
left=$(hosts_leftovers "$id"; sandbox_processes "$D"; processes_in_netns $ino)
[ ! -e "$D" ] && [ -z "$left" ]
ok $? "down leaves nothing behind${left:+ (left: $left)}"

finish
