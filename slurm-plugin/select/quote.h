/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The market's live quote, served by slurmctld's select plugin on the
 * active controller (QuotePort= of gpumarket.conf, off by default) for
 * `gpumarket quote` and `gpumarket offers`.
 *
 * Two sides that share only this module's own mutex:
 *  - the select plugin publishes a copy of each market snapshot it rebuilds
 *    (gm_quote_begin/_job/_refusal/_commit), holding its gm_lock and the
 *    slurmctld locks it was called with; when no endpoint runs these return
 *    at once;
 *  - one serving thread polls the listening socket on the controller's
 *    address and at most GM_QUOTE_MAX_CONNS non-blocking clients: from
 *    each it reads one request line (within GM_QUOTE_READ_MS), answers one
 *    JSON document built from the last published copy (a reference taken
 *    under the mutex, rendered without it), and closes it (within
 *    GM_QUOTE_CONN_MS whatever the client does).  It never takes
 *    slurmctld's locks or gm_lock, so no client can stall slurmctld, and no
 *    slow client holds up the others.
 *
 * Protocol (TCP, one exchange per connection): the client sends the line
 * "gpumarket-quote 1\n" ("gpumarket-quote 1 history\n" adds the price
 * history); the server answers one line of JSON and closes.
 * Any other request (or one longer than GM_QUOTE_REQUEST_MAX bytes, or not
 * complete within GM_QUOTE_READ_MS) gets {"error":"..."} and is closed. */
#ifndef GPUMARKET_SELECT_QUOTE_H
#define GPUMARKET_SELECT_QUOTE_H

#include "market/policy.h"

#include <stddef.h>
#include <stdint.h>

struct gm_conf;

#define GM_QUOTE_REQUEST         "gpumarket-quote 1"
#define GM_QUOTE_REQUEST_HISTORY "gpumarket-quote 1 history"
/* Price changes kept for the history request. */
#define GM_QUOTE_HISTORY_MAX 1024
#define GM_QUOTE_REQUEST_MAX 64
#define GM_QUOTE_READ_MS     1000
#define GM_QUOTE_CONN_MS     3000
#define GM_QUOTE_BACKLOG     16
/* Most clients served at once; a new one past that closes the one nearest
 * its deadline. */
#define GM_QUOTE_MAX_CONNS 32
/* Most pending market jobs listed in one document (the count is exact). */
#define GM_QUOTE_MAX_JOBS 1000

/* Start, restart (port or address changed) or stop (port 0) the endpoint,
 * bound to this controller's SlurmctldHost address.  Called on the active
 * controller only (job_init, reconfigure) under the plugin's gm_lock, as are
 * the publishing calls.  Returns 0, or -1 after logging why it does not
 * serve. */
int gm_quote_configure(uint32_t port);
/* Stop the serving thread and close its socket (fini). */
void gm_quote_stop(void);
/* Whether the endpoint runs and its last published copy is older than
 * max_age seconds (or none exists): the plugin then rebuilds its snapshot
 * so that an idle cluster's quote stays live. */
int gm_quote_wants_snapshot(int64_t now, int64_t max_age);

/* Publishing one snapshot (job and node locks held): begin copies the
 * markets, the offers (node_index[i]: slurmctld's node index of the
 * result's node i) and every pending market job the engine priced, with its
 * reason; then each job it could not price; then commit.  result may be
 * NULL (no market: every market job waits).  begin returns 0 and does
 * nothing when no endpoint runs; refusal and commit are then no-ops. */
int gm_quote_begin(const struct gm_conf *conf, const struct gm_policy *engine,
                   const struct gm_policy_result *result, const uint32_t *node_index,
                   size_t node_count, int64_t now);
void gm_quote_refusal(uint32_t job_id, const char *reason);
void gm_quote_commit(void);

#endif
