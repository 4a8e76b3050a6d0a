/*
 * ident.h - who simulated device i is: its SMBIOS UUID and its AMT host name.
 *
 * Nothing is stored per device: both are derived on demand from the shared base and the index, so
 * 10k devices cost no identity memory.
 */
#ifndef AMTSIM_IDENT_H
#define AMTSIM_IDENT_H

#include <stddef.h>
#include <stdint.h>

/* Parse a canonical UUID string ("4c4c4544-004d-4d10-8050-b2c04f325133", either case) into the
 * 16 raw bytes a device puts in PROTOCOLVERSION (SMBIOS order: first three groups little-endian,
 * the inverse of apf_uuid_format). Returns 0, or -1 when the text is not a canonical UUID. */
int ident_uuid_parse(const char *s, uint8_t raw[16]);

/* Device i's raw UUID: the base with i added to the last six bytes (the node group, big-endian,
 * carrying within those 48 bits), so its canonical rendering ends in base + i. */
void ident_uuid_for(const uint8_t base[16], uint32_t i, uint8_t raw[16]);

/* Device i's canonical lower-case UUID string (37 bytes with the NUL). */
void ident_uuid_str(const uint8_t base[16], uint32_t i, char out[37]);

/* Device i's host name: prefix followed by i ("amt-42"). Returns snprintf's length. */
int ident_hostname(const char *prefix, uint32_t i, char *out, size_t cap);

#endif
