/*
 * netaddr.h - the one peer-address type of mpsd: an IPv4 or IPv6 socket address, parsed once and
 * rendered one way ("1.2.3.4:5", "[::1]:5") by every layer and tool that logs, compares or
 * connects to an address.
 */
#ifndef MPSD_BASE_NETADDR_H
#define MPSD_BASE_NETADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct netaddr {
    struct sockaddr_storage ss;
    socklen_t len; /* 0: no address known */
} netaddr;

/* "1.2.3.4:5" / "[::1]:5" / "?" when len is 0; fits in NETADDR_STRLEN bytes with the NUL. */
#define NETADDR_STRLEN 56
void netaddr_format(const netaddr *a, char *out, size_t cap);
/* Only the host part: "1.2.3.4" / "::1" (no brackets). */
void netaddr_format_host(const netaddr *a, char *out, size_t cap);

/* Parses a numeric "host:port" (IPv6 in brackets) of exactly len bytes; port 0..65535.
 * Names are not resolved. 0, or -EINVAL. */
int netaddr_parse(const char *s, size_t len, netaddr *out);
/* A numeric host without port ("1.2.3.4", "::1", "[::1]") and a port. 0, or -EINVAL. */
int netaddr_from_host(const char *s, size_t len, uint16_t port, netaddr *out);
int netaddr_from_sockaddr(const struct sockaddr *sa, socklen_t len, netaddr *out);

uint16_t netaddr_port(const netaddr *a);
int netaddr_family(const netaddr *a);       /* AF_INET, AF_INET6 or AF_UNSPEC */
bool netaddr_is_loopback(const netaddr *a); /* 127.0.0.0/8, ::1, ::ffff:127.0.0.0/104 */
/* Same family, address and port. */
bool netaddr_eq(const netaddr *a, const netaddr *b);

#endif
