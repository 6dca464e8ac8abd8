#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# up --hosts: every node is a host of its own (address, hostname, /dev/shm),
# on a private /24 with no way out; two such sandboxes run side by side on
# distinct subnets; `down` leaves no namespace, link, mount or process.
. "$top_srcdir/tests/tap/tap.sh"
. "$top_srcdir/tests/sandbox.sh"
require_sandbox

lock=/run/gpumarket-sandbox.netns.lock
netns_was_mounted=no
mountpoint -q /run/netns && netns_was_mounted=yes

start=$SECONDS
sandbox_up_hosts --nodes 3 --gpus-per-node 4 --gpu-type h100 # skips if impossible
rc=$?
plan 23
ok $rc "up --hosts --nodes 3 --gpus-per-node 4 starts a cluster" || { finish; exit; }
diag "up --hosts took $((SECONDS - start))s"
A=$SANDBOX_DIR
idA=$(sandbox_var "$A" SANDBOX_NET_ID)
netA=$(sandbox_var "$A" SANDBOX_SUBNET)
prefixA=$(sandbox_var "$A" SANDBOX_NET_PREFIX)
diag "network $idA, subnet $netA"

[ "$(sandbox_var "$A" SANDBOX_MODE)" = hosts ] && [[ $idA =~ ^gms[0-9]{4}$ ]] &&
  [[ $netA =~ ^10\.[0-9]+\.[0-9]+\.0/24$ ]] && [ "$prefixA.0/24" = "$netA" ]
ok $? "the sandbox's state records hosts mode, its network id and subnet ($idA, $netA)"

nodes=$(sinfo -h -N -p local -o '%N %t %G')
[ "$(grep -c ' idle gpu:h100:4' <<<"$nodes")" -eq 3 ]
ok $? "three nodes are idle with gpu:h100:4 each" || diag "$nodes"

addrs=$(for n in gm1 gm2 gm3; do scontrol show node "$n" | grep -o 'NodeAddr=[^ ]*'; done | tr '\n' ' ')
[ "$addrs" = "NodeAddr=$prefixA.101 NodeAddr=$prefixA.102 NodeAddr=$prefixA.103 " ]
ok $? "nodes register with distinct addresses on the sandbox's subnet ($addrs)"

hosts=$(srun -N3 --ntasks-per-node=1 hostname 2>&1 | sort | tr '\n' ' ')
[ "$hosts" = "gm1 gm2 gm3 " ]
ok $? "srun -N3 hostname: each node is a host of its own ($hosts)"
[ "$(hostname)" != gm1 ] && [ "$(hostname)" != gm2 ]
ok $? "this host's own hostname is untouched ($(hostname))"

# The node's own view of the network: its address, nothing else.
out=$(srun -w gm2 -N1 bash -c 'ip -4 -o addr show | awk "{print \$2, \$4}" | sort | tr "\n" " "' 2>&1)
[ "$out" = "eth0 $prefixA.102/24 lo 127.0.0.1/8 " ]
ok $? "a job on gm2 sees only lo and eth0 with gm2's address (${out//$'\n'/; })"

defroutes=""
for f in /run/netns/"$idA"-*; do
  r=$(ip -n "${f##*/}" -4 route show default 2>&1)
  [ -n "$r" ] && defroutes="$defroutes ${f##*/}: $r;"
done
[ -z "$defroutes" ] && [ "$(ls -d /run/netns/"$idA"-* | wc -l)" -eq 4 ]
ok $? "no default route in the switch and the three node namespaces${defroutes:+ ($defroutes)}"

v6=""
for f in /run/netns/"$idA"-*; do
  a=$(ip -n "${f##*/}" -6 -o addr show 2>/dev/null)
  [ -n "$a" ] && v6="$v6 ${f##*/}: $a;"
done
a=$(ip -6 -o addr show dev "$idA-up" 2>/dev/null)
[ -n "$a" ] && v6="$v6 $idA-up: $a"
[ -z "$v6" ]
ok $? "IPv6 is off on every link of the sandbox${v6:+ ($v6)}"

! srun -w gm1 -N1 bash -c 'exec 3<>/dev/tcp/192.0.2.1/9' >/dev/null 2>&1
ok $? "a node cannot reach an address outside its subnet"

# /dev/shm is the host's own: a file made on gm1 is not seen on gm2 or here.
tag=gmtest-shm-$$
srun -w gm1 -N1 bash -c "echo x >/dev/shm/$tag && test -e /dev/shm/$tag" >/dev/null 2>&1 &&
  ! srun -w gm2 -N1 test -e "/dev/shm/$tag" >/dev/null 2>&1 && [ ! -e "/dev/shm/$tag" ]
ok $? "/dev/shm is private to each host"

out=$(gpumarket-sandbox status --dir "$A" 2>&1)
grep -q "slurmd-gm1 *running (pid [0-9]*)  host gm1 at $prefixA.101, link up" <<<"$out" &&
  grep -q "slurmd-gm3 *running (pid [0-9]*)  host gm3 at $prefixA.103, link up" <<<"$out" &&
  grep -q "on $netA (network $idA)" <<<"$out"
ok $? "status shows each node's address and link" || diag "$out"

# A second hosts-mode sandbox beside the first.
sandbox_up_hosts --nodes 2 --gpus-per-node 2 --gpu-type a100
ok $? "a second hosts-mode sandbox starts beside the first"
B=$SANDBOX_DIR
idB=$(sandbox_var "$B" SANDBOX_NET_ID)
netB=$(sandbox_var "$B" SANDBOX_SUBNET)
[ -n "$idB" ] && [ "$idB" != "$idA" ] && [ -n "$netB" ] && [ "$netB" != "$netA" ]
ok $? "the two sandboxes have distinct networks ($idA $netA, $idB $netB)"
out=$(SLURM_CONF=$B/etc/slurm.conf srun -N2 hostname 2>&1 | sort | tr '\n' ' ')
outa=$(SLURM_CONF=$A/etc/slurm.conf srun -N3 hostname 2>&1 | sort | tr '\n' ' ')
[ "$out" = "gm1 gm2 " ] && [ "$outa" = "gm1 gm2 gm3 " ]
ok $? "each sandbox runs jobs on its own hosts (B: $out, A: $outa)"
# The sandboxes cannot reach each other: their subnets are not routed between.
! SLURM_CONF=$A/etc/slurm.conf srun -w gm1 -N1 bash -c "exec 3<>/dev/tcp/$(sandbox_var "$B" SANDBOX_NET_PREFIX).101/$(( $(sandbox_var "$B" SANDBOX_PORT) + 1 ))" >/dev/null 2>&1
ok $? "a node of one sandbox cannot reach a node of the other"

inoB=$(netns_inodes "$idB" | tr '\n' ' ')
gpumarket-sandbox down --dir "$B" 2>/dev/null
leftB=$(hosts_leftovers "$idB"; sandbox_processes "$B"; [ -n "${inoB// /}" ] && processes_in_netns $inoB)
[ ! -e "$B" ] && [ -z "$leftB" ] && SLURM_CONF=$A/etc/slurm.conf srun -N3 true 2>/dev/null
ok $? "down of the second leaves nothing of it, and the first runs on${leftB:+ (left: $leftB)}"

# A job still running on a host when the cluster goes down.
export SLURM_CONF=$A/etc/slurm.conf
sbatch -p market -N2 -o /dev/null --wrap 'srun sleep 300' >/dev/null 2>&1
wait_for 20 bash -c "squeue -h -t R | grep -q ."
ok $? "a 2-node job is running before down"
inoA=$(netns_inodes "$idA" | tr '\n' ' ')
[ "$(wc -w <<<"$inoA")" -eq 4 ]
ok $? "the first sandbox has 4 network namespaces ($inoA)"

gpumarket-sandbox down --dir "$A" 2>/dev/null
ok $? "down exits 0"
left=$(hosts_leftovers "$idA")
procs=$(sandbox_processes "$A"; processes_in_netns $inoA)
[ ! -e "$A" ] && [ -z "$left" ] && [ -z "$procs" ]
ok $? "down leaves no namespace, link, mount, process or directory${left:+ (left: $left)}${procs:+ (processes: $procs)}"
! ip route show | grep -qF "${netA%/24}"
ok $? "down removes the route to $netA"

# /run/netns, mounted by `ip netns add`, is unmounted by the last sandbox to
# leave (unless it was mounted before).  Checked under the lock the sandboxes
# hold while they add a namespace or unmount /run/netns.
out=$(flock "$lock" bash -c 'if [ -z "$(ls -A /run/netns 2>/dev/null)" ] && mountpoint -q /run/netns; then echo mounted; fi')
[ $netns_was_mounted = yes ] || [ "$out" != mounted ]
ok $? "no /run/netns mount is left behind (was mounted before: $netns_was_mounted)"

finish
