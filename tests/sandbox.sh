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
  local f pid stat
  for f in $( {
      grep -lzxF "GPUMARKET_SANDBOX_DAEMON=$1" /proc/[0-9]*/environ
      grep -lzxF "SLURM_CONF=$1/etc/slurm.conf" /proc/[0-9]*/environ |
        xargs -r grep -lz '^SLURMD_NODENAME='
    } 2>/dev/null | sort -u); do
    pid=${f#/proc/}; pid=${pid%/environ}
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

# A job's tasks that died on a signal, with a backtrace of each core they
# left (srun reports the task; Open MPI's own handler prints only one frame
# when the fault is a call through a NULL pointer, and the core is the only
# record of where it happened).  Run the job in DIR with `ulimit -c
# unlimited`; the kernel writes cores there when core_pattern is a relative
# name (the default "core").  Prints nothing when no task crashed.
# crash_report DIR OUTPUT-FILE PROGRAM
crash_report() {
  local dir=$1 out=$2 prog=$3 core exe signals
  signals=$(grep -E 'task [0-9-]+: (Segmentation fault|Bus error|Aborted|Illegal instruction|Floating point exception)|Process received signal|Signal: |Failing at address' "$out" 2>/dev/null)
  local cores=()
  for core in "$dir"/core "$dir"/core.*; do [ -f "$core" ] && cores+=("$core"); done
  [ -n "$signals" ] || [ ${#cores[@]} -gt 0 ] || return 0
  echo "a task crashed; from $out:"
  echo "$signals"
  if [ ${#cores[@]} -eq 0 ]; then
    echo "no core file in $dir (core_pattern is '$(cat /proc/sys/kernel/core_pattern 2>/dev/null)'; a relative name puts cores in the job's directory)"
    return 0
  fi
  # A libtool-built program runs from .libs/; the core names that binary.
  exe=$prog
  [ -x "$(dirname "$prog")/.libs/$(basename "$prog")" ] && exe=$(dirname "$prog")/.libs/$(basename "$prog")
  if ! command -v gdb >/dev/null; then
    echo "cores: ${cores[*]} (install gdb for their backtraces)"
    return 0
  fi
  for core in "${cores[@]}"; do
    echo "backtrace of $core ($exe):"
    # The faulting thread's whole stack, then where the others were.  (The
    # core's siginfo is of the re-raise by Open MPI's handler, not the fault.)
    gdb -batch -nx -ex 'bt' -ex 'info threads' "$exe" "$core" 2>&1 |
      grep -vE '^(warning: |\[New LWP|\[Thread debugging|Using host libthread_db|$)'
  done
}

job_state() { scontrol show job "$1" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p'; }
job_in_state() { [ "$(job_state "$1")" = "$2" ]; }

# job_story JOB: what slurmctld says of the job and what the sandbox's
# daemons logged about it (the last lines), for a diagnostic when a job is
# not where a test expected it: an intermittent failure must explain itself
# the one time it happens.
job_story() {
  echo "scontrol show job $1:"
  scontrol show job "$1" 2>&1 | grep -E 'JobState|Restarts|StartTime|SystemComment|NodeList=' | sed 's/^ */  /'
  echo "the sandbox's logs about job $1:"
  grep -H -E "(JobId=|job |StepId=|\[)$1([^0-9]|$)" "$SANDBOX_DIR"/log/slurmctld.log \
    "$SANDBOX_DIR"/log/slurmd-*.log 2>/dev/null | sed "s|^$SANDBOX_DIR/log/||" | tail -n 25
}

# ---------------------------------------------------------------- hosts mode

# sandbox_up_hosts [UP OPTIONS...]: like sandbox_up with --hosts, but when
# this machine cannot give nodes hosts of their own (gpumarket-sandbox says
# why), the whole test is skipped with that reason.  Call it before `plan`.
sandbox_up_hosts() {
  local out rc
  SANDBOX_DIR=$(mktemp -d "${TMPDIR:-/tmp}/gmtest.XXXXXX") || return 1
  SANDBOX_DIRS+=("$SANDBOX_DIR")
  out=$(gpumarket-sandbox up --hosts --dir "$SANDBOX_DIR" "$@" 2>&1); rc=$?
  if [ $rc -ne 0 ]; then
    if grep -q 'cannot give nodes hosts of their own here' <<<"$out"; then
      skip_all "hosts mode is not possible on this machine: $(grep -m1 'cannot give nodes' <<<"$out")"
    fi
    diag "gpumarket-sandbox up --hosts $* failed ($rc):"$'\n'"$out"
    return $rc
  fi
  export SLURM_CONF=$SANDBOX_DIR/etc/slurm.conf
  export GPUMARKET_SANDBOX_DIR=$SANDBOX_DIR
}

# sandbox_var DIR NAME: a value of DIR's sandbox.env.
sandbox_var() { sed -n "s/^$2=//p" "$1/sandbox.env"; }

# The network namespaces, root-namespace links and mounts that carry the
# network id NETID (gmsNNNN) of a hosts-mode sandbox, one per line.
hosts_leftovers() { # hosts_leftovers NETID
  local id=$1 f
  [ -n "$id" ] || { echo "no network id"; return; }
  for f in /run/netns/"$id"-*; do [ -e "$f" ] && echo "namespace ${f##*/}"; done
  ip -o link show 2>/dev/null | awk -F': ' -v id="$id" 'index($2, id) == 1 { print "link " $2 }'
  grep -F "$id" /proc/self/mountinfo | sed 's/^/mount /'
}

# Processes whose network namespace is one of the inodes INODE...
processes_in_netns() { # processes_in_netns INODE...
  stat -L -c '%i %n' /proc/[0-9]*/ns/net 2>/dev/null |
    awk -v want=" $* " 'index(want, " " $1 " ") { split($2, p, "/"); print p[3] }'
}

# Inodes of the network namespaces of hosts-mode sandbox network NETID.
netns_inodes() { # netns_inodes NETID
  local f
  for f in /run/netns/"$1"-*; do [ -e "$f" ] && stat -L -c %i "$f"; done
}

# The state of node NODE in Slurm's view (idle, alloc, down*...).
node_state() { sinfo -h -N -n "$1" -o '%t' 2>/dev/null | head -n 1; }
node_in_state() { [ "$(node_state "$1")" = "$2" ]; }
