/*
 * relay.c - --relay: each channel the MPS opens becomes a TCP connection to a local target, on
 * the device's worker.
 *
 * Bounds, both ways. MPS -> target: the target's send queue is capped at the window we grant, and
 * credit goes back to the MPS only for what that queue accepted; the rest (at most one window,
 * since the MPS may not send beyond it) waits in `pend`. Target -> MPS: what the channel does not
 * take (its queue is full because the MPS' window is shut) waits in `back`, at most one receive,
 * and reading from the target pauses until the channel drains.
 */
#include <stdlib.h>
#include <string.h>

#include "sim.h"

struct relay {
    struct simdev *sd; /* NULL once the channel is gone */
    uint32_t id;
    ring_conn *c;
    uint8_t *pend, *back;
    uint32_t pend_len, back_len;
    bool eof;
};

static struct relay *find(struct simdev *sd, uint32_t id)
{
    return sd->relays && id < sd->dev.o->max_channels ? sd->relays[id] : NULL;
}

static void detach(struct relay *r)
{
    struct simdev *sd = r->sd;
    if (!sd)
        return;
    sd->relays[r->id] = NULL;
    r->sd = NULL;
    for (uint32_t i = 0; i < sd->dev.o->max_channels; i++)
        if (sd->relays[i])
            return;
    free(sd->relays);
    sd->relays = NULL;
}

static void relay_free(struct relay *r)
{
    detach(r);
    free(r->pend);
    free(r->back);
    free(r);
}

static bool append(uint8_t **buf, uint32_t *len, const uint8_t *p, size_t n)
{
    uint8_t *b = realloc(*buf, *len + n);
    if (!b)
        return false;
    memcpy(b + *len, p, n);
    *buf = b;
    *len += (uint32_t)n;
    return true;
}

static void take(uint8_t **buf, uint32_t *len, size_t k)
{
    *len -= (uint32_t)k;
    if (*len == 0) {
        free(*buf);
        *buf = NULL;
    } else {
        memmove(*buf, *buf + k, *len);
    }
}

/* Push what waits for the target; credit the MPS for what the target's queue took. */
static void push_pend(struct relay *r)
{
    if (!r->pend_len || !r->c)
        return;
    ssize_t k = ring_conn_send(r->c, r->pend, r->pend_len);
    if (k <= 0)
        return;
    take(&r->pend, &r->pend_len, (size_t)k);
    if (r->sd)
        sim_device_error(r->sd, dev_chan_consumed(&r->sd->dev, r->id, (size_t)k));
}

/* Push what waits for the MPS; resume reading the target when it is all out. */
static void push_back(struct relay *r)
{
    if (!r->sd)
        return;
    if (r->back_len) {
        ssize_t k = dev_chan_send(&r->sd->dev, r->id, r->back, r->back_len);
        if (k < 0)
            return;
        take(&r->back, &r->back_len, (size_t)k);
        if (r->back_len)
            return;
        if (r->c && !r->eof)
            ring_conn_resume_recv(r->c);
    }
    if (r->eof)
        sim_device_error(r->sd, dev_chan_close(&r->sd->dev, r->id));
}

static void r_open(ring_conn *c)
{
    struct relay *r = ring_conn_user(c);
    r->c = c;
    if (!r->sd) { /* the channel went away while we connected */
        ring_conn_close(c, RING_CLOSE_GRACEFUL);
        return;
    }
    uint32_t win = r->sd->dev.o->window;
    ring_conn_set_send_cap(c, win, win / 2);
    sim_device_error(r->sd, dev_chan_open_result(&r->sd->dev, r->id, true, 0));
}

static void r_data(ring_conn *c, const uint8_t *p, size_t n)
{
    struct relay *r = ring_conn_user(c);
    if (!r->sd)
        return;
    ssize_t k = r->back_len ? 0 : dev_chan_send(&r->sd->dev, r->id, p, n);
    if (k < 0) {
        ring_conn_close(c, RING_CLOSE_ABORT);
        return;
    }
    if ((size_t)k < n) {
        if (!append(&r->back, &r->back_len, p + k, n - (size_t)k)) {
            ring_conn_close(c, RING_CLOSE_ABORT);
            return;
        }
        ring_conn_pause_recv(c);
    }
}

static void r_writable(ring_conn *c)
{
    push_pend(ring_conn_user(c));
}

static void r_eof(ring_conn *c)
{
    struct relay *r = ring_conn_user(c);
    r->eof = true;
    push_back(r); /* closes the channel once everything got out */
}

static void r_close(ring_conn *c, int err)
{
    struct relay *r = ring_conn_user(c);
    (void)err;
    r->c = NULL;
    if (r->sd && !r->eof) {
        r->eof = true;
        push_back(r);
    }
    relay_free(r);
}

static void r_connect_fail(ring_worker *w, void *user, int err)
{
    struct relay *r = user;
    (void)w;
    (void)err;
    if (r->sd) {
        struct simdev *sd = r->sd;
        uint32_t id = r->id;
        detach(r);
        sim_device_error(sd, dev_chan_open_result(&sd->dev, id, false, APF_OPEN_CONNECT_FAILED));
    }
    relay_free(r);
}

static const ring_conn_cbs relay_cbs = {
    .on_open = r_open,
    .on_data = r_data,
    .on_eof = r_eof,
    .on_writable = r_writable,
    .on_close = r_close,
    .on_connect_fail = r_connect_fail,
};

int relay_open(struct simdev *sd, uint32_t id, uint32_t port)
{
    const struct sim_opts *o = sd->dev.o;
    (void)port; /* every port goes to the one target */
    if (!sd->relays && !(sd->relays = calloc(o->max_channels, sizeof(*sd->relays))))
        return APF_OPEN_RESOURCE_SHORTAGE;
    struct relay *r = calloc(1, sizeof(*r));
    if (!r)
        return APF_OPEN_RESOURCE_SHORTAGE; /* the table stays until the device ends */
    r->sd = sd;
    r->id = id;
    sd->relays[id] = r;
    int e = ring_connect(sd->w->rw, (const struct sockaddr *)&o->relay_addr.ss, o->relay_addr.len,
                         NULL, 0, &relay_cbs, r);
    if (e < 0) {
        relay_free(r);
        return APF_OPEN_CONNECT_FAILED;
    }
    return 0;
}

void relay_data(struct simdev *sd, uint32_t id, const uint8_t *p, size_t n)
{
    struct relay *r = find(sd, id);
    if (!r)
        return;
    size_t k = 0;
    if (!r->pend_len && r->c) {
        ssize_t s = ring_conn_send(r->c, p, n);
        k = s > 0 ? (size_t)s : 0;
    }
    if (k < n && !append(&r->pend, &r->pend_len, p + k, n - k)) {
        if (r->c)
            ring_conn_close(r->c, RING_CLOSE_ABORT);
        return;
    }
    if (k)
        sim_device_error(sd, dev_chan_consumed(&sd->dev, id, k));
}

void relay_writable(struct simdev *sd, uint32_t id)
{
    struct relay *r = find(sd, id);
    if (r)
        push_back(r);
}

void relay_closed(struct simdev *sd, uint32_t id)
{
    struct relay *r = find(sd, id);
    if (!r)
        return;
    detach(r);
    if (r->c)
        ring_conn_close(r->c, RING_CLOSE_GRACEFUL); /* flush what the target still gets */
    /* else: still connecting; r_open or r_connect_fail frees it */
}
