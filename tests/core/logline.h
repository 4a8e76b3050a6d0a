/* Test helper: one field of an mpsd log line, logfmt or JSON (docs/logging.md), read back the way
 * a log shipper would: logfmt by its quoting rules, JSON by jansson. Header-only: the unit test
 * (test_log.c) and the integration test (test_logs.c) both parse lines with it. */
#ifndef MPSD_TEST_LOGLINE_H
#define MPSD_TEST_LOGLINE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline int logline_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* logfmt: copies the unescaped value of key into out (NUL-terminated, *n its length). False when
 * the line has no such key or is malformed (an unterminated quote, a bad escape). */
static inline bool logline_logfmt(const char *s, size_t len, const char *key, char *out, size_t cap,
                                  size_t *n)
{
    const char *end = s + len, *p = s;
    size_t klen = strlen(key);
    while (p < end) {
        while (p < end && *p == ' ')
            p++;
        const char *k = p;
        while (p < end && *p != '=' && *p != ' ')
            p++;
        if (p >= end || *p != '=')
            return false;
        bool match = (size_t)(p - k) == klen && memcmp(k, key, klen) == 0;
        p++;
        size_t w = 0;
        if (p < end && *p == '"') {
            for (p++;; p++) {
                if (p >= end)
                    return false;
                char c = *p;
                if (c == '"') {
                    p++;
                    break;
                }
                if (c == '\\') {
                    if (++p >= end)
                        return false;
                    switch (*p) {
                    case 'n':
                        c = '\n';
                        break;
                    case 'r':
                        c = '\r';
                        break;
                    case 't':
                        c = '\t';
                        break;
                    case '"':
                        c = '"';
                        break;
                    case '\\':
                        c = '\\';
                        break;
                    case 'x': {
                        if (end - p < 3 || logline_hexval(p[1]) < 0 || logline_hexval(p[2]) < 0)
                            return false;
                        c = (char)(logline_hexval(p[1]) * 16 + logline_hexval(p[2]));
                        p += 2;
                        break;
                    }
                    default:
                        return false;
                    }
                } else if ((unsigned char)c < 0x20 || (unsigned char)c >= 0x7f) {
                    return false; /* raw control or non-ASCII byte: the renderer must escape */
                }
                if (match && w + 1 < cap)
                    out[w++] = c;
            }
            if (p < end && *p != ' ')
                return false;
        } else {
            for (; p < end && *p != ' '; p++) {
                if (*p == '"' || *p == '=' || (unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
                    return false;
                if (match && w + 1 < cap)
                    out[w++] = *p;
            }
        }
        if (match) {
            out[w] = 0;
            *n = w;
            return true;
        }
    }
    return false;
}

/* Either format (a line starting '{' is JSON); numbers come back as their decimal text. */
static inline bool logline_field(const char *s, size_t len, const char *key, char *out, size_t cap,
                                 size_t *n)
{
    while (len && (s[len - 1] == '\n' || s[len - 1] == '\r'))
        len--;
    if (len && s[0] == '{') {
        json_error_t e;
        json_t *o = json_loadb(s, len, JSON_ALLOW_NUL, &e);
        if (!o)
            return false;
        json_t *v = json_object_get(o, key);
        bool ok = false;
        if (json_is_string(v)) {
            size_t l = json_string_length(v);
            if (l >= cap)
                l = cap - 1;
            memcpy(out, json_string_value(v), l);
            out[l] = 0;
            *n = l;
            ok = true;
        } else if (json_is_integer(v)) {
            *n = (size_t)snprintf(out, cap, "%lld", (long long)json_integer_value(v));
            ok = true;
        }
        json_decref(o);
        return ok;
    }
    return logline_logfmt(s, len, key, out, cap, n);
}

#endif
