#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The README's test command: install what is missing, build with warnings
# fatal, run the whole test suite (unit and integration tests against a real
# sandbox cluster).  Its last line is "N passed, N failed, N skipped".
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${GPUMARKET_BUILD_DIR:-$top/build}

"$top/scripts/install-deps.sh" || exit 1
"$top/scripts/build.sh" "$build" || { echo "gpumarket: the build failed"; exit 1; }

cd "$build"
# Stale results must not be counted: Automake reruns only what is out of date.
find . -name '*.trs' -delete
find . -name '*.log' ! -name config.log -delete
make -j2 check
rc=$?
[ $rc -eq 0 ] || echo "gpumarket: test failures: see $build/test-suite.log"
"$top/scripts/test-summary.sh" "$build"
exit $rc
