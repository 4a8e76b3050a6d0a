/* sol.c - the AMT redirection protocol and SOL line-echo terminal of a simulated device (see
 * sol.h for the messages). Bytes in, bytes out; the clock comes from the caller. */
#include "sol.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { S_START = 0, S_AUTH, S_READY, S_SOL };

struct sol {
    uint8_t state, failures;
    bool banner_due, last_cr;
    uint32_t hb_ms;     /* heartbeat interval */
    uint64_t banner_at; /* when the banner goes out */
    uint64_t hb_at;     /* next heartbeat (S_SOL) */
    uint32_t seq;       /* our outgoing sequence */
    uint32_t data_left; /* bytes of the current 0x28 still to come */
    uint32_t mlen;      /* bytes of the current message in msg */
    uint32_t line_len;
    char line[SOL_LINE_MAX];
    uint8_t msg[SOL_MSG_MAX];
};

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static int put(const struct svc_out *out, const uint8_t *p, size_t n)
{
    return out->write(out->arg, p, n) ? SVC_ERR : SVC_KEEP;
}

/* One 0x2A with p[0..n), n <= SOL_DATA_MAX. */
static int send_data(struct sol *s, const struct svc_out *out, const char *p, size_t n)
{
    uint8_t m[10 + SOL_DATA_MAX];
    m[0] = SOL_DATA_FROM_HOST;
    m[1] = m[2] = m[3] = 0;
    put32(m + 4, s->seq++);
    m[8] = (uint8_t)n;
    m[9] = (uint8_t)(n >> 8);
    memcpy(m + 10, p, n);
    return put(out, m, 10 + n);
}

static size_t prompt(const struct sol_cfg *c, char *o, size_t cap)
{
    int n = snprintf(o, cap, "%s> ", c->hostname);
    return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

static int banner(struct sol *s, const struct sol_cfg *c, const struct svc_out *out)
{
    char o[SOL_DATA_MAX];
    int n = snprintf(o, sizeof(o), "amtsim SOL %s %s\r\n", c->hostname, c->uuid);
    size_t k = n < 0 ? 0 : (size_t)n < sizeof(o) ? (size_t)n : sizeof(o) - 1;
    k += prompt(c, o + k, sizeof(o) - k);
    s->banner_due = false;
    return send_data(s, out, o, k);
}

static int auth_reply(const struct svc_out *out, uint8_t status, uint8_t type, const uint8_t *d,
                      size_t n)
{
    uint8_t m[9 + 512];
    m[0] = SOL_AUTHENTICATE_REPLY;
    m[1] = status;
    m[2] = m[3] = 0;
    m[4] = type;
    put32(m + 5, (uint32_t)n);
    if (n)
        memcpy(m + 9, d, n);
    return put(out, m, 9 + n);
}

/* Reads a 1-byte-length string at *p (bounded by e) into out (NUL-terminated, cap bytes). */
static bool lstr(const uint8_t **p, const uint8_t *e, char *out, size_t cap)
{
    if (*p >= e)
        return false;
    size_t n = **p;
    if ((size_t)(e - *p - 1) < n || n >= cap)
        return false;
    memcpy(out, *p + 1, n);
    out[n] = 0;
    *p += 1 + n;
    return true;
}

static bool eq_ct(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned d = la != lb;
    for (size_t i = 0; i < la && i < lb; i++)
        d |= (unsigned)(a[i] ^ b[i]);
    return d == 0;
}

static int challenge(const struct sol_cfg *c, const struct svc_out *out)
{
    uint8_t d[128];
    char nonce[DIGEST_NONCE_LEN + 1];
    digest_nonce(c->auth, nonce);
    size_t rl = strlen(c->auth->realm), n = 0;
    d[n++] = (uint8_t)rl;
    memcpy(d + n, c->auth->realm, rl);
    n += rl;
    d[n++] = DIGEST_NONCE_LEN;
    memcpy(d + n, nonce, DIGEST_NONCE_LEN);
    n += DIGEST_NONCE_LEN;
    d[n++] = 4;
    memcpy(d + n, "auth", 4);
    n += 4;
    return auth_reply(out, 1, SOL_AUTH_DIGEST, d, n);
}

static int on_auth(struct sol *s, const struct sol_cfg *c, const struct svc_out *out)
{
    uint8_t type = s->msg[4];
    const uint8_t *p = s->msg + 9, *e = s->msg + s->mlen;
    bool ok = false;
    if (type == SOL_AUTH_QUERY) {
        static const uint8_t methods[] = {SOL_AUTH_USERPASS, SOL_AUTH_DIGEST};
        return auth_reply(out, 0, SOL_AUTH_QUERY, methods, sizeof(methods));
    } else if (type == SOL_AUTH_USERPASS) {
        char user[256], pass[256];
        ok = lstr(&p, e, user, sizeof(user)) && lstr(&p, e, pass, sizeof(pass)) && p == e &&
             eq_ct(user, c->auth->user) && eq_ct(pass, c->auth->password);
        memset(pass, 0, sizeof(pass));
    } else if (type == SOL_AUTH_DIGEST) {
        struct digest_fields f;
        memset(&f, 0, sizeof(f));
        bool parsed = lstr(&p, e, f.user, sizeof(f.user)) &&
                      lstr(&p, e, f.realm, sizeof(f.realm)) &&
                      lstr(&p, e, f.nonce, sizeof(f.nonce)) && lstr(&p, e, f.uri, sizeof(f.uri)) &&
                      lstr(&p, e, f.cnonce, sizeof(f.cnonce)) && lstr(&p, e, f.nc, sizeof(f.nc)) &&
                      lstr(&p, e, f.response, sizeof(f.response)) &&
                      lstr(&p, e, f.qop, sizeof(f.qop)) && p == e;
        if (parsed && (!f.realm[0] || !f.nonce[0]))
            return challenge(c, out); /* the first try asks for realm and nonce */
        ok = parsed && digest_check(c->auth, &f, "POST");
        if (!ok) {
            if (++s->failures >= SOL_MAX_FAILURES)
                return auth_reply(out, 1, type, NULL, 0) ? SVC_ERR : SVC_CLOSE;
            return challenge(c, out);
        }
    } else {
        return auth_reply(out, 2, type, NULL, 0); /* Kerberos and the rest: not supported */
    }
    if (ok) {
        s->state = S_READY;
        return auth_reply(out, 0, type, NULL, 0);
    }
    if (++s->failures >= SOL_MAX_FAILURES)
        return auth_reply(out, 1, type, NULL, 0) ? SVC_ERR : SVC_CLOSE;
    return auth_reply(out, 1, type, NULL, 0);
}

static int on_start_sol(struct sol *s, const struct svc_out *out, uint64_t now)
{
    const uint8_t *m = s->msg;
    uint32_t hb = (uint32_t)m[18] | (uint32_t)m[19] << 8;
    s->hb_ms = hb < 1000 ? 5000 : hb; /* 0 or silly: AMT's usual 5 s */
    uint8_t r[23] = {SOL_START_SOL_REPLY, 0, 0, 0, 0, 0, 0, 0, 1000 & 0xff, 1000 >> 8};
    memcpy(r + 10, m + 10, 10); /* the console's timeouts, echoed */
    s->state = S_SOL;
    s->banner_due = true;
    s->banner_at = now + SOL_BANNER_DELAY_MS;
    s->hb_at = now + s->hb_ms;
    s->line_len = 0;
    s->last_cr = false;
    return put(out, r, sizeof(r));
}

/* A whole non-data message is in s->msg. */
static int on_msg(struct sol *s, const struct sol_cfg *c, const struct svc_out *out, uint64_t now)
{
    uint8_t t = s->msg[0];
    if (t == SOL_END_REDIRECTION)
        return SVC_CLOSE;
    switch (s->state) {
    case S_START: {
        if (t != SOL_START_REDIRECTION)
            return SVC_CLOSE;
        bool sol = memcmp(s->msg + 4, "SOL ", 4) == 0;
        bool other = memcmp(s->msg + 4, "IDER", 4) == 0 || memcmp(s->msg + 4, "KVMR", 4) == 0;
        uint8_t r[13] = {SOL_START_REDIRECTION_REPLY, (uint8_t)(sol ? 0 : other ? 3 : 1), 0, 0, 1};
        if (put(out, r, sizeof(r)))
            return SVC_ERR;
        s->state = S_AUTH;
        return sol ? SVC_KEEP : SVC_CLOSE;
    }
    case S_AUTH:
        return t == SOL_AUTHENTICATE ? on_auth(s, c, out) : SVC_CLOSE;
    default:
        break;
    }
    switch (t) {
    case SOL_START_SOL:
        return s->state == S_READY ? on_start_sol(s, out, now) : SVC_CLOSE;
    case SOL_HEARTBEAT: /* amtterm echoes ours */
        return SVC_KEEP;
    case SOL_KEEPALIVE_PING: {
        uint8_t r[8];
        memcpy(r, s->msg, 8);
        r[0] = SOL_KEEPALIVE_PONG;
        return put(out, r, 8);
    }
    case SOL_END_SOL: {
        if (s->state != S_SOL)
            return SVC_CLOSE;
        uint8_t r[8] = {SOL_END_SOL_REPLY};
        put32(r + 4, s->seq++);
        s->state = S_READY;
        s->banner_due = false;
        return put(out, r, 8);
    }
    default:
        return SVC_CLOSE;
    }
}

/* The length of the message starting in s->msg (first mlen bytes known): 0 = not known yet,
 * -1 = a type we cannot frame. For 0x28: the 10-byte header. */
static long msg_len(const struct sol *s)
{
    switch (s->msg[0]) {
    case SOL_END_REDIRECTION:
        return 4;
    case SOL_START_REDIRECTION:
    case SOL_END_SOL:
    case SOL_KEEPALIVE_PING:
    case SOL_HEARTBEAT:
        return 8;
    case SOL_DATA_TO_HOST:
        return 10;
    case SOL_START_SOL:
        return 24;
    case SOL_AUTHENTICATE:
        if (s->mlen < 9)
            return 0;
        {
            uint32_t l = le32(s->msg + 5);
            return l > SOL_MSG_MAX - 9 ? -1 : (long)(9 + l);
        }
    default:
        return -1;
    }
}

/* Terminal input p[0..n) -> output; n is bounded so the output fits one message. */
static int terminal(struct sol *s, const struct sol_cfg *c, const struct svc_out *out,
                    const uint8_t *p, size_t n)
{
    char o[SOL_DATA_MAX];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t b = p[i];
        if (b == '\n' && s->last_cr) { /* CRLF: one line end */
            s->last_cr = false;
            continue;
        }
        s->last_cr = b == '\r';
        if (b == '\r' || b == '\n') {
            int w = snprintf(o + k, sizeof(o) - k, "\r\necho: %.*s\r\n", (int)s->line_len, s->line);
            k += w < 0 ? 0 : (size_t)w;
            k += prompt(c, o + k, sizeof(o) - k);
            s->line_len = 0;
        } else if (b == 0x7f || b == 0x08) {
            if (s->line_len) {
                s->line_len--;
                memcpy(o + k, "\b \b", 3);
                k += 3;
            }
        } else {
            if (s->line_len < SOL_LINE_MAX)
                s->line[s->line_len++] = (char)b;
            o[k++] = (char)b;
        }
    }
    return k ? send_data(s, out, o, k) : SVC_KEEP;
}

/* Worst output of one input byte: a line end with a full line and the prompt. */
#define LINE_END_MAX (SOL_LINE_MAX + 16 + 260)
#define SLICE_MAX    ((SOL_DATA_MAX - LINE_END_MAX) / 3)

int sol_feed(struct sol **stp, const uint8_t *p, size_t n, const struct sol_cfg *c,
             const struct svc_out *out, uint64_t now, size_t *used)
{
    struct sol *s = *stp;
    size_t done = 0;
    int r = SVC_KEEP;
    if (!s && n && !(s = *stp = calloc(1, sizeof(*s)))) {
        *used = 0;
        return SVC_ERR;
    }
    while (done < n && r == SVC_KEEP) {
        if (out->room(out->arg) < SOL_ROOM)
            break; /* the rest waits until our answers can go out */
        if (s->banner_due && s->state == S_SOL && (r = banner(s, c, out)) != SVC_KEEP)
            break; /* typed before the banner went out: banner first */
        if (s->data_left) {
            size_t k = n - done;
            k = k < s->data_left ? k : s->data_left;
            k = k < SLICE_MAX ? k : SLICE_MAX;
            r = terminal(s, c, out, p + done, k);
            s->data_left -= (uint32_t)k;
            done += k;
            continue;
        }
        s->msg[s->mlen++] = p[done++]; /* header bytes one by one: messages are small */
        long want = msg_len(s);
        if (want < 0) {
            r = SVC_CLOSE;
            break;
        }
        if (want == 0 || s->mlen < (uint32_t)want)
            continue;
        if (s->msg[0] == SOL_DATA_TO_HOST) {
            if (s->state != S_SOL) {
                r = SVC_CLOSE;
                break;
            }
            s->data_left = (uint32_t)s->msg[8] | (uint32_t)s->msg[9] << 8;
            s->mlen = 0;
            continue;
        }
        r = on_msg(s, c, out, now);
        s->mlen = 0;
    }
    *used = done;
    return r;
}

int sol_tick(struct sol *s, const struct sol_cfg *c, const struct svc_out *out, uint64_t now)
{
    if (!s || s->state != S_SOL)
        return SVC_KEEP;
    if (out->room(out->arg) < SOL_ROOM) { /* the window is shut: try again a beat later */
        if (s->banner_due && now >= s->banner_at)
            s->banner_at = now + SOL_BANNER_DELAY_MS;
        if (now >= s->hb_at)
            s->hb_at = now + s->hb_ms;
        return SVC_KEEP;
    }
    if (s->banner_due && now >= s->banner_at && banner(s, c, out))
        return SVC_ERR;
    if (now >= s->hb_at) {
        uint8_t m[8] = {SOL_HEARTBEAT};
        put32(m + 4, s->seq++);
        s->hb_at = now + s->hb_ms;
        if (put(out, m, 8))
            return SVC_ERR;
    }
    return SVC_KEEP;
}

uint64_t sol_next_timer(const struct sol *s)
{
    if (!s || s->state != S_SOL)
        return UINT64_MAX;
    return s->banner_due && s->banner_at < s->hb_at ? s->banner_at : s->hb_at;
}

void sol_free(struct sol **s)
{
    free(*s);
    *s = NULL;
}
