#include "log.h"

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

void log_set_level(enum log_level level)
{
    atomic_store_explicit(&current_level, (int)level, memory_order_relaxed);
}

void log_set_format(enum log_format format)
{
    current_format = format;
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

void log_msg(enum log_level level, const char *fmt, ...)
{
    if ((int)level > atomic_load_explicit(&current_level, memory_order_relaxed))
        return;
    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, log_level_name(level));
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    /* With log_nonblocking() a full pipe loses the line (counted) instead of blocking a worker. */
    if (write(STDERR_FILENO, line, len) != (ssize_t)len)
        atomic_fetch_add_explicit(&dropped, 1, memory_order_relaxed);
}
