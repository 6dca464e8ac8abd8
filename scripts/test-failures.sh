#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Name every test script that failed in one or more build trees, with each
# failing TAP line and the diagnostics the test printed right after it, then
# the last lines of its log, so that the tail of a CI run says what broke
# (and why, for an intermittent failure) without the build tree at hand.
#   scripts/test-failures.sh BUILD_DIR...
# The automake driver copies each result as PASS:/FAIL: lines; they are left
# out here.
for d in "$@"; do
  find "$d" -name '*.trs' 2>/dev/null
done | sort | while read -r trs; do
  grep -qE '^:test-result: (FAIL|XPASS|ERROR)' "$trs" || continue
  log=${trs%.trs}.log
  echo "---- failed: $log"
  awk '
    /^(not ok|Bail out!)/ { if (++failures > 10) exit; shown = 0; keep = 1; print; next }
    keep && /^#/ { if (++shown <= 40) print "  " $0; else if (shown == 41) print "  # ..."; next }
    { keep = 0 }
  ' "$log" 2>/dev/null
  echo "  last lines of the log:"
  grep -vE '^(PASS|FAIL|SKIP|XFAIL|XPASS|ERROR): ' "$log" 2>/dev/null | tail -n 12 | sed 's/^/  | /'
done
