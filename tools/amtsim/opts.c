/* opts.c - amtsim's command line (see opts.h). */
#include "opts.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "ident.h"
#include "tls.h"

static const char *const mode_names[MODE__COUNT] = {
    "normal", "bad-password", "silent", "garbage", "overlong", "stall-handshake", "no-tls-garbage",
};

const char *mode_name(enum sim_mode m)
{
    return m < MODE__COUNT ? mode_names[m] : "?";
}

static const char *const svc_names[SVC__COUNT] = {
    "http", "http-open", "sol", "echo", "discard", "source",
};

const char *svc_name(enum svc_kind k)
{
    return k < SVC__COUNT ? svc_names[k] : "?";
}

void opts_usage(FILE *f)
{
    fputs(
        "usage: amtsim --connect HOST:PORT --count N [options]\n"
        "Emulates N Intel AMT devices that dial an MPS over TLS (CIRA) and speak APF.\n"
        "Loopback only: every address must be in 127.0.0.0/8 or ::1.\n"
        "\n"
        "Connection:\n"
        "  --connect HOST:PORT   the MPS (127.x.y.z:P, [::1]:P or localhost:P)\n"
        "  --count N             devices to simulate (1..1000000, default 1)\n"
        "  --rate R              new connections per second (0 = as fast as --inflight allows)\n"
        "  --inflight K          devices between connect and ready, at most (default 256)\n"
        "  --workers W           io_uring worker threads (default 1; raised when N needs more\n"
        "                        direct descriptors than one ring holds)\n"
        "  --sources LIST        round-robin source addresses, e.g. "
        "127.0.0.2-127.0.0.20,127.0.1.1\n"
        "                        (each source gives ~28k ports toward one MPS address)\n"
        "TLS:\n"
        "  --ca FILE             verify the MPS certificate against FILE (default: no "
        "verification)\n"
        "  --cert FILE --key FILE  present a client certificate (mutual TLS)\n"
        "  --tls-min V, --tls-max V  1.0, 1.1, 1.2 or 1.3 (default 1.2 .. 1.3); a maximum below "
        "1.3\n"
        "                        means exactly that version (wolfSSL cannot cap a range)\n"
        "  --ciphers LIST        wolfSSL cipher list (AMT 11: --tls-max 1.1 --ciphers AES128-SHA)\n"
        "  --sni NAME            server name indication\n"
        "  --resume              reuse the previous session ticket when a device reconnects\n"
        "  --plain               no TLS at all (an MPS TLS-offload listener)\n"
        "Identity:\n"
        "  --uuid-base UUID      device i gets UUID base + i in its last group\n"
        "                        (default 12345678-0000-4000-8000-000000000000)\n"
        "  --user NAME           APF user name (default admin)\n"
        "  --password PW | --password-file FILE  APF password (the file's first line)\n"
        "  --auth-none           log in with USERAUTH method none (needs --cert: mutual TLS)\n"
        "  --hostname-prefix P   device i registers host name P<i> (default amt-)\n"
        "  --ports LIST          tcpip-forward ports, in order (default "
        "16992,16993,623,664,16994,16995)\n"
        "  --trigger T           PROTOCOLVERSION trigger reason (default 4, periodic)\n"
        "  --pipeline            send the whole login in one write instead of waiting for each\n"
        "                        answer as the reference simulators do\n"
        "Behaviour:\n"
        "  --keepalive S         KEEPALIVE_REQUEST every S seconds (default 30) unless the MPS'\n"
        "                        KEEPALIVE_OPTIONS_REQUEST asks another interval\n"
        "  --duration S          hold the tunnels S seconds, disconnect cleanly, exit (0 = until\n"
        "                        SIGINT/SIGTERM; fault modes also end once every device is done)\n"
        "  --timeout S           a device must reach its expected state within S s (default 120)\n"
        "  --reconnect           reconnect with exponential backoff when the MPS drops a tunnel\n"
        "                        (mode normal only)\n"
        "  --reconnect-delay MS  first backoff step, doubled per failed attempt (default 500; a\n"
        "                        capacity bench sets it low so the MPS, not the wait, is the "
        "bound)\n"
        "  --mode M              normal | bad-password | silent | garbage | overlong |\n"
        "                        stall-handshake | no-tls-garbage\n"
        "Channels (forwarded-tcpip opened by the MPS on a registered port):\n"
        "  --relay HOST:PORT     relay each channel to this loopback TCP target (default: the\n"
        "                        built-in services of --service)\n"
        "  --window B            receive window granted per channel (default 32768)\n"
        "  --max-payload B       largest CHANNEL_DATA payload sent (default 16384)\n"
        "  --max-channels C      channels per device; more are refused RESOURCE_SHORTAGE (default "
        "8)\n"
        "  --service PORT=KIND   what serves channels to PORT (repeatable); KIND: http (digest\n"
        "                        auth WS-MAN responder), http-open (no auth), sol (AMT\n"
        "                        redirection, SOL line echo), echo, discard, source:N (N bytes\n"
        "                        of a pattern, then close). Defaults: 16992,16993 http;\n"
        "                        16994,16995 sol; 5900 echo; others http. A port still needs\n"
        "                        --ports to be registered\n"
        "  --http-auth none|digest  whether http asks for digest auth (default digest)\n"
        "  --amt-user NAME       the AMT ports' user (digest and SOL; default admin)\n"
        "  --amt-password PW | --amt-password-file FILE  its password (default P@ssw0rd)\n"
        "Output:\n"
        "  --progress            one JSON line of counters per second on stdout\n"
        "                        (SIGUSR1 marks a moment: the summary then also gives the "
        "keep-alive\n"
        "                        round trips since the mark)\n"
        "  --quiet               no per-failure lines on stderr\n"
        "  --help                this text\n"
        "\n"
        "stdout: JSON lines; the last one is the summary (\"summary\":true).\n"
        "Exit status 0 when every device reached what its mode expects (normal: ready and still "
        "up\n"
        "at the end; bad-password: refused with USERAUTH_FAILURE; silent: logged in, then dropped "
        "by\n"
        "the MPS; garbage, overlong, stall-handshake, no-tls-garbage: dropped by the MPS), else "
        "1;\n"
        "2 for a usage error.\n",
        f);
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static const char refuse_msg[] =
    "refusing %s: amtsim only talks to loopback (127.0.0.0/8 or ::1); this workplace forbids "
    "any other traffic";

static bool is_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        return IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
    }
    return false;
}

/* A numeric (or "localhost") loopback address without port. */
static int parse_host(const char *h, uint16_t port, struct sim_addr *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    struct sockaddr_in *a4 = (struct sockaddr_in *)&out->ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&out->ss;
    if (strcmp(h, "localhost") == 0)
        h = "127.0.0.1"; /* never a resolver: no name can lead off the machine */
    if (inet_pton(AF_INET, h, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons(port);
        out->len = sizeof(*a4);
    } else if (inet_pton(AF_INET6, h, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(port);
        out->len = sizeof(*a6);
    } else {
        return fail(err, errlen, refuse_msg, h);
    }
    if (!is_loopback(&out->ss))
        return fail(err, errlen, refuse_msg, h);
    return 0;
}

int opts_parse_hostport(const char *s, struct sim_addr *out, char *err, size_t errlen)
{
    char host[64];
    const char *colon;
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (!end || end[1] != ':')
            return fail(err, errlen, "'%s': expected [v6addr]:PORT", s);
        colon = end + 1;
        if ((size_t)(end - s - 1) >= sizeof(host))
            return fail(err, errlen, "'%s': address too long", s);
        memcpy(host, s + 1, (size_t)(end - s - 1));
        host[end - s - 1] = 0;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return fail(err, errlen, "'%s': expected HOST:PORT", s);
        if ((size_t)(colon - s) >= sizeof(host))
            return fail(err, errlen, "'%s': address too long", s);
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = 0;
        if (strchr(host, ':'))
            return fail(err, errlen, "'%s': write an IPv6 address as [::1]:PORT", s);
    }
    char *end;
    errno = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (errno || *end || end == colon + 1 || port == 0 || port > 65535)
        return fail(err, errlen, "'%s': port must be 1..65535", s);
    return parse_host(host, (uint16_t)port, out, err, errlen);
}

static int add_source(struct sim_opts *o, const struct sim_addr *a, char *err, size_t errlen)
{
    if (o->nsources >= OPTS_MAX_SOURCES)
        return fail(err, errlen, "--sources: at most %d addresses", OPTS_MAX_SOURCES);
    if (!o->sources && !(o->sources = calloc(OPTS_MAX_SOURCES, sizeof(*o->sources))))
        return fail(err, errlen, "out of memory");
    o->sources[o->nsources++] = *a;
    return 0;
}

int opts_parse_sources(struct sim_opts *o, const char *s, char *err, size_t errlen)
{
    char buf[4096];
    if (strlen(s) >= sizeof(buf))
        return fail(err, errlen, "--sources: list too long");
    strcpy(buf, s);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        struct sim_addr lo, hi;
        char *dash = strchr(tok, '-');
        if (dash)
            *dash = 0;
        if (parse_host(tok, 0, &lo, err, errlen) < 0)
            return -1;
        if (!dash) {
            if (add_source(o, &lo, err, errlen) < 0)
                return -1;
            continue;
        }
        if (parse_host(dash + 1, 0, &hi, err, errlen) < 0)
            return -1;
        if (lo.ss.ss_family != AF_INET || hi.ss.ss_family != AF_INET)
            return fail(err, errlen, "--sources: ranges are IPv4 only ('%s-%s')", tok, dash + 1);
        uint32_t a = ntohl(((struct sockaddr_in *)&lo.ss)->sin_addr.s_addr);
        uint32_t b = ntohl(((struct sockaddr_in *)&hi.ss)->sin_addr.s_addr);
        if (b < a)
            return fail(err, errlen, "--sources: range %s-%s runs backwards", tok, dash + 1);
        if (b - a >= OPTS_MAX_SOURCES)
            return fail(err, errlen, "--sources: at most %d addresses", OPTS_MAX_SOURCES);
        for (uint32_t x = a;; x++) {
            ((struct sockaddr_in *)&lo.ss)->sin_addr.s_addr = htonl(x);
            if (add_source(o, &lo, err, errlen) < 0)
                return -1;
            if (x == b)
                break;
        }
    }
    if (o->nsources == 0)
        return fail(err, errlen, "--sources: empty list");
    return 0;
}

int opts_parse_ports(struct sim_opts *o, const char *s, char *err, size_t errlen)
{
    o->nports = 0;
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        unsigned long v = strtoul(p, &end, 10);
        if (errno || end == p || v == 0 || v > 65535 || (*end && *end != ','))
            return fail(err, errlen, "--ports: '%s' is not a list of ports 1..65535", s);
        if (o->nports >= OPTS_MAX_PORTS)
            return fail(err, errlen, "--ports: at most %d ports", OPTS_MAX_PORTS);
        for (size_t i = 0; i < o->nports; i++)
            if (o->ports[i] == v)
                return fail(err, errlen, "--ports: %lu twice", v);
        o->ports[o->nports++] = (uint32_t)v;
        p = *end ? end + 1 : end;
    }
    if (o->nports == 0)
        return fail(err, errlen, "--ports: empty list");
    return 0;
}

uint16_t opts_parse_tls_version(const char *s)
{
    static const struct {
        const char *name;
        uint16_t v;
    } t[] = {{"1.0", TLS_V1_0}, {"1.1", TLS_V1_1}, {"1.2", TLS_V1_2}, {"1.3", TLS_V1_3}};
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        if (strcmp(s, t[i].name) == 0)
            return t[i].v;
    return 0;
}

/* An unsigned number within [lo, hi]. */
static int num(const char *opt, const char *s, uint64_t lo, uint64_t hi, uint32_t *out, char *err,
               size_t errlen)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi)
        return fail(err, errlen, "%s: '%s' is not a number in %llu..%llu", opt, s,
                    (unsigned long long)lo, (unsigned long long)hi);
    *out = (uint32_t)v;
    return 0;
}

static int copy_cred(const char *opt, const char *s, char *out, char *err, size_t errlen)
{
    size_t n = strlen(s);
    if (n > OPTS_MAX_CRED)
        return fail(err, errlen, "%s: longer than %d bytes", opt, OPTS_MAX_CRED);
    memcpy(out, s, n + 1);
    return 0;
}

static int read_first_line(const char *opt, const char *path, char *out, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return fail(err, errlen, "%s %s: %s", opt, path, strerror(errno));
    char line[OPTS_MAX_CRED + 2];
    bool ok = fgets(line, sizeof(line), f) != NULL;
    fclose(f);
    if (!ok)
        return fail(err, errlen, "%s %s: empty", opt, path);
    line[strcspn(line, "\r\n")] = 0;
    if (!line[0])
        return fail(err, errlen, "%s %s: first line is empty", opt, path);
    int r = copy_cred(opt, line, out, err, errlen);
    memset(line, 0, sizeof(line));
    return r;
}

static int read_password_file(struct sim_opts *o, const char *path, char *err, size_t errlen)
{
    o->has_password = true;
    return read_first_line("--password-file", path, o->password, err, errlen);
}

int opts_parse_service(struct sim_opts *o, const char *s, char *err, size_t errlen)
{
    char *end;
    errno = 0;
    unsigned long port = strtoul(s, &end, 10);
    if (errno || end == s || *end != '=' || port == 0 || port > 65535)
        return fail(err, errlen, "--service: '%s' is not PORT=KIND (PORT 1..65535)", s);
    const char *k = end + 1;
    struct svc_spec sp = {.port = (uint32_t)port, .kind = SVC__COUNT};
    for (int i = 0; i < SVC__COUNT; i++)
        if (i != SVC_SOURCE && strcmp(k, svc_names[i]) == 0)
            sp.kind = (uint8_t)i;
    if (strncmp(k, "source:", 7) == 0) {
        const char *n = k + 7;
        errno = 0;
        unsigned long long v = strtoull(n, &end, 10);
        if (errno || end == n || *end || n[0] == '-')
            return fail(err, errlen, "--service: '%s': source:N needs a byte count", s);
        sp.kind = SVC_SOURCE;
        sp.bytes = v;
    }
    if (sp.kind == SVC__COUNT)
        return fail(err, errlen,
                    "--service: '%s': KIND is one of http, http-open, sol, echo, discard, "
                    "source:N",
                    s);
    for (size_t i = 0; i < o->nservices; i++)
        if (o->services[i].port == sp.port) {
            o->services[i] = sp; /* the last one wins */
            return 0;
        }
    if (o->nservices >= OPTS_MAX_PORTS)
        return fail(err, errlen, "--service: at most %d ports", OPTS_MAX_PORTS);
    o->services[o->nservices++] = sp;
    return 0;
}

enum svc_kind opts_service(const struct sim_opts *o, uint32_t port, uint64_t *bytes)
{
    enum svc_kind k = SVC_HTTP;
    *bytes = 0;
    bool explicit = false;
    for (size_t i = 0; i < o->nservices; i++)
        if (o->services[i].port == port) {
            k = (enum svc_kind)o->services[i].kind;
            *bytes = o->services[i].bytes;
            explicit = true;
        }
    if (!explicit) {
        if (port == 16994 || port == 16995)
            k = SVC_SOL;
        else if (port == 5900)
            k = SVC_ECHO;
    }
    if (k == SVC_HTTP && !o->http_digest)
        k = SVC_HTTP_OPEN;
    return k;
}

enum {
    O_CONNECT = 256,
    O_COUNT,
    O_RATE,
    O_INFLIGHT,
    O_WORKERS,
    O_SOURCES,
    O_CA,
    O_CERT,
    O_KEY,
    O_TLS_MIN,
    O_TLS_MAX,
    O_CIPHERS,
    O_SNI,
    O_RESUME,
    O_PLAIN,
    O_UUID_BASE,
    O_USER,
    O_PASSWORD,
    O_AUTH_NONE,
    O_PASSWORD_FILE,
    O_HOSTNAME_PREFIX,
    O_PORTS,
    O_TRIGGER,
    O_PIPELINE,
    O_KEEPALIVE,
    O_DURATION,
    O_TIMEOUT,
    O_RECONNECT,
    O_RECONNECT_DELAY,
    O_MODE,
    O_RELAY,
    O_WINDOW,
    O_MAX_PAYLOAD,
    O_MAX_CHANNELS,
    O_PROGRESS,
    O_QUIET,
    O_HELP,
    O_SERVICE,
    O_HTTP_AUTH,
    O_AMT_USER,
    O_AMT_PASSWORD,
    O_AMT_PASSWORD_FILE,
};

static const struct option longopts[] = {
    {"connect", required_argument, NULL, O_CONNECT},
    {"count", required_argument, NULL, O_COUNT},
    {"rate", required_argument, NULL, O_RATE},
    {"inflight", required_argument, NULL, O_INFLIGHT},
    {"workers", required_argument, NULL, O_WORKERS},
    {"sources", required_argument, NULL, O_SOURCES},
    {"ca", required_argument, NULL, O_CA},
    {"cert", required_argument, NULL, O_CERT},
    {"key", required_argument, NULL, O_KEY},
    {"tls-min", required_argument, NULL, O_TLS_MIN},
    {"tls-max", required_argument, NULL, O_TLS_MAX},
    {"ciphers", required_argument, NULL, O_CIPHERS},
    {"sni", required_argument, NULL, O_SNI},
    {"resume", no_argument, NULL, O_RESUME},
    {"plain", no_argument, NULL, O_PLAIN},
    {"uuid-base", required_argument, NULL, O_UUID_BASE},
    {"user", required_argument, NULL, O_USER},
    {"password", required_argument, NULL, O_PASSWORD},
    {"password-file", required_argument, NULL, O_PASSWORD_FILE},
    {"auth-none", no_argument, NULL, O_AUTH_NONE},
    {"hostname-prefix", required_argument, NULL, O_HOSTNAME_PREFIX},
    {"ports", required_argument, NULL, O_PORTS},
    {"trigger", required_argument, NULL, O_TRIGGER},
    {"pipeline", no_argument, NULL, O_PIPELINE},
    {"keepalive", required_argument, NULL, O_KEEPALIVE},
    {"duration", required_argument, NULL, O_DURATION},
    {"timeout", required_argument, NULL, O_TIMEOUT},
    {"reconnect", no_argument, NULL, O_RECONNECT},
    {"reconnect-delay", required_argument, NULL, O_RECONNECT_DELAY},
    {"mode", required_argument, NULL, O_MODE},
    {"relay", required_argument, NULL, O_RELAY},
    {"window", required_argument, NULL, O_WINDOW},
    {"max-payload", required_argument, NULL, O_MAX_PAYLOAD},
    {"max-channels", required_argument, NULL, O_MAX_CHANNELS},
    {"progress", no_argument, NULL, O_PROGRESS},
    {"quiet", no_argument, NULL, O_QUIET},
    {"help", no_argument, NULL, O_HELP},
    {"service", required_argument, NULL, O_SERVICE},
    {"http-auth", required_argument, NULL, O_HTTP_AUTH},
    {"amt-user", required_argument, NULL, O_AMT_USER},
    {"amt-password", required_argument, NULL, O_AMT_PASSWORD},
    {"amt-password-file", required_argument, NULL, O_AMT_PASSWORD_FILE},
    {NULL, 0, NULL, 0},
};

static void defaults(struct sim_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->count = 1;
    o->inflight = 256;
    o->workers = 1;
    strcpy(o->user, "admin");
    o->hostname_prefix = "amt-";
    static const uint32_t ports[] = {16992, 16993, 623, 664, 16994, 16995};
    memcpy(o->ports, ports, sizeof(ports));
    o->nports = 6;
    o->trigger = 4; /* APF_TRIGGER_PERIODIC: what a CIRA policy fires */
    o->keepalive_s = 30;
    o->timeout_s = 120;
    o->window = 32768;
    o->reconnect_delay_ms = 500;
    o->max_payload = 16384;
    o->max_channels = 8;
    guid_parse("12345678-0000-4000-8000-000000000000", GUID_STRLEN, &o->uuid_base);
    o->http_digest = true;
    strcpy(o->amt_user, "admin");
    strcpy(o->amt_password, "P@ssw0rd");
    if (getrandom(o->digest_key, sizeof(o->digest_key), 0) != (ssize_t)sizeof(o->digest_key))
        memset(o->digest_key, 0x5a, sizeof(o->digest_key)); /* nonces still work, just guessable */
}

/* Checks that need several options together. */
static int check(struct sim_opts *o, bool have_connect, char *err, size_t errlen)
{
    if (!have_connect)
        return fail(err, errlen, "--connect HOST:PORT is required");
    bool logs_in = o->mode == MODE_NORMAL || o->mode == MODE_BAD_PASSWORD || o->mode == MODE_SILENT;
    if (logs_in && !o->has_password && !o->auth_none)
        return fail(err, errlen, "mode %s needs --password or --password-file", mode_name(o->mode));
    if (o->auth_none && !o->cert)
        return fail(err, errlen, "--auth-none needs --cert and --key (mutual TLS)");
    if ((o->cert != NULL) != (o->key != NULL))
        return fail(err, errlen, "--cert and --key go together");
    if (o->plain && (o->ca || o->cert || o->ciphers || o->tls_min || o->tls_max || o->resume))
        return fail(err, errlen, "--plain excludes the TLS options");
    if (o->plain && o->mode == MODE_NO_TLS_GARBAGE)
        return fail(err, errlen, "--plain with --mode no-tls-garbage: use --mode garbage");
    uint16_t hi = o->tls_max ? o->tls_max : TLS_V1_3;
    if (!o->tls_min && hi < TLS_V1_3)
        o->tls_min = hi; /* --tls-max 1.1 alone means TLS 1.1 exactly */
    uint16_t lo = o->tls_min ? o->tls_min : TLS_V1_2;
    if (lo > hi)
        return fail(err, errlen, "--tls-min is above --tls-max");
    if (hi != TLS_V1_3 && lo != hi)
        return fail(err, errlen,
                    "--tls-min %s with --tls-max %s: below 1.3 the maximum is the only "
                    "version (wolfSSL cannot cap a range)",
                    tls_version_name(lo), tls_version_name(hi));
    if (o->nsources && o->connect.ss.ss_family != AF_INET)
        return fail(err, errlen, "--sources are IPv4: --connect must be a 127.x address");
    if (o->relay && o->relay_addr.ss.ss_family != AF_INET && o->relay_addr.ss.ss_family != AF_INET6)
        return fail(err, errlen, "--relay: bad address");
    if (o->reconnect && o->mode != MODE_NORMAL)
        return fail(err, errlen, "--reconnect applies to mode normal only");
    if (o->inflight == 0)
        o->inflight = 1;
    return 0;
}

int opts_parse(struct sim_opts *o, int argc, char **argv, char *err, size_t errlen)
{
    defaults(o);
    bool have_connect = false;
    int c, r = 0;
    optind = 0; /* GNU: re-initialise, so tests can parse several command lines */
    opterr = 0;
    while (r == 0 && (c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
        const char *a = optarg;
        switch (c) {
        case O_CONNECT:
            r = opts_parse_hostport(a, &o->connect, err, errlen);
            have_connect = r == 0;
            break;
        case O_COUNT:
            r = num("--count", a, 1, OPTS_MAX_COUNT, &o->count, err, errlen);
            break;
        case O_RATE: {
            char *end;
            errno = 0;
            o->rate = strtod(a, &end);
            if (errno || end == a || *end || !(o->rate >= 0) || o->rate > 1e6)
                r = fail(err, errlen, "--rate: '%s' is not a number in 0..1000000", a);
            break;
        }
        case O_INFLIGHT:
            r = num("--inflight", a, 1, 1000000, &o->inflight, err, errlen);
            break;
        case O_WORKERS:
            r = num("--workers", a, 1, OPTS_MAX_WORKERS, &o->workers, err, errlen);
            break;
        case O_SOURCES:
            r = opts_parse_sources(o, a, err, errlen);
            break;
        case O_CA:
            o->ca = a;
            break;
        case O_CERT:
            o->cert = a;
            break;
        case O_KEY:
            o->key = a;
            break;
        case O_TLS_MIN:
        case O_TLS_MAX: {
            uint16_t v = opts_parse_tls_version(a);
            if (!v)
                r = fail(err, errlen, "%s: '%s' is not 1.0, 1.1, 1.2 or 1.3",
                         c == O_TLS_MIN ? "--tls-min" : "--tls-max", a);
            *(c == O_TLS_MIN ? &o->tls_min : &o->tls_max) = v;
            break;
        }
        case O_CIPHERS:
            o->ciphers = a;
            break;
        case O_SNI:
            o->sni = a;
            break;
        case O_RESUME:
            o->resume = true;
            break;
        case O_PLAIN:
            o->plain = true;
            break;
        case O_UUID_BASE:
            if (guid_parse(a, strlen(a), &o->uuid_base) < 0)
                r = fail(err, errlen,
                         "--uuid-base: '%s' is not a canonical UUID "
                         "(xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)",
                         a);
            break;
        case O_USER:
            r = copy_cred("--user", a, o->user, err, errlen);
            if (r == 0 && !o->user[0])
                r = fail(err, errlen, "--user: empty");
            break;
        case O_PASSWORD:
            r = copy_cred("--password", a, o->password, err, errlen);
            o->has_password = true;
            break;
        case O_AUTH_NONE:
            o->auth_none = true;
            break;
        case O_PASSWORD_FILE:
            r = read_password_file(o, a, err, errlen);
            break;
        case O_HOSTNAME_PREFIX:
            if (strlen(a) > 200)
                r = fail(err, errlen, "--hostname-prefix: longer than 200 bytes");
            o->hostname_prefix = a;
            break;
        case O_PORTS:
            r = opts_parse_ports(o, a, err, errlen);
            break;
        case O_TRIGGER:
            r = num("--trigger", a, 0, UINT32_MAX, &o->trigger, err, errlen);
            break;
        case O_PIPELINE:
            o->pipeline = true;
            break;
        case O_KEEPALIVE:
            r = num("--keepalive", a, 1, 86400, &o->keepalive_s, err, errlen);
            break;
        case O_DURATION:
            r = num("--duration", a, 0, 365u * 86400, &o->duration_s, err, errlen);
            break;
        case O_TIMEOUT:
            r = num("--timeout", a, 1, 86400, &o->timeout_s, err, errlen);
            break;
        case O_RECONNECT:
            o->reconnect = true;
            break;
        case O_MODE: {
            int m = -1;
            for (int i = 0; i < MODE__COUNT; i++)
                if (strcmp(a, mode_names[i]) == 0)
                    m = i;
            if (m < 0)
                r = fail(err, errlen,
                         "--mode: '%s' is not one of normal, bad-password, silent, "
                         "garbage, overlong, stall-handshake, no-tls-garbage",
                         a);
            else
                o->mode = (enum sim_mode)m;
            break;
        }
        case O_RELAY:
            r = opts_parse_hostport(a, &o->relay_addr, err, errlen);
            o->relay = r == 0;
            break;
        case O_RECONNECT_DELAY:
            r = num("--reconnect-delay", a, 1, 60000, &o->reconnect_delay_ms, err, errlen);
            break;
        case O_WINDOW:
            r = num("--window", a, 1024, 16u << 20, &o->window, err, errlen);
            break;
        case O_MAX_PAYLOAD:
            r = num("--max-payload", a, 1, 65536, &o->max_payload, err, errlen);
            break;
        case O_MAX_CHANNELS:
            r = num("--max-channels", a, 1, 64, &o->max_channels, err, errlen);
            break;
        case O_PROGRESS:
            o->progress = true;
            break;
        case O_QUIET:
            o->quiet = true;
            break;
        case O_SERVICE:
            r = opts_parse_service(o, a, err, errlen);
            break;
        case O_HTTP_AUTH:
            if (strcmp(a, "digest") == 0)
                o->http_digest = true;
            else if (strcmp(a, "none") == 0)
                o->http_digest = false;
            else
                r = fail(err, errlen, "--http-auth: '%s' is not none or digest", a);
            break;
        case O_AMT_USER:
            r = copy_cred("--amt-user", a, o->amt_user, err, errlen);
            if (r == 0 && !o->amt_user[0])
                r = fail(err, errlen, "--amt-user: empty");
            break;
        case O_AMT_PASSWORD:
            r = copy_cred("--amt-password", a, o->amt_password, err, errlen);
            break;
        case O_AMT_PASSWORD_FILE:
            r = read_first_line("--amt-password-file", a, o->amt_password, err, errlen);
            break;
        case O_HELP:
            return OPTS_HELP;
        case ':':
            r = fail(err, errlen, "%s needs a value", argv[optind - 1]);
            break;
        default:
            r = fail(err, errlen, "unknown option '%s' (see --help)", argv[optind - 1]);
            break;
        }
    }
    if (r == 0 && optind < argc)
        r = fail(err, errlen, "unexpected argument '%s'", argv[optind]);
    if (r == 0)
        r = check(o, have_connect, err, errlen);
    return r == 0 ? OPTS_OK : OPTS_ERR;
}

void opts_free(struct sim_opts *o)
{
    free(o->sources);
    o->sources = NULL;
    o->nsources = 0;
}
