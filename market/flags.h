/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The buyer's market flags (--market-bid, ...): parsing, checking and the
 * names they travel under.  Pure logic, no Slurm header: the SPANK plugin is
 * a thin adapter around it, and the unit tests drive it directly. */
#ifndef GPUMARKET_MARKET_FLAGS_H
#define GPUMARKET_MARKET_FLAGS_H

#include <stddef.h>
#include <stdint.h>

enum gm_flag {
    GM_FLAG_BID,            /* --market-bid: price per GPU-hour, micro-units */
    GM_FLAG_MAX_COST,       /* --market-max-cost: cap on the lease, micro-units */
    GM_FLAG_CHECKPOINT_DIR, /* --market-checkpoint-dir: absolute path */
    GM_FLAG_ORDER,          /* --market-order: the external market's reference */
    GM_FLAG_COUNT
};

/* Longest accepted values, in bytes. */
#define GM_FLAG_MAX_PATH  4095
#define GM_FLAG_MAX_ORDER 64
/* Longest raw value kept for messages; longer input is refused outright. */
#define GM_FLAG_MAX_INPUT 4096

/* How one flag is spelled on the command line, in the environment fallback,
 * in the job's control environment (to slurmctld) and in the tasks. */
struct gm_flag_info {
    const char *option;  /* "market-bid" (without the dashes) */
    const char *arginfo; /* "PRICE" */
    const char *usage;   /* the --help text, starting with "[gpumarket]" */
    const char *env;     /* "GPUMARKET_BID": the fallback the user may set */
    const char *control; /* "GPUMARKET_BID_MICRO": sent to slurmctld, given to tasks */
};

/* The table entry of `flag` (never NULL for a valid flag). */
const struct gm_flag_info *gm_flag_info(enum gm_flag flag);

/* The terms a buyer gave; zero-initialise before use. */
struct gm_market_terms {
    unsigned set;           /* bit (1 << flag) per flag given */
    int64_t bid_micro;      /* > 0 when set */
    int64_t max_cost_micro; /* > 0 when set */
    char checkpoint_dir[GM_FLAG_MAX_PATH + 1];
    char order[GM_FLAG_MAX_ORDER + 1];
};

/* Check `value` for `flag` and record it in *terms.  `source` names where
 * the value came from in messages ("--market-bid", "GPUMARKET_BID").
 * `max_bid` is the cluster's MaxBid in micro-units (a bid above it is refused).
 * A flag given again with the same value (as #SBATCH lines, the environment
 * and the command line may do) is accepted; with a different value it is
 * refused, so that money never depends on which copy Slurm read last.
 * Returns 0, or -1 with a one-line message in err that starts with
 * "SOURCE: " and says what is allowed (no program prefix: the adapter adds
 * "gpumarket: "); *terms is then unchanged. */
int gm_flags_set(struct gm_market_terms *terms, enum gm_flag flag, const char *value,
                 const char *source, int64_t max_bid, char *err, size_t errlen);

/* Whether `flag` was given. */
int gm_flags_isset(const struct gm_market_terms *terms, enum gm_flag flag);

/* Write the canonical value of a set `flag` (micro-units as a decimal
 * integer, paths and orders as given) into buf, as it travels in the
 * control environment.  Returns its length, or -1 when unset or buf is too
 * small. */
int gm_flags_control_value(const struct gm_market_terms *terms, enum gm_flag flag, char *buf,
                           size_t buflen);

/* Read a control-environment value (as gm_flags_control_value wrote it) back
 * into *terms, checking it as strictly as the flag itself: a job's
 * environment reaches slurmstepd through the user's hands.  `max_bid` as for
 * gm_flags_set.  Returns 0, or -1 with a message naming the variable. */
int gm_flags_import(struct gm_market_terms *terms, enum gm_flag flag, const char *value,
                    int64_t max_bid, char *err, size_t errlen);

/* Read the buyer's terms from a job's control environment as slurmctld keeps
 * it (the job record's spank_job_env: `count` entries "NAME=value" without
 * a prefix, in the user's hands), with no SPANK handle: the select plugin
 * calls this inside slurmctld to check a job again before money depends on
 * it.  Entries that are NULL or name no market flag are skipped; each
 * GPUMARKET_*_MICRO, GPUMARKET_CHECKPOINT_DIR and GPUMARKET_ORDER value is
 * checked as gm_flags_import checks it, and a name given twice must carry
 * the same value.  *terms is zeroed first; `max_bid` as for gm_flags_set.
 * Returns 0 (terms->set says which flags were present, none is fine), or -1
 * with a message naming the variable, and *terms zeroed again.  Pure and
 * thread-safe: it touches only its arguments. */
int gm_flags_from_control_env(struct gm_market_terms *terms, const char *const *env, size_t count,
                              int64_t max_bid, char *err, size_t errlen);

/* Whether any market flag was given. */
int gm_flags_any(const struct gm_market_terms *terms);

#endif
