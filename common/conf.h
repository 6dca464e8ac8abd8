/* SPDX-License-Identifier: GPL-2.0-or-later */
/* gpumarket.conf: the one strict parser every component (plugins, CLI) uses.
 * Key=Value lines like slurm.conf; see gpumarket.conf(5) for the keys. */
#ifndef GPUMARKET_COMMON_CONF_H
#define GPUMARKET_COMMON_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GM_CONF_DEFAULT_PATH "/etc/slurm/gpumarket.conf"
/* Longest line accepted, in bytes, newline excluded. */
#define GM_CONF_MAX_LINE 1024
/* Largest file accepted, in bytes. */
#define GM_CONF_MAX_SIZE (1024 * 1024)
/* Most GPU types one per-type list may name. */
#define GM_CONF_MAX_GPU_TYPES 64
/* Longest GPU type name (a Slurm gres type such as "h100"), in bytes. */
#define GM_CONF_MAX_GPU_TYPE_LEN 31
/* Longest MarketPartition / Currency / LedgerOrigin / path values, in bytes. */
#define GM_CONF_MAX_PARTITION_LEN 64
#define GM_CONF_MAX_CURRENCY_LEN  16
#define GM_CONF_MAX_ORIGIN_LEN    255
#define GM_CONF_MAX_PATH_LEN      4095
/* Upper bounds of the integer keys. */
#define GM_CONF_MAX_RESERVE_GPUS     1024
#define GM_CONF_MAX_DWELL_SECONDS    31536000 /* one year */
#define GM_CONF_MAX_CARBON_INTENSITY 5000     /* gCO2e/kWh */
#define GM_CONF_MAX_GPU_POWER_WATTS  100000   /* per GPU */
/* Most public keys VerifierKeys may list. */
#define GM_CONF_MAX_VERIFIER_KEYS 16
/* Most admins PolicyAdmins may list (and so the highest PolicyThreshold). */
#define GM_CONF_MAX_POLICY_ADMINS 16

/* A parsed configuration; opaque, read through the accessors below. */
struct gm_conf;

/* Read and check the file at `path` (NULL: GM_CONF_DEFAULT_PATH).  The file
 * must be a regular file of at most GM_CONF_MAX_SIZE bytes that other users
 * cannot write.  On success returns 0 and sets *conf, which the caller frees
 * with gm_conf_destroy.  On error returns -1, sets *conf to NULL and writes
 * one line into err, "FILE:LINE: KEY: what is wrong and what to do" (LINE
 * and KEY left out where they do not apply; no program prefix: the caller
 * adds "gpumarket: ", see common/text.h). */
int gm_conf_load(const char *path, struct gm_conf **conf, char *err, size_t errlen);

/* As gm_conf_load, from `len` bytes at `buf` (no terminating NUL needed);
 * `name` (e.g. the file's path) is what error messages call the input. */
int gm_conf_parse(const char *name, const char *buf, size_t len, struct gm_conf **conf, char *err,
                  size_t errlen);

/* Free a configuration (NULL is ignored). */
void gm_conf_destroy(struct gm_conf *conf);

/* The accessors below never fail; a string they return is owned by conf and
 * lives until gm_conf_destroy. */

/* MarketPartition: the partition whose nodes are offered and whose jobs are
 * market jobs.  Never NULL (the key is required). */
const char *gm_conf_market_partition(const struct gm_conf *conf);

/* ReserveGPUsPerNode: idle GPUs each node keeps back for local work (default 0). */
uint32_t gm_conf_reserve_gpus_per_node(const struct gm_conf *conf);

/* IdleDwellSeconds: how long a GPU must have been idle before it is offered
 * (default 300). */
int64_t gm_conf_idle_dwell_seconds(const struct gm_conf *conf);

/* ReservePrice for `gpu_type`, in micro-units per GPU-hour: the type's own
 * entry, else the list's default (a bare price).  Returns 0 and sets *price,
 * or -1 when the type has no reserve price: such GPUs are never offered. */
int gm_conf_reserve_price(const struct gm_conf *conf, const char *gpu_type, int64_t *price);

/* The explicit per-type ReservePrice entries, in file order: count, and the
 * i-th (type name owned by conf).  Returns 0, or -1 when i is out of range. */
size_t gm_conf_reserve_price_count(const struct gm_conf *conf);
int gm_conf_reserve_price_at(const struct gm_conf *conf, size_t i, const char **gpu_type,
                             int64_t *price);

/* The default ReservePrice (the bare entry).  Returns 0 and sets *price, or
 * -1 when the list has no default. */
int gm_conf_default_reserve_price(const struct gm_conf *conf, int64_t *price);

/* MaxBid: the highest bid accepted, micro-units per GPU-hour (default:
 * GM_MONEY_MAX, i.e. no cap). */
int64_t gm_conf_max_bid(const struct gm_conf *conf);

/* Currency: the code amounts are written in (default "USD"). */
const char *gm_conf_currency(const struct gm_conf *conf);

/* CarbonIntensity in gCO2e/kWh.  Returns 0 and sets *grams_per_kwh, or -1
 * when not configured (receipts then carry no emissions estimate). */
int gm_conf_carbon_intensity(const struct gm_conf *conf, int64_t *grams_per_kwh);

/* GPUPower for `type`, in watts per GPU: the type's own entry, else the
 * list's default (a bare WATTS).  Returns the watts (1..
 * GM_CONF_MAX_GPU_POWER_WATTS), or -1 when no power is configured for the
 * type (its receipts then carry no estimated energy).  Used to estimate a
 * segment's energy where Slurm does not meter it (market/energy.h). */
int64_t gm_conf_gpu_power(const struct gm_conf *conf, const char *type);

/* ReceiptKey: path of the receipt signing key (default
 * /etc/slurm/gpumarket.key). */
const char *gm_conf_receipt_key(const struct gm_conf *conf);

/* LedgerDir: directory of the ledger (default /var/spool/slurm/gpumarket). */
const char *gm_conf_ledger_dir(const struct gm_conf *conf);

/* Receipts: whether slurmctld records lease segments and writes their
 * receipts (default yes). */
bool gm_conf_receipts(const struct gm_conf *conf);

/* QuotePort: the TCP port on which the active slurmctld serves the market's
 * live quote (gpumarket quote/offers), or 0 when it serves none (default). */
uint32_t gm_conf_quote_port(const struct gm_conf *conf);

/* LedgerOrigin: the checkpoint origin line, or NULL when not configured. */
const char *gm_conf_ledger_origin(const struct gm_conf *conf);

/* VerifierKeys: the public key files (C2SP .vkey or PEM) that receipts
 * and checkpoints are verified against when the command line gives no
 * --pubkey: how many (0 when not set), and the i-th path (NULL when i is
 * out of range).  The ledger directory's own verifier-keys file is never
 * trusted in their place. */
size_t gm_conf_verifier_key_count(const struct gm_conf *conf);
const char *gm_conf_verifier_key(const struct gm_conf *conf, size_t i);

/* PolicyAdmins: the admins' public key files (C2SP .vkey, whose key name
 * names the admin, or PEM), how many (0 when governance is off), and the
 * i-th path (NULL out of range).  PolicyThreshold: how many distinct admins
 * must sign a policy change (0 when governance is off; never more than the
 * admins listed).  With both set, the market keys take effect only as a
 * policy accepted through the ledger (gpumarket policy, gpumarket(1)). */
size_t gm_conf_policy_admin_count(const struct gm_conf *conf);
const char *gm_conf_policy_admin(const struct gm_conf *conf, size_t i);
unsigned gm_conf_policy_threshold(const struct gm_conf *conf);

/* Whether `key` (exact spelling) is a market key, one a governance policy
 * sets: ReservePrice, ReserveGPUsPerNode, IdleDwellSeconds, MaxBid,
 * Currency, CarbonIntensity, GPUPower. */
bool gm_conf_is_market_key(const char *key);

/* Parse the market values of a governance policy with this file's value
 * parsers: n pairs names[i]=values[i] (exact key spelling, market keys only,
 * each once; ReservePrice required; the same cross-key checks as a file).
 * Keys left out take their defaults; the other keys are unset.  `name`
 * starts every message ("FILE: KEY: what is wrong").  On success 0 and
 * *conf (free with gm_conf_destroy); gm_conf_line reports i + 1 for the key
 * set by pair i.  -1 with *conf NULL and err set otherwise. */
int gm_conf_parse_policy_values(const char *name, const char *const *names,
                                const char *const *values, size_t n, struct gm_conf **conf,
                                char *err, size_t errlen);

/* The market keys set in conf (not left at their defaults), each with its
 * value as text that gm_conf_parse_policy_values reads back to the same
 * value: calls each(key, value, arg) in key order; returns how many. */
int gm_conf_market_values(const struct gm_conf *conf,
                          void (*each)(const char *key, const char *value, void *arg), void *arg);

/* A copy of `base` whose market values (the keys gm_conf_is_market_key
 * names) are those of `market`: the configuration slurmctld prices under
 * when a governance policy is in force.  NULL when memory runs out; free
 * with gm_conf_destroy. */
struct gm_conf *gm_conf_with_market(const struct gm_conf *base, const struct gm_conf *market);

/* Compare the market values of a and b (a policy's and a file's, say): calls
 * report(key, arg) for each market key whose effective value differs
 * (report may be NULL) and returns how many differ. */
int gm_conf_market_differences(const struct gm_conf *a, const struct gm_conf *b,
                               void (*report)(const char *key, void *arg), void *arg);

/* The line that set `key` (any case), or 0 when the key was not set (its
 * default applies) or is not a gpumarket.conf key; for callers' messages. */
unsigned gm_conf_line(const struct gm_conf *conf, const char *key);

/* The name given to gm_conf_load/gm_conf_parse (owned by conf). */
const char *gm_conf_name(const struct gm_conf *conf);

#endif
