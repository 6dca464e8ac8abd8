/* SPDX-License-Identifier: GPL-2.0-or-later */
/* gpumarket ledger: append receipts, verify the ledger (and an auditor's
 * saved checkpoints), sign checkpoints, print RFC 6962 proofs, recover. */
#include "config.h"

#include "cli/cli.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------ append */

/* A writer checks the records since the last signed checkpoint (and that
 * checkpoint) against its own key and the keys VerifierKeys pins, so that
 * appends go on after a key rotation; never against DIR/verifier-keys. */
static gm_key **trust_pinned(gm_ledger *l, const struct gm_cli_args *a, int *nkeys)
{
    const char *from;
    gm_key **keys;
    char err[256];
    *nkeys = gm_cli_load_pubkeys(a, &keys, &from);
    if (*nkeys > 0 && gm_ledger_trust_keys(l, keys, (size_t)*nkeys, err, sizeof err))
        gm_cli_die("VerifierKeys: %s", err);
    return keys;
}

#define APPEND_BATCH 1024

/* Is more input waiting on stdin right now? */
static int input_ready(void)
{
    struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
    return poll(&p, 1, 0) > 0;
}

/* Append the parsed receipts as one durable group and print each as stored. */
static void append_flush(gm_ledger *l, gm_key *key, struct gm_receipt *batch, size_t *n)
{
    char err[1024];
    if (*n == 0)
        return;
    unsigned char recorded[APPEND_BATCH];
    if (gm_ledger_append_many(l, key, batch, *n, recorded, err, sizeof err))
        gm_cli_die("ledger append: %s", err);
    for (size_t i = 0; i < *n; i++) {
        if (recorded[i])
            fprintf(stderr,
                    "gpumarket: ledger append: job %lld segment %lld of cluster %s already has "
                    "its receipt (sequence %lld): not appended again\n",
                    (long long)batch[i].job_id, (long long)batch[i].segment, batch[i].cluster,
                    (long long)batch[i].sequence);
        size_t slen;
        char *s = gm_ledger_read(l, (uint64_t)batch[i].sequence, &slen, err, sizeof err);
        if (!s)
            gm_cli_die("ledger append: %s", err);
        fwrite(s, 1, slen, stdout);
        fputc('\n', stdout);
        free(s);
    }
    if (fflush(stdout) != 0)
        gm_cli_die("ledger append: cannot write to stdout: %s", strerror(errno));
    *n = 0;
}

static int run_append(const struct gm_cli_command *cmd, struct gm_cli_args *a, int argc,
                      char **argv)
{
    if (argc > 0)
        gm_cli_usage_error(cmd, "unexpected argument %s", argv[0]);
    const char *dir = gm_cli_need_ledger(cmd, a);
    gm_key *key = gm_cli_need_private_key(cmd, a);
    char lpath[4096];
    snprintf(lpath, sizeof lpath, "%s/ledger", dir);
    const char *origin = a->origin;
    if (!origin && access(lpath, F_OK) != 0)
        origin = gm_key_name(key);
    gm_ledger *l = gm_cli_open_ledger(dir, GM_LEDGER_CREATE | GM_LEDGER_WRITE, origin);
    int ntrusted;
    gm_key **trusted = trust_pinned(l, a, &ntrusted);
    /* Receipts are stamped only with policies PolicyAdmins signed. */
    struct gm_governance_admins admins;
    gm_key **admin_keys;
    const char *admins_from;
    char aerr[256];
    int nadmins = gm_cli_load_admins(cmd, a, &admins, &admin_keys, &admins_from);
    if (nadmins > 0 && gm_ledger_trust_policy_admins(l, &admins, aerr, sizeof aerr) != 0)
        gm_cli_die("PolicyAdmins: %s", aerr);
    /* Lines already waiting on stdin are appended as one group (one sync);
     * each signed receipt is printed once its group is on disk. */
    struct gm_receipt *batch = calloc(APPEND_BATCH, sizeof *batch);
    size_t nbatch = 0, cap = 65536, len = 0, start = 0;
    char *buf = malloc(cap);
    if (!batch || !buf)
        gm_cli_die("out of memory");
    long lineno = 0;
    int rc = 0, eof = 0;
    char err[1024];
    for (;;) {
        char *nl;
        while (nbatch < APPEND_BATCH && (nl = memchr(buf + start, '\n', len - start)) != NULL) {
            size_t n = (size_t)(nl - (buf + start));
            char *line = buf + start;
            start += n + 1;
            lineno++;
            if (n > 0 && line[n - 1] == '\r')
                n--;
            if (n == 0)
                continue;
            if (gm_receipt_parse_input(line, n, &batch[nbatch], err, sizeof err)) {
                append_flush(l, key, batch, &nbatch);
                gm_cli_warn("ledger append: stdin line %ld: %s; nothing after it was appended",
                            lineno, err);
                rc = 1;
                goto done;
            }
            nbatch++;
        }
        if (nbatch == APPEND_BATCH) {
            append_flush(l, key, batch, &nbatch);
            continue;
        }
        if (eof) {
            if (start < len) { /* a last line without its newline */
                buf[len++] = '\n';
                continue;
            }
            append_flush(l, key, batch, &nbatch);
            break;
        }
        if (nbatch > 0 && !input_ready())
            append_flush(l, key, batch, &nbatch);
        /* Keep the unparsed tail at the front and read more. */
        memmove(buf, buf + start, len - start);
        len -= start;
        start = 0;
        if (cap - len < 4096) {
            if (cap >= (size_t)64 << 20)
                gm_cli_die("ledger append: stdin line %ld is longer than 64 MiB", lineno + 1);
            cap *= 2;
            buf = realloc(buf, cap);
            if (!buf)
                gm_cli_die("out of memory");
        }
        ssize_t got = read(STDIN_FILENO, buf + len, cap - len - 1);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            gm_cli_die("ledger append: reading stdin: %s", strerror(errno));
        if (got == 0)
            eof = 1;
        len += (size_t)got;
    }
done:
    free(buf);
    free(batch);
    gm_ledger_close(l);
    gm_cli_free_keys(trusted, ntrusted);
    gm_cli_free_keys(admin_keys, nadmins);
    gm_key_free(key);
    return rc;
}

static const struct gm_cli_option append_options[] = {
    GM_CLI_OPTION_LEDGER,
    GM_CLI_OPTION_KEY,
    { "origin", "NAME", "origin of a new ledger (default: the key's name)", GM_CLI_ORIGIN },
    GM_CLI_OPTION_CONFIG,
    GM_CLI_OPTIONS_END,
};

static const struct gm_cli_command append_command = {
    .name = "append",
    .path = "ledger append",
    .summary = "sign receipts read as JSON lines on stdin and append them",
    .doc = "Read receipts as JSON objects, one per line, on stdin; give each the next\n"
           "sequence number and the key id, fill in gpu_seconds and amount_micro when\n"
           "absent, sign and append.  Each signed receipt is printed (one JSON line)\n"
           "only once it is on disk.  A receipt for a segment (cluster, job, array\n"
           "task, segment) that already has one is not appended again: the stored\n"
           "receipt is printed and a note goes to stderr, so re-running a backfill\n"
           "never bills twice.  A new ledger is created with origin NAME (default:\n"
           "the key's name).\n",
    .run = run_append,
    .options = append_options,
};

/* ------------------------------------------------------------ verify */

static int run_verify(const struct gm_cli_command *cmd, struct gm_cli_args *a, int argc,
                      char **argv)
{
    if (argc > 0)
        gm_cli_usage_error(cmd, "unexpected argument %s", argv[0]);
    const char *dir = gm_cli_need_ledger(cmd, a);
    gm_key **keys = NULL;
    const char *from = NULL;
    int nkeys = gm_cli_load_pubkeys(a, &keys, &from);
    /* Policy records are checked against the admins the auditor pins. */
    struct gm_governance_admins admins;
    gm_key **admin_keys;
    const char *admins_from;
    int nadmins = gm_cli_load_admins(cmd, a, &admins, &admin_keys, &admins_from);
    struct gm_ledger_verify_result res;
    char err[1100];
    int rc;
    if (nkeys == 0 && (!a->hash_only || a->ncheckpoints > 0)) {
        /* Refused, not skipped: an auditor who gets "ok" must know the
         * signatures were checked against keys they chose. */
        memset(&res, 0, sizeof res);
        res.bad_index = -1;
        snprintf(err, sizeof err,
                 "no keys to check signatures with: give the cluster's public key with --pubkey "
                 "FILE, or set VerifierKeys in gpumarket.conf (--config FILE); %s/verifier-keys is "
                 "written by whoever writes the ledger and is not trusted (--hash-only checks "
                 "the hashes and the tree without keys)",
                 dir);
        rc = -1;
    } else {
        rc = gm_ledger_verify_governed(dir, keys, (size_t)nkeys, nadmins ? &admins : NULL,
                                       a->hash_only ? GM_VERIFY_HASH_ONLY : 0, a->threads, &res,
                                       err, sizeof err);
    }
    /* Saved checkpoints: the ledger must still extend each of them. */
    gm_ledger *l = NULL;
    if (rc == 0 && a->ncheckpoints > 0 && !(l = gm_ledger_open(dir, 0, NULL, err, sizeof err)))
        rc = -1;
    for (int c = 0; rc == 0 && c < a->ncheckpoints; c++) {
        char msg[1024];
        struct gm_checkpoint cp = { .size = 0 };
        if (gm_ledger_check_checkpoint_file(l, a->checkpoints[c], keys, (size_t)nkeys, &cp, msg,
                                            sizeof msg) != 0) {
            snprintf(err, sizeof err, "--checkpoint %s", msg);
            if (cp.size > gm_ledger_size(l)) /* records were lost: the first missing one */
                res.bad_index = (int64_t)gm_ledger_size(l);
            rc = -1;
        }
    }
    gm_ledger_close(l);
    gm_cli_free_keys(keys, nkeys);
    gm_cli_free_keys(admin_keys, nadmins);
    struct gm_cli_json j;
    if (rc) {
        gm_cli_warn("ledger verify: %s", err);
        gm_cli_json_begin(&j, stdout);
        gm_cli_json_bool(&j, "ok", 0);
        if (res.bad_index >= 0)
            gm_cli_json_int(&j, "bad_index", res.bad_index);
        else
            gm_cli_json_null(&j, "bad_index");
        gm_cli_json_string(&j, "error", err);
        if (from)
            gm_cli_json_string(&j, "keys_from", from);
        else
            gm_cli_json_null(&j, "keys_from");
        gm_cli_json_end(&j);
        return 1;
    }
    if (res.torn_bytes)
        gm_cli_warn("%s/ledger: %" PRIu64 " bytes of an unfinished append at the tail (a crash; "
                    "never acknowledged); the next append removes them",
                    dir, res.torn_bytes);
    gm_cli_json_begin(&j, stdout);
    gm_cli_json_bool(&j, "ok", 1);
    gm_cli_json_uint(&j, "size", res.size);
    gm_cli_json_hex(&j, "root_hash", res.root, GM_HASH_LEN);
    if (res.has_checkpoint)
        gm_cli_json_uint(&j, "checkpoint_size", res.checkpoint_size);
    else
        gm_cli_json_null(&j, "checkpoint_size");
    gm_cli_json_uint(&j, "torn_tail_bytes", res.torn_bytes);
    gm_cli_json_bool(&j, "signatures_checked", !a->hash_only);
    gm_cli_json_bool(&j, "checkpoint_signature_checked",
                     res.has_checkpoint && res.checkpoint_signature_checked);
    if (from)
        gm_cli_json_string(&j, "keys_from", from);
    else
        gm_cli_json_null(&j, "keys_from");
    /* Only with admins: the line is unchanged for ledgers without governance. */
    if (admins_from)
        gm_cli_json_string(&j, "admins_from", admins_from);
    gm_cli_json_end(&j);
    return 0;
}

static const struct gm_cli_option verify_options[] = {
    GM_CLI_OPTION_LEDGER,
    { "pubkey", "FILE",
      "public key (PEM or .vkey), repeatable for rotated keys\n"
      "(default: VerifierKeys of gpumarket.conf; never\n"
      "DIR/verifier-keys, which appenders write themselves)",
      GM_CLI_PUBKEY },
    { "key-name", "NAME",
      "the key name of --pubkey PEM keys (the ledger's origin), so\n"
      "receipts are matched by key id; checkpoints name it anyway",
      GM_CLI_KEY_NAME },
    { "hash-only", NULL, "skip receipt signatures: framing, hashes, tree, checkpoint",
      GM_CLI_HASH_ONLY },
    { "threads", "N", "threads (default 0: every CPU)", GM_CLI_THREADS },
    { "checkpoint", "FILE",
      "also check a checkpoint saved earlier (an auditor's\n"
      "copy): signed by a known key and a prefix of this ledger",
      GM_CLI_CHECKPOINT },
    { "admin-key", "FILE",
      "a policy admin's public key (.vkey or PEM), one per admin\n"
      "(default: PolicyAdmins of gpumarket.conf)",
      GM_CLI_ADMIN_KEY },
    { "threshold", "M",
      "signatures a policy record needs, with --admin-key\n"
      "(default: PolicyThreshold of gpumarket.conf)",
      GM_CLI_THRESHOLD },
    GM_CLI_OPTION_CONFIG,
    GM_CLI_OPTIONS_END,
};

static const struct gm_cli_command verify_command = {
    .name = "verify",
    .path = "ledger verify",
    .summary = "check records, signatures, tree and checkpoint",
    .doc = "Check every record's framing and hash, every receipt's canonical form,\n"
           "sequence number and signature, the Merkle tree, and DIR/checkpoint.\n"
           "Signatures are checked against the keys the auditor pins: --pubkey, else\n"
           "VerifierKeys of gpumarket.conf; never against DIR/verifier-keys.  With\n"
           "neither, it fails (\"ok\":false) unless --hash-only is given, which checks\n"
           "no signature (not even the checkpoint's).  Prints one JSON line, with\n"
           "\"keys_from\" saying where the keys came from; on failure names the first\n"
           "bad record and exits 1.  Policy records are checked against the admins'\n"
           "keys (--admin-key and --threshold, else PolicyAdmins and PolicyThreshold):\n"
           "signatures, threshold, distinct signers, expiry and the chain of parents;\n"
           "every receipt must name the policy in force at its start and pay at least\n"
           "its reserve price.  A ledger with a policy record fails without them.\n",
    .run = run_verify,
    .options = verify_options,
};

/* ------------------------------------------------------------ checkpoint */

static int run_checkpoint(const struct gm_cli_command *cmd, struct gm_cli_args *a, int argc,
                          char **argv)
{
    if (argc > 0)
        gm_cli_usage_error(cmd, "unexpected argument %s", argv[0]);
    const char *dir = gm_cli_need_ledger(cmd, a);
    gm_key *key = gm_cli_need_private_key(cmd, a);
    gm_ledger *l = gm_cli_open_ledger(dir, 0, NULL);
    int ntrusted;
    gm_key **trusted = trust_pinned(l, a, &ntrusted);
    char err[1024];
    char *note = gm_ledger_checkpoint(l, key, err, sizeof err);
    if (!note)
        gm_cli_die("ledger checkpoint: %s", err);
    fputs(note, stdout);
    free(note);
    gm_ledger_close(l);
    gm_cli_free_keys(trusted, ntrusted);
    gm_key_free(key);
    return 0;
}

static const struct gm_cli_option checkpoint_options[] = {
    GM_CLI_OPTION_LEDGER,
    GM_CLI_OPTION_KEY,
    GM_CLI_OPTION_CONFIG,
    GM_CLI_OPTIONS_END,
};

static const struct gm_cli_command checkpoint_command = {
    .name = "checkpoint",
    .path = "ledger checkpoint",
    .summary = "sign a C2SP checkpoint of the current tree",
    .doc = "Sign a C2SP tlog-checkpoint of the whole tree (signed-note, Ed25519),\n"
           "write it to DIR/checkpoint atomically and print it.\n",
    .run = run_checkpoint,
    .options = checkpoint_options,
};

/* ------------------------------------------------------------ proofs */

static int run_prove(const struct gm_cli_command *cmd, struct gm_cli_args *a, int argc, char **argv)
{
    if (argc != 1)
        gm_cli_usage_error(cmd, "give exactly one INDEX");
    uint64_t index;
    if (gm_cli_parse_u64(argv[0], &index))
        gm_cli_usage_error(cmd, "INDEX %s: give a record index (0 is the first)", argv[0]);
    gm_ledger *l = gm_cli_open_ledger(gm_cli_need_ledger(cmd, a), 0, NULL);
    const gm_merkle *tree = gm_ledger_tree(l);
    uint64_t size = a->have_size ? a->size : gm_ledger_size(l);
    if (size > gm_ledger_size(l))
        gm_cli_die("ledger prove: --size %" PRIu64 " is larger than the ledger (%" PRIu64
                   " records)",
                   size, gm_ledger_size(l));
    if (index >= size)
        gm_cli_die("ledger prove: INDEX %" PRIu64 " is not in a tree of %" PRIu64 " records", index,
                   size);
    uint8_t proof[GM_MERKLE_MAX_PROOF][GM_HASH_LEN], root[GM_HASH_LEN];
    size_t count;
    gm_merkle_inclusion_proof(tree, index, size, proof, &count);
    gm_merkle_root_at(tree, size, root);
    struct gm_cli_json j;
    gm_cli_json_begin(&j, stdout);
    gm_cli_json_uint(&j, "index", index);
    gm_cli_json_uint(&j, "tree_size", size);
    gm_cli_json_hex(&j, "leaf_hash", gm_merkle_leaf(tree, index), GM_HASH_LEN);
    gm_cli_json_hex(&j, "root_hash", root, GM_HASH_LEN);
    gm_cli_json_hashes(&j, "proof", (const uint8_t(*)[GM_HASH_LEN])proof, count);
    gm_cli_json_end(&j);
    gm_ledger_close(l);
    return 0;
}

static const struct gm_cli_option prove_options[] = {
    { "size", "N", "the tree of the first N records (default: all)", GM_CLI_SIZE },
    GM_CLI_OPTION_LEDGER,
    GM_CLI_OPTION_CONFIG,
    GM_CLI_OPTIONS_END,
};

static const struct gm_cli_command prove_command = {
    .name = "prove",
    .path = "ledger prove",
    .operands = "INDEX",
    .summary = "inclusion proof of a record",
    .doc = "Print the RFC 6962 inclusion proof of record INDEX in the tree of the first\n"
           "N records (default: the whole ledger) as JSON, hashes in hex, leaf end first.\n",
    .run = run_prove,
    .options = prove_options,
};

static int run_consistency(const struct gm_cli_command *cmd, struct gm_cli_args *a, int argc,
                           char **argv)
{
    if (argc != 2)
        gm_cli_usage_error(cmd, "give OLD and NEW tree sizes");
    uint64_t old_size, new_size;
    if (gm_cli_parse_u64(argv[0], &old_size) || gm_cli_parse_u64(argv[1], &new_size))
        gm_cli_usage_error(cmd, "OLD and NEW must be record counts");
    gm_ledger *l = gm_cli_open_ledger(gm_cli_need_ledger(cmd, a), 0, NULL);
    const gm_merkle *tree = gm_ledger_tree(l);
    if (old_size > new_size || new_size > gm_ledger_size(l))
        gm_cli_die("ledger consistency: need OLD <= NEW <= %" PRIu64
                   " (the ledger's size); got %" PRIu64 " %" PRIu64,
                   gm_ledger_size(l), old_size, new_size);
    uint8_t proof[GM_MERKLE_MAX_PROOF][GM_HASH_LEN], r1[GM_HASH_LEN], r2[GM_HASH_LEN];
    size_t count;
    gm_merkle_consistency_proof(tree, old_size, new_size, proof, &count);
    gm_merkle_root_at(tree, old_size, r1);
    gm_merkle_root_at(tree, new_size, r2);
    struct gm_cli_json j;
    gm_cli_json_begin(&j, stdout);
    gm_cli_json_uint(&j, "old_size", old_size);
    gm_cli_json_uint(&j, "new_size", new_size);
    gm_cli_json_hex(&j, "old_root_hash", r1, GM_HASH_LEN);
    gm_cli_json_hex(&j, "new_root_hash", r2, GM_HASH_LEN);
    gm_cli_json_hashes(&j, "proof", (const uint8_t(*)[GM_HASH_LEN])proof, count);
    gm_cli_json_end(&j);
    gm_ledger_close(l);
    return 0;
}

static const struct gm_cli_option ledger_only_options[] = {
    GM_CLI_OPTION_LEDGER,
    GM_CLI_OPTION_CONFIG,
    GM_CLI_OPTIONS_END,
};

static const struct gm_cli_command consistency_command = {
    .name = "consistency",
    .path = "ledger consistency",
    .operands = "OLD NEW",
    .summary = "consistency proof between two tree sizes",
    .doc = "Print the RFC 6962 consistency proof between tree sizes OLD and NEW as JSON.\n",
    .run = run_consistency,
    .options = ledger_only_options,
};

/* ------------------------------------------------------------ recover */

static int run_recover(const struct gm_cli_command *cmd, struct gm_cli_args *a, int argc,
                       char **argv)
{
    if (argc > 0)
        gm_cli_usage_error(cmd, "unexpected argument %s", argv[0]);
    gm_ledger *l = gm_cli_open_ledger(gm_cli_need_ledger(cmd, a), GM_LEDGER_WRITE, NULL);
    struct gm_cli_json j;
    gm_cli_json_begin(&j, stdout);
    gm_cli_json_uint(&j, "size", gm_ledger_size(l));
    gm_cli_json_uint(&j, "removed_bytes", gm_ledger_recovered_bytes(l));
    gm_cli_json_end(&j);
    gm_ledger_close(l);
    return 0;
}

static const struct gm_cli_command recover_command = {
    .name = "recover",
    .path = "ledger recover",
    .summary = "remove a torn tail left by a crash",
    .doc = "Remove a torn tail left by an interrupted append (appends do this too).\n",
    .run = run_recover,
    .options = ledger_only_options,
};

/* ------------------------------------------------------------ the group */

static const struct gm_cli_command *const ledger_subcommands[] = {
    &append_command,
    &verify_command,
    &checkpoint_command,
    &prove_command,
    &consistency_command,
    &recover_command,
    NULL,
};

const struct gm_cli_command gm_cli_ledger = {
    .name = "ledger",
    .path = "ledger",
    .operands = "append|verify|checkpoint|prove|consistency|recover",
    .summary = "the receipt ledger",
    .doc = "Every command takes --ledger DIR (or $GPUMARKET_LEDGER_DIR, or LedgerDir of\n"
           "gpumarket.conf, read from --config FILE, $GPUMARKET_CONF or\n"
           "/etc/slurm/gpumarket.conf) and --help.\n",
    .subcommands = ledger_subcommands,
};
