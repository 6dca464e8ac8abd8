/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Ed25519 receipt keys: generation, PKCS#8 files with ssh-style permission
 * checks, C2SP signed-note key names and ids, one-shot sign and verify. */
#include "config.h"

#include "settlement/gpumarket-settlement.h"
#include "settlement/util.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NAME_MAX_LEN 255

struct gm_key {
    EVP_PKEY *pkey;
    int has_private;
    char name[NAME_MAX_LEN + 1]; /* "" when unknown (bare PEM public key) */
    char id_hex[9];
    uint8_t pub[32];
};

/* C2SP signed-note key names: non-empty, no whitespace, no '+'.  We also
 * refuse control characters and invalid UTF-8. */
static int check_name(const char *name, char *err, size_t errlen)
{
    size_t n = strlen(name);
    if (n == 0 || n > NAME_MAX_LEN)
        return gm_errf(err, errlen, "key name must be 1 to %d bytes", NAME_MAX_LEN);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c <= 0x20 || c == 0x7f || c == '+')
            return gm_errf(
                err, errlen,
                "key name \"%s\": no spaces, control characters or '+' allowed (C2SP signed-note)",
                name);
    }
    if (!gm_settle_utf8_valid((const uint8_t *)name, n))
        return gm_errf(err, errlen, "key name is not valid UTF-8");
    return 0;
}

int gm_settle_key_id_for_name(const gm_key *key, const char *name, size_t namelen, uint8_t id[4])
{
    if (namelen == 0 || namelen > NAME_MAX_LEN)
        return -1;
    /* name || newline || Ed25519 algorithm byte || public key */
    uint8_t in[NAME_MAX_LEN + 2 + 32], h[32];
    memcpy(in, name, namelen);
    in[namelen] = 0x0a;
    in[namelen + 1] = 0x01;
    memcpy(in + namelen + 2, key->pub, 32);
    gm_settle_sha256(in, namelen + 2 + 32, h);
    memcpy(id, h, 4);
    return 0;
}

static void compute_id(gm_key *k)
{
    uint8_t id[4];
    if (!k->name[0] || gm_settle_key_id_for_name(k, k->name, strlen(k->name), id) != 0) {
        k->id_hex[0] = '\0';
        return;
    }
    gm_hex_encode(id, 4, k->id_hex);
}

int gm_key_set_name(gm_key *key, const char *name, char *err, size_t errlen)
{
    if (check_name(name, err, errlen))
        return -1;
    if (key->name[0] && strcmp(key->name, name) != 0)
        return gm_errf(err, errlen, "the key is already named \"%s\", not \"%s\"", key->name, name);
    snprintf(key->name, sizeof key->name, "%s", name);
    compute_id(key);
    return 0;
}

static gm_key *wrap(EVP_PKEY *pkey, int priv, const char *name, char *err, size_t errlen)
{
    if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_ED25519) {
        EVP_PKEY_free(pkey);
        gm_errf(err, errlen, "not an Ed25519 key (receipts are signed with Ed25519)");
        return NULL;
    }
    if (name && check_name(name, err, errlen)) {
        EVP_PKEY_free(pkey);
        return NULL;
    }
    gm_key *k = calloc(1, sizeof *k);
    size_t publen = 32;
    if (!k || EVP_PKEY_get_raw_public_key(pkey, k->pub, &publen) != 1 || publen != 32) {
        EVP_PKEY_free(pkey);
        free(k);
        gm_errf(err, errlen, "cannot read the Ed25519 public key");
        return NULL;
    }
    k->pkey = pkey;
    k->has_private = priv;
    snprintf(k->name, sizeof k->name, "%s", name ? name : "");
    compute_id(k);
    return k;
}

gm_key *gm_key_generate(const char *name, char *err, size_t errlen)
{
    if (check_name(name, err, errlen))
        return NULL;
    EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (!pkey) {
        gm_errf(err, errlen, "Ed25519 key generation failed (OpenSSL)");
        return NULL;
    }
    return wrap(pkey, 1, name, err, errlen);
}

void gm_key_free(gm_key *key)
{
    if (!key)
        return;
    EVP_PKEY_free(key->pkey);
    OPENSSL_cleanse(key, sizeof *key);
    free(key);
}

const char *gm_key_name(const gm_key *key)
{
    return key->name[0] ? key->name : NULL;
}
const char *gm_key_id_hex(const gm_key *key)
{
    return key->id_hex;
}
int gm_key_has_private(const gm_key *key)
{
    return key->has_private;
}

char *gm_key_verifier_line(const gm_key *key)
{
    if (!key->name[0])
        return NULL;
    uint8_t raw[33];
    raw[0] = 0x01;
    memcpy(raw + 1, key->pub, 32);
    char b64[48];
    gm_settle_base64_encode(raw, sizeof raw, b64);
    size_t n = strlen(key->name) + 1 + 8 + 1 + strlen(b64) + 1;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s+%s+%s", key->name, key->id_hex, b64);
    return s;
}

static char *bio_string(BIO *bio, size_t *len)
{
    char *data;
    long n = BIO_get_mem_data(bio, &data);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s) {
        memcpy(s, data, (size_t)n);
        s[n] = '\0';
        *len = (size_t)n;
    }
    return s;
}

int gm_key_write_files(const gm_key *key, const char *prefix, char *err, size_t errlen)
{
    if (!key->has_private)
        return gm_errf(err, errlen, "no private key to write");
    size_t plen = strlen(prefix);
    char *kpath = malloc(plen + 8), *ppath = malloc(plen + 8), *vpath = malloc(plen + 8);
    char *priv = NULL, *pub = NULL, *vkey = NULL;
    size_t privlen = 0, publen = 0;
    int rc = -1;
    BIO *b1 = BIO_new(BIO_s_mem()), *b2 = BIO_new(BIO_s_mem());
    if (!kpath || !ppath || !vpath || !b1 || !b2) {
        gm_errf(err, errlen, "out of memory");
        goto out;
    }
    snprintf(kpath, plen + 8, "%s.key", prefix);
    snprintf(ppath, plen + 8, "%s.pub", prefix);
    snprintf(vpath, plen + 8, "%s.vkey", prefix);
    /* Check all three first, so we never leave a half-written set. */
    const char *paths[3] = { kpath, ppath, vpath };
    for (int i = 0; i < 3; i++)
        if (access(paths[i], F_OK) == 0) {
            gm_errf(err, errlen,
                    "%s already exists: refusing to overwrite a key (move it away first)",
                    paths[i]);
            goto out;
        }
    if (PEM_write_bio_PrivateKey(b1, key->pkey, NULL, NULL, 0, NULL, NULL) != 1 ||
        PEM_write_bio_PUBKEY(b2, key->pkey) != 1) {
        gm_errf(err, errlen, "cannot encode the key as PEM (OpenSSL)");
        goto out;
    }
    priv = bio_string(b1, &privlen);
    pub = bio_string(b2, &publen);
    char *line = gm_key_verifier_line(key);
    if (line) {
        vkey = malloc(strlen(line) + 2);
        if (vkey)
            sprintf(vkey, "%s\n", line);
        free(line);
    }
    if (!priv || !pub || !vkey) {
        gm_errf(err, errlen, "out of memory");
        goto out;
    }
    if (gm_io_write_file(kpath, priv, privlen, 0600, GM_IO_EXCLUSIVE, err, errlen) ||
        gm_io_write_file(ppath, pub, publen, 0644, GM_IO_EXCLUSIVE, err, errlen) ||
        gm_io_write_file(vpath, vkey, strlen(vkey), 0644, GM_IO_EXCLUSIVE, err, errlen))
        goto out;
    rc = 0;
out:
    if (priv) {
        OPENSSL_cleanse(priv, privlen);
        free(priv);
    }
    free(pub);
    free(vkey);
    free(kpath);
    free(ppath);
    free(vpath);
    BIO_free(b1);
    BIO_free(b2);
    return rc;
}

/* Exactly one PEM block of the given label, nothing but a final newline after. */
static int check_pem_shape(const char *buf, size_t len, const char *label)
{
    char begin[64], end[64];
    snprintf(begin, sizeof begin, "-----BEGIN %s-----\n", label);
    snprintf(end, sizeof end, "-----END %s-----\n", label);
    size_t bl = strlen(begin), el = strlen(end);
    if (len < bl + el || memcmp(buf, begin, bl) != 0)
        return -1;
    if (memcmp(buf + len - el, end, el) != 0)
        return -1;
    /* Only base64 lines in between. */
    for (size_t i = bl; i < len - el; i++) {
        char c = buf[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/' || c == '=' || c == '\n'))
            return -1;
    }
    return 0;
}

static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

gm_key *gm_key_parse_private(const char *pem, size_t len, const char *name, char *err,
                             size_t errlen)
{
    if (check_pem_shape(pem, len, "PRIVATE KEY")) {
        gm_errf(
            err, errlen,
            "not an unencrypted PKCS#8 PEM private key (-----BEGIN PRIVATE KEY-----); make one with gpumarket keygen");
        return NULL;
    }
    if (len > INT32_MAX) {
        gm_errf(err, errlen, "key too large");
        return NULL;
    }
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL) : NULL;
    BIO_free(bio);
    if (!pkey) {
        gm_errf(err, errlen, "cannot decode the PKCS#8 private key (damaged file?)");
        return NULL;
    }
    return wrap(pkey, 1, name, err, errlen);
}

/* Parse "name+hexid+base64(0x01||key)". */
static gm_key *parse_vkey(const char *buf, size_t len, char *err, size_t errlen)
{
    while (len > 0 && buf[len - 1] == '\n')
        len--;
    const char *p1 = memchr(buf, '+', len);
    const char *p2 = p1 ? memchr(p1 + 1, '+', len - (size_t)(p1 + 1 - buf)) : NULL;
    if (!p1 || !p2) {
        gm_errf(err, errlen, "not a PEM public key or a verifier key line (name+keyid+key)");
        return NULL;
    }
    char name[NAME_MAX_LEN + 1];
    size_t nlen = (size_t)(p1 - buf);
    if (nlen == 0 || nlen > NAME_MAX_LEN) {
        gm_errf(err, errlen, "verifier key: bad name length");
        return NULL;
    }
    memcpy(name, buf, nlen);
    name[nlen] = '\0';
    uint8_t id[4], raw[33];
    if (gm_hex_decode(p1 + 1, (size_t)(p2 - p1 - 1), id, 4)) {
        gm_errf(err, errlen, "verifier key: key id must be 8 lowercase hex digits");
        return NULL;
    }
    if (gm_settle_base64_decode(p2 + 1, len - (size_t)(p2 + 1 - buf), raw, sizeof raw) != 33 ||
        raw[0] != 0x01) {
        gm_errf(err, errlen, "verifier key: key must be base64 of 0x01 and a 32-byte Ed25519 key");
        return NULL;
    }
    EVP_PKEY *pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw + 1, 32);
    if (!pkey) {
        gm_errf(err, errlen, "verifier key: invalid Ed25519 public key");
        return NULL;
    }
    gm_key *k = wrap(pkey, 0, name, err, errlen);
    if (!k)
        return NULL;
    char hex[9];
    gm_hex_encode(id, 4, hex);
    if (strcmp(hex, k->id_hex) != 0) {
        gm_errf(err, errlen, "verifier key: key id %s does not match name and key (expected %s)",
                hex, k->id_hex);
        gm_key_free(k);
        return NULL;
    }
    return k;
}

gm_key *gm_key_parse_public(const char *buf, size_t len, char *err, size_t errlen)
{
    if (len > 0 && buf[0] != '-')
        return parse_vkey(buf, len, err, errlen);
    if (check_pem_shape(buf, len, "PUBLIC KEY") || len > INT32_MAX) {
        gm_errf(err, errlen,
                "not a PEM public key (-----BEGIN PUBLIC KEY-----) or verifier key line");
        return NULL;
    }
    BIO *bio = BIO_new_mem_buf(buf, (int)len);
    EVP_PKEY *pkey = bio ? PEM_read_bio_PUBKEY(bio, NULL, no_passphrase, NULL) : NULL;
    BIO_free(bio);
    if (!pkey) {
        gm_errf(err, errlen, "cannot decode the PEM public key");
        return NULL;
    }
    return wrap(pkey, 0, NULL, err, errlen);
}

gm_key *gm_key_load_public(const char *path, char *err, size_t errlen)
{
    size_t len;
    char msg[256];
    char *buf = gm_io_read_file(path, 0, 65536, &len, err, errlen);
    if (!buf)
        return NULL;
    gm_key *k = gm_key_parse_public(buf, len, msg, sizeof msg);
    free(buf);
    if (!k)
        gm_errf(err, errlen, "%s: %s", path, msg);
    return k;
}

/* The .vkey beside a private key names it, and so sets the key id on every
 * receipt: it is held to the private key's ownership and directory checks
 * (not to its mode 0600: it is public, but nobody else may write it). */
static gm_key *load_name_file(const char *path, char *err, size_t errlen)
{
    struct stat st;
    int fd = gm_io_open_regular(path, GM_IO_NOFOLLOW, &st, err, errlen);
    if (fd < 0)
        return NULL;
    if (gm_io_path_is_secure(path, &st, geteuid(), "the receipt key's name (.vkey)", err, errlen)) {
        close(fd);
        return NULL;
    }
    size_t len;
    char *buf = gm_io_read_fd(fd, path, 65536, &len, err, errlen);
    close(fd);
    if (!buf)
        return NULL;
    char msg[256];
    gm_key *k = gm_key_parse_public(buf, len, msg, sizeof msg);
    free(buf);
    if (!k)
        gm_errf(err, errlen, "%s: %s", path, msg);
    return k;
}

gm_key *gm_key_load_private(const char *path, const char *name, char *err, size_t errlen)
{
    /* Check the file we actually read (fstat on the open descriptor), as ssh does. */
    struct stat st;
    int fd = gm_io_open_regular(path, GM_IO_NOFOLLOW, &st, err, errlen);
    if (fd < 0)
        return NULL;
    if (st.st_uid != geteuid()) {
        gm_errf(
            err, errlen,
            "%s: private key is owned by uid %u, not by the running user (uid %u): run chown %u %s, or run as its owner",
            path, (unsigned)st.st_uid, (unsigned)geteuid(), (unsigned)geteuid(), path);
        close(fd);
        return NULL;
    }
    if (st.st_mode & 077) {
        gm_errf(err, errlen,
                "%s: private key is accessible by group or others (mode %04o): run chmod 600 %s",
                path, (unsigned)(st.st_mode & 07777), path);
        close(fd);
        return NULL;
    }
    /* Every directory above it too: a directory another user can write
     * lets them replace the key with their own (munge's path_is_secure). */
    if (gm_io_path_is_secure(path, &st, geteuid(), "the receipt key", err, errlen)) {
        close(fd);
        return NULL;
    }
    size_t got;
    char *buf = gm_io_read_fd(fd, path, 65536, &got, err, errlen);
    close(fd);
    if (!buf)
        return NULL;
    char msg[768];
    char namebuf[NAME_MAX_LEN + 1];
    gm_key *vk = NULL;
    if (!name) {
        size_t plen = strlen(path);
        size_t base = plen >= 4 && strcmp(path + plen - 4, ".key") == 0 ? plen - 4 : plen;
        char *vpath = malloc(base + 6);
        if (!vpath) {
            OPENSSL_cleanse(buf, got);
            free(buf);
            gm_errf(err, errlen, "out of memory");
            return NULL;
        }
        memcpy(vpath, path, base);
        memcpy(vpath + base, ".vkey", 6);
        vk = load_name_file(vpath, msg, sizeof msg);
        if (!vk || !gm_key_name(vk)) {
            gm_errf(
                err, errlen,
                "%s: the key's name comes from %s, which is unusable (%s); give the name explicitly",
                path, vpath, vk ? "no name" : msg);
            free(vpath);
            gm_key_free(vk);
            OPENSSL_cleanse(buf, got);
            free(buf);
            return NULL;
        }
        free(vpath);
        snprintf(namebuf, sizeof namebuf, "%s", gm_key_name(vk));
        name = namebuf;
    }
    gm_key *k = gm_key_parse_private(buf, got, name, msg, sizeof msg);
    OPENSSL_cleanse(buf, got);
    free(buf);
    if (!k) {
        gm_errf(err, errlen, "%s: %s", path, msg);
        gm_key_free(vk);
        return NULL;
    }
    if (vk && memcmp(vk->pub, k->pub, 32) != 0) {
        gm_errf(err, errlen, "%s: its .vkey file holds a different public key", path);
        gm_key_free(vk);
        gm_key_free(k);
        return NULL;
    }
    gm_key_free(vk);
    return k;
}

int gm_key_sign(const gm_key *key, const void *msg, size_t len, uint8_t sig[GM_SIGNATURE_LEN],
                char *err, size_t errlen)
{
    if (!key->has_private)
        return gm_errf(err, errlen, "signing needs a private key");
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t siglen = GM_SIGNATURE_LEN;
    int ok = ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, key->pkey) == 1 &&
             EVP_DigestSign(ctx, sig, &siglen, msg, len) == 1 && siglen == GM_SIGNATURE_LEN;
    EVP_MD_CTX_free(ctx);
    return ok ? 0 : gm_errf(err, errlen, "Ed25519 signing failed (OpenSSL)");
}

int gm_key_verify(const gm_key *key, const void *msg, size_t len,
                  const uint8_t sig[GM_SIGNATURE_LEN])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key->pkey) == 1 &&
             EVP_DigestVerify(ctx, sig, GM_SIGNATURE_LEN, msg, len) == 1;
    EVP_MD_CTX_free(ctx);
    return ok ? 0 : -1;
}
