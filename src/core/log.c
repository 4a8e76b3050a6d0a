/* Log lines: logfmt rendered by hand into a stack buffer, JSON lines built and dumped by jansson
 * into a stack buffer; either way one write(2) per line. See log.h and docs/logging.md. */
#include "log.h"

#include <jansson.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static _Atomic int current_level = LOG_INFO;
static enum log_format current_format = LOG_FORMAT_LOGFMT;
static _Atomic unsigned long long dropped;
static int saved_flags = -1;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

/* A field value longer than this (rendered, logfmt) is cut; msg gets what the line has left. */
#define VALUE_MAX 512
/* The message as formatted, before escaping. */
#define MSG_MAX 4096
/* Every field at its longest still leaves msg room in a line (put_pair needs 16 bytes at least). */
_Static_assert(9 * (VALUE_MAX + 8) + 64 < LOG_LINE_MAX - 256, "fields could crowd out msg");

void log_set_level(enum log_level level)
{
    atomic_store_explicit(&current_level, (int)level, memory_order_relaxed);
}

void log_set_format(enum log_format format)
{
    if (format == LOG_FORMAT_JSON)
        json_object_seed(0); /* now, on one thread, not racing in the first workers' lines */
    current_format = format;
}

enum log_format log_get_format(void)
{
    return current_format;
}

enum log_level log_get_level(void)
{
    return (enum log_level)atomic_load_explicit(&current_level, memory_order_relaxed);
}

int log_level_parse(const char *s)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
        if (strcmp(s, level_names[i]) == 0)
            return (int)i;
    return -1;
}

const char *log_level_name(enum log_level level)
{
    return (unsigned)level < 4 ? level_names[level] : "?";
}

void log_sanitize(const char *in, char *out, size_t cap)
{
    log_sanitize_n(in, strlen(in), out, cap);
}

void log_sanitize_n(const char *in, size_t n, char *out, size_t cap)
{
    size_t i = 0;
    for (; i < n && i + 1 < cap; i++)
        out[i] = (in[i] >= 0x20 && in[i] < 0x7f) ? in[i] : '?';
    if (cap)
        out[i] = 0;
}

static void restore_flags(void)
{
    if (saved_flags >= 0)
        fcntl(STDERR_FILENO, F_SETFL, saved_flags);
}

void log_nonblocking(void)
{
    int fl = fcntl(STDERR_FILENO, F_GETFL);
    if (fl < 0 || (fl & O_NONBLOCK))
        return;
    if (fcntl(STDERR_FILENO, F_SETFL, fl | O_NONBLOCK) == 0) {
        saved_flags = fl;
        atexit(restore_flags);
    }
}

unsigned long long log_dropped(void)
{
    return atomic_load_explicit(&dropped, memory_order_relaxed);
}

static void put_line(const char *line, size_t len)
{
    /* With log_nonblocking() a full pipe loses the line (counted) instead of blocking a worker. */
    if (write(STDERR_FILENO, line, len) != (ssize_t)len)
        atomic_fetch_add_explicit(&dropped, 1, memory_order_relaxed);
}

static void timestamp(char *out, size_t cap)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ts.tv_nsec / 1000000) % 1000);
}

/* --- logfmt --- */

static bool needs_quotes(const char *v, size_t n)
{
    if (n == 0)
        return true;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c <= ' ' || c >= 0x7f || c == '=' || c == '"' || c == '\\')
            return true;
    }
    return false;
}

/* The escaped form of one byte inside quotes: \" \\ \n \r \t, \xHH for other control bytes, DEL
 * and every byte >= 0x80; the byte itself otherwise. Returns its length. */
static size_t escape_byte(unsigned char c, char out[4])
{
    static const char hexd[] = "0123456789abcdef";
    switch (c) {
    case '"':
    case '\\':
        out[0] = '\\', out[1] = (char)c;
        return 2;
    case '\n':
        out[0] = '\\', out[1] = 'n';
        return 2;
    case '\r':
        out[0] = '\\', out[1] = 'r';
        return 2;
    case '\t':
        out[0] = '\\', out[1] = 't';
        return 2;
    default:
        if (c < 0x20 || c >= 0x7f) {
            out[0] = '\\', out[1] = 'x', out[2] = hexd[c >> 4], out[3] = hexd[c & 15];
            return 4;
        }
        out[0] = (char)c;
        return 1;
    }
}

static size_t escaped_len(const char *v, size_t n)
{
    size_t len = 0;
    char e[4];
    for (size_t i = 0; i < n; i++)
        len += escape_byte((unsigned char)v[i], e);
    return len;
}

/* Writes " key=value" at o (at most cap bytes, cap >= 16); a value that does not fit ends "..."
 * (inside its quotes). Returns the bytes written. */
static size_t put_pair(char *o, size_t cap, const char *key, const char *v, size_t n)
{
    size_t w = 0, klen = strlen(key);
    o[w++] = ' ';
    memcpy(o + w, key, klen);
    w += klen;
    o[w++] = '=';
    bool q = needs_quotes(v, n);
    if (q)
        o[w++] = '"';
    size_t end = cap - (q ? 1 : 0); /* room for the closing quote */
    for (size_t i = 0; i < n; i++) {
        char e[4];
        size_t el = q ? escape_byte((unsigned char)v[i], e) : (e[0] = v[i], 1);
        if (w + el + 3 > end && w + (q ? escaped_len(v + i, n - i) : n - i) > end) {
            memcpy(o + w, "...", 3);
            w += 3;
            break;
        }
        memcpy(o + w, e, el);
        w += el;
    }
    if (q)
        o[w++] = '"';
    return w;
}

static size_t min_sz(size_t a, size_t b)
{
    return a < b ? a : b;
}

static void put_str(char *line, size_t *len, size_t limit, const char *key, const char *v)
{
    if (v && *len + 16 + strlen(key) < limit)
        *len += put_pair(line + *len, min_sz(VALUE_MAX, limit - *len), key, v, strlen(v));
}

static void emit_logfmt(enum log_level level, const struct log_fields *f, const char *msg, size_t n)
{
    char line[LOG_LINE_MAX];
    char ts[64];
    timestamp(ts, sizeof(ts));
    size_t len = (size_t)snprintf(line, sizeof(line), "ts=%s level=%s", ts, log_level_name(level));
    size_t limit = sizeof(line) - 1; /* the newline */
    if (f) {
        put_str(line, &len, limit, "peer", f->peer);
        put_str(line, &len, limit, "guid", f->guid);
        put_str(line, &len, limit, "user", f->user);
        put_str(line, &len, limit, "device", f->device);
        if (f->port)
            len += (size_t)snprintf(line + len, limit - len, " port=%u", f->port);
        put_str(line, &len, limit, "dir", f->dir);
        if (f->hex)
            len += (size_t)snprintf(line + len, limit - len, " off=%u", f->off);
        put_str(line, &len, limit, "hex", f->hex);
        put_str(line, &len, limit, "ascii", f->ascii);
    }
    len += put_pair(line + len, limit - len, "msg", msg, n);
    line[len++] = '\n';
    put_line(line, len);
}

/* --- JSON lines --- */

/* A jansson string of n bytes: as they are when they are UTF-8, else with every byte >= 0x80 as
 * '?' (jansson takes only UTF-8). NULs are kept (\u0000). */
static json_t *jstr(const char *v, size_t n)
{
    json_t *s = json_stringn(v, n);
    if (s)
        return s;
    char tmp[MSG_MAX];
    n = min_sz(n, sizeof(tmp));
    for (size_t i = 0; i < n; i++)
        tmp[i] = (unsigned char)v[i] >= 0x80 ? '?' : v[i];
    return json_stringn(tmp, n);
}

static void jset(json_t *o, const char *key, const char *v, size_t n)
{
    if (v)
        json_object_set_new_nocheck(o, key, jstr(v, n));
}

static void jset_field(json_t *o, const char *key, const char *v)
{
    if (v) {
        size_t n = strlen(v);
        if (n > VALUE_MAX) {
            char cut[VALUE_MAX + 4];
            memcpy(cut, v, VALUE_MAX);
            memcpy(cut + VALUE_MAX, "...", 4);
            jset(o, key, cut, VALUE_MAX + 3);
        } else {
            jset(o, key, v, n);
        }
    }
}

static bool emit_json(enum log_level level, const struct log_fields *f, const char *msg, size_t n)
{
    char line[LOG_LINE_MAX];
    char ts[64];
    timestamp(ts, sizeof(ts));
    json_t *o = json_object();
    if (!o)
        return false;
    json_object_set_new_nocheck(o, "ts", json_string(ts));
    json_object_set_new_nocheck(o, "level", json_string(log_level_name(level)));
    if (f) {
        jset_field(o, "peer", f->peer);
        jset_field(o, "guid", f->guid);
        jset_field(o, "user", f->user);
        jset_field(o, "device", f->device);
        if (f->port)
            json_object_set_new_nocheck(o, "port", json_integer(f->port));
        jset_field(o, "dir", f->dir);
        if (f->hex)
            json_object_set_new_nocheck(o, "off", json_integer(f->off));
        jset_field(o, "hex", f->hex);
        jset_field(o, "ascii", f->ascii);
    }
    /* escaping can make msg six times longer: halve it (ending "...") until the line fits */
    size_t len;
    char cut[MSG_MAX + 4];
    for (;;) {
        json_object_set_new_nocheck(o, "msg", jstr(msg, n));
        len = json_dumpb(o, line, sizeof(line) - 1, JSON_COMPACT | JSON_ENSURE_ASCII);
        if (len > 0 && len < sizeof(line) - 1)
            break;
        if (len == 0 || n < 16) {
            json_decref(o);
            return false;
        }
        size_t keep = min_sz(n / 2, MSG_MAX);
        memmove(cut, msg, keep);
        memcpy(cut + keep, "...", 3);
        msg = cut;
        n = keep + 3;
    }
    json_decref(o);
    line[len++] = '\n';
    put_line(line, len);
    return true;
}

static void emit(enum log_level level, const struct log_fields *f, const char *msg, size_t n)
{
    if (current_format == LOG_FORMAT_JSON) {
        if (!emit_json(level, f, msg, n))
            atomic_fetch_add_explicit(&dropped, 1, memory_order_relaxed); /* out of memory */
    } else {
        emit_logfmt(level, f, msg, n);
    }
}

void log_vkv(enum log_level level, const struct log_fields *f, const char *fmt, va_list ap)
{
    if (!log_enabled(level))
        return;
    char msg[MSG_MAX];
    int m = vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = m < 0 ? 0 : (size_t)m;
    if (n >= sizeof(msg)) { /* cut: say so */
        n = sizeof(msg) - 1;
        memcpy(msg + n - 3, "...", 3);
    }
    emit(level, f, msg, n);
}

void log_kv(enum log_level level, const struct log_fields *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vkv(level, f, fmt, ap);
    va_end(ap);
}

void log_kv_n(enum log_level level, const struct log_fields *f, const char *msg, size_t n)
{
    if (!log_enabled(level))
        return;
    if (n > MSG_MAX) {
        char cut[MSG_MAX];
        memcpy(cut, msg, MSG_MAX - 3);
        memcpy(cut + MSG_MAX - 3, "...", 3);
        emit(level, f, cut, MSG_MAX);
        return;
    }
    emit(level, f, msg, n);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vkv(level, NULL, fmt, ap);
    va_end(ap);
}

void log_hexdump(enum log_level level, const struct log_fields *f, const char *msg, const void *p,
                 size_t n)
{
    static const char hexd[] = "0123456789abcdef";
    if (!log_enabled(level))
        return;
    const unsigned char *b = p;
    struct log_fields lf = f ? *f : (struct log_fields){0};
    size_t off = 0;
    for (unsigned line = 0; off < n && line < LOG_HEXDUMP_LINES; line++) {
        char hex[16 * 3], ascii[17];
        size_t k = n - off < 16 ? n - off : 16;
        for (size_t i = 0; i < k; i++) {
            unsigned char c = b[off + i];
            hex[3 * i] = hexd[c >> 4];
            hex[3 * i + 1] = hexd[c & 15];
            hex[3 * i + 2] = ' ';
            ascii[i] = c >= 0x20 && c < 0x7f ? (char)c : '.';
        }
        hex[3 * k - 1] = 0;
        ascii[k] = 0;
        lf.off = (unsigned)off;
        lf.hex = hex;
        lf.ascii = ascii;
        log_kv(level, &lf, "%s", msg);
        off += k;
    }
    if (off < n) {
        lf.hex = lf.ascii = NULL;
        log_kv(level, &lf, "%s: %zu more bytes not dumped", msg, n - off);
    }
}
