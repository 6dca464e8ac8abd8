#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Every libFuzzer target (each parser a user or another host can reach) runs
# briefly from its seed corpus, so `make check` catches a crash the corpus or
# a few seconds of mutation can find.  `make fuzz` runs them longer.
. "$(dirname "$0")/tap/tap.sh"

seconds=${FUZZ_SMOKE_SECONDS:-2}
# target binary (relative to the build tree) : seed corpus (relative to the source tree)
targets=(
  common/test/fuzz-conf:common/test/corpus/conf
  market/fuzz/fuzz-flags:market/fuzz/corpus/flags
  market/fuzz/fuzz-decide:market/fuzz/corpus/decide
  settlement/fuzz/fuzz-receipt:settlement/fuzz/corpus/receipt
  settlement/fuzz/fuzz-record:settlement/fuzz/corpus/record
  settlement/fuzz/fuzz-checkpoint:settlement/fuzz/corpus/checkpoint
  settlement/fuzz/fuzz-key:settlement/fuzz/corpus/key
  settlement/fuzz/fuzz-policy:settlement/fuzz/corpus/policy
)

if [ "${CLANG:-no}" = no ]; then
  skip_all "configure found no clang, so no fuzz target was built (install the Debian packages clang and libclang-rt-14-dev, then re-run configure)"
fi

plan $((${#targets[@]} * 2))
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for entry in "${targets[@]}"; do
  bin=$top_builddir/${entry%%:*}
  corpus=$top_srcdir/${entry#*:}
  name=$(basename "$bin")
  if ! [ -x "$bin" ]; then
    ok 1 "$name is built (make check builds every fuzz target when clang is present)"
    skip 1 "$name is missing"
    continue
  fi
  ok 0 "$name is built"
  key=
  # The key target also needs a real private key among its seeds.
  [ "$name" = fuzz-key ] && key=private.pem
  # scripts/fuzz-run.sh, as `make fuzz` runs each target; its crash inputs
  # land in the directory it runs in.
  if (cd "$work" && sh "$top_srcdir/scripts/fuzz-run.sh" "$bin" "$corpus" "$work/$name" \
    "$seconds" $key >"$work/$name.out" 2>&1); then
    ok 0 "$name: ${seconds} s from its seed corpus, no crash, leak or undefined behaviour"
  else
    ok 1 "$name: ${seconds} s from its seed corpus, no crash, leak or undefined behaviour"
    diag "$(tail -n 30 "$work/$name.out")"
    for c in "$work"/crash-* "$work"/leak-* "$work"/oom-* "$work"/timeout-*; do
      [ -e "$c" ] && diag "input: $(od -An -c "$c" | head -n 5)"
    done
  fi
done
finish
