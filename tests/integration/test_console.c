/* Console side end to end: a real mpsd on loopback with SOCKS5/SOCKS4a and HTTP proxy listeners,
 * amtsim devices behind their CIRA tunnels, and the clients a console user would run (curl,
 * proxychains4 + amtterm) or small hand-written ones where exact bytes matter (SOCKS replies, HTTP
 * pipelining, bulk data, a plain-APF device that opens channels itself).
 *
 * Why the waits look the way they do: a device is usable once amtsim says it is ready (all forwards
 * answered), which its --progress line reports; mpsd's own "ready" line can come before the last
 * forward is registered. Error cases assert the exact SOCKS reply bytes (RFC 1928/1929, SOCKS4) and
 * the HTTP status and body, the stats counter, and the refusal log line. Every address here is on
 * loopback (127.0.0.0/8 or ::1); amtsim refuses anything else by itself. */
#include "fixture.h"
#include "src/apf/apf.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define AMT_PW   "P@ssw0rd" /* amtsim's default AMT (digest, SOL) password */
#define ALICE_PW "alice-0123456789abcdef"
#define BOB_PW   "bob-0123456789abcdef"
#define CAROL_PW "carol-0123456789abcdef"
#define GUID0    "12345678-0000-4000-8000-000000000000"
#define GUID1    "12345678-0000-4000-8000-000000000001"
#define DEV0     "abcdef01-0000-4000-8000-0000000000a0"
#define DEV1     "abcdef01-0000-4000-8000-0000000000a1"

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* --- processes: whatever a failed assertion leaves running is killed at the test's end --- */

static pid_t owned[32];
static int nowned;

static void own(pid_t pid)
{
    if (nowned < 32)
        owned[nowned++] = pid;
}

static void kill_owned(void)
{
    for (int i = 0; i < nowned; i++) {
        int st;
        if (waitpid(owned[i], &st, WNOHANG) == 0) { /* still our unreaped child */
            kill(owned[i], SIGKILL);
            waitpid(owned[i], &st, 0);
        }
    }
    nowned = 0;
}

TestSuite(console, .fini = kill_owned);

static void fx_go(struct fx *f, const struct fx_opts *o)
{
    fx_start(f, o);
    own(f->p.pid);
}

/* --- users and fixture --- */

/* alice: everything; bob: only amt-1's WS-MAN port. */
static const char *std_users(void)
{
    static char text[2048];
    char a[512], b[512];
    fx_user_line(a, sizeof(a), "alice", ALICE_PW, "devices=all ports=all");
    fx_user_line(b, sizeof(b), "bob", BOB_PW, "devices=host:amt-1 ports=16992");
    snprintf(text, sizeof(text), "%s%s", a, b);
    return text;
}

static void start_console(struct fx *f, const char *extra)
{
    fx_go(f, &(struct fx_opts){.console = true, .users = std_users(), .console_extra = extra});
}

/* amtsim with --progress; waits until n devices are ready (every forward answered). */
static void sim_ready(struct fx *f, struct proc *sim, const char *args, int n)
{
    char a[1024], needle[64];
    snprintf(a, sizeof(a), "--progress --duration 0 %s", args);
    sim_start(f, sim, a);
    own(sim->pid);
    snprintf(needle, sizeof(needle), "\"ready\":%d,\"ready_total\"", n);
    cr_assert(proc_wait_output(sim, needle, 120000), "amtsim not ready (%d):\n%s\nmpsd:\n%s", n,
              proc_tail(sim, 6), fx_brief(f));
}

/* --- sockets --- */

static int tcp_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0, "connect %d: %s", port,
                 strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

/* A listener of the test's own on 127.0.0.1 (or ::1): must never be connected to by mpsd unless
 * the test says so. */
static int listener(bool v6, int *port)
{
    int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_storage ss = {0};
    socklen_t len;
    if (v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        len = sizeof(*a);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof(*a);
    }
    if (bind(fd, (struct sockaddr *)&ss, len) != 0) {
        close(fd);
        return -1;
    }
    cr_assert_eq(listen(fd, 16), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
    *port =
        ntohs(v6 ? ((struct sockaddr_in6 *)&ss)->sin6_port : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

/* accept() within timeout_ms: the fd, or -1. */
static int accept_within(int lfd, int timeout_ms)
{
    struct pollfd p = {.fd = lfd, .events = POLLIN};
    if (poll(&p, 1, timeout_ms) <= 0)
        return -1;
    return accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
}

typedef void (*pump_fn)(void *arg);

/* Reads exactly n bytes unless EOF, an error or the timeout comes first; returns what was read.
 * pump (if any) runs between short polls (a hand-written device that must keep talking). */
static size_t read_n_pump(int fd, void *buf, size_t n, int timeout_ms, pump_fn pump, void *arg)
{
    size_t got = 0;
    long long end = now_ms() + timeout_ms;
    while (got < n) {
        long long left = end - now_ms();
        if (left <= 0)
            break;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, pump ? 20 : (int)left);
        if (pump)
            pump(arg);
        if (r <= 0)
            continue;
        ssize_t k = read(fd, (char *)buf + got, n - got);
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    return got;
}

/* What read_n runs while it waits (a hand-written device serving the channels being read). */
static pump_fn g_pump;
static void *g_pump_arg;

static size_t read_n(int fd, void *buf, size_t n, int timeout_ms)
{
    return read_n_pump(fd, buf, n, timeout_ms, g_pump, g_pump_arg);
}

/* True when the peer ends the stream (EOF or reset) within timeout_ms with nothing more sent. */
static bool eof_within(int fd, int timeout_ms)
{
    char c;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, timeout_ms) <= 0)
        return false;
    ssize_t k = read(fd, &c, 1);
    return k == 0 || (k < 0 && errno == ECONNRESET);
}

static void write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t k = write(fd, c, n);
        cr_assert_gt(k, 0, "write: %s", strerror(errno));
        c += k;
        n -= (size_t)k;
    }
}

static void rst_close(int fd)
{
    struct linger l = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    close(fd);
}

/* --- SOCKS5 --- */

/* DST of a SOCKS5 request naming a domain: ATYP 3, length, name, port. */
static size_t dst_name(uint8_t *out, const char *host, int port)
{
    size_t n = strlen(host);
    out[0] = 3;
    out[1] = (uint8_t)n;
    memcpy(out + 2, host, n);
    out[2 + n] = (uint8_t)(port >> 8);
    out[3 + n] = (uint8_t)port;
    return n + 4;
}

struct s5 {
    int fd;
    int method;      /* the server's method choice (0xFF: none acceptable) */
    int auth;        /* RFC 1929 status (0 ok), -1 when none was exchanged */
    uint8_t rep[10]; /* the request's reply */
    size_t replen;
};

/* Greeting (user/password, or no-auth when user is NULL), RFC 1929 login, CONNECT to dst. Stops
 * at the first refusal; the fd stays open for the caller. */
static struct s5 socks5_dst(int port, const char *user, const char *pw, const uint8_t *dst,
                            size_t dlen)
{
    struct s5 s = {.fd = tcp_connect(port), .method = -1, .auth = -1};
    uint8_t b[600], r[2];
    b[0] = 5, b[1] = 1, b[2] = user ? 2 : 0;
    write_all(s.fd, b, 3);
    if (read_n(s.fd, r, 2, 10000) != 2)
        return s;
    s.method = r[1];
    if (r[0] != 5 || r[1] == 0xFF)
        return s;
    if (r[1] == 2) {
        size_t ul = strlen(user), pl = strlen(pw), n = 0;
        b[n++] = 1;
        b[n++] = (uint8_t)ul;
        memcpy(b + n, user, ul);
        n += ul;
        b[n++] = (uint8_t)pl;
        memcpy(b + n, pw, pl);
        n += pl;
        write_all(s.fd, b, n);
        if (read_n(s.fd, r, 2, 10000) != 2)
            return s;
        s.auth = r[1];
        if (r[1] != 0)
            return s;
    }
    b[0] = 5, b[1] = 1, b[2] = 0;
    memcpy(b + 3, dst, dlen);
    write_all(s.fd, b, 3 + dlen);
    s.replen = read_n(s.fd, s.rep, 10, 15000);
    return s;
}

static struct s5 socks5(int port, const char *user, const char *pw, const char *host, int dport)
{
    uint8_t dst[300];
    size_t n = dst_name(dst, host, dport);
    return socks5_dst(port, user, pw, dst, n);
}

/* The session is open: reply 05 00 00 01 + 6 bytes. */
static int socks5_open(int port, const char *user, const char *pw, const char *host, int dport)
{
    struct s5 s = socks5(port, user, pw, host, dport);
    cr_assert(s.replen == 10 && s.rep[0] == 5 && s.rep[1] == 0,
              "SOCKS5 %s:%d not opened (method %d auth %d, %zu reply bytes, REP %d)", host, dport,
              s.method, s.auth, s.replen, s.replen > 1 ? s.rep[1] : -1);
    return s.fd;
}

/* A refusal is exactly 05 REP 00 01 00 00 00 00 00 00, then the end of the stream. */
static void expect_socks5_refused(struct s5 s, int rep, const char *what)
{
    const uint8_t want[10] = {5, (uint8_t)rep, 0, 1, 0, 0, 0, 0, 0, 0};
    cr_expect_eq(s.method, 2, "%s: method %d", what, s.method);
    cr_expect_eq(s.auth, 0, "%s: auth %d", what, s.auth);
    cr_expect(s.replen == 10 && !memcmp(s.rep, want, 10),
              "%s: reply of %zu bytes %02x %02x %02x %02x, expected 05 %02x 00 01 + zeros", what,
              s.replen, s.rep[0], s.rep[1], s.rep[2], s.rep[3], rep);
    cr_expect(eof_within(s.fd, 5000), "%s: the connection must end after the refusal", what);
    close(s.fd);
}

/* --- HTTP --- */

struct hresp {
    int status;
    char text[16384]; /* the whole response(s) */
    size_t len;
    const char *body;
};

/* Sends req on a fresh connection and reads until EOF. */
static struct hresp *http_once(int port, const char *req)
{
    static _Thread_local struct hresp r;
    memset(&r, 0, sizeof(r));
    int fd = tcp_connect(port);
    write_all(fd, req, strlen(req));
    r.len = read_n(fd, r.text, sizeof(r.text) - 1, 15000);
    r.text[r.len] = 0;
    close(fd);
    sscanf(r.text, "HTTP/1.1 %d", &r.status);
    const char *b = strstr(r.text, "\r\n\r\n");
    r.body = b ? b + 4 : "";
    return &r;
}

/* base64 of "user:pw" for Proxy-Authorization. */
static void basic(char *out, const char *user, const char *pw)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char in[256];
    int n = snprintf(in, sizeof(in), "%s:%s", user, pw), o = 0;
    for (int i = 0; i < n; i += 3) {
        unsigned v = (unsigned char)in[i] << 16;
        if (i + 1 < n)
            v |= (unsigned char)in[i + 1] << 8;
        if (i + 2 < n)
            v |= (unsigned char)in[i + 2];
        out[o++] = t[v >> 18 & 63];
        out[o++] = t[v >> 12 & 63];
        out[o++] = i + 1 < n ? t[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? t[v & 63] : '=';
    }
    out[o] = 0;
}

/* An absolute-URI GET (or CONNECT when connect is true) as user (NULL: no credentials). */
static struct hresp *http_proxy(struct fx *f, bool connect, const char *user, const char *pw,
                                const char *host, int port)
{
    char req[1024], auth[400] = "";
    if (user) {
        char b64[300];
        basic(b64, user, pw);
        snprintf(auth, sizeof(auth), "Proxy-Authorization: Basic %s\r\n", b64);
    }
    if (connect)
        snprintf(req, sizeof(req), "CONNECT %s:%d HTTP/1.1\r\nHost: %s:%d\r\n%s\r\n", host, port,
                 host, port, auth);
    else
        snprintf(req, sizeof(req),
                 "GET http://%s:%d/wsman HTTP/1.1\r\nHost: %s:%d\r\n%sConnection: close\r\n\r\n",
                 host, port, host, port, auth);
    return http_once(f->http_port, req);
}

/* Status and the start of the body. */
static void expect_http_prefix(struct hresp *r, int status, const char *body, const char *what)
{
    cr_expect_eq(r->status, status, "%s: status %d, expected %d:\n%s", what, r->status, status,
                 r->text);
    cr_expect(!strncmp(r->body, body, strlen(body)), "%s: body '%s', expected '%s...'", what,
              r->body, body);
}

/* Status and body exactly (what a console shows its user). */
static void expect_http(struct hresp *r, int status, const char *body, const char *what)
{
    cr_expect_eq(r->status, status, "%s: status %d, expected %d:\n%s", what, r->status, status,
                 r->text);
    cr_expect_str_eq(r->body, body, "%s: body '%s', expected '%s'", what, r->body, body);
}

/* --- curl --- */

/* Runs curl with the given arguments plus -s -o <scratch> -w %{http_code}; returns the code and
 * the body in body (NUL-ended). */
static int curl(char *body, size_t cap, const char *first, ...)
{
    char out[400], *argv[48];
    static int seq;
    snprintf(out, sizeof(out), "%s/curl-%d-%d.out", scratch_dir(), (int)getpid(), seq++);
    int n = 0;
    argv[n++] = "/usr/bin/curl";
    argv[n++] = "-s";
    argv[n++] = "--max-time";
    argv[n++] = "20";
    argv[n++] = "-o";
    argv[n++] = out;
    argv[n++] = "-w";
    argv[n++] = "%{http_code}";
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a && n < 46; a = va_arg(ap, const char *))
        argv[n++] = (char *)a;
    va_end(ap);
    argv[n] = NULL;
    struct proc p;
    int rc = proc_run(&p, argv, 30000);
    body[0] = 0;
    FILE *fp = fopen(out, "r");
    if (fp) {
        size_t k = fread(body, 1, cap - 1, fp);
        body[k] = 0;
        fclose(fp);
        unlink(out);
    }
    if (rc != 0)
        return -rc;
    return atoi(p.out);
}

/* --- a running checksum: byte i of the stream is a function of i --- */

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static void pattern(uint8_t *p, uint64_t off, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t at = off + i;
        p[i] = (uint8_t)(mix(at >> 3) >> (8 * (at & 7)));
    }
}

/* ===================================================================================== 1 */

/* The right device answers, however it is named, over all three proxy forms. */
Test(console, curl_reaches_the_named_device_over_socks5_http_and_connect, .timeout = 120)
{
    struct fx f;
    start_console(&f, "name_suffix = mps.example.com\n");
    struct proc sim;
    sim_ready(&f, &sim, "--count 3 --uuid-base " DEV0, 3);
    char socks[128], proxy[160], body[4096];
    snprintf(socks, sizeof(socks), "alice:%s@127.0.0.1:%d", ALICE_PW, f.socks_port);
    snprintf(proxy, sizeof(proxy), "http://alice:%s@127.0.0.1:%d", ALICE_PW, f.http_port);
    /* device 1's GUID has hex letters, so that the case of the name can differ */
    const char *names[] = {"amt-1",
                           DEV1,
                           "ABCDEF01-0000-4000-8000-0000000000A1",
                           "abcdef010000400080000000000000a1",
                           "ABCDEF010000400080000000000000a1",
                           DEV1 ".mps.example.com",
                           "amt-1.mps.example.com",
                           "ABCDEF010000400080000000000000A1.MPS.Example.COM"};
    const int nnames = (int)(sizeof(names) / sizeof(*names));
    const char *want = "{\"device\":1,\"uuid\":\"" DEV1 "\",\"hostname\":\"amt-1\",\"port\":16992}";
    for (int i = 0; i < nnames; i++) {
        char url[256];
        snprintf(url, sizeof(url), "http://%s:16992/wsman", names[i]);
        int code = curl(body, sizeof(body), "--socks5-hostname", socks, "--digest", "-u",
                        "admin:" AMT_PW, url, NULL);
        cr_expect_eq(code, 200, "SOCKS5 %s: %d", names[i], code);
        cr_expect(strstr(body, want), "SOCKS5 %s: body '%s'", names[i], body);
        code = curl(body, sizeof(body), "-x", proxy, "--digest", "-u", "admin:" AMT_PW, url, NULL);
        cr_expect_eq(code, 200, "HTTP %s: %d", names[i], code);
        cr_expect(strstr(body, want), "HTTP %s: body '%s'", names[i], body);
        code = curl(body, sizeof(body), "-p", "-x", proxy, "--digest", "-u", "admin:" AMT_PW, url,
                    NULL);
        cr_expect_eq(code, 200, "CONNECT %s: %d", names[i], code);
        cr_expect(strstr(body, want), "CONNECT %s: body '%s'", names[i], body);
    }
    /* without the digest credentials the device itself says 401 (the proxy passed it on) */
    int code =
        curl(body, sizeof(body), "--socks5-hostname", socks, "http://amt-2:16992/wsman", NULL);
    cr_expect_eq(code, 401, "no AMT credentials: %d", code);
    /* a GUID that is no device's (either form) */
    code = curl(body, sizeof(body), "-x", proxy, "http://abcdef01000040008000000000000a1:16992/",
                NULL);
    cr_expect_eq(code, 502, "a GUID one digit short: %d", code);
    code = curl(body, sizeof(body), "-x", proxy, "http://" DEV1 ".other.example.com:16992/", NULL);
    cr_expect_eq(code, 502, "a suffix that is not configured: %d", code);
    cr_expect_eq(fx_stat(&f, "console_socks5"), nnames + 1);
    cr_expect_eq(fx_stat(&f, "console_http_connect"), nnames);
    cr_expect_geq(fx_stat(&f, "console_http_forward"), nnames + 2);
    /* the log names the device as the console named it (suffix stripped) and by its GUID */
    cr_expect(fx_count(&f, "guid=" DEV1 " user=alice device=abcdef010000400080000000000000a1 "
                           "port=16992 msg=\"channel"),
              "%s", f.p.out);
    cr_expect(fx_count(&f, "guid=" DEV1 " user=alice device=amt-1 port=16992 msg=\"channel"), "%s",
              f.p.out);
    proc_stop(&sim, SIGTERM, 10000);
    fx_stop(&f, SIGTERM);
}

/* ===================================================================================== 2 */

Test(console, proxychains_amtterm_sol_session_by_hostname, .timeout = 90)
{
    struct fx f;
    start_console(&f, NULL);
    struct proc sim;
    sim_ready(&f, &sim, "--count 2", 2);
    char conf[400], text[512];
    snprintf(conf, sizeof(conf), "%s/proxychains.conf", f.dir);
    snprintf(text, sizeof(text),
             "strict_chain\nproxy_dns\ntcp_read_time_out 15000\ntcp_connect_time_out 8000\n"
             "[ProxyList]\nsocks5 127.0.0.1 %d alice %s\n",
             f.socks_port, ALICE_PW);
    write_file(conf, text);
    /* amtterm reads the terminal from stdin: a pipe of ours (it works without a tty and ends
     * cleanly on EOF) */
    int in[2];
    cr_assert_eq(pipe2(in, O_CLOEXEC), 0); /* only fd 0 of the child (dup2 clears CLOEXEC) */
    int saved = dup(0);
    dup2(in[0], 0);
    close(in[0]);
    char *argv[] = {"/usr/bin/proxychains4",
                    "-q",
                    "-f",
                    conf,
                    "/usr/bin/amtterm",
                    "-u",
                    "admin",
                    "-p",
                    AMT_PW,
                    "amt-1",
                    "16994",
                    NULL};
    struct proc t;
    proc_start(&t, argv);
    dup2(saved, 0);
    close(saved);
    /* type only once SOL runs and the banner is there: input before that is not the terminal's */
    cr_assert(proc_wait_output(&t, "amt-1> ", 20000), "no SOL banner:\n%s\n%s", t.out, f.p.out);
    cr_expect(strstr(t.out, "amtsim SOL amt-1 " GUID1), "%s", t.out);
    write_all(in[1], "hello console\r", 14);
    cr_expect(proc_wait_output(&t, "echo: hello console", 10000), "no echo:\n%s", t.out);
    close(in[1]);
    int rc = proc_wait_exit(&t, 15000);
    if (rc < 0)
        proc_stop(&t, SIGKILL, 2000);
    cr_expect_eq(rc, 0, "amtterm exits cleanly on EOF:\n%s", t.out);
    cr_expect(fx_wait(&f, "guid=" GUID1 " user=alice device=amt-1 port=16994 msg=\"channel", 5000),
              "%s", f.p.out);
    cr_expect(fx_wait(&f, "user=alice device=amt-1 port=16994 msg=\"closed after", 5000), "%s",
              f.p.out);
    proc_stop(&sim, SIGTERM, 10000);
    cr_expect_eq(sim_field(&sim, "closed_by_server"), 0, "%s\nmpsd:\n%s", proc_tail(&sim, 4),
                 fx_brief(&f));
    fx_stop(&f, SIGTERM);
}

/* ===================================================================================== 3 */

/* Streams `total` bytes up through an echo channel while reading the echo, comparing every byte. */
static void echo_stream(int fd, size_t total, int timeout_ms)
{
    static uint8_t out[65536], in[65536], want[65536];
    size_t sent = 0, got = 0;
    fcntl(fd, F_SETFL, O_NONBLOCK);
    long long end = now_ms() + timeout_ms;
    while (got < total) {
        cr_assert_lt(now_ms(), end, "stalled: %zu sent, %zu echoed of %zu", sent, got, total);
        struct pollfd p = {.fd = fd, .events = POLLIN | (sent < total ? POLLOUT : 0)};
        if (poll(&p, 1, 1000) <= 0)
            continue;
        if ((p.revents & POLLOUT) && sent < total) {
            size_t n = total - sent < sizeof(out) ? total - sent : sizeof(out);
            pattern(out, sent, n);
            ssize_t k = write(fd, out, n);
            if (k > 0)
                sent += (size_t)k;
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t k = read(fd, in, sizeof(in));
            cr_assert(k > 0 || (k < 0 && errno == EAGAIN), "echo ended after %zu of %zu: %s", got,
                      total, k < 0 ? strerror(errno) : "EOF");
            if (k > 0) {
                pattern(want, got, (size_t)k);
                cr_assert(!memcmp(in, want, (size_t)k), "echo differs near byte %zu", got);
                got += (size_t)k;
            }
        }
    }
    fcntl(fd, F_SETFL, 0);
}

Test(console, fifty_mib_each_way_through_a_4k_device_window, .timeout = 240)
{
    struct fx f;
    start_console(&f, NULL);
    struct proc sim;
    sim_ready(&f, &sim, "--count 1 --window 4096 --service 5900=echo --ports 16992,5900", 1);
    int fd = socks5_open(f.socks_port, "alice", ALICE_PW, "amt-0", 5900);
    long long t0 = now_ms();
    echo_stream(fd, 50u << 20, 180000);
    long long took = now_ms() - t0;
    close(fd);
    cr_expect_geq(fx_stat(&f, "console_bytes_up"), 50ll << 20);
    cr_expect_geq(fx_stat(&f, "console_bytes_down"), 50ll << 20);
    cr_log_info("50 MiB each way through a 4 KiB window: %lld ms", took);
    proc_stop(&sim, SIGTERM, 10000);
    cr_expect_eq(sim_field(&sim, "closed_by_server"), 0, "%s\nmpsd:\n%s", proc_tail(&sim, 4),
                 fx_brief(&f));
    fx_stop(&f, SIGTERM);
}

/* ===================================================================================== 4 */

/* One GET on an open session; the device's answer must name device i. */
static void get_names(int fd, const char *host, const char *what)
{
    static const char req[] = "GET /wsman HTTP/1.1\r\nHost: x\r\n\r\n";
    write_all(fd, req, sizeof(req) - 1);
    char buf[2048] = "", want[64];
    size_t n = 0;
    long long end = now_ms() + 20000;
    while (!strstr(buf, "\"port\":") && n < sizeof(buf) - 1 && now_ms() < end) {
        size_t k = read_n(fd, buf + n, 1, 20000);
        if (!k)
            break;
        n += k;
        buf[n] = 0;
    }
    snprintf(want, sizeof(want), "\"hostname\":\"%s\"", host);
    cr_expect(strstr(buf, "HTTP/1.1 200") && strstr(buf, want), "%s %s: '%s'", what, host, buf);
}

Test(console, one_console_each_on_a_thousand_devices, .timeout = 240)
{
    struct fx f;
    start_console(&f, NULL);
    struct proc sim;
    sim_ready(&f, &sim,
              "--count 1000 --http-auth none --ports 16992 --inflight 128 --workers 2 "
              "--sources 127.0.0.2-127.0.0.5",
              1000);
    static int fds[1000];
    for (int i = 0; i < 1000; i++) {
        char host[32];
        snprintf(host, sizeof(host), "amt-%d", i);
        fds[i] = socks5_open(f.socks_port, "alice", ALICE_PW, host, 16992);
    }
    cr_expect_eq(fx_stat(&f, "consoles"), 1000, "all 1000 open at once");
    for (int i = 0; i < 1000; i++) {
        char host[32];
        snprintf(host, sizeof(host), "amt-%d", i);
        get_names(fds[i], host, "device");
    }
    for (int i = 0; i < 1000; i++)
        close(fds[i]);
    cr_expect_eq(fx_stat(&f, "console_channels"), 1000);
    cr_expect_eq(fx_stat(&f, "tunnels"), 1000);
    proc_stop(&sim, SIGTERM, 20000);
    cr_expect_eq(sim_field(&sim, "closed_by_server"), 0, "%s\nmpsd:\n%s", proc_tail(&sim, 4),
                 fx_brief(&f));
    fx_stop(&f, SIGTERM);
}

/* ===================================================================================== 5 */

/* The refusal line: peer=<peer> [guid=<g>] [user=<u>] device=<name> port=<p> msg="refused: <what>"
 * (user "-": the line names none). */
static void expect_refusal_line(struct fx *f, const char *user, const char *name, int port,
                                const char *what, int times)
{
    char needle[512];
    if (strcmp(user, "-") == 0)
        snprintf(needle, sizeof(needle), " device=%s port=%d msg=\"refused: %s", name, port, what);
    else
        snprintf(needle, sizeof(needle), " user=%s device=%s port=%d msg=\"refused: %s", user, name,
                 port, what);
    cr_expect_eq(fx_count(f, needle), times, "'%s' %d times:\n%s", needle, times, f->p.out);
}

Test(console, errors_unknown_port_acl_and_credentials, .timeout = 120)
{
    struct fx f;
    start_console(&f, NULL);
    struct proc sim;
    sim_ready(&f, &sim, "--count 2 --http-auth none", 2);
    const char *offline = "77777777-0000-4000-8000-000000000000";

    /* unknown host name and offline GUID: 0x04 / 502 */
    expect_socks5_refused(socks5(f.socks_port, "alice", ALICE_PW, "amt-9", 16992), 4, "amt-9");
    expect_socks5_refused(socks5(f.socks_port, "alice", ALICE_PW, offline, 16992), 4, "offline");
    expect_http(http_proxy(&f, false, "alice", ALICE_PW, "amt-9", 16992), 502,
                "mpsd: unknown or offline device (device amt-9)\n", "HTTP amt-9");
    expect_http(http_proxy(&f, true, "alice", ALICE_PW, offline, 16992), 502,
                "mpsd: unknown or offline device (device 77777777-0000-4000-8000-000000000000)\n",
                "CONNECT offline");
    cr_expect_eq(fx_stat(&f, "console_unknown_device"), 4);
    expect_refusal_line(&f, "alice", "amt-9", 16992, "unknown or offline device", 2);
    expect_refusal_line(&f, "alice", offline, 16992, "unknown or offline device", 2);

    /* a port the device did not register: 0x05 / 502 */
    expect_socks5_refused(socks5(f.socks_port, "alice", ALICE_PW, "amt-1", 1234), 5, "port 1234");
    expect_http(http_proxy(&f, false, "alice", ALICE_PW, "amt-1", 1234), 502,
                "mpsd: port not registered by the device: " GUID1 " (device amt-1)\n",
                "HTTP port 1234");
    cr_expect_eq(fx_stat(&f, "console_port_unregistered"), 2);
    expect_refusal_line(&f, "alice", "amt-1", 1234, "port not registered by the device", 2);

    /* bob may reach amt-1:16992 only: 0x02 / 403 elsewhere */
    int ok = socks5_open(f.socks_port, "bob", BOB_PW, "amt-1", 16992);
    get_names(ok, "amt-1", "bob on amt-1");
    close(ok);
    expect_socks5_refused(socks5(f.socks_port, "bob", BOB_PW, "amt-0", 16992), 2, "bob amt-0");
    expect_socks5_refused(socks5(f.socks_port, "bob", BOB_PW, "amt-1", 16993), 2, "bob 16993");
    expect_http(http_proxy(&f, false, "bob", BOB_PW, "amt-0", 16992), 403,
                "mpsd: denied by the user's ACL: " GUID0 " (device amt-0)\n", "HTTP bob amt-0");
    expect_http(http_proxy(&f, true, "bob", BOB_PW, "amt-1", 16994), 403,
                "mpsd: denied by the user's ACL: " GUID1 " (device amt-1)\n", "CONNECT bob 16994");
    cr_expect_eq(fx_stat(&f, "console_denied"), 4);
    expect_refusal_line(&f, "bob", "amt-0", 16992, "denied by the user's ACL", 2);
    expect_refusal_line(&f, "bob", "amt-1", 16993, "denied by the user's ACL", 1);

    /* wrong console password: RFC 1929 status 01 then the end / 407 with Proxy-Authenticate */
    struct s5 s = socks5(f.socks_port, "alice", "wrong-password", "amt-0", 16992);
    cr_expect_eq(s.method, 2);
    cr_expect_eq(s.auth, 1, "RFC 1929 failure status, got %d", s.auth);
    cr_expect(eof_within(s.fd, 5000), "closed after the failed login");
    close(s.fd);
    struct hresp *r = http_proxy(&f, false, "alice", "wrong-password", "amt-0", 16992);
    expect_http(r, 407, "mpsd: authentication failed: wrong password (device amt-0)\n",
                "HTTP wrong password");
    cr_expect(strstr(r->text, "\r\nProxy-Authenticate: Basic realm=\"mpsd\""), "%s", r->text);
    r = http_proxy(&f, true, "mallory", "x", "amt-0", 16992);
    cr_expect_eq(r->status, 407, "unknown user: %s", r->text);
    cr_expect(strstr(r->text, "\r\nProxy-Authenticate: Basic"), "%s", r->text);
    cr_expect_eq(fx_stat(&f, "console_auth_failed"), 3);
    cr_expect(fx_count(&f, " user=alice msg=\"refused: authentication failed: wrong password"),
              "SOCKS5 logs in before it names a target:\n%s", f.p.out);
    /* HTTP names its target in the same head: the refusal line can say it */
    expect_refusal_line(&f, "alice", "amt-0", 16992, "authentication failed: wrong password", 1);

    /* no credentials: no acceptable SOCKS5 method (05 FF) / 407 */
    s = socks5(f.socks_port, NULL, NULL, "amt-0", 16992);
    cr_expect_eq(s.method, 0xFF, "no-auth is not acceptable: method %d", s.method);
    cr_expect(eof_within(s.fd, 5000));
    close(s.fd);
    r = http_proxy(&f, false, NULL, NULL, "amt-0", 16992);
    expect_http(r, 407, "mpsd: no credentials given (device amt-0)\n", "HTTP no credentials");
    cr_expect(strstr(r->text, "\r\nProxy-Authenticate: Basic realm=\"mpsd\""), "%s", r->text);
    cr_expect_geq(fx_stat(&f, "console_auth_missing"), 1);
    expect_refusal_line(&f, "-", "amt-0", 16992, "no credentials given", 1);
    cr_expect_eq(fx_count(&f, ALICE_PW), 0, "a console password must never be logged");
    cr_expect_eq(fx_count(&f, "wrong-password"), 0, "a console password must never be logged");

    proc_stop(&sim, SIGTERM, 10000);
    cr_expect_eq(sim_field(&sim, "closed_by_server"), 0, "%s\nmpsd:\n%s", proc_tail(&sim, 4),
                 fx_brief(&f));
    fx_stop(&f, SIGTERM);
}

Test(console, errors_device_refusal_caps_and_ambiguous_names, .timeout = 120)
{
    struct fx f;
    start_console(&f, "max_consoles_per_device = 2\n");
    struct proc one, many, dup1, dup2;
    sim_ready(&f, &one,
              "--count 1 --max-channels 1 --http-auth none --hostname-prefix one- --uuid-base "
              "11111111-0000-4000-8000-000000000000",
              1);
    sim_ready(&f, &many, "--count 1 --http-auth none", 1);
    sim_ready(&f, &dup1,
              "--count 1 --http-auth none --hostname-prefix dup- --uuid-base "
              "d0000000-0000-4000-8000-000000000000",
              1);
    sim_ready(&f, &dup2,
              "--count 1 --http-auth none --hostname-prefix dup- --uuid-base "
              "d0000000-0000-4000-8000-0000000000ff",
              1);

    /* one-0 takes one channel: the second is CHANNEL_OPEN_FAILURE RESOURCE_SHORTAGE */
    int held = socks5_open(f.socks_port, "alice", ALICE_PW, "one-0", 16992);
    expect_socks5_refused(socks5(f.socks_port, "alice", ALICE_PW, "one-0", 16992), 5,
                          "device refused");
    expect_http(http_proxy(&f, false, "alice", ALICE_PW, "one-0", 16992), 502,
                "mpsd: the device refused the channel: RESOURCE_SHORTAGE (device one-0)\n",
                "HTTP device refused");
    cr_expect_eq(fx_stat(&f, "console_open_refused"), 2);
    expect_refusal_line(&f, "alice", "one-0", 16992,
                        "the device refused the channel: RESOURCE_SHORTAGE", 2);
    get_names(held, "one-0", "the held channel still works");
    close(held);

    /* max_consoles_per_device = 2: a third console is 0x01 / 503 */
    int a = socks5_open(f.socks_port, "alice", ALICE_PW, "amt-0", 16992);
    int b = socks5_open(f.socks_port, "alice", ALICE_PW, "amt-0", 16993);
    expect_socks5_refused(socks5(f.socks_port, "alice", ALICE_PW, "amt-0", 16992), 1, "cap");
    expect_http(http_proxy(&f, true, "alice", ALICE_PW, "amt-0", 16992), 503,
                "mpsd: too many console sessions: max_consoles_per_device reached (device amt-0)\n",
                "CONNECT cap");
    cr_expect_eq(fx_stat(&f, "console_cap"), 2);
    expect_refusal_line(&f, "alice", "amt-0", 16992,
                        "too many console sessions: max_consoles_per_device reached", 2);
    get_names(a, "amt-0", "first of the two");
    get_names(b, "amt-0", "second of the two");
    close(a);
    close(b);

    /* two devices registered dup-0: 0x04 / 502 naming the ambiguity; by GUID each works */
    expect_socks5_refused(socks5(f.socks_port, "alice", ALICE_PW, "dup-0", 16992), 4, "ambiguous");
    expect_http(http_proxy(&f, false, "alice", ALICE_PW, "dup-0", 16992), 502,
                "mpsd: host name is claimed by several devices; name it by GUID (device dup-0)\n",
                "HTTP ambiguous");
    cr_expect_eq(fx_stat(&f, "console_ambiguous"), 2);
    expect_refusal_line(&f, "alice", "dup-0", 16992, "host name is claimed by several devices", 2);
    int g =
        socks5_open(f.socks_port, "alice", ALICE_PW, "d0000000-0000-4000-8000-0000000000ff", 16992);
    get_names(g, "dup-0", "dup by GUID");
    close(g);

    proc_stop(&one, SIGTERM, 10000);
    proc_stop(&many, SIGTERM, 10000);
    proc_stop(&dup1, SIGTERM, 10000);
    proc_stop(&dup2, SIGTERM, 10000);
    fx_stop(&f, SIGTERM);
}

/* ============================================================ a hand-written plain APF device */

struct apfdev {
    int fd;
    uint8_t buf[1 << 17];
    size_t len;
    size_t pending; /* the length of the message the last apfdev_next returned */
    long long last_ka;
    bool gone;
};

static void apfdev_send(struct apfdev *d, const apf_msg *m)
{
    uint8_t out[4096];
    ssize_t n = apf_pack(m, out, sizeof(out));
    cr_assert_gt(n, 0, "apf_pack %d", (int)n);
    write_all(d->fd, out, (size_t)n);
}

/* Keeps the tunnel alive: mpsd drops a device silent for keepalive_timeout (3 s here). */
static void apfdev_keepalive(struct apfdev *d)
{
    if (d->gone || now_ms() - d->last_ka < 500)
        return;
    d->last_ka = now_ms();
    apf_msg m = {.type = APF_KEEPALIVE_REQUEST};
    m.u.keepalive.cookie = 7;
    apfdev_send(d, &m);
}

/* The next message that is not keep-alive traffic (answered here) within timeout_ms: 1, or 0 on
 * timeout, -1 at the end of the stream. m's strings point into d->buf until the next call. */
static int apfdev_next(struct apfdev *d, apf_msg *m, int timeout_ms)
{
    long long end = now_ms() + timeout_ms;
    if (d->pending) {
        memmove(d->buf, d->buf + d->pending, d->len - d->pending);
        d->len -= d->pending;
        d->pending = 0;
    }
    for (;;) {
        size_t len;
        if (d->len) {
            int rc = apf_unpack(d->buf, d->len, NULL, APF_UNPACK_SUCCESS_PORT, m, &len);
            if (rc == APF_OK) {
                if (m->type == APF_KEEPALIVE_REPLY) {
                    memmove(d->buf, d->buf + len, d->len - len);
                    d->len -= len;
                    continue;
                }
                if (m->type == APF_KEEPALIVE_REQUEST || m->type == APF_KEEPALIVE_OPTIONS_REQUEST) {
                    apf_msg r = *m;
                    r.type = m->type == APF_KEEPALIVE_REQUEST ? APF_KEEPALIVE_REPLY
                                                              : APF_KEEPALIVE_OPTIONS_REPLY;
                    memmove(d->buf, d->buf + len, d->len - len);
                    d->len -= len;
                    apfdev_send(d, &r);
                    continue;
                }
                d->pending = len;
                return 1;
            }
            cr_assert_eq(rc, APF_ERR_AGAIN, "mpsd sent undecodable APF: %s", apf_strerror(rc));
        }
        apfdev_keepalive(d);
        long long left = end - now_ms();
        struct pollfd p = {.fd = d->fd, .events = POLLIN};
        if (poll(&p, 1, left <= 0 ? 0 : left < 100 ? (int)left : 100) <= 0) {
            if (left <= 0)
                return 0;
            continue;
        }
        ssize_t k = read(d->fd, d->buf + d->len, sizeof(d->buf) - d->len);
        if (k <= 0) {
            d->gone = true;
            return -1;
        }
        d->len += (size_t)k;
    }
}

/* Answers keep-alives for ms (and drops whatever else comes: callers that care use _next). */
static void apfdev_pump_ms(struct apfdev *d, int ms)
{
    apf_msg m;
    long long end = now_ms() + ms;
    int rc;
    do {
        long long left = end - now_ms();
        rc = apfdev_next(d, &m, left > 0 ? (int)left : 0);
    } while (rc == 1 && !d->gone);
}

static void apfdev_pump(void *arg)
{
    apfdev_pump_ms(arg, 0);
}

/* Logs in over plain APF as group admin, registers host:16992 and waits for mpsd's ready line. */
static void apfdev_login(struct apfdev *d, struct fx *f, const char *uuid, const char *host)
{
    memset(d, 0, sizeof(*d));
    d->fd = tcp_connect(f->plain_port);
    guid g;
    cr_assert_eq(guid_parse(uuid, strlen(uuid), &g), 0);
    const uint32_t ports[] = {16992};
    apf_device_login l = {.uuid = &g,
                          .trigger = APF_TRIGGER_PERIODIC,
                          .user = "admin",
                          .password = FX_PASSWORD,
                          .ports = ports,
                          .nports = 1,
                          .hostname = host};
    uint8_t out[2048];
    ssize_t n = apf_device_login_pack(&l, out, sizeof(out));
    cr_assert_gt(n, 0);
    write_all(d->fd, out, (size_t)n);
    d->last_ka = now_ms();
    char needle[128];
    snprintf(needle, sizeof(needle), "guid=%s msg=\"ready", uuid);
    long long end = now_ms() + 15000;
    while (!fx_wait(f, needle, 20) && now_ms() < end)
        apfdev_pump_ms(d, 50);
    cr_assert(fx_wait(f, needle, 10), "the APF device is not ready:\n%s", f->p.out);
}

/* Serves the channels mpsd opens as an echo: confirms every CHANNEL_OPEN (our id = a slot, window
 * 64 KiB), sends each CHANNEL_DATA back, answers CLOSE. amtsim allows at most 64 channels per
 * device, so 100 concurrent consoles on one device need this one. */
static uint32_t echo_peer[256];
static bool echo_live[256];

static void apfdev_echo(void *arg)
{
    struct apfdev *d = arg;
    apf_msg m;
    while (apfdev_next(d, &m, 0) == 1) {
        if (m.type == APF_CHANNEL_OPEN) {
            uint32_t id = 0;
            while (id < 256 && echo_live[id])
                id++;
            cr_assert_lt(id, 256);
            echo_live[id] = true;
            echo_peer[id] = m.u.open.sender;
            apf_msg r = {.type = APF_CHANNEL_OPEN_CONFIRMATION};
            r.u.open_confirm.recipient = m.u.open.sender;
            r.u.open_confirm.sender = id;
            r.u.open_confirm.window = 65536;
            r.u.open_confirm.reserved = 0xFFFFFFFF;
            apfdev_send(d, &r);
        } else if (m.type == APF_CHANNEL_DATA && m.u.data.recipient < 256) {
            uint32_t id = m.u.data.recipient;
            apf_msg r = {.type = APF_CHANNEL_DATA};
            r.u.data.recipient = echo_peer[id];
            r.u.data.data = m.u.data.data;
            apfdev_send(d, &r);
            apf_msg w = {.type = APF_CHANNEL_WINDOW_ADJUST};
            w.u.window_adjust.recipient = echo_peer[id];
            w.u.window_adjust.bytes = m.u.data.data.len;
            apfdev_send(d, &w);
        } else if (m.type == APF_CHANNEL_CLOSE && m.u.close.recipient < 256 &&
                   echo_live[m.u.close.recipient]) {
            uint32_t id = m.u.close.recipient;
            apf_msg r = {.type = APF_CHANNEL_CLOSE};
            r.u.close.recipient = echo_peer[id];
            apfdev_send(d, &r);
            echo_live[id] = false;
        }
    }
}

/* ===================================================================================== 4b */

Test(console, hundred_consoles_on_one_device, .timeout = 120)
{
    struct fx f;
    fx_go(&f, &(struct fx_opts){.console = true,
                                .users = std_users(),
                                .plain = true,
                                .console_extra = "max_consoles_per_device = 128\n"});
    struct apfdev *d = calloc(1, sizeof(*d));
    apfdev_login(d, &f, "bb000000-0000-4000-8000-000000000001", "busy-0");
    g_pump = apfdev_echo;
    g_pump_arg = d;
    static int fds[100];
    for (int i = 0; i < 100; i++)
        fds[i] = socks5_open(f.socks_port, "alice", ALICE_PW, "busy-0", 16992);
    apfdev_echo(d);
    cr_expect_eq(fx_stat(&f, "consoles"), 100, "all 100 open at once");
    cr_expect_eq(fx_stat(&f, "console_channels"), 100);
    /* each console's bytes come back on that console only */
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 100; i++) {
            char msg[64];
            snprintf(msg, sizeof(msg), "console %03d round %d\n", i, round);
            write_all(fds[i], msg, strlen(msg));
        }
        for (int i = 0; i < 100; i++) {
            char msg[64], got[64] = "";
            snprintf(msg, sizeof(msg), "console %03d round %d\n", i, round);
            cr_expect_eq(read_n(fds[i], got, strlen(msg), 10000), strlen(msg), "console %d", i);
            cr_expect_str_eq(got, msg);
        }
    }
    for (int i = 0; i < 100; i++)
        close(fds[i]);
    apfdev_echo(d);
    g_pump = NULL;
    cr_expect_eq(fx_stat(&f, "console_cap"), 0);
    cr_expect_eq(fx_stat(&f, "tunnels"), 1);
    close(d->fd);
    free(d);
    fx_stop(&f, SIGTERM);
}

/* ===================================================================================== 5b */

Test(console, error_channel_open_timeout, .timeout = 60)
{
    struct fx f;
    fx_go(&f, &(struct fx_opts){.console = true,
                                .users = std_users(),
                                .plain = true,
                                .console_extra = "open_timeout = 1s\n"});
    struct apfdev *d = calloc(1, sizeof(*d));
    apfdev_login(d, &f, "5e5e5e5e-0000-4000-8000-000000000000", "mute-0");
    /* the device never answers CHANNEL_OPEN (it only keeps the tunnel alive) */
    struct s5 s = {.fd = tcp_connect(f.socks_port), .method = 2, .auth = 0};
    uint8_t b[256], r[2];
    size_t n = 0;
    b[n++] = 5, b[n++] = 1, b[n++] = 2;
    write_all(s.fd, b, n);
    cr_assert_eq(read_n_pump(s.fd, r, 2, 5000, apfdev_pump, d), 2);
    n = 0;
    b[n++] = 1, b[n++] = 5;
    memcpy(b + n, "alice", 5), n += 5;
    b[n++] = (uint8_t)strlen(ALICE_PW);
    memcpy(b + n, ALICE_PW, strlen(ALICE_PW)), n += strlen(ALICE_PW);
    write_all(s.fd, b, n);
    cr_assert_eq(read_n_pump(s.fd, r, 2, 5000, apfdev_pump, d), 2);
    cr_assert_eq(r[1], 0);
    b[0] = 5, b[1] = 1, b[2] = 0;
    n = 3 + dst_name(b + 3, "mute-0", 16992);
    write_all(s.fd, b, n);
    long long t0 = now_ms();
    s.replen = read_n_pump(s.fd, s.rep, 10, 10000, apfdev_pump, d);
    long long took = now_ms() - t0;
    expect_socks5_refused(s, 6, "open timeout");
    cr_expect(took >= 900 && took < 4000, "TTL expired after %lld ms (open_timeout 1 s)", took);

    /* HTTP: 504 */
    int fd = tcp_connect(f.http_port);
    char req[2048], b64[200], resp[2048] = "";
    basic(b64, "alice", ALICE_PW);
    snprintf(req, sizeof(req),
             "GET http://mute-0:16992/wsman HTTP/1.1\r\nHost: mute-0\r\nProxy-Authorization: Basic "
             "%s\r\n\r\n",
             b64);
    write_all(fd, req, strlen(req));
    size_t k = read_n_pump(fd, resp, sizeof(resp) - 1, 10000, apfdev_pump, d);
    resp[k] = 0;
    close(fd);
    const char *body = strstr(resp, "\r\n\r\n");
    cr_expect(!strncmp(resp, "HTTP/1.1 504 ", 13), "%s", resp);
    cr_expect_str_eq(body ? body + 4 : "",
                     "mpsd: the device did not confirm the channel in time (device mute-0)\n");
    cr_expect_eq(fx_stat(&f, "console_open_timeout"), 2);
    expect_refusal_line(&f, "alice", "mute-0", 16992,
                        "the device did not confirm the channel in time", 2);
    close(d->fd);
    free(d);
    fx_stop(&f, SIGTERM);
}

/* ===================================================================================== 6 */

Test(console, open_proxy_attempts_are_refused_and_connect_nowhere, .timeout = 90)
{
    struct fx f;
    start_console(&f, NULL);
    struct proc sim;
    sim_ready(&f, &sim, "--count 1 --http-auth none", 1);
    int p4, p6 = 0;
    int l4 = listener(false, &p4), l6 = listener(true, &p6);
    cr_assert_geq(l4, 0);
    long long accepted = fx_stat(&f, "accepted");

    char name[64];
    uint8_t dst[32];
    /* host names that are no device's */
    expect_socks5_refused(socks5(f.socks_port, "alice", ALICE_PW, "localhost", p4), 4, "localhost");
    expect_socks5_refused(socks5(f.socks_port, "alice", ALICE_PW, "example.com", 80), 4, "dns");
    expect_socks5_refused(socks5(f.socks_port, "alice", ALICE_PW, "127.0.0.1", p4), 4,
                          "v4 literal as a name");
    /* a device with a port it did not register (our listener's) */
    expect_socks5_refused(socks5(f.socks_port, "alice", ALICE_PW, "amt-0", p4), 5, "device+port");
    /* address literals (ATYP 1 and 4) no device registered */
    dst[0] = 1, dst[1] = 127, dst[2] = 0, dst[3] = 0, dst[4] = 1;
    dst[5] = (uint8_t)(p4 >> 8), dst[6] = (uint8_t)p4;
    expect_socks5_refused(socks5_dst(f.socks_port, "alice", ALICE_PW, dst, 7), 4, "IPv4 literal");
    dst[5] = (uint8_t)(f.port >> 8), dst[6] = (uint8_t)f.port;
    expect_socks5_refused(socks5_dst(f.socks_port, "alice", ALICE_PW, dst, 7), 4, "CIRA port");
    memset(dst, 0, sizeof(dst));
    dst[0] = 4, dst[16] = 1;
    dst[17] = (uint8_t)(p6 >> 8), dst[18] = (uint8_t)p6;
    expect_socks5_refused(socks5_dst(f.socks_port, "alice", ALICE_PW, dst, 19), 4, "IPv6 literal");

    /* HTTP: absolute URIs naming other hosts, CONNECT to mpsd's own CIRA port, https:// */
    snprintf(name, sizeof(name), "127.0.0.1");
    expect_http_prefix(http_proxy(&f, false, "alice", ALICE_PW, name, p4), 502,
                       "mpsd: unknown or offline device", "URI 127.0.0.1");
    expect_http_prefix(http_proxy(&f, false, "alice", ALICE_PW, "example.com", 80), 502,
                       "mpsd: unknown or offline device", "URI example.com");
    expect_http_prefix(http_proxy(&f, false, "alice", ALICE_PW, "[::1]", p6), 502,
                       "mpsd: unknown or offline device", "URI [::1]");
    expect_http_prefix(http_proxy(&f, true, "alice", ALICE_PW, "127.0.0.1", f.port), 502,
                       "mpsd: unknown or offline device", "CONNECT to CIRA");
    expect_http_prefix(http_proxy(&f, true, "alice", ALICE_PW, "localhost", f.socks_port), 502,
                       "mpsd: unknown or offline device", "CONNECT to itself");
    char req[2048], b64[200];
    basic(b64, "alice", ALICE_PW);
    snprintf(req, sizeof(req),
             "GET https://amt-0:16993/wsman HTTP/1.1\r\nHost: amt-0\r\nProxy-Authorization: Basic "
             "%s\r\n\r\n",
             b64);
    struct hresp *r = http_once(f.http_port, req);
    expect_http(r, 501,
                "mpsd: malformed proxy request: only http:// URIs are proxied (use CONNECT for "
                "TLS)\n",
                "https URI");
    /* a device's channel, then a request on it naming another host: refused, not forwarded */
    snprintf(req, sizeof(req),
             "GET http://amt-0:16992/a HTTP/1.1\r\nHost: amt-0\r\nProxy-Authorization: Basic %s"
             "\r\n\r\nGET http://127.0.0.1:%d/b HTTP/1.1\r\nHost: 127.0.0.1\r\n"
             "Proxy-Authorization: Basic %s\r\n\r\n",
             b64, p4, b64);
    r = http_once(f.http_port, req);
    cr_expect(strstr(r->text, "\"hostname\":\"amt-0\""), "the first is answered:\n%s", r->text);
    cr_expect(strstr(r->text, "HTTP/1.1 502 Bad Gateway"), "the second refused:\n%s", r->text);

    /* nothing reached our listeners nor mpsd's own device listener */
    cr_expect_lt(accept_within(l4, 300), 0, "mpsd connected to 127.0.0.1:%d", p4);
    if (l6 >= 0)
        cr_expect_lt(accept_within(l6, 10), 0, "mpsd connected to [::1]:%d", p6);
    cr_expect_eq(fx_stat(&f, "accepted"), accepted, "no new connection on the CIRA listener");
    cr_expect_eq(fx_stat(&f, "console_channels"), 1, "only amt-0's channel was opened");
    cr_expect_eq(fx_stat(&f, "device_open_allowed"), 0);
    close(l4);
    if (l6 >= 0)
        close(l6);
    proc_stop(&sim, SIGTERM, 10000);
    fx_stop(&f, SIGTERM);
}

/* ===================================================================================== 7 */

/* Under ASan (the test is built like mpsd) the allocator's quarantine keeps every freed
 * CHANNEL_DATA buffer resident for a while, so RSS follows traffic, not queues: a looser bound
 * there; the plain build holds mpsd to "a few MiB". */
#if defined(__SANITIZE_ADDRESS__)
#define RSS_SLACK_KIB 16384
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RSS_SLACK_KIB 16384
#endif
#endif
#ifndef RSS_SLACK_KIB
#define RSS_SLACK_KIB 4096
#endif

static long rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *fp = fopen(path, "r");
    cr_assert_not_null(fp);
    long v = -1;
    while (fgets(line, sizeof(line), fp))
        if (!strncmp(line, "VmRSS:", 6))
            v = atol(line + 6);
    fclose(fp);
    return v;
}

Test(console, a_console_that_stops_reading_does_not_grow_mpsd, .timeout = 120)
{
    struct fx f;
    start_console(&f, NULL);
    struct proc sim;
    const size_t total = 200u << 20;
    sim_ready(&f, &sim,
              "--count 1 --service 7000=source:209715200 --service 7001=source:33554432 "
              "--ports 16992,7000,7001",
              1);
    /* warm-up: 32 MiB read at once, so that buffers mpsd keeps anyway (its receive pools) are
     * in the baseline */
    static uint8_t buf[1 << 16];
    int w = socks5_open(f.socks_port, "alice", ALICE_PW, "amt-0", 7001);
    size_t wgot = 0, k;
    while ((k = read_n(w, buf, sizeof(buf), 5000)) > 0)
        wgot += k;
    cr_assert_eq(wgot, 32u << 20, "warm-up read %zu", wgot);
    close(w);
    int fd = socks5_open(f.socks_port, "alice", ALICE_PW, "amt-0", 7000);
    long before = rss_kib(f.p.pid);
    /* reading nothing for a few seconds is the point: a growing queue would show by then */
    usleep(4000 * 1000);
    long after = rss_kib(f.p.pid);
    cr_expect_lt(after - before, RSS_SLACK_KIB, "mpsd grew %ld KiB while the console read nothing",
                 after - before);
    size_t got = 0;
    long long end = now_ms() + 90000;
    while (got < total && now_ms() < end) {
        k = read_n(fd, buf, sizeof(buf), 5000);
        if (!k)
            break;
        got += k;
    }
    cr_expect_eq(got, total, "read %zu of %zu, then nothing for 5 s:\n%s", got, total, f.p.out);
    /* the tunnel must still serve other channels */
    int other = socks5_open(f.socks_port, "alice", ALICE_PW, "amt-0", 7001);
    cr_expect_eq(read_n(other, buf, sizeof(buf), 5000), sizeof(buf), "another channel after");
    close(other);
    cr_expect(eof_within(fd, 10000), "the source's close reaches the console");
    close(fd);
    cr_log_info("mpsd RSS %ld -> %ld KiB with 200 MiB waiting", before, after);
    proc_stop(&sim, SIGTERM, 10000);
    fx_stop(&f, SIGTERM);
}

Test(console, killed_consoles_leave_the_tunnel_healthy, .timeout = 120)
{
    struct fx f;
    start_console(&f, NULL);
    struct proc sim;
    sim_ready(&f, &sim,
              "--count 1 --http-auth none --service 5900=echo --service 7000=source:1000000000 "
              "--ports 16992,5900,7000",
              1);
    int keep = socks5_open(f.socks_port, "alice", ALICE_PW, "amt-0", 5900);
    echo_stream(keep, 1 << 20, 30000);
    /* mid-transfer: one console pushing up (not reading its echo), one reading a stream */
    int up = socks5_open(f.socks_port, "alice", ALICE_PW, "amt-0", 5900);
    int down = socks5_open(f.socks_port, "alice", ALICE_PW, "amt-0", 7000);
    static uint8_t buf[1 << 16];
    fcntl(up, F_SETFL, O_NONBLOCK);
    for (int i = 0; i < 64; i++)
        if (write(up, buf, sizeof(buf)) <= 0)
            break;
    cr_assert_eq(read_n(down, buf, sizeof(buf), 10000), sizeof(buf));
    rst_close(up);
    rst_close(down);
    cr_expect(fx_wait(&f, "port=7000 msg=\"closed after", 5000), "%s", f.p.out);
    /* the other console on the same device still works, and new ones too */
    echo_stream(keep, 1 << 20, 30000);
    close(keep);
    int fresh = socks5_open(f.socks_port, "alice", ALICE_PW, "amt-0", 16992);
    get_names(fresh, "amt-0", "a console after the kills");
    close(fresh);
    cr_expect_eq(fx_stat(&f, "tunnels"), 1);
    cr_expect_eq(fx_count(&f, "tunnel closed"), 0, "%s", f.p.out);

    /* the device dies mid-transfer: its consoles close promptly */
    int c1 = socks5_open(f.socks_port, "alice", ALICE_PW, "amt-0", 7000);
    int c2 = socks5_open(f.socks_port, "alice", ALICE_PW, "amt-0", 5900);
    cr_assert_eq(read_n(c1, buf, sizeof(buf), 10000), sizeof(buf));
    long long t0 = now_ms();
    kill(sim.pid, SIGKILL);
    /* c1 may still hold stream bytes in flight: read them off until the end */
    bool ended = false;
    while (!ended && now_ms() - t0 < 5000) {
        struct pollfd p = {.fd = c1, .events = POLLIN};
        if (poll(&p, 1, 100) > 0) {
            ssize_t k = read(c1, buf, sizeof(buf));
            ended = k <= 0;
        }
    }
    long long t1 = now_ms() - t0;
    cr_expect(ended, "the reading console was not closed");
    cr_expect(eof_within(c2, 3000), "the idle console was not closed");
    long long t2 = now_ms() - t0;
    cr_expect_lt(t1, 2000, "reading console closed after %lld ms", t1);
    cr_expect_lt(t2, 2000, "idle console closed after %lld ms", t2);
    close(c1);
    close(c2);
    proc_wait_exit(&sim, 5000);
    fx_stop(&f, SIGTERM);
}

/* ===================================================================================== 8 */

/* A users line from the real tool, cheap argon2 (mpsd-passwd --console ... --password-stdin). */
static void passwd_line(char *out, size_t cap, const char *name, const char *pw)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "printf '%%s\\n' '%s' | '%s' --console %s --devices all --ports all --password-stdin "
             "--m-cost 64 --t-cost 1 --parallelism 1 2>/dev/null",
             pw, env_or_die("MPSD_PASSWD"), name);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    cr_assert_eq(pclose(p), 0, "%s", cmd);
    cr_assert(!strncmp(out, "user ", 5), "mpsd-passwd printed '%s'", out);
}

Test(console, sighup_users_reload_keeps_sessions_and_applies_to_new_ones, .timeout = 90)
{
    struct fx f;
    char alice[512], bob[512], carol[512], text[2048];
    passwd_line(alice, sizeof(alice), "alice", ALICE_PW);
    passwd_line(bob, sizeof(bob), "bob", BOB_PW);
    snprintf(text, sizeof(text), "%s%s", alice, bob);
    fx_go(&f, &(struct fx_opts){.console = true, .users = text});
    struct proc sim;
    sim_ready(&f, &sim, "--count 1 --http-auth none --service 5900=echo --ports 16992,5900", 1);
    int held = socks5_open(f.socks_port, "bob", BOB_PW, "amt-0", 5900);
    echo_stream(held, 65536, 20000);
    struct s5 s = socks5(f.socks_port, "carol", CAROL_PW, "amt-0", 16992);
    cr_expect_eq(s.auth, 1, "carol is not a user yet");
    close(s.fd);

    passwd_line(carol, sizeof(carol), "carol", CAROL_PW);
    snprintf(text, sizeof(text), "%s%s", alice, carol);
    write_file(f.users, text);
    kill(f.p.pid, SIGHUP);
    cr_assert(fx_wait(&f, "reload: console users: 2", 10000), "%s", f.p.out);

    echo_stream(held, 65536, 20000); /* bob's open session keeps working */
    s = socks5(f.socks_port, "bob", BOB_PW, "amt-0", 16992);
    cr_expect_eq(s.auth, 1, "bob was removed: his new login is refused (auth %d)", s.auth);
    close(s.fd);
    expect_http(http_proxy(&f, false, "bob", BOB_PW, "amt-0", 16992), 407,
                "mpsd: authentication failed: unknown user (device amt-0)\n", "HTTP bob removed");
    int c = socks5_open(f.socks_port, "carol", CAROL_PW, "amt-0", 16992);
    get_names(c, "amt-0", "carol after the reload");
    close(c);
    int a = socks5_open(f.socks_port, "alice", ALICE_PW, "amt-0", 16992);
    get_names(a, "amt-0", "alice after the reload");
    close(a);
    close(held);
    proc_stop(&sim, SIGTERM, 10000);
    fx_stop(&f, SIGTERM);
}

/* ===================================================================================== 9 */

Test(console, request_and_idle_timeouts, .timeout = 60)
{
    struct fx f;
    start_console(&f, "request_timeout = 1s\nidle_timeout = 2s\n");
    struct proc sim;
    sim_ready(&f, &sim, "--count 1 --http-auth none --service 5900=echo --ports 16992,5900", 1);
    /* says nothing / half a greeting / half a head: closed after request_timeout */
    int s1 = tcp_connect(f.socks_port), s2 = tcp_connect(f.socks_port),
        h = tcp_connect(f.http_port);
    write_all(s2, "\x05\x01", 2);
    write_all(h, "GET http://amt-0/ HTTP/1.1\r\n", 28);
    long long t0 = now_ms();
    cr_expect(eof_within(s1, 5000), "a silent SOCKS console");
    cr_expect(eof_within(s2, 5000), "half a greeting");
    cr_expect(eof_within(h, 5000), "half an HTTP head");
    long long took = now_ms() - t0;
    cr_expect(took >= 900 && took < 3500, "closed after %lld ms (request_timeout 1 s)", took);
    close(s1), close(s2), close(h);
    cr_expect_eq(fx_stat(&f, "console_request_timeout"), 3);
    cr_expect_eq(fx_count(&f, "no complete proxy request within 1000ms: closing"), 3, "%s",
                 f.p.out);

    /* an open session that stays quiet: closed after idle_timeout; an active one stays */
    int idle = socks5_open(f.socks_port, "alice", ALICE_PW, "amt-0", 5900);
    int busy = socks5_open(f.socks_port, "alice", ALICE_PW, "amt-0", 5900);
    t0 = now_ms();
    bool idle_closed = false;
    long long idle_at = 0;
    while (now_ms() - t0 < 4000) {
        echo_stream(busy, 100, 5000); /* every 250 ms: never idle */
        if (!idle_closed && eof_within(idle, 250)) {
            idle_closed = true;
            idle_at = now_ms() - t0;
        }
    }
    cr_expect(idle_closed, "the idle session was not closed");
    cr_expect(idle_at >= 1800 && idle_at < 3800, "idle close after %lld ms (idle_timeout 2 s)",
              idle_at);
    echo_stream(busy, 100, 5000);
    close(busy);
    close(idle);
    cr_expect_eq(fx_stat(&f, "console_idle_timeout"), 1);
    cr_expect_eq(fx_count(&f, "user=alice device=amt-0 port=5900 msg=\"idle for 2000ms: closing"),
                 1, "%s", f.p.out);
    proc_stop(&sim, SIGTERM, 10000);
    fx_stop(&f, SIGTERM);
}

/* ===================================================================================== 10 */

/* SOCKS4 CONNECT: VN 4, CD 1, port, ip, user id, NUL [, host NUL for 4a (ip 0.0.0.x)]. */
static int socks4(int port, const uint8_t ip[4], int dport, const char *userid, const char *host,
                  uint8_t reply[8], size_t *rlen)
{
    uint8_t b[600];
    size_t n = 0;
    b[n++] = 4, b[n++] = 1, b[n++] = (uint8_t)(dport >> 8), b[n++] = (uint8_t)dport;
    memcpy(b + n, ip, 4), n += 4;
    memcpy(b + n, userid, strlen(userid) + 1), n += strlen(userid) + 1;
    if (host)
        memcpy(b + n, host, strlen(host) + 1), n += strlen(host) + 1;
    int fd = tcp_connect(port);
    write_all(fd, b, n);
    *rlen = read_n(fd, reply, 8, 10000);
    return fd;
}

Test(console, socks4a_with_user_password_and_plain_socks4_only_when_allowed, .timeout = 90)
{
    static const uint8_t v4a[4] = {0, 0, 0, 1}, lit[4] = {127, 77, 0, 0};
    static const uint8_t refused[8] = {0, 91};
    for (int allow = 0; allow < 2; allow++) {
        struct fx f;
        start_console(&f, allow ? "allow_socks4 = true\n" : NULL);
        struct proc sim, ipdev;
        sim_ready(&f, &sim, "--count 1 --http-auth none", 1);
        /* a device whose registered host name is an IPv4 literal: what plain SOCKS4 can name */
        sim_ready(&f, &ipdev,
                  "--count 1 --http-auth none --hostname-prefix 127.77.0. --uuid-base "
                  "44444444-0000-4000-8000-000000000000",
                  1);
        uint8_t r[8];
        size_t rl;
        /* SOCKS4a with user:password */
        int fd = socks4(f.socks_port, v4a, 16992, "alice:" ALICE_PW, "amt-0", r, &rl);
        cr_expect(rl == 8 && r[0] == 0 && r[1] == 90, "SOCKS4a granted: %zu bytes, CD %d", rl,
                  rl > 1 ? r[1] : -1);
        if (rl == 8 && r[1] == 90)
            get_names(fd, "amt-0", "SOCKS4a");
        close(fd);
        /* wrong password, and a bare user id: 91, then the end */
        fd = socks4(f.socks_port, v4a, 16992, "alice:nope", "amt-0", r, &rl);
        cr_expect(rl == 8 && !memcmp(r, refused, 8), "wrong password: CD %d", rl > 1 ? r[1] : -1);
        cr_expect(eof_within(fd, 5000));
        close(fd);
        fd = socks4(f.socks_port, v4a, 16992, "alice", "amt-0", r, &rl);
        cr_expect(rl == 8 && !memcmp(r, refused, 8), "no password: CD %d", rl > 1 ? r[1] : -1);
        cr_expect(eof_within(fd, 5000));
        close(fd);
        /* plain SOCKS4 to the device registered as 127.77.0.0 */
        fd = socks4(f.socks_port, lit, 16992, "alice:" ALICE_PW, NULL, r, &rl);
        if (allow) {
            cr_expect(rl == 8 && r[1] == 90, "plain SOCKS4 allowed: CD %d", rl > 1 ? r[1] : -1);
            if (rl == 8 && r[1] == 90)
                get_names(fd, "127.77.0.0", "plain SOCKS4");
        } else {
            cr_expect(rl == 8 && !memcmp(r, refused, 8), "plain SOCKS4 refused: %zu bytes CD %d",
                      rl, rl > 1 ? r[1] : -1);
            cr_expect(eof_within(fd, 5000));
        }
        close(fd);
        /* curl: socks4a:// with user:password percent-encoded in the user part */
        char proxy[160], body[4096];
        snprintf(proxy, sizeof(proxy), "socks4a://alice%%3A%s@127.0.0.1:%d", ALICE_PW,
                 f.socks_port);
        int code = curl(body, sizeof(body), "-x", proxy, "http://amt-0:16992/wsman", NULL);
        cr_expect_eq(code, 200, "curl socks4a: %d", code);
        cr_expect(strstr(body, "\"uuid\":\"" GUID0 "\""), "%s", body);
        cr_expect_eq(fx_stat(&f, "console_socks4"), allow ? 5 : 4);
        proc_stop(&sim, SIGTERM, 10000);
        proc_stop(&ipdev, SIGTERM, 10000);
        fx_stop(&f, SIGTERM);
    }
}

/* ===================================================================================== 11 */

/* Reads one response with a Content-Length body from fd into out; returns its status. */
static int read_response(int fd, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = 0;
    while (n < cap - 1) {
        char *e = strstr(out, "\r\n\r\n");
        if (e) {
            const char *cl = strstr(out, "Content-Length: ");
            size_t want = (size_t)(e + 4 - out) + (cl ? (size_t)atol(cl + 16) : 0);
            if (n >= want)
                break;
        }
        if (!read_n(fd, out + n, 1, 10000))
            break;
        n++;
        out[n] = 0;
    }
    int st = 0;
    sscanf(out, "HTTP/1.1 %d", &st);
    return st;
}

Test(console, http_keep_alive_and_pipelining_across_devices, .timeout = 60)
{
    struct fx f;
    start_console(&f, NULL);
    struct proc sim;
    sim_ready(&f, &sim, "--count 2", 2);
    /* curl: two URLs, one connection (num_connects 1 then 0), digest auth on each */
    char proxy[160], body[8192];
    snprintf(proxy, sizeof(proxy), "http://alice:%s@127.0.0.1:%d", ALICE_PW, f.http_port);
    char out[400];
    snprintf(out, sizeof(out), "%s/two.out", f.dir);
    char *argv[] = {"/usr/bin/curl",
                    "-s",
                    "-x",
                    proxy,
                    "--digest",
                    "-u",
                    "admin:" AMT_PW,
                    "-w",
                    "[%{http_code} %{num_connects}]",
                    "http://amt-0:16992/one",
                    "http://amt-0:16992/two",
                    NULL};
    struct proc c;
    cr_expect_eq(proc_run(&c, argv, 30000), 0, "%s", c.out);
    cr_expect(strstr(c.out, "[200 1]") && strstr(c.out, "[200 0]"),
              "two answers on one proxy connection: %s", c.out);
    (void)body;

    /* by hand: two pipelined requests to amt-0 in one write, answered in order, then amt-1 */
    struct proc sim2;
    sim_ready(&f, &sim2,
              "--count 2 --http-auth none --hostname-prefix open- --uuid-base "
              "0b0b0b0b-0000-4000-8000-000000000000",
              2);
    char b64[200], req[2048], resp[4096];
    basic(b64, "alice", ALICE_PW);
    snprintf(req, sizeof(req),
             "GET http://open-0:16992/first HTTP/1.1\r\nHost: open-0\r\nProxy-Authorization: "
             "Basic %s\r\n\r\n"
             "POST http://open-0:16992/second HTTP/1.1\r\nHost: open-0\r\nProxy-Authorization: "
             "Basic %s\r\nContent-Length: 5\r\n\r\nhello",
             b64, b64);
    int fd = tcp_connect(f.http_port);
    write_all(fd, req, strlen(req));
    cr_expect_eq(read_response(fd, resp, sizeof(resp)), 200, "%s", resp);
    cr_expect(strstr(resp, "\"hostname\":\"open-0\""), "first: %s", resp);
    cr_expect_eq(read_response(fd, resp, sizeof(resp)), 200, "%s", resp);
    cr_expect(strstr(resp, "\"hostname\":\"open-0\""), "second: %s", resp);
    snprintf(req, sizeof(req),
             "GET http://open-1:16992/other HTTP/1.1\r\nHost: open-1\r\nProxy-Authorization: "
             "Basic %s\r\n\r\n",
             b64);
    write_all(fd, req, strlen(req));
    cr_expect_eq(read_response(fd, resp, sizeof(resp)), 200, "%s", resp);
    cr_expect(strstr(resp, "\"hostname\":\"open-1\""), "another device on the same connection: %s",
              resp);
    /* and back to the first */
    snprintf(req, sizeof(req),
             "GET http://open-0:16992/back HTTP/1.1\r\nHost: open-0\r\nProxy-Authorization: "
             "Basic %s\r\n\r\n",
             b64);
    write_all(fd, req, strlen(req));
    cr_expect_eq(read_response(fd, resp, sizeof(resp)), 200, "%s", resp);
    cr_expect(strstr(resp, "\"hostname\":\"open-0\""), "back on open-0: %s", resp);
    close(fd);
    cr_expect_eq(fx_count(&f, "guid=0b0b0b0b-0000-4000-8000-000000000001 user=alice "
                              "device=open-1 port=16992 msg=\"channel"),
                 1, "%s", f.p.out);
    proc_stop(&sim, SIGTERM, 10000);
    proc_stop(&sim2, SIGTERM, 10000);
    fx_stop(&f, SIGTERM);
}

/* ===================================================================================== 12 */

Test(console, device_initiated_channels_only_to_allowed_destinations, .timeout = 60)
{
    int pa, pb;
    int la = listener(false, &pa), lb = listener(false, &pb);
    char extra[128];
    snprintf(extra, sizeof(extra), "device_open_allow = 127.0.0.1:%d\n", pa);
    struct fx f;
    fx_go(&f, &(struct fx_opts){
                  .console = true, .users = std_users(), .plain = true, .console_extra = extra});
    const char *uuid = "de000000-0000-4000-8000-000000000001";
    struct apfdev *d = calloc(1, sizeof(*d));
    apfdev_login(d, &f, uuid, "opener-0");

    /* (a) to the allowed destination */
    apf_msg m = {.type = APF_CHANNEL_OPEN};
    m.u.open.type = apf_str_c(APF_CHAN_DIRECT_TCPIP);
    m.u.open.sender = 7;
    m.u.open.window = 65536;
    m.u.open.reserved = 0xFFFFFFFF;
    m.u.open.addr = apf_str_c("127.0.0.1");
    m.u.open.port = (uint32_t)pa;
    m.u.open.orig_addr = apf_str_c("127.0.0.1");
    m.u.open.orig_port = 1000;
    apfdev_send(d, &m);
    apf_msg r;
    cr_assert_eq(apfdev_next(d, &r, 5000), 1, "no answer to the CHANNEL_OPEN");
    cr_assert_eq(r.type, APF_CHANNEL_OPEN_CONFIRMATION, "got %s", apf_msg_type_name(r.type));
    cr_expect_eq(r.u.open_confirm.recipient, 7);
    uint32_t mps_id = r.u.open_confirm.sender, credit = r.u.open_confirm.window;
    cr_expect_gt(credit, 0);
    int conn = accept_within(la, 5000);
    cr_assert_geq(conn, 0, "the connection did not arrive");
    apf_msg dm = {.type = APF_CHANNEL_DATA};
    dm.u.data.recipient = mps_id;
    dm.u.data.data = apf_str_c("ping from the device");
    apfdev_send(d, &dm);
    char got[64] = "";
    cr_expect_eq(read_n_pump(conn, got, 20, 5000, apfdev_pump, d), 20);
    cr_expect_str_eq(got, "ping from the device");
    write_all(conn, "pong from the destination", 25);
    cr_assert_eq(apfdev_next(d, &r, 5000), 1);
    cr_assert_eq(r.type, APF_CHANNEL_DATA, "got %s", apf_msg_type_name(r.type));
    cr_expect_eq(r.u.data.recipient, 7);
    cr_expect(r.u.data.data.len == 25 && !memcmp(r.u.data.data.p, "pong from the destination", 25),
              "down: '%.*s'", (int)r.u.data.data.len, (const char *)r.u.data.data.p);
    char needle[160];
    snprintf(needle, sizeof(needle), "to 127.0.0.1:%d connected", pa);
    cr_expect(fx_wait(&f, needle, 2000), "%s", f.p.out);
    /* the destination closes: the channel closes (and we answer the CLOSE) */
    close(conn);
    cr_expect_eq(apfdev_next(d, &r, 5000), 1);
    cr_expect_eq(r.type, APF_CHANNEL_CLOSE, "got %s", apf_msg_type_name(r.type));
    apf_msg cm = {.type = APF_CHANNEL_CLOSE};
    cm.u.close.recipient = mps_id;
    apfdev_send(d, &cm);

    /* (b) anywhere else: OPEN_FAILURE 1, nothing connected */
    m.u.open.sender = 8;
    m.u.open.port = (uint32_t)pb;
    apfdev_send(d, &m);
    int rc;
    while ((rc = apfdev_next(d, &r, 5000)) == 1 && r.type == APF_CHANNEL_CLOSE)
        ;
    cr_assert_eq(rc, 1);
    cr_assert_eq(r.type, APF_CHANNEL_OPEN_FAILURE, "got %s", apf_msg_type_name(r.type));
    cr_expect_eq(r.u.open_failure.recipient, 8);
    cr_expect_eq(r.u.open_failure.reason, APF_OPEN_ADMINISTRATIVELY_PROHIBITED);
    m.u.open.sender = 9;
    m.u.open.addr = apf_str_c("localhost");
    m.u.open.port = (uint32_t)pa; /* the allowed port under another name is not the same */
    apfdev_send(d, &m);
    cr_assert_eq(apfdev_next(d, &r, 5000), 1);
    cr_expect_eq(r.type, APF_CHANNEL_OPEN_FAILURE, "localhost: got %s", apf_msg_type_name(r.type));
    cr_expect_lt(accept_within(lb, 300), 0, "mpsd connected to the destination not allowed");
    cr_expect_lt(accept_within(la, 10), 0, "mpsd connected for 'localhost'");
    cr_expect_eq(fx_stat(&f, "device_open_allowed"), 1);
    cr_expect_eq(fx_stat(&f, "device_open_refused"), 2);
    snprintf(needle, sizeof(needle),
             "guid=%s msg=\"asked for a channel to '127.0.0.1':%d: refused: not in "
             "device_open_allow",
             uuid, pb);
    cr_expect_eq(fx_count(&f, needle), 1, "%s", f.p.out);
    close(d->fd);
    free(d);
    close(la);
    close(lb);
    fx_stop(&f, SIGTERM);
}

/* ============================================ 13: HTTP forwarding, the review's scenarios */

/* Each of these reproduces one bug a review found in the absolute-URI forwarding path (relay.c,
 * console.c), with devices scripted byte by byte over plain APF: what they answer, split how and
 * when, is the point. One worker, as in the review (a switch between devices stays on it). */

/* A scripted device: confirms every CHANNEL_OPEN (window 64 KiB), records what comes up and
 * answers mpsd's CHANNEL_CLOSE; the test sends the responses. */
struct sdev {
    struct apfdev *d;
    int opens, closes; /* CHANNEL_OPEN / CHANNEL_CLOSE from mpsd */
    uint32_t peer;     /* mpsd's id of the channel opened last */
    bool we_closed;    /* our CLOSE went first: mpsd's is the answer */
    char up[16384];    /* every CHANNEL_DATA payload, in order */
    size_t up_len;
};

static struct sdev *g_sdev[2];

static void sdev_poll(struct sdev *s)
{
    apf_msg m;
    while (apfdev_next(s->d, &m, 0) == 1) {
        if (m.type == APF_CHANNEL_OPEN) {
            s->peer = m.u.open.sender;
            s->we_closed = false;
            apf_msg r = {.type = APF_CHANNEL_OPEN_CONFIRMATION};
            r.u.open_confirm.recipient = m.u.open.sender;
            r.u.open_confirm.sender = 100 + (uint32_t)s->opens++;
            r.u.open_confirm.window = 65536;
            r.u.open_confirm.reserved = 0xFFFFFFFF;
            apfdev_send(s->d, &r);
        } else if (m.type == APF_CHANNEL_DATA) {
            size_t n = m.u.data.data.len;
            cr_assert_lt(s->up_len + n, sizeof(s->up), "more up than expected");
            memcpy(s->up + s->up_len, m.u.data.data.p, n);
            s->up_len += n;
            s->up[s->up_len] = 0;
        } else if (m.type == APF_CHANNEL_CLOSE) {
            s->closes++;
            if (!s->we_closed) {
                apf_msg r = {.type = APF_CHANNEL_CLOSE};
                r.u.close.recipient = s->peer;
                apfdev_send(s->d, &r);
            }
        }
    }
}

static void sdev_pump(void *arg)
{
    (void)arg;
    for (int i = 0; i < 2; i++)
        if (g_sdev[i])
            sdev_poll(g_sdev[i]);
}

static void sdev_pump_ms(int ms)
{
    long long end = now_ms() + ms;
    do {
        sdev_pump(NULL);
        usleep(5000);
    } while (now_ms() < end);
}

static struct sdev *sdev_login(struct fx *f, int slot, const char *uuid, const char *host)
{
    struct sdev *s = calloc(1, sizeof(*s));
    cr_assert_not_null(s);
    s->d = calloc(1, sizeof(*s->d));
    cr_assert_not_null(s->d);
    apfdev_login(s->d, f, uuid, host);
    g_sdev[slot] = s;
    return s;
}

static void sdev_free(struct sdev *s)
{
    for (int i = 0; i < 2; i++)
        if (g_sdev[i] == s)
            g_sdev[i] = NULL;
    close(s->d->fd);
    free(s->d);
    free(s);
}

/* Pumps the devices until *n reaches want (a counter of one of them): true if it did in time. */
static bool sdev_wait(const int *n, int want, int timeout_ms)
{
    long long end = now_ms() + timeout_ms;
    while (*n < want && now_ms() < end)
        sdev_pump_ms(5);
    return *n >= want;
}

/* Pumps the devices until s->up holds needle: true if it did in time. */
static bool sdev_wait_up(struct sdev *s, const char *needle, int timeout_ms)
{
    long long end = now_ms() + timeout_ms;
    while (!strstr(s->up, needle) && now_ms() < end)
        sdev_pump_ms(5);
    return strstr(s->up, needle) != NULL;
}

/* One CHANNEL_DATA on the device's current channel. */
static void sdev_data(struct sdev *s, const char *text)
{
    apf_msg m = {.type = APF_CHANNEL_DATA};
    m.u.data.recipient = s->peer;
    m.u.data.data.p = (const uint8_t *)text;
    m.u.data.data.len = strlen(text);
    apfdev_send(s->d, &m);
}

static void sdev_close(struct sdev *s)
{
    s->we_closed = true;
    apf_msg m = {.type = APF_CHANNEL_CLOSE};
    m.u.close.recipient = s->peer;
    apfdev_send(s->d, &m);
}

/* What a console got: bytes so far, and whether its stream ended (EOF or reset). */
struct cin {
    char b[8192];
    size_t len;
    bool eof;
};

/* Reads into r until it holds want bytes, the stream ends or timeout_ms passes (the devices are
 * served meanwhile). */
static void cin_read(int fd, struct cin *r, size_t want, int timeout_ms)
{
    long long end = now_ms() + timeout_ms;
    while (r->len < want && r->len < sizeof(r->b) - 1 && !r->eof) {
        long long left = end - now_ms();
        if (left <= 0)
            break;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int rc = poll(&p, 1, left < 20 ? (int)left : 20);
        sdev_pump(NULL);
        if (rc <= 0)
            continue;
        ssize_t k = read(fd, r->b + r->len, sizeof(r->b) - 1 - r->len);
        if (k == 0 || (k < 0 && errno == ECONNRESET))
            r->eof = true;
        else if (k > 0)
            r->len += (size_t)k;
        r->b[r->len] = 0;
    }
}

/* The console's next bytes are exactly text. */
static void expect_console(int fd, const char *text, const char *what)
{
    struct cin r = {.len = 0};
    cin_read(fd, &r, strlen(text), 3000);
    cr_expect_str_eq(r.b, text, "%s: the console got '%s' (%s), expected '%s'", what, r.b,
                     r.eof ? "then EOF" : "open", text);
}

/* mpsd still runs and printed no sanitizer report. */
static void expect_mpsd_healthy(struct fx *f)
{
    cr_expect_eq(proc_wait_exit(&f->p, 0), -1, "mpsd is gone:\n%s", f->p.out);
    cr_expect_eq(fx_count(f, "AddressSanitizer"), 0, "%s", f->p.out);
    cr_expect_eq(fx_count(f, "runtime error:"), 0, "%s", f->p.out);
}

#define DEVA "da000000-0000-4000-8000-00000000000a"
#define DEVB "db000000-0000-4000-8000-00000000000b"
#define REQ_A_THEN_B                                                                               \
    "GET http://dev-a:16992/x HTTP/1.1\r\nHost: dev-a\r\n\r\n"                                     \
    "GET http://dev-b:16992/y HTTP/1.1\r\nHost: dev-b\r\n\r\n"

/* Anonymous consoles from loopback (as in the review); request_timeout 5 s, so that a console
 * left waiting for it shows. */
static void review_start(struct fx *f, bool anonymous)
{
    fx_go(f, &(struct fx_opts){.console = true,
                               .plain = true,
                               .workers = 1,
                               .users = std_users(),
                               .console_extra = anonymous ? "allow_anonymous_loopback = true\n"
                                                            "request_timeout = 5s\n"
                                                          : "request_timeout = 5s\n"});
}

/* 1: the second request's head comes in two writes; the old code paused the console on the
 * first half for good. */
Test(console, http_forward_second_head_in_two_pieces_reaches_the_device, .timeout = 60)
{
    struct fx f;
    review_start(&f, true);
    struct sdev *a = sdev_login(&f, 0, DEVA, "dev-a");
    int c = tcp_connect(f.http_port);
    const char *r1 = "GET http://dev-a:16992/x HTTP/1.1\r\nHost: dev-a\r\n\r\n";
    write_all(c, r1, strlen(r1));
    cr_assert(sdev_wait(&a->opens, 1, 3000), "dev-a got no CHANNEL_OPEN:\n%s", f.p.out);
    cr_assert(sdev_wait_up(a, "\r\n\r\n", 3000), "request 1 did not come up: '%s'", a->up);
    cr_expect(!strncmp(a->up, "GET /x HTTP/1.1\r\n", 17), "request 1 in origin form: '%s'", a->up);
    sdev_data(a, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    expect_console(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", "response 1");

    write_all(c, "GET http://dev-a:16992/y HTTP/1.1\r\n", 35);
    sdev_pump_ms(300);
    write_all(c, "Host: dev-a\r\n\r\n", 15);
    cr_expect(sdev_wait_up(a, "GET /y HTTP/1.1\r\n", 3000),
              "the second request did not reach the device: '%s'\n%s", a->up, f.p.out);
    sdev_data(a, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo");
    expect_console(c, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo", "response 2");
    cr_expect_eq(a->opens, 1, "both requests on one channel");
    expect_mpsd_healthy(&f);
    close(c);
    sdev_free(a);
    fx_stop(&f, SIGTERM);
}

/* 2: pipelined to dev-a then dev-b; dev-a's head comes in two CHANNEL_DATA, no body. The old code
 * switched channels inside the head assembly and wrote to the freed framing state (ASan sees
 * it; the suite runs under ASan in CI). */
Test(console, http_forward_split_response_head_then_the_next_device, .timeout = 60)
{
    struct fx f;
    review_start(&f, true);
    struct sdev *a = sdev_login(&f, 0, DEVA, "dev-a"), *b = sdev_login(&f, 1, DEVB, "dev-b");
    int c = tcp_connect(f.http_port);
    write_all(c, REQ_A_THEN_B, strlen(REQ_A_THEN_B));
    cr_assert(sdev_wait(&a->opens, 1, 3000), "dev-a got no CHANNEL_OPEN:\n%s", f.p.out);
    cr_assert(sdev_wait_up(a, "\r\n\r\n", 3000), "request 1 did not come up: '%s'", a->up);
    sdev_pump_ms(200); /* the request to dev-b is read and held meanwhile */
    cr_expect_eq(b->opens, 0, "dev-b is opened only once dev-a has answered");
    sdev_data(a, "HTTP/1.1 200 OK\r\nContent-Le");
    sdev_pump_ms(100);
    sdev_data(a, "ngth: 0\r\n\r\n");
    expect_console(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", "dev-a's response");
    cr_assert(sdev_wait(&b->opens, 1, 3000), "dev-b got no CHANNEL_OPEN:\n%s", f.p.out);
    cr_expect(sdev_wait_up(b, "\r\n\r\n", 3000), "request 2 did not come up: '%s'", b->up);
    cr_expect(!strncmp(b->up, "GET /y HTTP/1.1\r\n", 17), "request 2 in origin form: '%s'", b->up);
    cr_expect(!strstr(a->up, "/y"), "dev-a got request 2: '%s'", a->up);
    sdev_data(b, "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nfrom-b!");
    expect_console(c, "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nfrom-b!", "dev-b's response");
    cr_expect(sdev_wait(&a->closes, 1, 2000), "dev-a's channel was let go");
    expect_mpsd_healthy(&f);
    close(c);
    sdev_free(a);
    sdev_free(b);
    cr_expect_eq(proc_stop(&f.p, SIGTERM, 15000), 0, "mpsd's exit:\n%s", f.p.out);
}

/* 3: dev-a answers request 1 and appends a response of its own (while the console's request to
 * dev-b waits): the old code delivered it as dev-b's answer. */
Test(console, http_forward_response_nobody_asked_for_closes_the_console, .timeout = 60)
{
    struct fx f;
    review_start(&f, true);
    struct sdev *a = sdev_login(&f, 0, DEVA, "dev-a"), *b = sdev_login(&f, 1, DEVB, "dev-b");
    int c = tcp_connect(f.http_port);
    write_all(c, REQ_A_THEN_B, strlen(REQ_A_THEN_B));
    cr_assert(sdev_wait(&a->opens, 1, 3000), "dev-a got no CHANNEL_OPEN:\n%s", f.p.out);
    cr_assert(sdev_wait_up(a, "\r\n\r\n", 3000), "request 1 did not come up: '%s'", a->up);
    sdev_pump_ms(200);
    sdev_data(a, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
                 "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nFORGED-B!");
    struct cin r = {.len = 0};
    cin_read(c, &r, sizeof(r.b), 3000);
    /* at most dev-a's one response gets through before the close (at present none: the abort
     * drops the head queued in the same CHANNEL_DATA with the connection) */
    const char *legit = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    cr_expect(!strstr(r.b, "FORGED"), "the forged response reached the console: '%s'", r.b);
    cr_expect(r.len <= strlen(legit) && !strncmp(r.b, legit, r.len),
              "the console got '%s', more than dev-a's one response", r.b);
    cr_log_info("before the close the console got %zu of dev-a's %zu bytes", r.len, strlen(legit));
    cr_expect(r.eof, "mpsd must close the console");
    cr_expect(fx_wait(&f,
                      "device=dev-a port=16992 msg=\"the device sent a response nobody asked "
                      "for: closing",
                      2000),
              "%s", f.p.out);
    sdev_pump_ms(100);
    cr_expect_eq(b->opens, 0, "dev-b is never opened for a closed console");
    expect_mpsd_healthy(&f);
    close(c);
    sdev_free(a);
    sdev_free(b);
    fx_stop(&f, SIGTERM);
}

/* 4: pipelined to dev-a then dev-b; dev-a's response is delimited by its close (HTTP/1.0, no
 * Content-Length): the console must see the end of it right away, not after request_timeout
 * (and the request to dev-b is not sent: the console could not tell its answer from the body). */
Test(console, http_forward_until_close_response_ends_the_console_promptly, .timeout = 60)
{
    struct fx f;
    review_start(&f, true);
    struct sdev *a = sdev_login(&f, 0, DEVA, "dev-a"), *b = sdev_login(&f, 1, DEVB, "dev-b");
    int c = tcp_connect(f.http_port);
    write_all(c, REQ_A_THEN_B, strlen(REQ_A_THEN_B));
    cr_assert(sdev_wait(&a->opens, 1, 3000), "dev-a got no CHANNEL_OPEN:\n%s", f.p.out);
    cr_assert(sdev_wait_up(a, "\r\n\r\n", 3000), "request 1 did not come up: '%s'", a->up);
    sdev_pump_ms(200);
    sdev_data(a, "HTTP/1.0 200 OK\r\n\r\nuntil-close body");
    sdev_close(a);
    long long t0 = now_ms();
    struct cin r = {.len = 0};
    cin_read(c, &r, sizeof(r.b), 3000);
    long long took = now_ms() - t0;
    cr_expect_str_eq(r.b, "HTTP/1.0 200 OK\r\n\r\nuntil-close body", "the console got '%s'", r.b);
    cr_expect(r.eof, "the console was not closed within 3 s (request_timeout 5 s)");
    cr_expect_lt(took, 1000, "the console was closed after %lld ms", took);
    sdev_pump_ms(100);
    cr_expect_eq(b->opens, 0, "dev-b opened after an until-close response");
    expect_mpsd_healthy(&f);
    close(c);
    sdev_free(a);
    sdev_free(b);
    fx_stop(&f, SIGTERM);
}

/* 5: an authenticated keep-alive session; a later request with the same user and another
 * password is authenticated again (the old code compared the user name only). */
Test(console, http_forward_same_user_other_password_is_authenticated_again, .timeout = 60)
{
    struct fx f;
    review_start(&f, false);
    struct sdev *a = sdev_login(&f, 0, DEVA, "dev-a");
    char good[200], bad[200], req[1024];
    basic(good, "alice", ALICE_PW);
    basic(bad, "alice", "wrong-password");
    int c = tcp_connect(f.http_port);
    snprintf(req, sizeof(req),
             "GET http://dev-a:16992/one HTTP/1.1\r\nHost: dev-a\r\nProxy-Authorization: Basic "
             "%s\r\n\r\n",
             good);
    write_all(c, req, strlen(req));
    cr_assert(sdev_wait(&a->opens, 1, 3000), "dev-a got no CHANNEL_OPEN:\n%s", f.p.out);
    cr_assert(sdev_wait_up(a, "\r\n\r\n", 3000), "request 1 did not come up: '%s'", a->up);
    cr_expect(!strstr(a->up, "Proxy-Authorization"), "credentials forwarded: '%s'", a->up);
    sdev_data(a, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none");
    expect_console(c, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none", "response 1");

    /* the same credentials: forwarded on the same channel */
    snprintf(req, sizeof(req),
             "GET http://dev-a:16992/two HTTP/1.1\r\nHost: dev-a\r\nProxy-Authorization: Basic "
             "%s\r\n\r\n",
             good);
    write_all(c, req, strlen(req));
    cr_expect(sdev_wait_up(a, "GET /two HTTP/1.1\r\n", 3000), "request 2: '%s'", a->up);
    sdev_data(a, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo");
    expect_console(c, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo", "response 2");
    cr_expect_eq(a->opens, 1, "request 2 on the same channel");

    /* alice again, another password: authenticated afresh, and refused */
    snprintf(req, sizeof(req),
             "GET http://dev-a:16992/three HTTP/1.1\r\nHost: dev-a\r\nProxy-Authorization: Basic "
             "%s\r\n\r\n",
             bad);
    write_all(c, req, strlen(req));
    struct cin r = {.len = 0};
    cin_read(c, &r, sizeof(r.b), 3000);
    int status = 0;
    sscanf(r.b, "HTTP/1.1 %d", &status);
    cr_expect_eq(status, 407, "request 3 with another password: '%s'", r.b);
    const char *body = strstr(r.b, "\r\n\r\n");
    cr_expect_str_eq(body ? body + 4 : "",
                     "mpsd: authentication failed: wrong password (device dev-a)\n", "'%s'", r.b);
    cr_expect(strstr(r.b, "\r\nProxy-Authenticate: Basic realm=\"mpsd\""), "%s", r.b);
    cr_expect(r.eof, "the console is closed after the 407");
    cr_expect(!strstr(a->up, "/three"), "request 3 reached the device: '%s'", a->up);
    cr_expect_eq(a->opens, 1);
    expect_refusal_line(&f, "alice", "dev-a", 16992, "authentication failed: wrong password", 1);
    cr_expect_eq(fx_count(&f, "wrong-password"), 0, "a console password must never be logged");
    expect_mpsd_healthy(&f);
    close(c);
    sdev_free(a);
    fx_stop(&f, SIGTERM);
}

/* 6: mpsd strips Upgrade from what it forwards, so a 101 from the device breaks the framing: the
 * console goes (the old code passed the device's bytes on raw from there). */
Test(console, http_forward_101_from_the_device_closes_the_console, .timeout = 60)
{
    struct fx f;
    review_start(&f, true);
    struct sdev *a = sdev_login(&f, 0, DEVA, "dev-a");
    int c = tcp_connect(f.http_port);
    const char *rq = "GET http://dev-a:16992/ws HTTP/1.1\r\nHost: dev-a\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\n\r\n";
    write_all(c, rq, strlen(rq));
    cr_assert(sdev_wait(&a->opens, 1, 3000), "dev-a got no CHANNEL_OPEN:\n%s", f.p.out);
    cr_assert(sdev_wait_up(a, "\r\n\r\n", 3000), "the request did not come up: '%s'", a->up);
    cr_expect(!strstr(a->up, "Upgrade"), "Upgrade forwarded: '%s'", a->up);
    sdev_data(a, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: "
                 "Upgrade\r\n\r\nRAW-BYTES");
    struct cin r = {.len = 0};
    cin_read(c, &r, sizeof(r.b), 3000);
    cr_expect_eq(r.len, 0, "the console got '%s'", r.b);
    cr_expect(r.eof, "mpsd must close the console");
    cr_expect(fx_wait(&f,
                      "device=dev-a port=16992 msg=\"the device sent a malformed HTTP response "
                      "head: closing",
                      2000),
              "%s", f.p.out);
    cr_expect(sdev_wait(&a->closes, 1, 2000), "the channel is closed too");
    expect_mpsd_healthy(&f);
    close(c);
    sdev_free(a);
    fx_stop(&f, SIGTERM);
}
