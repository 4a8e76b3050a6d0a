/*
 * guid.h - the one GUID type of mpsd: an AMT device's identity, shared by every layer and tool
 * (APF, directory, credentials, console names, amtsim).
 *
 * A guid holds the 16 raw bytes exactly as they arrive in APF PROTOCOLVERSION (apf.md 2.14):
 * Microsoft/SMBIOS order, the first three groups little-endian. The canonical text renders them
 *     b3b2b1b0-b5b4-b7b6-b8b9-b10b11b12b13b14b15
 * e.g. raw 44 45 4c 4c 4d 00 10 4d 80 50 b2 c0 4f 32 51 33 <->
 * "4c4c4544-004d-4d10-8050-b2c04f325133". Formatting lower-cases (what every MPS uses as the key);
 * parsing accepts either case.
 */
#ifndef MPSD_BASE_GUID_H
#define MPSD_BASE_GUID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct guid {
    uint8_t b[16];
} guid;

#define GUID_STRLEN 36 /* canonical text, without the NUL */

/* Parses exactly len bytes of canonical 8-4-4-4-12 hex text, either case. 0, or -EINVAL. */
int guid_parse(const char *s, size_t len, guid *out);
/* Also accepts the 32 hex digits without dashes (how consoles often write a GUID in a host
 * name). 0, or -EINVAL. */
int guid_parse_loose(const char *s, size_t len, guid *out);
/* Writes the lower-case canonical form and a NUL into out (GUID_STRLEN + 1 bytes). */
void guid_format(const guid *g, char out[GUID_STRLEN + 1]);
bool guid_eq(const guid *a, const guid *b);
bool guid_is_zero(const guid *g);

#endif
