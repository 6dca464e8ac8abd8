/* SPDX-License-Identifier: GPL-2.0-or-later */
/* select/cons_tres_gpumarket: Slurm's select/cons_tres, loaded inside this
 * plugin and called for every operation.  This layer is where the market
 * policy (offers, clearing price, lease terms, segment records) attaches;
 * today it forwards every call unchanged, so a cluster can switch
 * SelectType first and gain the market behaviour as it lands.
 *
 * Built against the configured Slurm source tree of the running version
 * (--with-slurm-source); its symbols resolve inside slurmctld, slurmd and
 * the client commands when they load it. */
#include "config.h" /* Slurm's own, from the configured source tree */

#include "src/common/log.h"
#include "src/common/plugin.h"
#include "src/common/select.h"
#include "src/common/slurm_xlator.h"
#include "src/slurmctld/slurmctld.h"

const char plugin_name[] = "gpumarket: cons_tres with GPU market policy";
const char plugin_type[] = "select/cons_tres_gpumarket";
/* Unique among select plugins (101-110 are Slurm's own); node information
 * is packed with it, so every host must have this plugin installed. */
const uint32_t plugin_id = 190;
const uint32_t plugin_version = SLURM_VERSION_NUMBER;

/* The wrapped plugin's operations, resolved by plugin_context_create with
 * Slurm's own symbol list, in slurm_select_ops_t order. */
static slurm_select_ops_t cons_tres;
static plugin_context_t *cons_tres_context;

extern int init(void)
{
    if (cons_tres_context)
        return SLURM_SUCCESS;
    /* node_select_syms (Slurm's, one name per member of slurm_select_ops_t)
     * is declared without a size: the ops structure gives it. */
    cons_tres_context = plugin_context_create("select", "select/cons_tres", (void **)&cons_tres,
                                              node_select_syms, sizeof(cons_tres));
    if (!cons_tres_context) {
        error("gpumarket: select/cons_tres_gpumarket cannot load select/cons_tres from "
              "PluginDir; check that select_cons_tres.so is installed beside it");
        return SLURM_ERROR;
    }
    /* init() also runs in every client command (sinfo, squeue, sbatch...). */
    debug("gpumarket: %s loaded, wrapping select/cons_tres", plugin_type);
    return SLURM_SUCCESS;
}

extern int fini(void)
{
    int rc = SLURM_SUCCESS;
    if (cons_tres_context) {
        rc = plugin_context_destroy(cons_tres_context);
        cons_tres_context = NULL;
    }
    return rc;
}

extern int select_p_state_save(char *dir_name)
{
    return cons_tres.state_save(dir_name);
}

extern int select_p_state_restore(char *dir_name)
{
    return cons_tres.state_restore(dir_name);
}

extern int select_p_job_init(List job_list)
{
    return cons_tres.job_init(job_list);
}

extern int select_p_node_init(void)
{
    return cons_tres.node_init();
}

extern int select_p_job_test(job_record_t *job_ptr, bitstr_t *node_bitmap, uint32_t min_nodes,
                             uint32_t max_nodes, uint32_t req_nodes, uint16_t mode,
                             List preemptee_candidates, List *preemptee_job_list,
                             bitstr_t *exc_core_bitmap)
{
    return cons_tres.job_test(job_ptr, node_bitmap, min_nodes, max_nodes, req_nodes, mode,
                              preemptee_candidates, preemptee_job_list, exc_core_bitmap);
}

extern int select_p_job_begin(job_record_t *job_ptr)
{
    return cons_tres.job_begin(job_ptr);
}

extern int select_p_job_ready(job_record_t *job_ptr)
{
    return cons_tres.job_ready(job_ptr);
}

extern int select_p_job_expand(job_record_t *from_job_ptr, job_record_t *to_job_ptr)
{
    return cons_tres.job_expand(from_job_ptr, to_job_ptr);
}

extern int select_p_job_resized(job_record_t *job_ptr, node_record_t *node_ptr)
{
    return cons_tres.job_resized(job_ptr, node_ptr);
}

extern int select_p_job_signal(job_record_t *job_ptr, int signal)
{
    return cons_tres.job_signal(job_ptr, signal);
}

extern int select_p_job_fini(job_record_t *job_ptr)
{
    return cons_tres.job_fini(job_ptr);
}

extern int select_p_job_suspend(job_record_t *job_ptr, bool indf_susp)
{
    return cons_tres.job_suspend(job_ptr, indf_susp);
}

extern int select_p_job_resume(job_record_t *job_ptr, bool indf_susp)
{
    return cons_tres.job_resume(job_ptr, indf_susp);
}

extern bitstr_t *select_p_step_pick_nodes(job_record_t *job_ptr, select_jobinfo_t *jobinfo,
                                          uint32_t node_count, bitstr_t **avail_nodes)
{
    return cons_tres.step_pick_nodes(job_ptr, jobinfo, node_count, avail_nodes);
}

extern int select_p_step_start(step_record_t *step_ptr)
{
    return cons_tres.step_start(step_ptr);
}

extern int select_p_step_finish(step_record_t *step_ptr, bool killing_step)
{
    return cons_tres.step_finish(step_ptr, killing_step);
}

extern int select_p_select_nodeinfo_pack(select_nodeinfo_t *nodeinfo, buf_t *buffer,
                                         uint16_t protocol_version)
{
    return cons_tres.nodeinfo_pack(nodeinfo, buffer, protocol_version);
}

extern int select_p_select_nodeinfo_unpack(select_nodeinfo_t **nodeinfo, buf_t *buffer,
                                           uint16_t protocol_version)
{
    return cons_tres.nodeinfo_unpack(nodeinfo, buffer, protocol_version);
}

extern select_nodeinfo_t *select_p_select_nodeinfo_alloc(void)
{
    return cons_tres.nodeinfo_alloc();
}

extern int select_p_select_nodeinfo_free(select_nodeinfo_t *nodeinfo)
{
    return cons_tres.nodeinfo_free(nodeinfo);
}

extern int select_p_select_nodeinfo_set_all(void)
{
    return cons_tres.nodeinfo_set_all();
}

extern int select_p_select_nodeinfo_set(job_record_t *job_ptr)
{
    return cons_tres.nodeinfo_set(job_ptr);
}

extern int select_p_select_nodeinfo_get(select_nodeinfo_t *nodeinfo,
                                        enum select_nodedata_type dinfo, enum node_states state,
                                        void *data)
{
    return cons_tres.nodeinfo_get(nodeinfo, dinfo, state, data);
}

extern select_jobinfo_t *select_p_select_jobinfo_alloc(void)
{
    return cons_tres.jobinfo_alloc();
}

extern int select_p_select_jobinfo_free(select_jobinfo_t *jobinfo)
{
    return cons_tres.jobinfo_free(jobinfo);
}

extern int select_p_select_jobinfo_set(select_jobinfo_t *jobinfo,
                                       enum select_jobdata_type data_type, void *data)
{
    return cons_tres.jobinfo_set(jobinfo, data_type, data);
}

extern int select_p_select_jobinfo_get(select_jobinfo_t *jobinfo,
                                       enum select_jobdata_type data_type, void *data)
{
    return cons_tres.jobinfo_get(jobinfo, data_type, data);
}

extern select_jobinfo_t *select_p_select_jobinfo_copy(select_jobinfo_t *jobinfo)
{
    return cons_tres.jobinfo_copy(jobinfo);
}

extern int select_p_select_jobinfo_pack(select_jobinfo_t *jobinfo, buf_t *buffer,
                                        uint16_t protocol_version)
{
    return cons_tres.jobinfo_pack(jobinfo, buffer, protocol_version);
}

extern int select_p_select_jobinfo_unpack(select_jobinfo_t **jobinfo, buf_t *buffer,
                                          uint16_t protocol_version)
{
    return cons_tres.jobinfo_unpack(jobinfo, buffer, protocol_version);
}

extern char *select_p_select_jobinfo_sprint(select_jobinfo_t *jobinfo, char *buf, size_t size,
                                            int mode)
{
    return cons_tres.jobinfo_sprint(jobinfo, buf, size, mode);
}

extern char *select_p_select_jobinfo_xstrdup(select_jobinfo_t *jobinfo, int mode)
{
    return cons_tres.jobinfo_xstrdup(jobinfo, mode);
}

extern int select_p_get_info_from_plugin(enum select_plugindata_info dinfo, job_record_t *job_ptr,
                                         void *data)
{
    return cons_tres.get_info_from_plugin(dinfo, job_ptr, data);
}

extern int select_p_update_node_config(int index)
{
    return cons_tres.update_node_config(index);
}

extern int select_p_reconfigure(void)
{
    return cons_tres.reconfigure();
}

extern bitstr_t *select_p_resv_test(resv_desc_msg_t *resv_desc_ptr, uint32_t node_cnt,
                                    bitstr_t *avail_bitmap, bitstr_t **core_bitmap)
{
    return cons_tres.resv_test(resv_desc_ptr, node_cnt, avail_bitmap, core_bitmap);
}
