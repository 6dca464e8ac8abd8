/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Keys: files and their modes, refusal to overwrite, ssh-style permission
 * and ownership checks naming the fix, the C2SP key id, bad key files. */
#include "config.h"

#include "settlement/gpumarket-settlement.h"
#include "tests/tap/tap.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/gm-keys-test.XXXXXX";

static void spit(const char *path, const char *s)
{
    FILE *f = fopen(path, "w");
    if (!f || fputs(s, f) < 0 || fclose(f) != 0)
        bail_out("write %s", path);
    chmod(path, 0600);
}

int main(void)
{
    plan(TAP_NO_PLAN);
    char err[512], prefix[600], kpath[700], ppath[700], vpath[700];
    if (!mkdtemp(tmpdir))
        bail_out("mkdtemp");
    snprintf(prefix, sizeof prefix, "%s/receipt", tmpdir);
    snprintf(kpath, sizeof kpath, "%s.key", prefix);
    snprintf(ppath, sizeof ppath, "%s.pub", prefix);
    snprintf(vpath, sizeof vpath, "%s.vkey", prefix);

    ok(gm_key_generate("bad name", err, sizeof err) == NULL && strstr(err, "no spaces"),
       "a key name with a space is refused: %s", err);
    ok(gm_key_generate("a+b", err, sizeof err) == NULL, "a key name with '+' is refused");
    gm_key *k = gm_key_generate("cluster.example/ledger", err, sizeof err);
    ok(k != NULL, "key generated");
    ok(gm_key_write_files(k, prefix, err, sizeof err) == 0, "key files written (%s)", err);
    struct stat st;
    ok(stat(kpath, &st) == 0 && (st.st_mode & 0777) == 0600, "private key has mode 0600 (%o)",
       (unsigned)(st.st_mode & 0777));
    ok(gm_key_write_files(k, prefix, err, sizeof err) == -1 && strstr(err, "refusing to overwrite"),
       "writing again is refused: %s", err);

    /* The key id, computed here independently. */
    char *line = gm_key_verifier_line(k);
    uint8_t pub[33];
    const char *b64 = line + strlen("cluster.example/ledger+") + 9; /* base64 may hold "+" too */
    EVP_DecodeBlock(pub, (const unsigned char *)b64, (int)strlen(b64));
    uint8_t in[256], h[32];
    size_t n = strlen("cluster.example/ledger");
    memcpy(in, "cluster.example/ledger", n);
    in[n] = '\n';
    memcpy(in + n + 1, pub, 33); /* 0x01 then the key */
    EVP_Digest(in, n + 34, h, NULL, EVP_sha256(), NULL);
    char want[9];
    snprintf(want, sizeof want, "%02x%02x%02x%02x", h[0], h[1], h[2], h[3]);
    is_str(gm_key_id_hex(k), want, "key id = SHA-256(name || 0x0A || 0x01 || key)[:4]");
    char wantline[300];
    snprintf(wantline, sizeof wantline, "cluster.example/ledger+%s+%s", want, b64);
    is_str(line, wantline, "verifier key line is name+id+base64(0x01||key)");
    free(line);

    gm_key *loaded = gm_key_load_private(kpath, NULL, err, sizeof err);
    ok(loaded && strcmp(gm_key_id_hex(loaded), gm_key_id_hex(k)) == 0,
       "private key loads, name from its .vkey (%s)", loaded ? "ok" : err);
    gm_key *pubk = gm_key_load_public(ppath, err, sizeof err);
    gm_key *vk = gm_key_load_public(vpath, err, sizeof err);
    uint8_t sig[64];
    gm_key_sign(loaded, "hello", 5, sig, err, sizeof err);
    ok(pubk && gm_key_verify(pubk, "hello", 5, sig) == 0, "PEM public key verifies its signature");
    ok(vk && gm_key_verify(vk, "hello", 5, sig) == 0 && strcmp(gm_key_id_hex(vk), want) == 0,
       "verifier key verifies and has the same id");
    ok(gm_key_verify(pubk, "hellp", 5, sig) == -1, "a changed message fails");
    ok(gm_key_sign(pubk, "x", 1, sig, err, sizeof err) == -1, "a public key cannot sign");

    /* Permissions, as ssh and munge check them. */
    chmod(kpath, 0640);
    ok(gm_key_load_private(kpath, NULL, err, sizeof err) == NULL && strstr(err, "chmod 600") &&
           strstr(err, kpath),
       "group-readable key refused, naming the file and the fix: %s", err);
    chmod(kpath, 0604);
    ok(gm_key_load_private(kpath, NULL, err, sizeof err) == NULL && strstr(err, "mode 0604"),
       "world-readable key refused: %s", err);
    chmod(kpath, 0600);
    /* The .vkey names the key (and so sets every receipt's key id): nobody
     * else may write it, though it is public and may be read by all. */
    ok(stat(vpath, &st) == 0 && (st.st_mode & 0777) == 0644, "the .vkey is written 0644");
    chmod(vpath, 0664);
    ok(gm_key_load_private(kpath, NULL, err, sizeof err) == NULL && strstr(err, vpath) &&
           strstr(err, "chmod"),
       "a group-writable .vkey beside the key is refused, naming it and the fix: %s", err);
    chmod(vpath, 0646);
    ok(gm_key_load_private(kpath, NULL, err, sizeof err) == NULL && strstr(err, vpath),
       "a world-writable .vkey beside the key is refused: %s", err);
    /* Public key files are not held to the private key's checks: a key the
     * auditor names is trusted because they named it. */
    gm_key *pub_any = gm_key_load_public(vpath, err, sizeof err);
    ok(pub_any != NULL, "the same .vkey still loads as a public key (%s)", pub_any ? "ok" : err);
    gm_key_free(pub_any);
    chmod(ppath, 0666);
    pub_any = gm_key_load_public(ppath, err, sizeof err);
    ok(pub_any != NULL, "a PEM public key of mode 0666 loads (%s)", pub_any ? "ok" : err);
    gm_key_free(pub_any);
    chmod(ppath, 0644);
    chmod(vpath, 0644);
    pub_any = gm_key_load_private(kpath, NULL, err, sizeof err);
    ok(pub_any != NULL, "with the .vkey back at 0644 the key loads (%s)", pub_any ? "ok" : err);
    gm_key_free(pub_any);
    if (geteuid() == 0) {
        if (chown(kpath, 12345, (gid_t)-1) != 0)
            bail_out("chown");
        ok(gm_key_load_private(kpath, NULL, err, sizeof err) == NULL && strstr(err, "chown"),
           "key owned by another user refused: %s", err);
        if (chown(kpath, 0, (gid_t)-1) != 0)
            bail_out("chown back");
    } else {
        skip(1, "only root can give the key file to another owner for this check");
    }

    /* Damaged and mismatched key files. */
    char bad[700];
    snprintf(bad, sizeof bad, "%s/bad.key", tmpdir);
    spit(bad, "-----BEGIN PRIVATE KEY-----\nnot base64 at all!\n-----END PRIVATE KEY-----\n");
    ok(gm_key_load_private(bad, "n", err, sizeof err) == NULL && strstr(err, bad),
       "garbage PEM refused: %s", err);
    spit(bad, "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n");
    ok(gm_key_load_private(bad, "n", err, sizeof err) == NULL && strstr(err, "unencrypted PKCS#8"),
       "encrypted key refused: %s", err);
    ok(gm_key_load_private(bad, NULL, err, sizeof err) == NULL && strstr(err, "bad.vkey"),
       "no .vkey and no name: refused naming the .vkey: %s", err);
    /* A vkey of another key next to this key. */
    gm_key *k2 = gm_key_generate("cluster.example/ledger", err, sizeof err);
    char p2[700];
    snprintf(p2, sizeof p2, "%s/two", tmpdir);
    gm_key_write_files(k2, p2, err, sizeof err);
    char cmd[2200];
    snprintf(cmd, sizeof cmd, "cp %s %s/two.vkey.new && mv %s/two.vkey.new %s/two.vkey", vpath,
             tmpdir, tmpdir, tmpdir);
    if (system(cmd) != 0)
        bail_out("cp");
    snprintf(p2, sizeof p2, "%s/two.key", tmpdir);
    ok(gm_key_load_private(p2, NULL, err, sizeof err) == NULL &&
           strstr(err, "different public key"),
       "a .vkey of another key is refused: %s", err);
    const char *badv[] = { "name+zzzzzzzz+AQ==", "name+00000000+AAAA", "noplus", "n+1234567+AQ==" };
    for (size_t i = 0; i < 4; i++)
        ok(gm_key_parse_public(badv[i], strlen(badv[i]), err, sizeof err) == NULL,
           "bad verifier key %zu refused: %s", i, err);
    line = gm_key_verifier_line(k);
    char *digit = &line[strlen("cluster.example/ledger+") + 1];
    *digit = *digit == '0' ? '1' : '0'; /* still hex, now the wrong id */
    ok(gm_key_parse_public(line, strlen(line), err, sizeof err) == NULL &&
           strstr(err, "does not match"),
       "a verifier key with a wrong id is refused: %s", err);
    free(line);

    gm_key_free(k);
    gm_key_free(k2);
    gm_key_free(loaded);
    gm_key_free(pubk);
    gm_key_free(vk);
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        diag("cannot remove %s", tmpdir);
    done_testing();
    return exit_status();
}
