#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Open MPI across the hosts of an `up --hosts` sandbox: ranks on two hosts
# talk TCP between the nodes' addresses, and shared memory across hosts is
# refused as on a real cluster (no OMPI_MCA_btl setting is needed).
. "$top_srcdir/tests/tap/tap.sh"
. "$top_srcdir/tests/sandbox.sh"
require_sandbox

prog=$top_builddir/tests/mpi_allreduce_check
[ -x "$prog" ] || bail_out "$prog is not built"
unset OMPI_MCA_btl

sandbox_up_hosts --nodes 2 --gpus-per-node 2 # skips if impossible
rc=$?
plan 7
ok $rc "hosts-mode sandbox with 2 nodes is up" || { finish; exit; }
prefix=$(sandbox_var "$SANDBOX_DIR" SANDBOX_NET_PREFIX)

out=$(OMPI_MCA_btl_base_verbose=100 srun -N2 -n2 --mpi=pmix "$prog" 2>&1); rc=$?
[ $rc -eq 0 ] && [ "$(grep -c 'allreduce ok' <<<"$out")" -eq 2 ]
ok $? "a 2-rank allreduce across two hosts is correct, with Open MPI's defaults" ||
  diag "$(grep -v 'mca: base' <<<"$out" | tail -n 40)"
hosts=$(sed -n 's/^rank [0-9]* of [0-9]* on \(gm[0-9]*\) node .*/\1/p' <<<"$out" | sort | tr '\n' ' ')
[ "$hosts" = "gm1 gm2 " ]
ok $? "the ranks ran on hosts gm1 and gm2 ($hosts)"

# Open MPI's tcp component logs the path it takes to each peer and each
# connection it completes (when both ranks connect at once, one of the two
# connections is kept: at least one "now connected" line).
conn=$(grep -o 'btl:tcp: now connected to [0-9.]*' <<<"$out" | awk '{ print $5 }' | sort -u | tr '\n' ' ')
grep -q "\[gm1:[0-9]*\] btl:tcp: path from $prefix.101 to $prefix.102: " <<<"$out" &&
  grep -q "\[gm2:[0-9]*\] btl:tcp: path from $prefix.102 to $prefix.101: " <<<"$out" &&
  grep -q "\[gm1:[0-9]*\] mca: bml: Using tcp btl for send to .* on node gm2$" <<<"$out" &&
  grep -q "\[gm2:[0-9]*\] mca: bml: Using tcp btl for send to .* on node gm1$" <<<"$out" &&
  [[ $conn =~ ^($prefix\.10[12]\ )+$ ]]
ok $? "the ranks connect over TCP between the node addresses (connected to: ${conn:-none})" ||
  diag "$(grep 'btl:tcp\|bml' <<<"$out" | tail -n 20)"

out=$(OMPI_MCA_btl=self,vader srun -N2 -n2 --mpi=pmix "$prog" 2>&1); rc=$?
[ $rc -ne 0 ] && ! grep -q 'allreduce ok' <<<"$out"
ok $? "shared memory alone cannot join ranks on two hosts (exit $rc)" || diag "$out"

out=$(OMPI_MCA_btl_base_verbose=100 srun -N2 -n4 --mpi=pmix "$prog" 2>&1); rc=$?
[ $rc -eq 0 ] && [ "$(grep -c 'allreduce ok' <<<"$out")" -eq 4 ] &&
  grep -q 'of 4 .*sum of ranks 10' <<<"$out"
ok $? "a 4-rank allreduce over 2 hosts is correct" || diag "$(grep -v 'mca: base' <<<"$out" | tail -n 40)"

# "[gmA:pid] mca: bml: Using BTL btl for send to [[job,n],rank] on node gmB"
paths=$(sed -n 's/^\[\(gm[0-9]*\):[0-9]*\] mca: bml: Using \([a-z]*\) btl for send to .* on node \(gm[0-9]*\)$/\1 \2 \3/p' <<<"$out")
bad=$(awk '($2 == "vader" && $1 != $3) || ($2 == "tcp" && $1 == $3)' <<<"$paths")
[ -n "$(awk '$2 == "vader"' <<<"$paths")" ] && [ -n "$(awk '$2 == "tcp"' <<<"$paths")" ] && [ -z "$bad" ]
ok $? "ranks of one host use shared memory, ranks of two hosts TCP${bad:+ (wrong: $bad)}" || diag "$paths"

finish
