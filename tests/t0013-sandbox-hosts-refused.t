#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# up --hosts without the privileges it needs says so and suggests the plain
# mode; node-down/node-up refuse bad input with a message naming it; a failed
# or interrupted `up --hosts` leaves (or, after `down`, has) nothing behind.
. "$top_srcdir/tests/tap/tap.sh"
. "$top_srcdir/tests/sandbox.sh"
require_sandbox

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gmhosts.XXXXXX")
trap '_sandbox_teardown; rm -rf "$WORK"' EXIT

# A hosts-mode sandbox for the node-down/node-up input checks.
sandbox_up_hosts --nodes 2 --gpus-per-node 1 # skips if impossible
rc=$?
plan 21
ok $rc "a hosts-mode sandbox with 2 nodes is up" || { finish; exit; }
H=$SANDBOX_DIR

# refused DESCRIPTION PATTERN COMMAND...: exits non-zero, says PATTERN.
refused() {
  local desc=$1 pattern=$2; shift 2
  local out rc
  out=$("$@" 2>&1); rc=$?
  if [ $rc -ne 0 ] && grep -qE -- "$pattern" <<<"$out"; then
    ok 0 "$desc"
  else
    ok 1 "$desc"
    diag "$* -> exit $rc:"$'\n'"$out"
  fi
}

# --- without the privileges
if unshare --user --map-root-user true 2>/dev/null; then
  refused "up --hosts in a user namespace (as in an unprivileged container) is refused" \
    "^gpumarket-sandbox: up --hosts: cannot give nodes hosts of their own here: this process runs in a user namespace .*Run 'up' without --hosts for the plain mode" \
    unshare --user --map-root-user gpumarket-sandbox up --hosts --dir "$WORK/userns"
  [ ! -e "$WORK/userns" ]
  ok $? "the refused up made no directory"
else
  skip 2 "unshare --user does not work here, so an unprivileged container cannot be simulated"
fi
if command -v setpriv >/dev/null; then
  refused "up --hosts without CAP_NET_ADMIN is refused, naming the capability" \
    "^gpumarket-sandbox: up --hosts: .*lacks CAP_NET_ADMIN or CAP_SYS_ADMIN.*without --hosts for the plain mode" \
    setpriv --bounding-set -net_admin --inh-caps -net_admin gpumarket-sandbox up --hosts --dir "$WORK/nocap"
else
  skip 1 "setpriv (util-linux) is not installed"
fi

# --- bad input
refused "--slurmd-timeout 5 is refused" \
  "^gpumarket-sandbox: --slurmd-timeout '5': must be a whole number of seconds from 10 to 3600" \
  gpumarket-sandbox up --hosts --slurmd-timeout 5 --dir "$WORK/t"
refused "node-down without a node" "^gpumarket-sandbox: node-down: which node\?" gpumarket-sandbox node-down --dir "$H"
refused "node-down of a node the sandbox lacks" \
  "^gpumarket-sandbox: node-down: no node 'gm3' in the sandbox in $H \(its nodes are gm1 to gm2\)" \
  gpumarket-sandbox node-down gm3 --dir "$H"
refused "node-up of a bad node name" "^gpumarket-sandbox: node-up: no node 'gm01'" gpumarket-sandbox node-up gm01 --dir "$H"
refused "node-down with --partition and --poweroff" \
  "^gpumarket-sandbox: node-down: give one of --partition and --poweroff" \
  gpumarket-sandbox node-down gm1 --partition --poweroff --dir "$H"
refused "node-up --poweroff" "^gpumarket-sandbox: node-up: unknown option '--poweroff'" gpumarket-sandbox node-up gm1 --poweroff --dir "$H"
refused "node-down of two nodes" "^gpumarket-sandbox: node-down: one node at a time" gpumarket-sandbox node-down gm1 gm2 --dir "$H"
refused "node-down without a sandbox" "^gpumarket-sandbox: --dir $WORK/none: no such directory" gpumarket-sandbox node-down gm1 --dir "$WORK/none"
st=$(SLURM_CONF=$H/etc/slurm.conf sinfo -h -N -o '%t' | sort -u | tr '\n' ' ')
[ "$st" = "idle " ] && gpumarket-sandbox status --dir "$H" | grep -q 'gm2 at .*, link up'
ok $? "the refused commands changed nothing ($st)"

sandbox_up --nodes 1 --gpus-per-node 1
ok $? "a plain sandbox is up"
refused "node-down in a plain sandbox is refused" \
  "^gpumarket-sandbox: node-down: the sandbox in $SANDBOX_DIR runs in the plain mode.*needs a sandbox started with 'up --hosts'" \
  gpumarket-sandbox node-down gm1 --dir "$SANDBOX_DIR"

# --- a failed up --hosts: slurmd fails to start inside its host
out=$(GPUMARKET_SLURMD=/bin/false GPUMARKET_SANDBOX_KEEP_DIR=1 gpumarket-sandbox up --hosts --nodes 2 --dir "$WORK/fail" 2>&1); rc=$?
id=$(sed -n 's/^SANDBOX_NET_ID=//p' "$WORK/fail/sandbox.env" 2>/dev/null)
[ $rc -ne 0 ] && grep -q "slurmd of node gm1 failed to start" <<<"$out" && [ -n "$id" ]
ok $? "up --hosts whose slurmd fails says so (network ${id:-unknown})" || diag "$out"
left=$(hosts_leftovers "$id"; sandbox_processes "$WORK/fail")
[ -z "$left" ]
ok $? "the failed up --hosts left no namespace, link, mount or process${left:+ (left: $left)}"

# --- an interrupted up --hosts: killed while a node's host is starting
printf '#!/bin/sh\nexec sleep 600\n' >"$WORK/hang-slurmd"
chmod +x "$WORK/hang-slurmd"
GPUMARKET_SLURMD=$WORK/hang-slurmd gpumarket-sandbox up --hosts --nodes 2 --dir "$WORK/killed" >/dev/null 2>&1 &
up=$!
# Wait for the hanging slurmd itself (sleep 600) in gm1's host, not for a
# short-lived setup command that happens to run there.
wait_for 30 bash -c "id=\$(sed -n 's/^SANDBOX_NET_ID=//p' '$WORK/killed/sandbox.env'); [ -n \"\$id\" ] && for p in \$(ip netns pids \$id-gm1 2>/dev/null); do tr '\\0' ' ' </proc/\$p/cmdline 2>/dev/null | grep -q '^sleep 600' && exit 0; done; exit 1"
ok $? "up --hosts is stuck starting gm1's slurmd"
id=$(sed -n 's/^SANDBOX_NET_ID=//p' "$WORK/killed/sandbox.env")
ino=$(netns_inodes "$id" | tr '\n' ' ')
kill -KILL $up; wait $up 2>/dev/null
[ -n "$(processes_in_netns $ino)" ] && [ -n "$(hosts_leftovers "$id")" ]
ok $? "killing it leaves its network and a process in gm1's host"
out=$(gpumarket-sandbox down --dir "$WORK/killed" 2>&1)
ok $? "down of the interrupted sandbox exits 0" || diag "$out"
left=$(hosts_leftovers "$id"; sandbox_processes "$WORK/killed"; processes_in_netns $ino)
[ ! -e "$WORK/killed" ] && [ -z "$left" ]
ok $? "down removes all of it${left:+ (left: $left)}"

finish
