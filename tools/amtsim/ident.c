/* ident.c - UUID and host name of simulated device i (see ident.h). */
#include "ident.h"

#include <stdio.h>
#include <string.h>

#include "apf.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int ident_uuid_parse(const char *s, uint8_t raw[16])
{
    uint8_t be[16]; /* the bytes in the order the string shows them */
    size_t k = 0;
    if (!s || strlen(s) != APF_UUID_STRLEN)
        return -1;
    for (size_t i = 0; i < APF_UUID_STRLEN;) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return -1;
            i++;
            continue;
        }
        int hi = hexval(s[i]), lo = hexval(s[i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        be[k++] = (uint8_t)(hi << 4 | lo);
        i += 2;
    }
    /* SMBIOS order: groups 1-3 little-endian, groups 4-5 as written (docs/apf.md 2.14) */
    static const uint8_t order[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};
    for (int i = 0; i < 16; i++)
        raw[i] = be[order[i]];
    return 0;
}

void ident_uuid_for(const uint8_t base[16], uint32_t i, uint8_t raw[16])
{
    memcpy(raw, base, 16);
    uint64_t node = 0;
    for (int b = 10; b < 16; b++)
        node = node << 8 | raw[b];
    node = (node + i) & 0xffffffffffffULL;
    for (int b = 15; b >= 10; b--) {
        raw[b] = (uint8_t)node;
        node >>= 8;
    }
}

void ident_uuid_str(const uint8_t base[16], uint32_t i, char out[37])
{
    uint8_t raw[16];
    ident_uuid_for(base, i, raw);
    apf_uuid_format(raw, out);
}

int ident_hostname(const char *prefix, uint32_t i, char *out, size_t cap)
{
    return snprintf(out, cap, "%s%u", prefix ? prefix : "", i);
}
