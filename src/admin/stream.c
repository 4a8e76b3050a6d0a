/* /api/v1/events: server-sent events (text/event-stream). The admin loop drains the workers' event
 * queues every ADMIN_EVENT_TICK_MS while a stream is open, numbers the events (id:), keeps the last
 * ADMIN_HISTORY for clients that reconnect with Last-Event-ID, and writes each frame to every
 * stream. A stream whose reader falls ADMIN_OUT_LIMIT bytes behind is closed (it reconnects and
 * resumes from its last id, or is told to resync). */
#include "admin_int.h"
#include "api.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

#define DRAIN_MAX 4096

int admin_events_init(struct admin *a)
{
    a->drain = calloc(DRAIN_MAX, sizeof(*a->drain));
    a->history = calloc(ADMIN_HISTORY, sizeof(*a->history));
    a->next_event_id = 1;
    a->history_first_id = 1;
    return a->drain && a->history ? 0 : -1;
}

void admin_events_free(struct admin *a)
{
    free(a->drain);
    free(a->history);
}

static void remember(struct admin *a, const struct admin_event *e)
{
    if (a->history_len < ADMIN_HISTORY) {
        a->history[(a->history_head + a->history_len) % ADMIN_HISTORY] = *e;
        a->history_len++;
    } else {
        a->history[a->history_head] = *e;
        a->history_head = (a->history_head + 1) % ADMIN_HISTORY;
        a->history_first_id++;
    }
}

static void send_frame(struct aconn *c, uint64_t id, const struct admin_event *e)
{
    struct abuf f;
    abuf_init(&f, 0);
    if (api_event_frame(id, e, &f))
        aconn_send(c, f.p, f.len);
    abuf_free(&f);
}

void admin_events_start(struct admin *a, struct aconn *c)
{
    static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                               "Cache-Control: no-store\r\nX-Accel-Buffering: no\r\n"
                               "Connection: keep-alive\r\n\r\n"
                               ": mpsd device events\nretry: 2000\n\n";
    aconn_send(c, head, sizeof(head) - 1);
    c->sse = true;
    a->sse++;
    event_bus_set_listeners(a->m->events, a->sse);
    uint64_t last = c->req.last_event_id;
    if (last) {
        if (last + 1 >= a->history_first_id) {
            for (unsigned i = 0; i < a->history_len; i++) {
                uint64_t id = a->history_first_id + i;
                if (id > last)
                    send_frame(c, id, &a->history[(a->history_head + i) % ADMIN_HISTORY]);
            }
        } else {
            static const char resync[] =
                "event: resync\ndata: {\"reason\":\"events after the given Last-Event-ID are no "
                "longer kept; list /api/v1/devices again\"}\n\n";
            aconn_send(c, resync, sizeof(resync) - 1);
        }
    }
    log_kv(LOG_INFO, LF(.peer = c->peer), "admin: event stream opened (%u open)", a->sse);
}

void admin_events_tick(struct admin *a, uint64_t now)
{
    unsigned n = event_bus_drain(a->m->events, a->drain, DRAIN_MAX);
    for (unsigned i = 0; i < n; i++) {
        uint64_t id = a->next_event_id++;
        remember(a, &a->drain[i]);
        struct abuf f;
        abuf_init(&f, 0);
        if (!api_event_frame(id, &a->drain[i], &f)) {
            abuf_free(&f);
            continue;
        }
        for (struct aconn *c = a->conns; c; c = c->next)
            if (c->sse)
                aconn_send(c, f.p, f.len);
        abuf_free(&f);
    }
    uint64_t dropped = event_bus_dropped(a->m->events);
    if (dropped != a->dropped_seen) {
        char msg[160];
        int len = snprintf(msg, sizeof(msg),
                           "event: resync\ndata: {\"reason\":\"%llu events were lost (a full "
                           "queue); list /api/v1/devices again\"}\n\n",
                           (unsigned long long)(dropped - a->dropped_seen));
        a->dropped_seen = dropped;
        for (struct aconn *c = a->conns; c; c = c->next)
            if (c->sse)
                aconn_send(c, msg, (size_t)len);
    }
    if (now - a->last_heartbeat_ms >= ADMIN_HEARTBEAT_MS) {
        a->last_heartbeat_ms = now;
        for (struct aconn *c = a->conns; c; c = c->next)
            if (c->sse)
                aconn_send(c, ": keep-alive\n\n", 14);
    }
}

void admin_events_shutdown(struct admin *a)
{
    static const char bye[] = "event: shutdown\ndata: {\"reason\":\"mpsd is stopping\"}\n\n";
    for (struct aconn *c = a->conns; c; c = c->next)
        if (c->sse)
            aconn_send(c, bye, sizeof(bye) - 1);
}
