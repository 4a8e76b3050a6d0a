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

#include "guid.h"

/* Device i's raw UUID: the base with i added to the last six bytes (the node group, big-endian,
 * carrying within those 48 bits), so its canonical rendering ends in base + i. */
void ident_uuid_for(const guid *base, uint32_t i, guid *out);

/* Device i's canonical lower-case UUID string (37 bytes with the NUL). */
void ident_uuid_str(const guid *base, uint32_t i, char out[GUID_STRLEN + 1]);

/* Device i's host name: prefix followed by i ("amt-42"). Returns snprintf's length. */
int ident_hostname(const char *prefix, uint32_t i, char *out, size_t cap);

#endif
