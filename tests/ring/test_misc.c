/* Timers, mailbox, hand-off between workers, adoption of an fd, and stop. */
#include "harness.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* --- timers ------------------------------------------------------------------------------ */

typedef struct ttest {
    ring_timer once, periodic, cancelled, moved;
    ring_worker *w;
    uint64_t t0;
    atomic_uint n_once, n_periodic, n_cancelled, n_moved;
    atomic_ullong at_once, at_moved;
} ttest;
static ttest T;

static void fire_once(ring_timer *t)
{
    atomic_fetch_add(&T.n_once, 1);
    atomic_store(&T.at_once, ring_now_ms(T.w) - T.t0);
}
static void fire_periodic(ring_timer *t)
{
    if (atomic_fetch_add(&T.n_periodic, 1) + 1 < 5)
        ring_timer_arm(T.w, t, 20); /* re-arm from its own callback */
}
static void fire_cancelled(ring_timer *t)
{
    atomic_fetch_add(&T.n_cancelled, 1);
}
static void fire_moved(ring_timer *t)
{
    atomic_fetch_add(&T.n_moved, 1);
    atomic_store(&T.at_moved, ring_now_ms(T.w) - T.t0);
}

static int arm_timers(ring_worker *w, void *arg)
{
    T.w = w;
    T.t0 = ring_now_ms(w);
    ring_timer_init(&T.once, fire_once);
    ring_timer_init(&T.periodic, fire_periodic);
    ring_timer_init(&T.cancelled, fire_cancelled);
    ring_timer_init(&T.moved, fire_moved);
    ring_timer_arm(w, &T.once, 50);
    ring_timer_arm(w, &T.periodic, 20);
    ring_timer_arm(w, &T.cancelled, 30);
    ring_timer_cancel(w, &T.cancelled);
    ring_timer_arm(w, &T.moved, 100);
    ring_timer_arm(w, &T.moved, 300); /* lazy re-arm to later: must not fire at 100 */
    return ring_timer_armed(&T.once) && !ring_timer_armed(&T.cancelled) ? 0 : -1;
}

Test(ring_misc, timers_fire_rearm_cancel, .timeout = 10)
{
    ring_config c = {.workers = 1, .files = 16, .tick_ms = 10};
    ring_t *r = start_ring(&c);
    cr_assert_eq(ring_call(ring_worker_at(r, 0), arm_timers, NULL), 0);
    usleep(200 * 1000);
    cr_assert_eq(atomic_load(&T.n_moved), 0, "lazily re-armed timer fired at its old deadline");
    usleep(400 * 1000);
    cr_assert_eq(atomic_load(&T.n_once), 1);
    cr_assert_geq(atomic_load(&T.at_once), 50);
    cr_assert_eq(atomic_load(&T.n_periodic), 5);
    cr_assert_eq(atomic_load(&T.n_cancelled), 0);
    cr_assert_eq(atomic_load(&T.n_moved), 1);
    cr_assert_geq(atomic_load(&T.at_moved), 300);
    ring_stats st;
    ring_stats_read(ring_worker_at(r, 0), &st);
    cr_assert_eq(st.timers_fired, 7);
    ring_stop(r);
    ring_destroy(r);
}

/* --- mailbox ----------------------------------------------------------------------------- */

static pthread_t worker_tid;
static unsigned delivered; /* touched on the worker thread only */
static atomic_uint wrong_thread;

static int note_thread(ring_worker *w, void *arg)
{
    worker_tid = pthread_self();
    return 0;
}
static void on_msg(ring_worker *w, ring_msg *m)
{
    if (!pthread_equal(pthread_self(), worker_tid))
        atomic_fetch_add(&wrong_thread, 1);
    delivered++;
    free(m);
}
static void *poster(void *arg)
{
    for (int i = 0; i < 5000; i++) {
        ring_msg *m = malloc(sizeof(*m));
        m->fn = on_msg;
        cr_assert_eq(ring_post(arg, m), 0);
    }
    return NULL;
}
static int read_delivered(ring_worker *w, void *arg)
{
    return (int)delivered;
}

Test(ring_misc, mailbox_from_other_threads, .timeout = 10)
{
    ring_config c = {.workers = 1, .files = 16};
    ring_t *r = start_ring(&c);
    ring_worker *w = ring_worker_at(r, 0);
    ring_call(w, note_thread, NULL);
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, poster, w);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    /* ring_call queues behind the posts: everything before it has run */
    cr_assert_eq(ring_call(w, read_delivered, NULL), 20000);
    cr_assert_eq(atomic_load(&wrong_thread), 0);
    ring_stop(r);
    ring_msg late = {.fn = on_msg};
    cr_assert_lt(ring_post(w, &late), 0, "posting to an exited worker must fail");
    ring_destroy(r);
}

/* --- hand-off: accepted on worker 0, served by worker 1 ----------------------------------- */

static ring_worker *handoff_to;
static void handoff_open(ring_conn *c)
{
    cr_assert_eq(ring_conn_handoff(c, handoff_to, &echo_cbs, NULL), 0);
}
static const ring_conn_cbs handoff_cbs = {.on_open = handoff_open};

Test(ring_misc, handoff_to_other_worker, .timeout = 15)
{
    ring_config sc = {.workers = 2, .files = 128};
    ring_config cc = {.workers = 1, .files = 128};
    ring_t *srv = start_ring(&sc), *cli = start_ring(&cc);
    handoff_to = ring_worker_at(srv, 1);
    listen_args la = {.len = sizeof(struct sockaddr_in), .cb = &handoff_cbs};
    struct sockaddr_in a = addr4("127.0.0.1", 0);
    memcpy(&la.addr, &a, sizeof(a));
    cr_assert_eq(ring_call(ring_worker_at(srv, 0), listen_on_worker, &la), 0);

    clients_args ca = {.dlen = sizeof(a), .n = 20, .bytes = 1 << 20};
    a = addr4("127.0.0.1", la.port);
    memcpy(&ca.dst, &a, sizeof(a));
    ca.plans = calloc(20, sizeof(client_plan));
    cr_assert_eq(ring_call(ring_worker_at(cli, 0), open_clients, &ca), 0);
    cr_assert(wait_count(&H.client_ok, 20, 10000), "ok %u bad %u", H.client_ok, H.client_bad);
    cr_assert(wait_count(&H.closed, 20, 5000));
    ring_stats s0, s1;
    ring_stats_read(ring_worker_at(srv, 0), &s0);
    ring_stats_read(ring_worker_at(srv, 1), &s1);
    cr_assert_eq(s0.accepts, 20);
    cr_assert_eq(s1.adopts, 20);
    cr_assert_eq(s0.bytes_in, 0);
    cr_assert_eq(s1.bytes_in, 20u << 20);
    cr_assert_eq(H.double_close, 0);
    ring_stop(cli);
    ring_stop(srv);
    ring_destroy(cli);
    ring_destroy(srv);
    free(ca.plans);
}

/* --- adopt an fd; stop closes connections and listeners --------------------------------- */

static int adopt_fd(ring_worker *w, void *arg)
{
    return ring_adopt_fd(w, *(int *)arg, &echo_cbs, NULL);
}

Test(ring_misc, adopt_fd_then_stop, .timeout = 15)
{
    ring_config c = {.workers = 1, .files = 16};
    ring_t *r = start_ring(&c);
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = addr4("127.0.0.1", 0);
    socklen_t sl = sizeof(a);
    bind(lfd, (struct sockaddr *)&a, sizeof(a));
    listen(lfd, 4);
    getsockname(lfd, (struct sockaddr *)&a, &sl);
    int cfd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_eq(connect(cfd, (struct sockaddr *)&a, sizeof(a)), 0);
    int sfd = accept(lfd, NULL, NULL);
    cr_assert_eq(ring_call(ring_worker_at(r, 0), adopt_fd, &sfd), 0);

    char buf[6] = {0};
    cr_assert_eq(write(cfd, "hello", 5), 5);
    cr_assert_eq(recv(cfd, buf, 5, MSG_WAITALL), 5);
    cr_assert_str_eq(buf, "hello");
    ring_stats st;
    ring_stats_read(ring_worker_at(r, 0), &st);
    cr_assert_eq(st.adopts, 1);

    /* also a ring listener, to see stop cancel it */
    listen_args la = {.len = sizeof(a)};
    struct sockaddr_in la4 = addr4("127.0.0.1", 0);
    memcpy(&la.addr, &la4, sizeof(la4));
    cr_assert_eq(ring_call(ring_worker_at(r, 0), listen_on_worker, &la), 0);

    /* default on_stop: graceful close of every connection, then the thread exits */
    ring_worker_stop(ring_worker_at(r, 0));
    cr_assert_eq(read(cfd, buf, 1), 0, "client must see FIN after stop");
    close(cfd); /* our FIN ends the server's lingering close */
    ring_join(r);
    cr_assert_eq(atomic_load(&H.closed), 1);
    int probe = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in pa = addr4("127.0.0.1", la.port);
    cr_assert_lt(connect(probe, (struct sockaddr *)&pa, sizeof(pa)), 0, "listener still open");
    close(probe);
    close(lfd);
    ring_destroy(r);
}
