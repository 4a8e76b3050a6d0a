/* Table-driven INI config. inih does the lexing; a counting line reader gives us line numbers
 * (Debian's libinih is built without INI_HANDLER_LINENO). */
#include "config.h"
#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

enum key_type {
    K_STRING,
    K_PATH,
    K_BOOL,
    K_UINT,
    K_DURATION,
    K_SIZE,
    K_LISTEN,
    K_LOGLEVEL,
    K_PROFILE,
    K_LOGFORMAT,
    K_SUFFIXES
};

struct key {
    const char *section;
    const char *name;
    enum key_type type;
    size_t off;        /* offset of the field in struct config */
    size_t aux;        /* K_STRING/K_PATH: capacity; K_LISTEN: offset of the count */
    uint64_t min, max; /* numeric bounds, inclusive */
};

#define F(field)   offsetof(struct config, field)
#define CAP(field) sizeof(((struct config *)0)->field)
static const struct key keys[] = {
    {"mpsd", "name", K_STRING, F(name), CAP(name), 0, 0},
    {"mpsd", "workers", K_UINT, F(workers), 0, 0, 256},
    {"mpsd", "lock_file", K_PATH, F(lock_file), CAP(lock_file), 0, 0},
    {"mpsd", "log_level", K_LOGLEVEL, F(log_level), 0, 0, 0},
    {"mpsd", "log_format", K_LOGFORMAT, F(log_format), 0, 0, 0},
    {"mpsd", "user", K_PATH, F(run_as), CAP(run_as), 0, 0},
    {"mpsd", "bind_timeout", K_DURATION, F(bind_timeout_ms), 0, 0, 3600000},
    {"cira", "listen", K_LISTEN, F(listen), F(n_listen), 0, 0},
    {"cira", "plain_listen", K_LISTEN, F(plain_listen), F(n_plain_listen), 0, 0},
    {"cira", "tls_profile", K_PROFILE, F(tls_profile), 0, 0, 0},
    {"cira", "cert", K_PATH, F(cert), CAP(cert), 0, 0},
    {"cira", "key", K_PATH, F(key), CAP(key), 0, 0},
    {"cira", "client_ca", K_PATH, F(client_ca), CAP(client_ca), 0, 0},
    {"cira", "keepalive_interval", K_DURATION, F(keepalive_interval_ms), 0, 1000, 3600000},
    {"cira", "keepalive_timeout", K_DURATION, F(keepalive_timeout_ms), 0, 2000, 86400000},
    {"cira", "handshake_timeout", K_DURATION, F(handshake_timeout_ms), 0, 100, 600000},
    {"cira", "login_timeout", K_DURATION, F(login_timeout_ms), 0, 100, 600000},
    {"cira", "drain_timeout", K_DURATION, F(drain_timeout_ms), 0, 0, 60000},
    {"cira", "max_tunnels", K_UINT, F(max_tunnels), 0, 1, 10000000},
    {"cira", "max_handshakes", K_UINT, F(max_handshakes), 0, 1, 1000000},
    {"cira", "max_handshakes_per_source", K_UINT, F(max_handshakes_per_source), 0, 1, 1000000},
    {"cira", "max_handshakes_per_prefix", K_UINT, F(max_handshakes_per_prefix), 0, 1, 1000000},
    {"cira", "hello_timeout", K_DURATION, F(hello_timeout_ms), 0, 100, 600000},
    {"cira", "max_buffered", K_SIZE, F(max_buffered), 0, 16384, 1u << 30},
    {"cira", "ticket_key_file", K_PATH, F(ticket_key_file), CAP(ticket_key_file), 0, 0},
    {"cira", "ticket_rotation", K_DURATION, F(ticket_rotation_ms), 0, 0, 7 * 86400000u},
    {"devices", "credentials", K_PATH, F(credentials), CAP(credentials), 0, 0},
    {"devices", "auto_enroll", K_BOOL, F(auto_enroll), 0, 0, 0},
    {"devices", "group_auth", K_BOOL, F(group_auth), 0, 0, 0},
    {"devices", "login_throttle", K_BOOL, F(login_throttle), 0, 0, 0},
    {"devices", "login_fail_burst", K_UINT, F(login_fail_burst), 0, 1, 100000},
    {"devices", "login_fail_refill", K_DURATION, F(login_fail_refill_ms), 0, 10, 3600000},
    {"devices", "login_unverified_queue", K_UINT, F(login_unverified_queue), 0, 1, 65536},
    {"console", "socks_listen", K_LISTEN, F(socks_listen), F(n_socks_listen), 0, 0},
    {"console", "http_listen", K_LISTEN, F(http_listen), F(n_http_listen), 0, 0},
    {"console", "users", K_PATH, F(users), CAP(users), 0, 0},
    {"console", "allow_anonymous_loopback", K_BOOL, F(allow_anonymous_loopback), 0, 0, 0},
    {"console", "allow_socks4", K_BOOL, F(allow_socks4), 0, 0, 0},
    {"console", "name_suffix", K_SUFFIXES, F(name_suffix), F(n_name_suffix), 0, 0},
    {"console", "max_consoles", K_UINT, F(max_consoles), 0, 1, 10000000},
    {"console", "max_consoles_per_device", K_UINT, F(max_consoles_per_device), 0, 1, 1024},
    {"console", "request_timeout", K_DURATION, F(request_timeout_ms), 0, 100, 600000},
    {"console", "open_timeout", K_DURATION, F(open_timeout_ms), 0, 100, 600000},
    {"console", "idle_timeout", K_DURATION, F(idle_timeout_ms), 0, 1000, 86400000},
    {"console", "channel_window", K_SIZE, F(channel_window), 0, 4096, 16u << 20},
    {"console", "max_head", K_SIZE, F(max_head), 0, 1024, 65536},
    {"console", "device_open_allow", K_LISTEN, F(device_open_allow), F(n_device_open_allow), 0, 0},
    {"admin", "listen", K_LISTEN, F(admin_listen), F(n_admin_listen), 0, 0},
    {"admin", "cert", K_PATH, F(admin_cert), CAP(admin_cert), 0, 0},
    {"admin", "key", K_PATH, F(admin_key), CAP(admin_key), 0, 0},
    {"admin", "token_hash", K_PATH, F(admin_token_hash), CAP(admin_token_hash), 0, 0},
    {"admin", "metrics_public", K_BOOL, F(metrics_public), 0, 0, 0},
    {"admin", "max_connections", K_UINT, F(admin_max_connections), 0, 1, 4096},
    {"admin", "request_timeout", K_DURATION, F(admin_request_timeout_ms), 0, 100, 600000},
    {"admin", "ready_deadline", K_DURATION, F(admin_ready_deadline_ms), 0, 10, 60000},
    {"ring", "recv_buffer_size", K_SIZE, F(recv_buffer_size), 0, 1024, 1u << 20},
    {"ring", "recv_buffer_count", K_UINT, F(recv_buffer_count), 0, 8, 32768},
    {"ring", "max_conns_per_worker", K_UINT, F(max_conns_per_worker), 0, 16, 1000000},
};
#undef F
#undef CAP

void config_defaults(struct config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->name, sizeof(cfg->name), "localhost");
    snprintf(cfg->lock_file, sizeof(cfg->lock_file), "/run/mpsd.lock");
    cfg->log_level = LOG_INFO;
    snprintf(cfg->listen[0].host, sizeof(cfg->listen[0].host), "127.0.0.1");
    cfg->listen[0].port = 4433;
    cfg->n_listen = 1;
    cfg->tls_profile = CONFIG_TLS_MODERN;
    cfg->keepalive_interval_ms = 30000;
    cfg->keepalive_timeout_ms = 90000;
    cfg->handshake_timeout_ms = 10000;
    cfg->login_timeout_ms = 30000;
    cfg->drain_timeout_ms = 5000;
    cfg->max_tunnels = 100000;
    cfg->max_handshakes = 1024;
    cfg->max_handshakes_per_source = 64;
    cfg->max_handshakes_per_prefix = 256;
    cfg->hello_timeout_ms = 5000;
    cfg->max_buffered = 256 * 1024;
    cfg->ticket_rotation_ms = 3600000;
    cfg->login_throttle = true;
    cfg->login_fail_burst = 20;
    cfg->login_fail_refill_ms = 3000;
    cfg->login_unverified_queue = 4096;
    cfg->max_consoles = 10000;
    cfg->max_consoles_per_device = 16;
    cfg->request_timeout_ms = 10000;
    cfg->open_timeout_ms = 10000;
    cfg->idle_timeout_ms = 900000;
    cfg->channel_window = 512 * 1024;
    cfg->max_head = 8192;
    cfg->metrics_public = true;
    cfg->admin_max_connections = 64;
    cfg->admin_request_timeout_ms = 10000;
    cfg->admin_ready_deadline_ms = 1000;
    cfg->recv_buffer_size = 16 * 1024;
    cfg->recv_buffer_count = 512;
    cfg->max_conns_per_worker = 16384;
}

/* --- value parsers ------------------------------------------------------------------------- */

static const char *parse_u64(const char *s, uint64_t *v, const char **end)
{
    if (*s < '0' || *s > '9')
        return "expected a number";
    errno = 0;
    char *e;
    unsigned long long x = strtoull(s, &e, 10);
    if (errno == ERANGE)
        return "number out of range";
    *v = x;
    *end = e;
    return NULL;
}

const char *config_parse_duration_ms(const char *s, uint32_t *out)
{
    uint64_t v;
    const char *unit, *err = parse_u64(s, &v, &unit);
    if (err)
        return "expected a duration such as 500ms, 30s, 5m or 1h";
    uint64_t mul;
    if (*unit == 0 || strcmp(unit, "s") == 0)
        mul = 1000;
    else if (strcmp(unit, "ms") == 0)
        mul = 1;
    else if (strcmp(unit, "m") == 0)
        mul = 60000;
    else if (strcmp(unit, "h") == 0)
        mul = 3600000;
    else
        return "unknown duration unit (use ms, s, m or h)";
    if (v > UINT32_MAX / mul)
        return "duration too long";
    *out = (uint32_t)(v * mul);
    return NULL;
}

const char *config_parse_size(const char *s, uint32_t *out)
{
    uint64_t v;
    const char *unit, *err = parse_u64(s, &v, &unit);
    if (err)
        return "expected a size such as 4096, 64KiB or 1MiB";
    uint64_t mul;
    if (*unit == 0)
        mul = 1;
    else if (strcasecmp(unit, "KiB") == 0 || strcasecmp(unit, "K") == 0)
        mul = 1024;
    else if (strcasecmp(unit, "MiB") == 0 || strcasecmp(unit, "M") == 0)
        mul = 1024 * 1024;
    else if (strcasecmp(unit, "GiB") == 0 || strcasecmp(unit, "G") == 0)
        mul = 1024 * 1024 * 1024;
    else
        return "unknown size unit (use KiB, MiB or GiB)";
    if (v > UINT32_MAX / mul)
        return "size too large";
    *out = (uint32_t)(v * mul);
    return NULL;
}

const char *config_parse_listen(const char *s, struct config_listen *out)
{
    char host[64];
    const char *port;
    if (*s == '[') {
        const char *rb = strchr(s, ']');
        if (!rb || rb[1] != ':')
            return "expected [IPv6]:port";
        size_t hl = (size_t)(rb - s - 1);
        if (hl == 0 || hl >= sizeof(host))
            return "bad IPv6 address";
        memcpy(host, s + 1, hl);
        host[hl] = 0;
        port = rb + 2;
        struct in6_addr a6;
        if (inet_pton(AF_INET6, host, &a6) != 1)
            return "not a numeric IPv6 address";
    } else {
        const char *colon = strrchr(s, ':');
        if (!colon)
            return "expected address:port (e.g. 127.0.0.1:4433 or [::1]:4433)";
        size_t hl = (size_t)(colon - s);
        if (hl == 0 || hl >= sizeof(host))
            return "bad IPv4 address";
        memcpy(host, s, hl);
        host[hl] = 0;
        port = colon + 1;
        struct in_addr a4;
        if (inet_pton(AF_INET, host, &a4) != 1)
            return "not a numeric IPv4 address (IPv6 goes in brackets)";
    }
    uint64_t p;
    const char *end;
    if (parse_u64(port, &p, &end) || *end || p == 0 || p > 65535)
        return "port must be 1..65535";
    snprintf(out->host, sizeof(out->host), "%s", host);
    out->port = (uint16_t)p;
    return NULL;
}

void config_listen_format(const struct config_listen *l, char *buf, size_t cap)
{
    if (strchr(l->host, ':'))
        snprintf(buf, cap, "[%s]:%u", l->host, l->port);
    else
        snprintf(buf, cap, "%s:%u", l->host, l->port);
}

/* --- errors -------------------------------------------------------------------------------- */

static void add_error(struct config_errors *errs, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void add_error(struct config_errors *errs, unsigned line, const char *fmt, ...)
{
    if (errs->n == errs->cap) {
        size_t cap = errs->cap ? errs->cap * 2 : 8;
        struct config_error *v = realloc(errs->v, cap * sizeof(*v));
        if (!v)
            return;
        errs->v = v;
        errs->cap = cap;
    }
    struct config_error *e = &errs->v[errs->n++];
    e->line = line;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
}

void config_errors_print(const struct config_errors *errs, const char *path, FILE *out)
{
    for (size_t i = 0; i < errs->n; i++) {
        if (errs->v[i].line)
            fprintf(out, "%s:%u: %s\n", path, errs->v[i].line, errs->v[i].msg);
        else
            fprintf(out, "%s: %s\n", path, errs->v[i].msg);
    }
}

void config_errors_free(struct config_errors *errs)
{
    free(errs->v);
    memset(errs, 0, sizeof(*errs));
}

/* --- parsing ------------------------------------------------------------------------------- */

struct parse_state {
    FILE *f;
    unsigned line; /* lines handed to inih so far = the line being handled */
    struct config *cfg;
    struct config_errors *errs;
    unsigned
        seen[sizeof(keys) / sizeof(keys[0])]; /* line where each key was set, for cross-checks */
};

/* Debian's inih reads lines into a fixed buffer (INI_MAX_LINE, 200) and would parse the rest of a
 * longer line as a line of its own: refuse such a line here, with its number, and give inih a
 * blank line instead so that the numbering stays right. */
static char *counting_reader(char *buf, int size, void *stream)
{
    struct parse_state *ps = stream;
    char *r = fgets(buf, size, ps->f);
    if (!r)
        return NULL;
    ps->line++;
    size_t n = strlen(buf);
    if (size > 2 && n == (size_t)size - 1 && buf[n - 1] != '\n') {
        int c;
        while ((c = fgetc(ps->f)) != EOF && c != '\n')
            ;
        add_error(ps->errs, ps->line, "line longer than %d characters", size - 2);
        buf[0] = '\n';
        buf[1] = 0;
    }
    return r;
}

/* "mps.example.com, .lab.example.com": each without its leading dot, lower-cased. */
static const char *parse_suffixes(const char *value, char (*list)[128], unsigned *count)
{
    char buf[512];
    *count = 0;
    if (strlen(value) >= sizeof(buf))
        return "value too long";
    memcpy(buf, value, strlen(value) + 1);
    for (char *save = NULL, *tok = strtok_r(buf, ", \t", &save); tok;
         tok = strtok_r(NULL, ", \t", &save)) {
        while (*tok == '.')
            tok++;
        size_t n = strlen(tok);
        if (n == 0 || n >= 128)
            return "a suffix must be 1..127 characters";
        if (*count >= CONFIG_MAX_SUFFIX)
            return "too many suffixes (at most 4)";
        for (size_t i = 0; i < n; i++) {
            char c = tok[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '.'))
                return "a suffix is a DNS name (letters, digits, '-' and '.')";
            list[*count][i] = (char)(c >= 'A' && c <= 'Z' ? c | 0x20 : c);
        }
        list[*count][n] = 0;
        (*count)++;
    }
    return NULL;
}

static const char *set_value(struct parse_state *ps, const struct key *k, const char *value)
{
    char *field = (char *)ps->cfg + k->off;
    switch (k->type) {
    case K_STRING:
    case K_PATH:
        if (strlen(value) >= k->aux)
            return "value too long";
        if (k->type == K_STRING && !*value)
            return "must not be empty";
        memcpy(field, value, strlen(value) + 1);
        return NULL;
    case K_BOOL:
        if (!strcmp(value, "true") || !strcmp(value, "yes") || !strcmp(value, "on") ||
            !strcmp(value, "1"))
            *(bool *)field = true;
        else if (!strcmp(value, "false") || !strcmp(value, "no") || !strcmp(value, "off") ||
                 !strcmp(value, "0"))
            *(bool *)field = false;
        else
            return "expected true or false";
        return NULL;
    case K_UINT:
    case K_DURATION:
    case K_SIZE: {
        uint32_t v = 0;
        const char *err;
        if (k->type == K_UINT) {
            uint64_t u = 0;
            const char *end;
            err = parse_u64(value, &u, &end);
            if (!err && *end)
                err = "expected a whole number";
            if (!err && u > UINT32_MAX)
                err = "number out of range";
            v = (uint32_t)u;
        } else if (k->type == K_DURATION) {
            err = config_parse_duration_ms(value, &v);
        } else {
            err = config_parse_size(value, &v);
        }
        if (err)
            return err;
        if (v < k->min || v > k->max) {
            static _Thread_local char range[128];
            if (k->type == K_DURATION)
                snprintf(range, sizeof(range), "must be between %llums and %llums",
                         (unsigned long long)k->min, (unsigned long long)k->max);
            else
                snprintf(range, sizeof(range), "must be between %llu and %llu",
                         (unsigned long long)k->min, (unsigned long long)k->max);
            return range;
        }
        *(uint32_t *)field = v;
        return NULL;
    }
    case K_LISTEN: {
        struct config_listen *list = (struct config_listen *)field;
        unsigned *count = (unsigned *)((char *)ps->cfg + k->aux);
        if (!ps->seen[k - keys]) /* the first line of a key replaces the default list */
            *count = 0;
        if (!strcmp(value, "off") || !*value)
            return NULL;
        char buf[256];
        snprintf(buf, sizeof(buf), "%s", value);
        for (char *save = NULL, *tok = strtok_r(buf, ", \t", &save); tok;
             tok = strtok_r(NULL, ", \t", &save)) {
            if (*count >= CONFIG_MAX_LISTEN)
                return "too many addresses (at most 8)";
            const char *err = config_parse_listen(tok, &list[*count]);
            if (err)
                return err;
            (*count)++;
        }
        return NULL;
    }
    case K_LOGLEVEL: {
        int lv = log_level_parse(value);
        if (lv < 0)
            return "expected error, warn, info or debug";
        *(int *)field = lv;
        return NULL;
    }
    case K_LOGFORMAT:
        if (!strcmp(value, "logfmt"))
            *(int *)field = CONFIG_LOG_LOGFMT;
        else if (!strcmp(value, "json"))
            *(int *)field = CONFIG_LOG_JSON;
        else
            return "expected logfmt or json";
        return NULL;
    case K_SUFFIXES:
        return parse_suffixes(value, (char(*)[128])field, (unsigned *)((char *)ps->cfg + k->aux));
    case K_PROFILE:
        if (!strcmp(value, "modern"))
            *(int *)field = CONFIG_TLS_MODERN;
        else if (!strcmp(value, "legacy"))
            *(int *)field = CONFIG_TLS_LEGACY;
        else
            return "expected modern or legacy";
        return NULL;
    }
    return "internal: unknown key type";
}

/* inih strips only ';' comments inside a line; '#' after whitespace is a comment here too, as at
 * the start of a line. */
static const char *strip_comment(const char *value, char *buf, size_t cap)
{
    const char *hash = value;
    while ((hash = strchr(hash, '#')) != NULL && hash != value && hash[-1] != ' ' &&
           hash[-1] != '\t')
        hash++;
    if (!hash)
        return value;
    size_t n = (size_t)(hash - value);
    while (n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t'))
        n--;
    if (n >= cap)
        n = cap - 1;
    memcpy(buf, value, n);
    buf[n] = 0;
    return buf;
}

static int on_entry(void *user, const char *section, const char *name, const char *raw)
{
    struct parse_state *ps = user;
    if (!name) /* a section header alone (INI_CALL_HANDLER_ON_NEW_SECTION builds) */
        return 1;
    char vbuf[512];
    const char *value = strip_comment(raw, vbuf, sizeof(vbuf));
    bool known_section = false;
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (strcmp(keys[i].section, section))
            continue;
        known_section = true;
        if (strcmp(keys[i].name, name))
            continue;
        if (ps->seen[i] && keys[i].type != K_LISTEN)
            add_error(ps->errs, ps->line, "'%s' in [%s] is set twice (first at line %u)", name,
                      section, ps->seen[i]);
        const char *err = set_value(ps, &keys[i], value);
        if (err)
            add_error(ps->errs, ps->line, "%s: bad value '%s': %s", name, value, err);
        ps->seen[i] = ps->line;
        return 1;
    }
    if (!*section)
        add_error(ps->errs, ps->line, "'%s' is outside any section", name);
    else if (!known_section)
        add_error(ps->errs, ps->line, "unknown section [%s]", section);
    else
        add_error(ps->errs, ps->line, "unknown key '%s' in section [%s]", name, section);
    return 1; /* keep going: report every error in one run */
}

/* name is "key" (the first section that has it) or "section.key". */
static unsigned seen_line(const struct parse_state *ps, const char *name)
{
    const char *dot = strchr(name, '.');
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (dot ? (strncmp(keys[i].section, name, (size_t)(dot - name)) == 0 &&
                   keys[i].section[dot - name] == 0 && !strcmp(keys[i].name, dot + 1))
                : !strcmp(keys[i].name, name))
            return ps->seen[i];
    }
    return 0;
}

static void check_readable(struct parse_state *ps, const char *key, const char *path, bool required)
{
    if (!*path) {
        if (required)
            add_error(ps->errs, 0, "'%s' is required", key);
        return;
    }
    if (access(path, R_OK) != 0)
        add_error(ps->errs, seen_line(ps, key), "%s: cannot read '%s': %s", key, path,
                  strerror(errno));
}

/* Checks that need several keys; each error points at the line of the key that must change. */
static void cross_check(struct parse_state *ps)
{
    struct config *c = ps->cfg;
    if (c->keepalive_timeout_ms < 2 * (uint64_t)c->keepalive_interval_ms)
        add_error(ps->errs, seen_line(ps, "keepalive_timeout"),
                  "keepalive_timeout (%ums) must be at least twice keepalive_interval (%ums): one "
                  "lost keep-alive must not drop a tunnel",
                  c->keepalive_timeout_ms, c->keepalive_interval_ms);
    if (c->n_listen == 0 && c->n_plain_listen == 0)
        add_error(ps->errs, seen_line(ps, "listen"), "no listener: set listen or plain_listen");
    if (c->n_listen > 0) {
        check_readable(ps, "cert", c->cert, true);
        check_readable(ps, "key", c->key, true);
    }
    check_readable(ps, "client_ca", c->client_ca, false);
    check_readable(ps, "credentials", c->credentials, !c->auto_enroll);
    if (c->n_socks_listen + c->n_http_listen > 0) {
        if (!c->users[0] && !c->allow_anonymous_loopback)
            add_error(ps->errs, seen_line(ps, c->n_socks_listen ? "socks_listen" : "http_listen"),
                      "console listeners need a users file ('users' in [console]): consoles are "
                      "denied by default");
        check_readable(ps, "users", c->users, false);
    }
    if (c->channel_window < c->max_head)
        add_error(ps->errs, seen_line(ps, "channel_window"),
                  "channel_window (%u) must be at least max_head (%u): a device's HTTP response "
                  "head has to fit in the window it may send",
                  c->channel_window, c->max_head);
    check_readable(ps, "ticket_key_file", c->ticket_key_file, false);
    if (!c->admin_cert[0] != !c->admin_key[0])
        add_error(ps->errs, seen_line(ps, c->admin_cert[0] ? "admin.cert" : "admin.key"),
                  "[admin] cert and key go together (both set: HTTPS; neither: plain HTTP)");
    if (c->admin_cert[0]) {
        check_readable(ps, "admin.cert", c->admin_cert, false);
        check_readable(ps, "admin.key", c->admin_key, false);
    }
    if (c->admin_token_hash[0] && strncmp(c->admin_token_hash, "$argon2id$", 10) != 0)
        add_error(ps->errs, seen_line(ps, "token_hash"),
                  "token_hash must be an argon2id hash (mpsd-passwd --token makes one), never "
                  "the token itself");
    if (c->recv_buffer_count & (c->recv_buffer_count - 1))
        add_error(ps->errs, seen_line(ps, "recv_buffer_count"),
                  "recv_buffer_count (%u) must be a power of two (io_uring buffer rings)",
                  c->recv_buffer_count);
}

int config_load(struct config *cfg, const char *path, struct config_errors *errs)
{
    struct parse_state ps = {.cfg = cfg, .errs = errs};
    ps.f = fopen(path, "r");
    if (!ps.f) {
        add_error(errs, 0, "cannot open: %s", strerror(errno));
        return -1;
    }
    int rc = ini_parse_stream(counting_reader, &ps, on_entry, &ps);
    fclose(ps.f);
    if (rc > 0)
        add_error(errs, (unsigned)rc, "syntax error (expected [section] or key = value)");
    else if (rc < 0)
        add_error(errs, 0, "cannot parse (out of memory)");
    cross_check(&ps);
    return (int)errs->n;
}
