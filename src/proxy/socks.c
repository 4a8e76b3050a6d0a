/*
 * socks.c - the SOCKS4/4a/5 server state machine (see socks.h).
 *
 * Why byte at a time: every message of these protocols is a few hundred bytes at most, and
 * appending one byte to the session's buffer and then asking "is this message complete, or
 * already wrong?" makes any split of the input (one read or one byte per read) walk through
 * exactly the same states, so the events and replies cannot depend on how TCP segmented the
 * console's bytes. Errors are reported as soon as the byte that makes the message wrong arrives;
 * nothing after that byte is consumed.
 */
#include "socks.h"

#include <arpa/inet.h>
#include <string.h>

enum {
    ST_START = 0,  /* the version byte */
    ST5_GREET,     /* VER NMETHODS METHODS */
    ST5_AUTH,      /* RFC 1929: VER ULEN UNAME PLEN PASSWD */
    ST5_AUTH_WAIT, /* SOCKS_EV_AUTH reported, waiting for socks_auth_result */
    ST5_REQ,       /* VER CMD RSV ATYP DST.ADDR DST.PORT */
    ST4_MSG,       /* VN CD DSTPORT DSTIP USERID NUL [HOST NUL] */
    ST4_AUTH_WAIT, /* SOCKS_EV_AUTH reported (SOCKS4) */
    ST4_REQ_READY, /* auth accepted: the next socks_feed reports SOCKS_EV_REQUEST */
    ST_REQ_WAIT,   /* SOCKS_EV_REQUEST reported, waiting for socks_reply */
    ST_DONE,       /* success reply queued: the rest of the stream is payload */
    ST_FAILED,
};

#define SOCKS4_FIXED 8 /* VN CD DSTPORT(2) DSTIP(4) */

static void socks_zero(void *p, size_t n)
{
    volatile uint8_t *v = p;
    while (n--)
        *v++ = 0;
}

static void out_push(socks_session *s, const uint8_t *p, size_t n)
{
    if (s->out_len + n > sizeof s->out)
        return; /* cannot happen: the caller clears between replies or at most 14 bytes queue */
    memcpy(s->out + s->out_len, p, n);
    s->out_len = (uint8_t)(s->out_len + n);
}

static void reply5(socks_session *s, uint8_t rep, const uint8_t bound4[4], uint16_t port)
{
    uint8_t r[10] = {5, rep, 0, SOCKS_ADDR_IPV4, 0, 0, 0, 0, (uint8_t)(port >> 8), (uint8_t)port};
    if (bound4)
        memcpy(r + 4, bound4, 4);
    out_push(s, r, sizeof r);
}

static void reply4(socks_session *s, uint8_t cd, const uint8_t bound4[4], uint16_t port)
{
    uint8_t r[8] = {0, cd, (uint8_t)(port >> 8), (uint8_t)port, 0, 0, 0, 0};
    if (bound4)
        memcpy(r + 4, bound4, 4);
    out_push(s, r, sizeof r);
}

static void auth_status5(socks_session *s, uint8_t status)
{
    const uint8_t r[2] = {1, status};
    out_push(s, r, 2);
}

static socks_event fail(socks_session *s, socks_error e)
{
    s->error = e;
    s->state = ST_FAILED;
    socks_zero(s->buf, sizeof s->buf);
    s->buf_len = 0;
    socks_zero(s->pass, sizeof s->pass);
    s->pass_len = 0;
    return SOCKS_EV_FAILED;
}

/* A SOCKS5 request or SOCKS4 message failure with the version's reply. */
static socks_event fail_req(socks_session *s, socks_error e, uint8_t rep5)
{
    if (s->version == 5)
        reply5(s, rep5, NULL, 0);
    else
        reply4(s, 91, NULL, 0);
    return fail(s, e);
}

/* --- SOCKS5 ------------------------------------------------------------------------------------
 */

static socks_event greet5(socks_session *s)
{
    static const uint8_t none[2] = {5, 0xFF};
    if (s->buf_len < 2)
        return SOCKS_EV_NONE;
    size_t nm = s->buf[1];
    if (nm == 0 || s->buf_len < 2 + nm) {
        if (nm != 0)
            return SOCKS_EV_NONE;
        out_push(s, none, 2);
        return fail(s, SOCKS_E_NO_METHOD);
    }
    bool userpass = memchr(s->buf + 2, 0x02, nm) != NULL;
    bool anon = memchr(s->buf + 2, 0x00, nm) != NULL;
    s->buf_len = 0;
    if (userpass) {
        const uint8_t r[2] = {5, 0x02};
        out_push(s, r, 2);
        s->state = ST5_AUTH;
    } else if (anon && s->conf.allow_anonymous) {
        const uint8_t r[2] = {5, 0x00};
        out_push(s, r, 2);
        s->anonymous = true;
        s->state = ST5_REQ;
    } else {
        out_push(s, none, 2);
        return fail(s, SOCKS_E_NO_METHOD);
    }
    return SOCKS_EV_NONE;
}

static socks_event auth5_fail(socks_session *s, socks_error e)
{
    auth_status5(s, 0x01);
    return fail(s, e);
}

static socks_event auth5(socks_session *s)
{
    const uint8_t *b = s->buf;
    size_t len = s->buf_len;
    uint8_t c = b[len - 1];
    if (b[0] != 1)
        return auth5_fail(s, SOCKS_E_AUTH_VERSION);
    if (len == 2 && b[1] == 0)
        return auth5_fail(s, SOCKS_E_AUTH_EMPTY);
    if (len <= 2)
        return SOCKS_EV_NONE;
    size_t ulen = b[1];
    /* UNAME bytes are b[2 .. 2+ulen), PLEN is b[2+ulen], PASSWD follows */
    if (len <= 2 + ulen)
        return c == 0 ? auth5_fail(s, SOCKS_E_MALFORMED) : SOCKS_EV_NONE;
    size_t plen = b[2 + ulen];
    if (len == 3 + ulen && plen != 0)
        return SOCKS_EV_NONE;
    if (len > 3 + ulen && c == 0)
        return auth5_fail(s, SOCKS_E_MALFORMED);
    if (len < 3 + ulen + plen)
        return SOCKS_EV_NONE;
    memcpy(s->user, b + 2, ulen);
    s->user[ulen] = '\0';
    s->user_len = ulen;
    memcpy(s->pass, b + 3 + ulen, plen);
    s->pass[plen] = '\0';
    s->pass_len = plen;
    s->has_password = true;
    socks_zero(s->buf, sizeof s->buf);
    s->buf_len = 0;
    s->state = ST5_AUTH_WAIT;
    return SOCKS_EV_AUTH;
}

/* The bytes a SOCKS5 request needs given its first bytes, or 0 while unknown. */
static size_t req5_need(const uint8_t *b, size_t len)
{
    if (len < 4)
        return 0;
    switch (b[3]) {
    case SOCKS_ADDR_IPV4:
        return 4 + 4 + 2;
    case SOCKS_ADDR_IPV6:
        return 4 + 16 + 2;
    default: /* SOCKS_ADDR_NAME, checked by the caller */
        return len < 5 ? 0 : 5 + (size_t)b[4] + 2;
    }
}

static void target_ip(socks_target *t, int af, const uint8_t *ip, size_t iplen)
{
    memcpy(t->ip, ip, iplen);
    inet_ntop(af, ip, t->host, sizeof t->host);
    t->host_len = strlen(t->host);
}

static socks_event req5_done(socks_session *s, size_t need)
{
    const uint8_t *b = s->buf;
    socks_target *t = &s->target;
    memset(t, 0, sizeof *t);
    t->atyp = (socks_atyp)b[3];
    t->port = (uint16_t)(b[need - 2] << 8 | b[need - 1]);
    if (t->port == 0)
        return fail_req(s, SOCKS_E_MALFORMED, SOCKS_REP_GENERAL_FAILURE);
    if (t->atyp == SOCKS_ADDR_IPV4) {
        target_ip(t, AF_INET, b + 4, 4);
    } else if (t->atyp == SOCKS_ADDR_IPV6) {
        target_ip(t, AF_INET6, b + 4, 16);
    } else {
        memcpy(t->host, b + 5, b[4]);
        t->host[b[4]] = '\0';
        t->host_len = b[4];
    }
    s->buf_len = 0;
    s->state = ST_REQ_WAIT;
    return SOCKS_EV_REQUEST;
}

static socks_event req5(socks_session *s)
{
    const uint8_t *b = s->buf;
    size_t len = s->buf_len;
    if (b[0] != 5)
        return fail_req(s, SOCKS_E_MALFORMED, SOCKS_REP_GENERAL_FAILURE);
    if (len == 2 && b[1] != 1)
        return fail_req(s, SOCKS_E_COMMAND, SOCKS_REP_COMMAND_NOT_SUPPORTED);
    if (len == 3 && b[2] != 0)
        return fail_req(s, SOCKS_E_MALFORMED, SOCKS_REP_GENERAL_FAILURE);
    if (len == 4 && b[3] != SOCKS_ADDR_IPV4 && b[3] != SOCKS_ADDR_NAME && b[3] != SOCKS_ADDR_IPV6)
        return fail_req(s, SOCKS_E_ATYP, SOCKS_REP_ATYP_NOT_SUPPORTED);
    if (len >= 5 && b[3] == SOCKS_ADDR_NAME) {
        size_t nlen = b[4];
        if (nlen == 0 || (len > 5 && len <= 5 + nlen && b[len - 1] == 0))
            return fail_req(s, SOCKS_E_MALFORMED, SOCKS_REP_GENERAL_FAILURE);
    }
    size_t need = req5_need(b, len);
    if (need == 0 || len < need)
        return SOCKS_EV_NONE;
    return req5_done(s, need);
}

/* --- SOCKS4 / SOCKS4a --------------------------------------------------------------------------
 */

static socks_event msg4_done(socks_session *s, size_t host_end)
{
    const uint8_t *b = s->buf;
    socks_target *t = &s->target;
    size_t uid_len = s->mark - SOCKS4_FIXED;
    const uint8_t *uid = b + SOCKS4_FIXED;
    const uint8_t *colon = memchr(uid, ':', uid_len);
    size_t ulen = colon ? (size_t)(colon - uid) : uid_len;
    memcpy(s->user, uid, ulen);
    s->user[ulen] = '\0';
    s->user_len = ulen;
    if (colon) {
        s->pass_len = uid_len - ulen - 1;
        memcpy(s->pass, colon + 1, s->pass_len);
        s->pass[s->pass_len] = '\0';
        s->has_password = true;
    }
    memset(t, 0, sizeof *t);
    t->port = (uint16_t)(b[2] << 8 | b[3]);
    if (s->socks4a) {
        size_t hlen = host_end - (s->mark + 1);
        t->atyp = SOCKS_ADDR_NAME;
        memcpy(t->host, b + s->mark + 1, hlen);
        t->host[hlen] = '\0';
        t->host_len = hlen;
    } else {
        t->atyp = SOCKS_ADDR_IPV4;
        target_ip(t, AF_INET, b + 4, 4);
    }
    socks_zero(s->buf, sizeof s->buf);
    s->buf_len = 0;
    s->state = ST4_AUTH_WAIT;
    return SOCKS_EV_AUTH;
}

static socks_event msg4(socks_session *s)
{
    const uint8_t *b = s->buf;
    size_t len = s->buf_len;
    uint8_t c = b[len - 1];
    if (len == 2 && b[1] != 1)
        return fail_req(s, SOCKS_E_COMMAND, 0);
    if (len < SOCKS4_FIXED)
        return SOCKS_EV_NONE;
    if (len == SOCKS4_FIXED) {
        s->socks4a = b[4] == 0 && b[5] == 0 && b[6] == 0 && b[7] != 0;
        if (b[2] == 0 && b[3] == 0)
            return fail_req(s, SOCKS_E_MALFORMED, 0);
        if (!s->socks4a && !s->conf.allow_socks4)
            return fail_req(s, SOCKS_E_SOCKS4_DISABLED, 0);
        return SOCKS_EV_NONE;
    }
    if (s->mark == 0) { /* in USERID */
        if (c == 0) {
            s->mark = (uint16_t)(len - 1);
            return s->socks4a ? SOCKS_EV_NONE : msg4_done(s, 0);
        }
        if (len - SOCKS4_FIXED > 255)
            return fail_req(s, SOCKS_E_TOO_LONG, 0);
        return SOCKS_EV_NONE;
    }
    size_t hlen = len - 1 - (s->mark + 1u); /* host bytes before c */
    if (c == 0)
        return hlen == 0 ? fail_req(s, SOCKS_E_MALFORMED, 0) : msg4_done(s, len - 1);
    if (hlen + 1 > 255)
        return fail_req(s, SOCKS_E_TOO_LONG, 0);
    return SOCKS_EV_NONE;
}

/* --- the driver --------------------------------------------------------------------------------
 */

static socks_event step(socks_session *s, uint8_t c)
{
    if (s->buf_len >= sizeof s->buf) /* unreachable: each stage bounds its message */
        return fail(s, SOCKS_E_TOO_LONG);
    s->buf[s->buf_len++] = c;
    switch (s->state) {
    case ST_START:
        if (c != 4 && c != 5)
            return fail(s, SOCKS_E_VERSION);
        s->version = c;
        s->state = c == 5 ? ST5_GREET : ST4_MSG;
        return SOCKS_EV_NONE;
    case ST5_GREET:
        return greet5(s);
    case ST5_AUTH:
        return auth5(s);
    case ST5_REQ:
        return req5(s);
    case ST4_MSG:
        return msg4(s);
    default:
        return fail(s, SOCKS_E_STATE);
    }
}

void socks_init(socks_session *s, const socks_conf *conf)
{
    memset(s, 0, sizeof *s);
    if (conf)
        s->conf = *conf;
    s->state = ST_START;
}

size_t socks_feed(socks_session *s, const uint8_t *p, size_t n, socks_event *ev)
{
    size_t used = 0;
    *ev = SOCKS_EV_NONE;
    switch (s->state) {
    case ST_FAILED:
        *ev = SOCKS_EV_FAILED;
        return 0;
    case ST_DONE:
        return 0;
    case ST4_REQ_READY:
        s->state = ST_REQ_WAIT;
        *ev = SOCKS_EV_REQUEST;
        return 0;
    case ST5_AUTH_WAIT:
    case ST4_AUTH_WAIT:
    case ST_REQ_WAIT:
        *ev = fail(s, SOCKS_E_STATE);
        return 0;
    default:
        break;
    }
    while (used < n) {
        socks_event e = step(s, p[used++]);
        if (e != SOCKS_EV_NONE) {
            *ev = e;
            break;
        }
    }
    return used;
}

void socks_auth_result(socks_session *s, bool ok)
{
    socks_zero(s->pass, sizeof s->pass);
    s->pass_len = 0;
    if (s->state == ST5_AUTH_WAIT) {
        auth_status5(s, ok ? 0x00 : 0x01);
        if (!ok) {
            fail(s, SOCKS_E_AUTH_FAILED);
            return;
        }
        s->buf_len = 0;
        s->state = ST5_REQ;
    } else if (s->state == ST4_AUTH_WAIT) {
        if (!ok) {
            reply4(s, 91, NULL, 0);
            fail(s, SOCKS_E_AUTH_FAILED);
            return;
        }
        s->state = ST4_REQ_READY;
    } else {
        fail(s, SOCKS_E_STATE);
    }
}

void socks_reply(socks_session *s, socks_rep rep, const uint8_t bound4[4], uint16_t bound_port)
{
    if (s->state != ST_REQ_WAIT) {
        fail(s, SOCKS_E_STATE);
        return;
    }
    if (s->version == 5)
        reply5(s, (uint8_t)rep, bound4, bound4 ? bound_port : 0);
    else
        reply4(s, rep == SOCKS_REP_SUCCEEDED ? 90 : 91, bound4, bound4 ? bound_port : 0);
    if (rep == SOCKS_REP_SUCCEEDED)
        s->state = ST_DONE;
    else
        fail(s, SOCKS_OK);
}

size_t socks_output(const socks_session *s, const uint8_t **p)
{
    *p = s->out;
    return s->out_len;
}

void socks_output_clear(socks_session *s)
{
    s->out_len = 0;
}

void socks_wipe(socks_session *s)
{
    socks_zero(s->pass, sizeof s->pass);
    s->pass_len = 0;
    socks_zero(s->buf, sizeof s->buf);
    s->buf_len = 0;
}

const char *socks_strerror(socks_error e)
{
    switch (e) {
    case SOCKS_OK:
        return "ok";
    case SOCKS_E_VERSION:
        return "not a SOCKS4 or SOCKS5 client";
    case SOCKS_E_NO_METHOD:
        return "no acceptable SOCKS5 authentication method offered";
    case SOCKS_E_AUTH_VERSION:
        return "bad username/password sub-negotiation version";
    case SOCKS_E_AUTH_EMPTY:
        return "empty username";
    case SOCKS_E_AUTH_FAILED:
        return "authentication failed";
    case SOCKS_E_COMMAND:
        return "command not supported (only CONNECT)";
    case SOCKS_E_ATYP:
        return "address type not supported";
    case SOCKS_E_MALFORMED:
        return "malformed SOCKS message";
    case SOCKS_E_TOO_LONG:
        return "SOCKS4 user id or host name too long";
    case SOCKS_E_SOCKS4_DISABLED:
        return "plain SOCKS4 is disabled (use SOCKS4a or SOCKS5)";
    case SOCKS_E_STATE:
        return "SOCKS call out of order";
    }
    return "unknown SOCKS error";
}
