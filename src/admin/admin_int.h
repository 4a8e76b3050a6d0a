/* admin_int.h - what the admin thread's files share (admin.c: loop and connections; handler.c:
 * requests and responses; query.c: questions to workers; stream.c: the event stream). */
#ifndef MPSD_ADMIN_INT_H
#define MPSD_ADMIN_INT_H

#include "abuf.h"
#include "admin.h"
#include "devinfo.h"
#include "events.h"
#include "mpsd.h"
#include "route.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define ADMIN_MAX_LISTEN     CONFIG_MAX_LISTEN
#define ADMIN_OUT_LIMIT      (4u << 20) /* bytes queued toward one client (a slow SSE reader) */
#define ADMIN_EVENT_TICK_MS  100        /* events reach streams within this */
#define ADMIN_HEARTBEAT_MS   15000      /* SSE comment so that proxies keep the stream */
#define ADMIN_HISTORY        1024       /* events kept for Last-Event-ID resumption */
#define ADMIN_QUERY_DEADLINE 5000       /* ms a worker has to answer a device question */

struct wquery;

struct aconn {
    struct aconn *prev, *next;
    struct admin *a;
    int fd;
    netaddr peer_addr;
    char peer[NETADDR_STRLEN];
    struct tls_conn *tls;
    uint8_t in[16384];
    size_t in_len;
    bool overflow; /* more than `in` holds arrived before a head completed */
    struct abuf out;
    uint64_t deadline_ms; /* a complete request by then (reset after each response) */
    bool close_after_write;
    bool sse;
    /* parked on a worker query */
    struct wquery *q;
    uint64_t q_deadline;
    struct admin_request req;
};

struct admin {
    struct mpsd *m;
    int lfd[ADMIN_MAX_LISTEN];
    unsigned nl;
    int efd; /* workers signal answered queries; admin_stop wakes the loop */
    pthread_t th;
    bool started;
    _Atomic bool stop;
    struct tls_ctx *tls; /* HTTPS when set */
    struct aconn *conns;
    unsigned nconns;
    uint64_t refused;
    _Atomic(const char *) not_ready;
    /* the API token: argon2id in the config; a keyed digest of the accepted one is kept so that
     * argon2 runs once per token, not once per request */
    bool token_set;
    bool token_cached;
    uint8_t token_key[32], token_digest[32];
    uint64_t fail_window_ms;
    unsigned fails; /* argon2 runs for wrong tokens in the current second */
    /* event stream */
    unsigned sse;
    uint64_t next_event_id;
    uint64_t last_heartbeat_ms;
    struct admin_event *drain; /* scratch for event_bus_drain */
    struct admin_event *history;
    uint64_t history_first_id; /* id of history[head] */
    unsigned history_len, history_head;
    uint64_t dropped_seen;
};

uint64_t admin_now_ms(void);
bool aconn_send(struct aconn *c, const void *p, size_t n);

/* handler.c */
void admin_handle_input(struct admin *a, struct aconn *c);
/* The parked request's query finished (or timed out): answer it. */
void admin_complete(struct admin *a, struct aconn *c, bool timed_out);
int admin_token_init(struct admin *a, char *err, size_t cap);
bool admin_render_metrics(struct admin *a, struct abuf *out);
/* A response: status line, Content-Type, Content-Length, Cache-Control: no-store, Connection,
 * extra header lines ("Name: value\r\n"...), body. HEAD requests get no body. */
void admin_respond(struct aconn *c, int status, const char *ctype, const char *extra,
                   const char *body, size_t blen);

/* query.c */
enum wq_kind { WQ_PING, WQ_LIST, WQ_GET, WQ_DELETE, WQ_HEXDUMP_ON, WQ_HEXDUMP_OFF };
struct wquery *admin_query_new(struct admin *a, enum wq_kind kind, unsigned worker,
                               const struct admin_request *req, uint64_t conn_id, uint64_t serial);
bool admin_query_done(const struct wquery *q);
void admin_query_unref(struct wquery *q);
/* Results: pings answered per worker; list entries merged; one device's rc and info. */
bool admin_query_worker_answered(const struct wquery *q, unsigned worker);
size_t admin_query_list(struct wquery *q, struct dev_info **out, bool *more);
int admin_query_result(const struct wquery *q, struct dev_info *out);

/* stream.c */
int admin_events_init(struct admin *a);
void admin_events_free(struct admin *a);
void admin_events_start(struct admin *a, struct aconn *c);
void admin_events_tick(struct admin *a, uint64_t now);
void admin_events_shutdown(struct admin *a);

#endif
