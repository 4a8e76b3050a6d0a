/* The admin thread: a poll(2) loop over the admin listeners, its connections and one eventfd on
 * which workers signal answered queries. Requests are parsed by route.c (sans-I/O) and answered
 * here; device questions go to the owning worker's mailbox (query.c) and the connection waits,
 * parked, until every asked worker answered or the deadline passed. */
#include "admin.h"
#include "admin_int.h"
#include "api.h"
#include "log.h"
#include "metrics.h"
#include "mpsd_build.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

uint64_t admin_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* --- connections ------------------------------------------------------------------------------ */

static size_t tls_out(void *user, const uint8_t *p, size_t n)
{
    struct aconn *c = user;
    return abuf_append(&c->out, p, n) ? n : 0;
}

static void tls_plain(void *user, const uint8_t *p, size_t n)
{
    struct aconn *c = user;
    if (c->in_len + n > sizeof(c->in)) {
        c->overflow = true;
        n = sizeof(c->in) - c->in_len;
    }
    memcpy(c->in + c->in_len, p, n);
    c->in_len += n;
}

/* Queues plaintext for the peer (encrypted first on HTTPS). */
bool aconn_send(struct aconn *c, const void *p, size_t n)
{
    if (!c->tls)
        return abuf_append(&c->out, p, n);
    return tls_conn_write(c->tls, p, n) == (long)n;
}

static void aconn_free(struct admin *a, struct aconn *c)
{
    if (c->q)
        admin_query_unref(c->q);
    if (c->sse) {
        a->sse--;
        event_bus_set_listeners(a->m->events, a->sse);
    }
    if (c->tls)
        tls_conn_free(c->tls);
    close(c->fd);
    abuf_free(&c->out);
    if (c->prev)
        c->prev->next = c->next;
    else
        a->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    a->nconns--;
    free(c);
}

static void do_accept(struct admin *a, int lfd)
{
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        netaddr peer;
        netaddr_from_sockaddr((struct sockaddr *)&ss, sl, &peer);
        char pname[NETADDR_STRLEN];
        netaddr_format(&peer, pname, sizeof(pname));
        if (a->nconns >= a->m->cfg.admin_max_connections) {
            static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: "
                                       "text/plain\r\nContent-Length: 42\r\nConnection: close\r\n"
                                       "\r\nadmin connection limit (max_connections)\n";
            if (!a->tls) {
                ssize_t w = send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL);
                (void)w;
            }
            close(fd);
            a->refused++;
            log_kv(LOG_WARN, LF(.peer = pname),
                   "admin: connection refused: max_connections (%u) reached",
                   a->m->cfg.admin_max_connections);
            continue;
        }
        struct aconn *c = calloc(1, sizeof(*c));
        if (!c) {
            close(fd);
            continue;
        }
        c->a = a;
        c->fd = fd;
        c->peer_addr = peer;
        memcpy(c->peer, pname, sizeof(pname));
        abuf_init(&c->out, ADMIN_OUT_LIMIT);
        c->deadline_ms = admin_now_ms() + a->m->cfg.admin_request_timeout_ms;
        if (a->tls) {
            struct tls_conn_io io = {.output = tls_out, .plaintext = tls_plain, .user = c};
            c->tls = tls_conn_new(a->tls, &io);
            if (!c->tls) {
                close(fd);
                free(c);
                continue;
            }
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c->next = a->conns;
        if (a->conns)
            a->conns->prev = c;
        a->conns = c;
        a->nconns++;
    }
}

/* Writes what is queued. false when the connection is done (error, or closing after the write). */
static bool flush(struct aconn *c)
{
    while (c->out.len) {
        ssize_t w = send(c->fd, c->out.p, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return true;
            return false;
        }
        abuf_consume(&c->out, (size_t)w);
    }
    if (c->out.failed)
        return false; /* an event stream outran its reader: closed rather than grow */
    return !c->close_after_write;
}

static bool do_read(struct admin *a, struct aconn *c)
{
    uint8_t buf[16384];
    for (;;) {
        ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n == 0)
            return false;
        if (n < 0)
            return errno == EAGAIN || errno == EINTR;
        if (c->sse || c->close_after_write)
            continue; /* nothing more is read on a stream or a closing connection */
        if (c->tls) {
            int rc = tls_conn_feed(c->tls, buf, (size_t)n);
            if (rc != 0 && rc != TLS_E_WANT_WRITE) {
                if (rc != TLS_E_CLOSED)
                    log_kv(LOG_WARN, LF(.peer = c->peer), "admin: TLS failed: %s",
                           tls_conn_error(c->tls));
                return false;
            }
        } else {
            size_t take = (size_t)n;
            if (c->in_len + take > sizeof(c->in)) {
                c->overflow = true;
                take = sizeof(c->in) - c->in_len;
            }
            memcpy(c->in + c->in_len, buf, take);
            c->in_len += take;
        }
        admin_handle_input(a, c);
        if (c->close_after_write)
            return true;
    }
}

/* --- the loop --------------------------------------------------------------------------------- */

static void check_parked(struct admin *a, uint64_t now)
{
    for (struct aconn *c = a->conns, *next; c; c = next) {
        next = c->next;
        if (!c->q)
            continue;
        if (admin_query_done(c->q))
            admin_complete(a, c, false);
        else if (now >= c->q_deadline)
            admin_complete(a, c, true);
    }
}

static int poll_timeout(struct admin *a, uint64_t now)
{
    uint64_t next = now + 60000;
    for (struct aconn *c = a->conns; c; c = c->next) {
        uint64_t d = c->q ? c->q_deadline : c->sse ? UINT64_MAX : c->deadline_ms;
        if (d < next)
            next = d;
    }
    if (a->sse && next > now + ADMIN_EVENT_TICK_MS)
        next = now + ADMIN_EVENT_TICK_MS;
    return next <= now ? 0 : (int)(next - now);
}

static void *admin_main(void *arg)
{
    struct admin *a = arg;
    struct pollfd *pfd =
        calloc(ADMIN_MAX_LISTEN + 1 + a->m->cfg.admin_max_connections + 1, sizeof(*pfd));
    struct aconn **pc =
        calloc(a->m->cfg.admin_max_connections + 1, sizeof(*pc)); /* pfd index -> conn */
    if (!pfd || !pc) {
        free(pfd);
        free(pc);
        return NULL;
    }
    while (!atomic_load(&a->stop)) {
        unsigned n = 0;
        pfd[n++] = (struct pollfd){.fd = a->efd, .events = POLLIN};
        for (unsigned i = 0; i < a->nl; i++)
            pfd[n++] = (struct pollfd){.fd = a->lfd[i], .events = POLLIN};
        unsigned first = n, k = 0;
        for (struct aconn *c = a->conns; c; c = c->next) {
            short ev = POLLIN;
            if (c->out.len)
                ev |= POLLOUT;
            pc[k++] = c;
            pfd[n++] = (struct pollfd){.fd = c->fd, .events = ev};
        }
        uint64_t now = admin_now_ms();
        int rc = poll(pfd, n, poll_timeout(a, now));
        if (rc < 0 && errno != EINTR)
            break;
        now = admin_now_ms();
        if (pfd[0].revents & POLLIN) {
            uint64_t v;
            ssize_t r = read(a->efd, &v, sizeof(v));
            (void)r;
        }
        /* connections first: their indices are only valid until one is freed or accepted */
        for (unsigned i = 0; i < k; i++) {
            struct aconn *c = pc[i];
            short re = pfd[first + i].revents;
            bool ok = true;
            if (re & (POLLIN | POLLHUP | POLLERR))
                ok = do_read(a, c);
            if (ok && (c->out.len || c->close_after_write))
                ok = flush(c);
            if (!ok)
                aconn_free(a, c);
        }
        for (unsigned i = 0; i < a->nl; i++)
            if (pfd[1 + i].revents & POLLIN)
                do_accept(a, a->lfd[i]);
        check_parked(a, now);
        if (a->sse)
            admin_events_tick(a, now);
        for (struct aconn *c = a->conns, *next; c; c = next) {
            next = c->next;
            bool keep = true;
            if (!c->q && !c->sse && now >= c->deadline_ms) {
                if (c->in_len)
                    log_kv(LOG_WARN, LF(.peer = c->peer),
                           "admin: no complete request within %ums: closed",
                           a->m->cfg.admin_request_timeout_ms);
                keep = false;
            }
            if (keep && c->out.len)
                keep = flush(c);
            else if (keep && c->close_after_write)
                keep = false;
            if (!keep)
                aconn_free(a, c);
        }
    }
    admin_events_shutdown(a);
    for (struct aconn *c = a->conns; c; c = a->conns) {
        flush(c);
        aconn_free(a, c);
    }
    free(pfd);
    free(pc);
    return NULL;
}

/* --- start and stop --------------------------------------------------------------------------- */

static int bind_one(const struct config_listen *l, char *err, size_t cap)
{
    struct sockaddr_storage ss;
    socklen_t len;
    memset(&ss, 0, sizeof(ss));
    if (strchr(l->host, ':')) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(l->port);
        inet_pton(AF_INET6, l->host, &s6->sin6_addr);
        len = sizeof(*s6);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons(l->port);
        inet_pton(AF_INET, l->host, &s4->sin_addr);
        len = sizeof(*s4);
    }
    char name[80];
    config_listen_format(l, name, sizeof(name));
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd < 0 || bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 128) != 0) {
        snprintf(err, cap, "cannot listen on %s for the admin API: %s", name, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

int admin_start(struct mpsd *m, struct admin **out, char *err, size_t cap)
{
    *out = NULL;
    const struct config *cfg = &m->cfg;
    if (!cfg->n_admin_listen)
        return 0;
    struct admin *a = calloc(1, sizeof(*a));
    if (!a) {
        snprintf(err, cap, "out of memory");
        return -1;
    }
    a->m = m;
    a->efd = -1;
    atomic_store(&a->not_ready, "starting: listeners not bound yet");
    if (admin_token_init(a, err, cap) != 0)
        goto fail;
    if (cfg->admin_cert[0]) {
        struct tls_server_config tc = {.cert_file = cfg->admin_cert,
                                       .key_file = cfg->admin_key,
                                       .profile = TLS_PROFILE_MODERN};
        char terr[512];
        if (tls_ctx_server_new(&tc, &a->tls, terr, sizeof(terr)) != 0) {
            snprintf(err, cap, "admin HTTPS: %s", terr);
            goto fail;
        }
    }
    for (unsigned i = 0; i < cfg->n_admin_listen && i < ADMIN_MAX_LISTEN; i++) {
        int fd = bind_one(&cfg->admin_listen[i], err, cap);
        if (fd < 0)
            goto fail;
        a->lfd[a->nl++] = fd;
    }
    a->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (a->efd < 0) {
        snprintf(err, cap, "eventfd: %s", strerror(errno));
        goto fail;
    }
    if (admin_events_init(a) != 0) {
        snprintf(err, cap, "out of memory (event history)");
        goto fail;
    }
    if (pthread_create(&a->th, NULL, admin_main, a) != 0) {
        snprintf(err, cap, "cannot start the admin thread");
        goto fail;
    }
    a->started = true;
    for (unsigned i = 0; i < a->nl; i++) {
        char name[80];
        config_listen_format(&cfg->admin_listen[i], name, sizeof(name));
        log_info("listening on %s for the admin API (%s: /metrics, /healthz, /readyz, "
                 "/api/v1/devices, /api/v1/events)",
                 name, a->tls ? "HTTPS" : "HTTP");
    }
    *out = a;
    return 0;
fail:
    admin_stop(a);
    return -1;
}

void admin_stop(struct admin *a)
{
    if (!a)
        return;
    if (a->started) {
        atomic_store(&a->stop, true);
        uint64_t one = 1;
        ssize_t w = write(a->efd, &one, sizeof(one));
        (void)w;
        pthread_join(a->th, NULL);
    }
    for (unsigned i = 0; i < a->nl; i++)
        close(a->lfd[i]);
    if (a->efd >= 0)
        close(a->efd);
    admin_events_free(a);
    if (a->tls)
        tls_ctx_unref(a->tls);
    free(a);
}

void admin_set_not_ready(struct admin *a, const char *why)
{
    if (a)
        atomic_store(&a->not_ready, why);
}

/* --- metrics ---------------------------------------------------------------------------------- */

bool admin_render_metrics(struct admin *a, struct abuf *out)
{
    struct mpsd *m = a->m;
    struct stats_snapshot sum = {0};
    ring_stats rings[256];
    unsigned nw = m->nworkers < 256 ? m->nworkers : 256;
    for (unsigned i = 0; i < nw; i++) {
        stats_accumulate(&m->workers[i].stats, &sum);
        ring_stats_read(m->workers[i].w, &rings[i]);
    }
    struct metrics_src src = {
        .sum = &sum,
        .nworkers = nw,
        .rings = rings,
        .directory_entries = dir_count(m->directory),
        .auth_queue = jobpool_pending(m->auth_pool),
        .log_lines_dropped = log_dropped(),
        .events_dropped = event_bus_dropped(m->events),
        .sse_clients = a->sse,
        .draining = atomic_load(&m->draining),
        .version = MPSD_VERSION,
        .wolfssl_version = wolfSSL_lib_version(),
#ifdef WOLFSSL_AESNI
        .aesni = true,
#endif
    };
    if (m->tls) {
        struct tls_ctx *ctx = tls_ctx_slot_get(m->tls);
        tls_ctx_census(ctx, &src.census);
        tls_ctx_unref(ctx);
        src.has_census = true;
    }
    metrics_read_process(&src.process);
    return metrics_render(&src, out);
}
