/* guid.c - GUID text (see guid.h). */
#include "guid.h"

#include <errno.h>
#include <string.h>

/* Position in the canonical string of each raw byte's two hex digits (apf.md 2.14's mixed-endian
 * rendering). */
static const uint8_t canon_pos[16] = {6, 4, 2, 0, 11, 9, 16, 14, 19, 21, 24, 26, 28, 30, 32, 34};
/* The same without dashes. */
static const uint8_t bare_pos[16] = {6, 4, 2, 0, 10, 8, 14, 12, 16, 18, 20, 22, 24, 26, 28, 30};

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 0x20);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static int parse_at(const char *s, const uint8_t pos[16], guid *out)
{
    guid g;
    for (int i = 0; i < 16; i++) {
        int hi = hexval(s[pos[i]]), lo = hexval(s[pos[i] + 1]);
        if (hi < 0 || lo < 0)
            return -EINVAL;
        g.b[i] = (uint8_t)(hi << 4 | lo);
    }
    *out = g;
    return 0;
}

int guid_parse(const char *s, size_t len, guid *out)
{
    if (!s || len != GUID_STRLEN || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-')
        return -EINVAL;
    return parse_at(s, canon_pos, out);
}

int guid_parse_loose(const char *s, size_t len, guid *out)
{
    if (s && len == 32)
        return parse_at(s, bare_pos, out);
    return guid_parse(s, len, out);
}

void guid_format(const guid *g, char out[GUID_STRLEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    memset(out, '-', GUID_STRLEN);
    for (int i = 0; i < 16; i++) {
        out[canon_pos[i]] = hex[g->b[i] >> 4];
        out[canon_pos[i] + 1] = hex[g->b[i] & 15];
    }
    out[GUID_STRLEN] = '\0';
}

bool guid_eq(const guid *a, const guid *b)
{
    return memcmp(a->b, b->b, 16) == 0;
}

bool guid_is_zero(const guid *g)
{
    static const guid zero;
    return guid_eq(g, &zero);
}
