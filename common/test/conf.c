/* SPDX-License-Identifier: GPL-2.0-or-later */
/* gpumarket.conf parser: a full good file, defaults, and a table with a row
 * for every kind of bad input, each checked for the file:line: key: prefix. */
#include "config.h"

#include "common/conf.h"

#include "common/money.h"
#include "common/rng.h"
#include "tests/tap/tap.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BASE "MarketPartition=market\nReservePrice=h100:2.40\n"

struct bad_case {
    const char *why;
    const char *text;
    size_t len;         /* 0: strlen(text) */
    const char *prefix; /* the message must start with this */
    const char *detail; /* and contain this */
};

static const struct bad_case bad[] = {
    { "unknown key", BASE "Colour=blue\n", 0, "t.conf:3: Colour: ", "unknown key" },
    { "misspelt key", BASE "ReservePrices=1\n", 0, "t.conf:3: ReservePrices: ", "unknown key" },
    { "duplicate key", BASE "MarketPartition=other\n", 0,
      "t.conf:3: MarketPartition: ", "first on line 1" },
    { "duplicate key in other case", BASE "marketpartition=other\n", 0,
      "t.conf:3: MarketPartition: ", "set twice" },
    { "missing '='", BASE "IdleDwellSeconds 60\n", 0, "t.conf:3: ", "has no '='" },
    { "no key before '='", BASE "=60\n", 0, "t.conf:3: ", "no key before" },
    { "empty value", BASE "IdleDwellSeconds=\n", 0, "t.conf:3: IdleDwellSeconds: ", "empty value" },
    { "empty value with a comment", BASE "Currency= # none\n", 0,
      "t.conf:3: Currency: ", "empty value" },
    { "two pairs on a line", BASE "IdleDwellSeconds=60 Currency=EUR\n", 0,
      "t.conf:3: IdleDwellSeconds: ", "space" },
    { "overlong line", NULL, 0, "t.conf:3: ", "longer than 1024" },
    { "NUL byte", BASE "Currency=E\0UR\n", sizeof(BASE "Currency=E\0UR\n") - 1,
      "t.conf:3: ", "control byte 0x00" },
    { "escape byte in a comment", BASE "# \x1b[31m\n", 0, "t.conf:3: ", "control byte 0x1b" },
    { "DEL byte", BASE "Currency=EUR\x7f\n", 0, "t.conf:3: ", "control byte 0x7f" },
    { "carriage return", "MarketPartition=market\r\n", 0, "t.conf:1: ", "carriage return" },
    { "invalid UTF-8 (lone continuation)", BASE "# \x80\n", 0, "t.conf:3: ", "invalid UTF-8" },
    { "invalid UTF-8 (overlong '/')", BASE "# \xc0\xaf\n", 0, "t.conf:3: ", "invalid UTF-8" },
    { "invalid UTF-8 (surrogate)", BASE "# \xed\xa0\x80\n", 0, "t.conf:3: ", "invalid UTF-8" },
    { "invalid UTF-8 (truncated at end)", BASE "# \xe2\x82", 0, "t.conf:3: ", "invalid UTF-8" },
    { "invalid UTF-8 (above U+10FFFF)", BASE "# \xf4\x90\x80\x80\n", 0,
      "t.conf:3: ", "invalid UTF-8" },
    { "non-ASCII in a value", BASE "Currency=\xe2\x82\xac\n", 0,
      "t.conf:3: Currency: ", "non-ASCII" },
    { "non-ASCII in a key", BASE "Curr\xc3\xa9ncy=EUR\n", 0,
      "t.conf:3: Curr??ncy: ", "unknown key" },
    { "negative count", BASE "ReserveGPUsPerNode=-1\n", 0,
      "t.conf:3: ReserveGPUsPerNode: ", "negative" },
    { "count with a sign", BASE "ReserveGPUsPerNode=+1\n", 0,
      "t.conf:3: ReserveGPUsPerNode: ", "not a whole number" },
    { "count too large", BASE "ReserveGPUsPerNode=1025\n", 0,
      "t.conf:3: ReserveGPUsPerNode: ", "the most is 1024" },
    { "count overflow", BASE "IdleDwellSeconds=99999999999999999999999\n", 0,
      "t.conf:3: IdleDwellSeconds: ", "too large" },
    { "count in hex", BASE "IdleDwellSeconds=0x10\n", 0,
      "t.conf:3: IdleDwellSeconds: ", "not a whole number" },
    { "count with a unit", BASE "IdleDwellSeconds=5m\n", 0,
      "t.conf:3: IdleDwellSeconds: ", "not a whole number" },
    { "count decimal", BASE "CarbonIntensity=400.5\n", 0,
      "t.conf:3: CarbonIntensity: ", "not a whole number" },
    { "carbon too large", BASE "CarbonIntensity=5001\n", 0,
      "t.conf:3: CarbonIntensity: ", "the most is 5000" },
    { "reserve price negative", "MarketPartition=m\nReservePrice=h100:-2.40\n", 0,
      "t.conf:2: ReservePrice: ", "negative" },
    { "reserve price overflow", "MarketPartition=m\nReservePrice=h100:9223372036855\n", 0,
      "t.conf:2: ReservePrice: ", "too large" },
    { "reserve price 7 decimals", "MarketPartition=m\nReservePrice=h100:1.0000001\n", 0,
      "t.conf:2: ReservePrice: ", "more than 6 decimals" },
    { "reserve price '=' instead of ':'", "MarketPartition=m\nReservePrice=h100=2.40\n", 0,
      "t.conf:2: ReservePrice: ", "item 1" },
    { "reserve price no type", "MarketPartition=m\nReservePrice=:2.40\n", 0,
      "t.conf:2: ReservePrice: ", "no GPU type" },
    { "reserve price no price", "MarketPartition=m\nReservePrice=h100:\n", 0,
      "t.conf:2: ReservePrice: ", "empty amount" },
    { "reserve price two colons", "MarketPartition=m\nReservePrice=h100:2:3\n", 0,
      "t.conf:2: ReservePrice: ", "more than one ':'" },
    { "reserve price bad type chars", "MarketPartition=m\nReservePrice=h/100:2.40\n", 0,
      "t.conf:2: ReservePrice: ", "is not a GPU type" },
    { "reserve price type too long",
      "MarketPartition=m\nReservePrice=abcdefghijabcdefghijabcdefghijab:1\n", 0,
      "t.conf:2: ReservePrice: ", "the most is 31" },
    { "reserve price empty item", "MarketPartition=m\nReservePrice=h100:2.40,,a100:1\n", 0,
      "t.conf:2: ReservePrice: ", "item 2 is empty" },
    { "reserve price trailing comma", "MarketPartition=m\nReservePrice=h100:2.40,\n", 0,
      "t.conf:2: ReservePrice: ", "item 2 is empty" },
    { "reserve price type twice", "MarketPartition=m\nReservePrice=h100:2,h100:3\n", 0,
      "t.conf:2: ReservePrice: ", "listed twice" },
    { "reserve price two defaults", "MarketPartition=m\nReservePrice=1,2\n", 0,
      "t.conf:2: ReservePrice: ", "more than one default" },
    { "reserve price space after comma", "MarketPartition=m\nReservePrice=h100:2, a100:1\n", 0,
      "t.conf:2: ReservePrice: ", "space" },
    { "reserve price word", "MarketPartition=m\nReservePrice=cheap\n", 0,
      "t.conf:2: ReservePrice: ", "not a decimal" },
    { "reserve price above MaxBid", "MarketPartition=m\nMaxBid=2\nReservePrice=h100:2.40\n", 0,
      "t.conf:3: ReservePrice: ", "above MaxBid 2.00 (line 2)" },
    { "default reserve above MaxBid", "MarketPartition=m\nMaxBid=2\nReservePrice=3\n", 0,
      "t.conf:3: ReservePrice: ", "default reserve price 3.00" },
    { "gpu power zero", BASE "GPUPower=h100:0\n", 0, "t.conf:3: GPUPower: ", "the least is 1" },
    { "gpu power default zero", BASE "GPUPower=0\n", 0, "t.conf:3: GPUPower: ", "the least is 1" },
    { "gpu power too large", BASE "GPUPower=h100:100001\n", 0,
      "t.conf:3: GPUPower: ", "GPU type h100: \"100001\" is too large: the most is 100000 watts" },
    { "gpu power overflow", BASE "GPUPower=99999999999999999999999\n", 0,
      "t.conf:3: GPUPower: ", "too large" },
    { "gpu power negative", BASE "GPUPower=h100:-700\n", 0,
      "t.conf:3: GPUPower: ", "\"-700\" is not a whole number of watts: give digits only, from 1" },
    { "gpu power decimal", BASE "GPUPower=h100:700.5\n", 0,
      "t.conf:3: GPUPower: ", "not a whole number" },
    { "gpu power with a unit", BASE "GPUPower=h100:700W\n", 0,
      "t.conf:3: GPUPower: ", "not a whole number" },
    { "gpu power with a sign", BASE "GPUPower=+700\n", 0,
      "t.conf:3: GPUPower: ", "item 1: \"+700\" is not a whole number of watts" },
    { "gpu power no watts", BASE "GPUPower=h100:\n", 0, "t.conf:3: GPUPower: ", "no power given" },
    { "gpu power no type", BASE "GPUPower=:700\n", 0,
      "t.conf:3: GPUPower: ", "no GPU type before ':': write TYPE:WATTS, e.g. h100:700" },
    { "gpu power two colons", BASE "GPUPower=h100:7:0\n", 0,
      "t.conf:3: GPUPower: ", "more than one ':'" },
    { "gpu power '=' instead of ':'", BASE "GPUPower=h100=700\n", 0,
      "t.conf:3: GPUPower: ", "item 1" },
    { "gpu power bad type chars", BASE "GPUPower=h/100:700\n", 0,
      "t.conf:3: GPUPower: ", "is not a GPU type" },
    { "gpu power type too long", BASE "GPUPower=abcdefghijabcdefghijabcdefghijab:700\n", 0,
      "t.conf:3: GPUPower: ", "the most is 31" },
    { "gpu power empty item", BASE "GPUPower=h100:700,,a100:400\n", 0,
      "t.conf:3: GPUPower: ", "item 2 is empty: write TYPE:WATTS items" },
    { "gpu power trailing comma", BASE "GPUPower=h100:700,\n", 0,
      "t.conf:3: GPUPower: ", "item 2 is empty" },
    { "gpu power type twice", BASE "GPUPower=h100:700,h100:600\n", 0,
      "t.conf:3: GPUPower: ", "listed twice: give each type one power" },
    { "gpu power two defaults", BASE "GPUPower=300,400\n", 0,
      "t.conf:3: GPUPower: ", "more than one default power" },
    { "gpu power space after comma", BASE "GPUPower=h100:700, a100:400\n", 0,
      "t.conf:3: GPUPower: ", "space" },
    { "gpu power set twice", BASE "GPUPower=700\ngpupower=600\n", 0,
      "t.conf:4: GPUPower: ", "first on line 3" },
    { "gpu power many digits", BASE "GPUPower=h100:000000000000000000000000000000000001000000\n", 0,
      "t.conf:3: GPUPower: ", "is too large" },
    { "max bid zero", BASE "MaxBid=0\n", 0, "t.conf:3: MaxBid: ", "zero" },
    { "max bid per type", BASE "MaxBid=h100:9\n", 0, "t.conf:3: MaxBid: ", "not a decimal" },
    { "max bid exponent", BASE "MaxBid=1e3\n", 0, "t.conf:3: MaxBid: ", "byte 2" },
    { "max bid NaN", BASE "MaxBid=NaN\n", 0, "t.conf:3: MaxBid: ", "not a decimal" },
    { "duplicate after a comment line", BASE "# x\nMarketPartition=a,b\n", 0,
      "t.conf:4: MarketPartition: ", "set twice" },
    { "partition bad chars", "MarketPartition=a,b\n", 0,
      "t.conf:1: MarketPartition: ", "not a partition name" },
    { "partition too long",
      "MarketPartition=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n", 0,
      "t.conf:1: MarketPartition: ", "the most is 64" },
    { "currency lower case", BASE "Currency=usd\n", 0,
      "t.conf:3: Currency: ", "not a currency code" },
    { "currency too long", BASE "Currency=ABCDEFGHIJKLMNOPQ\n", 0,
      "t.conf:3: Currency: ", "the most is 16" },
    { "relative receipt key", BASE "ReceiptKey=keys/receipt.key\n", 0,
      "t.conf:3: ReceiptKey: ", "not an absolute path" },
    { "relative ledger dir", BASE "LedgerDir=ledger\n", 0,
      "t.conf:3: LedgerDir: ", "not an absolute path" },
    { "origin with '+'", BASE "LedgerOrigin=a+b.example\n", 0,
      "t.conf:3: LedgerOrigin: ", "contains '+'" },
    { "relative verifier key", BASE "VerifierKeys=/etc/a.vkey,b.vkey\n", 0,
      "t.conf:3: VerifierKeys: ", "\"b.vkey\" is not an absolute path" },
    { "empty verifier key entry", BASE "VerifierKeys=/etc/a.vkey,,/etc/b.vkey\n", 0,
      "t.conf:3: VerifierKeys: ", "entry 2 is empty" },
    { "trailing comma in VerifierKeys", BASE "VerifierKeys=/etc/a.vkey,\n", 0,
      "t.conf:3: VerifierKeys: ", "entry 2 is empty" },
    { "verifier key listed twice", BASE "VerifierKeys=/etc/a.vkey,/etc/b.pub,/etc/a.vkey\n", 0,
      "t.conf:3: VerifierKeys: ", "\"/etc/a.vkey\" is listed twice" },
    { "seventeen verifier keys",
      BASE "VerifierKeys=/1,/2,/3,/4,/5,/6,/7,/8,/9,/10,/11,/12,/13,"
           "/14,/15,/16,/17\n",
      0, "t.conf:3: VerifierKeys: ", "more than 16 keys" },
    { "VerifierKeys set twice", BASE "VerifierKeys=/a\nVerifierKeys=/b\n", 0,
      "t.conf:4: VerifierKeys: ", "set twice (first on line 3)" },
    { "missing MarketPartition", "ReservePrice=1\n", 0, "t.conf: MarketPartition", "is not set" },
    { "missing ReservePrice", "MarketPartition=m\n", 0, "t.conf: ReservePrice", "is not set" },
    { "empty file", "", 0, "t.conf: MarketPartition", "is not set" },
    { "only comments", "# nothing\n\n   \n", 0, "t.conf: MarketPartition", "is not set" },
};

static void check_good(void)
{
    static const char text[] = "# gpumarket.conf for the test cluster\n"
                               "\n"
                               "MarketPartition=market   # the partition buyers submit to\n"
                               "  ReserveGPUsPerNode = 2\n"
                               "IdleDwellSeconds=600\n"
                               "ReservePrice=h100:2.40,a100:1.10,0.50\n"
                               "maxbid=100\n"
                               "Currency=EUR\n"
                               "CarbonIntensity=350\n"
                               "GPUPower=h100:700,a100:400,300\n"
                               "ReceiptKey=/etc/slurm/receipt.key\n"
                               "LedgerDir=/var/lib/gpumarket\n"
                               "VerifierKeys=/etc/slurm/old.vkey,/etc/slurm/new.pub\n"
                               "\t# a comment with UTF-8: \xe2\x82\xac \xf0\x9f\x98\x80\n"
                               "LedgerOrigin=example.org/gpumarket"; /* no final newline */
    struct gm_conf *conf;
    char err[512] = "";
    int rc = gm_conf_parse("good.conf", text, sizeof text - 1, &conf, err, sizeof err);
    if (!ok(rc == 0, "a full good file parses: %s", err))
        bail_out("cannot continue without a parsed configuration");
    int64_t v;
    is_str(gm_conf_market_partition(conf), "market", "MarketPartition");
    is_int(gm_conf_reserve_gpus_per_node(conf), 2, "ReserveGPUsPerNode (spaces around '=')");
    is_int(gm_conf_idle_dwell_seconds(conf), 600, "IdleDwellSeconds");
    ok(gm_conf_reserve_price(conf, "h100", &v) == 0 && v == 2400000, "ReservePrice h100");
    ok(gm_conf_reserve_price(conf, "a100", &v) == 0 && v == 1100000, "ReservePrice a100");
    ok(gm_conf_reserve_price(conf, "l4", &v) == 0 && v == 500000, "default ReservePrice");
    ok(gm_conf_reserve_price(conf, "H100", &v) == 0 && v == 500000,
       "GPU types are case-sensitive like gres types");
    is_int(gm_conf_reserve_price_count(conf), 2, "two explicit prices");
    const char *type;
    ok(gm_conf_reserve_price_at(conf, 1, &type, &v) == 0 && strcmp(type, "a100") == 0 &&
           v == 1100000,
       "explicit prices in file order");
    ok(gm_conf_reserve_price_at(conf, 2, &type, &v) == -1, "index past the end refused");
    ok(gm_conf_default_reserve_price(conf, &v) == 0 && v == 500000, "default price");
    is_int(gm_conf_max_bid(conf), 100000000, "MaxBid (key case-insensitive)");
    is_str(gm_conf_currency(conf), "EUR", "Currency");
    ok(gm_conf_carbon_intensity(conf, &v) == 0 && v == 350, "CarbonIntensity");
    is_int(gm_conf_gpu_power(conf, "h100"), 700, "GPUPower h100");
    is_int(gm_conf_gpu_power(conf, "a100"), 400, "GPUPower a100");
    is_int(gm_conf_gpu_power(conf, "l4"), 300, "default GPUPower for another type");
    is_int(gm_conf_gpu_power(conf, "H100"), 300, "GPUPower types are case-sensitive");
    is_int(gm_conf_line(conf, "gpupower"), 10, "line of GPUPower");
    is_str(gm_conf_receipt_key(conf), "/etc/slurm/receipt.key", "ReceiptKey");
    is_str(gm_conf_ledger_dir(conf), "/var/lib/gpumarket", "LedgerDir");
    is_str(gm_conf_ledger_origin(conf), "example.org/gpumarket", "LedgerOrigin, last line");
    is_int(gm_conf_verifier_key_count(conf), 2, "VerifierKeys: two keys");
    is_str(gm_conf_verifier_key(conf, 0), "/etc/slurm/old.vkey", "VerifierKeys: the first");
    is_str(gm_conf_verifier_key(conf, 1), "/etc/slurm/new.pub", "VerifierKeys: the second");
    ok(gm_conf_verifier_key(conf, 2) == NULL, "VerifierKeys: index past the end is NULL");
    is_int(gm_conf_line(conf, "ReservePrice"), 6, "line of ReservePrice");
    is_int(gm_conf_line(conf, "MAXBID"), 7, "line lookup is case-insensitive");
    is_int(gm_conf_line(conf, "Nope"), 0, "line of an unknown key is 0");
    is_str(gm_conf_name(conf), "good.conf", "name kept");
    gm_conf_destroy(conf);

    static const char minimal[] = "MarketPartition=m\nReservePrice=h100:0\n";
    rc = gm_conf_parse("min.conf", minimal, sizeof minimal - 1, &conf, err, sizeof err);
    if (!ok(rc == 0, "a minimal file parses: %s", err))
        return;
    is_int(gm_conf_reserve_gpus_per_node(conf), 0, "default ReserveGPUsPerNode");
    is_int(gm_conf_idle_dwell_seconds(conf), 300, "default IdleDwellSeconds");
    ok(gm_conf_reserve_price(conf, "h100", &v) == 0 && v == 0, "zero reserve price allowed");
    ok(gm_conf_reserve_price(conf, "a100", &v) == -1, "type without a price is not offered");
    ok(gm_conf_default_reserve_price(conf, &v) == -1, "no default price");
    is_int(gm_conf_max_bid(conf), GM_MONEY_MAX, "default MaxBid: no cap");
    is_str(gm_conf_currency(conf), "USD", "default Currency");
    ok(gm_conf_carbon_intensity(conf, &v) == -1, "CarbonIntensity unset");
    is_int(gm_conf_gpu_power(conf, "h100"), -1, "GPUPower unset: -1 for every type");
    is_str(gm_conf_receipt_key(conf), "/etc/slurm/gpumarket.key", "default ReceiptKey");
    is_str(gm_conf_ledger_dir(conf), "/var/spool/slurm/gpumarket", "default LedgerDir");
    ok(gm_conf_ledger_origin(conf) == NULL, "LedgerOrigin unset");
    is_int(gm_conf_verifier_key_count(conf), 0, "VerifierKeys unset: no keys");
    ok(gm_conf_receipts(conf), "Receipts default: yes");
    is_int(gm_conf_quote_port(conf), 0, "QuotePort default: 0, no quote endpoint");
    is_int(gm_conf_line(conf, "IdleDwellSeconds"), 0, "a defaulted key has line 0");
    gm_conf_destroy(conf);

    static const char off[] = "MarketPartition=m\nReservePrice=h100:0\nReceipts=NO\n";
    rc = gm_conf_parse("off.conf", off, sizeof off - 1, &conf, err, sizeof err);
    ok(rc == 0 && !gm_conf_receipts(conf), "Receipts=NO turns receipts off: %s", err);
    gm_conf_destroy(conf);
    static const char on[] = "MarketPartition=m\nReservePrice=h100:0\nReceipts=yes\n";
    rc = gm_conf_parse("on.conf", on, sizeof on - 1, &conf, err, sizeof err);
    ok(rc == 0 && gm_conf_receipts(conf), "Receipts=yes: on");
    gm_conf_destroy(conf);
    static const char maybe[] = "MarketPartition=m\nReservePrice=h100:0\nReceipts=maybe\n";
    rc = gm_conf_parse("bad.conf", maybe, sizeof maybe - 1, &conf, err, sizeof err);
    ok(rc != 0 && strstr(err, "bad.conf:3: Receipts: ") && strstr(err, "neither yes nor no"),
       "Receipts=maybe refused: %s", err);

    static const char qp[] = "MarketPartition=m\nReservePrice=h100:0\nQuotePort=6820\n";
    rc = gm_conf_parse("qp.conf", qp, sizeof qp - 1, &conf, err, sizeof err);
    ok(rc == 0 && gm_conf_quote_port(conf) == 6820, "QuotePort=6820: %s", err);
    gm_conf_destroy(conf);
    static const char qbad[] = "MarketPartition=m\nReservePrice=h100:0\nQuotePort=65536\n";
    rc = gm_conf_parse("qbad.conf", qbad, sizeof qbad - 1, &conf, err, sizeof err);
    ok(rc != 0 && strstr(err, "qbad.conf:3: QuotePort: ") && strstr(err, "the most is 65535"),
       "QuotePort=65536 refused: %s", err);

    /* GPUPower without a default: only the listed types have a power; the
     * bounds 1 and 100000 are accepted. */
    static const char powers[] = "MarketPartition=m\nReservePrice=1\nGPUPower=h100:1,b200:100000\n";
    rc = gm_conf_parse("power.conf", powers, sizeof powers - 1, &conf, err, sizeof err);
    ok(rc == 0, "GPUPower at its bounds parses: %s", err);
    if (rc == 0) {
        is_int(gm_conf_gpu_power(conf, "h100"), 1, "GPUPower 1 W");
        is_int(gm_conf_gpu_power(conf, "b200"), 100000, "GPUPower 100000 W");
        is_int(gm_conf_gpu_power(conf, "a100"), -1, "a type not listed, no default: -1");
        gm_conf_destroy(conf);
    }
    static const char one_default[] = "MarketPartition=m\nReservePrice=1\nGPUPower=450\n";
    rc = gm_conf_parse("power.conf", one_default, sizeof one_default - 1, &conf, err, sizeof err);
    ok(rc == 0 && gm_conf_gpu_power(conf, "anything") == 450, "a bare GPUPower covers every type");
    if (rc == 0)
        gm_conf_destroy(conf);

    /* A line of exactly the limit is fine. */
    char edge[GM_CONF_MAX_LINE + 64];
    int n = snprintf(edge, sizeof edge, "MarketPartition=m\nReservePrice=1\n#");
    memset(edge + n, 'x', GM_CONF_MAX_LINE - 1);
    edge[n + GM_CONF_MAX_LINE - 1] = '\n';
    rc = gm_conf_parse("edge.conf", edge, (size_t)n + GM_CONF_MAX_LINE, &conf, err, sizeof err);
    ok(rc == 0, "a line of exactly %d bytes is accepted: %s", GM_CONF_MAX_LINE, err);
    gm_conf_destroy(conf);
}

static void check_bad(void)
{
    char overlong[GM_CONF_MAX_LINE + 128];
    int n = snprintf(overlong, sizeof overlong, "%s#", BASE);
    memset(overlong + n, 'x', GM_CONF_MAX_LINE);
    overlong[n + GM_CONF_MAX_LINE] = '\0';

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *text = bad[i].text ? bad[i].text : overlong;
        size_t len = bad[i].len ? bad[i].len : strlen(text);
        struct gm_conf *conf = (struct gm_conf *)&n; /* must be reset to NULL */
        char err[512] = "";
        int rc = gm_conf_parse("t.conf", text, len, &conf, err, sizeof err);
        ok(rc == -1 && conf == NULL && strncmp(err, bad[i].prefix, strlen(bad[i].prefix)) == 0 &&
               strstr(err, bad[i].detail) != NULL && strchr(err, '\n') == NULL,
           "refuse %s: %s", bad[i].why, err);
    }
    /* Over the size limit, from a buffer. */
    size_t big = (size_t)GM_CONF_MAX_SIZE + 1;
    char *huge = malloc(big);
    if (!huge)
        bail_out("out of memory");
    memset(huge, '\n', big);
    struct gm_conf *conf;
    char err[512];
    ok(gm_conf_parse("t.conf", huge, big, &conf, err, sizeof err) == -1 &&
           strstr(err, "the most is 1048576"),
       "refuse a buffer over 1 MiB: %s", err);
    free(huge);
    /* A small err buffer is truncated safely. */
    char tiny[8];
    ok(gm_conf_parse("t.conf", "x", 1, &conf, tiny, sizeof tiny) == -1 && strlen(tiny) == 7,
       "error truncated into a small buffer");
    ok(gm_conf_parse("t.conf", "x", 1, &conf, NULL, 0) == -1, "no error buffer at all");
}

static void check_files(void)
{
    char dir[] = "/tmp/gm-conf-test-XXXXXX";
    if (!mkdtemp(dir))
        bail_out("mkdtemp: cannot make a temporary directory");
    char path[256];
    snprintf(path, sizeof path, "%s/gpumarket.conf", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        bail_out("cannot write %s", path);
    fputs("MarketPartition=market\nReservePrice=h100:2.40\nIdleDwellSeconds=x\n", f);
    fclose(f);
    chmod(path, 0644);

    struct gm_conf *conf;
    char err[512], want[400];
    snprintf(want, sizeof want, "%s:3: IdleDwellSeconds: ", path);
    ok(gm_conf_load(path, &conf, err, sizeof err) == -1 && strncmp(err, want, strlen(want)) == 0,
       "file errors name the path: %s", err);

    f = fopen(path, "w");
    fputs("MarketPartition=market\nReservePrice=h100:2.40\n", f);
    fclose(f);
    ok(gm_conf_load(path, &conf, err, sizeof err) == 0 && strcmp(gm_conf_name(conf), path) == 0,
       "a good file loads: %s", err);
    gm_conf_destroy(conf);

    chmod(path, 0666);
    ok(gm_conf_load(path, &conf, err, sizeof err) == -1 && strstr(err, "chmod go-w") &&
           strstr(err, path),
       "a world-writable file is refused: %s", err);
    /* It sets prices: writable by the group is as bad (issue 9). */
    chmod(path, 0664);
    snprintf(want, sizeof want, "writable by its group (mode 0664): run chmod g-w %s", path);
    ok(gm_conf_load(path, &conf, err, sizeof err) == -1 && strstr(err, want),
       "a group-writable file is refused, naming the fix: %s", err);
    chmod(path, 0644);
    /* So is a file in a directory others can write: they could replace it. */
    chmod(dir, 0777);
    snprintf(want, sizeof want, "is in directory %s, writable by every user", dir);
    ok(gm_conf_load(path, &conf, err, sizeof err) == -1 && strstr(err, want) &&
           strstr(err, "chmod go-w"),
       "a file in a world-writable directory is refused: %s", err);
    chmod(dir, 0700);
    if (geteuid() == 0) {
        chown(path, 12345, 0);
        ok(gm_conf_load(path, &conf, err, sizeof err) == -1 && strstr(err, "owned by uid 12345") &&
               strstr(err, "chown root"),
           "a file owned by another user than root is refused: %s", err);
        chown(path, 0, 0);
    } else {
        skip(1, "changing a file's owner needs root (uid %u here)", (unsigned)geteuid());
    }
    /* A FIFO at the path is refused at once, not waited on (alarm: a hang fails). */
    char fifo[300];
    snprintf(fifo, sizeof fifo, "%s/fifo.conf", dir);
    mkfifo(fifo, 0644);
    alarm(20);
    ok(gm_conf_load(fifo, &conf, err, sizeof err) == -1 && strstr(err, "a FIFO"),
       "a FIFO is refused at once: %s", err);
    alarm(0);
    unlink(fifo);

    ok(gm_conf_load(dir, &conf, err, sizeof err) == -1 && strstr(err, "not a regular file"),
       "a directory is refused: %s", err);
    char missing[300];
    snprintf(missing, sizeof missing, "%s/none.conf", dir);
    ok(gm_conf_load(missing, &conf, err, sizeof err) == -1 && strstr(err, "cannot open") &&
           strstr(err, missing),
       "a missing file is named: %s", err);

    f = fopen(path, "w");
    for (int i = 0; i < GM_CONF_MAX_SIZE / 64 + 1; i++)
        fprintf(f, "%-63s\n", "# padding");
    fclose(f);
    ok(gm_conf_load(path, &conf, err, sizeof err) == -1 && strstr(err, "bytes: the most"),
       "a file over 1 MiB is refused: %s", err);
    unlink(path);
    rmdir(dir);
}

/* xorshift64*: a fixed seed, so every run mutates the same way. */
static uint64_t rng_state = 0x2545f4914f6cdd1dULL;
static uint64_t rng(void)
{
    return gm_rng_next(&rng_state);
}

/* Random mutations of a good file (byte flips, insertions, deletions,
 * truncation): the parser either accepts, or refuses with one line naming
 * the input; never anything else (ASan and UBSan watch the memory). */
static void check_mutations(void)
{
    static const char seed[] =
        "MarketPartition=market\nReserveGPUsPerNode=1\nIdleDwellSeconds=600\n"
        "ReservePrice=h100:2.40,a100:1.10,0.5\nMaxBid=50\nCurrency=EUR\n"
        "CarbonIntensity=350\nGPUPower=h100:700,300\nReceiptKey=/etc/k\nLedgerDir=/var/l\n"
        "LedgerOrigin=a.b/c\n";
    static const char alphabet[] = "=:,.#\n\t 0123456789-+eEhx\r\x80\xc3\xa9\xff\x00/";
    int wrong = 0, accepted = 0, refused = 0;
    char buf[sizeof seed + 64];
    for (int i = 0; i < 20000; i++) {
        size_t len = sizeof seed - 1;
        memcpy(buf, seed, len);
        int edits = (int)(rng() % 4) + 1;
        for (int k = 0; k < edits; k++) {
            size_t at = len ? (size_t)(rng() % len) : 0;
            char c = alphabet[rng() % (sizeof alphabet - 1)];
            switch (rng() % 4) {
            case 0: /* replace */
                if (len)
                    buf[at] = c;
                break;
            case 1: /* insert */
                if (len + 1 < sizeof buf) {
                    memmove(buf + at + 1, buf + at, len - at);
                    buf[at] = c;
                    len++;
                }
                break;
            case 2: /* delete */
                if (len) {
                    memmove(buf + at, buf + at + 1, len - at - 1);
                    len--;
                }
                break;
            default: /* truncate */
                len = at;
                break;
            }
        }
        struct gm_conf *conf = NULL;
        char err[512] = "";
        int rc = gm_conf_parse("t.conf", buf, len, &conf, err, sizeof err);
        if (rc == 0 && conf && gm_conf_market_partition(conf)[0]) {
            accepted++;
        } else if (rc == -1 && !conf && strncmp(err, "t.conf", 6) == 0 && !strchr(err, '\n')) {
            refused++;
        } else if (wrong++ < 5) {
            diag("mutation %d: rc %d, message \"%s\"", i, rc, err);
        }
        gm_conf_destroy(conf);
    }
    diag("20000 mutated files: %d accepted, %d refused", accepted, refused);
    ok(wrong == 0 && accepted > 100 && refused > 100,
       "mutated files are accepted or refused with one line naming the file");
}

struct mv {
    char names[8][32], values[8][256];
    char *np[8], *vp[8];
    size_t n;
    char text[1024];
};

static void collect_value(const char *key, const char *value, void *arg)
{
    struct mv *m = arg;
    if (m->n >= 8)
        return;
    snprintf(m->names[m->n], sizeof m->names[0], "%s", key);
    snprintf(m->values[m->n], sizeof m->values[0], "%s", value);
    size_t t = strlen(m->text);
    snprintf(m->text + t, sizeof m->text - t, "%s=%s;", key, value);
    m->n++;
}

/* A file's configuration with a policy's market values, as slurmctld
 * prices under a governance policy. */
static void check_with_market(void)
{
    static const char file[] = "MarketPartition=mkt\nReserveGPUsPerNode=2\nIdleDwellSeconds=60\n"
                               "ReservePrice=h100:0.50\nLedgerDir=/var/lib/gm\n"
                               "VerifierKeys=/k/old.vkey,/k/new.vkey\n";
    const char *names[] = { "ReservePrice", "ReserveGPUsPerNode", "GPUPower" };
    const char *values[] = { "h100:3.00", "1", "h100:700" };
    struct gm_conf *base, *policy, *c;
    char err[512] = "";
    int64_t v;

    if (gm_conf_parse("file.conf", file, sizeof file - 1, &base, err, sizeof err) != 0 ||
        gm_conf_parse_policy_values("policy", names, values, 3, &policy, err, sizeof err) != 0)
        bail_out("with_market: %s", err);
    c = gm_conf_with_market(base, policy);
    gm_conf_destroy(base); /* the copy keeps nothing of it */
    ok(c && gm_conf_reserve_price(c, "h100", &v) == 0 && v == 3000000 &&
           gm_conf_reserve_gpus_per_node(c) == 1 && gm_conf_idle_dwell_seconds(c) == 300,
       "with_market: the policy's market values (dwell left out: its default, 300)");
    ok(c && !strcmp(gm_conf_market_partition(c), "mkt") &&
           !strcmp(gm_conf_ledger_dir(c), "/var/lib/gm") && gm_conf_verifier_key_count(c) == 2 &&
           !strcmp(gm_conf_verifier_key(c, 1), "/k/new.vkey"),
       "with_market: the file's other keys, its key list copied");
    ok(c && gm_conf_market_differences(c, policy, NULL, NULL) == 0,
       "with_market: no market key differs from the policy's");
    gm_conf_destroy(c);
    gm_conf_destroy(policy);

    /* The market values a file sets, as text the policy parser reads back
     * to the same values. */
    static const char full[] = "MarketPartition=m\nReserveGPUsPerNode=1\nIdleDwellSeconds=90\n"
                               "ReservePrice=h100:2.405,a100:1.10,0.5\nMaxBid=77\nCurrency=EUR\n"
                               "CarbonIntensity=350\nGPUPower=h100:700,300\nLedgerDir=/l\n";
    struct mv v2 = { 0 };
    if (gm_conf_parse("full.conf", full, sizeof full - 1, &base, err, sizeof err) != 0)
        bail_out("market_values: %s", err);
    int n = gm_conf_market_values(base, collect_value, &v2);
    ok(n == 7 && v2.n == 7, "market_values: the 7 market keys the file sets (%d)", n);
    is_str(v2.text,
           "ReserveGPUsPerNode=1;IdleDwellSeconds=90;ReservePrice=h100:2.405,a100:1.10,0.50;"
           "MaxBid=77.00;Currency=EUR;CarbonIntensity=350;GPUPower=h100:700,300;",
           "market_values: each as text");
    for (size_t i = 0; i < v2.n; i++) {
        v2.np[i] = v2.names[i];
        v2.vp[i] = v2.values[i];
    }
    ok(gm_conf_parse_policy_values("again", (const char *const *)v2.np, (const char *const *)v2.vp,
                                   v2.n, &policy, err, sizeof err) == 0 &&
           gm_conf_market_differences(base, policy, NULL, NULL) == 0,
       "market_values: read back as a policy, nothing differs: %s", err);
    gm_conf_destroy(policy);
    gm_conf_destroy(base);
    static const char min[] = "MarketPartition=m\nReservePrice=1\n";
    if (gm_conf_parse("min.conf", min, sizeof min - 1, &base, err, sizeof err) == 0) {
        v2.n = 0;
        ok(gm_conf_market_values(base, collect_value, &v2) == 1,
           "market_values: keys left at their defaults are left out");
        gm_conf_destroy(base);
    }
}

int main(void)
{
    plan(TAP_NO_PLAN);
    check_good();
    check_bad();
    check_files();
    check_mutations();
    check_with_market();
    done_testing();
    return exit_status();
}
