#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Fetch and configure the Debian source of the installed Slurm, so that the
# select plugin can be built against Slurm's internal headers.
#   scripts/get-slurm-source.sh [DIR]     (default: ./slurm-src)
# Prints the path of the configured tree on its last line; pass it to
# ./configure --with-slurm-source=PATH.
set -euo pipefail

dest=${1:-slurm-src}
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)

installed=$(sed -n 's/^#define SLURM_VERSION_NUMBER \(0x[0-9a-fA-F]*\).*/\1/p' /usr/include/slurm/slurm_version.h 2>/dev/null || true)
if [ -z "$installed" ]; then
  echo "gpumarket: /usr/include/slurm/slurm_version.h is missing: install libslurm-dev (scripts/install-deps.sh)" >&2
  exit 1
fi

# Already fetched and configured for this very version? Then nothing to do.
for tree in "$dest"/slurm-wlm-*/; do
  [ -f "$tree/config.h" ] || continue
  have=$(sed -n 's/^#define SLURM_VERSION_NUMBER \(0x[0-9a-fA-F]*\).*/\1/p' "$tree/slurm/slurm_version.h" 2>/dev/null || true)
  if [ "$have" = "$installed" ]; then
    echo "gpumarket: configured Slurm $installed source already in $tree" >&2
    echo "${tree%/}"
    exit 0
  fi
done

pkgver=$(dpkg-query -W -f='${Version}' libslurm-dev)

# apt-get source needs a deb-src entry with the same URIs and suites as the
# deb entries; add one (once) in a file of our own.
srcfile=/etc/apt/sources.list.d/gpumarket-deb-src.sources
if ! apt-get source --print-uris "slurm-wlm=$pkgver" >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "gpumarket: no deb-src entry for slurm-wlm; run this script as root once so it can add $srcfile" >&2
    exit 1
  fi
  src=/etc/apt/sources.list.d/debian.sources
  if [ -f "$src" ]; then
    sed -e 's/^Types: deb$/Types: deb-src/' "$src" > "$srcfile"
  else
    grep -h '^deb ' /etc/apt/sources.list 2>/dev/null | sed 's/^deb /deb-src /' > "${srcfile%.sources}.list"
  fi
  apt-get update -q >&2
fi

cd "$dest"
echo "gpumarket: fetching Debian source slurm-wlm=$pkgver into $dest" >&2
apt-get source -q --download-only "slurm-wlm=$pkgver" >&2 || {
  echo "gpumarket: apt-get source slurm-wlm=$pkgver failed: check that Debian's archive is reachable" >&2
  exit 1
}
rm -rf "$dest"/slurm-wlm-*/
dpkg-source --no-check -x slurm-wlm_*.dsc >&2
tree=$(ls -d "$dest"/slurm-wlm-*/ | head -n 1)
tree=${tree%/}

echo "gpumarket: configuring $tree (headers only, nothing is built)" >&2
(cd "$tree" && ./configure --prefix=/usr --sysconfdir=/etc/slurm -q >configure.out 2>&1) || {
  echo "gpumarket: configure of the Slurm source failed; see $tree/configure.out" >&2
  exit 1
}
have=$(sed -n 's/^#define SLURM_VERSION_NUMBER \(0x[0-9a-fA-F]*\).*/\1/p' "$tree/slurm/slurm_version.h")
if [ "$have" != "$installed" ]; then
  echo "gpumarket: fetched Slurm source is $have but the installed Slurm is $installed" >&2
  exit 1
fi
echo "$tree"
