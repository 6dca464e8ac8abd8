/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Receipts from slurmctld (receipts.c): the select plugin's calls into the
 * segment journal and its writer thread.  slurmctld only. */
#ifndef GPUMARKET_SELECT_RECEIPTS_H
#define GPUMARKET_SELECT_RECEIPTS_H

#include "common/conf.h"
#include "market/job.h"
#include "settlement/gpumarket-settlement.h"
#include "src/slurmctld/slurmctld.h"

/* Open the journal in StateSaveLocation, close the segments whose run the
 * job list no longer shows, start the writer (once a process: job_init). */
void gm_receipts_start(const struct gm_conf *conf);
/* gpumarket.conf was (re)loaded: the writer loads the key again. */
void gm_receipts_configure(const struct gm_conf *conf);
/* Whether this run of the job has no segment yet (open one then). */
int gm_receipts_need_begin(job_record_t *job_ptr);
/* A market job's run starts (its allocation is known). */
void gm_receipts_begin(job_record_t *job_ptr, const struct gm_job_lease *l, const char *order);
/* A run ends (select_p_job_fini; a second call is a no-op). */
void gm_receipts_end(job_record_t *job_ptr, const struct gm_conf *conf,
                     const struct gm_job_lease *l);
/* The controller is alive (state_save, no slurmctld lock held). */
void gm_receipts_heartbeat(void);

/* Governance: the writer found `record` (ledger leaf `index`), checked
 * against PolicyAdmins, as the policy in force (select_gpumarket.c; called
 * from the writer thread with no lock held; the record belongs to the
 * caller). */
void gm_market_policy_seen(const gm_governance_record *record, uint64_t index);

#endif
