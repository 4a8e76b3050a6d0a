/*
 * amtsim - an Intel AMT device simulator for mpsd's tests and benchmarks: N devices dial an MPS
 * over TLS (CIRA) and speak APF as real firmware does. See docs/amtsim.md and --help.
 *
 * The main thread only parses the command line, starts the workers, prints progress and decides
 * when to stop; every device lives on a worker thread (sim.c).
 */
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "sim.h"

static volatile sig_atomic_t got_signal, got_mark;

static void on_signal(int sig)
{
    got_signal = sig;
}

/* SIGUSR1: a bench marks the start of the phase it measures (e.g. a hold after the connect
 * storm); the summary then also gives the keep-alive round trips since the mark. */
static void on_mark(int sig)
{
    (void)sig;
    got_mark = 1;
}

static uint64_t ka_at_mark[HIST_BUCKETS];
static bool marked;

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sum(struct sim *s, struct stats_sum *out)
{
    struct stats *blocks[OPTS_MAX_WORKERS];
    for (unsigned i = 0; i < s->nw; i++)
        blocks[i] = &s->w[i].st;
    stats_sum(blocks, s->nw, out);
}

static void print_progress(struct sim *s, double t)
{
    struct stats_sum ss;
    sum(s, &ss);
    printf("{\"t\":%.1f,", t);
    stats_print_counters(stdout, &ss);
    putchar(',');
    stats_print_reasons(stdout, &ss); /* why devices ended so far: a failure names its cause */
    printf("}\n");
    fflush(stdout);
}

static void print_num(const char *name, double v)
{
    if (v < 0)
        printf(",\"%s\":null", name);
    else
        printf(",\"%s\":%.3f", name, v);
}

/* A quantile (a bucket middle, ~3 % off) never printed above the exact maximum it belongs to. */
static void print_quantile(const char *name, double v, double max)
{
    print_num(name, v > max ? max : v);
}

static void print_summary(struct sim *s, double t, uint64_t rss, uint64_t rss_base, uint32_t met,
                          int status)
{
    const struct sim_opts *o = s->o;
    struct stats_sum ss;
    sum(s, &ss);
    ss.c[ST_READY] = sim_count_up(s); /* the gauge is 0 once everyone left: report who was up */
    printf("{\"summary\":true,\"t\":%.1f,\"mode\":\"%s\",\"count\":%u,\"met\":%u,\"exit\":%d,", t,
           mode_name(o->mode), o->count, met, status);
    stats_print_counters(stdout, &ss);
    print_num("handshake_ms_p50", stats_pct_ms(ss.hs, 50));
    print_num("handshake_ms_p99", stats_pct_ms(ss.hs, 99));
    print_num("ready_ms_p50", stats_pct_ms(ss.ready, 50));
    print_num("ready_ms_p99", stats_pct_ms(ss.ready, 99));
    double ka_max = ss.ka_max_us ? (double)ss.ka_max_us / 1000.0 : -1;
    print_quantile("keepalive_rtt_ms_p50", stats_pct_ms(ss.ka, 50), ka_max);
    print_quantile("keepalive_rtt_ms_p99", stats_pct_ms(ss.ka, 99), ka_max);
    print_num("keepalive_rtt_ms_max", ka_max);
    if (marked) {
        uint64_t since[HIST_BUCKETS];
        int top = -1;
        for (int i = 0; i < HIST_BUCKETS; i++)
            if ((since[i] = ss.ka[i] - ka_at_mark[i]))
                top = i;
        /* the top bucket's upper bound (~3 %), clamped to the run's exact maximum */
        double mx =
            top < 0 ? -1 : (double)hist_value(top + 1 < HIST_BUCKETS ? top + 1 : top) / 1000.0;
        if (mx > ka_max)
            mx = ka_max;
        print_quantile("keepalive_rtt_since_mark_ms_p50", stats_pct_ms(since, 50), mx);
        print_quantile("keepalive_rtt_since_mark_ms_p99", stats_pct_ms(since, 99), mx);
        print_num("keepalive_rtt_since_mark_ms_max", mx);
    }
    double span = ss.last_ready_ms > ss.first_connect_ms
                      ? (double)(ss.last_ready_ms - ss.first_connect_ms) / 1000.0
                      : 0;
    print_num("tunnels_per_s", span > 0 ? (double)ss.c[ST_READY_TOTAL] / span : -1);
    printf(",");
    stats_print_reasons(stdout, &ss);
    printf(",\"rss_kib\":%llu,\"rss_baseline_kib\":%llu", (unsigned long long)rss,
           (unsigned long long)rss_base);
    printf("}\n");
    fflush(stdout);
}

/* Direct descriptors do not count against RLIMIT_NOFILE, but each ring's table is capped by it:
 * take the hard limit, and add workers when one table cannot hold every device. */
static void fit_workers(struct sim_opts *o)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    getrlimit(RLIMIT_NOFILE, &rl);
    uint64_t slots = rl.rlim_cur > 65536 ? 65536 : rl.rlim_cur;
    uint64_t per = o->relay ? (uint64_t)o->count * 2 : o->count; /* a relayed channel: one more */
    uint64_t usable = slots > 256 ? slots - 256 : slots;
    uint32_t need = (uint32_t)((per + usable - 1) / usable);
    if (need > o->workers && need <= OPTS_MAX_WORKERS) {
        fprintf(stderr, "amtsim: %u devices need %u workers (%llu direct descriptors per ring)\n",
                o->count, need, (unsigned long long)slots);
        o->workers = need;
    }
}

int main(int argc, char **argv)
{
    struct sim_opts o;
    char err[512] = "";
    int r = opts_parse(&o, argc, argv, err, sizeof(err));
    if (r == OPTS_HELP) {
        opts_usage(stdout);
        return 0;
    }
    if (r != OPTS_OK) {
        fprintf(stderr, "amtsim: %s\n", err);
        return 2;
    }
    fit_workers(&o);

    /* workers inherit a blocked SIGINT/SIGTERM; only the main thread takes them */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    struct sigaction sa = {.sa_handler = on_signal}, sm = {.sa_handler = on_mark};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sm, NULL);
    signal(SIGPIPE, SIG_IGN);

    uint64_t rss_base = stats_rss_kib();
    struct sim s;
    double t0 = mono_s();
    if (sim_start(&s, &o, err, sizeof(err)) != 0) {
        fprintf(stderr, "amtsim: %s\n", err);
        sim_free(&s);
        opts_free(&o);
        return 2;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);

    double next_progress = 1.0;
    for (;;) {
        double t = mono_s() - t0;
        if (got_signal || (o.duration_s && t >= o.duration_s) || sim_all_done(&s))
            break;
        if (got_mark) {
            got_mark = 0;
            struct stats_sum ss;
            sum(&s, &ss);
            memcpy(ka_at_mark, ss.ka, sizeof(ka_at_mark));
            marked = true;
        }
        if (o.progress && t >= next_progress) {
            print_progress(&s, t);
            next_progress += 1.0;
        }
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    double t_end = mono_s() - t0;
    uint64_t rss = stats_rss_kib(); /* with every tunnel still up */
    sim_stop(&s); /* marks who is still up, then DISCONNECT + close_notify + FIN for all */
    uint32_t met = sim_count_met(&s);
    int status = met == o.count ? 0 : 1;
    print_summary(&s, t_end, rss, rss_base, met, status);
    sim_free(&s);
    opts_free(&o);
    return status;
}
