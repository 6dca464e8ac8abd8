/* SPDX-License-Identifier: GPL-2.0-or-later */
/* gpumarket: the command-line tool (settlement part): keygen, ledger
 * append/verify/checkpoint/prove/consistency/recover, receipts
 * list/show/export, verify.  A thin adapter over libgpumarket-settlement. */
#include "config.h"

#include "common/conf.h"
#include "settlement/gpumarket-settlement.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXIT_USAGE  2
#define MAX_PUBKEYS 32

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    fputs("gpumarket: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(EXIT_FAILURE);
}

static void usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));
static void usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "gpumarket %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see gpumarket %s --help)\n", cmd);
    exit(EXIT_USAGE);
}

static void hex(const uint8_t *h, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", h[i]);
}

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static int parse_u64(const char *s, uint64_t *v)
{
    if (!s[0] || s[0] == '-' || s[0] == '+')
        return -1;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 10);
    if (errno || *end || x > INT64_MAX)
        return -1;
    *v = x;
    return 0;
}

/* Common options. */
struct opts {
    const char *config, *ledger, *key, *origin, *name, *out, *format;
    const char *pubkeys[MAX_PUBKEYS];
    int npubkeys;
    const char *checkpoints[MAX_PUBKEYS];
    int ncheckpoints;
    int hash_only, threads;
    const char *user, *account;
    int64_t job, since, until;
    int have_job, have_since, have_until;
    uint64_t size;
    int have_size;
};

enum {
    O_CONFIG = 255,
    O_LEDGER = 256,
    O_KEY,
    O_ORIGIN,
    O_NAME,
    O_OUT,
    O_FORMAT,
    O_PUBKEY,
    O_HASH_ONLY,
    O_THREADS,
    O_USER,
    O_ACCOUNT,
    O_JOB,
    O_SINCE,
    O_UNTIL,
    O_SIZE,
    O_CHECKPOINT,
    O_HELP
};

static const struct option all_options[] = {
    { "config", required_argument, NULL, O_CONFIG },
    { "ledger", required_argument, NULL, O_LEDGER },
    { "key", required_argument, NULL, O_KEY },
    { "origin", required_argument, NULL, O_ORIGIN },
    { "name", required_argument, NULL, O_NAME },
    { "out", required_argument, NULL, O_OUT },
    { "format", required_argument, NULL, O_FORMAT },
    { "pubkey", required_argument, NULL, O_PUBKEY },
    { "hash-only", no_argument, NULL, O_HASH_ONLY },
    { "threads", required_argument, NULL, O_THREADS },
    { "user", required_argument, NULL, O_USER },
    { "account", required_argument, NULL, O_ACCOUNT },
    { "job", required_argument, NULL, O_JOB },
    { "since", required_argument, NULL, O_SINCE },
    { "until", required_argument, NULL, O_UNTIL },
    { "size", required_argument, NULL, O_SIZE },
    { "checkpoint", required_argument, NULL, O_CHECKPOINT },
    { "help", no_argument, NULL, O_HELP },
    { NULL, 0, NULL, 0 },
};

/* The cluster's gpumarket.conf, read once when a path was not given with a
 * flag or in the environment: --config FILE, else $GPUMARKET_CONF, else
 * /etc/slurm/gpumarket.conf when it exists.  A file that exists but does not
 * parse is an error (the admin meant it); NULL when there is none. */
static struct gm_conf *cluster_conf(const struct opts *o)
{
    static struct gm_conf *conf;
    static int loaded;
    char err[1024];

    if (loaded)
        return conf;
    loaded = 1;
    const char *path = o->config ? o->config : getenv("GPUMARKET_CONF");
    if (!path) {
        if (access(GM_CONF_DEFAULT_PATH, F_OK) != 0)
            return NULL;
        path = GM_CONF_DEFAULT_PATH;
    }
    if (gm_conf_load(path, &conf, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        exit(EXIT_FAILURE);
    }
    return conf;
}

/* Fill the paths the command line and environment left open from
 * gpumarket.conf: ReceiptKey, LedgerDir, LedgerOrigin. */
static void conf_defaults(struct opts *o, int want_origin)
{
    if ((o->ledger && o->ledger[0]) && (o->key && o->key[0]) && (!want_origin || o->origin))
        return;
    struct gm_conf *conf = cluster_conf(o);
    if (!conf)
        return;
    if (!o->ledger || !o->ledger[0])
        o->ledger = gm_conf_ledger_dir(conf);
    if (!o->key || !o->key[0])
        o->key = gm_conf_receipt_key(conf);
    if (want_origin && !o->origin)
        o->origin = gm_conf_ledger_origin(conf);
}

/* Parse argv for command `cmd`, accepting only the options in `allowed`
 * (a list of O_* ending in 0); prints `help` for --help.  Returns optind. */
static int parse_opts(int argc, char **argv, const char *cmd, const int *allowed, const char *help,
                      struct opts *o)
{
    memset(o, 0, sizeof *o);
    o->ledger = getenv("GPUMARKET_LEDGER_DIR");
    o->key = getenv("GPUMARKET_RECEIPT_KEY");
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", all_options, NULL)) != -1) {
        if (c == '?')
            usage_error(cmd, "unknown option %s", argv[optind - 1]);
        if (c == ':')
            usage_error(cmd, "option %s needs a value", argv[optind - 1]);
        if (c == O_HELP) {
            fputs(help, stdout);
            exit(EXIT_SUCCESS);
        }
        int ok = 0;
        for (const int *a = allowed; *a; a++)
            ok |= *a == c;
        if (!ok)
            usage_error(cmd, "option %s does not apply here", argv[optind - 1]);
        uint64_t v;
        switch (c) {
        case O_CONFIG:
            o->config = optarg;
            break;
        case O_LEDGER:
            o->ledger = optarg;
            break;
        case O_KEY:
            o->key = optarg;
            break;
        case O_ORIGIN:
            o->origin = optarg;
            break;
        case O_NAME:
            o->name = optarg;
            break;
        case O_OUT:
            o->out = optarg;
            break;
        case O_FORMAT:
            o->format = optarg;
            break;
        case O_PUBKEY:
            if (o->npubkeys == MAX_PUBKEYS)
                usage_error(cmd, "at most %d --pubkey options", MAX_PUBKEYS);
            o->pubkeys[o->npubkeys++] = optarg;
            break;
        case O_HASH_ONLY:
            o->hash_only = 1;
            break;
        case O_CHECKPOINT:
            if (o->ncheckpoints == MAX_PUBKEYS)
                usage_error(cmd, "at most %d --checkpoint options", MAX_PUBKEYS);
            o->checkpoints[o->ncheckpoints++] = optarg;
            break;
        case O_THREADS:
            if (parse_u64(optarg, &v) || v > 1024)
                usage_error(cmd, "--threads=%s: give a number of threads from 0 (all CPUs) to 1024",
                            optarg);
            o->threads = (int)v;
            break;
        case O_USER:
            o->user = optarg;
            break;
        case O_ACCOUNT:
            o->account = optarg;
            break;
        case O_JOB:
            if (parse_u64(optarg, &v))
                usage_error(cmd, "--job=%s: give a numeric Slurm job id", optarg);
            o->job = (int64_t)v;
            o->have_job = 1;
            break;
        case O_SINCE:
        case O_UNTIL:
            if (parse_u64(optarg, &v))
                usage_error(
                    cmd, "--%s=%s: give a time in Unix seconds (e.g. $(date -d 2026-01-01 +%%s))",
                    c == O_SINCE ? "since" : "until", optarg);
            if (c == O_SINCE) {
                o->since = (int64_t)v;
                o->have_since = 1;
            } else {
                o->until = (int64_t)v;
                o->have_until = 1;
            }
            break;
        case O_SIZE:
            if (parse_u64(optarg, &v))
                usage_error(cmd, "--size=%s: give a tree size (a record count)", optarg);
            o->size = v;
            o->have_size = 1;
            break;
        }
    }
    return optind;
}

static const char *need_ledger(struct opts *o, const char *cmd)
{
    conf_defaults(o, 0);
    if (!o->ledger || !o->ledger[0])
        usage_error(cmd, "no ledger directory: give --ledger DIR, set GPUMARKET_LEDGER_DIR, "
                         "or set LedgerDir in gpumarket.conf (--config FILE)");
    return o->ledger;
}

static gm_key *need_private_key(struct opts *o, const char *cmd)
{
    conf_defaults(o, 0);
    if (!o->key || !o->key[0])
        usage_error(cmd, "no signing key: give --key FILE, set GPUMARKET_RECEIPT_KEY, or set "
                         "ReceiptKey in gpumarket.conf (make one with gpumarket keygen)");
    char err[512];
    gm_key *k = gm_key_load_private(o->key, NULL, err, sizeof err);
    if (!k)
        die("--key: %s", err);
    return k;
}

/* --pubkey files, or else the ledger's recorded verifier keys. */
static int load_pubkeys(const struct opts *o, const char *dir, gm_key ***keys)
{
    char err[512];
    if (o->npubkeys > 0) {
        gm_key **arr = calloc((size_t)o->npubkeys, sizeof *arr);
        if (!arr)
            die("out of memory");
        for (int i = 0; i < o->npubkeys; i++) {
            arr[i] = gm_key_load_public(o->pubkeys[i], err, sizeof err);
            if (!arr[i])
                die("--pubkey: %s", err);
        }
        *keys = arr;
        return o->npubkeys;
    }
    if (!dir)
        return 0;
    int n = gm_ledger_known_keys(dir, keys, err, sizeof err);
    if (n < 0)
        die("%s (or give the ledger's public keys with --pubkey)", err);
    return n;
}

static char *read_small_file(const char *path, size_t *len, char *msg, size_t msglen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(msg, msglen, "cannot open: %s", strerror(errno));
        return NULL;
    }
    char *buf = malloc(1 << 20);
    size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    int bad = !buf || ferror(f) || !feof(f);
    fclose(f);
    if (bad) {
        snprintf(msg, msglen, "unreadable or larger than 1 MiB");
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static void free_keys(gm_key **keys, int n)
{
    for (int i = 0; i < n; i++)
        gm_key_free(keys[i]);
    free(keys);
}

static gm_ledger *open_ledger(const char *dir, int flags, const char *origin)
{
    char err[512];
    gm_ledger *l = gm_ledger_open(dir, flags, origin, err, sizeof err);
    if (!l)
        die("%s", err);
    uint64_t torn = gm_ledger_recovered_bytes(l);
    if (torn)
        fprintf(stderr,
                "gpumarket: %s/ledger: %s a torn tail of %" PRIu64
                " bytes left by an interrupted append (never acknowledged)\n",
                dir, (flags & GM_LEDGER_WRITE) ? "removed" : "ignoring", torn);
    return l;
}

/* ------------------------------------------------------------ keygen */

static const char keygen_help[] =
    "Usage: gpumarket keygen [--name NAME] [--out PREFIX]\n"
    "Generate the Ed25519 receipt signing key.  Writes PREFIX.key (PKCS#8 PEM,\n"
    "mode 0600), PREFIX.pub (public key PEM) and PREFIX.vkey (C2SP signed-note\n"
    "verifier key); never overwrites a file.\n"
    "  --name NAME    key name, also the ledger origin (default: LedgerOrigin of\n"
    "                 gpumarket.conf, else HOSTNAME/gpumarket)\n"
    "  --out PREFIX   file prefix (default: $GPUMARKET_RECEIPT_KEY, else ReceiptKey\n"
    "                 of gpumarket.conf, without .key)\n"
    "  --config FILE  gpumarket.conf (default $GPUMARKET_CONF, else\n"
    "                 /etc/slurm/gpumarket.conf when it exists)\n";

static int cmd_keygen(int argc, char **argv)
{
    static const int allowed[] = { O_CONFIG, O_NAME, O_OUT, 0 };
    struct opts o;
    int i = parse_opts(argc, argv, "keygen", allowed, keygen_help, &o);
    if (i != argc)
        usage_error("keygen", "unexpected argument %s", argv[i]);
    char prefix[4096], name[300];
    if (!o.out || !o.name)
        conf_defaults(&o, 1);
    if (!o.name && o.origin)
        o.name = o.origin;
    if (o.out) {
        snprintf(prefix, sizeof prefix, "%s", o.out);
    } else if (o.key && o.key[0]) {
        snprintf(prefix, sizeof prefix, "%s", o.key);
        size_t n = strlen(prefix);
        if (n > 4 && strcmp(prefix + n - 4, ".key") == 0)
            prefix[n - 4] = '\0';
    } else {
        usage_error("keygen", "give --out PREFIX, set GPUMARKET_RECEIPT_KEY, or set ReceiptKey in "
                              "gpumarket.conf (--config FILE)");
    }
    if (o.name) {
        snprintf(name, sizeof name, "%s", o.name);
    } else {
        char host[256];
        if (gethostname(host, sizeof host) != 0)
            snprintf(host, sizeof host, "localhost");
        host[sizeof host - 1] = '\0';
        snprintf(name, sizeof name, "%s/gpumarket", host);
    }
    char err[512];
    gm_key *k = gm_key_generate(name, err, sizeof err);
    if (!k)
        die("--name: %s", err);
    if (gm_key_write_files(k, prefix, err, sizeof err))
        die("keygen: %s", err);
    printf("{\"key\":");
    char path[4200];
    snprintf(path, sizeof path, "%s.key", prefix);
    json_string(stdout, path);
    snprintf(path, sizeof path, "%s.pub", prefix);
    printf(",\"public_key\":");
    json_string(stdout, path);
    snprintf(path, sizeof path, "%s.vkey", prefix);
    printf(",\"verifier_key\":");
    json_string(stdout, path);
    printf(",\"name\":");
    json_string(stdout, name);
    printf(",\"key_id\":\"%s\"}\n", gm_key_id_hex(k));
    gm_key_free(k);
    return 0;
}

/* ------------------------------------------------------------ ledger */

static const char ledger_help[] =
    "Usage: gpumarket ledger COMMAND [OPTIONS]\n"
    "  append        sign receipts read as JSON lines on stdin and append them\n"
    "  verify        check records, signatures, tree and checkpoint\n"
    "  checkpoint    sign a C2SP checkpoint of the current tree\n"
    "  prove INDEX   inclusion proof of a record\n"
    "  consistency OLD NEW   consistency proof between two tree sizes\n"
    "  recover       remove a torn tail left by a crash\n"
    "Every command takes --ledger DIR (or $GPUMARKET_LEDGER_DIR, or LedgerDir of\n"
    "gpumarket.conf, read from --config FILE, $GPUMARKET_CONF or\n"
    "/etc/slurm/gpumarket.conf) and --help.\n";

static const char append_help[] =
    "Usage: gpumarket ledger append [--ledger DIR] [--key FILE] [--origin NAME]\n"
    "Read receipts as JSON objects, one per line, on stdin; give each the next\n"
    "sequence number and the key id, fill in gpu_seconds and amount_micro when\n"
    "absent, sign and append.  Each signed receipt is printed (one JSON line)\n"
    "only once it is on disk.  A receipt for a segment (cluster, job, array task,\n"
    "segment) that already has one is not appended again: the stored receipt is\n"
    "printed and a note goes to stderr, so re-running a backfill never bills twice.\n"
    "A new ledger is created with origin NAME (default: the key's name).\n"
    "  --ledger DIR   ledger directory (default $GPUMARKET_LEDGER_DIR)\n"
    "  --key FILE     private key (default $GPUMARKET_RECEIPT_KEY); FILE's .vkey names it\n"
    "  --origin NAME  origin of a new ledger\n";

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
    char err[512];
    if (*n == 0)
        return;
    unsigned char recorded[APPEND_BATCH];
    if (gm_ledger_append_many(l, key, batch, *n, recorded, err, sizeof err))
        die("ledger append: %s", err);
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
            die("ledger append: %s", err);
        fwrite(s, 1, slen, stdout);
        fputc('\n', stdout);
        free(s);
    }
    if (fflush(stdout) != 0)
        die("ledger append: cannot write to stdout: %s", strerror(errno));
    *n = 0;
}

static int cmd_append(int argc, char **argv)
{
    static const int allowed[] = { O_CONFIG, O_LEDGER, O_KEY, O_ORIGIN, 0 };
    struct opts o;
    int i = parse_opts(argc, argv, "ledger append", allowed, append_help, &o);
    if (i != argc)
        usage_error("ledger append", "unexpected argument %s", argv[i]);
    const char *dir = need_ledger(&o, "ledger append");
    gm_key *key = need_private_key(&o, "ledger append");
    char lpath[4096];
    snprintf(lpath, sizeof lpath, "%s/ledger", dir);
    const char *origin = o.origin;
    if (!origin && access(lpath, F_OK) != 0)
        origin = gm_key_name(key);
    gm_ledger *l = open_ledger(dir, GM_LEDGER_CREATE | GM_LEDGER_WRITE, origin);
    /* Lines already waiting on stdin are appended as one group (one sync);
     * each signed receipt is printed once its group is on disk. */
    struct gm_receipt *batch = calloc(APPEND_BATCH, sizeof *batch);
    size_t nbatch = 0, cap = 65536, len = 0, start = 0;
    char *buf = malloc(cap);
    if (!batch || !buf)
        die("out of memory");
    long lineno = 0;
    int rc = 0, eof = 0;
    char err[512];
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
                fprintf(
                    stderr,
                    "gpumarket: ledger append: stdin line %ld: %s; nothing after it was appended\n",
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
                die("ledger append: stdin line %ld is longer than 64 MiB", lineno + 1);
            cap *= 2;
            buf = realloc(buf, cap);
            if (!buf)
                die("out of memory");
        }
        ssize_t got = read(STDIN_FILENO, buf + len, cap - len - 1);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            die("ledger append: reading stdin: %s", strerror(errno));
        if (got == 0)
            eof = 1;
        len += (size_t)got;
    }
done:
    free(buf);
    free(batch);
    gm_ledger_close(l);
    gm_key_free(key);
    return rc;
}

static const char verify_ledger_help[] =
    "Usage: gpumarket ledger verify [--ledger DIR] [--pubkey FILE]... [--hash-only] [--threads N]\n"
    "                               [--checkpoint FILE]...\n"
    "Check every record's framing and hash, every receipt's canonical form,\n"
    "sequence number and signature, the Merkle tree, and DIR/checkpoint.\n"
    "Prints one JSON line; on failure names the first bad record and exits 1.\n"
    "  --pubkey FILE  public key (PEM or .vkey), repeatable for rotated keys\n"
    "                 (default: DIR/verifier-keys, written by appenders)\n"
    "  --hash-only    skip receipt signatures: framing, hashes, tree, checkpoint\n"
    "  --threads N    threads (default 0: every CPU)\n"
    "  --checkpoint FILE  also check a checkpoint saved earlier (an auditor's\n"
    "                 copy): signed by a known key and a prefix of this ledger;\n"
    "                 repeatable\n";

static int cmd_ledger_verify(int argc, char **argv)
{
    static const int allowed[] = { O_CONFIG,  O_LEDGER,     O_PUBKEY, O_HASH_ONLY,
                                   O_THREADS, O_CHECKPOINT, 0 };
    struct opts o;
    int i = parse_opts(argc, argv, "ledger verify", allowed, verify_ledger_help, &o);
    if (i != argc)
        usage_error("ledger verify", "unexpected argument %s", argv[i]);
    const char *dir = need_ledger(&o, "ledger verify");
    gm_key **keys = NULL;
    int nkeys = load_pubkeys(&o, dir, &keys);
    struct gm_ledger_verify_result res;
    char err[1024];
    int rc = gm_ledger_verify(dir, keys, (size_t)nkeys, o.hash_only ? GM_VERIFY_HASH_ONLY : 0,
                              o.threads, &res, err, sizeof err);
    /* Saved checkpoints: the ledger must still extend each of them. */
    for (int c = 0; rc == 0 && c < o.ncheckpoints; c++) {
        size_t len;
        char msg[600];
        char *text = read_small_file(o.checkpoints[c], &len, msg, sizeof msg);
        struct gm_checkpoint cp;
        uint8_t root[32];
        gm_ledger *l = NULL;
        if (!text ||
            gm_checkpoint_verify(text, len, keys, (size_t)nkeys, &cp, msg, sizeof msg) != 0) {
            snprintf(err, sizeof err, "--checkpoint %s: %s", o.checkpoints[c], msg);
            rc = -1;
        } else if ((l = gm_ledger_open(dir, 0, NULL, msg, sizeof msg)) == NULL) {
            snprintf(err, sizeof err, "%s", msg);
            rc = -1;
        } else if (strcmp(cp.origin, gm_ledger_origin(l)) != 0) {
            snprintf(err, sizeof err,
                     "--checkpoint %s: origin \"%s\" is not this ledger's (\"%s\")",
                     o.checkpoints[c], cp.origin, gm_ledger_origin(l));
            rc = -1;
        } else if (cp.size > res.size) {
            snprintf(err, sizeof err,
                     "--checkpoint %s: signed for %" PRIu64 " records but the ledger has %" PRIu64
                     ": records were lost",
                     o.checkpoints[c], cp.size, res.size);
            res.bad_index = (int64_t)res.size;
            rc = -1;
        } else if (gm_merkle_root_at(gm_ledger_tree(l), cp.size, root) != 0 ||
                   memcmp(root, cp.root, 32) != 0) {
            snprintf(err, sizeof err,
                     "--checkpoint %s: the first %" PRIu64
                     " records no longer have the signed root hash: the ledger was rewritten",
                     o.checkpoints[c], cp.size);
            rc = -1;
        }
        gm_ledger_close(l);
        free(text);
    }
    free_keys(keys, nkeys);
    if (rc) {
        fprintf(stderr, "gpumarket: ledger verify: %s\n", err);
        printf("{\"ok\":false,\"bad_index\":");
        if (res.bad_index >= 0)
            printf("%" PRId64, res.bad_index);
        else
            printf("null");
        printf(",\"error\":");
        json_string(stdout, err);
        printf("}\n");
        return 1;
    }
    if (res.torn_bytes)
        fprintf(
            stderr,
            "gpumarket: %s/ledger: %" PRIu64
            " bytes of an unfinished append at the tail (a crash; never acknowledged); the next append removes them\n",
            dir, res.torn_bytes);
    char h[65];
    hex(res.root, 32, h);
    printf("{\"ok\":true,\"size\":%" PRIu64 ",\"root_hash\":\"%s\",\"checkpoint_size\":", res.size,
           h);
    if (res.has_checkpoint)
        printf("%" PRIu64, res.checkpoint_size);
    else
        printf("null");
    printf(",\"torn_tail_bytes\":%" PRIu64 ",\"signatures_checked\":%s}\n", res.torn_bytes,
           o.hash_only ? "false" : "true");
    return 0;
}

static const char checkpoint_help[] =
    "Usage: gpumarket ledger checkpoint [--ledger DIR] [--key FILE]\n"
    "Sign a C2SP tlog-checkpoint of the whole tree (signed-note, Ed25519),\n"
    "write it to DIR/checkpoint atomically and print it.\n";

static int cmd_checkpoint(int argc, char **argv)
{
    static const int allowed[] = { O_CONFIG, O_LEDGER, O_KEY, 0 };
    struct opts o;
    int i = parse_opts(argc, argv, "ledger checkpoint", allowed, checkpoint_help, &o);
    if (i != argc)
        usage_error("ledger checkpoint", "unexpected argument %s", argv[i]);
    const char *dir = need_ledger(&o, "ledger checkpoint");
    gm_key *key = need_private_key(&o, "ledger checkpoint");
    gm_ledger *l = open_ledger(dir, 0, NULL);
    char err[512];
    char *note = gm_ledger_checkpoint(l, key, err, sizeof err);
    if (!note)
        die("ledger checkpoint: %s", err);
    fputs(note, stdout);
    free(note);
    gm_ledger_close(l);
    gm_key_free(key);
    return 0;
}

static void print_proof(uint8_t proof[][32], size_t count)
{
    printf("\"proof\":[");
    for (size_t k = 0; k < count; k++) {
        char h[65];
        hex(proof[k], 32, h);
        printf("%s\"%s\"", k ? "," : "", h);
    }
    printf("]");
}

static const char prove_help[] =
    "Usage: gpumarket ledger prove INDEX [--size N] [--ledger DIR]\n"
    "Print the RFC 6962 inclusion proof of record INDEX in the tree of the first\n"
    "N records (default: the whole ledger) as JSON, hashes in hex, leaf end first.\n";

static int cmd_prove(int argc, char **argv)
{
    static const int allowed[] = { O_CONFIG, O_LEDGER, O_SIZE, 0 };
    struct opts o;
    int i = parse_opts(argc, argv, "ledger prove", allowed, prove_help, &o);
    if (argc - i != 1)
        usage_error("ledger prove", "give exactly one INDEX");
    uint64_t index;
    if (parse_u64(argv[i], &index))
        usage_error("ledger prove", "INDEX %s: give a record index (0 is the first)", argv[i]);
    const char *dir = need_ledger(&o, "ledger prove");
    gm_ledger *l = open_ledger(dir, 0, NULL);
    uint64_t size = o.have_size ? o.size : gm_ledger_size(l);
    if (size > gm_ledger_size(l))
        die("ledger prove: --size %" PRIu64 " is larger than the ledger (%" PRIu64 " records)",
            size, gm_ledger_size(l));
    if (index >= size)
        die("ledger prove: INDEX %" PRIu64 " is not in a tree of %" PRIu64 " records", index, size);
    uint8_t proof[GM_MERKLE_MAX_PROOF][32], root[32];
    size_t count;
    gm_merkle_inclusion_proof(gm_ledger_tree(l), index, size, proof, &count);
    gm_merkle_root_at(gm_ledger_tree(l), size, root);
    char lh[65], rh[65];
    hex(gm_merkle_leaf(gm_ledger_tree(l), index), 32, lh);
    hex(root, 32, rh);
    printf("{\"index\":%" PRIu64 ",\"tree_size\":%" PRIu64
           ",\"leaf_hash\":\"%s\",\"root_hash\":\"%s\",",
           index, size, lh, rh);
    print_proof(proof, count);
    printf("}\n");
    gm_ledger_close(l);
    return 0;
}

static const char consistency_help[] =
    "Usage: gpumarket ledger consistency OLD NEW [--ledger DIR]\n"
    "Print the RFC 6962 consistency proof between tree sizes OLD and NEW as JSON.\n";

static int cmd_consistency(int argc, char **argv)
{
    static const int allowed[] = { O_CONFIG, O_LEDGER, 0 };
    struct opts o;
    int i = parse_opts(argc, argv, "ledger consistency", allowed, consistency_help, &o);
    if (argc - i != 2)
        usage_error("ledger consistency", "give OLD and NEW tree sizes");
    uint64_t old_size, new_size;
    if (parse_u64(argv[i], &old_size) || parse_u64(argv[i + 1], &new_size))
        usage_error("ledger consistency", "OLD and NEW must be record counts");
    const char *dir = need_ledger(&o, "ledger consistency");
    gm_ledger *l = open_ledger(dir, 0, NULL);
    if (old_size > new_size || new_size > gm_ledger_size(l))
        die("ledger consistency: need OLD <= NEW <= %" PRIu64 " (the ledger's size); got %" PRIu64
            " %" PRIu64,
            gm_ledger_size(l), old_size, new_size);
    uint8_t proof[GM_MERKLE_MAX_PROOF][32], r1[32], r2[32];
    size_t count;
    gm_merkle_consistency_proof(gm_ledger_tree(l), old_size, new_size, proof, &count);
    gm_merkle_root_at(gm_ledger_tree(l), old_size, r1);
    gm_merkle_root_at(gm_ledger_tree(l), new_size, r2);
    char h1[65], h2[65];
    hex(r1, 32, h1);
    hex(r2, 32, h2);
    printf("{\"old_size\":%" PRIu64 ",\"new_size\":%" PRIu64
           ",\"old_root_hash\":\"%s\",\"new_root_hash\":\"%s\",",
           old_size, new_size, h1, h2);
    print_proof(proof, count);
    printf("}\n");
    gm_ledger_close(l);
    return 0;
}

static const char recover_help[] =
    "Usage: gpumarket ledger recover [--ledger DIR]\n"
    "Remove a torn tail left by an interrupted append (appends do this too).\n";

static int cmd_recover(int argc, char **argv)
{
    static const int allowed[] = { O_CONFIG, O_LEDGER, 0 };
    struct opts o;
    int i = parse_opts(argc, argv, "ledger recover", allowed, recover_help, &o);
    if (i != argc)
        usage_error("ledger recover", "unexpected argument %s", argv[i]);
    gm_ledger *l = open_ledger(need_ledger(&o, "ledger recover"), GM_LEDGER_WRITE, NULL);
    printf("{\"size\":%" PRIu64 ",\"removed_bytes\":%" PRIu64 "}\n", gm_ledger_size(l),
           gm_ledger_recovered_bytes(l));
    gm_ledger_close(l);
    return 0;
}

static int cmd_ledger(int argc, char **argv)
{
    if (argc < 2) {
        fputs(ledger_help, stderr);
        return EXIT_USAGE;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "--help") || !strcmp(sub, "-h")) {
        fputs(ledger_help, stdout);
        return 0;
    }
    if (!strcmp(sub, "append"))
        return cmd_append(argc - 1, argv + 1);
    if (!strcmp(sub, "verify"))
        return cmd_ledger_verify(argc - 1, argv + 1);
    if (!strcmp(sub, "checkpoint"))
        return cmd_checkpoint(argc - 1, argv + 1);
    if (!strcmp(sub, "prove"))
        return cmd_prove(argc - 1, argv + 1);
    if (!strcmp(sub, "consistency"))
        return cmd_consistency(argc - 1, argv + 1);
    if (!strcmp(sub, "recover"))
        return cmd_recover(argc - 1, argv + 1);
    usage_error("ledger", "unknown command \"%s\"", sub);
}

/* ------------------------------------------------------------ receipts */

static const char receipts_help[] =
    "Usage: gpumarket receipts list|export [FILTERS] [--ledger DIR]\n"
    "       gpumarket receipts show INDEX [--ledger DIR]\n"
    "  list     one line per receipt: sequence, job, segment, user, account,\n"
    "           GPUs, start, end, end reason, amount (micro-units)\n"
    "  show     the signed receipt at INDEX, exactly as stored (one JSON line)\n"
    "  export   --format jsonl (signed receipts, default) or csv\n"
    "Filters: --user NAME --account NAME --job ID --since T (ended at or after\n"
    "Unix time T) --until T (started before T).\n";

static int matches(const struct opts *o, const struct gm_receipt *r)
{
    if (o->user && strcmp(o->user, r->user) != 0)
        return 0;
    if (o->account && strcmp(o->account, r->account) != 0)
        return 0;
    if (o->have_job && o->job != r->job_id)
        return 0;
    if (o->have_since && r->end < o->since)
        return 0;
    if (o->have_until && r->start >= o->until)
        return 0;
    return 1;
}

static void csv_field(const char *s)
{
    if (strpbrk(s, ",\"\r\n") == NULL) {
        fputs(s, stdout);
        return;
    }
    putchar('"');
    for (; *s; s++) {
        if (*s == '"')
            putchar('"');
        putchar(*s);
    }
    putchar('"');
}

static const char csv_header[] =
    "sequence,cluster,job_id,array_task,segment,user,account,nodes,gpu_type,gpu_count,start,end,"
    "gpu_seconds,price_micro_per_gpu_hour,amount_micro,end_reason,energy_mj,emissions_mg,"
    "market_order,key_id\n";

static void print_csv(const struct gm_receipt *r)
{
    printf("%" PRId64 ",", r->sequence);
    csv_field(r->cluster);
    printf(",%" PRId64 ",", r->job_id);
    if (r->has_array_task)
        printf("%" PRId64, r->array_task);
    printf(",%" PRId64 ",", r->segment);
    csv_field(r->user);
    putchar(',');
    csv_field(r->account);
    putchar(',');
    csv_field(r->nodes);
    putchar(',');
    csv_field(r->gpu_type);
    printf(",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%s,",
           r->gpu_count, r->start, r->end, r->gpu_seconds, r->price_micro_per_gpu_hour,
           r->amount_micro, gm_receipt_end_reason_name(r->end_reason));
    if (r->has_energy)
        printf("%" PRId64, r->energy_mj);
    putchar(',');
    if (r->has_emissions)
        printf("%" PRId64, r->emissions_mg);
    putchar(',');
    if (r->has_market_order)
        csv_field(r->market_order);
    printf(",%s\n", r->key_id);
}

static int cmd_receipts(int argc, char **argv)
{
    if (argc < 2) {
        fputs(receipts_help, stderr);
        return EXIT_USAGE;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "--help") || !strcmp(sub, "-h")) {
        fputs(receipts_help, stdout);
        return 0;
    }
    static const int filter_opts[] = { O_CONFIG, O_LEDGER, O_USER,   O_ACCOUNT, O_JOB,
                                       O_SINCE,  O_UNTIL,  O_FORMAT, 0 };
    static const int show_opts[] = { O_LEDGER, 0 };
    int is_list = !strcmp(sub, "list"), is_export = !strcmp(sub, "export"),
        is_show = !strcmp(sub, "show");
    if (!is_list && !is_export && !is_show)
        usage_error("receipts", "unknown command \"%s\" (list, show or export)", sub);
    char cmd[32];
    snprintf(cmd, sizeof cmd, "receipts %s", sub);
    struct opts o;
    int i =
        parse_opts(argc - 1, argv + 1, cmd, is_show ? show_opts : filter_opts, receipts_help, &o);
    argc--;
    argv++;
    if (o.format &&
        (!is_export || (strcmp(o.format, "jsonl") != 0 && strcmp(o.format, "csv") != 0)))
        usage_error(cmd, "--format: jsonl or csv, for export only");
    int csv = o.format && !strcmp(o.format, "csv");
    gm_ledger *l = open_ledger(need_ledger(&o, cmd), 0, NULL);
    char err[512];
    uint64_t lo = 0, hi = gm_ledger_size(l);
    if (is_show) {
        if (argc - i != 1 || parse_u64(argv[i], &lo))
            usage_error(cmd, "give one record INDEX");
        if (lo >= hi)
            die("receipts show: INDEX %" PRIu64 " is past the end of the ledger (%" PRIu64
                " records)",
                lo, hi);
        hi = lo + 1;
    } else if (argc != i) {
        usage_error(cmd, "unexpected argument %s", argv[i]);
    }
    if (csv)
        fputs(csv_header, stdout);
    for (uint64_t k = lo; k < hi; k++) {
        size_t len;
        char *s = gm_ledger_read(l, k, &len, err, sizeof err);
        if (!s)
            die("%s: %s", cmd, err);
        struct gm_receipt r;
        if (gm_signed_receipt_decode(s, len, &r, NULL, NULL, NULL, err, sizeof err))
            die("%s: record %" PRIu64 ": %s (run gpumarket ledger verify)", cmd, k, err);
        if (is_show || (matches(&o, &r))) {
            if (is_list)
                printf("%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%s\t%s\t%" PRId64 "x%s\t%" PRId64
                       "\t%" PRId64 "\t%s\t%" PRId64 "\n",
                       r.sequence, r.job_id, r.segment, r.user, r.account, r.gpu_count, r.gpu_type,
                       r.start, r.end, gm_receipt_end_reason_name(r.end_reason), r.amount_micro);
            else if (csv)
                print_csv(&r);
            else {
                fwrite(s, 1, len, stdout);
                putchar('\n');
            }
        }
        free(s);
    }
    gm_ledger_close(l);
    if (fflush(stdout) != 0)
        die("%s: cannot write the output: %s", cmd, strerror(errno));
    return 0;
}

/* ------------------------------------------------------------ verify */

static const char verify_help[] =
    "Usage: gpumarket verify RECEIPT --pubkey FILE [--pubkey FILE]...\n"
    "Check a signed receipt file (one JSON line, as `receipts show` prints it;\n"
    "- for stdin) offline against the cluster's public key(s): PEM or .vkey.\n"
    "Prints the receipt's summary as JSON and exits 0 only when it verifies.\n";

static int cmd_verify(int argc, char **argv)
{
    static const int allowed[] = { O_PUBKEY, 0 };
    struct opts o;
    int i = parse_opts(argc, argv, "verify", allowed, verify_help, &o);
    if (argc - i != 1)
        usage_error("verify", "give exactly one RECEIPT file");
    if (o.npubkeys == 0)
        usage_error("verify", "give the cluster's public key with --pubkey FILE");
    const char *path = argv[i];
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f)
        die("%s: cannot open: %s", path, strerror(errno));
    char buf[GM_LEDGER_RECORD_MAX + 2];
    size_t len = fread(buf, 1, sizeof buf, f);
    if (f != stdin)
        fclose(f);
    if (len == sizeof buf)
        die("%s: too large for a receipt", path);
    if (len > 0 && buf[len - 1] == '\n')
        len--;
    gm_key **keys = NULL;
    int nkeys = load_pubkeys(&o, NULL, &keys);
    struct gm_receipt r;
    char err[512];
    int rc = gm_signed_receipt_verify(buf, len, keys, (size_t)nkeys, &r, err, sizeof err);
    free_keys(keys, nkeys);
    if (rc) {
        fprintf(stderr, "gpumarket: verify: %s: %s\n", path, err);
        return 1;
    }
    printf("{\"ok\":true,\"sequence\":%" PRId64 ",\"job_id\":%" PRId64 ",\"segment\":%" PRId64
           ",\"user\":",
           r.sequence, r.job_id, r.segment);
    json_string(stdout, r.user);
    printf(",\"amount_micro\":%" PRId64 ",\"key_id\":\"%s\"}\n", r.amount_micro, r.key_id);
    return 0;
}

/* ------------------------------------------------------------ main */

static const char main_help[] = "Usage: gpumarket COMMAND [ARGS]\n"
                                "  keygen                      generate the receipt signing key\n"
                                "  ledger append|verify|checkpoint|prove|consistency|recover\n"
                                "  receipts list|show|export   read receipts from the ledger\n"
                                "  verify RECEIPT --pubkey F   check a signed receipt offline\n"
                                "`gpumarket COMMAND --help` describes each; see gpumarket(1).\n";

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(main_help, stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        fputs(main_help, stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version")) {
        printf("gpumarket %s\n", PACKAGE_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "keygen"))
        return cmd_keygen(argc - 1, argv + 1);
    if (!strcmp(cmd, "ledger"))
        return cmd_ledger(argc - 1, argv + 1);
    if (!strcmp(cmd, "receipts"))
        return cmd_receipts(argc - 1, argv + 1);
    if (!strcmp(cmd, "verify"))
        return cmd_verify(argc - 1, argv + 1);
    fprintf(stderr, "gpumarket: unknown command \"%s\"\n%s", cmd, main_help);
    return EXIT_USAGE;
}
