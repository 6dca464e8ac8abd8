# SPDX-License-Identifier: GPL-2.0-or-later
# Fixtures for the setup many shell tests repeat (sourced by preamble.sh).

# fixture_keys [NAME]: a receipt signing key pair in TEST_TMPDIR (receipt.key,
# receipt.pub, made by `gpumarket keygen --name NAME`, default
# cluster.example/ledger) and an empty ledger directory beside it; exports
# GPUMARKET_RECEIPT_KEY and GPUMARKET_LEDGER_DIR for the gpumarket command and
# sets RECEIPT_PUB.  A failure stops the test (nothing after it can run).
fixture_keys() {
  local name=${1:-cluster.example/ledger} out
  out=$(gpumarket keygen --name "$name" --out "$TEST_TMPDIR/receipt" 2>&1) ||
    bail_out "fixture_keys: gpumarket keygen --name $name failed: $out"
  export GPUMARKET_RECEIPT_KEY=$TEST_TMPDIR/receipt.key
  export GPUMARKET_LEDGER_DIR=$TEST_TMPDIR/ledger
  RECEIPT_PUB=$TEST_TMPDIR/receipt.pub
}

# sample_receipt [FIELD=VALUE...]: print the sample unsigned receipt (one
# JSON line, fields in the order the ledger writes them) with the given
# fields changed; FIELD= (empty) leaves an optional field out.  Numbers stay
# numbers: a field whose sample value is a number takes VALUE as is.
#   sample_receipt job_id=78 user=bob end_reason=completed energy_mj=
sample_receipt() {
  local -a order=(version cluster job_id segment user account nodes gpu_type gpu_count start end
    price_micro_per_gpu_hour end_reason energy_mj)
  local -A v=([version]=1 [cluster]='"alpha"' [job_id]=77 [segment]=0 [user]='"ada"'
    [account]='"phys"' [nodes]='"gpu[01-02]"' [gpu_type]='"h100"' [gpu_count]=8
    [start]=1700000000 [end]=1700000600 [price_micro_per_gpu_hour]=2500000
    [end_reason]='"preempted"' [energy_mj]=5000000)
  local kv key val f line= sep=
  for kv in "$@"; do
    key=${kv%%=*} val=${kv#*=}
    [ "$key" != "$kv" ] && [ -n "${v[$key]+set}" ] || {
      echo "sample_receipt: '$kv' is not FIELD=VALUE for a field of the sample (${order[*]})" >&2
      return 2
    }
    if [ -z "$val" ]; then v[$key]=
    else case $key in
      cluster | user | account | nodes | gpu_type | end_reason) v[$key]="\"$val\"" ;;
      *) v[$key]=$val ;;
      esac
    fi
  done
  for f in "${order[@]}"; do
    [ -n "${v[$f]}" ] || continue
    line+="$sep\"$f\":${v[$f]}" sep=,
  done
  echo "{$line}"
}
