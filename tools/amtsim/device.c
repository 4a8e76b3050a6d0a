/*
 * device.c - the login, keep-alive and dispatch of one simulated AMT device (see device.h).
 * Channels live in chan.c.
 */
#include "device_int.h"

#include <stdlib.h>
#include <string.h>

#include "ident.h"

/* A partial message is kept at most this long (apf_unpack refuses larger length fields first). */
#define RX_MAX(d) ((d)->o->window + 16384u + 65536u)

static const char *const dev_errs[] = {
    "ok",          "refused",       "disconnected by the MPS", "protocol error by the MPS",
    "send failed", "out of memory", "session ended",
};

const char *dev_strerror(int err)
{
    return err <= 0 && err >= DEV_ERR_CLOSED ? dev_errs[-err] : "?";
}

void dev_init(struct device *d, const struct sim_opts *o, const struct dev_ops *ops, uint32_t index,
              void *user)
{
    memset(d, 0, sizeof(*d));
    d->o = o;
    d->ops = ops;
    d->user = user;
    d->index = index;
    d->ka_interval_ms = o->keepalive_s * 1000u;
    d->ka_due = UINT64_MAX;
    d->svc_due = UINT64_MAX;
}

void dev_uuid(const struct device *d, char out[37])
{
    ident_uuid_str(&d->o->uuid_base, d->index, out);
}

void dev_hostname(const struct device *d, char *out, size_t cap)
{
    ident_hostname(d->o->hostname_prefix, d->index, out, cap);
}

bool dev_ended(const struct device *d)
{
    return d->state == DS_ENDED;
}

void dev_event(struct device *d, enum dev_event ev, uint32_t arg)
{
    if (d->ops->event)
        d->ops->event(d->user, ev, arg);
}

static int send_raw(struct device *d, const uint8_t *p, size_t n)
{
    if (d->mute || d->state == DS_ENDED)
        return DEV_OK;
    return d->ops->send(d->user, p, n) ? DEV_ERR_SEND : DEV_OK;
}

int dev_put(struct device *d, const apf_msg *m)
{
    uint8_t buf[65536 + 64];
    ssize_t n = apf_pack(m, buf, sizeof(buf));
    if (n < 0)
        return DEV_ERR_NOMEM; /* cannot happen with our own messages */
    return send_raw(d, buf, (size_t)n);
}

static void end(struct device *d)
{
    chan_free_all(d);
    d->state = DS_ENDED;
    d->ka_due = UINT64_MAX;
}

int dev_violation(struct device *d, unsigned type)
{
    dev_event(d, DEV_EV_PROTOCOL_ERROR, type);
    apf_msg m = {.type = APF_DISCONNECT, .u.disconnect.reason = APF_DISC_PROTOCOL_ERROR};
    dev_put(d, &m);
    end(d);
    return DEV_ERR_PROTOCOL;
}

/* ---- login ---- */

static void fill_version(const struct device *d, apf_msg *m, guid *raw)
{
    ident_uuid_for(&d->o->uuid_base, d->index, raw);
    *m = (apf_msg){.type = APF_PROTOCOLVERSION};
    m->u.version.major = 1;
    m->u.version.trigger = d->o->trigger;
    memcpy(m->u.version.uuid, raw->b, 16);
}

/* The password this mode sends: bad-password changes it so that no MPS can accept it. */
static void mode_password(const struct device *d, char *out, size_t cap)
{
    snprintf(out, cap, "%s%s", d->o->password, d->o->mode == MODE_BAD_PASSWORD ? "-wrong" : "");
}

static int send_userauth(struct device *d)
{
    char pw[OPTS_MAX_CRED + 8];
    mode_password(d, pw, sizeof(pw));
    apf_msg m = {.type = APF_USERAUTH_REQUEST};
    m.u.userauth.user = apf_str_c(d->o->user);
    m.u.userauth.service = apf_str_c(APF_SERVICE_PFWD);
    if (d->o->auth_none) {
        m.u.userauth.method = apf_str_c(APF_METHOD_NONE);
    } else {
        m.u.userauth.method = apf_str_c(APF_METHOD_PASSWORD);
        m.u.userauth.has_password = true;
        m.u.userauth.password = apf_str_c(pw);
    }
    int r = dev_put(d, &m);
    memset(pw, 0, sizeof(pw));
    return r;
}

static int send_service(struct device *d, const char *name)
{
    apf_msg m = {.type = APF_SERVICE_REQUEST, .u.service.name = apf_str_c(name)};
    return dev_put(d, &m);
}

static int send_forward(struct device *d)
{
    char host[256];
    dev_hostname(d, host, sizeof(host));
    apf_msg m = {.type = APF_GLOBAL_REQUEST};
    m.u.global.name = apf_str_c(APF_REQ_TCPIP_FORWARD);
    m.u.global.want_reply = true;
    m.u.global.addr = apf_str_c(host);
    m.u.global.port = d->o->ports[d->fwd_sent];
    int r = dev_put(d, &m);
    d->fwd_sent++;
    if (d->o->mode == MODE_SILENT && d->fwd_sent == d->o->nports)
        d->mute = true; /* the login is out: from now on, not a byte */
    return r;
}

static int login_pipelined(struct device *d)
{
    guid raw;
    char host[256], pw[OPTS_MAX_CRED + 8];
    ident_uuid_for(&d->o->uuid_base, d->index, &raw);
    dev_hostname(d, host, sizeof(host));
    mode_password(d, pw, sizeof(pw));
    apf_device_login l = {.uuid = &raw,
                          .trigger = d->o->trigger,
                          .user = d->o->user,
                          .password = pw,
                          .ports = d->o->ports,
                          .nports = d->o->nports,
                          .hostname = host};
    ssize_t n = apf_device_login_pack(&l, NULL, 0);
    uint8_t *buf = n > 0 ? malloc((size_t)n) : NULL;
    if (!buf)
        return DEV_ERR_NOMEM;
    n = apf_device_login_pack(&l, buf, (size_t)n);
    memset(pw, 0, sizeof(pw));
    int r = n > 0 ? send_raw(d, buf, (size_t)n) : DEV_ERR_NOMEM;
    free(buf);
    d->fwd_sent = (uint8_t)d->o->nports;
    if (d->o->mode == MODE_SILENT)
        d->mute = true;
    return r;
}

/* A cheap per-device PRNG for the garbage modes: reproducible per index. */
static uint32_t xorshift(uint32_t *s)
{
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

static int send_fault(struct device *d)
{
    uint8_t buf[512];
    size_t n = 0;
    apf_msg m;
    guid raw;
    if (d->o->mode == MODE_GARBAGE || d->o->mode == MODE_NO_TLS_GARBAGE) {
        uint32_t s = d->index * 2654435761u + 1;
        for (n = 0; n < 256; n++)
            buf[n] = (uint8_t)xorshift(&s);
        /* never by chance a valid first message (0xC0), a ClientHello (0x16) or an HTTP probe */
        buf[0] = 0xEE;
    } else if (d->o->mode == MODE_OVERLONG) {
        /* a good start, then a USERAUTH_REQUEST whose user name claims 2^31 bytes */
        fill_version(d, &m, &raw);
        n += (size_t)apf_pack(&m, buf, sizeof(buf));
        m = (apf_msg){.type = APF_SERVICE_REQUEST, .u.service.name = apf_str_c(APF_SERVICE_AUTH)};
        n += (size_t)apf_pack(&m, buf + n, sizeof(buf) - n);
        static const uint8_t hdr[] = {APF_USERAUTH_REQUEST, 0x80, 0x00, 0x00, 0x00};
        memcpy(buf + n, hdr, sizeof(hdr));
        n += sizeof(hdr);
        memset(buf + n, 'A', 64);
        n += 64;
    } else { /* stall-handshake over --plain: half a PROTOCOLVERSION */
        fill_version(d, &m, &raw);
        n = (size_t)apf_pack(&m, buf, sizeof(buf)) / 2;
    }
    int r = send_raw(d, buf, n);
    d->mute = true;
    d->state = DS_FAULT;
    return r;
}

int dev_start(struct device *d, uint64_t now_ms)
{
    d->now_ms = now_ms;
    if (d->state != DS_IDLE)
        return DEV_ERR_CLOSED;
    if (d->o->mode != MODE_NORMAL && d->o->mode != MODE_BAD_PASSWORD && d->o->mode != MODE_SILENT)
        return send_fault(d);
    d->state = DS_WAIT_AUTH_SVC;
    if (d->o->pipeline)
        return login_pipelined(d);
    /* PROTOCOLVERSION and SERVICE_REQUEST auth back to back, in one write (docs/apf.md 3.1) */
    uint8_t buf[256];
    guid raw;
    apf_msg m;
    fill_version(d, &m, &raw);
    ssize_t a = apf_pack(&m, buf, sizeof(buf));
    m = (apf_msg){.type = APF_SERVICE_REQUEST, .u.service.name = apf_str_c(APF_SERVICE_AUTH)};
    ssize_t b = apf_pack(&m, buf + a, sizeof(buf) - (size_t)a);
    return send_raw(d, buf, (size_t)(a + b));
}

/* ---- keep-alive ---- */

static void keepalive_arm(struct device *d, uint64_t now_ms)
{
    if (!d->mute && d->ka_due == UINT64_MAX)
        d->ka_due = now_ms + d->ka_interval_ms;
}

int dev_tick(struct device *d, uint64_t now_ms)
{
    if (d->state == DS_ENDED)
        return DEV_ERR_CLOSED;
    d->now_ms = now_ms;
    if (d->svc_due <= now_ms) {
        int r = chan_tick(d, now_ms);
        if (r != DEV_OK)
            return r;
    }
    if (d->ka_due > now_ms)
        return DEV_OK;
    d->ka_due = now_ms + d->ka_interval_ms;
    if (d->mute)
        return DEV_OK;
    apf_msg m = {.type = APF_KEEPALIVE_REQUEST, .u.keepalive.cookie = ++d->ka_cookie};
    int r = dev_put(d, &m);
    if (r == DEV_OK)
        dev_event(d, DEV_EV_KEEPALIVE_SENT, d->ka_cookie);
    return r;
}

uint64_t dev_next_timer(const struct device *d)
{
    if (d->state == DS_ENDED)
        return UINT64_MAX;
    return d->ka_due < d->svc_due ? d->ka_due : d->svc_due;
}

static void check_ready(struct device *d)
{
    if (!d->ready && d->auth_ok && d->logged_in && d->fwd_ok == d->o->nports && d->got_options) {
        d->ready = true;
        dev_event(d, DEV_EV_READY, 0);
    }
}

/* ---- dispatch ---- */

static int on_service_accept(struct device *d, const apf_msg *m)
{
    if (d->state == DS_WAIT_AUTH_SVC && apf_str_eq(m->u.service.name, APF_SERVICE_AUTH)) {
        d->state = DS_WAIT_AUTH;
        return d->o->pipeline ? DEV_OK : send_userauth(d);
    }
    if (d->state == DS_WAIT_PFWD_SVC && apf_str_eq(m->u.service.name, APF_SERVICE_PFWD)) {
        d->state = DS_FORWARDS;
        if (d->o->pipeline || d->o->nports == 0)
            return DEV_OK;
        return send_forward(d);
    }
    return dev_violation(d, m->type);
}

static int on_forward_answer(struct device *d, const apf_msg *m, uint64_t now_ms)
{
    if (d->state != DS_FORWARDS || d->fwd_acked >= d->fwd_sent)
        return dev_violation(d, m->type);
    uint32_t port = d->o->ports[d->fwd_acked++];
    if (m->type == APF_REQUEST_SUCCESS) {
        if (!m->u.request_success.has_port || m->u.request_success.port != port)
            return dev_violation(d, m->type);
        d->fwd_ok++;
    } else {
        dev_event(d, DEV_EV_FORWARD_REFUSED, port);
    }
    if (d->fwd_acked == d->o->nports) {
        d->logged_in = true;
        dev_event(d, DEV_EV_LOGGED_IN, 0);
        keepalive_arm(d, now_ms);
        check_ready(d);
        return DEV_OK;
    }
    return d->fwd_sent < d->o->nports ? send_forward(d) : DEV_OK;
}

static int handle(struct device *d, const apf_msg *m, uint64_t now_ms)
{
    apf_msg r;
    if (d->state == DS_FAULT && m->type != APF_DISCONNECT)
        return DEV_OK; /* the fault is out: only listen for how the MPS ends it */
    switch (m->type) {
    case APF_SERVICE_ACCEPT:
        return on_service_accept(d, m);
    case APF_USERAUTH_SUCCESS:
        if (d->state != DS_WAIT_AUTH)
            return dev_violation(d, m->type);
        d->auth_ok = true;
        d->state = DS_WAIT_PFWD_SVC;
        dev_event(d, DEV_EV_AUTH_OK, 0);
        return d->o->pipeline ? DEV_OK : send_service(d, APF_SERVICE_PFWD);
    case APF_USERAUTH_FAILURE:
        if (d->state != DS_WAIT_AUTH)
            return dev_violation(d, m->type);
        dev_event(d, DEV_EV_REFUSED, 0);
        end(d); /* a real AMT gives up and closes */
        return DEV_ERR_REFUSED;
    case APF_REQUEST_SUCCESS:
    case APF_REQUEST_FAILURE:
        return on_forward_answer(d, m, now_ms);
    case APF_KEEPALIVE_OPTIONS_REQUEST:
        if (!d->auth_ok)
            return dev_violation(d, m->type);
        if (m->u.keepalive_options.interval > 0) { /* honour what the MPS asks */
            d->ka_interval_ms = m->u.keepalive_options.interval * 1000u;
            d->ka_due = UINT64_MAX;
        }
        d->got_options = true;
        keepalive_arm(d, now_ms);
        r = (apf_msg){.type = APF_KEEPALIVE_OPTIONS_REPLY,
                      .u.keepalive_options = {.interval = m->u.keepalive_options.interval,
                                              .timeout = m->u.keepalive_options.timeout}};
        int s = dev_put(d, &r);
        check_ready(d);
        return s;
    case APF_KEEPALIVE_REQUEST: /* defined for the MPS too, though none sends it */
        r = (apf_msg){.type = APF_KEEPALIVE_REPLY, .u.keepalive.cookie = m->u.keepalive.cookie};
        return dev_put(d, &r);
    case APF_KEEPALIVE_REPLY:
        dev_event(d, DEV_EV_KEEPALIVE_REPLY, m->u.keepalive.cookie);
        return DEV_OK;
    case APF_PROTOCOLVERSION: /* the Go console echoes one; AMT ignores it */
        return DEV_OK;
    case APF_GLOBAL_REQUEST:
        if (m->u.global.want_reply) {
            r = (apf_msg){.type = APF_REQUEST_FAILURE};
            return dev_put(d, &r);
        }
        return DEV_OK;
    case APF_DISCONNECT:
        d->disc_reason = m->u.disconnect.reason ? m->u.disconnect.reason : 0xffffffffu;
        end(d);
        return DEV_ERR_DISCONNECT;
    case APF_CHANNEL_OPEN:
    case APF_CHANNEL_OPEN_CONFIRMATION:
    case APF_CHANNEL_OPEN_FAILURE:
    case APF_CHANNEL_WINDOW_ADJUST:
    case APF_CHANNEL_DATA:
    case APF_CHANNEL_CLOSE:
        if (!d->auth_ok)
            return dev_violation(d, m->type);
        return chan_handle(d, m);
    default: /* SERVICE_REQUEST, USERAUTH_REQUEST, ...: an MPS never sends these */
        return dev_violation(d, m->type);
    }
}

/* Parse and handle every whole message in p[0..n); returns the bytes consumed or a dev_err. */
static ssize_t parse(struct device *d, const uint8_t *p, size_t n, uint64_t now_ms)
{
    apf_limits lim;
    apf_limits_default(&lim);
    lim.max_data = d->o->window; /* the MPS may never send more than the window we grant */
    size_t off = 0;
    while (off < n && d->state != DS_ENDED) {
        if (d->skip_zero) {
            d->skip_zero = false;
            if (p[off] == 0) { /* 0 is no message type: the 15th byte of a long failure */
                off++;
                continue;
            }
        }
        unsigned flags = d->fwd_acked < d->fwd_sent ? APF_UNPACK_SUCCESS_PORT : 0;
        apf_msg m;
        size_t len;
        int r = apf_unpack(p + off, n - off, &lim, flags, &m, &len);
        if (r == APF_ERR_AGAIN)
            break;
        if (r < 0 && d->state == DS_FAULT)
            return (ssize_t)n; /* whatever the MPS answers a fault with: drop it */
        if (r < 0)
            return dev_violation(d, 0);
        off += len;
        if (m.type == APF_USERAUTH_FAILURE)
            d->skip_zero = true;
        if ((r = handle(d, &m, now_ms)) != DEV_OK)
            return r;
    }
    return (ssize_t)off;
}

int dev_recv(struct device *d, const uint8_t *p, size_t n, uint64_t now_ms)
{
    if (d->state == DS_ENDED)
        return DEV_ERR_CLOSED;
    d->now_ms = now_ms;
    if (d->rx_len) { /* a partial message is waiting: join, then parse the joined bytes */
        if ((size_t)d->rx_len + n > RX_MAX(d))
            return dev_violation(d, 0);
        uint8_t *nb = realloc(d->rx, d->rx_len + n);
        if (!nb)
            return DEV_ERR_NOMEM;
        d->rx = nb;
        memcpy(d->rx + d->rx_len, p, n);
        d->rx_len += (uint32_t)n;
        p = d->rx;
        n = d->rx_len;
    }
    ssize_t used = parse(d, p, n, now_ms);
    if (used < 0 || d->state == DS_ENDED) {
        free(d->rx);
        d->rx = NULL;
        d->rx_len = 0;
        return used < 0 ? (int)used : DEV_OK;
    }
    size_t rest = n - (size_t)used;
    if (rest == 0) { /* the normal case: no buffer held between reads */
        free(d->rx);
        d->rx = NULL;
        d->rx_len = 0;
    } else if (p == d->rx) {
        memmove(d->rx, d->rx + used, rest);
        d->rx_len = (uint32_t)rest;
    } else {
        if (!(d->rx = malloc(rest)))
            return DEV_ERR_NOMEM;
        memcpy(d->rx, p + used, rest);
        d->rx_len = (uint32_t)rest;
    }
    return DEV_OK;
}

int dev_disconnect(struct device *d, uint32_t reason)
{
    if (d->state == DS_ENDED)
        return DEV_ERR_CLOSED;
    apf_msg m = {.type = APF_DISCONNECT, .u.disconnect.reason = reason};
    int r = dev_put(d, &m);
    end(d);
    return r;
}

void dev_reset(struct device *d)
{
    chan_free_all(d);
    free(d->rx);
    d->rx = NULL;
    d->rx_len = 0;
    d->state = DS_ENDED;
}
