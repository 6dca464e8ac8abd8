#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Build gpumarket with AddressSanitizer and UndefinedBehaviorSanitizer and run
# the unit tests under them (the Slurm plugins are exercised by the
# integration tests of the normal build: daemons cannot load ASan code).
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${GPUMARKET_ASAN_BUILD_DIR:-$top/build-asan}

"$top/scripts/install-deps.sh" || exit 1
"$top/scripts/build.sh" "$build" --enable-sanitizers || { echo "gpumarket: the sanitizer build failed"; exit 1; }
cd "$build"
find . -name '*.trs' -delete
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
make -j2 check-unit
rc=$?
[ $rc -eq 0 ] || echo "gpumarket: sanitizer failures: see $build/test-suite.log"
"$top/scripts/test-summary.sh" "$build"
exit $rc
