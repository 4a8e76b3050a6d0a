/* netaddr.c - numeric socket addresses (see netaddr.h). */
#include "netaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

int netaddr_family(const netaddr *a)
{
    return a->len ? a->ss.ss_family : AF_UNSPEC;
}

uint16_t netaddr_port(const netaddr *a)
{
    if (netaddr_family(a) == AF_INET)
        return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
    if (netaddr_family(a) == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
    return 0;
}

void netaddr_format_host(const netaddr *a, char *out, size_t cap)
{
    char host[INET6_ADDRSTRLEN] = "?";
    if (netaddr_family(a) == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)&a->ss)->sin_addr, host, sizeof(host));
    else if (netaddr_family(a) == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)&a->ss)->sin6_addr, host, sizeof(host));
    snprintf(out, cap, "%s", host);
}

void netaddr_format(const netaddr *a, char *out, size_t cap)
{
    char host[INET6_ADDRSTRLEN];
    int f = netaddr_family(a);
    if (f != AF_INET && f != AF_INET6) {
        snprintf(out, cap, "?");
        return;
    }
    netaddr_format_host(a, host, sizeof(host));
    snprintf(out, cap, f == AF_INET6 ? "[%s]:%u" : "%s:%u", host, netaddr_port(a));
}

int netaddr_from_sockaddr(const struct sockaddr *sa, socklen_t len, netaddr *out)
{
    memset(out, 0, sizeof(*out));
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in))
        len = sizeof(struct sockaddr_in);
    else if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6))
        len = sizeof(struct sockaddr_in6);
    else
        return -EINVAL;
    memcpy(&out->ss, sa, len);
    out->len = len;
    return 0;
}

int netaddr_from_host(const char *s, size_t len, uint16_t port, netaddr *out)
{
    char buf[INET6_ADDRSTRLEN + 2];
    memset(out, 0, sizeof(*out));
    if (!s || len == 0 || len >= sizeof(buf))
        return -EINVAL;
    if (s[0] == '[') {
        if (len < 3 || s[len - 1] != ']')
            return -EINVAL;
        s++;
        len -= 2;
    }
    memcpy(buf, s, len);
    buf[len] = 0;
    if (memchr(buf, 0, len))
        return -EINVAL;
    struct sockaddr_in *a4 = (struct sockaddr_in *)&out->ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&out->ss;
    if (inet_pton(AF_INET, buf, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons(port);
        out->len = sizeof(*a4);
        return 0;
    }
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET6, buf, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(port);
        out->len = sizeof(*a6);
        return 0;
    }
    memset(out, 0, sizeof(*out));
    return -EINVAL;
}

int netaddr_parse(const char *s, size_t len, netaddr *out)
{
    memset(out, 0, sizeof(*out));
    if (!s || len < 3)
        return -EINVAL;
    size_t colon = len;
    while (colon > 0 && s[colon - 1] != ':')
        colon--;
    if (colon < 2 || colon == len || len - colon > 5)
        return -EINVAL;
    unsigned port = 0;
    for (size_t i = colon; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        port = port * 10 + (unsigned)(s[i] - '0');
    }
    if (port > 65535)
        return -EINVAL;
    const char *h = s;
    size_t hl = colon - 1;
    /* an IPv6 host must be bracketed, or its last group would read as the port */
    if (memchr(h, ':', hl) && !(h[0] == '[' && h[hl - 1] == ']'))
        return -EINVAL;
    if (h[0] == '[' && !memchr(h, ':', hl))
        return -EINVAL;
    return netaddr_from_host(h, hl, (uint16_t)port, out);
}

bool netaddr_is_loopback(const netaddr *a)
{
    if (netaddr_family(a) == AF_INET)
        return (ntohl(((const struct sockaddr_in *)&a->ss)->sin_addr.s_addr) >> 24) == 127;
    if (netaddr_family(a) == AF_INET6) {
        const struct in6_addr *x = &((const struct sockaddr_in6 *)&a->ss)->sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(x))
            return true;
        return IN6_IS_ADDR_V4MAPPED(x) && x->s6_addr[12] == 127;
    }
    return false;
}

bool netaddr_eq(const netaddr *a, const netaddr *b)
{
    int f = netaddr_family(a);
    if (f != netaddr_family(b) || netaddr_port(a) != netaddr_port(b))
        return false;
    if (f == AF_INET)
        return ((const struct sockaddr_in *)&a->ss)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)&b->ss)->sin_addr.s_addr;
    if (f == AF_INET6)
        return !memcmp(&((const struct sockaddr_in6 *)&a->ss)->sin6_addr,
                       &((const struct sockaddr_in6 *)&b->ss)->sin6_addr, 16);
    return f == AF_UNSPEC;
}
