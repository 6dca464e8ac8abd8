#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Name every test script that failed in one or more build trees, with its
# failing TAP lines and the last lines of its log, so that the tail of a CI
# run says what broke without the build tree at hand.
#   scripts/test-failures.sh BUILD_DIR...
for d in "$@"; do
  find "$d" -name '*.trs' 2>/dev/null
done | sort | while read -r trs; do
  grep -qE '^:test-result: (FAIL|XPASS|ERROR)' "$trs" || continue
  log=${trs%.trs}.log
  echo "---- failed: $log"
  grep -E '^(not ok|Bail out!)' "$log" 2>/dev/null | head -20
  echo "  last lines of the log:"
  tail -n 15 "$log" 2>/dev/null | sed 's/^/  | /'
done
