/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libgpumarket-settlement: signed usage receipts (RFC 8785 canonical JSON,
 * Ed25519), the append-only RFC 6962 Merkle ledger and C2SP checkpoints.
 *
 * Conventions: every function that can fail returns 0 (or a non-NULL
 * pointer) on success and -1 (or NULL) on failure, with a one-line message
 * naming the input in `err` (`errlen` bytes, always NUL-terminated when
 * errlen > 0).  The library never prints and never exits.  Handles are
 * opaque; each has one destructor that accepts NULL. */
#ifndef GPUMARKET_SETTLEMENT_H
#define GPUMARKET_SETTLEMENT_H

#include <stddef.h>
#include <stdint.h>

/* The version of the API this header declares, as hwloc's HWLOC_API_VERSION:
 * (major << 16) | (minor << 8) | release, here 0.2.0.  Installed as
 * <gpumarket/gpumarket-settlement.h>; `pkg-config --cflags --libs
 * gpumarket-settlement`. */
#define GPUMARKET_SETTLEMENT_API_VERSION 0x00000200

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------ receipts */

#define GM_RECEIPT_VERSION 1
/* Largest integer a receipt may carry: JCS numbers are IEEE doubles, so
 * bigger integers would not round-trip through other implementations. */
#define GM_RECEIPT_INT_MAX   9007199254740991LL
#define GM_RECEIPT_NAME_MAX  64   /* cluster, user, account, gpu_type (bytes) */
#define GM_RECEIPT_NODES_MAX 1024 /* Slurm hostlist expression (bytes) */
#define GM_RECEIPT_ORDER_MAX 128  /* market order reference (bytes) */
#define GM_SIGNATURE_LEN     64   /* Ed25519 */
#define GM_HASH_LEN          32   /* SHA-256 */

enum gm_end_reason {
    GM_END_COMPLETED = 0,
    GM_END_PREEMPTED,
    GM_END_CANCELLED,
    GM_END_FAILED,
    GM_END_TIMEOUT,
    GM_END_NODE_FAIL,
    /* Ended by `scontrol requeue`, or a requeue that is neither a
     * preemption nor a node failure. */
    GM_END_REQUEUED = 6,
    /* The job vanished from slurmctld's record after a controller crash: the
     * end is the last time the controller saw it running (recovered
     * "last_seen"). */
    GM_END_LOST = 7,
};

/* One lease segment.  Strings are NUL-terminated UTF-8 without control
 * characters; money in micro-units, times in Unix seconds.  The has_*
 * flags say whether an optional field is present. */
struct gm_receipt {
    int64_t version; /* GM_RECEIPT_VERSION */
    char cluster[GM_RECEIPT_NAME_MAX + 1];
    int64_t sequence; /* leaf index in the ledger */
    int64_t job_id;
    int has_array_task;
    int64_t array_task;
    int64_t segment; /* 0 for the first run, +1 per requeue */
    char user[GM_RECEIPT_NAME_MAX + 1];
    char account[GM_RECEIPT_NAME_MAX + 1];
    char nodes[GM_RECEIPT_NODES_MAX + 1];
    char gpu_type[GM_RECEIPT_NAME_MAX + 1];
    int64_t gpu_count;
    int64_t start, end;
    int64_t gpu_seconds; /* gpu_count * (end - start) */
    int64_t price_micro_per_gpu_hour;
    int64_t amount_micro; /* gpu_seconds * price / 3600, rounded down */
    enum gm_end_reason end_reason;
    int has_energy;
    int64_t energy_mj; /* millijoules */
    int has_emissions;
    int64_t emissions_mg; /* milligrams CO2e */
    char key_id[9];       /* 8 lowercase hex digits (C2SP key id) */
    int has_market_order;
    char market_order[GM_RECEIPT_ORDER_MAX + 1];
    /* How the end was known when it was not observed as it happened:
     * "job_record" (taken from slurmctld's job record after a controller
     * restart) or "last_seen" (the job vanished; end = the last time the
     * controller's journal saw it running).  Absent when observed. */
    int has_recovered;
    char recovered[16];
    /* Where energy_mj comes from: "metered" (Slurm's energy accounting) or
     * "estimated" (configured GPU power x GPU-seconds).  Only with energy_mj;
     * energy_mj without it is valid (receipts written before it existed). */
    int has_energy_source;
    char energy_source[16];
    /* The governance policy the segment was priced under: the lowercase hex
     * SHA-256 of that policy's proposal (see "governance" below).  Stamped
     * by the ledger at append time (a value given is replaced): the policy
     * record latest in the ledger whose applied time is at or before the
     * segment's start.  Absent when no policy was in force then. */
    int has_policy;
    char policy[2 * GM_HASH_LEN + 1];
};

/* Name of an end reason ("completed", ...), or NULL when out of range. */
const char *gm_receipt_end_reason_name(enum gm_end_reason reason);

/* The bill of a segment, by the one billing rule (gm_money_bill in the
 * project's common/money.h): gpu_seconds * price / 3600 rounded down; -1 when
 * an input is negative or the bill would exceed GM_RECEIPT_INT_MAX, which is
 * also the billing rule's bound. */
int64_t gm_receipt_amount(int64_t gpu_seconds, int64_t price_micro_per_gpu_hour);

/* Check every field's range and the derived fields (gpu_seconds, amount),
 * that recovered and energy_source hold one of their values and that
 * energy_source comes with energy_mj.  Returns 0, or -1 naming the first bad
 * field. */
int gm_receipt_check(const struct gm_receipt *r, char *err, size_t errlen);

/* Encode as RFC 8785 canonical JSON.  Returns a malloc'd NUL-terminated
 * string (length in *len) the caller frees, or NULL when the receipt fails
 * gm_receipt_check or memory runs out. */
char *gm_receipt_encode(const struct gm_receipt *r, size_t *len, char *err, size_t errlen);

/* Decode canonical JSON strictly: rejects duplicate or unknown keys, keys
 * out of order, whitespace, non-canonical numbers or escapes, wrong types,
 * missing fields and out-of-range values, naming the field.  *r is
 * overwritten.  Returns 0 or -1. */
int gm_receipt_decode(const char *buf, size_t len, struct gm_receipt *r, char *err, size_t errlen);

/* Parse a receipt typed by a person or another program (the backfill path):
 * ordinary JSON (whitespace and any key order allowed, still no duplicates,
 * integers only), where sequence, key_id, gpu_seconds and amount_micro may be
 * left out (they are filled in; given ones must be consistent).  Returns 0
 * or -1. */
int gm_receipt_parse_input(const char *buf, size_t len, struct gm_receipt *r, char *err,
                           size_t errlen);

/* ------------------------------------------------------------ keys */

typedef struct gm_key gm_key;

/* A new Ed25519 key pair named `name` (the C2SP signed-note key name, e.g.
 * "gpu.example.org/ledger": non-empty, no spaces or '+').  NULL on error. */
gm_key *gm_key_generate(const char *name, char *err, size_t errlen);

/* Write PREFIX.key (PKCS#8 PEM, mode 0600, written atomically, never
 * replacing an existing file), PREFIX.pub (SubjectPublicKeyInfo PEM) and
 * PREFIX.vkey (the signed-note verifier key line).  Returns 0 or -1. */
int gm_key_write_files(const gm_key *key, const char *prefix, char *err, size_t errlen);

/* Load a private key.  The file must be owned by the running user and not
 * readable or writable by group or others; the message names the file and
 * the fix.  `name` is the key name; NULL reads it from the sibling .vkey file
 * (PATH with ".key" replaced by ".vkey"), which must match the key and, since
 * it sets the key id, pass the same ownership and directory checks (owned
 * by the running user or root, writable by nobody else; mode 0644 is fine).
 * Returns
 * a key the caller frees with gm_key_free, or NULL. */
gm_key *gm_key_load_private(const char *path, const char *name, char *err, size_t errlen);

/* Parse a PKCS#8 PEM private key from memory (no permission checks; for
 * keys that are not in files).  NULL on error. */
gm_key *gm_key_parse_private(const char *pem, size_t len, const char *name, char *err,
                             size_t errlen);

/* Load a public key: a PEM SubjectPublicKeyInfo (name unknown: key id checks
 * are skipped) or a signed-note verifier key line "name+hexid+base64".
 * Public keys are not held to the private key's permission checks (a key
 * the auditor names is trusted because they named it).  NULL on error. */
gm_key *gm_key_load_public(const char *path, char *err, size_t errlen);
gm_key *gm_key_parse_public(const char *buf, size_t len, char *err, size_t errlen);

/* Name a key loaded from a bare PEM public key (a C2SP signed-note key
 * name, as gm_key_generate takes), so that its key id is known and receipts
 * are matched by it.  Checkpoint verification does not need this: it takes a
 * nameless key's name from the signature line.  Renaming a named key to
 * another name is refused.  Returns 0 or -1. */
int gm_key_set_name(gm_key *key, const char *name, char *err, size_t errlen);

/* The key's name (NULL when loaded from a bare PEM public key), its C2SP key
 * id (first 4 bytes of SHA-256(name || 0x0A || 0x01 || public key), as 8 hex
 * digits; "" without a name), and its verifier key line (malloc'd; NULL
 * without a name).  Strings returned as const belong to the key. */
const char *gm_key_name(const gm_key *key);
const char *gm_key_id_hex(const gm_key *key);
char *gm_key_verifier_line(const gm_key *key);
int gm_key_has_private(const gm_key *key);

/* Ed25519 one-shot sign (needs a private key) and verify.  Return 0 or -1. */
int gm_key_sign(const gm_key *key, const void *msg, size_t len, uint8_t sig[GM_SIGNATURE_LEN],
                char *err, size_t errlen);
int gm_key_verify(const gm_key *key, const void *msg, size_t len,
                  const uint8_t sig[GM_SIGNATURE_LEN]);

void gm_key_free(gm_key *key);

/* ------------------------------------------------------------ signed receipts */

/* A signed receipt is the canonical JSON object
 *   {"receipt":<canonical receipt>,"signature":"<base64 Ed25519 signature>"}
 * where the signature covers exactly the bytes of <canonical receipt>. */

/* Set r->key_id from the key, encode and sign.  Returns the malloc'd signed
 * receipt (length in *len), or NULL. */
char *gm_receipt_sign(struct gm_receipt *r, const gm_key *key, size_t *len, char *err,
                      size_t errlen);

/* Decode a signed receipt strictly.  On success *r holds the receipt,
 * *receipt_off and *receipt_len locate the signed bytes inside buf, and sig the
 * signature.  Any output pointer may be NULL.  Returns 0 or -1. */
int gm_signed_receipt_decode(const char *buf, size_t len, struct gm_receipt *r, size_t *receipt_off,
                             size_t *receipt_len, uint8_t sig[GM_SIGNATURE_LEN], char *err,
                             size_t errlen);

/* Decode and verify against `keys`: every key whose key id is the
 * receipt's key_id (4-byte ids can collide: each is tried), then the keys
 * without a name (bare PEM keys, whose id is unknown, tried by signature
 * alone).  A named key never verifies a receipt whose key_id is not its
 * own.  Returns 0, or -1 saying why (bad form, unknown key id, bad
 * signature). */
int gm_signed_receipt_verify(const char *buf, size_t len, gm_key *const *keys, size_t nkeys,
                             struct gm_receipt *r, char *err, size_t errlen);

/* ------------------------------------------------------------ Merkle tree */

#define GM_MERKLE_MAX_PROOF 64

/* RFC 6962: leaf = SHA-256(0x00 || data), node = SHA-256(0x01 || l || r). */
void gm_merkle_leaf_hash(const void *data, size_t len, uint8_t out[GM_HASH_LEN]);
void gm_merkle_node_hash(const uint8_t left[GM_HASH_LEN], const uint8_t right[GM_HASH_LEN],
                         uint8_t out[GM_HASH_LEN]);

typedef struct gm_merkle gm_merkle;

/* An empty tree.  It keeps every leaf hash (for proofs) and a stack of
 * complete-subtree roots, so an append costs O(log n).  NULL on no memory. */
gm_merkle *gm_merkle_new(void);
void gm_merkle_free(gm_merkle *tree);
/* Append a leaf hash.  Returns 0, or -1 on no memory. */
int gm_merkle_append(gm_merkle *tree, const uint8_t leaf_hash[GM_HASH_LEN]);
/* Drop leaves after `size` (used when an append fails).  0 or -1. */
int gm_merkle_truncate(gm_merkle *tree, uint64_t size);
uint64_t gm_merkle_size(const gm_merkle *tree);
/* Leaf hash at index, or NULL when out of range.  Owned by the tree. */
const uint8_t *gm_merkle_leaf(const gm_merkle *tree, uint64_t index);
/* Root of the whole tree, from the subtree stack (SHA-256("") when empty). */
void gm_merkle_root(const gm_merkle *tree, uint8_t out[GM_HASH_LEN]);
/* Root of the first `size` leaves.  0, or -1 when size > tree size. */
int gm_merkle_root_at(const gm_merkle *tree, uint64_t size, uint8_t out[GM_HASH_LEN]);
/* RFC 6962 section 2.1.1 audit path for leaf `index` in the tree of the first
 * `size` leaves; *count hashes written to proof.  0, or -1 when
 * index >= size or size > tree size. */
int gm_merkle_inclusion_proof(const gm_merkle *tree, uint64_t index, uint64_t size,
                              uint8_t proof[][GM_HASH_LEN], size_t *count);
/* RFC 6962 section 2.1.2 consistency proof from `old_size` to `new_size`.
 * 0, or -1 when old_size > new_size or new_size > tree size. */
int gm_merkle_consistency_proof(const gm_merkle *tree, uint64_t old_size, uint64_t new_size,
                                uint8_t proof[][GM_HASH_LEN], size_t *count);
/* RFC 9162 section 2.1.3.2 / 2.1.4.2 verification.  Return 0 when the
 * proof is valid, -1 otherwise. */
int gm_merkle_verify_inclusion(const uint8_t leaf_hash[GM_HASH_LEN], uint64_t index, uint64_t size,
                               const uint8_t proof[][GM_HASH_LEN], size_t count,
                               const uint8_t root[GM_HASH_LEN]);
int gm_merkle_verify_consistency(uint64_t old_size, uint64_t new_size,
                                 const uint8_t old_root[GM_HASH_LEN],
                                 const uint8_t new_root[GM_HASH_LEN],
                                 const uint8_t proof[][GM_HASH_LEN], size_t count);

/* ------------------------------------------------------------ checkpoints */

#define GM_CHECKPOINT_ORIGIN_MAX 255

struct gm_checkpoint {
    char origin[GM_CHECKPOINT_ORIGIN_MAX + 1];
    uint64_t size;
    uint8_t root[GM_HASH_LEN];
    size_t body_len;    /* bytes of the signed note body */
    size_t nsignatures; /* signature lines */
};

/* A C2SP tlog-checkpoint (origin, size, base64 root hash) signed per C2SP
 * signed-note with `key` (whose name is the signature line's name).
 * Returns the malloc'd note text, or NULL. */
char *gm_checkpoint_sign(const char *origin, uint64_t size, const uint8_t root[GM_HASH_LEN],
                         const gm_key *key, char *err, size_t errlen);

/* Parse a signed checkpoint strictly (syntax only; signatures unchecked).
 * Returns 0 or -1 naming the line. */
int gm_checkpoint_parse(const char *text, size_t len, struct gm_checkpoint *cp, char *err,
                        size_t errlen);

/* Parse and require a valid signature from one of `keys`, matched by the
 * signature line's name and key id.  A key without a name (a bare PEM public
 * key) is matched by the key id it has under the line's name, so the PEM key
 * alone verifies a checkpoint.  0 or -1. */
int gm_checkpoint_verify(const char *text, size_t len, gm_key *const *keys, size_t nkeys,
                         struct gm_checkpoint *cp, char *err, size_t errlen);

/* ------------------------------------------------------------ governance */

/* A market policy change: the market keys of gpumarket.conf (ReservePrice,
 * ReserveGPUsPerNode, IdleDwellSeconds, MaxBid, Currency, CarbonIntensity,
 * GPUPower) as a proposal that M of N listed admins sign with Ed25519 and
 * that is then appended to the ledger as a policy record.
 *
 * A proposal is the canonical JSON (RFC 8785) object
 *   {"expires":<unix s>,"parent":"<hex SHA-256 of the proposal it replaces,
 *    or 64 zeros for the first>","reason":"<text>","values":{"KEY":"VALUE",
 *    ...},"version":1}
 * whose values the one gpumarket.conf parser accepts (common/conf.h,
 * gm_conf_parse_policy_values); ReservePrice is required, keys left out take
 * their defaults.  Its hash is SHA-256 of those bytes.  An admin's signature
 * is Ed25519 over GM_POLICY_SIGNING_PREFIX followed by the 32 raw bytes of
 * the hash.  A policy record, a ledger leaf told apart from receipts by its
 * first key, is
 *   {"applied":<unix s>,"policy":<proposal>,"signatures":[{"key_id":"<8 hex>",
 *    "sig":"<base64>"},...]}
 * with the signatures sorted by key id.  Handles are read-only once made:
 * safe to share between threads. */
#define GM_POLICY_VERSION        1
#define GM_POLICY_SIGNING_PREFIX "gpumarket-policy-v1\n"
#define GM_POLICY_REASON_MAX     1024  /* bytes of reason */
#define GM_POLICY_VALUES_MAX     16    /* keys in one proposal */
#define GM_POLICY_SIGNATURES_MAX 16    /* signatures in one record */
#define GM_POLICY_FILE_MAX       65536 /* a proposal or signature file */

struct gm_conf; /* gpumarket.conf values, common/conf.h */
/* A ledger handle (below) belongs to one process: do not use it across
 * fork(). */
typedef struct gm_ledger gm_ledger;

typedef struct gm_governance_proposal gm_governance_proposal;

/* Make a proposal: parent_hex the hash of the policy it replaces (NULL for
 * the first), expires in Unix seconds, reason (printable UTF-8, 1 to
 * GM_POLICY_REASON_MAX bytes), n market keys names[i]=values[i] in any order
 * (each once).  Every value is checked by the config parser.  NULL on
 * error. */
gm_governance_proposal *gm_governance_proposal_create(const char *parent_hex, int64_t expires,
                                                      const char *reason, const char *const *names,
                                                      const char *const *values, size_t n,
                                                      char *err, size_t errlen);
/* Parse a proposal strictly (canonical JSON only, one trailing newline
 * allowed), its values by the config parser.  `name` (e.g. the file's path)
 * starts every message.  NULL on error. */
gm_governance_proposal *gm_governance_proposal_parse(const char *buf, size_t len, const char *name,
                                                     char *err, size_t errlen);
/* As gm_governance_proposal_parse, from the regular file at path (at most
 * GM_POLICY_FILE_MAX bytes). */
gm_governance_proposal *gm_governance_proposal_load(const char *path, char *err, size_t errlen);
void gm_governance_proposal_destroy(gm_governance_proposal *p);
/* The canonical bytes (no newline; *len may be NULL), the hash and parent as
 * 64 hex digits, the expiry, the reason, the values (in canonical order) and
 * their parsed form.  Everything returned belongs to p. */
const char *gm_governance_proposal_bytes(const gm_governance_proposal *p, size_t *len);
const char *gm_governance_proposal_hash(const gm_governance_proposal *p);
const char *gm_governance_proposal_parent(const gm_governance_proposal *p);
int64_t gm_governance_proposal_expires(const gm_governance_proposal *p);
const char *gm_governance_proposal_reason(const gm_governance_proposal *p);
size_t gm_governance_proposal_value_count(const gm_governance_proposal *p);
/* The i-th value: 0, or -1 when i is out of range. */
int gm_governance_proposal_value(const gm_governance_proposal *p, size_t i, const char **name,
                                 const char **value);
const struct gm_conf *gm_governance_proposal_conf(const gm_governance_proposal *p);

/* One admin's signature on a proposal.  A signature file is the canonical
 * JSON {"key_id":"<8 hex>","policy":"<hash>","sig":"<base64>"} and a
 * newline.  `name` is what messages call it (the file; not owned, may be
 * NULL). */
struct gm_governance_signature {
    char key_id[9];
    char policy[2 * GM_HASH_LEN + 1];
    uint8_t sig[GM_SIGNATURE_LEN];
    const char *name;
};

/* Sign p with an admin's private key, which must have a name (its .vkey
 * beside it): the signature file's text (malloc'd, length in *len), or
 * NULL. */
char *gm_governance_sign(const gm_governance_proposal *p, const gm_key *admin, size_t *len,
                         char *err, size_t errlen);
/* Parse a signature file strictly (one trailing newline allowed); sets
 * s->name to `name`.  0 or -1. */
int gm_governance_signature_parse(const char *buf, size_t len, const char *name,
                                  struct gm_governance_signature *s, char *err, size_t errlen);
/* As gm_governance_signature_parse, from a file (s->name = path). */
int gm_governance_signature_load(const char *path, struct gm_governance_signature *s, char *err,
                                 size_t errlen);

/* Who may change the policy: the admins' public keys (named .vkey keys are
 * matched by key id; bare PEM keys by signature alone) and how many distinct
 * admins must sign (1..nkeys). */
struct gm_governance_admins {
    gm_key *const *keys;
    size_t nkeys;
    size_t threshold;
};

/* A decoded policy record. */
typedef struct gm_governance_record gm_governance_record;

/* Whether a ledger leaf's data is a policy record (by its first key; it may
 * still be malformed): 1 or 0. */
int gm_governance_is_record(const void *data, size_t len);
/* Parse a policy record strictly.  NULL on error. */
gm_governance_record *gm_governance_record_parse(const char *buf, size_t len, char *err,
                                                 size_t errlen);
void gm_governance_record_destroy(gm_governance_record *r);
const gm_governance_proposal *gm_governance_record_proposal(const gm_governance_record *r);
int64_t gm_governance_record_applied(const gm_governance_record *r);
size_t gm_governance_record_signature_count(const gm_governance_record *r);
const struct gm_governance_signature *gm_governance_record_signature(const gm_governance_record *r,
                                                                     size_t i);
/* The record's own canonical bytes (belong to r). */
const char *gm_governance_record_bytes(const gm_governance_record *r, size_t *len);
/* Check a record's signatures: at least admins->threshold of them verify,
 * each with a different listed admin, no admin twice, no signature by a
 * key not listed; and it was applied at or before it expired.  signers
 * (may be NULL; room for every signature) gets the admin index of each
 * signature.  0, or -1 saying which check failed. */
int gm_governance_record_check(const gm_governance_record *r,
                               const struct gm_governance_admins *admins, size_t *signers,
                               char *err, size_t errlen);

/* Apply a policy change: check that sigs (nsigs of them, each for this
 * proposal) hold at least admins->threshold valid signatures by distinct
 * listed admins and none by anyone else, that the proposal's parent is the
 * policy in force in the ledger (the last policy record; 64 zeros when
 * there is none), that it has not expired at `now`, and that `now` is not
 * before the policy in force was applied; then append the policy record
 * (appended, written and fdatasync'd under the ledger's exclusive lock, like
 * receipts) and set *index (may be NULL) to its leaf index.  Nothing is
 * appended on any error; messages name the proposal or signature file.  Not
 * concurrently with appends on the same handle (other processes are fine).
 * 0 or -1. */
int gm_ledger_apply_policy(gm_ledger *ledger, const gm_governance_proposal *p,
                           const struct gm_governance_signature *sigs, size_t nsigs,
                           const struct gm_governance_admins *admins, int64_t now, uint64_t *index,
                           char *err, size_t errlen);

/* Have this handle's writer check every policy record's signatures against
 * `admins` (gm_governance_record_check) before it stamps receipts with it:
 * an append or checkpoint over a policy record that does not check is
 * refused, naming the record.  Without it the writer checks the records'
 * form and parent chain only (gm_ledger_verify_governed checks the rest).
 * admins->keys (copied, at most GM_POLICY_SIGNATURES_MAX) must outlive the
 * handle.  NULL turns the check off.  0 or -1. */
int gm_ledger_trust_policy_admins(gm_ledger *ledger, const struct gm_governance_admins *admins,
                                  char *err, size_t errlen);

/* The leaf indices of the ledger's policy records (as of its last open,
 * append or refresh; not concurrently with appends on the same handle), in
 * order: a malloc'd array in *indices (free it; NULL
 * when there are none) and the count in *n.  0 or -1. */
int gm_ledger_policy_indices(gm_ledger *ledger, uint64_t **indices, size_t *n, char *err,
                             size_t errlen);
/* The leaf index of the policy in force (the last policy record), without
 * reading it: 1 with *index set, 0 when the ledger has none, or -1.  As of
 * the last open, append or refresh. */
int gm_ledger_policy_last(gm_ledger *ledger, uint64_t *index, char *err, size_t errlen);
/* The policy in force (the last policy record), decoded: 1 with *record
 * (free with gm_governance_record_destroy) and *index set (may be NULL), 0
 * when the ledger has none, or -1. */
int gm_ledger_policy_in_force(gm_ledger *ledger, gm_governance_record **record, uint64_t *index,
                              char *err, size_t errlen);

/* The market keys whose values differ between a policy and a parsed
 * gpumarket.conf (for slurmctld to refuse a hand edit): report(key, arg)
 * for each (report may be NULL); returns how many. */
int gm_governance_compare_conf(const gm_governance_proposal *policy, const struct gm_conf *conf,
                               void (*report)(const char *key, void *arg), void *arg);

/* ------------------------------------------------------------ ledger */

#define GM_LEDGER_CREATE     0x1 /* create DIR and the ledger file if missing */
#define GM_LEDGER_WRITE      0x2 /* open for appending (recovers a torn tail) */
#define GM_LEDGER_RECORD_MAX 65536

/* Open the ledger in directory `dir`.  Scans the record framing, checks the
 * last record's hash, and (with GM_LEDGER_WRITE) truncates a torn tail left
 * by a crash (see gm_ledger_recovered_bytes), after keeping its bytes in
 * DIR/torn-OFFSET.  A torn tail is a strict prefix of one record with no
 * complete record in it (gm_settle_tail_is_torn); anything else after the
 * last whole record is damage and the open fails, cutting nothing.  With
 * GM_LEDGER_WRITE the open also fails when DIR/checkpoint covers more
 * records than the file holds (records were lost).  `origin` names a new ledger
 * (GM_LEDGER_CREATE) and, when non-NULL, must match an existing one.
 * Returns a handle for gm_ledger_close, or NULL. */
gm_ledger *gm_ledger_open(const char *dir, int flags, const char *origin, char *err, size_t errlen);
void gm_ledger_close(gm_ledger *ledger);

/* Assign the next sequence number, set the key id, sign with `key` and
 * append; returns 0 only once the record is on disk (fdatasync).  Safe to
 * call from many threads (their records share one write and one sync: group
 * commit) and from many processes (an flock serialises writers).  Signing
 * uses helper threads on every CPU (started by the first append, stopped by
 * gm_ledger_close).  On success *r holds the stored receipt.
 *
 * Before the first append the writer checks what it builds on: every leaf
 * hash was recomputed at open, and every record since the last checkpoint
 * signed by `key` (or a key given to gm_ledger_trust_keys) must carry a valid
 * signature by one of those keys and its own sequence number; otherwise
 * nothing is appended (-1).  One receipt per segment: when the ledger already
 * holds a receipt for r's (cluster, job_id, array task, segment, start: the
 * start tells apart jobs given a reused job id), nothing is
 * appended, r->sequence is set to that record's and 1 is returned, so that
 * re-running a backfill or a writer's retry never bills twice.
 * Returns 0 (appended), 1 (already recorded) or -1. */
int gm_ledger_append(gm_ledger *ledger, const gm_key *key, struct gm_receipt *r, char *err,
                     size_t errlen);

/* Append n receipts as one group (one write, one sync): all are durable
 * when it returns 0, in order, with consecutive sequence numbers written back
 * into rs[].  Receipts whose segment the ledger already holds (or that repeat
 * an earlier one of rs[]) are not appended: their rs[i].sequence is that of
 * the receipt on record and, when `recorded` is not NULL, recorded[i] is set
 * to 1 (else 0).  Every receipt is checked first; on -1 none was appended
 * unless the message says the sync failed (then the ledger refuses further
 * appends until reopened). */
int gm_ledger_append_many(gm_ledger *ledger, const gm_key *key, struct gm_receipt *rs, size_t n,
                          unsigned char *recorded, char *err, size_t errlen);

/* Public keys (besides the signing key) whose signatures a writer accepts on
 * the records it builds on: the cluster's earlier keys after a rotation.  At
 * most GM_LEDGER_TRUSTED_MAX; the keys must outlive the handle.  0 or -1. */
#define GM_LEDGER_TRUSTED_MAX 16
int gm_ledger_trust_keys(gm_ledger *ledger, gm_key *const *keys, size_t nkeys, char *err,
                         size_t errlen);

/* The ledger's origin, its size and root hash as of the last open, append
 * or gm_ledger_refresh.  Not safe concurrently with appends. */
const char *gm_ledger_origin(const gm_ledger *ledger);
uint64_t gm_ledger_size(const gm_ledger *ledger);
const gm_merkle *gm_ledger_tree(const gm_ledger *ledger);
/* Bytes of torn tail found at open (and truncated with GM_LEDGER_WRITE). */
uint64_t gm_ledger_recovered_bytes(const gm_ledger *ledger);
/* Where the cut bytes were kept (DIR/torn-OFFSET), or NULL when nothing was
 * cut.  A torn tail is only ever a strict prefix of one record that holds no
 * complete record (see the recovery rules in gm_ledger_open). */
const char *gm_ledger_recovered_path(const gm_ledger *ledger);
/* Read records appended by other processes since open.  0 or -1. */
int gm_ledger_refresh(gm_ledger *ledger, char *err, size_t errlen);

/* The data of record `index` (a signed receipt), malloc'd, length in *len.
 * NULL on error. */
char *gm_ledger_read(gm_ledger *ledger, uint64_t index, size_t *len, char *err, size_t errlen);

/* Sign a checkpoint of the current tree with `key` (named like the ledger's
 * origin), write it atomically to DIR/checkpoint and return its text
 * (malloc'd), or NULL.  Before signing, every record's leaf hash is
 * recomputed from its data and the records since the last checkpoint signed
 * by `key` (or a trusted key) must verify, as before an append. */
char *gm_ledger_checkpoint(gm_ledger *ledger, const gm_key *key, char *err, size_t errlen);

/* The verifier keys recorded in DIR/verifier-keys by appenders (every key
 * that ever signed, a listing for the admin).  Not a source of trust:
 * whoever can write the ledger can write this file, so verification takes
 * its keys from the caller (--pubkey, VerifierKeys), never from here.  Returns the
 * number of keys put in a malloc'd array (*keys; free each and the array),
 * or -1. */
int gm_ledger_known_keys(const char *dir, gm_key ***keys, char *err, size_t errlen);

/* An auditor's check of a checkpoint saved earlier (`text`, len bytes; a
 * copy kept outside the ledger directory, as `gpumarket ledger checkpoint`
 * printed it) against the ledger as it is now: the checkpoint must carry a
 * valid signature by one of `keys` (gm_checkpoint_verify: a bare PEM key
 * works), name this ledger's origin, cover no more records than the ledger
 * holds (else records were lost), and the root hash of the ledger's first
 * cp->size records must be the signed one (else history was rewritten).
 * Reads the ledger's tree as of its last open or refresh: call
 * gm_ledger_refresh first to include other processes' appends.  Does not
 * modify the ledger; not safe concurrently with appends on the same handle.
 * On return, *cp (may be NULL) holds the parsed checkpoint once its
 * signature verified, so a caller can tell lost records (cp->size above
 * gm_ledger_size) from other failures.  Returns 0, or -1 with a message
 * saying which check failed. */
int gm_ledger_check_checkpoint(const gm_ledger *ledger, const char *text, size_t len,
                               gm_key *const *keys, size_t nkeys, struct gm_checkpoint *cp,
                               char *err, size_t errlen);
/* As gm_ledger_check_checkpoint, reading the checkpoint from the regular file
 * at `path` (at most 1 MiB; a FIFO or device is refused at once).  Messages
 * start with the path. */
int gm_ledger_check_checkpoint_file(const gm_ledger *ledger, const char *path, gm_key *const *keys,
                                    size_t nkeys, struct gm_checkpoint *cp, char *err,
                                    size_t errlen);

#define GM_VERIFY_HASH_ONLY 0x1 /* framing, hashes, tree, checkpoint only */

struct gm_ledger_verify_result {
    uint64_t size; /* whole records */
    uint8_t root[GM_HASH_LEN];
    uint64_t torn_bytes; /* unfinished append at the tail (not an error) */
    int has_checkpoint;
    uint64_t checkpoint_size;
    int checkpoint_signature_checked; /* 0: hash-only without keys, syntax and root only */
    int64_t bad_index;                /* first bad record, -1 when none or not a record */
};

/* Verify a ledger directory read-only: file header, every record's framing
 * and leaf hash, (unless GM_VERIFY_HASH_ONLY) every receipt's canonical form,
 * sequence number and signature by one of `keys`, and DIR/checkpoint's
 * signature and root against the tree.  With GM_VERIFY_HASH_ONLY and no
 * keys (nkeys 0), the checkpoint's root and size are checked but not its
 * signature (res->checkpoint_signature_checked 0).  Uses `threads` threads (0: every
 * online CPU).  Returns 0, or -1 with res->bad_index set to the first bad
 * record where there is one and err saying why. */
int gm_ledger_verify(const char *dir, gm_key *const *keys, size_t nkeys, int flags, int threads,
                     struct gm_ledger_verify_result *res, char *err, size_t errlen);
/* gm_ledger_verify, and (unless GM_VERIFY_HASH_ONLY) governance: every policy
 * record passes gm_governance_record_check with `admins` and names as parent
 * the policy record before it (64 zeros for the first), applied no earlier
 * than it; and every receipt names the policy it was priced under (the last
 * policy record before it applied at or before its start; none when there is
 * none) and its price is at or above that policy's reserve price for its
 * GPU type.  gm_ledger_verify is this with admins NULL, under which a
 * ledger holding a policy record fails (its signatures cannot be
 * checked). */
int gm_ledger_verify_governed(const char *dir, gm_key *const *keys, size_t nkeys,
                              const struct gm_governance_admins *admins, int flags, int threads,
                              struct gm_ledger_verify_result *res, char *err, size_t errlen);

/* Parse one ledger record from buf (framing: magic, length, header CRC32C,
 * data, leaf hash).  Returns the record's total size with the data located by
 * *data_off and *data_len, 0 when buf holds only a prefix of a record or only
 * zero bytes (a torn tail), or -1 when the record is damaged.  For fuzzing
 * and tools. */
long gm_ledger_parse_record(const uint8_t *buf, size_t len, size_t *data_off, size_t *data_len,
                            char *err, size_t errlen);

/* ------------------------------------------------------------ segment journal */

/* slurmctld's durable record of market lease segments, from their start to
 * the moment their receipt is in the ledger (the select plugin is its only
 * user; it is here so that it is tested without slurmctld).  A segment is
 * keyed by slurmctld's job id and its start time.  Events are appended with
 * one write(2) each, so a killed process loses none it returned from; the
 * receipts are written later, by gm_segments_settle, from one thread.
 * Every function is thread-safe; settle, sync and compact must not run at
 * the same time as each other (one writer thread). */
typedef struct gm_segments gm_segments;

enum gm_segment_state {
    GM_SEGMENT_NONE = 0, /* never seen (or receipted and forgotten) */
    GM_SEGMENT_OPEN,     /* running */
    GM_SEGMENT_CLOSED,   /* ended, its receipt not yet in the ledger */
    GM_SEGMENT_DONE,     /* its receipt is in the ledger */
};

struct gm_segment_key {
    uint32_t job;
    int64_t start;
};

/* How a segment ended.  energy_mj and emissions_mg are -1 when unknown;
 * recovered and energy_source as the receipt fields of those names (NULL
 * or "" for none). */
struct gm_segment_end {
    int64_t end;
    enum gm_end_reason reason;
    const char *recovered;
    int64_t energy_mj;
    const char *energy_source;
    int64_t emissions_mg;
};

/* Open (creating it, mode 0600) and replay the journal at `path`.  A torn
 * last record is cut (gm_segments_torn_bytes); a damaged record followed by
 * good ones is skipped and counted (gm_segments_damaged).  NULL with err set
 * when the file cannot be opened or is not a journal. */
gm_segments *gm_segments_open(const char *path, char *err, size_t errlen);
void gm_segments_close(gm_segments *s);
uint64_t gm_segments_torn_bytes(const gm_segments *s);
uint64_t gm_segments_damaged(const gm_segments *s);

/* A segment starts: r holds cluster, job_id (and array task), segment (the
 * least number it may have), user, account, nodes, gpu_type, gpu_count,
 * start, price and market order.  r->segment is raised past any segment
 * the journal remembers for slurmctld job `job`.  Returns 0, 1 when the
 * key is already known (open, ended or receipted: nothing is written), or
 * -1 when it could not be written (err says why, once: it is kept in memory
 * and written by the next gm_segments_compact). */
int gm_segments_begin(gm_segments *s, uint32_t job, struct gm_receipt *r, int64_t now, char *err,
                      size_t errlen);
/* A segment ends.  Returns 0, 1 when it is not open (never begun, or ended
 * already: a second job_fini), or -1 as gm_segments_begin. */
int gm_segments_end(gm_segments *s, uint32_t job, int64_t start, const struct gm_segment_end *e,
                    char *err, size_t errlen);
/* The controller is alive at `now` (the end a vanished job's segment gets). */
int gm_segments_heartbeat(gm_segments *s, int64_t now, char *err, size_t errlen);
enum gm_segment_state gm_segments_state(gm_segments *s, uint32_t job, int64_t start);
/* The latest time the journal shows the controller alive. */
int64_t gm_segments_last_seen(gm_segments *s);
/* The open segments' keys, malloc'd.  0, or -1 on no memory. */
int gm_segments_list_open(gm_segments *s, struct gm_segment_key **keys, size_t *count);

struct gm_segments_counts {
    size_t open, waiting, done; /* waiting: ended, no receipt yet */
    uint64_t records;           /* lines in the file */
    int behind;                 /* memory holds events the file lacks */
};
void gm_segments_counts(gm_segments *s, struct gm_segments_counts *c);

/* Write the receipts of up to `max` ended segments: fdatasync the journal,
 * fill gpu_seconds and amount by the one billing rule, sign and append them
 * to `ledger` as one group (a segment the ledger already holds is not
 * appended again), then record them as receipted.  Returns the number
 * written, 0 when none was waiting, -1 on an error (err says why; nothing
 * is lost: they wait for the next call), or -2 when every waiting segment
 * is unfit for a receipt (err names the first; they are kept). */
int gm_segments_settle(gm_segments *s, gm_ledger *ledger, const gm_key *key, size_t max,
                       int64_t now, char *err, size_t errlen);
/* Rewrite the journal atomically from memory: open and waiting segments,
 * receipted ones younger than keep_seconds (so that a stale job record
 * restored after a crash cannot open them again), the last-seen time.
 * Also the way back after a write error.  0 or -1. */
int gm_segments_compact(gm_segments *s, int64_t now, int64_t keep_seconds, char *err,
                        size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
