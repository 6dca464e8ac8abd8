/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Tests of market/job.c: GPU request parsing in every form slurmctld keeps,
 * the reasons a waiting buyer reads, and the lease record round trip. */
#include "config.h"

#include "market/job.h"

#include "tests/tap/tap.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

struct tres_case {
    const char *tres;
    int ok;
    uint64_t count;
    const char *type; /* ok: the type; error: a substring of the message */
};

static const struct tres_case tres_cases[] = {
    { NULL, 1, 0, "" },
    { "", 1, 0, "" },
    { "gres:gpu:4", 1, 4, "" },
    { "gres:gpu:h100:2", 1, 2, "h100" },
    { "gres/gpu:h100=3", 1, 3, "h100" },
    { "gres/gpu=5", 1, 5, "" },
    { "gpu:a100:1", 1, 1, "a100" },
    { "gres:gpu", 1, 1, "" },
    { "cpu=4,gres:gpu:h100:2,mem=1G", 1, 2, "h100" },
    { "gres:gpu:h100:2,gres:gpu:1", 1, 3, "h100" },
    { "gres:gpumem:4", 1, 0, "" },
    { "gres:mps:100", 1, 0, "" },
    { "gres:gpu:h100:0", 1, 0, "" },
    { "gres:gpu:h100:2,gres:gpu:a100:2", 0, 0, "two GPU types" },
    { "gres:gpu:2k", 0, 0, "plain decimal" },
    { "gres:gpu:-1", 0, 0, "plain decimal" },
    { "gres:gpu:", 0, 0, "plain decimal" },
    { "gres:gpu::2", 0, 0, "plain decimal" },
    { "gres:gpu:h 1:2", 0, 0, "plain decimal" },
    { "gres:gpu:99999999999999999999", 0, 0, "plain decimal" },
};

static void test_tres(void)
{
    char type[GM_JOB_MAX_TYPE + 1], err[256];
    for (size_t i = 0; i < sizeof tres_cases / sizeof tres_cases[0]; i++) {
        const struct tres_case *c = &tres_cases[i];
        uint64_t n = 77;
        err[0] = '\0';
        int rc = gm_job_parse_gpu_tres(c->tres, &n, type, sizeof type, err, sizeof err);
        if (c->ok) {
            ok(rc == 0 && n == c->count && strcmp(type, c->type) == 0,
               "tres \"%s\" -> %llu GPUs, type \"%s\" (got rc %d, %llu, \"%s\" %s)",
               c->tres ? c->tres : "(null)", (unsigned long long)c->count, c->type, rc,
               (unsigned long long)n, type, err);
        } else {
            ok(rc == -1 && strstr(err, c->type) != NULL && strncmp(err, "gpumarket: ", 11) == 0,
               "tres \"%s\" refused: %s", c->tres, err);
        }
    }
}

static void test_gpus(void)
{
    char type[GM_JOB_MAX_TYPE + 1], err[256];
    uint32_t gpus = 0;
    struct gm_job_gpu_request r;

    memset(&r, 0, sizeof r);
    r.per_job = "gres:gpu:h100:3";
    r.per_node = "gres:gpu:1"; /* --gpus wins: it is the job total */
    r.nodes = 2;
    ok(gm_job_gpus(&r, &gpus, type, sizeof type, err, sizeof err) == 0 && gpus == 3 &&
           strcmp(type, "h100") == 0,
       "--gpus=h100:3 is the job's total (%u %s)", gpus, type);

    memset(&r, 0, sizeof r);
    r.per_node = "gres:gpu:h100:2";
    r.nodes = 3;
    ok(gm_job_gpus(&r, &gpus, type, sizeof type, err, sizeof err) == 0 && gpus == 6,
       "--gpus-per-node=2 on 3 nodes is 6 GPUs (%u)", gpus);

    memset(&r, 0, sizeof r);
    r.per_task = "gres:gpu:1";
    r.tasks = 4;
    ok(gm_job_gpus(&r, &gpus, type, sizeof type, err, sizeof err) == 0 && gpus == 4,
       "--gpus-per-task=1 with 4 tasks is 4 GPUs (%u)", gpus);

    memset(&r, 0, sizeof r);
    r.per_socket = "gres:gpu:2";
    r.nodes = 2;
    ok(gm_job_gpus(&r, &gpus, type, sizeof type, err, sizeof err) == 0 && gpus == 4,
       "--gpus-per-socket=2 on 2 nodes is at least 4 GPUs (%u)", gpus);

    memset(&r, 0, sizeof r);
    r.exclusive_node_gpus = 4;
    r.nodes = 2;
    ok(gm_job_gpus(&r, &gpus, type, sizeof type, err, sizeof err) == 0 && gpus == 8,
       "--exclusive on 2 nodes of 4 GPUs takes 8 (%u)", gpus);

    memset(&r, 0, sizeof r);
    r.per_node = "gres:gpu:1";
    r.exclusive_node_gpus = 4;
    ok(gm_job_gpus(&r, &gpus, type, sizeof type, err, sizeof err) == 0 && gpus == 1,
       "an explicit request counts before --exclusive's whole node (%u)", gpus);

    memset(&r, 0, sizeof r);
    ok(gm_job_gpus(&r, &gpus, type, sizeof type, err, sizeof err) == 0 && gpus == 0,
       "no GPU request asks for none");

    /* What each form fixes per node. */
    uint32_t per = 99;
    memset(&r, 0, sizeof r);
    r.per_node = "gres:gpu:h100:2";
    r.nodes = 3;
    ok(gm_job_gpus_shaped(&r, &gpus, &per, type, sizeof type, err, sizeof err) == 0 && gpus == 6 &&
           per == 2,
       "--gres=gpu:h100:2 on 3 nodes: 2 per node (%u of %u)", per, gpus);
    memset(&r, 0, sizeof r);
    r.per_job = "gres:gpu:4";
    r.per_node = "gres:gpu:1";
    ok(gm_job_gpus_shaped(&r, &gpus, &per, type, sizeof type, err, sizeof err) == 0 && gpus == 4 &&
           per == 0,
       "--gpus=4 may be spread (%u per node)", per);
    memset(&r, 0, sizeof r);
    r.per_task = "gres:gpu:1";
    r.tasks = 2;
    per = 99;
    ok(gm_job_gpus_shaped(&r, &gpus, &per, type, sizeof type, err, sizeof err) == 0 && per == 0,
       "--gpus-per-task may be spread (%u per node)", per);
    memset(&r, 0, sizeof r);
    r.per_socket = "gres:gpu:1";
    per = 99;
    ok(gm_job_gpus_shaped(&r, &gpus, &per, type, sizeof type, err, sizeof err) == 0 && per == 0,
       "--gpus-per-socket fixes no count per node (sockets per node vary)");
    memset(&r, 0, sizeof r);
    r.exclusive_node_gpus = 4;
    r.nodes = 2;
    ok(gm_job_gpus_shaped(&r, &gpus, &per, type, sizeof type, err, sizeof err) == 0 && gpus == 8 &&
           per == 4,
       "--exclusive takes a whole node's 4 on each node (%u)", per);

    memset(&r, 0, sizeof r);
    r.per_task = "gres:gpu:1000";
    r.tasks = 4000000000u;
    ok(gm_job_gpus(&r, &gpus, type, sizeof type, err, sizeof err) == -1 &&
           strstr(err, "more than") != NULL,
       "an absurd request is refused without overflow: %s", err);
}

static void test_reasons(void)
{
    char buf[GM_JOB_TEXT_MAX];
    struct gm_policy_verdict v;

    memset(&v, 0, sizeof v);
    v.status = GM_POLICY_BELOW_PRICE;
    v.bid = 2000000;
    v.price = 2400000;
    v.gpus = 2;
    gm_job_reason(&v, "h100", 100000000, buf, sizeof buf);
    is_str(buf, "gpumarket: bid 2.00 < price 2.40 (h100)", "below-price reason");
    v.status = GM_POLICY_TYPE_NOT_OFFERED;
    gm_job_reason(&v, "h100", 100000000, buf, sizeof buf);
    is_str(buf, "gpumarket: no h100 offered", "type-not-offered reason");
    v.status = GM_POLICY_WAITING_SUPPLY;
    v.bid = 3000000;
    gm_job_reason(&v, "a100", 100000000, buf, sizeof buf);
    is_str(buf, "gpumarket: bid 3.00 >= price 2.40 (a100), waiting for 2 offered GPUs",
           "waiting-for-supply reason");
    v.status = GM_POLICY_ABOVE_MAX_BID;
    v.bid = 200000000;
    gm_job_reason(&v, "a100", 100000000, buf, sizeof buf);
    is_str(buf, "gpumarket: bid 200.00 above MaxBid 100.00", "above-MaxBid reason");
    v.status = GM_POLICY_ADMITTED;
    ok(gm_job_reason(&v, "a100", 100000000, buf, sizeof buf) == 0 && buf[0] == '\0',
       "an admitted job has no reason");
    v.status = GM_POLICY_BELOW_PRICE;
    ok(gm_job_reason(&v, "h100", 1, buf, 8) == 7 && strlen(buf) == 7,
       "a short buffer is cut and terminated");
}

static void test_lease(void)
{
    char buf[GM_JOB_TEXT_MAX * 2], err[256];
    struct gm_job_lease l, back;

    memset(&l, 0, sizeof l);
    l.job_id = 42;
    l.start = 1700000000;
    l.price = 2400000;
    l.bid = 3000000;
    l.max_cost = GM_POLICY_UNLIMITED;
    l.gpus = 2;
    strcpy(l.type, "h100");
    l.limit_min = 90;
    int n = gm_job_lease_format(&l, buf, sizeof buf);
    ok(n > 0, "lease formats: %s", buf);
    memset(&back, 0xff, sizeof back);
    ok(gm_job_lease_parse(buf, &back, err, sizeof err) == 0 && memcmp(&l, &back, sizeof l) == 0,
       "lease round trip %s", err);
    is_int(gm_job_lease_end(&l), 1700000000 + 90 * 60, "lease end is start + limit");
    l.limit_min = GM_POLICY_UNLIMITED;
    is_int(gm_job_lease_end(&l), GM_POLICY_UNLIMITED, "an unlimited lease has no end");

    /* The last record wins: a requeued job's SystemComment keeps others before it. */
    char two[GM_JOB_TEXT_MAX * 3];
    l.limit_min = 5;
    gm_job_lease_format(&l, buf, sizeof buf);
    snprintf(two, sizeof two, "burst buffer note\n%s", buf);
    l.start += 100;
    l.price = 1000000;
    gm_job_lease_format(&l, buf, sizeof buf);
    strncat(two, "\n", sizeof two - strlen(two) - 1);
    strncat(two, buf, sizeof two - strlen(two) - 1);
    ok(gm_job_lease_parse(two, &back, err, sizeof err) == 0 && back.start == l.start &&
           back.price == 1000000,
       "the last lease record in a comment is read");
    is_int(gm_job_lease_parse("no lease here", &back, err, sizeof err), 1, "no record: 1");
    is_int(gm_job_lease_parse(NULL, &back, err, sizeof err), 1, "NULL comment: 1");

    static const char *bad[] = {
        GM_JOB_LEASE_MARK " job=1 start=1 price_micro=5 bid_micro=4 max_cost_micro=-1 gpus=1 "
                          "type=h100 limit_min=-1",
        GM_JOB_LEASE_MARK " job=1 start=1 price_micro=5 bid_micro=5 max_cost_micro=-1 gpus=0 "
                          "type=h100 limit_min=-1",
        GM_JOB_LEASE_MARK " job=1 start=1 price_micro=5x bid_micro=5 max_cost_micro=-1 gpus=1 "
                          "type=h100 limit_min=-1",
        GM_JOB_LEASE_MARK " job=1 start=1 price_micro=5 bid_micro=5 max_cost_micro=-2 gpus=1 "
                          "type=h100 limit_min=-1",
        GM_JOB_LEASE_MARK " job=1 start=1 price_micro=5 bid_micro=5 max_cost_micro=-1 gpus=1 "
                          "type=h$00 limit_min=-1",
        GM_JOB_LEASE_MARK " job=99999999999 start=1 price_micro=5 bid_micro=5 max_cost_micro=-1 "
                          "gpus=1 type=h100 limit_min=-1",
        GM_JOB_LEASE_MARK " job=1 start=1 price_micro=99999999999999999999 bid_micro=5 "
                          "max_cost_micro=-1 gpus=1 type=h100 limit_min=-1",
        GM_JOB_LEASE_MARK " job=1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ok(gm_job_lease_parse(bad[i], &back, err, sizeof err) == -1 &&
               strncmp(err, "gpumarket: lease record", 23) == 0,
           "malformed lease record %zu refused: %s", i, err);

    strcpy(l.type, "h 100");
    is_int(gm_job_lease_format(&l, buf, sizeof buf), -1, "a type with a space is not written");
    strcpy(l.type, "h100");
    is_int(gm_job_lease_format(&l, buf, 20), -1, "a short buffer is refused");
}

int main(void)
{
    test_tres();
    test_gpus();
    test_reasons();
    test_lease();
    done_testing();
    return exit_status();
}
