# SPDX-License-Identifier: GPL-2.0-or-later
# Functions of scripts/demo.sh that tests call too (tests/t0007-demo-messages.t).

# segment_status RC: the line the demo's training job prints when one segment
# of the job ends with exit status RC.  75 is GMPI_EXIT_PREEMPTED
# (gpumarket_mpi.h): the ranks agreed on a preemption notice, saved a
# checkpoint and exited so that Slurm requeues the job (RequeueExit=75).
segment_status() {
  local rc=$1
  case $rc in
    0) echo "segment ended with status 0: the training finished" ;;
    75) echo "segment ended with status 75: checkpoint saved after a preemption notice; Slurm requeues the job" ;;
    *)
      if [ "$rc" -gt 128 ] 2>/dev/null; then
        echo "segment ended with status $rc: killed by signal $((rc - 128))"
      else
        echo "segment ended with status $rc: the training failed (its messages are above)"
      fi
      ;;
  esac
}

# The demo's last step: what the buyer and an auditor get.  Each function
# reads signed receipts as `gpumarket receipts export` prints them (one
# {"receipt":{...},"signature":"..."} line each) and, when something is
# missing or wrong, says so on standard error and returns non-zero.

# receipt_field LINE NAME: the value of field NAME of a signed receipt line
# (receipts hold integers and strings only, strings without escapes here).
receipt_field() {
  sed -n 's/.*[{,]"'"$2"'":\("\([^"\\]*\)"\|\(-\{0,1\}[0-9][0-9]*\)\)[,}].*/\2\3/p' <<<"$1"
}

# money MICRO: micro-units as units with at least two decimals (1.00, 0.066666).
money() {
  local m=$1 f
  f=$(printf '%06d' $((m % 1000000)))
  f=${f%"${f##*[!0]}"}
  while [ ${#f} -lt 2 ]; do f=${f}0; done
  echo "$((m / 1000000)).$f"
}

# receipt_summary LINE [CURRENCY]: one line a buyer reads: the segment, its
# GPUs and time, the price locked at its start and what it costs.  Checks
# the billing rule (gpu_seconds = gpu_count x (end - start), amount =
# gpu_seconds x price / 3600 rounded down) and fails if the receipt breaks it.
receipt_summary() {
  local line=$1 cur=${2:-units} job seg n type nodes start end gs price amount reason
  job=$(receipt_field "$line" job_id) seg=$(receipt_field "$line" segment)
  n=$(receipt_field "$line" gpu_count) type=$(receipt_field "$line" gpu_type)
  nodes=$(receipt_field "$line" nodes) start=$(receipt_field "$line" start)
  end=$(receipt_field "$line" end) gs=$(receipt_field "$line" gpu_seconds)
  price=$(receipt_field "$line" price_micro_per_gpu_hour)
  amount=$(receipt_field "$line" amount_micro) reason=$(receipt_field "$line" end_reason)
  if [ -z "$job" ] || [ -z "$seg" ] || [ -z "$price" ] || [ -z "$amount" ] || [ -z "$reason" ]; then
    echo "not a signed receipt: $line" >&2
    return 1
  fi
  if [ "$gs" != $((n * (end - start))) ] || [ "$amount" != $((gs * price / 3600)) ]; then
    echo "receipt of job $job segment $seg breaks the billing rule: $n GPUs x $((end - start)) s = $gs GPU-s at $price/GPU-hour billed $amount" >&2
    return 1
  fi
  printf 'job %s segment %s: %s x %s on %s for %s s = %s GPU-s at %s %s/GPU-hour (locked at start) = %s %s, %s\n' \
    "$job" "$seg" "$n" "$type" "$nodes" "$((end - start))" "$gs" "$(money "$price")" "$cur" \
    "$(money "$amount")" "$cur" "$reason"
}

# segments_are FILE JOB WANT: the receipts of JOB in FILE are exactly the
# segments WANT ("0:preempted 1:completed"), in that order.
segments_are() {
  local got
  got=$(while IFS= read -r l; do
          [ "$(receipt_field "$l" job_id)" = "$2" ] || continue
          printf '%s:%s ' "$(receipt_field "$l" segment)" "$(receipt_field "$l" end_reason)"
        done <"$1")
  got=${got% }
  [ "$got" = "$3" ] && return 0
  echo "job $2 has receipts for segments '${got:-none}', expected '$3'" >&2
  return 1
}

# wait_receipts SECONDS COMMAND...: run COMMAND (it succeeds once the
# receipts are there) every half second until it does, for at most SECONDS;
# slurmctld's writer thread appends a receipt within a second or so of the
# segment's end.
wait_receipts() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then
      "$@" # once more, with its message
      return 1
    fi
    sleep 0.5
  done
}

# verify_with_openssl DIR: in DIR, check r.json (one signed receipt) against
# cluster.pub with the commands of gpumarket(1), RECEIPT FORMAT: sed, tr,
# base64 and openssl alone.  Prints each command, then openssl's verdict.
verify_with_openssl() {
  (
    cd "$1" || exit 1
    while IFS= read -r c; do
      printf '$ %s\n' "$c"
      eval "$c" || { echo "this command failed in $1: $c" >&2; exit 1; }
    done <<'CMDS'
sed 's/^{"receipt":\(.*\),"signature":"\([^"]*\)"}$/\1/' r.json | tr -d '\n' > bytes
sed 's/^{"receipt":\(.*\),"signature":"\([^"]*\)"}$/\2/' r.json | base64 -d > sig
openssl pkeyutl -verify -rawin -pubin -inkey cluster.pub -in bytes -sigfile sig
CMDS
  )
}

# ---- The market scenario's bookkeeping (tests/t0007-demo-messages.t).

# market_gpus_per_node [PARTITION]: "NODE GPUS" for every node where
# running jobs of the market partition hold GPUs now, from the allocation
# itself (`scontrol show job -d`: one "Nodes=... GRES=gpu:TYPE:N(IDX:...)"
# line per node), so --gpus spread over nodes counts where it landed.
market_gpus_per_node() {
  scontrol show job -d 2>/dev/null | awk -v part="${1:-market}" '
    /^JobId=/ { market = 0; running = 0 }
    / Partition=/ { market = ($0 ~ ("Partition=" part "( |$)")) }
    / JobState=/ { running = ($0 ~ /JobState=RUNNING/) }
    /^ +Nodes=.*GRES=gpu/ {
      if (!market || !running) next
      match($0, /Nodes=[^ ]*/); nodes = substr($0, RSTART + 6, RLENGTH - 6)
      match($0, /GRES=gpu(:[a-z0-9_]*)?:[0-9]+/); g = substr($0, RSTART, RLENGTH); sub(/.*:/, "", g)
      print nodes, g
    }' | while read -r nodes n; do
    scontrol show hostnames "$nodes" 2>/dev/null | sed "s/\$/ $n/"
  done | awk '{ s[$1] += $2 } END { for (n in s) print n, s[n] }' | sort
}

# over_reserve FILE TOTAL RESERVE: the samples of FILE ("TIME NODE GPUS"
# lines) where market jobs held more than TOTAL - RESERVE GPUs of a node;
# fails when there is one.
over_reserve() {
  awk -v max=$(($2 - $3)) '$3 > max { print; bad = 1 } END { exit bad }' "$1"
}

# quote_prices FILE: from `gpumarket quote --json` documents (one a line),
# the market of each type each time it changed: "TIME TYPE PRICE SUPPLY
# DEMAND WAITING" (time in seconds from the first document, money in
# micro-units).
quote_prices() {
  python3 -c '
import json, sys
last, t0 = {}, None
for line in open(sys.argv[1]):
    try:
        d = json.loads(line)
    except ValueError:
        continue
    if not d.get("snapshot_time"):
        continue
    t0 = d["snapshot_time"] if t0 is None else t0
    for m in d.get("markets", []):
        row = (m["price_micro"], m["supply"], m["demand"], m["waiting_jobs"])
        if last.get(m["type"]) != row:
            last[m["type"]] = row
            print(d["snapshot_time"] - t0, m["type"], *row)
' "$1"
}

# demo_summary RECEIPTS QUOTE-PRICES VERIFIED CURRENCY: the Markdown summary
# of the scenario: per buyer (account) its jobs, segments, GPU-seconds and
# amount; the preemptions; the price per GPU type over time; how many
# receipts verified.
demo_summary() {
  python3 - "$@" <<'PY'
import json, sys
receipts, prices, verified, cur = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
def money(m):
    return "%d.%02d" % (m // 1000000, (m % 1000000) // 10000) if m % 10000 == 0 else "%.6f" % (m / 1e6)
rs = [json.loads(l)["receipt"] for l in open(receipts) if l.strip()]
buyers = {}
for r in rs:
    b = buyers.setdefault(r["account"], {"jobs": set(), "segments": 0, "gs": 0, "amount": 0, "pre": 0})
    b["jobs"].add(r["job_id"]); b["segments"] += 1; b["gs"] += r["gpu_seconds"]
    b["amount"] += r["amount_micro"]; b["pre"] += r["end_reason"] == "preempted"
print("## Buyers\n")
print("| buyer (account) | jobs | segments | GPU-seconds | amount (%s) | preemptions |" % cur)
print("|---|---:|---:|---:|---:|---:|")
t = {"jobs": 0, "segments": 0, "gs": 0, "amount": 0, "pre": 0}
for name in sorted(buyers):
    b = buyers[name]
    print("| %s | %d | %d | %d | %s | %d |" % (name, len(b["jobs"]), b["segments"], b["gs"], money(b["amount"]), b["pre"]))
    t["jobs"] += len(b["jobs"]); t["segments"] += b["segments"]; t["gs"] += b["gs"]; t["amount"] += b["amount"]; t["pre"] += b["pre"]
print("| **all** | %d | %d | %d | %s | %d |" % (t["jobs"], t["segments"], t["gs"], money(t["amount"]), t["pre"]))
print("\n## Lease segments\n")
print("| job | segment | buyer | GPUs | seconds | price/GPU-hour | amount | end |")
print("|---:|---:|---|---:|---:|---:|---:|---|")
for r in rs:
    print("| %d | %d | %s | %d x %s | %d | %s | %s | %s |" % (r["job_id"], r["segment"], r["account"], r["gpu_count"], r["gpu_type"],
          r["end"] - r["start"], money(r["price_micro_per_gpu_hour"]), money(r["amount_micro"]), r["end_reason"]))
print("\n## Price per GPU type over time\n")
print("| t (s) | type | price/GPU-hour | offered GPUs | demanded GPUs | waiting jobs |")
print("|---:|---|---:|---:|---:|---:|")
for line in open(prices):
    f = line.split()
    if len(f) == 6:
        print("| %s | %s | %s | %s | %s | %s |" % (f[0], f[1], money(int(f[2])), f[3], f[4], f[5]))
print("\n## Receipts\n")
print("%d of %d receipts verified with the cluster's public key." % (verified, len(rs)))
PY
}
