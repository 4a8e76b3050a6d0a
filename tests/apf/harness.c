#include "harness.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef APF_VECTORS
#error "APF_VECTORS must name tests/vectors/apf.txt"
#endif

size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = 0;
    int hi = -1;
    for (; *hex; hex++) {
        int v;
        char c = *hex;
        if (c >= '0' && c <= '9')
            v = c - '0';
        else if (c >= 'a' && c <= 'f')
            v = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v = c - 'A' + 10;
        else
            continue; /* spaces separate fields */
        if (hi < 0) {
            hi = v;
        } else {
            if (n < cap)
                out[n] = (uint8_t)(hi << 4 | v);
            n++;
            hi = -1;
        }
    }
    return n;
}

size_t vec(const char *name, uint8_t *out, size_t cap)
{
    FILE *f = fopen(APF_VECTORS, "r");
    if (!f) {
        perror(APF_VECTORS);
        abort();
    }
    char line[4096];
    size_t nl = strlen(name);
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, name, nl) == 0 && line[nl] == ' ') {
            fclose(f);
            return unhex(line + nl + 1, out, cap);
        }
    }
    fclose(f);
    fprintf(stderr, "vector %s not found\n", name);
    abort();
}

static void logf_(h *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->log + t->log_len, H_LOG_MAX - t->log_len, fmt, ap);
    va_end(ap);
    if (n > 0 && t->log_len + (size_t)n + 1 < H_LOG_MAX) {
        t->log_len += (size_t)n;
        t->log[t->log_len++] = '\n';
        t->log[t->log_len] = '\0';
    }
}

static int cb_send(apf_session *s, const uint8_t *p, size_t n, void *u)
{
    h *t = u;
    if (t->out_len + n > H_OUT_MAX)
        abort();
    memcpy(t->out + t->out_len, p, n);
    t->out_len += n;
    return 0;
}

static void cb_version(apf_session *s, const apf_version_info *v, void *u)
{
    logf_(u, "version %u.%u %u %s", v->major, v->minor, v->trigger, v->uuid);
}

static void cb_auth(apf_session *s, const apf_auth_request *r, void *u)
{
    h *t = u;
    snprintf(t->auth_user, sizeof(t->auth_user), "%s", r->user);
    snprintf(t->auth_pw, sizeof(t->auth_pw), "%s", r->password);
    logf_(t, "auth %s %s %s %s", r->user, r->method, r->password, r->version->uuid);
    if (t->auth != H_AUTH_DEFER)
        apf_session_auth_result(s, t->auth == H_AUTH_ACCEPT);
}

static void cb_forward(apf_session *s, uint32_t port, bool added, void *u)
{
    logf_(u, "forward %c%u", added ? '+' : '-', port);
}

static void cb_ready(apf_session *s, void *u)
{
    logf_(u, "ready");
}

static void cb_ka_opts(apf_session *s, uint32_t i, uint32_t to, void *u)
{
    logf_(u, "keepalive-options %u %u", i, to);
}

static void cb_open(apf_session *s, uint32_t id, void *cu, void *u)
{
    logf_(u, "open %u", id);
}

static void cb_open_failed(apf_session *s, uint32_t id, uint32_t reason, void *cu, void *u)
{
    logf_(u, "open-failed %u %u", id, reason);
}

static void cb_data(apf_session *s, uint32_t id, const uint8_t *p, size_t n, void *cu, void *u)
{
    h *t = u;
    if (t->data_len + n > H_OUT_MAX)
        abort();
    memcpy(t->data + t->data_len, p, n);
    t->data_len += n;
    if (t->auto_consume)
        apf_channel_consumed(s, id, n);
}

static void cb_writable(apf_session *s, uint32_t id, void *cu, void *u)
{
    h *t = u;
    t->writable++;
    logf_(t, "writable %u", id);
}

static void cb_closed(apf_session *s, uint32_t id, void *cu, void *u)
{
    logf_(u, "closed %u", id);
}

static uint32_t cb_open_request(apf_session *s, const apf_open_request *r, void **cu, void *u)
{
    h *t = u;
    logf_(t, "open-request %.*s %.*s:%u %u", (int)r->type.len, (const char *)r->type.p,
          (int)r->addr.len, (const char *)r->addr.p, r->port, r->channel);
    return t->open_reply;
}

static bool cb_udp(apf_session *s, const apf_udp_request *r, void *u)
{
    logf_(u, "udp %.*s:%u %u bytes", (int)r->addr.len, (const char *)r->addr.p, r->port,
          r->data.len);
    return false;
}

static void cb_disconnect(apf_session *s, uint32_t reason, void *u)
{
    logf_(u, "disconnect %u", reason);
}

static void cb_error(apf_session *s, int err, unsigned type, void *u)
{
    h *t = u;
    t->last_err = err;
    logf_(t, "error %s %s", apf_strerror(err), apf_msg_type_name(type));
}

static const apf_callbacks callbacks = {
    .send = cb_send,
    .on_version = cb_version,
    .on_auth = cb_auth,
    .on_forward = cb_forward,
    .on_ready = cb_ready,
    .on_keepalive_options = cb_ka_opts,
    .on_channel_open = cb_open,
    .on_channel_open_failed = cb_open_failed,
    .on_channel_data = cb_data,
    .on_channel_writable = cb_writable,
    .on_channel_closed = cb_closed,
    .on_open_request = cb_open_request,
    .on_udp_send_to = cb_udp,
    .on_disconnect = cb_disconnect,
    .on_error = cb_error,
};

void h_init(h *t, const apf_config *cfg)
{
    memset(t, 0, sizeof(*t));
    if (cfg)
        t->cfg = *cfg;
    else
        apf_config_default(&t->cfg);
    t->out = malloc(H_OUT_MAX);
    t->data = malloc(H_OUT_MAX);
    t->log = calloc(1, H_LOG_MAX);
    t->open_reply = APF_OPEN_ADMINISTRATIVELY_PROHIBITED;
    t->now = 1000;
    t->s = apf_session_new(&t->cfg, &callbacks, t);
    if (!t->s || !t->out || !t->data || !t->log)
        abort();
}

void h_free(h *t)
{
    apf_session_free(t->s);
    free(t->out);
    free(t->data);
    free(t->log);
}

int h_feed(h *t, const uint8_t *p, size_t n)
{
    return apf_session_recv(t->s, p, n, t->now);
}

int h_feed_hex(h *t, const char *hex)
{
    uint8_t b[8192];
    size_t n = unhex(hex, b, sizeof(b));
    return h_feed(t, b, n);
}

int h_feed_vec(h *t, const char *name)
{
    uint8_t b[8192];
    size_t n = vec(name, b, sizeof(b));
    return h_feed(t, b, n);
}

int h_feed_msg(h *t, const apf_msg *m)
{
    uint8_t b[1 << 16];
    ssize_t n = apf_pack(m, b, sizeof(b));
    if (n < 0)
        abort();
    return h_feed(t, b, (size_t)n);
}

const char *h_out_hex(h *t)
{
    static char buf[1 << 16];
    size_t k = 0;
    for (; t->out_seen < t->out_len && k + 3 < sizeof(buf); t->out_seen++)
        k += (size_t)snprintf(buf + k, sizeof(buf) - k, "%02x", t->out[t->out_seen]);
    buf[k] = '\0';
    return buf;
}

void h_login(h *t, const uint32_t *ports, size_t n)
{
    static const guid uuid = {{0x44, 0x45, 0x4c, 0x4c, 0x4d, 0x00, 0x10, 0x4d, 0x80, 0x50, 0xb2,
                               0xc0, 0x4f, 0x32, 0x51, 0x33}};
    apf_device_login l = {.uuid = &uuid,
                          .trigger = APF_TRIGGER_PERIODIC,
                          .user = "B6367516FC563665",
                          .password = "P@ssw0rd",
                          .ports = ports,
                          .nports = n,
                          .hostname = "amt-host"};
    uint8_t b[4096];
    ssize_t len = apf_device_login_pack(&l, b, sizeof(b));
    if (len < 0)
        abort();
    h_feed(t, b, (size_t)len);
    if (!apf_session_is_ready(t->s)) {
        t->now += t->cfg.settle_ms;
        apf_session_tick(t->s, t->now);
    }
    h_out_hex(t); /* login replies are checked elsewhere */
}

uint32_t h_open(h *t, uint32_t port, uint32_t peer, uint32_t window)
{
    uint32_t id = 0;
    if (apf_channel_open(t->s, port, NULL, 0, NULL, &id) != APF_OK)
        abort();
    apf_msg m = {.type = APF_CHANNEL_OPEN_CONFIRMATION};
    m.u.open_confirm.recipient = id;
    m.u.open_confirm.sender = peer;
    m.u.open_confirm.window = window;
    m.u.open_confirm.reserved = 0xFFFFFFFF;
    h_feed_msg(t, &m);
    h_out_hex(t);
    return id;
}

int h_dev_data(h *t, uint32_t recipient, const uint8_t *p, uint32_t n)
{
    apf_msg m = {.type = APF_CHANNEL_DATA};
    m.u.data.recipient = recipient;
    m.u.data.data.p = p;
    m.u.data.data.len = n;
    return h_feed_msg(t, &m);
}

int h_dev_adjust(h *t, uint32_t recipient, uint32_t bytes)
{
    apf_msg m = {.type = APF_CHANNEL_WINDOW_ADJUST};
    m.u.window_adjust.recipient = recipient;
    m.u.window_adjust.bytes = bytes;
    return h_feed_msg(t, &m);
}

int h_dev_close(h *t, uint32_t recipient)
{
    apf_msg m = {.type = APF_CHANNEL_CLOSE};
    m.u.close.recipient = recipient;
    return h_feed_msg(t, &m);
}

bool h_logged(const h *t, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = t->log; (p = strstr(p, line)) != NULL; p++)
        if ((p == t->log || p[-1] == '\n') && p[n] == '\n')
            return true;
    return false;
}
