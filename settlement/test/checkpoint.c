/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Checkpoints: the exact C2SP tlog-checkpoint / signed-note layout, the key
 * id, and one row per malformed or altered note the parser must refuse. */
#include "config.h"

#include "settlement/gpumarket-settlement.h"
#include "tests/tap/tap.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char note[4096];

static char *replace(const char *from, const char *to)
{
    static char out[4096];
    const char *at = strstr(note, from);
    if (!at)
        bail_out("test bug: %s not in note", from);
    snprintf(out, sizeof out, "%.*s%s%s", (int)(at - note), note, to, at + strlen(from));
    return out;
}

int main(void)
{
    plan(TAP_NO_PLAN);
    char err[512];
    gm_key *key = gm_key_generate("example.org/log", err, sizeof err);
    gm_key *other = gm_key_generate("example.org/log", err, sizeof err);
    gm_key *renamed = gm_key_generate("example.org/other", err, sizeof err);
    uint8_t root[32];
    for (int i = 0; i < 32; i++)
        root[i] = (uint8_t)(i * 3);
    char *text = gm_checkpoint_sign("example.org/log", 12345, root, key, err, sizeof err);
    ok(text != NULL, "checkpoint signed (%s)", err);
    snprintf(note, sizeof note, "%s", text);
    free(text);

    /* Layout: origin, size, base64 root, blank line, "— name base64(id||sig)". */
    const char *want_body =
        "example.org/log\n12345\nAAMGCQwPEhUYGx4hJCcqLTAzNjk8P0JFSEtOUVRXWl0=\n\n";
    ok(strncmp(note, want_body, strlen(want_body)) == 0,
       "body is origin, size, base64 root hash, blank line");
    const char *sigline = note + strlen(want_body);
    ok(strncmp(sigline, "\xe2\x80\x94 example.org/log ", strlen("\xe2\x80\x94 example.org/log ")) ==
           0,
       "signature line starts with an em dash, a space, the key name and a space");
    const char *b64 = sigline + strlen("\xe2\x80\x94 example.org/log ");
    uint8_t raw[80];
    int n = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)(strchr(b64, '\n') - b64));
    is_int(n - 1, 4 + 64,
           "signature is base64 of 4-byte key id + 64-byte Ed25519 signature (one '=' pad)");
    char idhex[9];
    snprintf(idhex, sizeof idhex, "%02x%02x%02x%02x", raw[0], raw[1], raw[2], raw[3]);
    is_str(idhex, gm_key_id_hex(key), "key id bytes lead the signature");
    ok(gm_key_verify(key, note, strlen(want_body) - 1, raw + 4) == 0,
       "signature covers the body up to and including its last newline");

    struct gm_checkpoint cp;
    ok(gm_checkpoint_verify(note, strlen(note), &key, 1, &cp, err, sizeof err) == 0,
       "verifies (%s)", err);
    is_str(cp.origin, "example.org/log", "origin parsed");
    is_int(cp.size, 12345, "size parsed");
    ok(memcmp(cp.root, root, 32) == 0, "root parsed");
    gm_key *both[2] = { other, key };
    ok(gm_checkpoint_verify(note, strlen(note), both, 2, &cp, err, sizeof err) == 0,
       "verifies when the right key is among several");
    ok(gm_checkpoint_verify(note, strlen(note), &other, 1, &cp, err, sizeof err) == -1 &&
           strstr(err, "no signature by a known key"),
       "same name, other key (other id): not accepted: %s", err);
    ok(gm_checkpoint_verify(note, strlen(note), &renamed, 1, &cp, err, sizeof err) == -1,
       "other name: not accepted");

    /* A bare PEM public key has no name: it takes the signature line's name,
     * whose key id must then be its own (issue 9: ledger verify --pubkey
     * cluster.pub could not check the checkpoint). */
    char dir[] = "/tmp/gm-cp-test-XXXXXX", prefix[64], path[128];
    if (!mkdtemp(dir))
        bail_out("mkdtemp");
    snprintf(prefix, sizeof prefix, "%s/k", dir);
    if (gm_key_write_files(key, prefix, err, sizeof err))
        bail_out("write key files: %s", err);
    snprintf(path, sizeof path, "%s.pub", prefix);
    gm_key *pem = gm_key_load_public(path, err, sizeof err);
    ok(pem && gm_key_name(pem) == NULL, "the PEM public key loads without a name");
    ok(pem && gm_checkpoint_verify(note, strlen(note), &pem, 1, &cp, err, sizeof err) == 0,
       "the PEM key alone verifies the checkpoint, named by its signature line: %s", err);
    char other_prefix[64];
    snprintf(other_prefix, sizeof other_prefix, "%s/o", dir);
    gm_key_write_files(other, other_prefix, err, sizeof err);
    snprintf(path, sizeof path, "%s.pub", other_prefix);
    gm_key *other_pem = gm_key_load_public(path, err, sizeof err);
    ok(other_pem &&
           gm_checkpoint_verify(note, strlen(note), &other_pem, 1, &cp, err, sizeof err) == -1 &&
           strstr(err, "no signature by a known key"),
       "another PEM key is not accepted: %s", err);
    ok(pem &&
           gm_checkpoint_verify(replace("12345", "12346"), strlen(note), &pem, 1, &cp, err,
                                sizeof err) == -1 &&
           strstr(err, "does not verify"),
       "an altered checkpoint fails with the PEM key: %s", err);
    ok(pem && gm_key_set_name(pem, "example.org/log", err, sizeof err) == 0 &&
           strcmp(gm_key_id_hex(pem), gm_key_id_hex(key)) == 0,
       "gm_key_set_name gives the PEM key its key id");
    ok(pem && gm_key_set_name(pem, "example.org/other", err, sizeof err) == -1 &&
           strstr(err, "already named"),
       "a named key is not renamed: %s", err);
    ok(other_pem && gm_key_set_name(other_pem, "bad name", err, sizeof err) == -1,
       "a bad name is refused: %s", err);
    gm_key_free(pem);
    gm_key_free(other_pem);
    static const char *const exts[] = { ".key", ".pub", ".vkey" };
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s%s", prefix, exts[i]);
        unlink(path);
        snprintf(path, sizeof path, "%s%s", other_prefix, exts[i]);
        unlink(path);
    }
    rmdir(dir);

    /* A second, unknown signature line is ignored; extension lines parse. */
    char twosig[4096];
    snprintf(twosig, sizeof twosig, "%s\xe2\x80\x94 someone.else AAAAAAAAAAAAAA==\n", note);
    ok(gm_checkpoint_verify(twosig, strlen(twosig), &key, 1, &cp, err, sizeof err) == 0 &&
           cp.nsignatures == 2,
       "an extra signature by an unknown key is ignored (%s)", err);
    char *ext = replace("=\n\n", "=\nextension line\n\n");
    ok(gm_checkpoint_parse(ext, strlen(ext), &cp, err, sizeof err) == 0,
       "extension lines parse (%s)", err);
    ok(gm_checkpoint_verify(ext, strlen(ext), &key, 1, &cp, err, sizeof err) == -1 &&
           strstr(err, "altered"),
       "but the added line breaks the signature: %s", err);

    struct {
        const char *from, *to, *want;
    } rows[] = {
        { "12345\n", "12346\n", "does not verify" },
        { "example.org/log\n1", "example.org/lag\n1", "does not verify" },
        { "12345\n", "012345\n", "line 2" },
        { "12345\n", "-1\n", "line 2" },
        { "12345\n", "12a45\n", "line 2" },
        { "12345\n", "99999999999999999999\n", "line 2" },
        { "12345\n", "\n", "line 2" },
        { "example.org/log\n1", "\n1", "line 1" },
        { "AAMGCQwPEhUYGx4hJCcqLTAzNjk8P0JFSEtOUVRXWl0=",
          "AAMGCQwPEhUYGx4hJCcqLTAzNjk8P0JFSEtOUVRXWl1=", "line 3" },
        { "AAMGCQwPEhUYGx4hJCcqLTAzNjk8P0JFSEtOUVRXWl0=",
          "AAMGCQwPEhUYGx4hJCcqLTAzNjk8P0JFSEtOUVRX", "line 3" },
        { "AAMGCQwPEhUYGx4hJCcqLTAzNjk8P0JFSEtOUVRXWl0=",
          "AAMGCQwPEhUYGx4hJCcqLTAzNjk8P0JFSEtOUVRXWl0= ", "line 3" },
        { "=\n\n", "=\n", "no blank line" },
        { "=\n\n", "=\n\n\n", "empty extension line" },
        { "\xe2\x80\x94 ", "- ", "em dash" },
        { "\xe2\x80\x94 example.org/log ", "\xe2\x80\x94 example.org+log ", "'+'" },
        { "\xe2\x80\x94 example.org/log ", "\xe2\x80\x94 example.org/log  ", "canonical base64" },
        { "example.org/log\n1", "exam\tple.org/log\n1", "control character" },
        { "example.org/log\n1", "exam\xc3ple.org/log\n1", "UTF-8" },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char *bad = replace(rows[i].from, rows[i].to);
        err[0] = '\0';
        ok(gm_checkpoint_verify(bad, strlen(bad), &key, 1, &cp, err, sizeof err) == -1 &&
               strstr(err, rows[i].want),
           "row %zu refused (%s): %s", i, rows[i].want, err);
    }
    /* No final newline; truncated at every length. */
    ok(gm_checkpoint_parse(note, strlen(note) - 1, &cp, err, sizeof err) == -1 &&
           strstr(err, "newline"),
       "missing final newline refused: %s", err);
    int all = 1;
    for (size_t k = 0; k < strlen(note) - 1; k++)
        if (gm_checkpoint_verify(note, k, &key, 1, &cp, err, sizeof err) == 0)
            all = 0;
    ok(all, "every proper prefix of the note is refused");
    /* Every one-bit change is refused. */
    all = 1;
    size_t len = strlen(note);
    for (size_t k = 0; k < len; k++) {
        note[k] ^= 0x01;
        if (gm_checkpoint_verify(note, len, &key, 1, &cp, err, sizeof err) == 0) {
            diag("flip at byte %zu accepted", k);
            all = 0;
        }
        note[k] ^= 0x01;
    }
    ok(all, "every one-bit flip of the note is refused");
    gm_key_free(key);
    gm_key_free(other);
    gm_key_free(renamed);
    done_testing();
    return exit_status();
}
