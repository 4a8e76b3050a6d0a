/* events.h - device and console events for /api/v1/events (server-sent events).
 *
 * Workers produce, the admin thread consumes: one single-producer single-consumer queue per
 * worker, fixed-size records, no locks and no allocation on the worker. Nothing is produced while
 * no client listens (one relaxed load per would-be event). A full queue drops the event and
 * counts it; the stream then tells its clients to re-list (event "resync"). */
#ifndef MPSD_ADMIN_EVENTS_H
#define MPSD_ADMIN_EVENTS_H

#include "guid.h"
#include "netaddr.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

enum admin_event_kind {
    EV_CONNECT,       /* a tunnel logged in and registered */
    EV_DISCONNECT,    /* a registered tunnel ended (reason) */
    EV_SUPERSEDE,     /* a new login of the same GUID replaced a live tunnel */
    EV_CONSOLE_OPEN,  /* a console channel to a device opened */
    EV_CONSOLE_CLOSE, /* it closed */
    EV__COUNT
};

struct admin_event {
    uint64_t ts_us;   /* CLOCK_REALTIME, microseconds (what clients see) */
    uint64_t mono_us; /* CLOCK_MONOTONIC, microseconds (orders events of different workers) */
    uint32_t order;   /* private: position in a drain */
    uint8_t kind;
    uint8_t proto; /* console: 0 socks5, 1 socks4, 2 http_connect, 3 http_forward */
    uint16_t port; /* console: the device port */
    guid guid;
    netaddr peer;       /* the device's address (console events: the console's) */
    const char *reason; /* static text: why a tunnel or session ended */
    char host[128];     /* the device's host name, sanitised, maybe "" */
    char user[64];      /* console user, or "" */
    uint64_t bytes_up, bytes_down;
};

struct event_bus;

struct event_bus *event_bus_new(unsigned workers, unsigned per_worker);
void event_bus_free(struct event_bus *b);
/* Whether anyone listens (workers skip building events otherwise). */
static inline bool event_bus_wanted(const struct event_bus *b);
/* [worker] Queues e on the worker's queue (ts_us is filled here). */
void event_bus_emit(struct event_bus *b, unsigned worker, struct admin_event *e);
/* [admin] Moves every queued event into out[0..cap) in time order; returns how many. */
unsigned event_bus_drain(struct event_bus *b, struct admin_event *out, unsigned cap);
/* [admin] Listener count and the dropped-event counter. */
void event_bus_set_listeners(struct event_bus *b, unsigned n);
uint64_t event_bus_dropped(const struct event_bus *b);
const char *admin_event_kind_name(enum admin_event_kind k);

/* --- inline -- */
struct event_bus_head {
    _Atomic unsigned listeners;
};
static inline bool event_bus_wanted(const struct event_bus *b)
{
    return b && atomic_load_explicit(&((const struct event_bus_head *)(const void *)b)->listeners,
                                     memory_order_relaxed) > 0;
}

#endif
