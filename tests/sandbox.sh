# SPDX-License-Identifier: GPL-2.0-or-later
# Sandbox helpers for the integration tests (sourced after tests/tap/tap.sh).
# Every sandbox a test starts is stopped when the test exits, pass or fail.

SANDBOX_DIRS=()

require_sandbox() {
  [ "$(id -u)" -eq 0 ] ||
    skip_all "the sandbox cluster needs root (Slurm daemons run as root, fake GPUs are device nodes)"
  command -v gpumarket-sandbox >/dev/null ||
    bail_out "gpumarket-sandbox is not on PATH (run the tests with make check)"
}

_sandbox_teardown() {
  local d
  for d in "${SANDBOX_DIRS[@]}"; do
    [ -d "$d" ] || continue
    if ! gpumarket-sandbox down --dir "$d" >/dev/null 2>&1; then
      echo "# teardown: gpumarket-sandbox down --dir $d failed" >&2
    fi
  done
}
# Under tests/tap/preamble.sh, teardown joins its exit list (an EXIT trap of
# our own would replace the preamble's); tests that source tap.sh alone keep
# the trap.
if declare -F test_atexit >/dev/null; then
  test_atexit _sandbox_teardown
else
  trap _sandbox_teardown EXIT
fi

# sandbox_up [UP OPTIONS...]: start a sandbox in a new directory; sets
# SANDBOX_DIR and exports SLURM_CONF.  Returns non-zero (with the output as
# diagnostics) when `up` fails.
sandbox_up() {
  local out rc
  SANDBOX_DIR=$(mktemp -d "${TMPDIR:-/tmp}/gmtest.XXXXXX") || return 1
  SANDBOX_DIRS+=("$SANDBOX_DIR")
  out=$(gpumarket-sandbox up --dir "$SANDBOX_DIR" "$@" 2>&1); rc=$?
  if [ $rc -ne 0 ]; then
    diag "gpumarket-sandbox up $* failed ($rc):"$'\n'"$out"
    return $rc
  fi
  export SLURM_CONF=$SANDBOX_DIR/etc/slurm.conf
  export GPUMARKET_SANDBOX_DIR=$SANDBOX_DIR
}

# Live (non-zombie) processes of sandbox DIR: daemons and slurmstepd carry
# GPUMARKET_SANDBOX_DAEMON=DIR; job tasks carry its SLURM_CONF and a
# SLURMD_NODENAME.  This test's own processes are clients, not listed.
sandbox_processes() { # sandbox_processes DIR
  local f pid stat env
  for f in /proc/[0-9]*/environ; do
    pid=${f#/proc/}; pid=${pid%/environ}
    env=$(tr '\0' '\n' 2>/dev/null <"$f") || continue
    grep -qxF "GPUMARKET_SANDBOX_DAEMON=$1" <<<"$env" ||
      { grep -qxF "SLURM_CONF=$1/etc/slurm.conf" <<<"$env" &&
        grep -q '^SLURMD_NODENAME=' <<<"$env"; } || continue
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
    stat=${stat##*) }
    [ "${stat%% *}" = Z ] || echo "$pid"
  done
}

# wait_for SECONDS COMMAND...: poll COMMAND every 0.2 s until it succeeds.
wait_for() {
  local limit=$1; shift
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -ge $deadline ] && return 1
    sleep 0.2
  done
}

job_state() { scontrol show job "$1" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p'; }
job_in_state() { [ "$(job_state "$1")" = "$2" ]; }
