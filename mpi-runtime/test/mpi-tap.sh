# SPDX-License-Identifier: GPL-2.0-or-later
# Run MPI test programs through $MPIRUN and merge their TAP streams into one:
# each run's "ok"/"not ok" lines are renumbered and tagged with the rank
# count; a run that exits non-zero, or prints no test, is a failure.  Every
# run is killed after MPI_TAP_TIMEOUT seconds (default 900): a hang fails.
# MPI_TAP_TAG replaces the "np=N" tag (for runs of several programs).
#   . mpi-tap.sh; mpi_tap NP PROGRAM [ARGS...]; ...; mpi_tap_finish
MPI_TAP_N=0
: "${MPIRUN:=mpirun}"
# Root in containers, 2 cores: allow both; shared memory and TCP only.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl="${OMPI_MCA_btl:-self,vader,tcp}"
export OMPI_MCA_btl_vader_single_copy_mechanism="${OMPI_MCA_btl_vader_single_copy_mechanism:-none}"
export OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_mpi_yield_when_idle=1
# Open MPI unloads its components and leaks from them, where LeakSanitizer
# cannot suppress by name: leak checking is off for processes under mpirun
# (it stays on for the other unit tests), whatever the caller asked for.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"

mpi_tap_line() { # STATUS(ok|not ok) DESCRIPTION
  MPI_TAP_N=$((MPI_TAP_N + 1))
  echo "$1 $MPI_TAP_N - $2"
}

mpi_tap() {
  local np=$1; shift
  local out rc seen=0 line prog="" a tag=${MPI_TAP_TAG:-np=$np}
  for a in "$@"; do case $a in */*) prog=$(basename "$a"); break ;; esac; done
  out=$(mktemp)
  timeout -k 10 "${MPI_TAP_TIMEOUT:-900}" "$MPIRUN" --oversubscribe -np "$np" "$@" >"$out" 2>&1
  rc=$?
  [ "$rc" -eq 124 ] && echo "# timed out after ${MPI_TAP_TIMEOUT:-900} s (a hang)" >>"$out"
  while IFS= read -r line; do
    case $line in
      "ok "*|"not ok "*)
        seen=1
        local status=ok desc
        case $line in "not ok "*) status="not ok" ;; esac
        desc=${line#"$status"}
        desc=$(printf '%s' "$desc" | sed -E 's/^ *[0-9]* *-? *//')
        mpi_tap_line "$status" "$tag: $desc" ;;
      "1.."*) ;;
      "#"*) echo "$line" ;;
      *) echo "# $line" ;;
    esac
  done <"$out"
  rm -f "$out"
  if [ "$rc" -ne 0 ]; then
    mpi_tap_line "not ok" "$tag: ${prog:-$1} exited with status $rc"
  elif [ "$seen" -eq 0 ]; then
    mpi_tap_line "not ok" "$tag: ${prog:-$1} ran no test"
  fi
}

mpi_tap_finish() { echo "1..$MPI_TAP_N"; }
