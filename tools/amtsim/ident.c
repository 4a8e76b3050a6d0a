/* ident.c - UUID and host name of simulated device i (see ident.h). */
#include "ident.h"

#include <stdio.h>
#include <string.h>

#include "apf.h"

void ident_uuid_for(const guid *base, uint32_t i, guid *out)
{
    uint8_t *raw = out->b;
    *out = *base;
    uint64_t node = 0;
    for (int b = 10; b < 16; b++)
        node = node << 8 | raw[b];
    node = (node + i) & 0xffffffffffffULL;
    for (int b = 15; b >= 10; b--) {
        raw[b] = (uint8_t)node;
        node >>= 8;
    }
}

void ident_uuid_str(const guid *base, uint32_t i, char out[GUID_STRLEN + 1])
{
    guid g;
    ident_uuid_for(base, i, &g);
    guid_format(&g, out);
}

int ident_hostname(const char *prefix, uint32_t i, char *out, size_t cap)
{
    return snprintf(out, cap, "%s%u", prefix ? prefix : "", i);
}
