#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Install every Debian 12 package that gpumarket's build, tests, benchmarks and
# sandbox cluster need. Idempotent: installs only what is missing.
set -euo pipefail

packages=(
  build-essential autoconf automake libtool pkg-config make
  slurmctld slurmd slurm-client libslurm-dev munge
  libopenmpi-dev openmpi-bin libpmix-dev
  libhwloc-dev hwloc
  libssl-dev openssl python3 python3-cryptography
  clang clang-format libclang-rt-14-dev
  dpkg-dev procps iproute2 psmisc valgrind
  gnuplot-nox
  golang-go golang-golang-x-mod-dev
)

if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    exec sudo -E "$0" "$@"
  fi
  echo "gpumarket: install-deps.sh must run as root (apt-get); run it with sudo" >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "gpumarket: all ${#packages[@]} build and test packages are installed"
  exit 0
fi

echo "gpumarket: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q "${missing[@]}"

# Debian starts the daemons it installs; the sandbox runs its own private
# instances, so the system-wide ones are stopped to free their ports and state.
for svc in slurmctld slurmd munge; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
    systemctl stop "$svc" || true
  fi
done
