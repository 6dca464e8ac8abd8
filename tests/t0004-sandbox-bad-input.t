#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# gpumarket-sandbox refuses bad input with a message that names it, and a
# refused or failed `up` leaves no process and no directory behind.
. "$top_srcdir/tests/tap/tap.sh"
. "$top_srcdir/tests/sandbox.sh"
require_sandbox

# refused DESCRIPTION PATTERN ARGS...: `gpumarket-sandbox ARGS` exits non-zero,
# its message matches PATTERN, and nothing of it is left running.
refused() {
  local desc=$1 pattern=$2; shift 2
  local out rc
  out=$(gpumarket-sandbox "$@" 2>&1); rc=$?
  if [ $rc -ne 0 ] && grep -qE -- "$pattern" <<<"$out" && [ -z "$(stray_processes)" ]; then
    ok 0 "$desc"
  else
    ok 1 "$desc"
    diag "gpumarket-sandbox $* -> exit $rc:"$'\n'"$out"$'\n'"stray: $(stray_processes)"
  fi
}

# Processes of any sandbox this test did not start on purpose.
stray_processes() {
  local d
  for d in "$WORK"/*; do
    [ "$d" = "$KEEP" ] && continue
    sandbox_processes "$d"
  done
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gmbad.XXXXXX")
KEEP=
trap '_sandbox_teardown; rm -rf "$WORK"' EXIT

plan 23

refused "unknown command" "unknown command 'frobnicate'" frobnicate
refused "unknown option" "unknown option '--frob'" up --frob --dir "$WORK/a"
refused "--nodes 0" "^gpumarket-sandbox: --nodes '0': must be a whole number from 1" up --nodes 0 --dir "$WORK/b"
refused "--nodes abc" "--nodes 'abc'" up --nodes abc --dir "$WORK/b"
refused "--nodes 65" "--nodes '65'" up --nodes 65 --dir "$WORK/b"
refused "--gpus-per-node -1" "--gpus-per-node '-1': must be a whole number from 0" up --gpus-per-node -1 --dir "$WORK/c"
refused "--gpus-per-node 1e3" "--gpus-per-node '1e3'" up --gpus-per-node 1e3 --dir "$WORK/c"
refused "--gpu-type with a space" "--gpu-type 'h 100'" up --gpu-type 'h 100' --dir "$WORK/d"
refused "--gpu-type with a shell metacharacter" "--gpu-type" up --gpu-type 'h100;rm' --dir "$WORK/d"
refused "--select unknown" "--select 'linear': must be cons_tres or gpumarket" up --select linear --dir "$WORK/e"
refused "--nodes without a value" "--nodes needs a value" up --nodes
refused "--port out of range" "--port '80'" up --port 80 --dir "$WORK/f"
refused "--dir that cannot be created" "--dir /proc/gpumarket-test: cannot create" up --dir /proc/gpumarket-test
: >"$WORK/plainfile"
refused "--dir that is a file" "exists and is not a directory" up --dir "$WORK/plainfile"
mkdir -p "$WORK/full"; : >"$WORK/full/precious"
refused "--dir that is not empty" "exists and is not empty" up --dir "$WORK/full"
[ -f "$WORK/full/precious" ]
ok $? "a refused --dir keeps its contents"

# A port in use: the first port of a running sandbox.
KEEP=$WORK/running
mkdir -p "$KEEP"
if gpumarket-sandbox up --nodes 1 --gpus-per-node 1 --dir "$KEEP" >/dev/null 2>&1; then
  SANDBOX_DIRS+=("$KEEP")
  port=$(sed -n 's/^SANDBOX_PORT=//p' "$KEEP/sandbox.env")
  refused "--port already in use" "--port $port: port $port is in use" up --port "$port" --dir "$WORK/g"
else
  ok 1 "--port already in use (could not start the sandbox that holds the port)"
fi
[ ! -e "$WORK/g" ] || [ -z "$(ls -A "$WORK/g")" ]
ok $? "the refused up left its directory empty"

# A daemon that fails to start: named, with the end of its log; nothing left.
cat >"$WORK/broken-slurmd" <<'SH'
#!/bin/sh
echo "broken-slurmd: cannot bind the node port" >&2
exit 1
SH
chmod +x "$WORK/broken-slurmd"
GPUMARKET_SLURMD=$WORK/broken-slurmd refused "a slurmd that fails is named with its log" \
  "slurmd of node gm1 failed to start" up --nodes 2 --dir "$WORK/h"
out=$(GPUMARKET_SLURMD=$WORK/broken-slurmd gpumarket-sandbox up --nodes 1 --dir "$WORK/i" 2>&1)
grep -q "cannot bind the node port" <<<"$out" && [ ! -e "$WORK/i" ]
ok $? "its log tail is shown and the directory is removed"

# `down`, `env` and `status` refuse directories that are not sandboxes and
# never delete them.
refused "down of a directory that is not a sandbox" "not a gpumarket sandbox" down --dir "$WORK/full"
[ -f "$WORK/full/precious" ]
ok $? "down left that directory alone"
refused "status of a missing directory" "no such directory" status --dir "$WORK/nonexistent"

finish
