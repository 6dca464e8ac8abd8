#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Count the TAP results of one or more build trees (Automake's .trs files) and
# print the closing line "N passed, N failed, N skipped".
#   scripts/test-summary.sh [--label WORD] BUILD_DIR...
label=
if [ "${1:-}" = --label ]; then label="$2: "; shift 2; fi
for d in "$@"; do
  find "$d" -name '*.trs' 2>/dev/null
done | xargs -r cat | awk -v label="$label" '
  /^:test-result: (PASS|XFAIL)/ { pass++ }
  /^:test-result: (FAIL|XPASS|ERROR)/ { fail++ }
  /^:test-result: SKIP/ { skip++ }
  END { printf "%s%d passed, %d failed, %d skipped\n", label, pass, fail, skip }'
