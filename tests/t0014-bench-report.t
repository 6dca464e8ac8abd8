#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The benchmark report (bench/report.sh, what `make bench` ends with) on a
# fixed set of results, not a live run: every row in the table with its
# verdict (met, NO, no target, skipped, failed), the Markdown report with the
# machine's label and the numbers behind each plot, and real PNG files when
# gnuplot is installed; without gnuplot the report says so and still has
# every number.
. "$(dirname "$0")/tap/preamble.sh"

report=$top_srcdir/bench/report.sh
if command -v gnuplot >/dev/null 2>&1; then
  test_set_prereq GNUPLOT
else
  test_missing_prereq GNUPLOT "gnuplot is not installed (Debian: gnuplot-nox)"
fi

# fixture DIR: the results of a small run, as the benchmarks write them.
fixture() {
  mkdir -p "$1" &&
  cat >"$1/results.jsonl" <<'EOF' &&
{"name": "allreduce float sum 4 KiB np=2 vs MPI_Allreduce", "unit": "us", "ours": 12.5000, "baseline": 10.0000, "ratio": 1.250, "target": null, "higher_is_better": false, "rounds": 5, "spread": [1.100, 1.400], "range": [1.000, 1.500], "correct": true, "bytes": 4096, "ours_busbw_GBps": 0.328, "baseline_busbw_GBps": 0.410, "copy_GBps_at_size": 20.000, "fraction_of_copy": 0.050, "algorithm": "recursive doubling", "machine": {"l1d_KiB": 48, "l2_KiB": 2048, "l3_KiB": 491520, "copy_GBps_64MiB": 9.50, "copy_GBps_256KiB": 30.25, "ranks": 2}}
{"name": "allreduce float sum 1 MiB np=2 vs MPI_Allreduce", "unit": "us", "ours": 200.0000, "baseline": 250.0000, "ratio": 0.800, "target": 1.000, "higher_is_better": false, "rounds": 5, "spread": [0.750, 0.850], "range": [0.700, 0.900], "correct": true, "bytes": 1048576, "ours_busbw_GBps": 5.243, "baseline_busbw_GBps": 4.194, "copy_GBps_at_size": 15.000, "fraction_of_copy": 0.300, "algorithm": "ring", "machine": {"l1d_KiB": 48, "l2_KiB": 2048, "l3_KiB": 491520, "copy_GBps_64MiB": 9.50, "copy_GBps_256KiB": 30.25, "ranks": 2}}
{"name": "allreduce float sum 4 MiB np=2 vs MPI_Allreduce", "unit": "us", "ours": 1000.0000, "baseline": 800.0000, "ratio": 1.250, "target": 1.000, "higher_is_better": false, "rounds": 5, "spread": [1.200, 1.300], "range": [1.100, 1.400], "correct": true, "bytes": 4194304, "ours_busbw_GBps": 4.194, "baseline_busbw_GBps": 5.243, "copy_GBps_at_size": 9.500, "fraction_of_copy": 0.200, "algorithm": "ring", "machine": {"l1d_KiB": 48, "l2_KiB": 2048, "l3_KiB": 491520, "copy_GBps_64MiB": 9.50, "copy_GBps_256KiB": 30.25, "ranks": 2}}
{"name": "receipts signed per second vs raw OpenSSL Ed25519", "unit": "receipts/s", "ours": 20000, "baseline": 25000, "ratio": 0.800, "target": 0.7, "higher_is_better": true}
{"name": "select_jobs_started_per_second", "unit": "jobs/s", "ours": 3.000, "baseline": 4.000, "ratio": 0.750, "target": 0.95, "higher_is_better": true}
{"name": "full market decision, 1000 GPUs", "unit": "us", "ours": 40.600, "baseline": null, "ratio": null, "target": 100.000, "higher_is_better": false}
{"name": "receipt_latency_job_end_to_ledger_median", "unit": "s", "ours": 1.5, "baseline": null, "ratio": null, "target": null, "higher_is_better": false}
{"name": "bench-cuda-reduce", "skipped": "not built: no nvcc and cuda_runtime.h under /usr/local/cuda"}
{"name": "bench-settlement (exit status 1)", "failed": "gpumarket: bench: 3 appends \"failed\""}
EOF
  cat >"$1/machine.json" <<'EOF' &&
{"cpu_model": "Fixture CPU 9000", "cores": 2, "l1d": "96 KiB (2 instances)", "l2": "4 MiB (2 instances)", "l3": "480 MiB (1 instance)", "memory": "7.8 GiB", "system": "Linux 6.1.0 x86_64"}
EOF
  printf '%s\n' '# waits' 'cons_tres 0' 'cons_tres 1' 'cons_tres 6' 'gpumarket 0' 'gpumarket 2' \
    'gpumarket 7' >"$1/select-latency.dat" &&
  printf '%s\n' '# From the fixture.' '0.000 h100 1.00 8 0' '1.500 h100 2.00 4 6' '3.000 h100 3.25 4 9' \
    '9.000 h100 1.00 8 2' >"$1/select-market.dat"
}

# row NAME: the table's line for the benchmark NAME.
row() { grep -F "$1" table; }

test_expect_success 'the report is written from a fixed results file' '
  fixture run &&
  sh "$report" --dir run >table 2>err &&
  test_grep "the report is in run/report.md, with [0-9] plots beside it" err && cp err report-err &&
  test -s run/report.md
'

test_expect_success 'the table has every row, ours, baseline, ratio, target and spread' '
  test_grep "^benchmark  *unit  *ours  *baseline  *ratio  *target  *spread  *meets" table &&
  test "$(grep -c -e " yes$" -e " NO$" -e " no target$" -e " skipped: " -e " failed: " table)" = 9 &&
  row "allreduce float sum 1 MiB np=2" >r &&
  test_grep -E " us +200\.0000 +250\.0000 +0\.800 +1\.000 +0\.750-0\.850 +yes$" r
'

test_expect_success 'a ratio held to its target: yes when met, NO when not (both directions)' '
  row "allreduce float sum 4 MiB np=2" | test_grep -E " 1\.250 +1\.000 .* NO$" - &&
  row "receipts signed per second" | test_grep -E " 0\.800 +0\.7 .* yes$" - &&
  row "select_jobs_started_per_second" | test_grep -E " 0\.750 +0\.95 .* NO$" -
'

test_expect_success 'with no baseline the figure itself is held to the target' '
  row "full market decision" | test_grep -E " 40\.600 +- +- +100\.000 .* yes$" -
'

test_expect_success 'a row without a target says so and is not counted as met or missed' '
  row "allreduce float sum 4 KiB np=2" | test_grep -E " - +1\.100-1\.400 +no target$" - &&
  row "receipt_latency_job_end_to_ledger_median" | test_grep -E " no target$" -
'

test_expect_success 'a benchmark that cannot run here and one that failed keep their rows, with the reason' '
  row "bench-cuda-reduce" | test_grep "skipped: not built: no nvcc and cuda_runtime.h under /usr/local/cuda$" - &&
  row "bench-settlement (exit status 1)" | test_grep "failed: gpumarket: bench: 3 appends \"failed\"$" - &&
  test_grep "^9 rows: 3 meet their target, 2 do not (NO), 2 have no target, 1 skipped, 1 failed$" table
'

test_expect_success 'the Markdown report labels the machine' '
  test_grep "^| CPU | Fixture CPU 9000 |$" run/report.md &&
  test_grep "^| cores | 2 |$" run/report.md &&
  test_grep "^| caches | L1d 96 KiB (2 instances), L2 4 MiB (2 instances), L3 480 MiB (1 instance) |$" run/report.md &&
  test_grep "^| memory-copy bandwidth, 2 ranks copying at once | 9.50 GB/s at 64 MiB (out of cache), 30.25 GB/s at 256 KiB |$" run/report.md
'

test_expect_success 'the Markdown table has each row with its verdict' '
  test_grep "^| allreduce float sum 1 MiB np=2 vs MPI_Allreduce | us | 200.0000 | 250.0000 | 0.800 | 1.000 | 0.750-0.850 | yes |$" run/report.md &&
  test_grep "^| allreduce float sum 4 MiB np=2 vs MPI_Allreduce | .* | \*\*NO\*\* |$" run/report.md &&
  test_grep "^| receipt_latency_job_end_to_ledger_median | s | 1.5 | - | - | - | - | no target |$" run/report.md &&
  test_grep "^| bench-cuda-reduce | | | | | | | skipped: not built: " run/report.md &&
  test_grep "^| bench-settlement (exit status 1) | | | | | | | \*\*failed\*\*: " run/report.md &&
  test "$(grep -c "^| .* | \(yes\|\*\*NO\*\*\|no target\|skipped: .*\|\*\*failed\*\*: .*\) |$" run/report.md)" = 9
'

test_expect_success 'the numbers behind the plots are listed' '
  test_grep "^| 4096 | 0.328 | 0.410 | 20.000 |$" run/report.md &&
  test_grep "^| 4194304 | 4.194 | 5.243 | 9.500 |$" run/report.md &&
  test_grep "^h100: 4 market computations over 9.000 s; price 1.00 to 3.25 per GPU-hour; supply up to 8 GPUs, demand up to 9 GPUs.$" run/report.md &&
  test_grep "^| cons_tres | 3 | 1 | 6 | 6 |$" run/report.md &&
  test_grep "^| gpumarket | 3 | 2 | 7 | 7 |$" run/report.md
'

# is_png FILE: FILE starts with the PNG signature and an IHDR chunk.
is_png() {
  test "$(head -c 16 "$1" | od -An -tx1 | tr -d " \n")" = 89504e470d0a1a0a0000000d49484452
}

test_expect_success GNUPLOT 'with gnuplot the report embeds three plots, each a real PNG' '
  for png in allreduce-busbw-np2.png market-h100.png select-latency.png; do
    test_grep "^!\[.*\]($png)$" run/report.md &&
    is_png "run/$png" || return 1
  done &&
  test_grep -v "gnuplot is not installed" run/report.md &&
  test_grep "with 3 plots beside it" report-err
'

test_expect_success 'without gnuplot the report says so, has no plot and still every number' '
  fixture noplot &&
  GNUPLOT=/nonexistent/gnuplot sh "$report" --dir noplot >table2 2>err &&
  test_grep "gnuplot is not installed" err &&
  test_grep "with 0 plots beside it" err &&
  test_grep "^gnuplot is not installed (Debian package \`gnuplot-nox\`" noplot/report.md &&
  test_grep -v "^!\[" noplot/report.md &&
  ! ls noplot/*.png 2>/dev/null &&
  test_cmp table table2 &&
  test_grep "^| 1048576 | 5.243 | 4.194 | 15.000 |$" noplot/report.md
'

test_expect_success 'without the series files the report says which benchmark did not run' '
  fixture bare && rm bare/select-market.dat bare/select-latency.dat bare/machine.json &&
  sh "$report" bare/results.jsonl >/dev/null 2>err &&
  test_grep "^No market series" bare/report.md &&
  test_grep "^No per-job waits" bare/report.md &&
  test_grep "^| CPU | not recorded (no machine.json) |$" bare/report.md
'

test_expect_success 'a missing results file is refused with what to do' '
  test_must_fail sh "$report" --dir nowhere 2>err &&
  test_grep "gpumarket: bench/report.sh: cannot read nowhere/results.jsonl; run .make bench. first" err
'

test_done
