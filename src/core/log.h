/* Logging: one line per event, written with a single write(2) so threads never interleave.
 *
 * Lines are logfmt (the default) or JSON lines, chosen once at start (log_format):
 *   ts=2026-12-01T12:00:00.123Z level=warn peer=127.0.0.1:4567 guid=0aa8... msg="login refused"
 *   {"ts":"2026-12-01T12:00:00.123Z","level":"warn","peer":"127.0.0.1:4567",...,"msg":"..."}
 * Keys come in one fixed order: ts level peer guid user device port dir off hex ascii msg; a key
 * whose field is unset is left out (ts, level and msg are always there). docs/logging.md. */
#ifndef MPSD_LOG_H
#define MPSD_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

enum log_format { LOG_FORMAT_LOGFMT = 0, LOG_FORMAT_JSON = 1 };

/* What a line is about. NULL strings and port 0 are left out; off only counts when hex is set.
 * Values are escaped when rendered (logfmt quoting, or jansson), so no value can break a line or
 * forge a key; peer-chosen text (user, device) should still be sanitized where it is kept. Long
 * values are cut (ending "...") to keep a line within LOG_LINE_MAX. Never put a secret here. */
struct log_fields {
    const char *peer;   /* remote address of a device or console: "ip:port" / "[v6]:port" */
    const char *guid;   /* device GUID */
    const char *user;   /* console user */
    const char *device; /* device name a console asked for */
    unsigned port;      /* device port a console asked for */
    const char *dir;    /* hex dumps: "in" (from the device) or "out" (to it) */
    unsigned off;       /* hex dumps: offset of the line's first byte in the message */
    const char *hex;    /* hex dumps: "16 03 01 ..." */
    const char *ascii;  /* hex dumps: the same bytes, '.' for unprintable ones */
};

/* Longest line written, newline included; longer messages and values are cut. */
#define LOG_LINE_MAX 8192

/* A compound literal for log_kv: log_kv(LOG_INFO, LF(.peer = p, .guid = g), "ready"). */
#define LF(...) (&(const struct log_fields){__VA_ARGS__})

void log_set_level(enum log_level level);
/* logfmt (default) or JSON lines; set once at start, before any worker runs. */
void log_set_format(enum log_format format);
enum log_format log_get_format(void);
enum log_level log_get_level(void);
static inline bool log_enabled(enum log_level level)
{
    return (int)level <= (int)log_get_level();
}
/* Parses "error", "warn", "info", "debug"; returns -1 when unknown. */
int log_level_parse(const char *s);
const char *log_level_name(enum log_level level);

/* Copies in to out with every byte outside printable ASCII replaced by '?': for peer-chosen text
 * (host names, user names) so that it cannot forge lines or send terminal escapes. */
void log_sanitize(const char *in, char *out, size_t cap);
/* The same for n bytes that need not be NUL-terminated (and may hold NULs). */
void log_sanitize_n(const char *in, size_t n, char *out, size_t cap);

/* Makes stderr non-blocking, so that a stalled log reader (a full pipe) costs lost lines, never a
 * blocked worker; restores it at exit. Lines lost that way are counted. */
void log_nonblocking(void);
unsigned long long log_dropped(void);

/* A line with fields (f may be NULL) and a printf message. [any thread] */
void log_kv(enum log_level level, const struct log_fields *f, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void log_vkv(enum log_level level, const struct log_fields *f, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
/* The same with a message of n bytes taken as they are (they may hold NULs). */
void log_kv_n(enum log_level level, const struct log_fields *f, const char *msg, size_t n);
/* A hex+ASCII dump of p[0..n): one line per 16 bytes, each with the fields of f plus off, hex and
 * ascii, and msg as its message; at most LOG_HEXDUMP_LINES lines, then one line saying how many
 * bytes were left out. */
#define LOG_HEXDUMP_LINES 64
void log_hexdump(enum log_level level, const struct log_fields *f, const char *msg, const void *p,
                 size_t n);
/* A process-level line: no fields. */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                                                             \
    do {                                                                                           \
        if (log_get_level() >= LOG_DEBUG)                                                          \
            log_msg(LOG_DEBUG, __VA_ARGS__);                                                       \
    } while (0)
/* log_kv at debug level; the arguments are not evaluated unless debug is on. */
#define log_kv_debug(f, ...)                                                                       \
    do {                                                                                           \
        if (log_get_level() >= LOG_DEBUG)                                                          \
            log_kv(LOG_DEBUG, (f), __VA_ARGS__);                                                   \
    } while (0)

#endif
