/*
 * apf_codec.c - pack and unpack of every APF message (docs/apf.md section 2).
 *
 * Each message layout is written once, as a walk over its fields that either
 * reads or writes (apf_io). Packing and unpacking therefore cannot disagree
 * about a layout, and apf_msg_len() is the same walk with nowhere to write.
 */
#include "apf.h"
#include "apf_wire.h"

typedef struct apf_io {
    bool writing;
    unsigned flags;
    const apf_limits *lim;
    apf_rd r;
    apf_wr w;
} apf_io;

static bool io_ok(const apf_io *x)
{
    return x->writing || apf_rd_ok(&x->r);
}

static void io_u32(apf_io *x, uint32_t *v)
{
    if (x->writing)
        apf_wr_u32(&x->w, *v);
    else
        *v = apf_rd_u32(&x->r);
}

static void io_bool(apf_io *x, bool *v)
{
    if (x->writing)
        apf_wr_u8(&x->w, *v ? 1 : 0);
    else
        *v = apf_rd_u8(&x->r) != 0;
}

static void io_fixed(apf_io *x, uint8_t *v, size_t k)
{
    if (x->writing) {
        apf_wr_bytes(&x->w, v, k);
    } else {
        const uint8_t *q = apf_rd_take(&x->r, k);
        if (q)
            memcpy(v, q, k);
    }
}

/* A string bounded by max; err names the bound that was broken. */
static void io_strmax(apf_io *x, apf_str *s, uint32_t max, int err)
{
    if (x->writing)
        apf_wr_str(&x->w, *s);
    else
        *s = apf_rd_str(&x->r, max, err);
}

static void io_str(apf_io *x, apf_str *s)
{
    io_strmax(x, s, x->lim->max_string, APF_ERR_STRING_TOO_LONG);
}

static void io_fail(apf_io *x, int err)
{
    if (!x->writing && x->r.err == 0)
        x->r.err = err;
}

/* ---- one walk per message ------------------------------------------------ */

static void walk_userauth(apf_io *x, apf_msg *m)
{
    io_str(x, &m->u.userauth.user);
    io_str(x, &m->u.userauth.service);
    io_str(x, &m->u.userauth.method);
    if (!io_ok(x))
        return;
    if (!x->writing) {
        /* The method decides the layout; any other method cannot be framed. */
        if (apf_str_eq(m->u.userauth.method, APF_METHOD_PASSWORD))
            m->u.userauth.has_password = true;
        else if (apf_str_eq(m->u.userauth.method, APF_METHOD_NONE))
            m->u.userauth.has_password = false;
        else
            return io_fail(x, APF_ERR_UNKNOWN_METHOD);
    }
    if (!m->u.userauth.has_password)
        return;
    bool change = false; /* SSH "password change" flag: always FALSE in APF */
    io_bool(x, &change);
    if (change)
        return io_fail(x, APF_ERR_MALFORMED);
    io_str(x, &m->u.userauth.password);
}

static void walk_userauth_failure(apf_io *x, apf_msg *m)
{
    io_str(x, &m->u.userauth_failure.methods);
    io_bool(x, &m->u.userauth_failure.partial);
    if (!x->writing)
        m->u.userauth_failure.long_form = x->flags & APF_UNPACK_FAILURE_LONG;
    if (m->u.userauth_failure.long_form) {
        uint8_t pad = 0;
        io_fixed(x, &pad, 1);
    }
}

static void walk_global(apf_io *x, apf_msg *m)
{
    __typeof__(m->u.global) *g = &m->u.global;
    io_str(x, &g->name);
    io_bool(x, &g->want_reply);
    if (!io_ok(x))
        return;
    if (apf_str_eq(g->name, APF_REQ_TCPIP_FORWARD) ||
        apf_str_eq(g->name, APF_REQ_CANCEL_TCPIP_FORWARD)) {
        io_str(x, &g->addr);
        io_u32(x, &g->port);
    } else if (apf_str_eq(g->name, APF_REQ_UDP_SEND_TO)) {
        io_str(x, &g->addr);
        io_u32(x, &g->port);
        io_str(x, &g->orig_addr);
        io_u32(x, &g->orig_port);
        /* The datagram is bounded by the message limit, not the string one. */
        io_strmax(x, &g->data, x->lim->max_msg, APF_ERR_MSG_TOO_LONG);
    } else if (!x->writing) {
        io_fail(x, APF_ERR_UNKNOWN_REQUEST);
    }
}

static void walk_request_success(apf_io *x, apf_msg *m)
{
    if (!x->writing)
        m->u.request_success.has_port = x->flags & APF_UNPACK_SUCCESS_PORT;
    if (m->u.request_success.has_port)
        io_u32(x, &m->u.request_success.port);
}

static void walk_open(apf_io *x, apf_msg *m)
{
    __typeof__(m->u.open) *o = &m->u.open;
    io_str(x, &o->type);
    if (!io_ok(x))
        return;
    /* Both known types share the layout; anything else has an unknown tail. */
    if (!x->writing && !apf_str_eq(o->type, APF_CHAN_FORWARDED_TCPIP) &&
        !apf_str_eq(o->type, APF_CHAN_DIRECT_TCPIP))
        return io_fail(x, APF_ERR_UNKNOWN_CHANNEL_TYPE);
    io_u32(x, &o->sender);
    io_u32(x, &o->window);
    io_u32(x, &o->reserved);
    io_str(x, &o->addr);
    io_u32(x, &o->port);
    io_str(x, &o->orig_addr);
    io_u32(x, &o->orig_port);
}

static void walk_data(apf_io *x, apf_msg *m)
{
    io_u32(x, &m->u.data.recipient);
    if (x->writing)
        return apf_wr_str(&x->w, m->u.data.data);
    uint32_t len = apf_rd_u32(&x->r);
    if (!apf_rd_ok(&x->r))
        return;
    if (len > x->lim->max_data)
        return io_fail(x, APF_ERR_DATA_TOO_LONG);
    m->u.data.data.len = len;
    m->u.data.data.p = NULL;
    if (!(x->flags & APF_UNPACK_DATA_HEADER))
        m->u.data.data.p = apf_rd_take(&x->r, len);
}

static void walk(apf_io *x, apf_msg *m)
{
    switch (m->type) {
    case APF_DISCONNECT: {
        uint8_t reserved[2] = {0, 0};
        io_u32(x, &m->u.disconnect.reason);
        io_fixed(x, reserved, 2);
        break;
    }
    case APF_SERVICE_REQUEST:
    case APF_SERVICE_ACCEPT:
        io_str(x, &m->u.service.name);
        break;
    case APF_USERAUTH_REQUEST:
        walk_userauth(x, m);
        break;
    case APF_USERAUTH_FAILURE:
        walk_userauth_failure(x, m);
        break;
    case APF_USERAUTH_SUCCESS:
    case APF_REQUEST_FAILURE:
        break;
    case APF_GLOBAL_REQUEST:
        walk_global(x, m);
        break;
    case APF_REQUEST_SUCCESS:
        walk_request_success(x, m);
        break;
    case APF_CHANNEL_OPEN:
        walk_open(x, m);
        break;
    case APF_CHANNEL_OPEN_CONFIRMATION:
        io_u32(x, &m->u.open_confirm.recipient);
        io_u32(x, &m->u.open_confirm.sender);
        io_u32(x, &m->u.open_confirm.window);
        io_u32(x, &m->u.open_confirm.reserved);
        break;
    case APF_CHANNEL_OPEN_FAILURE:
        io_u32(x, &m->u.open_failure.recipient);
        io_u32(x, &m->u.open_failure.reason);
        io_u32(x, &m->u.open_failure.reserved1);
        io_u32(x, &m->u.open_failure.reserved2);
        break;
    case APF_CHANNEL_WINDOW_ADJUST:
        io_u32(x, &m->u.window_adjust.recipient);
        io_u32(x, &m->u.window_adjust.bytes);
        break;
    case APF_CHANNEL_DATA:
        walk_data(x, m);
        break;
    case APF_CHANNEL_CLOSE:
        io_u32(x, &m->u.close.recipient);
        break;
    case APF_PROTOCOLVERSION:
        io_u32(x, &m->u.version.major);
        io_u32(x, &m->u.version.minor);
        io_u32(x, &m->u.version.trigger);
        io_fixed(x, m->u.version.uuid, 16);
        io_fixed(x, m->u.version.reserved, 64);
        break;
    case APF_KEEPALIVE_REQUEST:
    case APF_KEEPALIVE_REPLY:
        io_u32(x, &m->u.keepalive.cookie);
        break;
    case APF_KEEPALIVE_OPTIONS_REQUEST:
    case APF_KEEPALIVE_OPTIONS_REPLY:
        io_u32(x, &m->u.keepalive_options.interval);
        io_u32(x, &m->u.keepalive_options.timeout);
        break;
    default:
        io_fail(x, APF_ERR_UNKNOWN_TYPE);
        break;
    }
}

/* ---- public ------------------------------------------------------------- */

void apf_limits_default(apf_limits *lim)
{
    lim->max_string = 2048;
    lim->max_msg = 16384;
    lim->max_data = 1u << 20;
}

int apf_unpack(const uint8_t *p, size_t n, const apf_limits *lim, unsigned flags, apf_msg *m,
               size_t *len)
{
    apf_limits def;
    if (!lim) {
        apf_limits_default(&def);
        lim = &def;
    }
    memset(m, 0, sizeof(*m));
    *len = 1;
    if (n == 0)
        return APF_ERR_AGAIN;
    apf_io x = {.writing = false, .flags = flags, .lim = lim, .r = {.p = p, .n = n, .off = 1}};
    m->type = p[0];
    walk(&x, m);
    if (x.r.err)
        return x.r.err;
    size_t total = x.r.need ? x.r.need : x.r.off;
    /* CHANNEL_DATA is bounded by max_data alone; every other message as a whole. */
    bool data = m->type == APF_CHANNEL_DATA;
    if (!data && total > lim->max_msg)
        return APF_ERR_MSG_TOO_LONG;
    *len = total;
    return x.r.need ? APF_ERR_AGAIN : APF_OK;
}

static apf_io pack_walk(const apf_msg *m, uint8_t *out, size_t cap)
{
    apf_limits lim;
    apf_limits_default(&lim);
    apf_io x = {.writing = true, .lim = &lim, .w = {.p = out, .cap = cap}};
    apf_msg copy = *m; /* walk() takes a mutable message for the reading side */
    apf_wr_u8(&x.w, m->type);
    walk(&x, &copy);
    x.lim = NULL;
    return x;
}

static bool known_type(unsigned t)
{
    return apf_msg_type_name(t)[0] != '?';
}

size_t apf_msg_len(const apf_msg *m)
{
    if (!known_type(m->type))
        return 0;
    return pack_walk(m, NULL, 0).w.off;
}

ssize_t apf_pack(const apf_msg *m, uint8_t *out, size_t cap)
{
    if (!known_type(m->type))
        return APF_ERR_UNKNOWN_TYPE;
    if (m->type == APF_USERAUTH_REQUEST && !m->u.userauth.has_password &&
        !apf_str_eq(m->u.userauth.method, APF_METHOD_NONE))
        return APF_ERR_INVALID;
    apf_io x = pack_walk(m, out, cap);
    if (x.w.off > cap)
        return APF_ERR_BUFFER;
    return (ssize_t)x.w.off;
}
