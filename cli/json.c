/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The one JSON writer of the gpumarket command: one object per line, fields
 * in the order given, strings escaped, hashes in lowercase hex. */
#include "config.h"

#include "cli/cli.h"
#include "common/text.h"

#include <inttypes.h>

static void key(struct gm_cli_json *j, const char *name)
{
    fputs(j->fields++ ? ",\"" : "\"", j->f);
    fputs(name, j->f);
    fputs("\":", j->f);
}

static void string(FILE *f, const char *s)
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

void gm_cli_json_begin(struct gm_cli_json *j, FILE *f)
{
    j->f = f;
    j->fields = 0;
    fputc('{', f);
}

void gm_cli_json_string(struct gm_cli_json *j, const char *name, const char *value)
{
    key(j, name);
    string(j->f, value);
}

void gm_cli_json_raw(struct gm_cli_json *j, const char *name, const char *json, size_t len)
{
    key(j, name);
    fwrite(json, 1, len, j->f);
}

void gm_cli_json_int(struct gm_cli_json *j, const char *name, int64_t value)
{
    key(j, name);
    fprintf(j->f, "%" PRId64, value);
}

void gm_cli_json_uint(struct gm_cli_json *j, const char *name, uint64_t value)
{
    key(j, name);
    fprintf(j->f, "%" PRIu64, value);
}

void gm_cli_json_bool(struct gm_cli_json *j, const char *name, int value)
{
    key(j, name);
    fputs(value ? "true" : "false", j->f);
}

void gm_cli_json_null(struct gm_cli_json *j, const char *name)
{
    key(j, name);
    fputs("null", j->f);
}

void gm_cli_json_hex(struct gm_cli_json *j, const char *name, const uint8_t *bytes, size_t n)
{
    char hex[2 * GM_HASH_LEN + 1];
    key(j, name);
    fputc('"', j->f);
    for (size_t i = 0; i < n; i += GM_HASH_LEN) {
        size_t k = n - i < GM_HASH_LEN ? n - i : GM_HASH_LEN;
        gm_hex_encode(bytes + i, k, hex);
        fputs(hex, j->f);
    }
    fputc('"', j->f);
}

void gm_cli_json_hashes(struct gm_cli_json *j, const char *name,
                        const uint8_t (*hashes)[GM_HASH_LEN], size_t n)
{
    char hex[2 * GM_HASH_LEN + 1];
    key(j, name);
    fputc('[', j->f);
    for (size_t i = 0; i < n; i++) {
        gm_hex_encode(hashes[i], GM_HASH_LEN, hex);
        fprintf(j->f, "%s\"%s\"", i ? "," : "", hex);
    }
    fputc(']', j->f);
}

void gm_cli_json_end(struct gm_cli_json *j)
{
    fputs("}\n", j->f);
}
