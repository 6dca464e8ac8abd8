/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Submit a market batch job straight through Slurm's C API with a SPANK job
 * environment of our choosing, bypassing the SPANK plugin's checks, as any
 * user could.  Prints the job id.  For tests/t3004-market-forged.t.
 *   forge_submit PARTITION GRES [NAME=VALUE...]   (entries go verbatim) */
#include <slurm/slurm.h>
#include <slurm/slurm_errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv)
{
    job_desc_msg_t desc;
    submit_response_msg_t *resp = NULL;
    char cwd[4096];

    if (argc < 3) {
        fprintf(stderr, "usage: forge_submit PARTITION GRES [NAME=VALUE...]\n");
        return 2;
    }
    if (!getcwd(cwd, sizeof cwd)) {
        perror("forge_submit: getcwd");
        return 1;
    }
    slurm_init(NULL);
    slurm_init_job_desc_msg(&desc);
    desc.name = "forged";
    desc.partition = argv[1];
    desc.tres_per_node = argv[2];
    desc.script = "#!/bin/sh\nsleep 300\n";
    desc.work_dir = cwd;
    desc.std_out = "/dev/null";
    desc.user_id = getuid();
    desc.group_id = getgid();
    desc.min_nodes = 1;
    desc.environment = environ;
    for (desc.env_size = 0; environ[desc.env_size]; desc.env_size++)
        ;
    desc.spank_job_env = argv + 3;
    desc.spank_job_env_size = (uint32_t)(argc - 3);
    if (slurm_submit_batch_job(&desc, &resp) != SLURM_SUCCESS) {
        fprintf(stderr, "forge_submit: %s\n", slurm_strerror(slurm_get_errno()));
        return 1;
    }
    printf("%u\n", resp->job_id);
    slurm_free_submit_response_response_msg(resp);
    slurm_fini();
    return 0;
}
