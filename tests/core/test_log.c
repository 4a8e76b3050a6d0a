/* Log lines (src/core/log.c): logfmt quoting and escaping of hostile values, JSON lines that
 * parse back with jansson carrying the same fields, cut long values that keep the line whole,
 * level filtering, one write per line under threads, dropped lines counted. Output is captured
 * by pointing stderr at a pipe. */
#include "log.h"
#include "logline.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int saved_stderr = -1, pipe_rd = -1;

/* stderr -> a fresh pipe (1 MiB, so that no test line blocks) */
static void capture(void)
{
    int p[2];
    cr_assert_eq(pipe(p), 0);
    fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
    saved_stderr = dup(STDERR_FILENO);
    cr_assert_eq(dup2(p[1], STDERR_FILENO), STDERR_FILENO);
    close(p[1]);
    pipe_rd = p[0];
}

/* Restores stderr and returns everything written (malloc'd, NUL-terminated; *len its size). */
static char *captured(size_t *len)
{
    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    ssize_t r;
    while ((r = read(pipe_rd, buf + n, cap - n - 1)) > 0) {
        n += (size_t)r;
        if (cap - n < 2)
            buf = realloc(buf, cap *= 2);
    }
    close(pipe_rd);
    buf[n] = 0;
    if (len)
        *len = n;
    return buf;
}

static int count_char(const char *s, size_t n, char c)
{
    int k = 0;
    for (size_t i = 0; i < n; i++)
        k += s[i] == c;
    return k;
}

/* the value of key in a one-line capture; asserts it is there */
static char *field(const char *line, size_t len, const char *key, size_t *n)
{
    static char out[LOG_LINE_MAX];
    size_t dummy;
    cr_assert(logline_field(line, len, key, out, sizeof(out), n ? n : &dummy),
              "no field %s in '%s'", key, line);
    return out;
}

static bool has_field(const char *line, size_t len, const char *key)
{
    char out[64];
    size_t n;
    return logline_field(line, len, key, out, sizeof(out), &n);
}

#define PEER "127.0.0.1:4567"
#define GUID "0aa8f7c2-1111-4e2f-9a3b-5c6d7e8f9a0b"

Test(log, logfmt_fixed_order)
{
    log_set_format(LOG_FORMAT_LOGFMT);
    capture();
    log_kv(LOG_WARN, LF(.peer = PEER, .guid = GUID, .user = "alice"), "login refused: %s",
           "wrong password");
    size_t n;
    char *out = captured(&n);
    cr_assert_eq(count_char(out, n, '\n'), 1, "%s", out);
    cr_assert_eq(strncmp(out, "ts=", 3), 0, "%s", out);
    /* ts=YYYY-MM-DDTHH:MM:SS.mmmZ */
    cr_expect_eq(out[7], '-');
    cr_expect_eq(out[13], 'T');
    cr_expect_eq(out[26], 'Z', "%s", out);
    const char *rest = strchr(out, ' ');
    cr_assert_str_eq(rest, " level=warn peer=" PEER " guid=" GUID
                           " user=alice msg=\"login refused: wrong password\"\n");
    free(out);
}

Test(log, logfmt_process_line_has_no_fields)
{
    log_set_format(LOG_FORMAT_LOGFMT);
    capture();
    log_msg(LOG_INFO, "mpsd running as pid %d", 42);
    log_kv(LOG_ERROR, NULL, "plain");
    log_kv(LOG_INFO, LF(.device = "amt-1", .port = 16992), "x");
    char *out = captured(NULL);
    char *l2 = strchr(out, '\n') + 1, *l3 = strchr(l2, '\n') + 1;
    cr_expect(strstr(out, " level=info msg=\"mpsd running as pid 42\"\n") == strchr(out, ' '), "%s",
              out);
    cr_expect(strstr(l2, " level=error msg=plain\n") == strchr(l2, ' '), "%s", l2);
    cr_expect(strstr(l3, " level=info device=amt-1 port=16992 msg=x\n") == strchr(l3, ' '), "%s",
              l3);
    free(out);
}

/* every hostile byte is escaped inside quotes; the line parses back to the original bytes */
Test(log, logfmt_hostile_values)
{
    static const char *const hostile[] = {
        "a\"b",
        "k=v",
        "two words",
        "line\nbreak msg=forged level=error",
        "\x1b[31mred\x1b[0m",
        "back\\slash",
        "tab\there",
        "cr\rhere",
        "caf\xc3\xa9",
        "\xff\xfe",
        "",
        "\x7f",
    };
    log_set_format(LOG_FORMAT_LOGFMT);
    for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
        capture();
        log_kv(LOG_INFO, LF(.peer = PEER, .user = hostile[i], .device = hostile[i]), "%s",
               hostile[i]);
        size_t n;
        char *out = captured(&n);
        cr_assert_eq(count_char(out, n, '\n'), 1, "case %zu: %s", i, out);
        cr_assert_eq(out[n - 1], '\n');
        for (size_t j = 0; j + 1 < n; j++)
            cr_assert(out[j] >= 0x20 && out[j] < 0x7f, "case %zu: raw byte 0x%02x at %zu: %s", i,
                      (unsigned char)out[j], j, out);
        cr_expect_str_eq(field(out, n, "user", NULL), hostile[i], "case %zu: %s", i, out);
        cr_expect_str_eq(field(out, n, "device", NULL), hostile[i], "case %zu: %s", i, out);
        cr_expect_str_eq(field(out, n, "msg", NULL), hostile[i], "case %zu: %s", i, out);
        cr_expect_str_eq(field(out, n, "peer", NULL), PEER, "case %zu: %s", i, out);
        cr_expect_str_eq(field(out, n, "level", NULL), "info", "case %zu forged a key: %s", i, out);
        free(out);
    }
}

Test(log, logfmt_quoting_rules)
{
    log_set_format(LOG_FORMAT_LOGFMT);
    capture();
    log_kv(LOG_INFO, LF(.user = "a\"b=c d\ne\x1b"), "ok");
    char *out = captured(NULL);
    cr_expect(strstr(out, " user=\"a\\\"b=c d\\ne\\x1b\" msg=ok\n"), "%s", out);
    free(out);
}

Test(log, logfmt_nul_via_n)
{
    log_set_format(LOG_FORMAT_LOGFMT);
    capture();
    log_kv_n(LOG_INFO, LF(.peer = PEER), "a\0b", 3);
    size_t n, vn;
    char *out = captured(&n);
    cr_expect(strstr(out, " msg=\"a\\x00b\"\n"), "%s", out);
    char *v = field(out, n, "msg", &vn);
    cr_assert_eq(vn, 3);
    cr_expect_eq(memcmp(v, "a\0b", 3), 0);
    free(out);
}

/* a long value is cut ("...") and the line still ends with its closing quote and one newline */
Test(log, logfmt_long_values_cut)
{
    static char big[20000];
    memset(big, 'x', sizeof(big) - 1);
    static char quotes[20000];
    memset(quotes, '"', sizeof(quotes) - 1);
    log_set_format(LOG_FORMAT_LOGFMT);
    capture();
    log_kv(LOG_INFO, LF(.peer = PEER, .user = big, .device = quotes), "%s", quotes);
    log_kv_n(LOG_INFO, LF(.peer = PEER), big, sizeof(big) - 1);
    size_t n;
    char *out = captured(&n);
    cr_assert_eq(count_char(out, n, '\n'), 2, "%s", out);
    char *l2 = strchr(out, '\n') + 1;
    size_t n1 = (size_t)(l2 - out), n2 = n - n1;
    cr_expect_leq(n1, LOG_LINE_MAX);
    cr_expect_leq(n2, LOG_LINE_MAX);
    size_t vn;
    char *u = field(out, n1, "user", &vn);
    cr_expect(vn > 100 && vn < 600 && strcmp(u + vn - 3, "...") == 0, "user %zu", vn);
    char *d = field(out, n1, "device", &vn);
    cr_expect(vn > 50 && strcmp(d + vn - 3, "...") == 0, "device %zu", vn);
    cr_expect(d[0] == '"');
    char *m = field(out, n1, "msg", &vn);
    cr_expect(vn > 500 && strcmp(m + vn - 3, "...") == 0 && m[0] == '"', "msg %zu", vn);
    cr_expect_str_eq(field(out, n1, "peer", NULL), PEER);
    m = field(l2, n2, "msg", &vn);
    cr_expect(vn > 1000 && strcmp(m + vn - 3, "...") == 0, "msg %zu", vn);
    cr_expect_eq(l2[n2 - 2], '.', "%s", l2 + n2 - 10); /* unquoted xxx... */
    free(out);
}

static json_t *parse_json_line(const char *line, size_t n)
{
    json_error_t e;
    json_t *o = json_loadb(line, n, JSON_ALLOW_NUL, &e);
    cr_assert_not_null(o, "not JSON (%s): %s", e.text, line);
    cr_assert(json_is_object(o));
    return o;
}

Test(log, json_same_fields_in_order)
{
    log_set_format(LOG_FORMAT_JSON);
    capture();
    log_kv(LOG_WARN,
           LF(.peer = PEER, .guid = GUID, .user = "alice", .device = "amt-1", .port = 16992),
           "login refused: %s", "wrong password");
    size_t n;
    char *out = captured(&n);
    cr_assert_eq(count_char(out, n, '\n'), 1, "%s", out);
    cr_assert_eq(out[n - 1], '\n');
    json_t *o = parse_json_line(out, n - 1);
    static const char *const order[] = {"ts",   "level",  "peer", "guid",
                                        "user", "device", "port", "msg"};
    size_t i = 0;
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        cr_assert_lt(i, 8);
        cr_expect_str_eq(k, order[i], "key %zu", i);
        i++;
    }
    cr_expect_eq(i, 8);
    cr_expect_str_eq(json_string_value(json_object_get(o, "level")), "warn");
    cr_expect_str_eq(json_string_value(json_object_get(o, "peer")), PEER);
    cr_expect_str_eq(json_string_value(json_object_get(o, "guid")), GUID);
    cr_expect_str_eq(json_string_value(json_object_get(o, "user")), "alice");
    cr_expect_eq(json_integer_value(json_object_get(o, "port")), 16992);
    cr_expect_str_eq(json_string_value(json_object_get(o, "msg")), "login refused: wrong password");
    cr_expect_eq(strlen(json_string_value(json_object_get(o, "ts"))), 24);
    json_decref(o);
    free(out);
}

Test(log, json_hostile_values)
{
    static const char *const hostile[] = {
        "a\"b", "line\nbreak\",\"level\":\"error", "\x1b[31m", "back\\slash", "caf\xc3\xa9", "",
    };
    log_set_format(LOG_FORMAT_JSON);
    for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
        capture();
        log_kv(LOG_INFO, LF(.peer = PEER, .user = hostile[i]), "%s", hostile[i]);
        size_t n;
        char *out = captured(&n);
        cr_assert_eq(count_char(out, n, '\n'), 1, "case %zu: %s", i, out);
        for (size_t j = 0; j + 1 < n; j++)
            cr_assert(out[j] >= 0x20 && out[j] < 0x7f, "case %zu: raw byte at %zu: %s", i, j, out);
        json_t *o = parse_json_line(out, n - 1);
        cr_expect_str_eq(json_string_value(json_object_get(o, "user")), hostile[i], "case %zu", i);
        cr_expect_str_eq(json_string_value(json_object_get(o, "msg")), hostile[i], "case %zu", i);
        cr_expect_str_eq(json_string_value(json_object_get(o, "level")), "info", "case %zu", i);
        json_decref(o);
        free(out);
    }
}

/* NUL survives as \u0000; bytes that are not UTF-8 become '?' */
Test(log, json_nul_and_invalid_utf8)
{
    log_set_format(LOG_FORMAT_JSON);
    capture();
    log_kv_n(LOG_INFO, LF(.peer = PEER), "a\0b", 3);
    log_kv(LOG_INFO, LF(.peer = PEER, .user = "x\xff\xfey"), "\xc3(");
    size_t n;
    char *out = captured(&n);
    char *l2 = strchr(out, '\n') + 1;
    json_t *o = parse_json_line(out, (size_t)(l2 - out) - 1);
    json_t *m = json_object_get(o, "msg");
    cr_assert_eq(json_string_length(m), 3);
    cr_expect_eq(memcmp(json_string_value(m), "a\0b", 3), 0);
    json_decref(o);
    o = parse_json_line(l2, strlen(l2) - 1);
    cr_expect_str_eq(json_string_value(json_object_get(o, "user")), "x??y");
    cr_expect_str_eq(json_string_value(json_object_get(o, "msg")), "?(");
    json_decref(o);
    free(out);
}

Test(log, json_long_values_cut)
{
    static char big[20000];
    memset(big, '\x01', sizeof(big) - 1); /* six bytes each when escaped */
    log_set_format(LOG_FORMAT_JSON);
    capture();
    log_kv(LOG_INFO, LF(.peer = PEER, .user = big), "%s", big);
    size_t n;
    char *out = captured(&n);
    cr_assert_eq(count_char(out, n, '\n'), 1);
    cr_expect_leq(n, LOG_LINE_MAX);
    json_t *o = parse_json_line(out, n - 1);
    const char *u = json_string_value(json_object_get(o, "user"));
    const char *m = json_string_value(json_object_get(o, "msg"));
    cr_assert(u && m);
    cr_expect(strlen(u) < 600 && strcmp(u + strlen(u) - 3, "...") == 0);
    cr_expect(strlen(m) > 100 && strcmp(m + strlen(m) - 3, "...") == 0, "%zu", strlen(m));
    cr_expect_str_eq(json_string_value(json_object_get(o, "peer")), PEER);
    json_decref(o);
    free(out);
}

static int evaluated;
static const char *side_effect(void)
{
    evaluated++;
    return "x";
}

Test(log, level_filtering)
{
    log_set_format(LOG_FORMAT_LOGFMT);
    log_set_level(LOG_WARN);
    capture();
    log_kv(LOG_INFO, LF(.peer = PEER), "info line");
    log_msg(LOG_DEBUG, "debug line");
    log_kv_debug(LF(.peer = side_effect()), "debug %s", side_effect());
    log_kv(LOG_WARN, LF(.peer = PEER), "warn line");
    log_kv(LOG_ERROR, NULL, "error line");
    size_t n;
    char *out = captured(&n);
    cr_expect_eq(count_char(out, n, '\n'), 2, "%s", out);
    cr_expect(!strstr(out, "info line") && !strstr(out, "debug line"), "%s", out);
    cr_expect(strstr(out, "level=warn peer=" PEER " msg=\"warn line\""), "%s", out);
    cr_expect(strstr(out, "level=error msg=\"error line\""), "%s", out);
    cr_expect_eq(evaluated, 0, "log_kv_debug evaluated its arguments below debug");
    cr_expect(!log_enabled(LOG_INFO) && log_enabled(LOG_WARN));
    log_set_level(LOG_DEBUG);
    capture();
    log_kv_debug(LF(.peer = side_effect()), "debug %s", side_effect());
    out = (free(out), captured(&n));
    cr_expect_eq(evaluated, 2);
    cr_expect(strstr(out, "level=debug peer=x msg=\"debug x\""), "%s", out);
    free(out);
    log_set_level(LOG_INFO);
}

/* hex dumps: 16 bytes a line with off, hex and ascii fields; bounded in lines */
static void hexdump_lines(enum log_format fmt)
{
    uint8_t b[40];
    for (size_t i = 0; i < sizeof(b); i++)
        b[i] = (uint8_t)(i * 7);
    memcpy(b, "A\"=\n", 4);
    log_set_format(fmt);
    capture();
    log_hexdump(LOG_INFO, LF(.guid = GUID, .peer = PEER, .dir = "in"), "APF message, 40 bytes", b,
                sizeof(b));
    size_t n;
    char *out = captured(&n);
    cr_assert_eq(count_char(out, n, '\n'), 3, "%s", out);
    char *l[3] = {out, strchr(out, '\n') + 1, NULL};
    l[2] = strchr(l[1], '\n') + 1;
    static const char *const offs[] = {"0", "16", "32"};
    for (int k = 0; k < 3; k++) {
        size_t len = (size_t)(strchr(l[k], '\n') - l[k]);
        cr_expect_str_eq(field(l[k], len, "peer", NULL), PEER);
        cr_expect_str_eq(field(l[k], len, "guid", NULL), GUID);
        cr_expect_str_eq(field(l[k], len, "dir", NULL), "in");
        cr_expect_str_eq(field(l[k], len, "off", NULL), offs[k]);
        cr_expect_str_eq(field(l[k], len, "msg", NULL), "APF message, 40 bytes");
    }
    size_t len0 = (size_t)(l[1] - l[0]) - 1, len2 = strlen(l[2]) - 1;
    cr_expect_str_eq(field(l[0], len0, "hex", NULL),
                     "41 22 3d 0a 1c 23 2a 31 38 3f 46 4d 54 5b 62 69");
    cr_expect_str_eq(field(l[0], len0, "ascii", NULL), "A\"=..#*18?FMT[bi");
    cr_expect_str_eq(field(l[2], len2, "hex", NULL), "e0 e7 ee f5 fc 03 0a 11");
    cr_expect_str_eq(field(l[2], len2, "ascii", NULL), "........");
    free(out);
}

Test(log, hexdump_logfmt)
{
    hexdump_lines(LOG_FORMAT_LOGFMT);
}

Test(log, hexdump_json)
{
    hexdump_lines(LOG_FORMAT_JSON);
}

Test(log, hexdump_bounded)
{
    static uint8_t big[LOG_HEXDUMP_LINES * 16 + 100];
    log_set_format(LOG_FORMAT_LOGFMT);
    capture();
    log_hexdump(LOG_INFO, LF(.peer = PEER, .dir = "out"), "APF channel data", big, sizeof(big));
    log_hexdump(LOG_DEBUG, LF(.peer = PEER, .dir = "out"), "below the level", big, 16);
    size_t n;
    char *out = captured(&n);
    cr_expect_eq(count_char(out, n, '\n'), LOG_HEXDUMP_LINES + 1);
    cr_expect(strstr(out, "msg=\"APF channel data: 100 more bytes not dumped\"\n"), "%s", out);
    cr_expect(!strstr(out, "below the level"));
    free(out);
}

/* lines from several threads arrive whole: one write(2) each */
#define THREADS 4
#define LINES   300

static void *logger(void *arg)
{
    long id = (long)arg;
    char user[64];
    snprintf(user, sizeof(user), "user %ld \"quoted\"", id);
    for (int i = 0; i < LINES; i++)
        log_kv(LOG_INFO, LF(.peer = PEER, .user = user), "line %d of thread %ld %.*s", i, id,
               (int)(id * 50),
               "................................................................"
               "................................................................"
               "................................................................"
               "................................................................");
    return NULL;
}

static void threads_whole(enum log_format fmt)
{
    log_set_format(fmt);
    capture();
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, logger, (void *)i);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    size_t n;
    char *out = captured(&n);
    int lines = 0;
    for (char *l = out; *l;) {
        char *e = strchr(l, '\n');
        cr_assert_not_null(e);
        size_t len = (size_t)(e - l), vn;
        char *u = field(l, len, "user", &vn);
        cr_expect(strncmp(u, "user ", 5) == 0 && strstr(u, "\"quoted\""), "%.*s", (int)len, l);
        cr_expect(strstr(field(l, len, "msg", NULL), " of thread "), "%.*s", (int)len, l);
        lines++;
        l = e + 1;
    }
    cr_expect_eq(lines, THREADS * LINES);
    free(out);
}

Test(log, threads_logfmt)
{
    threads_whole(LOG_FORMAT_LOGFMT);
}

Test(log, threads_json)
{
    threads_whole(LOG_FORMAT_JSON);
}

/* a full non-blocking pipe loses lines and counts them */
Test(log, dropped_counted)
{
    log_set_format(LOG_FORMAT_LOGFMT);
    capture();
    fcntl(STDERR_FILENO, F_SETFL, fcntl(STDERR_FILENO, F_GETFL) | O_NONBLOCK);
    fcntl(STDERR_FILENO, F_SETPIPE_SZ, 4096);
    unsigned long long before = log_dropped();
    for (int i = 0; i < 200; i++)
        log_kv(LOG_INFO, LF(.peer = PEER),
               "filler line %d ..........................................", i);
    unsigned long long lost = log_dropped() - before;
    char *out = captured(NULL);
    cr_expect_gt(lost, 0);
    int got = 0;
    for (char *s = out; (s = strchr(s, '\n')); s++)
        got++;
    cr_expect_eq((unsigned long long)got + lost, 200, "got %d lost %llu", got, lost);
    free(out);
}

Test(log, not_shown_has_field)
{
    log_set_format(LOG_FORMAT_LOGFMT);
    capture();
    log_kv(LOG_INFO, NULL, "x");
    size_t n;
    char *out = captured(&n);
    cr_expect(!has_field(out, n, "peer"));
    cr_expect(has_field(out, n, "msg"));
    free(out);
}
