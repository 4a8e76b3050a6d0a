/* Structured logs end to end (docs/logging.md): a real mpsd in logfmt and in JSON mode, fed bad
 * input of every kind; for each case a line must exist whose parsed peer field is the client's
 * address (parsed as a log shipper would: logfmt quoting or jansson, never a substring of the
 * rendered text). Clients come from their own 127.0.0.x source addresses: the ones this test
 * opens itself are known to the port, amtsim's (--sources) to the address. */
#include "../core/logline.h"
#include "fixture.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BOB_PW "bob-0123456789abcdef"

static const char *const modes[] = {"", "log_format = json\n"};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* A TCP connection from source address src to 127.0.0.1:port; *me gets "src:port" as mpsd
 * formats a peer. */
static int connect_from(const char *src, int port, char *me, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    cr_assert_eq(inet_pton(AF_INET, src, &a.sin_addr), 1);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0, "bind %s: %s", src,
                 strerror(errno));
    struct sockaddr_in d = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(connect(fd, (struct sockaddr *)&d, sizeof(d)), 0, "connect %d: %s", port,
                 strerror(errno));
    socklen_t len = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &len);
    snprintf(me, cap, "%s:%u", src, ntohs(a.sin_port));
    return fd;
}

static void send_all(int fd, const void *p, size_t n)
{
    cr_assert_eq(write(fd, p, n), (ssize_t)n);
}

/* Reads until EOF, n bytes or timeout; returns what was read. */
static size_t read_some(int fd, uint8_t *buf, size_t n, int timeout_ms)
{
    size_t got = 0;
    long long end = now_ms() + timeout_ms;
    while (got < n && now_ms() < end) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t r = read(fd, buf + got, n - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    return got;
}

/* --- finding lines by their parsed fields --- */

static bool field_of(const char *line, size_t len, const char *key, char *out, size_t cap)
{
    size_t n;
    return logline_field(line, len, key, out, cap, &n);
}

/* Does the line have msg containing `msg` and a peer that is `peer` exactly, or (peer ending
 * ':') that address with any port? */
static bool line_matches(const char *line, size_t len, const char *msg, const char *peer)
{
    char v[4096], p[128];
    if (!field_of(line, len, "msg", v, sizeof(v)) || !strstr(v, msg))
        return false;
    if (!field_of(line, len, "peer", p, sizeof(p)))
        return false;
    size_t pl = strlen(peer);
    if (peer[pl - 1] != ':')
        return strcmp(p, peer) == 0;
    if (strncmp(p, peer, pl) != 0 || !p[pl])
        return false;
    for (const char *d = p + pl; *d; d++)
        if (*d < '0' || *d > '9')
            return false;
    return true;
}

/* The first line (within timeout_ms) for msg and peer; copied into out. */
static bool wait_line(struct fx *f, const char *msg, const char *peer, int timeout_ms, char *out,
                      size_t cap)
{
    long long end = now_ms() + timeout_ms;
    do {
        proc_wait_output(&f->p, "\x01never\x01", 100); /* read what is there */
        for (const char *l = f->p.out; *l;) {
            const char *e = strchr(l, '\n');
            if (!e)
                break;
            if (line_matches(l, (size_t)(e - l), msg, peer)) {
                size_t n = (size_t)(e - l) < cap - 1 ? (size_t)(e - l) : cap - 1;
                memcpy(out, l, n);
                out[n] = 0;
                return true;
            }
            l = e + 1;
        }
    } while (now_ms() < end);
    return false;
}

static void expect_line(struct fx *f, bool json, const char *msg, const char *peer, const char *key,
                        const char *want)
{
    char line[8192];
    cr_assert(wait_line(f, msg, peer, 10000, line, sizeof(line)),
              "no line with msg '%s' and peer %s:\n%s", msg, peer, f->p.out);
    cr_expect(json ? line[0] == '{' : strncmp(line, "ts=", 3) == 0, "format: %s", line);
    if (key) {
        char v[256];
        cr_expect(field_of(line, strlen(line), key, v, sizeof(v)) && strcmp(v, want) == 0,
                  "%s should be %s: %s", key, want, line);
    }
}

/* Every line mpsd wrote parses in its format and carries ts, level and msg. */
static void every_line_parses(struct fx *f, bool json)
{
    proc_wait_output(&f->p, "\x01never\x01", 50);
    int lines = 0;
    for (const char *l = f->p.out; *l;) {
        const char *e = strchr(l, '\n');
        if (!e)
            break;
        size_t len = (size_t)(e - l);
        char v[64];
        cr_expect(json ? l[0] == '{' : strncmp(l, "ts=", 3) == 0, "%.*s", (int)len, l);
        cr_expect(field_of(l, len, "ts", v, sizeof(v)) && strlen(v) == 24, "%.*s", (int)len, l);
        cr_expect(field_of(l, len, "level", v, sizeof(v)), "%.*s", (int)len, l);
        cr_expect(field_of(l, len, "msg", v, sizeof(v)), "%.*s", (int)len, l);
        lines++;
        l = e + 1;
    }
    cr_expect_gt(lines, 5);
}

static void start(struct fx *f, int mode)
{
    static char users[1024];
    char b[512];
    fx_user_line(b, sizeof(b), "bob", BOB_PW, "devices=host:amt-1 ports=16992");
    snprintf(users, sizeof(users), "%s", b);
    fx_start(f, &(struct fx_opts){
                    .mpsd = modes[mode], .no_group = true, .console = true, .users = users});
}

/* --- the device side --- */

static void device_cases(int mode)
{
    bool json = mode == 1;
    struct fx f;
    start(&f, mode);
    char me[64];

    /* garbage bytes instead of a TLS ClientHello */
    int fd = connect_from("127.0.0.11", f.port, me, sizeof(me));
    send_all(fd, "GET / HTTP/1.0\r\n\r\n\x01\x02\x03 garbage, not TLS\r\n", 40);
    expect_line(&f, json, "TLS handshake failed", me, NULL, NULL);
    close(fd);

    /* TLS, then bytes that are not APF */
    struct proc sim;
    sim_run(&f, &sim, "--count 1 --mode garbage --sources 127.0.0.12", 30000);
    expect_line(&f, json, "APF protocol error", "127.0.0.12:", NULL, NULL);

    /* a GUID without credentials */
    sim_run(&f, &sim,
            "--count 1 --mode bad-password --sources 127.0.0.13 --uuid-base "
            "99999999-0000-4000-8000-000000000000",
            30000);
    expect_line(&f, json, "login refused: unknown device", "127.0.0.13:", "guid",
                "99999999-0000-4000-8000-000000000000");

    /* the right device, a wrong password */
    sim_run(&f, &sim,
            "--count 1 --mode bad-password --user dev1 --sources 127.0.0.14 "
            "--uuid-base " FX_DEVICE_GUID,
            30000);
    expect_line(&f, json, "login refused: wrong password", "127.0.0.14:", "guid", FX_DEVICE_GUID);

    cr_expect_eq(fx_count(&f, FX_PASSWORD), 0, "a device password must never be logged");
    every_line_parses(&f, json);
    fx_stop(&f, SIGTERM);
}

Test(logs, device_bad_input_names_the_peer_logfmt, .timeout = 120)
{
    device_cases(0);
}

Test(logs, device_bad_input_names_the_peer_json, .timeout = 120)
{
    device_cases(1);
}

/* --- the console side --- */

/* SOCKS5 with user/password: greeting, RFC 1929 auth, CONNECT to host:port; returns REP or -1. */
static int socks5_connect(int fd, const char *user, const char *pw, const char *host, int port)
{
    uint8_t b[600];
    send_all(fd, "\x05\x01\x02", 3);
    if (read_some(fd, b, 2, 5000) != 2 || b[1] != 2)
        return -1;
    size_t ul = strlen(user), pl = strlen(pw), hl = strlen(host), n = 0;
    b[n++] = 1;
    b[n++] = (uint8_t)ul;
    memcpy(b + n, user, ul);
    n += ul;
    b[n++] = (uint8_t)pl;
    memcpy(b + n, pw, pl);
    n += pl;
    send_all(fd, b, n);
    if (read_some(fd, b, 2, 5000) != 2 || b[1] != 0)
        return -1;
    n = 0;
    b[n++] = 5, b[n++] = 1, b[n++] = 0, b[n++] = 3, b[n++] = (uint8_t)hl;
    memcpy(b + n, host, hl);
    n += hl;
    b[n++] = (uint8_t)(port >> 8), b[n++] = (uint8_t)port;
    send_all(fd, b, n);
    if (read_some(fd, b, 10, 5000) < 2)
        return -1;
    return b[1];
}

static void console_cases(int mode)
{
    bool json = mode == 1;
    struct fx f;
    start(&f, mode);
    char me[64];

    /* a malformed SOCKS request: no such version */
    int fd = connect_from("127.0.0.21", f.socks_port, me, sizeof(me));
    send_all(fd, "\x07\x01\x00garbage", 10);
    expect_line(&f, json, "refused: malformed proxy request", me, NULL, NULL);
    close(fd);

    /* a request the user's ACL denies: bob may reach amt-1:16992 only */
    struct proc sim;
    sim_start(&f, &sim,
              "--count 1 --duration 30 --user dev1 --http-auth none --hostname-prefix amt- "
              "--uuid-base " FX_DEVICE_GUID);
    cr_assert(fx_wait(&f, json ? "\"msg\":\"ready" : "msg=\"ready", 15000), "%s", f.p.out);
    fd = connect_from("127.0.0.22", f.socks_port, me, sizeof(me));
    int rep = socks5_connect(fd, "bob", BOB_PW, "amt-0", 16992);
    cr_expect_eq(rep, 2, "SOCKS5 REP for an ACL denial");
    expect_line(&f, json, "refused: denied by the user's ACL", me, "user", "bob");
    expect_line(&f, json, "refused: denied by the user's ACL", me, "device", "amt-0");
    expect_line(&f, json, "refused: denied by the user's ACL", me, "guid", FX_DEVICE_GUID);
    close(fd);
    kill(sim.pid, SIGTERM);
    proc_wait_exit(&sim, 10000);

    cr_expect_eq(fx_count(&f, BOB_PW), 0, "a console password must never be logged");
    every_line_parses(&f, json);
    fx_stop(&f, SIGTERM);
}

Test(logs, console_bad_input_names_the_peer_logfmt, .timeout = 120)
{
    console_cases(0);
}

Test(logs, console_bad_input_names_the_peer_json, .timeout = 120)
{
    console_cases(1);
}

/* --- hex dumps --- */

/* log_level = debug dumps every APF message as hex+ASCII lines with guid, peer and dir; the
 * device's password is masked in them. */
Test(logs, debug_hex_dumps_mask_the_password, .timeout = 60)
{
    struct fx f;
    fx_start(&f, &(struct fx_opts){.mpsd = "log_format = json\n", .debug = true});
    struct proc sim;
    cr_assert_eq(sim_run(&f, &sim, "--count 1 --duration 1 --sources 127.0.0.31", 30000), 0, "%s",
                 sim.out);
    fx_stop(&f, SIGTERM);
    static char ascii[1 << 20];
    size_t an = 0;
    int in = 0, out = 0;
    for (const char *l = f.p.out; *l;) {
        const char *e = strchr(l, '\n');
        if (!e)
            break;
        size_t len = (size_t)(e - l);
        char dir[16], a[64], p[64];
        if (field_of(l, len, "dir", dir, sizeof(dir)) && field_of(l, len, "ascii", a, sizeof(a))) {
            cr_expect(field_of(l, len, "peer", p, sizeof(p)) && !strncmp(p, "127.0.0.31:", 11),
                      "%.*s", (int)len, l);
            cr_expect(field_of(l, len, "hex", p, sizeof(p)), "%.*s", (int)len, l);
            in += strcmp(dir, "in") == 0;
            out += strcmp(dir, "out") == 0;
            if (strcmp(dir, "in") == 0 && an + strlen(a) < sizeof(ascii) - 1) {
                memcpy(ascii + an, a, strlen(a));
                an += strlen(a);
            }
        }
        l = e + 1;
    }
    ascii[an] = 0;
    cr_expect_gt(in, 0, "no inbound dump:\n%s", f.p.out);
    cr_expect_gt(out, 0, "no outbound dump");
    cr_expect(strstr(ascii, "auth@amt.intel.com"), "the dumps hold the messages: %s", ascii);
    cr_expect(!strstr(ascii, FX_PASSWORD), "the password is in a dump");
    cr_expect(strstr(ascii, "***********"), "the password is masked: %s", ascii);
}
