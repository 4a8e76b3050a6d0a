/* Logging: one line per event, written with a single write(2) so threads never interleave. */
#ifndef MPSD_LOG_H
#define MPSD_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

enum log_format { LOG_FORMAT_LOGFMT = 0, LOG_FORMAT_JSON = 1 };

void log_set_level(enum log_level level);
/* logfmt (default) or JSON lines; set once at start, before any worker runs. */
void log_set_format(enum log_format format);
enum log_level log_get_level(void);
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

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                                                             \
    do {                                                                                           \
        if (log_get_level() >= LOG_DEBUG)                                                          \
            log_msg(LOG_DEBUG, __VA_ARGS__);                                                       \
    } while (0)

#endif
