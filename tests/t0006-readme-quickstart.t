#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The README's quick start is exactly two commands that work verbatim as root
# on a fresh Debian 12: each names an executable script of this repository,
# neither uses sudo (a fresh machine where you are root has none), and the
# first step both take (install-deps.sh) runs as root without calling sudo.
# The README's account of the demo names its last step (receipts from
# slurmctld, verified), and demo.sh runs that step.
. "$(dirname "$0")/tap/preamble.sh"

readme=$top_srcdir/README.md
# The shell block that follows "## Quick start", comments and blank lines out.
sed -n '/^## Quick start/,/^## /p' "$readme" |
  sed -n '/^```sh$/,/^```$/{/^```/d;p}' |
  sed -e 's/[[:space:]]*#.*$//' -e '/^[[:space:]]*$/d' >quickstart

test_expect_success 'the quick start is exactly two commands' '
  test_line_count = 2 quickstart
'

test_expect_success 'neither command uses sudo' '
  test_grep -v -w sudo quickstart
'

test_expect_success 'each command is a script of the repository, run from its top, with no argument' '
  while read -r cmd rest; do
    case $cmd in ./scripts/*) ;; *) echo "not ./scripts/...: $cmd" && return 1 ;; esac &&
    test -z "$rest" || { echo "arguments after $cmd: $rest"; return 1; }
  done <quickstart
'

test_expect_success 'each script exists, is executable and starts with a #! line' '
  while read -r cmd; do
    test -f "$top_srcdir/$cmd" && test -x "$top_srcdir/$cmd" &&
    head -n 1 "$top_srcdir/$cmd" | grep -q "^#!" || { echo "bad script: $cmd"; return 1; }
  done <quickstart
'

test_expect_success 'the scripts themselves never run sudo' '
  while read -r cmd; do
    test_grep -v -E "^[^#]*(^|[;&|[:space:]])sudo[[:space:]]" "$top_srcdir/$cmd" || return 1
  done <quickstart
'

# What the README says the demo shows last, and what demo.sh does at that
# step: the receipts slurmctld wrote, verified by the buyer and an auditor.
sed -n '/^## Quick start/,/^## /p' "$readme" | sed -n '/^The demo starts/,/^$/p' | tr '\n' ' ' >demo-text
test_expect_success 'the README says the demo ends with the receipts, verified' '
  for s in "select/cons_tres_gpumarket" "one receipt per lease" "gpumarket receipts list" \
    "price locked" "ledger checkpoint" "gpumarket ledger verify --pubkey" "openssl"; do
    grep -q -F "$s" demo-text || { echo "the demo paragraph does not mention: $s"; return 1; }
  done
'

test_expect_success 'the README says the demo plays the whole market, checked, with a report' '
  for s in "gpumarket.conf" "ReserveGPUsPerNode=1" "gpumarket keygen" "gpumarket quote" \
    "gpumarket offers" "price rises with demand" "below the" "cheapest lease first" \
    "exactly the loss of an uninterrupted run" "JSON lines and CSV" "summary per buyer" \
    "price per GPU" "exits 0 only if every check held" "report.md"; do
    grep -q -F "$s" demo-text || { echo "the demo paragraph does not mention: $s"; return 1; }
  done
'

test_expect_success 'demo.sh runs what the README says, on the select plugin, and fails when the ledger does not verify' '
  demo=$top_srcdir/scripts/demo.sh &&
  for s in "up --nodes 3 --gpus-per-node 4 --gpu-type h100 --select gpumarket" \
    "run gpumarket receipts list --config" "receipt_summary" "gpumarket ledger checkpoint --config" \
    "gpumarket ledger verify --config" "verify_with_openssl"; do
    grep -q -F -e "$s" "$demo" || { echo "demo.sh does not run: $s"; return 1; }
  done &&
  grep -q -F "fail \"the ledger does not verify with the cluster" "$demo"
'

test_expect_success 'demo.sh plays each step of the market scenario and checks it' '
  demo=$top_srcdir/scripts/demo.sh &&
  for s in "ReserveGPUsPerNode=1" "IdleDwellSeconds=\$dwell" "run gpumarket keygen --config" \
    "run gpumarket quote" "run gpumarket offers" "--market-bid=0.50" "--ntasks-per-node=3 --gres=gpu:3" \
    "over_reserve" "--format csv" "demo_summary" "report.md" "verify_with_openssl"; do
    grep -q -F -e "$s" "$demo" || { echo "demo.sh does not run: $s"; return 1; }
  done &&
  test "$(grep -c "^check \"" "$demo")" -ge 15 &&
  grep -q "^if \[ \${#failed\[@\]} -gt 0 \]; then" "$demo" &&
  sed -n "/^if \[ \${#failed/,/^fi/p" "$demo" | grep -q "exit 1"
'

if [ "$(id -u)" -eq 0 ]; then
  test_set_prereq ROOT
else
  test_missing_prereq ROOT "install-deps.sh is run as root here, as the quick start does"
fi
mkdir -p nosudo
cat >nosudo/sudo <<'STUB'
#!/bin/sh
echo "sudo was called: $*" >&2
exit 1
STUB
chmod +x nosudo/sudo

test_expect_success ROOT 'as root, install-deps.sh (the first step of both) does not call sudo' '
  PATH=$PWD/nosudo:$PATH "$top_srcdir/scripts/install-deps.sh" >out 2>&1 &&
  test_grep -v "sudo was called" out
'

test_done
